"""ARM32 register map: where each 64-bit eBPF register lives, and the frame slots.

Owns: the fixed BPF -> A32 map (a register pair or a frame slot per eBPF
register), the temporaries, the fixed part of every frame (argument slots,
spill slots, borrow area, division area, r10's word) and the `rotate` option's permutation.
Does not own: how a value is moved between homes (pairs.py), frame sizes
(abi.py via jit.frame), or any encoding (enc.py).

An eBPF register is 64 bits; an A32 register 32.  Five eBPF registers live in
even/odd register pairs; the other five, and AX, live in 8-byte slots of the
frame at fixed offsets from sp.  One more pair, r2:r3, is a temporary: a
spilled register is loaded, operated on and stored back whole with one
`ldrd`/`strd` each, instead of two `ldr`/`str` through ip and lr.  r10 (the
eBPF frame pointer, an address in the interpreter's STACK region, not in the
native frame) has a word slot of its own: its upper half is always 0, so only
the low word is stored, once, by the prologue; nothing else ever writes it.

    eBPF  home        why
    r0    r0:r1       the AAPCS result registers: a helper's result, a callee's
                      return value and the program's exit value need no move
    r1    [sp, #24]   argument 1: loaded into r0:r1 at a call (one ldrd)
    r2    [sp, #32]   argument 2: loaded into r2:r3 at a call (one ldrd)
    r3    [sp, #0]    arguments 3 and 4: their homes *are* the AAPCS stack
    r4    [sp, #8]    argument slots of a call, so a call moves nothing
    r5    r4:r5       hot (argument 5: stored to [sp, #16] at a helper call)
    r6    r6:r7       callee-saved eBPF -> callee-saved A32: survive calls free
    r7    r8:r9
    r8    r10:r11
    r9    [sp, #40]   the coldest: slots survive every call too
    r10   [sp, #96]   one word (upper half 0), stored by the prologue from ip
    AX    [sp, #48]   the lowering's scratch (constant blinding): its own slot
    -     r2:r3       temporary pair (ldrd/strd of spilled registers)
    -     ip, lr      temporaries (lr is saved by every prologue)

Which five are in pairs follows dynamic counts over the fixtures and the
benchmark programs (executed instructions naming the register, interpreter):
r0 4461, r6 2805, r5 2764, r7 1802, r8 1506, r3 1465, r4 1402, r2 1167,
r1 964, r9 880.  r3 and r4 are spilled ahead of r8 because their slots double
as helper arguments; r1 and r2 because a call needs them in r0:r1 and r2:r3,
where eBPF r0 and the temporary pair live.
"""
from __future__ import annotations

from typing import NamedTuple, Union

from jit.lir import AX

from .enc import Reg


class Pair(NamedTuple):
    """A register pair: `lo` even, `hi` = lo + 1 (ldrd/strd-able)."""
    lo: Reg
    hi: Reg


class Slot(NamedTuple):
    """An 8-byte frame slot at sp + off (low word first: little-endian)."""
    off: int


class Frame(NamedTuple):
    """eBPF r10: the word at sp + off, upper half zero (read-only: only the prologue
    stores it).  A type of its own, not a Slot: nothing may write it, and its upper
    half is the constant 0, never loaded."""
    off: int


Home = Union[Pair, Slot, Frame]

IP = Reg.R12            # temporary
LR = Reg.LR             # temporary

# ------------------------------------------------------------------ frame
# sp-relative offsets, the same in every frame (frame.plan puts `outgoing` at
# sp + 0 and the scratch area right above it), so a runtime routine can find
# the division area from any caller's sp.
OUTGOING = 24                       # AAPCS stack arguments 3..5 of a helper call
ARG_SLOT = {3: 0, 4: 8, 5: 16}      # eBPF r3..r5 as 64-bit stack arguments
SPILL = {1: 24, 2: 32, 9: 40, AX: 48}
BORROW = (56, 64, 72)               # save area for pairs borrowed by long sequences
DIV_AREA = 80                       # division routine: dividend/result at +0, divisor at +8
FP_SLOT = 96                        # eBPF r10 (one word; the runner's frame_pointer reads it)
SCRATCH = FP_SLOT + 8 - OUTGOING    # bytes of scratch above the outgoing area

# ------------------------------------------------------------------ the map
P01 = Pair(Reg.R0, Reg.R1)
P23 = Pair(Reg.R2, Reg.R3)
P45 = Pair(Reg.R4, Reg.R5)
P67 = Pair(Reg.R6, Reg.R7)
P89 = Pair(Reg.R8, Reg.R9)
P1011 = Pair(Reg.R10, Reg.R11)
T = P23                                          # the temporary pair
PAIRS = (P01, P45, P67, P89, P1011)              # pairs a home (or a borrow) can use

DEFAULT: tuple = (
    P01,                    # r0  return value, in the AAPCS result registers
    Slot(SPILL[1]),         # r1  argument 1 / ctx (into r0:r1 at a call)
    Slot(SPILL[2]),         # r2  argument 2 (into r2:r3 at a call)
    Slot(ARG_SLOT[3]),      # r3  argument 3: lives in its own stack-argument slot
    Slot(ARG_SLOT[4]),      # r4  argument 4: likewise
    P45,                    # r5  argument 5 (stored to [sp, #16] at a helper call)
    P67,                    # r6  callee-saved
    P89,                    # r7  callee-saved
    P1011,                  # r8  callee-saved
    Slot(SPILL[9]),         # r9  callee-saved, spilled
)

CALLEE_SAVED = (Reg.R4, Reg.R5, Reg.R6, Reg.R7, Reg.R8, Reg.R9, Reg.R10, Reg.R11)
ARG_PAIRS = (P01, P23)              # AAPCS: 64-bit arguments 1 and 2 (the result: P01)


class RegMap:
    """The homes of r0..r9, AX and r10 for one compilation.

    `rotate=k` gives eBPF register i the default home of register (i + k) % 10:
    pairs and slots are permuted together, so every register meets every pair
    (and every slot) across k = 0..9; the temporary pair T never moves.  Only
    call-free programs may be rotated: calls fix where arguments, the result
    and the preserved registers must be (see abi.py).
    """

    def __init__(self, rotate: int = 0) -> None:
        k = rotate % 10
        self.rotate = k
        self.homes: list = [DEFAULT[(i + k) % 10] for i in range(10)]
        self.homes.append(Frame(FP_SLOT))       # r10
        self.homes.append(Slot(SPILL[AX]))      # AX

    def __getitem__(self, reg: int) -> Home:
        return self.homes[reg]

    def pair(self, reg: int) -> Pair | None:
        h = self.homes[reg]
        return h if type(h) is Pair else None

    def natives(self, regs) -> set:
        """The A32 registers that hold any of the eBPF registers `regs`."""
        out = set()
        for r in regs:
            h = self.homes[r]
            if type(h) is Pair:
                out.update(h)
        return out

