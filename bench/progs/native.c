// SPDX-License-Identifier: MIT
/* native.c: the benchmark corpus's programs as plain C functions, for the
 * clang-19 -O2 native code-size anchor (bench/anchors.py compiles this file
 * with -ffreestanding -fno-builtin for x86-64, ARMv7 and MIPS64 and measures
 * the symbols native_<kernel>).  The bodies are the XDP programs' bodies. */
#include "kernels.h"

BENCH_XDP(native_fnv1a, k_fnv1a)
BENCH_XDP(native_jhash, k_jhash)
BENCH_XDP(native_crc32, k_crc32)
BENCH_XDP(native_sieve, k_sieve)
BENCH_XDP(native_popcount, k_popcount)
BENCH_XDP(native_fsm, k_fsm)
BENCH_XDP(native_csum, k_csum)
