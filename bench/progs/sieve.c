// SPDX-License-Identifier: MIT
/* sieve: the k_sieve kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_sieve, k_sieve)

char _license[] SEC("license") = "GPL";
