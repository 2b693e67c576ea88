"""The fixed eBPF -> AArch64 register map (AAPCS64), and the backend's temporaries.

This module owns which native register holds each eBPF register, which
natives the emitter may clobber, and the `rotate` option's permutation.  It
knows no encodings and no LIR ops.

The map is the Linux arm64 JIT's (arch/arm64/net/bpf_jit_comp.c, bpf2a64):
eBPF r1-r5 are already the AAPCS64 argument registers x0-x4, so a helper call
needs no argument moves; r6-r9 live in callee-saved x19-x22, so they survive
helper and bpf-to-bpf calls with no spills (a function saves only the ones it
touches).  r0 lives in x7, not x0: x0 is r1 (the context) and a helper's or a
callee's result comes back in x0, so one `mov x7, x0` follows a helper call
and the epilogue does `mov x0, x7`.

eBPF r10 lives in x25 (callee-saved), a pointer into the runner's STACK region
(the eBPF stack is not in the native frame): the runner sets it on entry, a
bpf-to-bpf call lowers it by the caller's stack depth around the `bl`, and no
function changes it across its body, so it is never saved.
"""
from __future__ import annotations

from backends.aarch64.enc import Gpr

# ------------------------------------------------------------------ the map
#   eBPF   native   role
HOME: tuple = (
    Gpr.X7,    # r0   return value (moved from x0 after a helper call, to x0 at exit)
    Gpr.X0,    # r1   argument 1 (ctx on entry)
    Gpr.X1,    # r2   argument 2
    Gpr.X2,    # r3   argument 3
    Gpr.X3,    # r4   argument 4
    Gpr.X4,    # r5   argument 5
    Gpr.X19,   # r6   callee-saved: survives helper and local calls
    Gpr.X20,   # r7   callee-saved
    Gpr.X21,   # r8   callee-saved
    Gpr.X22,   # r9   callee-saved
)
FP = Gpr.X25               # r10  the eBPF frame pointer (read-only): never saved, see above
AX_HOME = Gpr.X9           # AX   the lowering's scratch (blinding): never live across calls

# ------------------------------------------------------------------ temporaries
# Never the home of an eBPF register (in any rotation), all caller-saved, so an
# op may clobber them freely.  The kernel's TMP_REG_1..3 are x10..x12.
T1 = Gpr.X10               # addresses (base + large offset), helper and tail-call targets
T2 = Gpr.X11               # immediates that need a register, LL/SC old value
T3 = Gpr.X12               # a divide's quotient, LL/SC new value, tail-call count address
T4 = Gpr.X13               # LL/SC status, tail-call count
TEMPS = frozenset({T1, T2, T3, T4})

# Constant registers: a loop's constants (multipliers, masks that are not logical
# immediates) are loaded once in the prologue into registers no eBPF register lives
# in: caller-saved ones in a leaf function, callee-saved ones (saved by the frame)
# in a function that calls.  A home under the current rotation is skipped.
CONST_CALLER_SAVED: tuple = (Gpr.X5, Gpr.X6, Gpr.X8, Gpr.X14, Gpr.X15, Gpr.X16, Gpr.X17)
CONST_CALLEE_SAVED: tuple = (Gpr.X23, Gpr.X24, Gpr.X26, Gpr.X27, Gpr.X28)

# AAPCS64: what a called function must preserve (x29/x30 aside).
CALLEE_SAVED: tuple = (Gpr.X19, Gpr.X20, Gpr.X21, Gpr.X22, Gpr.X23, Gpr.X24, Gpr.X25,
                       Gpr.X26, Gpr.X27, Gpr.X28)
ARG_REGS: tuple = (Gpr.X0, Gpr.X1, Gpr.X2, Gpr.X3, Gpr.X4, Gpr.X5, Gpr.X6, Gpr.X7)
RET_REG = Gpr.X0

# ------------------------------------------------------------------ rotation
# `rotate` moves eBPF r0-r9 along this ring (call-free programs only: helper and
# local calls need r1-r5 in x0-x4).  The ring adds unused caller-saved (x5, x6,
# x8, x14, x15) and callee-saved (x23, x24: saved by a function that touches
# them) registers to the ten homes, so a register-specific mistake in any of
# them surfaces.
ROTATION_RING: tuple = HOME + (Gpr.X5, Gpr.X6, Gpr.X8, Gpr.X14, Gpr.X15, Gpr.X23, Gpr.X24)
assert not set(ROTATION_RING) & (TEMPS | {FP, AX_HOME})


def regmap(rotate: int = 0) -> tuple:
    """Native home of eBPF r0..r9, r10 and AX, indexed by eBPF register."""
    k = rotate % len(ROTATION_RING)
    homes = HOME if k == 0 else tuple(ROTATION_RING[(i + k) % len(ROTATION_RING)]
                                      for i in range(10))
    return homes + (FP, AX_HOME)


def name(reg: Gpr) -> str:
    """The assembler name of a 64-bit register (x0..x30, xzr)."""
    return "xzr" if reg == Gpr.ZR else f"x{int(reg)}"
