"""The x86-64 backend (System V): the `TARGET` record.

Files: regs.py (the register map), enc.py (encoders), emit.py (LIR op ->
instructions), abi.py (frame, prologue/epilogue, the runner's view, ELF facts).
This module only ties them together and declares what the machine can do.

Rotation (tests): `rotate=k` moves the homes of eBPF r0-r9 by k positions
(regs.register_map); for call-free programs only, to flush out register-specific
mistakes.  r10 (rbp), AX (r10) and the temporaries (r11, r9) do not move.  The
run spec follows the rotation (r1/r2 in, r0 out).
"""
from __future__ import annotations

from backends.base import Caps, Rotation, Target, lazy
from backends.x86_64.abi import ABI, ELF, EMU, TOOLS, RunSpec
from backends.x86_64.regs import ROTATABLE, register_map

TARGET = Target(
    name="x86_64",
    summary="x86-64, System V",
    aliases=("x86-64", "amd64", "x64"),
    caps=Caps(alu32_zext=True,          # every 32-bit operation zero-extends its destination
              byteorder="little", word_bits=64, hw_div=True,
              # imm8/disp8/rel8 vs 32-bit forms; imm32 sign-extension;
              # mov r32, imm32 vs mov r64, simm32 vs movabs
              imm_bits=(7, 31, 32), branch_reach=127),      # jcc rel8
    abi=ABI,
    emu=EMU,
    elf=ELF,
    emitter=lazy("backends.x86_64.emit", "Emitter"),
    runspec=lambda backend: RunSpec(register_map(backend.rotate)),
    rotation=Rotation(with_calls="refuse", ring=ROTATABLE),
    insn_align=1,
    tools=TOOLS,
)
