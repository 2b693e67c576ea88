"""The RISC-V 64 backend (RV64GC, LP64 ABI, little-endian).

    regs.py   eBPF -> native register map (the Linux JIT's), temporaries, the `rotate` ring
    enc.py    pure instruction encoders: base, M, A, Zba/Zbb and compressed (RVC) forms
    emit.py   LIR op -> instructions; RVC where it fits; compare-and-branch forms
    abi.py    frames, prologue/epilogue, ELF relocation fields, the Unicorn RunSpec

CPU models (--cpu): "rv64gc" (the default: compressed instructions wherever
they fit) and "rv64g" (the same code with 4-byte instructions only).  Zba/Zbb
(shift-and-add, rotates, rev8 byte swaps) have encoders and oracle tests but
no CPU model: Unicorn 2.1's RISC-V (QEMU 5.0) raises an illegal-instruction
exception on them, and every model must run.  rv64imac emits what rv64gc
does (the JIT uses no floating point).

Rotation (tests): `rotate` moves eBPF r0-r9 along regs.ROTATION_RING, for
call-free programs only (calls pin r0-r5 to the LP64 argument registers).
"""
from __future__ import annotations

from backends.base import Caps, Cpu, Rotation, Target, lazy
from backends.riscv64 import abi
from backends.riscv64.regs import ROTATION_RING, regmap

TARGET = Target(
    name="riscv64",
    summary="RISC-V RV64GC, LP64, little-endian",
    aliases=("rv64", "riscv"),
    # c.addi/c.li/c.andi imm6, addi/andi/load/store imm12, lui+addiw's signed 32 bits,
    # u32 (one more shift), all 64
    caps=Caps(alu32_zext=False, byteorder="little", word_bits=64, hw_div=True,
              imm_bits=(5, 11, 31, 32, 63),
              branch_reach=1 << 12),                # b<cond>: +-4 KiB
    abi=abi.ABI,
    emu=abi.EMU,
    elf=abi.ELF,
    emitter=lazy("backends.riscv64.emit", "Emitter"),
    runspec=lambda backend: abi.RiscvRun(regmap(backend.rotate)[:10]),
    cpus=(Cpu("rv64gc", note="RV64GC: compressed instructions where they fit"),
          Cpu("rv64g", note="RV64G: 4-byte instructions only")),
    rotation=Rotation(with_calls="refuse", ring=len(ROTATION_RING)),
    insn_align=2,
    tools=abi.TOOLS,
)
