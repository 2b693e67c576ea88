"""The fixed map from eBPF registers to x86-64 registers, and the backend's scratch registers.

This module owns which native register holds which eBPF register (there is no
register allocator) and which natives are the backend's own temporaries.  It
starts from the Linux x86 JIT's map (arch/x86/net/bpf_jit_comp.c, reg2hex) so
that r1-r5 already sit in the System V argument registers and r6-r9 in
callee-saved registers: a helper call needs no argument moves and a
bpf-to-bpf call preserves r6-r9 for free.  It does not know what instructions
use them (emit.py) or how the frame is laid out (abi.py).

`register_map(rotate)` rotates r0-r9 among their ten homes (tests only, for
call-free programs): every eBPF register then meets the implicit-register
cases (rax for div/cmpxchg, rdx for div, rcx for shifts) and the encoding
corner cases (r13 as a base needs a disp8, sil/dil need a REX) in turn.
"""
from __future__ import annotations

from backends.x86_64.enc import Gpr
from jit.lir import AX, NREGS

# eBPF register -> native home (the index is the eBPF register number; AX is 11).
HOME: tuple[Gpr, ...] = (
    Gpr.RAX,    # r0: return value; the implicit operand of div/idiv and cmpxchg
    Gpr.RDI,    # r1: argument 1 (the context at entry)
    Gpr.RSI,    # r2: argument 2
    Gpr.RDX,    # r3: argument 3; div/idiv write rdx
    Gpr.RCX,    # r4: argument 4; variable shifts take their count in cl
    Gpr.R8,     # r5: argument 5
    Gpr.RBX,    # r6: callee-saved, so it survives helper calls
    Gpr.R13,    # r7: callee-saved (as a base it needs a disp8, like rbp)
    Gpr.R14,    # r8: callee-saved
    Gpr.R15,    # r9: callee-saved
    Gpr.RBP,    # r10: frame pointer into the STACK region (not the native frame); callee-saved
    Gpr.R10,    # AX: the lowering's scratch (constant blinding); caller-saved
)
assert len(HOME) == NREGS and HOME[AX] == Gpr.R10

# The backend's own temporaries: never an eBPF register's home, both caller-saved.
TMP = Gpr.R11    # shift/div operand copies, immediates that need a register, new value in atomics
TMP2 = Gpr.R9    # rax saved around cmpxchg; the tail-call counter address and slot array
# r12 is not used at all: as a base it needs a SIB byte, and it is callee-saved.

# System V: what a called function must preserve.
CALLEE_SAVED = frozenset({Gpr.RBX, Gpr.RBP, Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15})
# Push order in the prologue (the epilogue pops in reverse).  rbp is not in it:
# r10 is read-only and every function returns with the rbp it got (a local call
# is bracketed by `sub rbp, depth` / `add rbp, depth`), so it needs no saving.
# It is pushed only as the alignment filler (abi.py): 1 byte, and its pop is a no-op.
SAVE_ORDER: tuple[Gpr, ...] = (Gpr.RBX, Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15)
FP = Gpr.RBP     # r10's home whatever the rotation (r10 does not rotate)

ROTATABLE = 10   # r0-r9 rotate among their own homes; r10 and AX stay put


def register_map(rotate: int = 0) -> tuple[Gpr, ...]:
    """eBPF register -> native, with r0-r9 rotated by `rotate` positions among HOME[0:10]."""
    k = rotate % ROTATABLE
    if not k:
        return HOME
    ring = HOME[:ROTATABLE]
    return tuple(ring[(r + k) % ROTATABLE] for r in range(ROTATABLE)) + HOME[ROTATABLE:]


def name(reg: Gpr) -> str:
    """The register's assembler name (rax, r10, ...)."""
    return reg.name.lower()
