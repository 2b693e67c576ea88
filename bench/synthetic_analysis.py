"""Generated programs shaped like clang -O2 output, for timing jit.analysis.

`program(n)` is one function of about n instructions: ctx and packet loads,
w-register ALU, 64-bit ALU, constants, stack spills and fills, forward
branches (JMP and JMP32) and map lookups through an r10-derived key.  Branches
only land on the start of a generated unit, so the program passes every check.

    python -m bench.synthetic_analysis [n]      # time analyse() on it

Performance is measured here (and in bench/), never asserted in tests.
"""
from __future__ import annotations

import random
import sys
import time

from jit.isa import Insn
from jit.program import Function, MapDef, Program

_BRANCHES = (0x15, 0x55, 0x16, 0x56, 0x2D, 0xAD)    # jeq jne jeq32 jne32 jgt-x jlt-x


def program(n: int = 100_000, seed: int = 1) -> Program:
    rnd = random.Random(seed)
    scratch = (0, 8, 9)

    def sc() -> int:
        return rnd.choice(scratch)

    # r6 = ctx; r7 = data; r8 = data_end; r0 = r9 = 0
    units: list[list[Insn]] = [[Insn(0xBF, 6, 1), Insn(0x61, 7, 6, 0), Insn(0x61, 8, 6, 4),
                                Insn(0xB7, 0, 0, 0, 0), Insn(0xB7, 9, 0, 0, 0)]]
    size = 5
    while size < n - 2:
        k = rnd.random()
        if k < 0.15:        # packet load
            u = [Insn(rnd.choice((0x71, 0x69, 0x61)), sc(), 7, rnd.randrange(0, 60))]
        elif k < 0.35:      # w-register ALU with an immediate
            u = [Insn(rnd.choice((0x04, 0x54, 0x44, 0x64, 0x74, 0xA4)), sc(), 0, 0,
                      rnd.randrange(1, 31))]
        elif k < 0.43:      # w-register ALU with a register
            u = [Insn(rnd.choice((0x0C, 0x5C, 0x4C, 0xAC, 0xBC)), sc(), sc())]
        elif k < 0.53:      # 64-bit ALU
            u = [Insn(rnd.choice((0x0F, 0xBF)), sc(), sc()) if rnd.random() < .5
                 else Insn(rnd.choice((0x07, 0x67, 0x77)), sc(), 0, 0, rnd.randrange(1, 31))]
        elif k < 0.60:      # constants
            u = [Insn(rnd.choice((0xB7, 0xB4)), sc(), 0, 0, rnd.randrange(0, 1000))]
        elif k < 0.70:      # spill
            u = [Insn(rnd.choice((0x63, 0x7B)), 10, sc(), -8 * rnd.randrange(1, 12))]
        elif k < 0.78:      # fill
            u = [Insn(rnd.choice((0x61, 0x79)), sc(), 10, -8 * rnd.randrange(1, 12))]
        elif k < 0.92:      # forward branch, aimed below
            u = [Insn(rnd.choice(_BRANCHES), sc(), 0, rnd.randrange(1, 8), rnd.randrange(0, 9))]
        else:               # map lookup: key at r10-16
            u = [Insn(0x18, 1, 1, 0, 0), Insn(0xBF, 2, 10), Insn(0x07, 2, 0, 0, -16),
                 Insn(0x85, 0, 0, 0, 1), Insn(0x15, 0, 0, 1, 0), Insn(0x61, 9, 0, 0)]
        units.append(u)
        size += len(u)
    units.append([Insn(0xB7, 0, 0, 0, 2), Insn(0x95)])
    # slots of each unit's start; a branch skips a few whole units
    starts, slot = [], 0
    for u in units:
        starts.append(slot)
        slot += sum(i.slots for i in u)
    insns: list[Insn] = []
    for j, u in enumerate(units):
        for i in u:
            if i.opcode in _BRANCHES and len(u) == 1:
                tgt = starts[min(j + i.off, len(units) - 1)]
                i = i._replace(off=tgt - starts[j] - 1,
                               src=sc() if i.opcode in (0x2D, 0xAD) else 0,
                               imm=0 if i.opcode in (0x2D, 0xAD) else i.imm)
            insns.append(i)
    return Program("synthetic", insns, [Function("synthetic", 0, slot)],
                   maps=[MapDef("m", 1, 4, 8, 16)], file="<synthetic>")


def main(argv: list[str]) -> None:
    from jit.analysis import analyse
    n = int(argv[1]) if len(argv) > 1 else 100_000
    p = program(n)
    best = None
    for _ in range(5):
        t = time.process_time()
        facts = analyse(p)
        dt = time.process_time() - t
        best = dt if best is None else min(best, dt)
    f = facts.functions[0]
    print(f"{len(p.insns)} instructions, {len(f.blocks)} blocks: analyse() best of 5 "
          f"{best * 1000:.0f} ms CPU = {len(p.insns) / best / 1000:.0f}k instructions/s "
          f"(stack {f.stack_depth}, {len(facts.zext_needed)} zext)")


if __name__ == "__main__":
    main(sys.argv)
