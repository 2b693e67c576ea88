"""The fixed eBPF -> MIPS64 register map (n64 ABI), and the backend's temporaries.

This module owns which native register holds each eBPF register, which
natives the emitter may use as scratch or for constants, and the `rotate`
option's permutation.  It knows no encodings and no LIR ops.

The map follows the Linux MIPS64 JIT (arch/mips/net/bpf_jit_comp64.c) where
that is free: eBPF r1-r5 are already the n64 argument registers and r0 the
return register, so a helper call needs no shuffling; r6-r9 live in
callee-saved s-registers, so they survive helper calls and bpf-to-bpf calls
with no spills (a function saves only the s-registers it touches).

eBPF r10 lives in fp (s8), the one callee-saved register the map and the
loops' constant registers leave free.  The eBPF stack is not in the native
frame (it is the runner's STACK region, laid out as the interpreter lays it
out), so r10 is a real pointer: the runner sets fp on entry (`enter`,
`enter_call`).  A bpf-to-bpf call lowers fp by the caller's stack depth (a
`daddiu` in the call's delay slot) and the caller raises it again before
anything but stack accesses and further calls (emit.py: `bias`), so fp is r10
at every label, branch, helper call, tail call and return; helpers keep it
(n64: fp is callee-saved).  No function needs to save it.
"""
from __future__ import annotations

from backends.mips64.enc import Gpr

# ------------------------------------------------------------------ the map
#   eBPF   native   role
HOMES: tuple = (
    Gpr.V0,   # r0   return value of helpers, bpf-to-bpf calls and the program
    Gpr.A0,   # r1   argument 1 (ctx on entry)
    Gpr.A1,   # r2   argument 2
    Gpr.A2,   # r3   argument 3
    Gpr.A3,   # r4   argument 4
    Gpr.A4,   # r5   argument 5 (n64 passes 8 arguments in a0-a7)
    Gpr.S0,   # r6   callee-saved: survives helper and local calls
    Gpr.S1,   # r7   callee-saved
    Gpr.S2,   # r8   callee-saved
    Gpr.S3,   # r9   callee-saved
)
R10_HOME = Gpr.FP         # r10  the eBPF frame pointer (read-only): never saved, see above
AX_HOME = Gpr.T3          # AX   the lowering's scratch (blinding): never live across calls

# ------------------------------------------------------------------ scratch registers
# Never the home of an eBPF register, so an op may clobber them freely.
T0 = Gpr.T0               # compare results, ALU immediates, LL/SC old value, unaligned loads
T1 = Gpr.T1               # compare/store immediates, sign-extended operands, LL/SC new value
T2 = Gpr.T2               # a compare's sign-extended first operand, the tail-call count
ADDR = Gpr.AT             # an address whose displacement does not fit 16 bits
CALL = Gpr.T9             # helper call target (n64 PIC convention: t9 = callee address)
# The long branch forms (branches.py) use AT and T9 between two ops, when no
# temporary is live.
TEMPS = frozenset({T0, T1, T2, ADDR, CALL})

# Constant registers: a loop's constants (masks, multipliers, polynomials) are
# loaded once in the prologue into registers no eBPF register lives in.  Leaf
# functions take caller-saved ones; functions that call take callee-saved ones
# (saved by their frame).  Registers that are the home of an eBPF register
# (under the current rotation) are skipped.
CONST_CALLER_SAVED = (Gpr.T8, Gpr.V1, Gpr.A7, Gpr.A6, Gpr.A5)
CONST_CALLEE_SAVED = (Gpr.S4, Gpr.S5, Gpr.S6, Gpr.S7)

CALLEE_SAVED = (Gpr.S0, Gpr.S1, Gpr.S2, Gpr.S3, Gpr.S4, Gpr.S5, Gpr.S6, Gpr.S7, Gpr.GP, Gpr.FP)
# Everything a call may change (n64: all but s0-s7, gp, sp, fp); knowledge about
# these registers' upper halves dies at a call.
CALL_CLOBBERED = frozenset(r for r in Gpr if r not in CALLEE_SAVED
                           and r not in (Gpr.ZERO, Gpr.SP, Gpr.K0, Gpr.K1))

# ------------------------------------------------------------------ rotation
# The `rotate` option moves eBPF r0-r9 along this ring (call-free programs
# only: helper and local calls need r1-r5/r0 in the ABI registers).  The ring
# holds every register that is neither a temporary, AX, r10's home nor
# reserved, so a register-specific encoder bug in any of them surfaces.
ROTATION_RING: tuple = (
    Gpr.V0, Gpr.A0, Gpr.A1, Gpr.A2, Gpr.A3, Gpr.A4, Gpr.S0, Gpr.S1, Gpr.S2, Gpr.S3,
    Gpr.A5, Gpr.A6, Gpr.A7, Gpr.V1, Gpr.S4, Gpr.S5, Gpr.S6, Gpr.S7,
)
assert not set(ROTATION_RING) & (TEMPS | {AX_HOME, R10_HOME})
assert R10_HOME not in CONST_CALLEE_SAVED + CONST_CALLER_SAVED


def regmap(rotate: int = 0) -> tuple:
    """Native home of eBPF r0..r9, r10 and AX, indexed by eBPF register."""
    k = rotate % len(ROTATION_RING)
    if k == 0:
        homes = HOMES
    else:
        homes = tuple(ROTATION_RING[(i + k) % len(ROTATION_RING)] for i in range(10))
    return homes + (R10_HOME, AX_HOME)
