"""Deterministic large eBPF programs for the compile-speed benchmarks.

`generate(n, seed)` returns raw bytecode of about n instructions that passes
the safety checks: registers initialised up front, then blocks of ALU/ALU32
operations, stack loads and stores, and forward conditional branches (short
and long), with the occasional helper call, ending in exit.  It is a workload,
not a test: the random-program generator for differential testing is jit/gen.py.
"""
from __future__ import annotations

import random

from jit import isa
from jit.isa import Insn

ALU = [isa.Alu.ADD, isa.Alu.SUB, isa.Alu.MUL, isa.Alu.OR, isa.Alu.AND, isa.Alu.XOR,
       isa.Alu.LSH, isa.Alu.RSH, isa.Alu.ARSH, isa.Alu.MOV]
JMP = [isa.Jmp.JEQ, isa.Jmp.JNE, isa.Jmp.JGT, isa.Jmp.JGE, isa.Jmp.JLT, isa.Jmp.JSGT,
       isa.Jmp.JSLE, isa.Jmp.JSET]


def generate(n: int, seed: int = 1) -> list[Insn]:
    rnd = random.Random(seed)
    out = [Insn(isa.Cls.ALU64 | isa.Alu.MOV | isa.Src.K, r, 0, 0, rnd.randrange(-1000, 1000))
           for r in range(0, 10)]
    pending: list[int] = []            # indices of branches waiting for a target
    while len(out) < n - 1:
        k = rnd.random()
        if k < 0.55:
            op = rnd.choice(ALU)
            cls = isa.Cls.ALU64 if rnd.random() < 0.7 else isa.Cls.ALU
            dst = rnd.randrange(0, 10)
            if rnd.random() < 0.5:
                imm = rnd.randrange(0, 63) if op in (isa.Alu.LSH, isa.Alu.RSH, isa.Alu.ARSH) \
                    else rnd.choice([1, 7, 100, -3, 0x1234, 0x7FFF_FFFF, -0x8000_0000])
                out.append(Insn(cls | op | isa.Src.K, dst, 0, 0, imm))
            else:
                out.append(Insn(cls | op | isa.Src.X, dst, rnd.randrange(0, 10), 0, 0))
        elif k < 0.75:
            off = -8 * rnd.randrange(1, 32)
            size = rnd.choice([isa.Size.DW, isa.Size.W, isa.Size.H, isa.Size.B])
            if rnd.random() < 0.5:
                out.append(Insn(isa.Cls.STX | isa.Mode.MEM | size, 10, rnd.randrange(0, 10), off))
            else:
                # a load only from a slot this program stored to first keeps it simple: store then load
                out.append(Insn(isa.Cls.STX | isa.Mode.MEM | size, 10, rnd.randrange(0, 10), off))
                out.append(Insn(isa.Cls.LDX | isa.Mode.MEM | size, rnd.randrange(0, 10), 10, off))
        elif k < 0.93:
            cls = isa.Cls.JMP if rnd.random() < 0.7 else isa.Cls.JMP32
            op = rnd.choice(JMP)
            pending.append(len(out))
            out.append(Insn(cls | op | isa.Src.K, rnd.randrange(0, 10), 0, 0,
                            rnd.randrange(-50, 50)))
        else:
            out.append(Insn(isa.CALL, 0, 0, 0, 7))          # get_prandom_u32: clobbers r1-r5
            for r in range(1, 6):
                out.append(Insn(isa.Cls.ALU64 | isa.Alu.MOV | isa.Src.K, r, 0, 0, r))
        # resolve branches: short ones soon, some far (hundreds to thousands of insns)
        still = []
        for i in pending:
            dist = len(out) - i - 1
            want = 3 if (i * 2654435761) % 10 < 8 else 1500
            if dist >= want or len(out) >= n - 2:
                b = out[i]
                out[i] = Insn(b.opcode, b.dst, b.src, min(dist, 0x7FFF), b.imm)
                if dist > 0x7FFF:
                    out[i] = Insn(b.opcode, b.dst, b.src, 0, b.imm)
            else:
                still.append(i)
        pending = still
    for i in pending:
        b = out[i]
        out[i] = Insn(b.opcode, b.dst, b.src, min(len(out) - i - 1, 0x7FFF), b.imm)
    out.append(Insn(isa.EXIT))
    return out


def generate_bytes(n: int, seed: int = 1, order: str = "little") -> bytes:
    return isa.encode(generate(n, seed), order)
