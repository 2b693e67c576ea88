"""Branch, jump and call forms for the code buffer's relaxation: MIPS's real quirk.

This module owns what a control transfer to a label looks like in each of
its sizes, and nothing else: the emitter decides which compare precedes a
branch and what goes in its delay slot; `jit.buffer.CodeBuffer` picks the
shortest form whose `fits(disp)` holds and only ever grows a branch, so the
layout converges (one step per branch at most, since there are two forms).

Every MIPS branch has a delay slot: the word after it always runs.  Each
form here takes that word (`slot`, a nop or a useful independent
instruction the emitter moved there) and makes sure it runs exactly once on
every path, in every size.

Conditional branches reach +-128 KiB from their delay slot.  Beyond that the
long form inverts the condition to skip a PC-relative far jump:

    b<inverse> rs, rt, 1f      # not taken: fall into the far jump
    <slot>                     # runs on both paths, once
    move  t9, ra               # ra is live in leaf functions: keep it
    bal   0f                   # ra = 0f, the address D is relative to
    lui   at, %hi(D)           # (delay slot) at = D & ~0xffff, sign-extended
0:  ori   at, at, %lo(D)       # at = D  (D = target - 0f, a signed 32-bit value)
    daddu at, at, ra           # at = target
    jr    at
    move  ra, t9               # (delay slot) ra restored
1:

It is position-independent (no absolute address, so no `j` 256 MiB-region
limit and no relocation) and clobbers only at and t9, which are never the
home of an eBPF register and hold nothing live between two LIR ops.

`disp` (what the buffer passes) is the target's offset minus the offset of
the first byte of the form; MIPS offsets count from the delay slot, so the
short forms encode `disp - 4`.
"""
from __future__ import annotations

from functools import lru_cache

from backends.mips64 import enc as E
from backends.mips64.enc import Gpr
from jit.buffer import BranchForm

NOP = E.nop()

# A conditional branch: its mnemonic and operands.  rt is ignored by the
# compare-with-zero forms.
INVERSE = {"beq": "bne", "bne": "beq", "bltz": "bgez", "bgez": "bltz",
           "blez": "bgtz", "bgtz": "blez"}


def _encode_cond(op: str, rs: Gpr, rt: Gpr, off: int) -> int:
    if op == "beq":
        return E.beq(rs, rt, off)
    if op == "bne":
        return E.bne(rs, rt, off)
    return {"bltz": E.bltz, "bgez": E.bgez, "blez": E.blez, "bgtz": E.bgtz}[op](rs, off)


def _pack(words, order: str) -> bytes:
    return b"".join(w.to_bytes(4, order) for w in words)


def short_fits(disp: int) -> bool:
    """A branch at the form's start reaches `disp` (measured from the form's start)."""
    return E.branch_fits(disp - 4)


def _s32_fits(d: int) -> bool:
    return -(1 << 31) <= d < (1 << 31) and d % 4 == 0


# The long forms' reach: the far jump's 32-bit displacement counts from the
# word after `bal`'s delay slot, this many bytes into the form.
def _long_fits_8(d: int) -> bool:
    return _s32_fits(d - 8)


def _long_fits_16(d: int) -> bool:
    return _s32_fits(d - 16)


def _long_fits_20(d: int) -> bool:
    return _s32_fits(d - 20)


def _long_fits_24(d: int) -> bool:
    return _s32_fits(d - 24)


# The form builders below are pure and the same branch (operands and slot word)
# recurs all over a large program: each distinct one is built once and shared
# (the buffer only reads forms), which saves time and, on a million-instruction
# program, the memory of a closure pair per branch.
_shared = lru_cache(maxsize=4096)


def far_jump(d: int) -> list[int]:
    """The position-independent far jump of the module docstring, from `bal` on.

    `d` is the target's address minus the address of the word after `bal`'s
    delay slot.  6 words (the `move t9, ra` before it is the caller's).
    """
    return [E.bal(4),                                     # ra = address of the ori
            E.lui(Gpr.AT, (d >> 16) & 0xFFFF),            # at = hi(d) << 16, sign-extended
            E.ori(Gpr.AT, Gpr.AT, d & 0xFFFF),            # at = d
            E.daddu(Gpr.AT, Gpr.AT, Gpr.RA),              # at = target
            E.jr(Gpr.AT),
            E.move(Gpr.RA, Gpr.T9)]                       # ra restored (delay slot)


@_shared
def cond_forms(op: str, rs: Gpr, rt: Gpr, slot: int, order: str) -> tuple[BranchForm, ...]:
    """Short (8 bytes) and long (36 bytes) forms of `if (rs op rt) goto label`."""
    inv = INVERSE[op]

    def short(disp: int, at: int) -> bytes:
        return _pack([_encode_cond(op, rs, rt, disp - 4), slot], order)

    def long(disp: int, at: int) -> bytes:
        # the inverted branch skips the 7 words after its delay slot (to start + 36);
        # ra = start + 20
        return _pack([_encode_cond(inv, rs, rt, 8 * 4), slot, E.move(Gpr.T9, Gpr.RA)]
                     + far_jump(disp - 20), order)

    return (BranchForm(8, short_fits, short), BranchForm(36, _long_fits_20, long))


LIKELY = {"beq": E.beql, "bne": E.bnel, "bltz": E.bltzl, "bgez": E.bgezl,
          "blez": E.blezl, "bgtz": E.bgtzl}


@_shared
def likely_forms(op: str, rs: Gpr, rt: Gpr, copied: int, order: str) -> tuple[BranchForm, ...]:
    """A branch to a label whose first word is `copied`, going to the word after it.

    The emitter uses this for backward branches (loops) that have nothing of
    their own for the delay slot: the target's first word runs in the slot, on
    the taken path only (branch-likely annuls it otherwise), and the branch
    lands one word further on.  Short: 8 bytes; long: 40 bytes (the inverted
    ordinary branch, a nop, the copied word, then the far jump).
    """
    likely = LIKELY[op]
    inv = INVERSE[op]

    def short(disp: int, at: int) -> bytes:
        if op in ("beq", "bne"):
            return _pack([likely(rs, rt, disp - 4), copied], order)
        return _pack([likely(rs, disp - 4), copied], order)

    def long(disp: int, at: int) -> bytes:
        # the inverted branch skips the 8 words after its delay slot (to start + 40);
        # ra = start + 24
        return _pack([_encode_cond(inv, rs, rt, 9 * 4), NOP, copied, E.move(Gpr.T9, Gpr.RA)]
                     + far_jump(disp - 24), order)

    return (BranchForm(8, short_fits, short), BranchForm(40, _long_fits_24, long))


@_shared
def jump_forms(slot: int, order: str) -> tuple[BranchForm, ...]:
    """Short (8 bytes: `b; slot`) and long (32 bytes) forms of `goto label`."""
    def short(disp: int, at: int) -> bytes:
        return _pack([E.b(disp - 4), slot], order)

    def long(disp: int, at: int) -> bytes:
        # slot first (it runs before the jump either way); ra = start + 16
        return _pack([slot, E.move(Gpr.T9, Gpr.RA)] + far_jump(disp - 16), order)

    return (BranchForm(8, short_fits, short), BranchForm(32, _long_fits_16, long))


@_shared
def call_forms(slot: int, order: str) -> tuple[BranchForm, ...]:
    """Short (8 bytes: `bal; slot`) and long (24 bytes) forms of a call to a label.

    A caller has saved ra in its prologue, so the long form may clobber it
    before the `jalr` sets it again.
    """
    def short(disp: int, at: int) -> bytes:
        return _pack([E.bal(disp - 4), slot], order)

    def long(disp: int, at: int) -> bytes:
        d = disp - 8                                      # ra = start + 8
        return _pack([E.bal(4),                           # ra = address of the ori
                      E.lui(Gpr.AT, (d >> 16) & 0xFFFF),  # at = hi(d) << 16
                      E.ori(Gpr.AT, Gpr.AT, d & 0xFFFF),  # at = d
                      E.daddu(Gpr.AT, Gpr.AT, Gpr.RA),    # at = callee
                      E.jalr(Gpr.AT),
                      slot], order)

    return (BranchForm(8, short_fits, short), BranchForm(24, _long_fits_8, long))

