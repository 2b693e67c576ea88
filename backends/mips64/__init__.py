"""The MIPS64 Release 2 backend (n64 ABI), big- or little-endian.

    regs.py      eBPF -> native register map, temporaries, the `rotate` ring
    enc.py       pure instruction encoders (one per form, range-checked)
    emit.py      LIR op -> instruction words; 32-bit semantics; delay-slot filling
    branches.py  short/long forms of branches, jumps and calls to labels
    abi.py       frames, prologue/epilogue, the Unicorn RunSpec

`make(byteorder="big"|"little", **options)` returns the Backend.  Options
read at compile time: `rotate` (int) moves eBPF r0-r9 along regs.ROTATION_RING
by that many places -- for call-free programs only (helper and local calls
and tail calls pin r0-r5 to the n64 argument/return registers), so a program
with any call compiles with the standard map.  Other options are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from backends.base import AbiSpec, Caps, Compiled, NativeFunc, Reloc
from backends.mips64 import abi
from backends.mips64.emit import Emitter
from backends.mips64.regs import regmap
from jit.buffer import CodeBuffer
from jit.lir import LirProgram, Symbol

# Operand magnitudes where an encoding changes form: simm16 (daddiu, slti,
# displacements), uimm16 (andi/ori/xori), lui's signed 32-bit reach, u32
# (lui+ori+dext), 48 bits (one more dsll/ori step), and the full 64 bits.
IMM_LIMITS = (1 << 15, 1 << 16, 1 << 31, 1 << 32, 1 << 47, 1 << 48, 1 << 63)


@dataclass
class Mips64Backend:
    byteorder: str = "big"
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.byteorder not in ("big", "little"):
            raise ValueError(f"byteorder must be 'big' or 'little', not {self.byteorder!r}")
        self.name = "mips64" if self.byteorder == "big" else "mips64el"
        self.caps = Caps(alu32_zext=False, byteorder=self.byteorder, word_bits=64,
                         hw_div=True, imm_limits=IMM_LIMITS)
        self.abi: AbiSpec = abi.ABI
        self.run = abi.MipsRun(self.byteorder)

    def compile(self, lir: LirProgram, *, link: Callable[[Symbol], int], base: int,
                options: dict | None = None) -> Compiled:
        opts = {**self.options, **(options or {})}
        rotate = int(opts.get("rotate") or 0)
        if any(f.calls or f.tail_calls for f in lir.funcs):
            rotate = 0                      # calls pin r0-r5 to the ABI registers
        homes = regmap(rotate)
        buf = CodeBuffer(self.byteorder)
        buf.reserve_labels(lir.n_labels)
        em = Emitter(buf, lir, link, base, homes, rotated=rotate != 0)
        em.run()
        asm = buf.finish(base)
        labels = asm.labels
        starts = [labels[em.func_labels[i]] for i in range(len(lir.funcs))]
        ends = starts[1:] + [len(asm.code)]
        funcs = [NativeFunc(name=f.name, offset=starts[i], size=ends[i] - starts[i],
                            tail_entry=labels[em.tail_labels[i]], start_pc=f.start_pc)
                 for i, f in enumerate(lir.funcs)]
        relocs = [Reloc(labels[label] + delta, kind, sym)
                  for label, delta, kind, sym in em.relocs]
        return Compiled(code=asm.code, base=base, funcs=funcs, pc_map=asm.pc_map,
                        relocs=relocs, passes=asm.passes)


def make(byteorder: str = "big", **options) -> Mips64Backend:
    """The MIPS64r2 backend for one byte order; `options` are compile defaults (rotate)."""
    return Mips64Backend(byteorder=byteorder, options=options)
