"""Frame layout: one native frame per eBPF function, sized by its own stack depth.

This module knows neither eBPF instructions nor machine encodings: it gets the
function's eBPF stack depth and the backend's ABI facts and returns offsets.
Offsets are from the stack pointer after the prologue (sp), growing upwards:

    higher addresses
    +-----------------------------+ <- caller's sp at the call  (CFA)
    | incoming (return address    |    `incoming` bytes the call instruction
    |  pushed by the call on x86)  |    already pushed (0 on ARM/MIPS)
    +-----------------------------+ <- sp + size
    | saved[0]                    |    callee-saved registers the function
    | saved[1] ...                |    actually uses (and ra/lr/fp if saved),
    +-----------------------------+    one word each, saved[0] highest
    | padding to `align`          |
    +-----------------------------+ <- sp + fp_off          == eBPF r10
    | eBPF stack: `depth` bytes   |    r10 - depth .. r10
    +-----------------------------+ <- sp + fp_off - depth
    | scratch: `scratch` bytes    |    backend spill slots (ARM32 register halves,
    |                             |    tail-call count, saved temporaries)
    +-----------------------------+ <- sp + outgoing
    | outgoing: `outgoing` bytes  |    stack arguments for helper calls (AAPCS)
    +-----------------------------+ <- sp  (aligned to `align` at every call)
    lower addresses

The eBPF stack sits directly below the saved registers so that r10 needs no
extra register on machines that address it as sp + constant.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence


class Frame(NamedTuple):
    size: int                  # bytes the prologue subtracts from sp (after `incoming`)
    saved: tuple               # ((register, offset from sp), ...) in save order
    fp_off: int                # r10 = sp + fp_off
    depth: int                 # eBPF stack bytes below r10 (rounded up to 8)
    scratch_off: int           # first scratch byte = sp + scratch_off
    scratch: int
    outgoing: int              # outgoing argument area at sp + 0
    incoming: int

    @property
    def bpf_bottom(self) -> int:
        return self.fp_off - self.depth


def round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def plan(depth: int, saved: Sequence, *, word: int, align: int, incoming: int = 0,
         scratch: int = 0, outgoing: int = 0) -> Frame:
    """Lay out a frame; see the module diagram.

    `depth` is the function's eBPF stack depth in bytes (0..512); `saved` the
    registers to save, in order; `word` the size of one saved register;
    `align` the stack alignment the ABI requires at calls; `incoming` the
    bytes already pushed by the call; `scratch` and `outgoing` extra areas.
    """
    if not 0 <= depth <= 512:
        raise ValueError(f"stack depth {depth} outside 0..512")
    depth = round_up(depth, 8)
    scratch = round_up(scratch, 8)
    outgoing = round_up(outgoing, 8)
    save_bytes = word * len(saved)
    # bottom-up: outgoing, scratch, eBPF stack, padding, saved registers
    scratch_off = outgoing
    fp_off = round_up(outgoing + scratch + depth, 8)
    top = fp_off + save_bytes
    size = round_up(top + incoming, align) - incoming
    # the padding sits between the eBPF stack and the saved registers: move the
    # saved registers to the very top so the frame reads top-down as diagrammed
    slots = tuple((reg, size - word * (i + 1)) for i, reg in enumerate(saved))
    return Frame(size=size, saved=slots, fp_off=fp_off, depth=depth,
                 scratch_off=scratch_off, scratch=scratch, outgoing=outgoing,
                 incoming=incoming)
