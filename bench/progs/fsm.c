// SPDX-License-Identifier: MIT
/* fsm: the k_fsm kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_fsm, k_fsm)

char _license[] SEC("license") = "GPL";
