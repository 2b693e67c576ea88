"""The x86-64 backend (System V): `make(**options) -> Backend`.

Files: regs.py (the register map), enc.py (encoders), emit.py (LIR op ->
instructions), abi.py (frame, prologue/epilogue, the runner's view).  This
module only ties them together and declares what the machine can do (`caps`).

Options:
- rotate: int -- rotate the homes of eBPF r0-r9 by this many positions
  (regs.register_map); for call-free programs only, to flush out
  register-specific mistakes.  r10 (rbp), AX (r10) and the temporaries (r11,
  r9) do not move.  The run spec follows the rotation (r1/r2 in, r0 out).
"""
from __future__ import annotations

from typing import Callable

from backends.base import Caps, Compiled
from backends.x86_64.abi import ABI, RunSpec
from backends.x86_64.emit import compile_lir
from backends.x86_64.regs import register_map
from jit.errors import BpfjitError
from jit.lir import LirProgram, Symbol

NAME = "x86_64"

CAPS = Caps(alu32_zext=True,          # every 32-bit operation zero-extends its destination
            byteorder="little", word_bits=64, hw_div=True,
            # 2^7: imm8/disp8/rel8 vs 32-bit forms; 2^31: imm32 sign-extension;
            # 2^32: mov r32, imm32 vs mov r64, simm32 vs movabs
            imm_limits=(7, 31, 32))

KNOWN_OPTIONS = frozenset({"rotate", "poison_hi32"})   # poison_hi32 is the lowering's


class X86Backend:
    name = NAME
    caps = CAPS
    abi = ABI

    def __init__(self, rotate: int = 0) -> None:
        self.rotate = rotate
        self.regmap = register_map(rotate)
        self.run = RunSpec(self.regmap)

    def compile(self, lir: LirProgram, *, link: Callable[[Symbol], int], base: int,
                options: dict | None = None) -> Compiled:
        rotate = (options or {}).get("rotate", self.rotate) or 0
        if rotate != self.rotate:
            raise BpfjitError(f"x86_64: compile asked for rotate={rotate}, but this backend "
                              f"was made with rotate={self.rotate} (its run spec follows it)")
        return compile_lir(lir, link=link, base=base, regmap=self.regmap)


def make(**options) -> X86Backend:
    unknown = set(options) - KNOWN_OPTIONS
    if unknown:
        raise BpfjitError(f"x86_64: unknown option(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(KNOWN_OPTIONS))})")
    rotate = options.get("rotate", 0)
    if not isinstance(rotate, int):
        raise BpfjitError(f"x86_64: rotate must be an integer, not {rotate!r}")
    return X86Backend(rotate)
