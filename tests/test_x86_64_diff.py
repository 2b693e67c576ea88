"""The differential matrix for the x86-64 backend: every instruction, edge value
and register pair runs on the interpreter (the reference) and on x86-64 through
the whole pipeline (tests/difftest.check_program), which must agree on r0, the
memory regions, the helper calls and the fault.

Checks are batched: one program per (operation, width) runs hundreds of cases,
each storing its results into the --mem block through a cursor kept at
r10-8, and the whole block is compared once.  Register-pair programs dump
every register after every case, so an instruction sequence that clobbers a
bystander (rax/rdx around a division, rcx around a shift, rax around a
cmpxchg loop) is caught at the case that did it.

Families: ALU/ALU32 in both operand forms (value sweeps over tests/edge.py and
the encodings' immediate limits, and all 10x10 register pairs), unary ops
(NEG, END, BSWAP, MOVSX), loads, sign-extending loads, stores, atomics, LDDW,
conditional jumps, JA and gotol, LD_ABS/LD_IND, helper calls with five
arguments, bpf-to-bpf calls with stack in every frame, tail calls (one from a
subprogram: the target keeps the r10 of the frame it replaces), branch
distances around the rel8 limit, rotated register maps, and every fixture in
tests/progs/build over the fixture packet set.  `test_every_opcode_is_covered`
checks that the generated programs use every opcode of `isa.all_opcodes()`.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from jit import isa
from jit.errors import BpfjitError, UnsupportedError
from jit.isa import LDDW, Alu, Cls, Insn, Jmp, Mode, Size, Src
from jit.program import MapDef, Object
from tests import edge
from tests.difftest import check_program, program

pytest.importorskip("unicorn", reason="the runner needs unicorn")

ARCH = "x86_64"
M64 = edge.M64
M32 = edge.M32
REGS = range(10)
DATA = 512                 # pattern bytes at the start of the --mem block
RESULTS = -8               # r10-8: cursor into the results area
MEMBASE = -16              # r10-16: the --mem block's address

def _magnitudes() -> list[int]:
    """+-2^n (and one either side) around every immediate limit the backend declares."""
    import backends
    out = set()
    for n in backends.get(ARCH).caps.imm_bits:
        for v in (1 << n, -(1 << n)):
            out.update((v - 1, v, v + 1))
    return sorted(out)


MAGNITUDES = _magnitudes()
IMM_MAGNITUDES = [v for v in MAGNITUDES if -(1 << 31) <= v < 1 << 31]
OFFSETS = (0, 1, -1, 127, 128, -128, -129, 0x7FF8, -0x8000)   # disp8 / disp32 / s16 limits


def I(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
    return Insn(opcode, dst, src, off, imm)


def lddw(dst: int, value: int) -> Insn:
    return I(LDDW, dst, 0, 0, value & M64)


def alu(cls: int, op: int, dst: int, src: int | None = None, imm: int = 0, off: int = 0) -> Insn:
    if src is None:
        return I(cls | op | Src.K, dst, 0, off, imm)
    return I(cls | op | Src.X, dst, src, off, 0)


def ldx(size: int, dst: int, base: int, off: int, signed: bool = False) -> Insn:
    return I(Cls.LDX | (Mode.MEMSX if signed else Mode.MEM) | size, dst, base, off)


def stx(size: int, base: int, src: int, off: int) -> Insn:
    return I(Cls.STX | Mode.MEM | size, base, src, off)


def st(size: int, base: int, off: int, imm: int) -> Insn:
    return I(Cls.ST | Mode.MEM | size, base, 0, off, imm)


SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}
PATTERN = bytes((0x81 + 37 * i) & 0xFF for i in range(DATA))   # no zero bytes, all positions differ


class Batch:
    """A straight-line program that runs many cases and stores their results in --mem.

    Layout of --mem: DATA pattern bytes (what loads and atomics read), then the
    results, written through the cursor at r10-8.  Every register starts
    with a distinct value so that a clobbered bystander shows up.
    """

    def __init__(self) -> None:
        self.insns: list[Insn] = [
            stx(Size.DW, 10, 1, MEMBASE),
            alu(Cls.ALU64, Alu.ADD, 1, imm=DATA),
            stx(Size.DW, 10, 1, RESULTS),
        ]
        self.insns += [lddw(r, 0x1111_1111_1111_1111 * (r + 1) ^ 0x0123_4567_89AB_CDEF)
                       for r in REGS]
        self.out = 0              # bytes of results so far

    def add(self, *insns: Insn) -> None:
        self.insns.extend(insns)

    def cursor(self, t: int) -> None:
        """t = the result cursor."""
        self.add(ldx(Size.DW, t, 10, RESULTS))

    def advance(self, t: int, n: int) -> None:
        """cursor += n (t holds the cursor)."""
        self.add(alu(Cls.ALU64, Alu.ADD, t, imm=n), stx(Size.DW, 10, t, RESULTS))
        self.out += n

    def dump(self, regs, keep=()) -> None:
        """Store `regs` as the next results through a register outside regs and keep."""
        regs = list(regs)
        t = next(r for r in REGS if r not in regs and r not in keep)
        self.cursor(t)
        for i, r in enumerate(regs):
            self.add(stx(Size.DW, t, r, 8 * i))
        self.advance(t, 8 * len(regs))

    def dump_all_but(self, *keep: int) -> None:
        """Store every register except one not in `keep` (which holds the cursor)."""
        t = next(r for r in REGS if r not in keep)
        self.dump([r for r in REGS if r != t], keep=[r for r in REGS if r != t])

    def data_ptr(self, t: int, at: int) -> None:
        """t = address of PATTERN[at]."""
        self.add(ldx(Size.DW, t, 10, MEMBASE), alu(Cls.ALU64, Alu.ADD, t, imm=at))

    def program(self, *, maps=None):
        return program(self.insns + [I(isa.EXIT)], maps=maps)

    def mem(self) -> bytes:
        return PATTERN + bytes(self.out + 8)

    def check(self, **kw):
        return check_program(self.program(maps=kw.pop("maps", None)), ARCH, mem=self.mem(), **kw)


# ====================================================================== ALU

BINARY = [Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.OR, Alu.AND, Alu.LSH, Alu.RSH, Alu.MOD,
          Alu.XOR, Alu.MOV, Alu.ARSH, "SDIV", "SMOD"]
WIDTHS = {64: Cls.ALU64, 32: Cls.ALU}
SHIFT_OPS = (Alu.LSH, Alu.RSH, Alu.ARSH)


def _op(name) -> tuple[int, int]:
    """(ALU code, off) of a binary op; SDIV/SMOD are DIV/MOD with off = 1."""
    if name == "SDIV":
        return Alu.DIV, 1
    if name == "SMOD":
        return Alu.MOD, 1
    return name, 0


def _name(name) -> str:
    return name if isinstance(name, str) else name.name


def _values(name) -> tuple[tuple, tuple]:
    """(dst values, src values) that bite for this operation."""
    code, _ = _op(name)
    if code in SHIFT_OPS:
        return edge.REGS, edge.SHIFTS
    if code in (Alu.DIV, Alu.MOD):
        return edge.DIVIDENDS, edge.DIVISORS
    return edge.REGS, edge.REGS


def _pair_values(name) -> list[tuple[int, int]]:
    """A few (dst, src) value pairs for the register-pair sweep."""
    code, _ = _op(name)
    if code in SHIFT_OPS:
        return [(0xDEAD_BEEF_8765_4321, 33), (edge.INT64_MIN & M64, 63), (0x8000_0001, 0x1F)]
    if code in (Alu.DIV, Alu.MOD):
        return [(0xDEAD_BEEF_8765_4321, 7), (edge.INT64_MIN & M64, 3),
                (M64 - 6, 0x1_0000_0003), (100, 0)]
    return [(0xDEAD_BEEF_8765_4321, 0xFFFF_FFFF_0000_0003), (edge.INT32_MIN & M64, 0x7FFF_FFFF)]


@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def alu_values_batch(name, width: int) -> Batch:
    """dst op= src over the operation's edge values, dst = r2, src = r5 (r3, r4 nearby)."""
    code, off = _op(name)
    cls = WIDTHS[width]
    b = Batch()
    dvals, svals = _values(name)
    for a in dvals:
        for v in svals:
            b.add(lddw(2, a), lddw(5, v), alu(cls, code, 2, 5, off=off))
            b.dump([2, 5])
    return b


@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def alu_imm_batch(name, width: int) -> Batch:
    """dst op= imm for every dst register, edge immediates and the encoding limits."""
    code, off = _op(name)
    cls = WIDTHS[width]
    b = Batch()
    if code in SHIFT_OPS:
        imms = [0, 1, 2, 7, 8, 15, 16, 31] + ([32, 33, 63] if width == 64 else [])
    else:
        imms = sorted(set(edge.IMMS) | set(IMM_MAGNITUDES))
        if code in (Alu.DIV, Alu.MOD):
            imms.remove(0)                      # the checks reject a constant zero divisor
    dvals = (0xDEAD_BEEF_8765_4321, edge.INT64_MIN & M64, 0x7F, M64, 0x1_0000_0000)
    for d in REGS:
        for a in dvals:
            for imm in imms:
                b.add(lddw(d, a), alu(cls, code, d, imm=imm, off=off))
                b.dump([d])
    return b


def alu_pairs_batch(name, width: int) -> Batch:
    """dst op= src for all 100 register pairs (aliasing included); every register dumped."""
    code, off = _op(name)
    cls = WIDTHS[width]
    b = Batch()
    for d in REGS:
        for s in REGS:
            for a, v in _pair_values(name):
                b.add(lddw(s, v))
                if d != s:
                    b.add(lddw(d, a))
                b.add(alu(cls, code, d, s, off=off))
                b.dump_all_but(d, s)
    return b


ALU_CASES = [(n, w) for n in BINARY for w in (64, 32)]
ALU_IDS = [f"{_name(n)}{w}" for n, w in ALU_CASES]


@pytest.mark.parametrize("name, width", ALU_CASES, ids=ALU_IDS)
def test_alu_values(name, width):
    alu_values_batch(name, width).check()


@pytest.mark.parametrize("name, width", ALU_CASES, ids=ALU_IDS)
def test_alu_imm(name, width):
    alu_imm_batch(name, width).check()


@pytest.mark.parametrize("name, width", ALU_CASES, ids=ALU_IDS)
def test_alu_register_pairs(name, width):
    alu_pairs_batch(name, width).check()


# ---------------------------------------------------------------- unary

@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def unary_batch() -> Batch:
    """NEG, END (to-le, to-be), BSWAP and MOVSX on every register over edge values."""
    b = Batch()
    ops = [alu(Cls.ALU64, Alu.NEG, 0), alu(Cls.ALU, Alu.NEG, 0)]
    for bits in (16, 32, 64):
        ops += [I(Cls.ALU | Alu.END | Src.K, 0, 0, 0, bits),      # to-le
                I(Cls.ALU | Alu.END | Src.X, 0, 0, 0, bits),      # to-be
                I(Cls.ALU64 | Alu.END | Src.K, 0, 0, 0, bits)]    # bswap (v4)
    for d in REGS:
        for a in edge.REGS[::3] + (0x0102_0304_0506_0708,):
            for op in ops:
                b.add(lddw(d, a), op._replace(dst=d))
                b.dump([d])
    return b


@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def movsx_batch() -> Batch:
    """MOVSX (ALU64 8/16/32, ALU 8/16) for all register pairs."""
    b = Batch()
    forms = [(Cls.ALU64, 8), (Cls.ALU64, 16), (Cls.ALU64, 32), (Cls.ALU, 8), (Cls.ALU, 16)]
    for d in REGS:
        for s in REGS:
            for cls, bits in forms:
                for v in (0xFFFF_FFFF_8000_8080, 0x1234_5678_7F7F_7F7F):
                    b.add(lddw(s, v), alu(cls, Alu.MOV, d, s, off=bits))
                    b.dump_all_but(d, s)
    return b


def test_unary():
    unary_batch().check()


def test_movsx_register_pairs():
    movsx_batch().check()


# ====================================================================== memory

@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def load_batch() -> Batch:
    """LDX and LDSX of every size, every (dst, base) pair, offsets at the disp8/disp32 limits."""
    b = Batch()
    for size in (1, 2, 4, 8):
        for signed in ((False, True) if size < 8 else (False,)):
            # every pair at two offsets; one pair (base r13, which needs a disp8 even
            # for 0) at every disp8/disp32 limit
            cases = [(d, base, off) for d in REGS for base in REGS for off in (0, -129)]
            cases += [(2, 7, off) for off in OFFSETS[:7]]
            for d, base, off in cases:
                at = 40 + 8 * ((d + base + off) % 16)
                b.data_ptr(base, at - off)                      # base + off == &PATTERN[at]
                b.add(ldx(SIZES[size], d, base, off, signed))
                b.dump_all_but(d, base)
    return b


@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def store_batch() -> Batch:
    """STX of every size for every (base, src) pair, and ST with edge immediates;
    each store lands in a fresh result slot, so the memory comparison sees all."""
    b = Batch()
    for size in (1, 2, 4, 8):
        for base in REGS:
            for src in REGS:
                for off in (0, -129):
                    if src != base:
                        b.add(lddw(src, 0xF1E2_D3C4_B5A6_9788 ^ (src * 0x0101)))
                    b.cursor(base)
                    b.add(alu(Cls.ALU64, Alu.ADD, base, imm=-off),     # base + off == cursor
                          stx(SIZES[size], base, src, off),
                          alu(Cls.ALU64, Alu.ADD, base, imm=off + 8),  # the slot stays as stored
                          stx(Size.DW, 10, base, RESULTS))
                    b.out += 8
                    b.dump_all_but(base, src)
            for off in (0, 127, 128, -128, -129, -0x8000):
                for imm in (0, -1, 0x7F, 0x80, 0xFF, -0x80, 0x7FFF, 0x8000, edge.INT32_MIN,
                            edge.INT32_MAX, 0x1234_5678):
                    b.cursor(base)
                    b.add(alu(Cls.ALU64, Alu.ADD, base, imm=-off) if off else
                          alu(Cls.ALU64, Alu.MOV, base, base),
                          st(SIZES[size], base, off, imm),
                          alu(Cls.ALU64, Alu.ADD, base, imm=off + 8),
                          stx(Size.DW, 10, base, RESULTS))
                    b.out += 8
    return b


def test_loads():
    load_batch().check()


def test_stores():
    store_batch().check()


ATOMICS = [(isa.Atomic.ADD, "add"), (isa.Atomic.OR, "or"), (isa.Atomic.AND, "and"),
           (isa.Atomic.XOR, "xor"), (0x01, "fetch_add"), (0x41, "fetch_or"), (0x51, "fetch_and"),
           (0xA1, "fetch_xor"), (isa.Atomic.XCHG, "xchg"), (isa.Atomic.CMPXCHG, "cmpxchg")]


@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def atomic_batch(aop: int, size: int, *, pairs=None) -> Batch:
    """One atomic op for every (base, src) pair (base == src, src == r0, base == r0
    included), values with upper halves set, CMPXCHG both succeeding and failing."""
    b = Batch()
    opcode = Cls.STX | Mode.ATOMIC | SIZES[size]
    values = [(0xDEAD_BEEF_8765_4321, 0xFFFF_FFFF_0000_00FF, 0x1234_5678_8765_4321),
              (0x8000_0000_8000_0001, 0x8000_0000_8000_0001, 0x8000_0000_8000_0001)]
    for base, src in pairs or [(x, y) for x in REGS for y in REGS]:
        for mem, sval, r0 in values:
            t, u = [r for r in REGS if r not in (base, src, 0)][:2]
            b.cursor(t)
            b.add(lddw(u, mem), stx(Size.DW, t, u, 0),                  # *cursor = mem
                  alu(Cls.ALU64, Alu.MOV, base, t), alu(Cls.ALU64, Alu.ADD, base, imm=-8))
            if src != base:
                b.add(lddw(src, sval))
            if 0 not in (base, src):
                b.add(lddw(0, r0))
            b.add(I(opcode, base, src, 8, aop))                          # on *(base + 8) == *cursor
            b.advance(t, 8)                                              # keep the word for the diff
            b.dump_all_but(base, src, 0)
    return b


@pytest.mark.parametrize("aop, size", [(a, s) for a, _ in ATOMICS for s in (4, 8)],
                         ids=[f"{n}{s * 8}" for _, n in ATOMICS for s in (4, 8)])
def test_atomic_register_pairs(aop, size):
    atomic_batch(aop, size).check()


def lddw_batch() -> Batch:
    """LDDW into every register: edge values and +-2^n around the mov forms' limits."""
    b = Batch()
    values = sorted({v & M64 for v in MAGNITUDES + [1 << 63, (1 << 63) - 1, M64, 0]}
                    | set(edge.REGS))
    for d in REGS:
        for v in values:
            b.add(lddw(d, v))
            b.dump([d])
    return b


def test_lddw():
    lddw_batch().check()


def test_lddw_map_value_and_map_pointer():
    """LDDW src=2 (a map value's address + offset) and src=1 (the map pointer) on every
    register: stores through the value address land in the map, compared after the run."""
    m = MapDef(name="g", type=2, key_size=4, value_size=256, max_entries=1)
    b = Batch()
    for d in REGS:
        b.add(I(LDDW, d, isa.Pseudo.MAP_VALUE, 0, (8 * d) << 32),
              st(Size.DW, d, 0, 0x1000 + d), st(Size.B, d, 7, -1))
        b.dump([d])
        b.add(I(LDDW, d, isa.Pseudo.MAP_FD, 0, 0))
        b.dump([d])
    b.check(maps=[m])


# ====================================================================== jumps

JCONDS = [Jmp.JEQ, Jmp.JNE, Jmp.JGT, Jmp.JGE, Jmp.JLT, Jmp.JLE, Jmp.JSGT, Jmp.JSGE, Jmp.JSLT,
          Jmp.JSLE, Jmp.JSET]
JCLASSES = {64: Cls.JMP, 32: Cls.JMP32}
JUMP_VALUES = [(0, 0), (1, 2), (M64, 1), (edge.INT64_MIN & M64, edge.INT64_MAX),
               (0x1_0000_0001, 1), (0x8000_0000, 0x7FFF_FFFF), (0xFFFF_FFFF_0000_0000, 0)]


def taken(b: Batch, jump: Insn, keep) -> None:
    """One result byte: 0 if `jump` is taken, 1 if it falls through."""
    t = next(r for r in REGS if r not in keep)
    b.cursor(t)
    b.add(jump._replace(off=1), st(Size.B, t, 0, 1))
    b.advance(t, 1)


@functools.lru_cache(maxsize=None)      # built once; the coverage test reuses it
def jump_batch(cond: int, width: int) -> Batch:
    cls = JCLASSES[width]
    b = Batch()
    # registers: all pairs, a few values each
    for a in REGS:
        for c in REGS:
            for x, y in JUMP_VALUES[:4] if a != c else JUMP_VALUES[:2]:
                b.add(lddw(a, x), lddw(c, y) if a != c else lddw(a, x))
                taken(b, I(cls | cond | Src.X, a, c), (a, c))
    # values: every edge pair on one register pair
    for x in edge.REGS:
        for y in edge.REGS:
            b.add(lddw(3, x), lddw(4, y))
            taken(b, I(cls | cond | Src.X, 3, 4), (3, 4))
    # immediates: every register, edge immediates and the imm8/imm32 limits
    for a in REGS:
        for x in (0, 1, M64, 0x8000_0000, 0x7F, 0xFFFF_FFFF_0000_0080):
            for imm in (0, 1, -1, 0x7F, 0x80, -0x80, -0x81, edge.INT32_MIN, edge.INT32_MAX):
                b.add(lddw(a, x))
                taken(b, I(cls | cond | Src.K, a, 0, 0, imm), (a,))
    return b


@pytest.mark.parametrize("cond, width", [(c, w) for c in JCONDS for w in (64, 32)],
                         ids=[f"{c.name}{w}" for c in JCONDS for w in (64, 32)])
def test_jumps(cond, width):
    jump_batch(cond, width).check()


def test_ja_and_gotol():
    """JA (16-bit offset) and gotol (JMP32 JA, 32-bit offset in imm), forward and back."""
    b = Batch()
    b.add(lddw(0, 0),
          I(isa.JA, 0, 0, 2),                       # over the next two
          alu(Cls.ALU64, Alu.ADD, 0, imm=100), alu(Cls.ALU64, Alu.ADD, 0, imm=200),
          I(isa.GOTOL, 0, 0, 0, 1),                 # over one
          alu(Cls.ALU64, Alu.ADD, 0, imm=400),
          alu(Cls.ALU64, Alu.ADD, 0, imm=1),
          # a loop run three times with a backward gotol
          lddw(6, 3),
          alu(Cls.ALU64, Alu.ADD, 0, imm=10),
          alu(Cls.ALU64, Alu.SUB, 6, imm=1),
          I(Cls.JMP | Jmp.JEQ | Src.K, 6, 0, 1, 0),
          I(isa.GOTOL, 0, 0, 0, -4))
    b.dump([0, 6])
    ref = b.check()
    assert ref.r0 == 31


@pytest.mark.parametrize("n", [28, 29, 30, 31, 32, 33, 60])
def test_branch_distance_around_rel8(n):
    """Forward and backward branches over n 4-byte `add r0, imm8`: the native
    displacement crosses the rel8 limit (127 bytes) between n = 30 and 32."""
    adds = [alu(Cls.ALU64, Alu.ADD, 0, imm=1)] * n
    insns = ([lddw(0, 0), lddw(2, 0), I(Cls.JMP | Jmp.JEQ | Src.K, 2, 0, n, 0)] + adds
             + [alu(Cls.ALU64, Alu.ADD, 0, imm=1000),
                # back: run the n adds again once, then leave
                alu(Cls.ALU64, Alu.ADD, 2, imm=1)] + adds
             + [I(Cls.JMP | Jmp.JEQ | Src.K, 2, 0, -(n + 2), 1), I(isa.EXIT)])
    # r2 = 1 at the backward branch: taken once -> the adds run again, r2 = 2, leave
    ref = check_program(program(insns), ARCH)
    assert ref.r0 == 1000 + 2 * n


# ====================================================================== LD_ABS / LD_IND

def test_ld_abs_ld_ind():
    """Big-endian packet loads of every size, in bounds, from every index register."""
    b = Batch()
    b.add(ldx(Size.DW, 6, 10, MEMBASE))     # r6 = the context (r1 at entry), as LD_ABS wants
    for size in (1, 2, 4):
        sz = SIZES[size]
        for off in (0, 1, 3, 100, DATA - size):
            b.add(I(Cls.LD | Mode.ABS | sz, 0, 0, 0, off))
            b.dump([0, 6, 7, 8, 9])
        for src in REGS:
            if src == 6:
                continue
            for base, imm in ((5, 0), (0, 7), (200, -3)):
                b.add(lddw(src, base), I(Cls.LD | Mode.IND | sz, 0, src, 0, imm))
                b.dump([0, 6, 7, 8, 9])
    b.check()


@pytest.mark.parametrize("insn", [I(Cls.LD | Mode.ABS | Size.W, 0, 0, 0, DATA + 10),
                                  I(Cls.LD | Mode.ABS | Size.H, 0, 0, 0, -1),
                                  I(Cls.LD | Mode.IND | Size.B, 0, 2, 0, 0x7FFF_FFFF)],
                         ids=["abs-past-end", "abs-negative", "ind-huge"])
def test_ld_abs_out_of_bounds_returns_zero(insn):
    insns = [alu(Cls.ALU64, Alu.MOV, 6, 1), lddw(2, 3), lddw(0, 77), insn,
             alu(Cls.ALU64, Alu.MOV, 0, imm=5), I(isa.EXIT)]
    ref = check_program(program(insns), ARCH, mem=PATTERN)
    assert ref.r0 == 0


# ====================================================================== calls

def test_helper_call_with_five_arguments():
    """r1..r5 reach the helper (System V rdi, rsi, rdx, rcx, r8); r0 is its result;
    r6-r9 survive the call."""
    b = Batch()
    for vals in ([1, 2, 3, 4, 5], [M64, 0x80, 0xFFFF_FFFF_0000_0000, 0x7F, 0x1234_5678_9ABC_DEF0],
                 [edge.INT64_MIN & M64, 0, M32, 1 << 32, 0xFF]):
        for r, v in zip(range(1, 6), vals):
            b.add(lddw(r, v))
        b.add(I(isa.CALL, 0, 0, 0, 0))          # conformance helper 0: gather_bytes(a..e)
        b.dump([0, 6, 7, 8, 9])
    b.check(helpers="conformance")


def _local_calls_program():
    """main -> f1 -> f2, each with its own stack: values written to every frame's stack,
    a pointer into the caller's frame passed down, r6-r9 preserved across each call."""
    main = [
        lddw(6, 0x6666), lddw(7, 0x7777), lddw(8, 0x8888), lddw(9, 0x9999),
        stx(Size.DW, 10, 6, -8), st(Size.DW, 10, -16, 0x1111), st(Size.W, 10, -200, 0x2222),
        alu(Cls.ALU64, Alu.MOV, 1, 10), alu(Cls.ALU64, Alu.ADD, 1, imm=-16),   # r1 = &main[-16]
        lddw(2, 5), lddw(3, 0x3333), lddw(4, 4), lddw(5, 5),
        I(isa.CALL, 0, 1, 0, 0),                                               # -> f1 (patched)
        alu(Cls.ALU64, Alu.ADD, 0, 6), alu(Cls.ALU64, Alu.ADD, 0, 7),
        alu(Cls.ALU64, Alu.ADD, 0, 8), alu(Cls.ALU64, Alu.ADD, 0, 9),
        ldx(Size.DW, 1, 10, -8), alu(Cls.ALU64, Alu.ADD, 0, 1),
        ldx(Size.DW, 1, 10, -16), alu(Cls.ALU64, Alu.ADD, 0, 1),
        ldx(Size.W, 1, 10, -200), alu(Cls.ALU64, Alu.ADD, 0, 1),
        I(isa.EXIT),
    ]
    f1 = [
        lddw(6, 0x60), lddw(7, 0x70), lddw(8, 0x80), lddw(9, 0x90),
        ldx(Size.DW, 0, 1, 0),                      # r0 = main's -16 slot through the pointer
        st(Size.DW, 1, 0, 0x5555),                  # and overwrite it
        stx(Size.DW, 10, 0, -8), stx(Size.DW, 10, 2, -40),
        alu(Cls.ALU64, Alu.MOV, 1, 10), alu(Cls.ALU64, Alu.ADD, 1, imm=-40),  # r1 = &f1[-40]
        alu(Cls.ALU64, Alu.MOV, 2, 3),
        I(isa.CALL, 0, 1, 0, 0),                    # -> f2 (patched)
        ldx(Size.DW, 1, 10, -8), alu(Cls.ALU64, Alu.ADD, 0, 1),
        ldx(Size.DW, 1, 10, -40), alu(Cls.ALU64, Alu.ADD, 0, 1),
        alu(Cls.ALU64, Alu.ADD, 0, 6), alu(Cls.ALU64, Alu.ADD, 0, 9),
        I(isa.EXIT),
    ]
    f2 = [
        lddw(6, 0x6), lddw(9, 0x9),
        ldx(Size.DW, 0, 1, 0), alu(Cls.ALU64, Alu.MUL, 0, imm=3),
        stx(Size.DW, 1, 0, 0),                      # writes f1's frame
        st(Size.DW, 10, -8, 0x77), st(Size.DW, 10, -256, 0x100),
        ldx(Size.DW, 3, 10, -8), alu(Cls.ALU64, Alu.ADD, 0, 3),
        ldx(Size.DW, 3, 10, -256), alu(Cls.ALU64, Alu.ADD, 0, 3),
        alu(Cls.ALU64, Alu.ADD, 0, 2), alu(Cls.ALU64, Alu.ADD, 0, 6),
        I(isa.EXIT),
    ]
    insns = main + f1 + f2
    # slots: every LDDW is two
    def slot_of(index):
        return sum(i.slots for i in insns[:index])
    f1_at, f2_at = slot_of(len(main)), slot_of(len(main) + len(f1))
    c1 = main.index(I(isa.CALL, 0, 1, 0, 0))
    c2 = len(main) + f1.index(I(isa.CALL, 0, 1, 0, 0))
    insns[c1] = I(isa.CALL, 0, 1, 0, f1_at - slot_of(c1) - 1)
    insns[c2] = I(isa.CALL, 0, 1, 0, f2_at - slot_of(c2) - 1)
    return program(insns)


def test_local_calls_with_stack_in_every_frame():
    prog = _local_calls_program()
    assert len(prog.functions) == 3
    ref = check_program(prog, ARCH)
    # worked out by hand from the program text
    f2 = 5 * 3 + 0x77 + 0x100 + 0x3333 + 6          # f1's -40 slot (5) tripled, own stack, r2, r6
    f1 = f2 + 0x1111 + 15 + 0x60 + 0x90             # its -8 slot, -40 slot (f2 wrote 15), r6, r9
    main = f1 + 0x6666 + 0x7777 + 0x8888 + 0x9999 + 0x6666 + 0x5555 + 0x2222
    assert ref.r0 == main


# ====================================================================== tail calls

def _prog_array_object(case: str):
    """An object whose programs tail-call each other through the prog array `jt`.

    Every program counts its runs in the map value `cnt` (cnt[0] all runs,
    cnt[k] runs of program k), sets r0 = cnt[0] and tail-calls; a failed
    tail call falls through to `r0 += 1000; exit`.
      chain         entry -> t1 -> t2 -> t3 -> slot 3, past max_entries
      limit         entry -> t1 -> t1 -> ... until the 33-call limit
      empty_slot    entry -> t1 -> slot 1, never filled
      out_of_range  entry -> slot 7 of 3
    """
    n = 1 if case == "limit" else 3
    jt = MapDef(name="jt", type=3, key_size=4, value_size=4, max_entries=n)
    cnt = MapDef(name="cnt", type=2, key_size=4, value_size=8 * 8, max_entries=1)
    maps = [jt, cnt]

    def body(k: int, slot: int) -> list[Insn]:
        return [
            I(LDDW, 6, isa.Pseudo.MAP_VALUE, 0, 1),                     # r6 = &cnt
            ldx(Size.DW, 7, 6, 0), alu(Cls.ALU64, Alu.ADD, 7, imm=1), stx(Size.DW, 6, 7, 0),
            ldx(Size.DW, 7, 6, 8 * (k + 1)), alu(Cls.ALU64, Alu.ADD, 7, imm=1),
            stx(Size.DW, 6, 7, 8 * (k + 1)),
            ldx(Size.DW, 0, 6, 0),                                      # r0 = runs so far
            I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, slot),         # r1 is still the context
            I(isa.CALL, 0, 0, 0, 12),                                   # bpf_tail_call
            alu(Cls.ALU64, Alu.ADD, 0, imm=1000),
            I(isa.EXIT),
        ]
    first = {"chain": 0, "limit": 0, "empty_slot": 0, "out_of_range": 7}[case]
    progs = [program(body(0, first), name="entry")]
    for k in range(1, n + 1):
        progs.append(program(body(k, 0 if case == "limit" else k), name=f"t{k}"))
    jt.prog_slots = {k - 1: f"t{k}" for k in range(1, n + 1)}
    if case == "empty_slot":
        del jt.prog_slots[1]
    for p in progs:
        p.maps = maps
    return Object(file="<tail calls>", programs=progs, maps=maps, byteorder="little"), progs[0]


@pytest.mark.parametrize("case", ["chain", "limit", "empty_slot", "out_of_range"])
def test_tail_calls(case):
    obj, entry = _prog_array_object(case)
    ref = check_program(entry, ARCH, obj=obj, mem=bytes(8))
    # runs before the failed tail call, by the kernel's rules (counted from the spec)
    runs = {"chain": 4, "limit": 1 + MAX_TAIL_CALL_CNT, "empty_slot": 2, "out_of_range": 1}
    assert ref.r0 == runs[case] + 1000


MAX_TAIL_CALL_CNT = 33     # include/linux/bpf.h


def _tail_call_from_a_subprogram_object():
    """main (16 bytes of stack) calls f (8 bytes), which tail-calls t1; t1 writes its
    r10 to the map value `out`, uses its own stack and returns r10.  main adds its own
    -16 slot, so a frame t1 overwrote or an r10 main did not get back shows in r0."""
    jt = MapDef(name="jt", type=3, key_size=4, value_size=4, max_entries=1, prog_slots={0: "t1"})
    out = MapDef(name="out", type=2, key_size=4, value_size=16, max_entries=1)
    maps = [jt, out]
    main = [
        st(Size.DW, 10, -16, 0x1234), st(Size.DW, 10, -8, 0),
        I(isa.CALL, 0, 1, 0, 3),                                    # -> f
        ldx(Size.DW, 1, 10, -16), alu(Cls.ALU64, Alu.ADD, 0, 1),
        I(isa.EXIT),
    ]
    f = [
        st(Size.DW, 10, -8, 0x55),
        I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, 0),           # r1 is still the context
        I(isa.CALL, 0, 0, 0, 12),                                   # bpf_tail_call: f's frame goes
        alu(Cls.ALU64, Alu.MOV, 0, imm=1000),
        I(isa.EXIT),
    ]
    t1 = [
        I(LDDW, 6, isa.Pseudo.MAP_VALUE, 0, 1),                     # r6 = &out
        stx(Size.DW, 6, 10, 0),                                     # out[0] = r10
        st(Size.DW, 10, -8, 0x77), ldx(Size.DW, 7, 10, -8), stx(Size.DW, 6, 7, 8),
        alu(Cls.ALU64, Alu.MOV, 0, 10),
        I(isa.EXIT),
    ]
    progs = [program(main + f, name="entry"), program(t1, name="t1")]
    for p in progs:
        p.maps = maps
    return Object(file="<tail call from a subprogram>", programs=progs, maps=maps,
                  byteorder="little"), progs[0]


def test_tail_call_target_keeps_the_r10_of_the_frame_it_replaces():
    """The STACK region layout on a tail call: t1 replaces f, so it starts with f's r10
    (STACK_TOP - main's 16 bytes) and its stack is where f's was."""
    from jit.interp import STACK_TOP
    obj, entry = _tail_call_from_a_subprogram_object()
    ref = check_program(entry, ARCH, obj=obj, mem=bytes(8))
    assert ref.r0 == STACK_TOP - 16 + 0x1234


# ====================================================================== constant blinding

def test_constant_blinding_through_ax():
    """With --harden every immediate reaches its op through AX (native r10): as an ALU
    source (a divisor, a shift count through cl), a stored value and a compared value."""
    for name, width in ((Alu.LSH, 32), ("SDIV", 64)):
        alu_imm_batch(name, width).check(harden=True)
    jump_batch(Jmp.JSGT, 32).check(harden=True)
    b = Batch()
    for base in REGS:
        for size in (1, 8):
            b.cursor(base)
            b.add(st(SIZES[size], base, 0, -0x1234_5678), alu(Cls.ALU64, Alu.ADD, base, imm=8),
                  stx(Size.DW, 10, base, RESULTS))
            b.out += 8
    b.check(harden=True)


# ====================================================================== rotated register maps

ROTATED = [(Alu.LSH, 64), (Alu.ARSH, 32), (Alu.DIV, 64), ("SMOD", 32)]


@pytest.mark.parametrize("rotate", range(1, 10))
def test_rotated_register_maps(rotate):
    """Every eBPF register takes its turn in rax, rcx, rdx and r13 (call-free programs)."""
    opts = {"rotate": rotate}
    for name, width in ROTATED:
        b = Batch()
        code, off = _op(name)
        for d in REGS:
            for s in REGS:
                a, v = _pair_values(name)[0]
                b.add(lddw(s, v))
                if d != s:
                    b.add(lddw(d, a))
                b.add(alu(WIDTHS[width], code, d, s, off=off))
                b.dump_all_but(d, s)
        b.check(options=opts)
    pairs = tuple((x, y) for x in REGS for y in REGS if (x + y + rotate) % 3 == 0 or 0 in (x, y))
    for aop, size in ((isa.Atomic.CMPXCHG, 4), (isa.Atomic.CMPXCHG, 8), (0x51, 8), (0xA1, 4)):
        atomic_batch(aop, size, pairs=pairs).check(options=opts)
    unary_batch().check(options=opts)


def test_rotation_refuses_programs_with_calls():
    insns = [I(isa.CALL, 0, 0, 0, 7), I(isa.EXIT)]
    with pytest.raises(UnsupportedError, match="rotated"):
        check_program(program(insns), ARCH, options={"rotate": 3})


# ====================================================================== fixtures

BUILD = Path(__file__).parent / "progs" / "build"
FIXTURES = sorted(BUILD.glob("*.el[34].o")) if BUILD.is_dir() else []


def _packets() -> dict:
    try:
        from tests.test_fixtures import PACKETS
        return PACKETS
    except ImportError:
        return {}


@pytest.mark.skipif(not FIXTURES, reason="no fixture objects in tests/progs/build")
@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_agrees_with_interpreter(path):
    """Every program of the object over the fixture packet set (tests/test_fixtures.py)."""
    from jit import driver, elf
    packets = _packets()
    if not packets:
        pytest.skip("tests/test_fixtures.PACKETS is not available")
    obj = elf.load(path.read_bytes(), file=str(path))
    ran = 0
    for prog in obj.programs:
        driver.compile_program(prog, ARCH)          # a compile error fails here, never skipped
        for pname, frame in packets.items():
            try:
                check_program(prog, ARCH, obj=obj, packet=frame)
            except AssertionError as e:
                raise AssertionError(f"{prog.name} x packet {pname}: {e}") from None
            except BpfjitError as e:
                # no run at all: e.g. no skb can be built from a frame under 14 bytes
                assert pname in SHORT_PACKETS, f"{prog.name} x packet {pname}: {e}"
                continue
            ran += 1
    assert ran


SHORT_PACKETS = ("trunc_eth", "empty")


# ====================================================================== coverage

def _all_programs() -> list:
    progs = []
    for n, w in ALU_CASES:
        progs += [alu_values_batch(n, w).insns, alu_imm_batch(n, w).insns]
    progs.append(unary_batch().insns)
    progs.append(movsx_batch().insns)
    progs.append(load_batch().insns)
    progs.append(store_batch().insns)
    for aop, _ in ATOMICS:
        for size in (4, 8):
            progs.append(atomic_batch(aop, size, pairs=((1, 2),)).insns)
    for c in JCONDS:
        for w in (64, 32):
            progs.append(jump_batch(c, w).insns)
    progs.append(_local_calls_program().insns)
    return progs


def test_every_opcode_is_covered():
    """Every opcode isa.all_opcodes() lists appears in some program of this file."""
    used = {i.opcode for p in _all_programs() for i in p}
    used |= {isa.JA, isa.GOTOL, isa.EXIT, isa.CALL}                     # test_ja_and_gotol, calls
    used |= {Cls.LD | Mode.ABS | s for s in (Size.B, Size.H, Size.W)}   # test_ld_abs_ld_ind
    used |= {Cls.LD | Mode.IND | s for s in (Size.B, Size.H, Size.W)}
    missing = sorted(set(isa.all_opcodes()) - used)
    assert not missing, [hex(m) for m in missing]
