"""The fixed eBPF -> RISC-V 64 register map (LP64 ABI) and the backend's temporaries.

This module owns which native register holds each eBPF register, which
natives the emitter uses as scratch, and the `rotate` option's permutation.
It knows no encodings and no LIR ops.

The map is the Linux RISC-V JIT's (arch/riscv/net/bpf_jit_comp64.c,
regmap[]): eBPF r1-r5 are the argument registers a0-a4, so a helper call
needs no shuffling; r0 is a5, not a0, because a0 is also r1 (a helper's
result is moved from a0 to a5 after the call, and the epilogue moves a5 to
a0); r6-r9 live in callee-saved s1-s4, so they survive helper and bpf-to-bpf
calls without spills (a function saves only the s-registers it touches).
a0-a5 and s1 are in RVC's x8-x15 window, so most ALU ops on r0-r6 have a
2-byte form.

eBPF r10 lives in s5.  The eBPF stack is not in the native frame (it is the
runner's STACK region, laid out as the interpreter lays it out), so r10 is a
real pointer: the runner sets s5 on entry (`enter`, `enter_call`); a
bpf-to-bpf call lowers s5 by the caller's stack depth just before the call
and raises it again right after, so s5 is the same at a function's return as
at its entry, as LP64 wants of a callee-saved register, without being saved.
"""
from __future__ import annotations

from backends.riscv64.enc import Gpr

# ------------------------------------------------------------------ the map
#   eBPF   native   role
HOMES: tuple = (
    Gpr.A5,   # r0   result of helpers (moved from a0), local calls and the program
    Gpr.A0,   # r1   argument 1 (ctx on entry)
    Gpr.A1,   # r2   argument 2
    Gpr.A2,   # r3   argument 3
    Gpr.A3,   # r4   argument 4
    Gpr.A4,   # r5   argument 5
    Gpr.S1,   # r6   callee-saved: survives helper and local calls
    Gpr.S2,   # r7   callee-saved
    Gpr.S3,   # r8   callee-saved
    Gpr.S4,   # r9   callee-saved
)
R10_HOME = Gpr.S5         # r10  the eBPF frame pointer (read-only): never saved, see above
AX_HOME = Gpr.T0          # AX   the lowering's scratch (blinding): never live across calls

# ------------------------------------------------------------------ scratch registers
# Never the home of an eBPF register, so an op may clobber them freely.
T1 = Gpr.T1               # immediates, addresses whose offset does not fit 12 bits, compares
T2 = Gpr.T2               # a second operand: store immediates, compare right-hand sides
T3 = Gpr.T3               # LR/SC old value, the tail-call count's address
T4 = Gpr.T4               # SC status, the tail-call count
FAR = Gpr.T6              # the long branch forms' auipc (between two ops: nothing live)
TEMPS = frozenset({T1, T2, T3, T4, FAR})

CALLEE_SAVED = (Gpr.S0, Gpr.S1, Gpr.S2, Gpr.S3, Gpr.S4, Gpr.S5, Gpr.S6, Gpr.S7, Gpr.S8,
                Gpr.S9, Gpr.S10, Gpr.S11)

# ------------------------------------------------------------------ rotation
# The `rotate` option moves eBPF r0-r9 along this ring (call-free programs
# only: calls need r1-r5/r0 in the ABI registers).  It holds the ten homes and
# four more: s0 (in the RVC window, callee-saved), s6 (callee-saved, outside
# it) and a6/a7 (caller-saved, outside it), so that both register classes of
# every compressed form meet every op.
ROTATION_RING: tuple = HOMES + (Gpr.A6, Gpr.S0, Gpr.A7, Gpr.S6)
assert not set(ROTATION_RING) & (TEMPS | {AX_HOME, R10_HOME})


def regmap(rotate: int = 0) -> tuple:
    """Native home of eBPF r0..r9, r10 and AX, indexed by eBPF register."""
    k = rotate % len(ROTATION_RING)
    if k == 0:
        homes = HOMES
    else:
        homes = tuple(ROTATION_RING[(i + k) % len(ROTATION_RING)] for i in range(10))
    return homes + (R10_HOME, AX_HOME)
