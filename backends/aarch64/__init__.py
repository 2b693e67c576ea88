"""The AArch64 backend: ARMv8-A, A64, little-endian, AAPCS64.

    regs.py   eBPF -> native register map (the Linux arm64 JIT's), temporaries, rotation
    enc.py    pure A64 encoders (one per form, range-checked; logical immediates)
    emit.py   LIR op -> instruction words; atomics (LL/SC or LSE), calls, tail calls
    abi.py    frames, prologue/epilogue, the Unicorn RunSpec, ELF relocation fields

CPU models (`--cpu`): "armv8-a" (the default: ldxr/stxr loops for atomics,
run on Unicorn's Cortex-A72) and "armv8.1-a" (LSE atomics, run on Unicorn's
"max" model, the only one that has them).  Rotation (tests): `rotate` moves
eBPF r0-r9 along regs.ROTATION_RING, for call-free programs only; a program
with calls is refused (UnsupportedError): calls pin r1-r5 to x0-x4.
"""
from __future__ import annotations

from backends.base import Caps, Cpu, Rotation, Target, lazy
from backends.aarch64.abi import ABI, ELF, EMU, TOOLS, RunSpec
from backends.aarch64.regs import ROTATION_RING, regmap

TARGET = Target(
    name="aarch64",
    summary="ARMv8-A, A64, little-endian, AAPCS64",
    aliases=("arm64",),
    caps=Caps(alu32_zext=True,          # every write of a W register clears bits 63..32
              byteorder="little", word_bits=64, hw_div=True,
              # ldur's signed 9 bits (+-256), add/sub and scaled ldr/str's 12 bits, movz's
              # 16, imm12 << 12 (24 bits), then one movk more at 32 and 48 bits
              imm_bits=(8, 12, 16, 24, 32, 48),
              # b.cond and cbz/cbnz: a signed 19-bit word offset, +-1 MiB (tbz/tbnz,
              # used for sign and single-bit tests, reach +-32 KiB; all have long forms)
              branch_reach=1 << 20),
    abi=ABI,
    emu=EMU,
    elf=ELF,
    emitter=lazy("backends.aarch64.emit", "Emitter"),
    runspec=lambda backend: RunSpec(backend.cpu_model.uc_cpu, regmap(backend.rotate)),
    cpus=(Cpu("armv8-a", uc_cpu="UC_CPU_ARM64_A72",
              note="ARMv8.0: atomics are ldxr/stxr loops"),
          Cpu("armv8.1-a", uc_cpu="UC_CPU_ARM64_MAX",
              note="LSE atomics (ldadd, ldclr, ldeor, ldset, swp, cas)")),
    rotation=Rotation(with_calls="refuse", ring=len(ROTATION_RING)),
    insn_align=4,
    tools=TOOLS,
)
