"""Frame layout: one native frame per eBPF function, for what the machine needs.

This module knows neither eBPF instructions nor machine encodings: it gets the
backend's ABI facts and returns offsets.  The eBPF stack is not in it: every
backend keeps the eBPF frames in the STACK region, laid out as the interpreter
lays them out (the entry's r10 is STACK_TOP, a callee's r10 the bottom of its
caller's eBPF frame), so that stack addresses, and faults off either end of the
stack, are the same everywhere.  Offsets are from the stack pointer after the
prologue (sp), growing upwards:

    higher addresses
    +-----------------------------+ <- caller's sp at the call  (CFA)
    | incoming (return address    |    `incoming` bytes the call instruction
    |  pushed by the call on x86)  |    already pushed (0 on ARM/MIPS)
    +-----------------------------+ <- sp + size
    | saved[0]                    |    callee-saved registers the function
    | saved[1] ...                |    actually uses (and ra/lr if saved),
    +-----------------------------+    one word each, saved[0] highest
    | padding to `align`          |
    +-----------------------------+
    | scratch: `scratch` bytes    |    backend spill slots (ARM32 register halves
    |                             |    and r10's word, saved temporaries)
    +-----------------------------+ <- sp + outgoing
    | outgoing: `outgoing` bytes  |    stack arguments for helper calls (AAPCS)
    +-----------------------------+ <- sp  (aligned to `align` at every call)
    lower addresses
"""
from __future__ import annotations

from typing import NamedTuple, Sequence


class Frame(NamedTuple):
    size: int                  # bytes the prologue subtracts from sp (after `incoming`)
    saved: tuple               # ((register, offset from sp), ...) in save order
    scratch_off: int           # first scratch byte = sp + scratch_off
    scratch: int
    outgoing: int              # outgoing argument area at sp + 0
    incoming: int


def round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def plan(saved: Sequence, *, word: int, align: int, incoming: int = 0, scratch: int = 0,
         outgoing: int = 0) -> Frame:
    """Lay out a frame; see the module diagram.

    `saved` the registers to save, in order; `word` the size of one saved
    register; `align` the stack alignment the ABI requires at calls; `incoming`
    the bytes already pushed by the call; `scratch` and `outgoing` extra areas.
    """
    scratch = round_up(scratch, 8)
    outgoing = round_up(outgoing, 8)
    top = outgoing + scratch + word * len(saved)
    size = round_up(top + incoming, align) - incoming
    # the padding sits between the scratch area and the saved registers, which go at
    # the very top so the frame reads top-down as diagrammed
    slots = tuple((reg, size - word * (i + 1)) for i, reg in enumerate(saved))
    return Frame(size=size, saved=slots, scratch_off=outgoing, scratch=scratch,
                 outgoing=outgoing, incoming=incoming)
