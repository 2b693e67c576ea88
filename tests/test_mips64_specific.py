"""MIPS64 cases the differential matrix (tests/test_matrix.py) cannot state without
naming the machine, in both byte orders (mips64: bpfeb, mips64el: bpfel):

- delay slots: the word after every branch, jump, call and return runs; the
  emitter moves independent ALU words there, and loop back edges with nothing
  to move use branch-likely with the loop head's first word (backends/mips64/emit.py);
- long branches: conditional branches reach +-128 KiB; beyond that the inverted
  branch over a bal/jr sequence (backends/mips64/branches.py);
- unaligned pairs: loads and stores at addresses the backend cannot prove
  aligned take ldl/ldr-style pairs, which must not write half a store before
  the other half faults; 16-bit displacements.

Built on the matrix's builder (tests/difftest).
"""
from __future__ import annotations

import pytest

from jit import driver, isa
from jit.isa import Alu, Jmp
from tests.difftest import (EXIT, CallTo, I, alu, check, check_program, configs, jmp, lddw, ldx,
                            link, mov, program, st, stx)

pytest.importorskip("unicorn", reason="the runner needs unicorn")

CFGS = configs(names=("mips64", "mips64el"))
pytestmark = pytest.mark.skipif(not CFGS, reason="mips64 is not registered")
BOTH = pytest.mark.parametrize("cfg", CFGS, ids=[c.id for c in CFGS])
RET0 = [mov(0, imm=0), EXIT]


def _text(cfg, insns) -> str:
    image = driver.compile_program(program(insns, order=cfg.order), cfg.name)
    return "\n".join(t for _, _, t in image.disassemble())


# ---------------------------------------------------------------- delay slots

# ALU words before each transfer: independent ones (may move into the slot), ones that
# write the branch's operand or read what the branch's target overwrites (may not)
DELAY = [mov(0, imm=0), mov(3, imm=5), mov(4, imm=9), mov(6, imm=0),
         alu(64, Alu.ADD, 6, imm=1), alu(64, Alu.ADD, 3, imm=-1),       # r3 feeds the branch
         jmp(64, Jmp.JNE, 3, imm=0, off=-3),                            # loop: back to the add
         alu(64, Alu.ADD, 0, 6), alu(64, Alu.XOR, 4, imm=3),            # r4: independent
         jmp(64, Jmp.JGT, 4, imm=100, off=2),                           # not taken
         alu(64, Alu.ADD, 0, 4), alu(64, Alu.MUL, 4, imm=3),            # r4 read and written
         jmp(64, Jmp.JLT, 0, 4, off=1),                                 # operands just written
         alu(64, Alu.ADD, 0, imm=1000),
         mov(7, imm=2), mov(8, imm=40),                                 # a loop whose body is
         alu(64, Alu.ADD, 7, 7), alu(64, Alu.SUB, 8, imm=1),            # its own head: likely
         jmp(64, Jmp.JNE, 8, imm=0, off=-3),
         alu(64, Alu.ADD, 0, 7), alu(32, Alu.ADD, 0, 8), CallTo(1),     # before a call
         alu(64, Alu.ADD, 0, imm=7), EXIT]                              # and a return
CALLEE = [mov(0, 1), alu(64, Alu.ADD, 0, imm=11), alu(64, Alu.XOR, 5, imm=1), EXIT]


@BOTH
def test_delay_slots(cfg):
    """Independent words move into delay slots and run once on every path; words a
    branch depends on stay before it; a loop back edge may use branch-likely."""
    insns = link(DELAY, CALLEE)
    check(cfg, insns)
    words = _text(cfg, insns).splitlines()
    branches = [i for i, t in enumerate(words) if t.split()[:1] and t.split()[0].startswith("b")]
    filled = [i for i in branches if i + 1 < len(words) and "nop" not in words[i + 1]]
    assert filled, "no delay slot was filled"


@BOTH
def test_delay_slot_before_a_faulting_access(cfg):
    """Nothing that can fault moves into a delay slot: the fault's eBPF pc is exact."""
    for k in range(3):
        insns = [mov(3, imm=k), mov(4, imm=1), jmp(64, Jmp.JEQ, 3, imm=1, off=1),
                 alu(64, Alu.ADD, 4, imm=2), lddw(5, 0x10 + k), ldx(8, 0, 5, 0), EXIT]
        assert check(cfg, insns).fault is not None


# ---------------------------------------------------------------- long branches

def staggered_program(n_pairs: int, pad: int) -> list:
    """Jumps that alternate forwards and backwards with growing distances, each block
    padded with `pad` instructions (test_bpf's staggered jumps).  The hops visit the
    blocks in the order n, n-1, n+1, n-2, n+2, ... so the k-th jump spans about k
    blocks, alternately forwards and backwards."""
    block = 3 + pad
    start = 3
    blocks = 2 * n_pairs
    order, lo, hi = [], n_pairs - 1, n_pairs
    while lo >= 0 or hi < blocks:
        if hi < blocks:
            order.append(hi)
            hi += 1
        if lo >= 0:
            order.append(lo)
            lo -= 1
    nxt = {b: order[i + 1] for i, b in enumerate(order[:-1])}
    exit_at = start + blocks * block
    insns = [mov(0, imm=0), mov(3, imm=0), I(isa.JA, 0, 0, order[0] * block)]
    for b in range(blocks):
        at = start + b * block
        target = start + nxt[b] * block if b in nxt else exit_at
        insns.append(alu(64, Alu.ADD, 0, imm=1))
        insns.append(jmp(64, Jmp.JSLT, 0, imm=0, off=exit_at - (at + 2)))     # never taken
        insns.append(jmp(64, Jmp.JSGE if b % 2 else Jmp.JNE, 0, imm=0 if b % 2 else -1,
                         off=target - (at + 3)))                             # always taken
        # 4 words each (li, dmultu, mflo); too many distinct constants to hoist
        insns += [alu(64, Alu.MUL, 3, imm=0x12345 + 0x100 * k) for k in range(pad)]
    return insns + [EXIT]


@BOTH
def test_staggered_jumps_beyond_branch_reach(cfg):
    """More than 128 KiB of code: far branches take the long form, relaxation converges,
    and the hops still land where the interpreter's do."""
    prog = program(staggered_program(n_pairs=48, pad=100), order=cfg.order)
    image = driver.compile_program(prog, cfg.name)
    assert len(image.code) > cfg.caps.branch_reach
    assert image.passes >= 2                                 # some branch grew
    text = "\n".join(t for _, _, t in image.disassemble())
    assert "bal" in text and "jr $at" in text                # the long form is there
    assert check_program(prog, cfg.name).r0 == 96


# ---------------------------------------------------------------- unaligned pairs

PATTERN = bytes(range(0x81, 0xC1))                           # 64 distinct bytes


def memory_program() -> tuple[list, bytes]:
    """Loads and stores of every size at every offset 0..15 (aligned and not), with the
    base's alignment known (r1 on entry), unknown (a pointer loaded from memory) and
    derived by arithmetic; destination == base; stores of both forms; the stack at
    every alignment."""
    mem = bytearray(PATTERN + bytes(12 * 1024))
    res = len(PATTERN)
    body = [stx(8, 10, 1, -8), mov(9, 1)]
    slot = 0

    def result(reg):
        nonlocal slot
        slot += 1
        return [stx(8, 9, reg, res + 8 * (slot - 1))]

    for size in (1, 2, 4, 8):
        for signed in ((False, True) if size < 8 else (False,)):
            for o in range(0, 16):
                body += [ldx(size, 3, 1, o, signed)] + result(3)            # known aligned
                body += [ldx(8, 4, 10, -8), ldx(size, 5, 4, o, signed)] + result(5)
                body += [ldx(8, 6, 10, -8), ldx(size, 6, 6, o, signed)] + result(6)
    for k in range(8):                      # alignment the backend infers from arithmetic
        for o in (0, 1, 2, 4, 6):
            body += [mov(3, 1), alu(64, Alu.ADD, 3, imm=k), ldx(4, 5, 3, o)] + result(5)
            body += [mov(4, imm=k), alu(64, Alu.LSH, 4, imm=1), mov(3, 1),
                     alu(64, Alu.ADD, 3, 4), alu(64, Alu.AND, 3, imm=-4), ldx(8, 5, 3, o)]
            body += result(5)
    area = res + 8 * 1200
    body += [ldx(8, 1, 10, -8)]
    for size in (1, 2, 4, 8):
        for o in range(0, 16):
            at = area + o + 32 * size.bit_length()
            body += [lddw(3, 0x1122_3344_5566_7788 + o), stx(size, 1, 3, at),
                     ldx(8, 4, 10, -8), stx(size, 4, 3, at + 128),
                     st(size, 1, at + 256, -0x1234_5678 + o), ldx(8, 4, 10, -8),
                     st(size, 4, at + 384, 0x7E)]
    for size in (1, 2, 4, 8):
        for o in range(-16 - size, -8 - size + 1):
            body += [lddw(3, 0xA1B2_C3D4_E5F6_0718), stx(size, 10, 3, o), ldx(size, 4, 10, o)]
            body += result(4)
    assert res + 8 * slot < area
    return body + RET0, bytes(mem)


@BOTH
def test_unaligned_loads_and_stores(cfg):
    insns, mem = memory_program()
    check(cfg, insns, mem=mem)


@BOTH
@pytest.mark.parametrize("size", [2, 4, 8])
@pytest.mark.parametrize("known", [True, False], ids=["aligned-base", "unknown-base"])
def test_unaligned_access_running_off_the_block_faults_at_its_pc(cfg, size, known):
    """A load or store that starts inside the block (one page) and ends past it faults
    at its pc, and a store writes nothing first (bug: an unaligned store pair could
    write its first half before the second faulted)."""
    n = 4096
    for off in (n - size + 1, n - 1):
        for kind in ("load", "store"):
            base = [] if known else [stx(8, 10, 1, -8), ldx(8, 1, 10, -8)]
            op = ldx(size, 0, 1, off) if kind == "load" else stx(size, 1, 1, off)
            assert check(cfg, base + [mov(0, imm=3), op] + RET0, mem=bytes(n)).fault is not None


@BOTH
def test_displacements_at_the_s16_limits(cfg):
    """eBPF offsets of +-32767: with the stack's frame offset, or the last byte of an
    unaligned access, they leave MIPS's 16-bit displacement."""
    body = [stx(8, 10, 1, -8), mov(3, 1), alu(64, Alu.ADD, 3, imm=-32000)]
    for size in (1, 2, 4, 8):
        body += [lddw(4, 0x0102_0304_0506_0708 * size), stx(size, 3, 4, 32767 - 16 * size),
                 ldx(size, 5, 3, 32767 - 16 * size), stx(8, 1, 5, 8 * size)]
    body += [mov(3, 1), alu(64, Alu.ADD, 3, imm=40000),
             stx(4, 3, 1, -32768 + 8), ldx(4, 6, 3, -32768 + 9), stx(8, 1, 6, 0),
             st(8, 10, -512, 77), ldx(8, 0, 10, -512), EXIT]
    check(cfg, body, mem=bytes(48 * 1024))
