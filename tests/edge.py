"""Edge values shared by the interpreter, backend and kernel-oracle tests.

Plain data: the operand values where eBPF implementations go wrong (sign and
width boundaries, upper halves that 32-bit operations must ignore, shift
counts at and past the width, divisors 0 and -1).  Registers are u64; `imm`
values are s32 as they sit in an instruction.
"""
from __future__ import annotations

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

# 64-bit register operands (u64).
REGS: tuple[int, ...] = (
    0,
    1,
    2,
    7,
    M64,                          # -1
    M64 - 1,                      # -2
    0x7F, 0x80, 0xFF,
    0x7FFF, 0x8000, 0xFFFF,
    INT32_MAX,                    # 0x7fffffff
    0x8000_0000,                  # INT32_MIN zero-extended
    INT32_MIN & M64,              # INT32_MIN sign-extended
    M32,                          # 0xffffffff
    1 << 32,                      # only the upper half set: 0 as a 32-bit operand
    (1 << 32) + 1,                # upper half set, low half 1
    0xFFFF_FFFF_0000_0000,
    INT64_MAX,
    INT64_MIN & M64,
    0xDEAD_BEEF_8765_4321,
)

# s32 immediates.
IMMS: tuple[int, ...] = (
    0, 1, -1, 2, -2, 7,
    31, 32, 63, 64,
    0x7F, 0x80, 0xFF, -0x80,
    0x7FFF, 0x8000, 0xFFFF, -0x8000,
    INT32_MAX, INT32_MIN,
    0x1234_5678,
)

# Shift counts, as register values (the count is masked to 31 or 63).
SHIFTS: tuple[int, ...] = (0, 1, 7, 31, 32, 33, 63, 64, 65, 0x1_0000_0001, M64)

# Divisors that bite: zero (also as a 32-bit view of 1 << 32), -1 with
# INT_MIN dividends, and sign combinations.
DIVISORS: tuple[int, ...] = (0, 1, M64, 2, M64 - 1, 3, M32, 1 << 32, INT32_MIN & M64,
                             0x8000_0000, INT64_MIN & M64, 7)
DIVIDENDS: tuple[int, ...] = (0, 1, 7, M64, M64 - 6, INT32_MAX, 0x8000_0000, INT32_MIN & M64,
                              M32, 1 << 32, INT64_MAX, INT64_MIN & M64, 0xDEAD_BEEF_8765_4321)

# Byte patterns for memory tests (16 bytes, all different, none zero).
PATTERN = bytes(range(0x81, 0x91))

# Stack-relative offsets (from a 16-byte buffer start) per access size, aligned.
ALIGNED_OFFSETS = {1: (0, 1, 7, 8, 15), 2: (0, 2, 6, 14), 4: (0, 4, 12), 8: (0, 8)}
