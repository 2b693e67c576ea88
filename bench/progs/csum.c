// SPDX-License-Identifier: MIT
/* csum: the k_csum kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_csum, k_csum)

char _license[] SEC("license") = "GPL";
