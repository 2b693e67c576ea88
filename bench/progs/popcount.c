// SPDX-License-Identifier: MIT
/* popcount: the k_popcount kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_popcount, k_popcount)

char _license[] SEC("license") = "GPL";
