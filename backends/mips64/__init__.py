"""The MIPS64 Release 2 backend (n64 ABI), big- or little-endian.

    regs.py      eBPF -> native register map, temporaries, the `rotate` ring
    enc.py       pure instruction encoders (one per form, range-checked)
    emit.py      LIR op -> instruction words; 32-bit semantics; delay-slot filling
    branches.py  short/long forms of branches, jumps and calls to labels
    abi.py       frames, prologue/epilogue, the Unicorn RunSpec

`TARGET` is two records, one per byte order (mips64, mips64el), both answering
to `mips`, which picks the object's order.  Rotation (tests): `rotate` moves
eBPF r0-r9 along regs.ROTATION_RING by that many places -- for call-free
programs only (helper and local calls and tail calls pin r0-r5 to the n64
argument/return registers), so a program with any call compiles with the
standard map.
"""
from __future__ import annotations

from backends.base import Caps, Rotation, Target, lazy
from backends.mips64 import abi
from backends.mips64.regs import ROTATION_RING

BIG = Target(
    name="mips64",
    summary="MIPS64r2, n64, big-endian",
    aliases=("mips64be",),
    order_alias="mips",
    # simm16 (daddiu, slti, displacements), uimm16 (andi/ori/xori), lui's signed
    # 32-bit reach, u32 (lui+ori+dext), 48 bits (one more dsll/ori step), all 64
    caps=Caps(alu32_zext=False, byteorder="big", word_bits=64, hw_div=True,
              imm_bits=(15, 16, 31, 32, 47, 48, 63),
              branch_reach=1 << 17),                # b<cond>: 16-bit word offset
    abi=abi.ABI,
    emu=abi.EMU_BY_ORDER["big"],
    elf=abi.ELF,
    emitter=lazy("backends.mips64.emit", "Emitter"),
    runspec=lambda backend: abi.MipsRun(backend.caps.byteorder),
    rotation=Rotation(with_calls="ignore", ring=len(ROTATION_RING)),
    insn_align=4,
    tools=abi.toolchain("big"),
)
LITTLE = BIG._replace(name="mips64el", summary="MIPS64r2, n64, little-endian",
                      aliases=("mips64le",), caps=BIG.caps._replace(byteorder="little"),
                      emu=abi.EMU_BY_ORDER["little"], tools=abi.toolchain("little"))
TARGET = (BIG, LITTLE)
