// SPDX-License-Identifier: MIT
/* crc32: the k_crc32 kernel of kernels.h as an XDP program (bpfjit benchmark corpus). */
#include "kernels.h"

SEC("xdp")
BENCH_XDP(bench_crc32, k_crc32)

char _license[] SEC("license") = "GPL";
