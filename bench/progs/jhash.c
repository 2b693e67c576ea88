// SPDX-License-Identifier: MIT
/* jhash: the k_jhash kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_jhash, k_jhash)

char _license[] SEC("license") = "GPL";
