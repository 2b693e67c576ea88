"""x86-64 cases the differential matrix (tests/test_matrix.py) cannot state without
naming a native register: eBPF r0 lives in rax (div/idiv and cmpxchg's implicit
operand), r3 in rdx (div/idiv write it), r4 in rcx (variable shifts take their
count in cl), r7 in r13 (as a base it needs a disp8 even for offset 0), r1/r2
in rdi/rsi (their low bytes need a REX prefix).  backends/x86_64/regs.py.

Each program dumps every register after every case, so an instruction sequence
that clobbers a bystander (rax/rdx around a division, rcx around a shift) shows
at the case that did it.  Built on the matrix's builder (tests/difftest.Batch).
"""
from __future__ import annotations

import pytest

from jit.isa import Alu, Atomic
from tests import edge
from tests.difftest import Batch, alu, atomic, configs, lddw, ldx, mov, st, stx

pytest.importorskip("unicorn", reason="the runner needs unicorn")

CFG, = configs(names=("x86_64",)) or [None]
pytestmark = pytest.mark.skipif(CFG is None, reason="x86_64 is not registered")

RAX, RDX, RCX, R13, RDI, RSI = 0, 3, 4, 7, 1, 2          # eBPF registers living there
SHIFTS = {"lsh": Alu.LSH, "rsh": Alu.RSH, "arsh": Alu.ARSH}
DIVS = {"div": (Alu.DIV, 0), "sdiv": (Alu.DIV, 1), "mod": (Alu.MOD, 0), "smod": (Alu.MOD, 1)}


@pytest.mark.parametrize("width", [64, 32])
def test_shift_counts_through_rcx(width):
    """The count must reach cl whether it is in rcx already, in another register, or
    the shifted value itself is in rcx (then the count and value trade places)."""
    b = Batch()
    placements = [(RCX, RSI), (RSI, RCX), (RCX, RCX), (RAX, RCX), (RCX, RAX), (RDX, RCX),
                  (RCX, RDX), (R13, RCX), (RCX, R13), (5, 9)]
    for code in SHIFTS.values():
        for d, s in placements:
            for count in edge.SHIFTS:
                b.add(lddw(s, count))
                if d != s:
                    b.add(lddw(d, 0x8765_4321_DEAD_BEEF))
                b.add(alu(width, code, d, s))
                b.dump_all_but(d, s)
    b.check(CFG)


@pytest.mark.parametrize("name", list(DIVS))
@pytest.mark.parametrize("width", [64, 32])
def test_division_through_rax_rdx(name, width):
    """div/idiv take the dividend in rdx:rax and write both: with the operands in rax
    and rdx (either way round, aliased) and elsewhere, both must come back as eBPF has
    them, and 0 / -1 divisors take the checks' paths."""
    code, off = DIVS[name]
    b = Batch()
    placements = [(RAX, RDX), (RDX, RAX), (RAX, RAX), (RDX, RDX), (RSI, RAX), (RSI, RDX),
                  (RAX, RSI), (RDX, RSI), (RCX, RAX), (R13, RDX)]
    for d, s in placements:
        for x in edge.DIVIDENDS[::2]:
            for y in edge.DIVISORS:
                b.add(lddw(s, y))
                if d != s:
                    b.add(lddw(d, x))
                b.add(alu(width, code, d, s, off=off))
                b.dump_all_but(d, s)
        for imm in (3, -1, -7, 0x7FFF_FFFF):
            b.add(lddw(d, edge.INT64_MIN & edge.M64), alu(width, code, d, imm=imm, off=off))
            b.dump_all_but(d)
    b.check(CFG)


def test_cmpxchg_around_rax():
    """cmpxchg compares with rax and writes it: base or value in rax, both succeeding
    and failing, 32- and 64-bit."""
    b = Batch()
    for size in (4, 8):
        for base, src in ((RAX, RSI), (RSI, RAX), (RDX, RCX), (R13, RAX), (RAX, RAX)):
            for equal in (True, False):
                t = 9
                b.cursor(t)
                b.add(lddw(8, 0x8000_0000_8000_0001), stx(8, t, 8, 0), mov(base, t))
                if src != base:
                    b.add(lddw(src, 0xFFFF_FFFF_0000_00FF))
                if RAX not in (base, src):
                    b.add(lddw(RAX, 0x8000_0000_8000_0001 if equal else 5))
                b.add(atomic(size, base, src, 0, Atomic.CMPXCHG))
                b.advance(t, 8)
                b.dump_all_but(base, src, RAX)
    b.check(CFG)


def test_r13_and_rbp_bases_need_a_disp8():
    """[r13] and [rbp] have no mod=00 form: offset 0 through r13 (eBPF r7) and r10 (rbp)
    must still address base + 0, as loads, stores, immediate stores and atomics."""
    b = Batch()
    for size in (1, 2, 4, 8):
        for off in (0, 8, -8, 127, 128, -128, -129):
            b.data_ptr(R13, 64 - off)
            b.add(ldx(size, 5, R13, off), ldx(size, 6, R13, off, signed=size < 8))
            b.add(lddw(8, 0x0102_0304_0506_0708 * size))
            b.cursor(R13)
            b.add(alu(64, Alu.ADD, R13, imm=-off), stx(size, R13, 8, off),
                  st(size, R13, off, -0x1234_5678 + off),
                  atomic(size if size >= 4 else 8, R13, 8, off, Atomic.ADD))
            b.add(ldx(8, R13, 10, -8), alu(64, Alu.ADD, R13, imm=8), stx(8, 10, R13, -8))
            b.out += 8
            b.dump_all_but(R13)
        b.add(st(size, 10, -24, 0x55), ldx(size, 5, 10, -24))
        b.dump([5])
    b.check(CFG)


def test_sil_dil_byte_registers_need_rex():
    """Byte stores from rsi/rdi (eBPF r2/r1) and byte sign-extensions of them: without a
    REX prefix the encoding names dh/bh instead."""
    b = Batch()
    for src in (RDI, RSI, RAX, RDX, RCX):
        b.add(lddw(src, 0x1122_3344_5566_77F8 ^ src))
        b.cursor(9)
        b.add(stx(1, 9, src, 0))
        b.advance(9, 8)
        b.add(alu(64, Alu.MOV, 8, src, off=8), alu(32, Alu.MOV, 5, src, off=8))
        b.dump([8, 5, src])
    b.check(CFG)
