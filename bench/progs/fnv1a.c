// SPDX-License-Identifier: MIT
/* fnv1a: the k_fnv1a kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_fnv1a, k_fnv1a)

char _license[] SEC("license") = "GPL";
