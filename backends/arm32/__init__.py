"""ARM32 backend: ARMv7-A, A32 encoding, little-endian, AAPCS (EABI).

Code overview:

    regs.py   the register map below, the temporaries, fixed frame offsets
    enc.py    pure A32 encoders (one function per instruction form)
    pairs.py  64-bit values on 32-bit registers: halves of homes, constants,
              borrowed pairs, 64-bit mul/shift idioms, the division routine
    emit.py   LIR op -> encoder calls, one method per op type
    abi.py    conventions, frames, prologue/epilogue, the Unicorn RunSpec

Register map (eBPF registers are 64-bit: a pair is lo:hi, even:odd so that
ldrd/strd move a whole register; a slot is 8 bytes at sp + offset):

    | eBPF | home      | role                                                        |
    |------|-----------|-------------------------------------------------------------|
    | r0   | r0:r1     | return value: AAPCS returns u64 here, so a helper's result,  |
    |      |           | a callee's return value and the exit value need no move      |
    | r1   | [sp, #24] | ctx / argument 1: one ldrd into r0:r1 at a call              |
    | r2   | [sp, #32] | argument 2: one ldrd into r2:r3 at a call                    |
    | r3   | [sp, #0]  | arguments 3 and 4: their homes are the AAPCS stack-argument  |
    | r4   | [sp, #8]  | slots of a call, so a call moves neither                     |
    | r5   | r4:r5     | argument 5 (stored to [sp, #16] for a C callee)              |
    | r6   | r6:r7     | callee-saved eBPF -> callee-saved A32: survive calls free    |
    | r7   | r8:r9     |                                                              |
    | r8   | r10:r11   |                                                              |
    | r9   | [sp, #40] | the coldest register; a slot survives calls too              |
    | r10  | [sp, #96] | one word, upper half 0: an address in the STACK region; ip  |
    |      |           | brings it at every entry and the prologue stores it (abi.py) |
    | AX   | [sp, #48] | the lowering's scratch, its own slot                         |
    | -    | r2:r3     | temporary pair: a spilled register in one ldrd/strd          |
    | -    | ip, lr    | temporaries; never a home. lr is saved by every prologue     |

The kernel's ARM32 JIT keeps only r0, r1 and r6 in registers and reloads the
rest from a scratch area around every instruction.  Here the five registers
in pairs are the most used ones by dynamic count over the fixture and
benchmark programs (regs.py has the counts), and three things keep the
spilled ones cheap: the temporary pair (one ldrd/strd per access), a run of
ops on one spilled register keeps it in that pair and stores it once
(emit.py), and a liveness analysis per register half skips every upper (or
lower) half nobody reads (pairs.live_after): pointer arithmetic, bytes loaded
for a JMP32, dead zero-extensions.

Options: `cpu` ("cortex-a15": udiv/sdiv; "cortex-a9": no hardware divide,
every division goes to the runtime routine), and per compile `rotate=k`:
eBPF register i takes the default home of register (i + k) mod 10 (r0..r9;
pairs and slots rotate together; the temporary pair r2:r3 stays).  Rotation
applies to call-free programs: a program with helper, local or tail calls is
refused with UnsupportedError, because calls pin arguments, the result and
the preserved registers to the default map.
"""
from __future__ import annotations

from backends.base import Caps, Cpu, Rotation, Target, lazy

from .abi import ABI, ELF, EMU, TOOLS, RunSpec

TARGET = Target(
    name="arm32",
    summary="ARMv7-A, A32, little-endian, AAPCS",
    aliases=("arm", "armv7"),
    caps=Caps(alu32_zext=False, byteorder="little", word_bits=32, hw_div=True,
              # the 8 bits of a modified immediate (and the ldrh/ldrd offset), the
              # 12-bit ldr/str offset, and movw's 16 bits
              imm_bits=(8, 12, 16), branch_reach=(1 << 25) - 4),   # b<cond>: +-32 MiB
    abi=ABI,
    emu=EMU,
    elf=ELF,
    emitter=lazy("backends.arm32.emit", "Emitter"),
    runspec=lambda backend: RunSpec(backend.cpu_model.uc_cpu),
    cpus=(Cpu("cortex-a15", uc_cpu="UC_CPU_ARM_CORTEX_A15", note="udiv/sdiv"),
          Cpu("cortex-a9", caps={"hw_div": False}, uc_cpu="UC_CPU_ARM_CORTEX_A9",
              note="no hardware divide: every division calls the runtime routine")),
    rotation=Rotation(with_calls="refuse", ring=10),
    insn_align=4,
    tools=TOOLS,
)
