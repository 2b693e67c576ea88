"""The differential matrix: every registered target, every instruction family.

Every test runs on each target of `backends.targets()` and on each extra CPU
model of it (`target.cpus[1:]`): a backend registered in backends/__init__.py
gets the whole matrix with no edit here.  A check goes through the whole
pipeline (tests/difftest.check_program: analysis, lowering, emission, Unicorn)
and the interpreter (the reference); they must agree on r0, the memory
regions, the helper calls and the fault.

Programs come from one builder (`tests.difftest.Batch`): one program per
(operation, width) runs hundreds of cases and stores every result into the
--mem block through a cursor at r10-8; the block is compared once.  Limits
come from the registry, never from a target's name: value sweeps use
tests/edge.py plus +-2^n, +-2^n +- 1 around each n of `caps.imm_bits`, branch
distances cross `caps.branch_reach`, rotations walk `rotation.ring`.

Families: ALU/ALU32 in both operand forms (values, immediates, all 10x10
register pairs, the fused `d = a; d op= b` form, 32-bit results with the upper
half unread or poisoned), NEG/END/BSWAP/MOVSX, loads, sign-extending loads,
stores, atomics, LDDW (constants, map values, map pointers), conditional jumps,
JA/gotol, LD_ABS/LD_IND, helper calls with five arguments, bpf-to-bpf calls
with stack in every frame, tail calls, branch distances, constant blinding,
rotated register maps (and calls under `rotation.with_calls`), and every
fixture of tests/progs/build (of the target's byte order) over the fixture
packet set.  What names a native register or a machine quirk lives in
tests/test_<arch>_specific.py.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

import backends
from jit import driver, elf, isa
from jit.errors import UnsupportedError
from jit.isa import LDDW, Alu, Cls, Jmp, Mode, Size
from jit.program import MapDef, Object
from tests import edge
from tests.difftest import (DATA, EXIT, MEMBASE, PATTERN, REGS, RESULTS, Batch, CallTo, Config, I,
                            alu, atomic, call_helper, check, check_packets, check_program,
                            configs, jmp, link, lddw, ldx, magnitudes, mov, program, st, stx)

pytest.importorskip("unicorn", reason="the runner needs unicorn")

M64, M32 = edge.M64, edge.M32
CONFIGS = configs()
ALL = pytest.mark.parametrize("cfg", CONFIGS, ids=[c.id for c in CONFIGS])

# (d, s) placements the value sweeps rotate through, case by case: distinct,
# aliased, r0 on either side, and both ends of the register file
PLACEMENTS = [(2, 5), (0, 1), (6, 9), (3, 7), (8, 8), (4, 4), (1, 0), (9, 3), (5, 2), (7, 6)]

# ====================================================================== ALU

ALU_OPS = {"add": (Alu.ADD, 0), "sub": (Alu.SUB, 0), "mul": (Alu.MUL, 0), "div": (Alu.DIV, 0),
           "sdiv": (Alu.DIV, 1), "mod": (Alu.MOD, 0), "smod": (Alu.MOD, 1), "or": (Alu.OR, 0),
           "and": (Alu.AND, 0), "xor": (Alu.XOR, 0), "mov": (Alu.MOV, 0), "lsh": (Alu.LSH, 0),
           "rsh": (Alu.RSH, 0), "arsh": (Alu.ARSH, 0)}
DIVS = ("div", "sdiv", "mod", "smod")
SHIFTS = ("lsh", "rsh", "arsh")
ALU_CASES = [(n, w) for n in ALU_OPS for w in (64, 32)]
ALU_PARAMS = pytest.mark.parametrize("name, width", ALU_CASES,
                                     ids=[f"{n}{w}" for n, w in ALU_CASES])


def operand_values(name: str) -> list[tuple[int, int]]:
    """(dst, src) register values that bite for this operation."""
    if name in DIVS:
        return [(a, b) for a in edge.DIVIDENDS for b in edge.DIVISORS]
    if name in SHIFTS:
        return [(a, b) for a in edge.REGS for b in edge.SHIFTS]
    return [(a, b) for a in edge.REGS for b in edge.REGS]


@functools.lru_cache(maxsize=None)
def alu_values_batch(name: str, width: int) -> Batch:
    """dst op= src over the edge values; case by case the placement rotates and the
    shape alternates: plain, 32-bit operands with free upper halves and the result's
    upper half unread (a W store), and fused (`d = a; d op= s`, a third register)."""
    code, off = ALU_OPS[name]
    b = Batch()
    for i, (x, y) in enumerate(operand_values(name)):
        d, s = PLACEMENTS[i % len(PLACEMENTS)]
        shape = i % 3
        b.add(lddw(s, y))
        if shape == 2:
            a = next(r for r in (d + 3, d + 4, d + 5) if r % 10 not in (d, s)) % 10
            b.add(lddw(a, x), alu(width, Alu.MOV, d, a))
        elif d != s:
            b.add(lddw(d, x))
        if shape == 1 and width == 32:
            b.add(alu(32, Alu.MOV, d, d), alu(32, Alu.MOV, s, s))
        b.add(alu(width, code, d, s, off=off))
        b.dump([d], size=4 if shape == 1 and width == 32 else 8)
    return b


def imm_values(name: str, width: int, imm_bits) -> list[int]:
    if name in SHIFTS:
        return list(range(width))
    values = sorted(set(edge.IMMS) | set(magnitudes(imm_bits)))
    return [v for v in values if v] if name in DIVS else values    # the checks refuse x / 0


@functools.lru_cache(maxsize=None)
def alu_imm_batch(name: str, width: int, imm_bits: tuple) -> Batch:
    """dst op= imm over the edge immediates and +-2^n around the target's limits, every
    register as dst in turn, plain and fused (`d = a; d op= imm`)."""
    code, off = ALU_OPS[name]
    b = Batch()
    i = 0
    for k, imm in enumerate(imm_values(name, width, imm_bits)):
        for x in edge.REGS[k % 4::4]:
            d = i % 10
            i += 1
            if i % 4 == 0:
                a = (d + 7) % 10
                b.add(lddw(a, x), alu(width, Alu.MOV, d, a))
            else:
                b.add(lddw(d, x))
            b.add(alu(width, code, d, imm=imm, off=off))
            b.dump([d])
    return b


def pair_values(name: str) -> list[tuple[int, int]]:
    """A few (dst, src) values for the register-pair sweep."""
    if name in DIVS:
        return [(edge.INT64_MIN & M64, 7), (0xDEAD_BEEF_8765_4321, M64 - 1)]
    if name in SHIFTS:
        return [(0xDEAD_BEEF_8765_4321, 36), (0x8000_0000_0000_0001, 65)]
    return [(0xDEAD_BEEF_8765_4321, 0x8000_0001_FFFF_FFFF), (M64, 1)]


@functools.lru_cache(maxsize=None)
def alu_pairs_batch(name: str, width: int, pairs: tuple | None = None) -> Batch:
    """dst op= src for all 100 register pairs (aliasing included), every register dumped
    after each case (a clobbered bystander shows at the case that clobbered it); then the
    fused form `d = a; d op= s` over (d, a, s) triples (a == s and s == d included) and
    other values on the other half of the pairs."""
    code, off = ALU_OPS[name]
    b = Batch()
    pairs = pairs or tuple((d, s) for d in REGS for s in REGS)
    (x, y), (x2, y2) = pair_values(name)
    for d, s in pairs:
        b.add(lddw(s, y))
        if d != s:
            b.add(lddw(d, x))
        b.add(alu(width, code, d, s, off=off))
        b.dump_all_but(d, s)
    for i, (d, s) in enumerate(pairs):
        if i % 2:                                       # the second values
            b.add(lddw(s, y2))
            if d != s:
                b.add(lddw(d, x2))
        else:                                           # fused, a == s when d + 1 == 0 mod 10
            a = (d + s + 1) % 10
            b.add(lddw(s, y2), lddw(a, x2) if a != s else mov(a, s), alu(width, Alu.MOV, d, a))
        b.add(alu(width, code, d, s, off=off))
        b.dump_all_but(d, s)
    return b


@ALL
@ALU_PARAMS
def test_alu_values(cfg, name, width):
    alu_values_batch(name, width).check(cfg)


@ALL
@ALU_PARAMS
def test_alu_imm(cfg, name, width):
    alu_imm_batch(name, width, cfg.caps.imm_bits).check(cfg)


@ALL
@ALU_PARAMS
def test_alu_register_pairs(cfg, name, width):
    alu_pairs_batch(name, width).check(cfg)


@functools.lru_cache(maxsize=None)
def chain_batch() -> Batch:
    """32-bit results that feed more 32-bit ops and are never read in full: each followed
    by consumers that depend on how the backend extended it (a signed and an unsigned
    compare, an arithmetic shift, a division)."""
    b = Batch()
    vals = edge.REGS[::3]
    for name, (code, off) in ALU_OPS.items():
        for i, x in enumerate(vals):
            y = vals[(i * 5 + 3) % len(vals)]
            if name in SHIFTS:
                y &= 31
            b.add(lddw(3, x), lddw(4, y), alu(32, Alu.ADD, 3, imm=1),
                  alu(32, Alu.XOR, 4, imm=0 if name in DIVS else 2),
                  alu(32, code, 3, 4, off=off), mov(5, imm=1), jmp(32, Jmp.JSLT, 3, 4, off=1),
                  mov(5, imm=0), jmp(32, Jmp.JLT, 3, imm=7, off=1), alu(64, Alu.ADD, 5, imm=2),
                  alu(32, Alu.ARSH, 3, imm=3), alu(32, Alu.MOV, 6, 4), alu(32, Alu.OR, 6, imm=1),
                  alu(32, Alu.DIV, 3, 6))
            b.dump([3, 5], size=4)
    return b


@ALL
def test_alu32_upper_halves_unread_and_poisoned(cfg):
    """With the lowering's garbage in upper halves nobody should read (poison_hi32),
    32-bit ops, compares and stores must still see the low halves only."""
    chain_batch().check(cfg, options={"poison_hi32": 7})
    chain_batch().check(cfg)
    for name in ("mul", "arsh", "smod"):
        alu_values_batch(name, 32).check(cfg, options={"poison_hi32": 9})


# ====================================================================== unary

@functools.lru_cache(maxsize=None)
def unary_batch() -> Batch:
    """NEG, END (to-le, to-be) and BSWAP on every register over edge values."""
    b = Batch()
    ops = [alu(64, Alu.NEG, 0), alu(32, Alu.NEG, 0)]
    for bits in (16, 32, 64):
        ops += [I(Cls.ALU | Alu.END | isa.Src.K, 0, 0, 0, bits),       # to le
                I(Cls.ALU | Alu.END | isa.Src.X, 0, 0, 0, bits),       # to be
                I(Cls.ALU64 | Alu.END | isa.Src.K, 0, 0, 0, bits)]     # bswap (v4)
    i = 0
    for op in ops:
        for x in edge.REGS[::2] + (0x0102_0304_0506_0708,):
            d = i % 10
            i += 1
            b.add(lddw(d, x), op._replace(dst=d))
            b.dump_all_but(d)
    return b


@functools.lru_cache(maxsize=None)
def movsx_batch() -> Batch:
    """MOVSX (ALU64 8/16/32, ALU 8/16) for all register pairs."""
    b = Batch()
    forms = [(64, 8), (64, 16), (64, 32), (32, 8), (32, 16)]
    for k, (width, bits) in enumerate(forms):
        for d in REGS:
            for s in REGS:
                x = edge.REGS[(d * 10 + s + k) % len(edge.REGS)] ^ 0x80_8080_8080
                b.add(lddw(s, x), alu(width, Alu.MOV, d, s, off=bits))
                b.dump_all_but(d, s)
    return b


@ALL
def test_unary(cfg):
    unary_batch().check(cfg)


@ALL
def test_movsx_register_pairs(cfg):
    movsx_batch().check(cfg)


# ====================================================================== memory

def offsets(imm_bits) -> list[int]:
    """eBPF offsets (s16) around the target's displacement limits."""
    return sorted({0, 1, -1, 0x7FF8, -0x8000} | {v for v in magnitudes(imm_bits, 16)})


FAR = 0x8000 + 64          # --mem bytes the far offsets' accesses stay inside


@functools.lru_cache(maxsize=None)
def load_batch(imm_bits: tuple) -> Batch:
    """LDX and LDSX of every size for every (dst, base) pair, and one pair at every
    offset around the displacement limits."""
    b = Batch(extra=FAR)
    for size in (1, 2, 4, 8):
        for signed in ((False, True) if size < 8 else (False,)):
            cases = [(d, base, (0, -129)[(d + base + size) % 2]) for d in REGS for base in REGS]
            cases += [((k + size) % 10, (k + 3 + size) % 10, off)
                      for k, off in enumerate(offsets(imm_bits))]
            for d, base, off in cases:
                at = 40 + 8 * ((d + base + off) % 16)
                b.data_ptr(base, at - off)                  # base + off == &--mem[at]
                b.add(ldx(size, d, base, off, signed))
                b.dump_all_but(d, base)
    return b


@functools.lru_cache(maxsize=None)
def store_batch(imm_bits: tuple) -> Batch:
    """STX of every size for every (base, src) pair, ST with edge immediates at the
    offsets around the displacement limits; each store lands in a fresh result slot."""
    b = Batch()
    for size in (1, 2, 4, 8):
        for base in REGS:
            for src in REGS:
                off = (0, -129)[(base + src) % 2]
                if src != base:
                    b.add(lddw(src, 0xF1E2_D3C4_B5A6_9788 ^ (src * 0x0101)))
                b.cursor(base)
                b.add(alu(64, Alu.ADD, base, imm=-off),          # base + off == cursor
                      stx(size, base, src, off),
                      alu(64, Alu.ADD, base, imm=off + 8),       # the slot stays as stored
                      stx(8, 10, base, RESULTS))
                b.out += 8
                b.dump_all_but(base, src)
        imms = (0, -1, 0x7F, 0x80, 0xFF, -0x80, 0x7FFF, 0x8000, edge.INT32_MIN, edge.INT32_MAX,
                0x1234_5678)
        for k, off in enumerate(offsets(imm_bits)):
            for j, imm in enumerate(imms[k % 2::2]):
                base = (k + j) % 10
                b.cursor(base)
                b.add(alu(64, Alu.ADD, base, imm=-off) if off else mov(base, base),
                      st(size, base, off, imm),
                      alu(64, Alu.ADD, base, imm=off + 8),
                      stx(8, 10, base, RESULTS))
                b.out += 8
    return b


@ALL
def test_loads(cfg):
    load_batch(cfg.caps.imm_bits).check(cfg)


@ALL
def test_stores(cfg):
    store_batch(cfg.caps.imm_bits).check(cfg)


@ALL
def test_stack_every_size_and_offset(cfg):
    """r10-relative stores and loads across the whole 512-byte stack."""
    b = Batch()
    for i, off in enumerate((-512, -511, -300, -256, -255, -129, -128, -24, -17, -9)):
        for size in (1, 2, 4, 8):
            if off % size:
                continue
            r = i % 10
            b.add(lddw(r, 0x8877_6655_4433_2211 + i), stx(size, 10, r, off),
                  ldx(size, (r + 1) % 10, 10, off, signed=bool(i & 1) and size < 8),
                  st(size, 10, off, -i), ldx(size, (r + 2) % 10, 10, off))
            b.dump_all_but(r)
    b.check(cfg)


ATOMICS = [(isa.Atomic.ADD, "add"), (isa.Atomic.OR, "or"), (isa.Atomic.AND, "and"),
           (isa.Atomic.XOR, "xor"), (0x01, "fetch_add"), (0x41, "fetch_or"), (0x51, "fetch_and"),
           (0xA1, "fetch_xor"), (isa.Atomic.XCHG, "xchg"), (isa.Atomic.CMPXCHG, "cmpxchg")]


@functools.lru_cache(maxsize=None)
def atomic_batch(aop: int, size: int, pairs: tuple | None = None) -> Batch:
    """One atomic op for every (base, src) pair (base == src, src == r0, base == r0
    included), values with upper halves set, CMPXCHG both succeeding and failing; the
    memory word, src and r0 all compared."""
    b = Batch()
    values = [(0xDEAD_BEEF_8765_4321, 0xFFFF_FFFF_0000_00FF, 0x1234_5678_8765_4321),
              (0x8000_0000_8000_0001, 0x8000_0000_8000_0001, 0x8000_0000_8000_0001)]
    for n, (base, src) in enumerate(pairs or [(x, y) for x in REGS for y in REGS]):
        mem, sval, r0 = values[n % 2]
        t, u = [r for r in REGS if r not in (base, src, 0)][:2]
        b.cursor(t)
        b.add(lddw(u, mem), stx(8, t, u, 0),                    # *cursor = mem
              mov(base, t), alu(64, Alu.ADD, base, imm=-8))
        if src != base:
            b.add(lddw(src, sval))
        if 0 not in (base, src):
            b.add(lddw(0, r0 if n % 4 < 2 else mem))
        b.add(atomic(size, base, src, 8, aop))                  # on *(base + 8) == *cursor
        b.advance(t, 8)                                         # keep the word for the diff
        b.dump_all_but(base, src, 0)
    return b


ATOMIC_CASES = [(a, s) for a, _ in ATOMICS for s in (4, 8)]


@ALL
@pytest.mark.parametrize("aop, size", ATOMIC_CASES,
                         ids=[f"{n}{s * 8}" for _, n in ATOMICS for s in (4, 8)])
def test_atomic_register_pairs(cfg, aop, size):
    atomic_batch(aop, size).check(cfg)


@functools.lru_cache(maxsize=None)
def lddw_batch(imm_bits: tuple) -> Batch:
    """LDDW into every register: edge values and +-2^n around every limit (as u64)."""
    b = Batch()
    values = sorted({v & M64 for v in magnitudes(imm_bits, 65)}
                    | {v & M64 for v in magnitudes(range(8, 64, 8), 65)}
                    | set(edge.REGS) | {0x0000_FFFF_0000_FFFF, 0xFF00_0000_0000_00FF,
                                        0x1234_5678_9ABC_DEF0, 0xFFFF_0000_FFFF_0000})
    for i, v in enumerate(values):
        d = i % 10
        b.add(lddw(d, v))
        b.dump([d])
    return b


@ALL
def test_lddw(cfg):
    lddw_batch(cfg.caps.imm_bits).check(cfg)


@ALL
def test_lddw_map_value_and_map_pointer(cfg):
    """LDDW src=2 (a map value's address + offset) and src=1 (the map pointer) on every
    register: stores through the value address land in the map, compared after the run."""
    m = MapDef(name="g", type=2, key_size=4, value_size=256, max_entries=1)
    b = Batch()
    for d in REGS:
        b.add(I(LDDW, d, isa.Pseudo.MAP_VALUE, 0, (8 * d) << 32),
              st(8, d, 0, 0x1000 + d), st(1, d, 7, -1), ldx(8, (d + 1) % 10, d, 0))
        b.dump([d, (d + 1) % 10])
        b.add(I(LDDW, d, isa.Pseudo.MAP_FD, 0, 0))
        b.dump([d])
    b.check(cfg, maps=[m])


# ====================================================================== jumps

JCONDS = [Jmp.JEQ, Jmp.JNE, Jmp.JGT, Jmp.JGE, Jmp.JLT, Jmp.JLE, Jmp.JSGT, Jmp.JSGE, Jmp.JSLT,
          Jmp.JSLE, Jmp.JSET]
JUMP_CASES = [(c, w) for c in JCONDS for w in (64, 32)]


@functools.lru_cache(maxsize=None)
def jump_batch(cond: int, width: int, imm_bits: tuple) -> Batch:
    """All register pairs (aliased too), half the edge value pairs, and every register
    against the edge immediates and +-2^n around the target's limits."""
    b = Batch()
    for a in REGS:
        for c in REGS:
            x, y = ((0x8000_0000_0000_0001 + a, 0x7FFF_FFFF_0000_0002 + c),
                    (0x1_0000_0001, 1))[(a + c) % 2]
            b.add(lddw(c, y), lddw(a, x)) if a != c else b.add(lddw(a, x))
            b.taken(jmp(width, cond, a, c), (a, c))
    for i, x in enumerate(edge.REGS):
        for j, y in enumerate(edge.REGS):
            if (i + j) % 2 and i != j + 1:                  # half the pairs; x = y + 1 kept
                continue
            a, c = PLACEMENTS[(i + j) % len(PLACEMENTS)]
            if a == c:
                c = (a + 1) % 10
            b.add(lddw(a, x), lddw(c, y))
            if width == 32 and (i + j) % 3 == 0:            # operands with free upper halves
                b.add(alu(32, Alu.MOV, a, a), alu(32, Alu.MOV, c, c))
            b.taken(jmp(width, cond, a, c), (a, c))
    for k, imm in enumerate(sorted(set(edge.IMMS) | set(magnitudes(imm_bits)))):
        for x in edge.REGS[k % 5::5] + (isa.s32(imm) & M64, (imm + 1) & M64):
            a = (k + x) % 10
            b.add(lddw(a, x))
            b.taken(jmp(width, cond, a, imm=imm), (a,))
    return b


@ALL
@pytest.mark.parametrize("cond, width", JUMP_CASES,
                         ids=[f"{c.name.lower()}{w}" for c, w in JUMP_CASES])
def test_jumps(cfg, cond, width):
    jump_batch(cond, width, cfg.caps.imm_bits).check(cfg)


@ALL
def test_ja_gotol_and_loops(cfg):
    """JA (16-bit offset) and gotol (JMP32 JA, 32-bit offset in imm), forward and back;
    a backward loop whose counter is r9 and whose sum is r7."""
    b = Batch()
    b.add(lddw(0, 0),
          I(isa.JA, 0, 0, 2),                       # over the next two
          alu(64, Alu.ADD, 0, imm=100), alu(64, Alu.ADD, 0, imm=200),
          I(isa.GOTOL, 0, 0, 0, 1),                 # over one
          alu(64, Alu.ADD, 0, imm=400),
          alu(64, Alu.ADD, 0, imm=1),
          lddw(6, 3),                               # three times round a backward gotol
          alu(64, Alu.ADD, 0, imm=10),
          alu(64, Alu.SUB, 6, imm=1),
          jmp(64, Jmp.JEQ, 6, imm=0, off=1),
          I(isa.GOTOL, 0, 0, 0, -4))
    b.dump([0, 6])
    b.add(mov(9, imm=1000), mov(7, imm=0),
          alu(64, Alu.ADD, 7, 9), alu(32, Alu.XOR, 7, imm=0x55), alu(64, Alu.SUB, 9, imm=1),
          jmp(64, Jmp.JSGT, 9, imm=0, off=-4))
    b.dump([7, 9])
    b.add(mov(0, imm=1), I(isa.JA, 0, 0, 2), alu(64, Alu.ADD, 0, imm=10), I(isa.JA, 0, 0, 4),
          I(isa.GOTOL, 0, 0, 0, 2), alu(64, Alu.ADD, 0, imm=100), I(isa.JA, 0, 0, 2),
          alu(64, Alu.ADD, 0, imm=1000), I(isa.GOTOL, 0, 0, 0, -4))
    b.dump([0])
    assert b.check(cfg).r0 == 1101


def _native_bytes(cfg: Config, insns) -> int:
    image = driver.compile_program(program(insns + [EXIT], order=cfg.order), cfg.name,
                                   cpu=cfg.cpu)
    return len(image.code)


def _pad(k: int) -> list:
    """One padding unit: a distinct 64-bit constant folded into r0 (nothing to hoist)."""
    return [lddw(3, 0x9E37_79B9_7F4A_7C15 * (k + 1) & M64), alu(64, Alu.XOR, 0, 3)]


MAX_PAD = 4000              # padding units a distance program may have (the CI budget)


@ALL
def test_branch_distances_around_the_reach(cfg):
    """Forward and backward conditional branches over n padding units, n either side of
    where the native displacement crosses caps.branch_reach (the short form's limit)."""
    base = _native_bytes(cfg, [mov(0, imm=0)])
    unit = (_native_bytes(cfg, [mov(0, imm=0)] + [i for k in range(64) for i in _pad(k)])
            - base) / 64
    reach = cfg.caps.branch_reach
    if not reach or reach / unit > MAX_PAD:
        pytest.skip(f"{cfg.name}: {reach} bytes of reach is over {MAX_PAD} padding units "
                    "(tests/test_<arch>_specific.py covers its long branches)")
    n0 = int(reach / unit)
    for n in (n0 - 2, n0, n0 + 1, n0 + 3):
        pads = [i for k in range(n) for i in _pad(k)]
        insns = ([lddw(0, 0), lddw(2, 0), jmp(64, Jmp.JEQ, 2, imm=0, off=len(pads))] + pads
                 + [alu(64, Alu.ADD, 0, imm=1000), alu(64, Alu.ADD, 2, imm=1)] + pads
                 + [jmp(64, Jmp.JEQ, 2, imm=1, off=-(len(pads) + 2)), EXIT])
        # lddw is two slots: the offsets count slots, not instructions
        slots = sum(i.slots for i in pads)
        insns[2] = insns[2]._replace(off=slots)
        insns[-2] = insns[-2]._replace(off=-(slots + 2))
        check(cfg, insns)


# ====================================================================== LD_ABS / LD_IND

@ALL
def test_ld_abs_ld_ind(cfg):
    """Big-endian packet loads of every size, in bounds, from every index register."""
    b = Batch()
    b.add(ldx(8, 6, 10, MEMBASE))       # r6 = the context (r1 at entry), as LD_ABS wants
    for size, sz in ((1, Size.B), (2, Size.H), (4, Size.W)):
        for off in (0, 1, 3, 100, DATA - size):
            b.add(I(Cls.LD | Mode.ABS | sz, 0, 0, 0, off))
            b.dump([0, 6, 7, 8, 9])
        for src in REGS:
            if src == 6:
                continue
            for base, imm in ((5, 0), (0, 7), (200, -3)):
                b.add(lddw(src, base), I(Cls.LD | Mode.IND | sz, 0, src, 0, imm))
                b.dump([0, 6, 7, 8, 9])
    b.check(cfg)


@ALL
@pytest.mark.parametrize("insn", [I(Cls.LD | Mode.ABS | Size.W, 0, 0, 0, DATA + 10),
                                  I(Cls.LD | Mode.ABS | Size.H, 0, 0, 0, -1),
                                  I(Cls.LD | Mode.ABS | Size.W, 0, 0, 0, DATA - 2),
                                  I(Cls.LD | Mode.IND | Size.B, 0, 2, 0, 0x7FFF_FFFF),
                                  I(Cls.LD | Mode.IND | Size.H, 0, 2, 0, DATA - 4)],
                         ids=["abs-past-end", "abs-negative", "abs-straddles-end", "ind-huge",
                              "ind-straddles-end"])
def test_ld_abs_out_of_bounds_returns_zero(cfg, insn):
    insns = [mov(6, 1), lddw(2, 3), lddw(0, 77), insn, mov(0, imm=5), EXIT]
    assert check(cfg, insns, mem=PATTERN).r0 == 0


# ====================================================================== calls

@ALL
def test_helper_call_with_five_arguments(cfg):
    """r1..r5 reach the helper (conformance helper 0 logs each as a u64), r0 is its
    result, r6-r9 survive the call."""
    b = Batch()
    for k, vals in enumerate(([1, 2, 3, 4, 5],
                              [M64, 0x80, 0xFFFF_FFFF_0000_0000, 0x7F, 0x1234_5678_9ABC_DEF0],
                              [edge.INT64_MIN & M64, 0, M32, 1 << 32, 0xFF],
                              [(0x1111_1111_0000_0000 * r + 0x0102_0304) ^ (3 << 60)
                               for r in range(1, 6)])):
        for r, v in zip(range(1, 6), vals):
            b.add(lddw(r, v))
        b.add(lddw(6, 0x6666 + k), lddw(9, 0x9999_0000_0000_0000 + k), call_helper(0))
        b.dump([0, 6, 7, 8, 9])
        b.add(mov(1, 0), mov(2, imm=1), mov(3, imm=2), mov(4, imm=3), mov(5, imm=0x55),
              call_helper(0))                                       # the result as an argument
        b.dump([0, 6, 7, 8, 9])
    b.check(cfg, helpers="conformance")


def local_calls_program() -> list:
    """main -> f1 -> f2, each with its own stack: values written to every frame's stack,
    a pointer into the caller's frame passed down, r6-r9 preserved across each call."""
    main = [
        lddw(6, 0x6666), lddw(7, 0x7777), lddw(8, 0x8888), lddw(9, 0x9999),
        stx(8, 10, 6, -8), st(8, 10, -16, 0x1111), st(4, 10, -200, 0x2222),
        mov(1, 10), alu(64, Alu.ADD, 1, imm=-16),                   # r1 = &main[-16]
        lddw(2, 5), lddw(3, 0x3333), lddw(4, 4), lddw(5, 5),
        CallTo(1),
        alu(64, Alu.ADD, 0, 6), alu(64, Alu.ADD, 0, 7), alu(64, Alu.ADD, 0, 8),
        alu(64, Alu.ADD, 0, 9),
        ldx(8, 1, 10, -8), alu(64, Alu.ADD, 0, 1), ldx(8, 1, 10, -16), alu(64, Alu.ADD, 0, 1),
        ldx(4, 1, 10, -200), alu(64, Alu.ADD, 0, 1), EXIT]
    f1 = [
        lddw(6, 0x60), lddw(7, 0x70), lddw(8, 0x80), lddw(9, 0x90),
        ldx(8, 0, 1, 0),                            # r0 = main's -16 slot through the pointer
        st(8, 1, 0, 0x5555),                        # and overwrite it
        stx(8, 10, 0, -8), stx(8, 10, 2, -40),
        mov(1, 10), alu(64, Alu.ADD, 1, imm=-40),   # r1 = &f1[-40]
        mov(2, 3), CallTo(2),
        ldx(8, 1, 10, -8), alu(64, Alu.ADD, 0, 1), ldx(8, 1, 10, -40), alu(64, Alu.ADD, 0, 1),
        alu(64, Alu.ADD, 0, 6), alu(64, Alu.ADD, 0, 9), EXIT]
    f2 = [
        lddw(6, 0x6), lddw(9, 0x9),
        ldx(8, 0, 1, 0), alu(64, Alu.MUL, 0, imm=3),
        stx(8, 1, 0, 0),                            # writes f1's frame
        st(8, 10, -8, 0x77), st(8, 10, -256, 0x100),
        ldx(8, 3, 10, -8), alu(64, Alu.ADD, 0, 3), ldx(8, 3, 10, -256), alu(64, Alu.ADD, 0, 3),
        alu(64, Alu.ADD, 0, 2), alu(64, Alu.ADD, 0, 6), EXIT]
    return link(main, f1, f2)


def call_chain(depth: int) -> list:
    """main and f1..f{depth-1}: f_k(a, b) keeps a on its stack, clobbers r6-r9 (after
    using them), calls f_{k+1}(a * 3 + r6, b - 1) with r3-r5 set, folds in its own stack
    and the r6-r9 it got back; main checks its r6-r9 and stack the same way."""
    main = [mov(6, imm=1), mov(7, imm=2), mov(8, imm=3), mov(9, imm=4), st(8, 10, -8, 1000),
            st(4, 10, -64, 5), mov(1, imm=6), mov(2, imm=100), CallTo(1),
            alu(64, Alu.ADD, 0, 6), alu(64, Alu.ADD, 0, 7), alu(64, Alu.ADD, 0, 8),
            alu(64, Alu.ADD, 0, 9), ldx(8, 3, 10, -8), alu(64, Alu.ADD, 0, 3),
            ldx(4, 3, 10, -64), alu(64, Alu.ADD, 0, 3), EXIT]
    funcs = [main]
    for k in range(1, depth):
        f = [stx(8, 10, 1, -8 * k), mov(6, 1), mov(7, 2), alu(64, Alu.MUL, 1, imm=3),
             alu(64, Alu.ADD, 1, 6), alu(64, Alu.SUB, 2, imm=1)]
        if k < depth - 1:
            f += [mov(8, imm=-1), mov(9, imm=-2), mov(3, 10), mov(4, imm=1), mov(5, imm=2),
                  CallTo(k + 1), ldx(8, 1, 10, -8 * k), alu(64, Alu.ADD, 0, 1),
                  alu(64, Alu.ADD, 0, 7), alu(64, Alu.XOR, 0, 8), alu(64, Alu.ADD, 0, 6), EXIT]
        else:
            f += [mov(0, 1), alu(64, Alu.MUL, 0, 2), EXIT]
        funcs.append(f)
    return link(*funcs)


@ALL
def test_local_calls_with_stack_in_every_frame(cfg):
    ref = check(cfg, local_calls_program())
    # worked out by hand from the program text
    f2 = 5 * 3 + 0x77 + 0x100 + 0x3333 + 6          # f1's -40 slot (5) tripled, own stack, r2, r6
    f1 = f2 + 0x1111 + 15 + 0x60 + 0x90             # its -8 slot, -40 slot (f2 wrote 15), r6, r9
    assert ref.r0 == f1 + 0x6666 + 0x7777 + 0x8888 + 0x9999 + 0x6666 + 0x5555 + 0x2222
    assert check(cfg, call_chain(8)).fault is None


@ALL
def test_local_calls_with_division_and_r10(cfg):
    """A subprogram divides (a runtime routine where the CPU has no divide); r10 is read
    as a value, stored, compared and used as a base between and after calls."""
    div = link([alu(64, Alu.MOV, 6, imm=-5), lddw(1, 0xFFFF_FFFF_FFFF_FF00), lddw(2, 7),
                CallTo(1), alu(64, Alu.ADD, 0, 6), EXIT],
               [mov(0, 1), alu(64, Alu.DIV, 0, 2), alu(64, Alu.MOD, 1, 2, off=1),
                alu(64, Alu.ADD, 0, 1), alu(32, Alu.DIV, 0, imm=3), EXIT])
    check(cfg, div)
    f = [stx(8, 10, 1, -8), ldx(8, 0, 10, -8), alu(64, Alu.MUL, 0, imm=3),
         alu(64, Alu.ADD, 0, imm=1), EXIT]
    main = [mov(9, 1), st(8, 10, -8, 7), mov(1, imm=1), CallTo(1),
            ldx(8, 6, 10, -8), alu(64, Alu.ADD, 6, 0), mov(1, 6), CallTo(1),
            stx(8, 10, 0, -16), CallTo(1),
            mov(2, 10), stx(8, 9, 2, 0), alu(64, Alu.ADD, 6, 0),        # r10 as a value
            CallTo(1), jmp(64, Jmp.JEQ, 0, imm=0, off=1), alu(64, Alu.ADD, 6, imm=1),
            ldx(8, 1, 10, -16), alu(64, Alu.ADD, 6, 1), stx(8, 9, 6, 8), mov(0, 6), EXIT]
    assert check(cfg, link(main, f), mem=bytes(16)).fault is None


# ====================================================================== tail calls

MAX_TAIL_CALL_CNT = 33     # include/linux/bpf.h


def prog_array_object(order: str, case: str):
    """Programs that count their runs in the map value `cnt` and tail-call through the
    prog array `jt`; a failed tail call falls through to r0 = runs + 1000.
      chain         entry -> t1 -> t2 -> t3 -> slot 3, past max_entries
      limit         entry -> t1 -> t1 -> ... until the 33-call limit
      empty_slot    entry -> t1 -> slot 1, never filled
      out_of_range  entry -> slot 7 of 3
      huge_index    entry -> slot 1 << 32 (the index is u32: slot 0 -> t1 -> t2 ...)
      deep_stack    the chain, each program with a 504-byte stack
    """
    deep = case == "deep_stack"
    kind = "chain" if deep else case
    n = 1 if kind == "limit" else 3
    jt = MapDef(name="jt", type=3, key_size=4, value_size=4, max_entries=n)
    cnt = MapDef(name="cnt", type=2, key_size=4, value_size=64, max_entries=1)
    maps = [jt, cnt]

    def body(k: int, slot: int) -> list:
        return ([I(LDDW, 6, isa.Pseudo.MAP_VALUE, 0, 1),             # r6 = &cnt
                 ldx(8, 7, 6, 0), alu(64, Alu.ADD, 7, imm=1), stx(8, 6, 7, 0),
                 ldx(8, 9, 6, 8 * (k + 1)), alu(64, Alu.ADD, 9, imm=1), stx(8, 6, 9, 8 * (k + 1)),
                 ldx(8, 0, 6, 0),                                     # r0 = runs so far
                 I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, slot)]  # r1 is still the context
                + ([stx(8, 10, 0, -504), ldx(8, 0, 10, -504)] if deep else [])
                + [call_helper(12), alu(64, Alu.ADD, 0, imm=1000), EXIT])
    first = {"chain": 0, "limit": 0, "empty_slot": 0, "out_of_range": 7,
             "huge_index": 1 << 32}[kind]
    progs = [program(body(0, first), order=order, name="entry")]
    for k in range(1, n + 1):
        progs.append(program(body(k, 0 if kind == "limit" else k), order=order, name=f"t{k}"))
    jt.prog_slots = {k - 1: f"t{k}" for k in range(1, n + 1)}
    if kind == "empty_slot":
        del jt.prog_slots[1]
    for p in progs:
        p.maps = maps
    return Object(file="<tail calls>", programs=progs, maps=maps, byteorder=order), progs[0]


TAIL_RUNS = {"chain": 4, "limit": 1 + MAX_TAIL_CALL_CNT, "empty_slot": 2, "out_of_range": 1,
             "huge_index": 4, "deep_stack": 4}     # runs before the failed tail call


@ALL
@pytest.mark.parametrize("case", list(TAIL_RUNS))
def test_tail_calls(cfg, case):
    obj, entry = prog_array_object(cfg.order, case)
    ref = check_program(entry, cfg.name, obj=obj, mem=bytes(8), cpu=cfg.cpu)
    assert ref.r0 == TAIL_RUNS[case] + 1000


def _tail_object(order: str, entry: list, target: list, extra_maps=()):
    """`entry` tail-calls slot 0 of map 0 (a prog array holding `target`)."""
    jt = MapDef(name="jt", type=3, key_size=4, value_size=4, max_entries=2, prog_slots={0: "t1"})
    maps = [jt, *extra_maps]
    progs = [program(entry, order=order, name="entry"), program(target, order=order, name="t1")]
    for p in progs:
        p.maps = maps
    return Object(file="<tail call>", programs=progs, maps=maps, byteorder=order), progs[0]


TAIL = [I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, 0), call_helper(12)]   # r1: the context


@ALL
def test_tail_calls_from_a_subprogram(cfg):
    """A subprogram tail-calls: its frame is replaced, the target starts with the r10 of
    the frame it replaces, and returns r0 to the subprogram's caller, whose r6-r9 and
    stack must be intact."""
    from jit.interp import STACK_TOP
    out = MapDef(name="out", type=2, key_size=4, value_size=16, max_entries=1)
    entry = link([st(8, 10, -16, 0x1234), st(8, 10, -8, 0), CallTo(1),
                  ldx(8, 1, 10, -16), alu(64, Alu.ADD, 0, 1), EXIT],
                 [st(8, 10, -8, 0x55)] + TAIL + [mov(0, imm=1000), EXIT])
    target = [I(LDDW, 6, isa.Pseudo.MAP_VALUE, 0, 1), stx(8, 6, 10, 0),    # out[0] = r10
              st(8, 10, -8, 0x77), ldx(8, 7, 10, -8), stx(8, 6, 7, 8), mov(0, 10), EXIT]
    obj, prog = _tail_object(cfg.order, entry, target, [out])
    ref = check_program(prog, cfg.name, obj=obj, mem=bytes(8), cpu=cfg.cpu)
    assert ref.r0 == STACK_TOP - 16 + 0x1234

    entry = link([lddw(6, 0x6666_0000_0000_0006), lddw(9, 0x9999), stx(8, 10, 9, -8),
                  CallTo(1), alu(64, Alu.ADD, 0, 6), ldx(8, 1, 10, -8), alu(64, Alu.ADD, 0, 1),
                  alu(64, Alu.ADD, 0, 9), EXIT],
                 [lddw(7, 0x7777), stx(8, 10, 7, -16), lddw(6, 1), lddw(9, 2)] + TAIL
                 + [mov(0, imm=-1), EXIT])
    target = [lddw(6, 0x1234), lddw(0, 0x5000_0000_0000_0077), alu(64, Alu.ADD, 0, 6), EXIT]
    obj, prog = _tail_object(cfg.order, entry, target)
    ref = check_program(prog, cfg.name, obj=obj, mem=bytes(8), cpu=cfg.cpu)
    assert ref.r0 == 0x5000_0000_0000_0077 + 0x1234 + 0x6666_0000_0000_0006 + 2 * 0x9999

    # the r10 a subprogram passes on, into a target with a frame of another size
    entry = link([stx(8, 10, 1, -24), CallTo(1), EXIT],
                 [stx(8, 10, 1, -8)] + TAIL + [mov(0, imm=-1), EXIT])
    target = [stx(8, 1, 10, 0), stx(8, 10, 10, -40), ldx(8, 2, 10, -40), stx(8, 1, 2, 8),
              mov(0, imm=7), EXIT]
    obj, prog = _tail_object(cfg.order, entry, target)
    assert check_program(prog, cfg.name, obj=obj, mem=bytes(16), cpu=cfg.cpu).r0 == 7


@ALL
@pytest.mark.parametrize("tries", [32, 33])
def test_tail_calls_to_empty_slots_count(cfg, tries):
    """Failed tail calls count towards the limit too."""
    call = [mov(1, 6), I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, 1), call_helper(12)]
    n = sum(i.slots for i in call)
    main = ([mov(6, 1), mov(8, imm=tries)] + call
            + [alu(64, Alu.ADD, 8, imm=-1), jmp(64, Jmp.JNE, 8, imm=0, off=-(n + 2)),
               mov(0, imm=77), mov(1, 6)] + TAIL + [EXIT])
    obj, prog = _tail_object(cfg.order, main, [mov(0, imm=5), EXIT])
    ref = check_program(prog, cfg.name, obj=obj, cpu=cfg.cpu)
    assert ref.r0 == (5 if tries == 32 else 77)


# ====================================================================== constant blinding

@ALL
def test_constant_blinding(cfg):
    """With --harden every immediate reaches its op through AX: as an ALU source (a
    divisor, a shift count, a shift by 0), a stored value and a compared value."""
    b = Batch()
    for i, (name, width) in enumerate((("lsh", 32), ("sdiv", 64), ("rsh", 64), ("arsh", 64),
                                       ("mod", 32), ("xor", 64), ("add", 32))):
        code, off = ALU_OPS[name]
        for k, imm in enumerate(imm_values(name, width, cfg.caps.imm_bits)[i % 3::3]):
            d = (i + k) % 10
            b.add(lddw(d, edge.REGS[(i + k) % len(edge.REGS)]),
                  alu(width, code, d, imm=imm, off=off))
            b.dump([d])
    for k, imm in enumerate(sorted(set(edge.IMMS) | set(magnitudes(cfg.caps.imm_bits)))):
        for cond in (Jmp.JSGT, Jmp.JEQ, Jmp.JSET):
            a = k % 10
            b.add(lddw(a, edge.REGS[(k + cond) % len(edge.REGS)]))
            b.taken(jmp(32 if k % 2 else 64, cond, a, imm=imm), (a,))
    for base in REGS:
        for size in (1, 8):
            b.cursor(base)
            b.add(st(size, base, 0, -0x1234_5678), alu(64, Alu.ADD, base, imm=8),
                  stx(8, 10, base, RESULTS))
            b.out += 8
    b.check(cfg, harden=True)


# ====================================================================== rotated register maps

def _rotation_params():
    out = []
    for c in CONFIGS:
        rule = backends.target(c.name).rotation
        if rule is not None:
            out += [pytest.param(c, k, id=f"{c.id}-{k}") for k in range(1, rule.ring)]
    return out


@functools.lru_cache(maxsize=None)
def rotation_batch(k: int) -> Batch:
    """One program: register pairs (d, d + j) for the ops with fixed native operands
    (shifts, divisions, multiplication), atomics, the unary ops, a store and a load for
    every register; over the rotations every register meets every home in each role."""
    b = Batch()
    for i, (name, width) in enumerate((("lsh", 64), ("arsh", 32), ("div", 64), ("smod", 32),
                                       ("mul", 64), ("rsh", 32), ("sdiv", 32))):
        code, off = ALU_OPS[name]
        x, y = pair_values(name)[i % 2]
        for d in REGS:
            for j in (0, 1, 3 + i % 2, 7):
                s = (d + j + k) % 10
                b.add(lddw(s, y))
                if d != s:
                    b.add(lddw(d, x))
                b.add(alu(width, code, d, s, off=off))
                b.dump_all_but(d, s)
    for i, (aop, size) in enumerate(((isa.Atomic.CMPXCHG, 4), (isa.Atomic.CMPXCHG, 8),
                                     (0x51, 8), (0xA1, 4), (isa.Atomic.XCHG, 8))):
        part = atomic_batch(aop, size, tuple((x, (x + i + k) % 10) for x in REGS))
        b.insns += part.insns[len(Batch().insns):]          # its cases, after the set-up
        b.out += part.out
    part = unary_batch()
    b.insns += part.insns[len(Batch().insns):]
    b.out += part.out
    return b


@pytest.mark.parametrize("cfg, k", _rotation_params())
def test_rotated_register_maps(cfg, k):
    """Every eBPF register takes its turn in every native home (call-free programs), so
    register-specific encoder mistakes surface."""
    b = rotation_batch(k)
    b.check(cfg, options={"rotate": k})
    check(cfg, ROTATE_LOOP, options={"rotate": k})


# a loop whose constants get constant registers, which must avoid the rotated homes
ROTATE_LOOP = [mov(1, imm=40), mov(0, imm=0), lddw(2, 0x9E37_79B9)] + [
    mov(r, imm=0) for r in range(3, 10)] + [
    alu(64, Alu.XOR, 0, imm=0x5555_5555), alu(32, Alu.MUL, 0, imm=0x0100_0193),
    alu(64, Alu.ADD, 3, imm=0x1234_5678), alu(64, Alu.AND, 4, imm=0x0F0F_0F0F),
    alu(64, Alu.OR, 5, imm=0x3333_3333), alu(64, Alu.ADD, 6, 0), alu(64, Alu.XOR, 7, 3),
    alu(64, Alu.SUB, 8, 6), alu(64, Alu.ADD, 9, 2), alu(64, Alu.ADD, 1, imm=-1),
    jmp(64, Jmp.JNE, 1, imm=0, off=-11)] + [
    alu(64, Alu.ADD, 0, r) for r in (3, 4, 5, 7, 8, 9)] + [EXIT]


@ALL
def test_rotation_with_calls(cfg):
    """A program with calls is refused or compiled with the standard map, per the rule."""
    rule = backends.target(cfg.name).rotation
    insns = [mov(1, imm=3), call_helper(7), EXIT]
    if rule is None:
        with pytest.raises(UnsupportedError, match="rotat"):
            check(cfg, insns, options={"rotate": 3})
    elif rule.with_calls == "refuse":
        with pytest.raises(UnsupportedError, match="rotat"):
            check(cfg, insns, options={"rotate": 3})
    else:
        assert rule.with_calls == "ignore", rule
        check(cfg, insns, options={"rotate": 3})
        check(cfg, local_calls_program(), options={"rotate": 5})


# ====================================================================== fixtures

BUILD = Path(__file__).parent / "progs" / "build"


def _fixture_params():
    out = []
    for c in CONFIGS:
        tag = "el" if c.order == "little" else "eb"
        for p in sorted(BUILD.glob(f"*.{tag}[0-9].o")) if BUILD.is_dir() else []:
            out.append(pytest.param(c, p, id=f"{c.id}-{p.name}"))
    return out


@pytest.mark.parametrize("cfg, path", _fixture_params())
def test_fixture_agrees_with_interpreter(cfg, path):
    """Every program of the object over the fixture packet set (tests/test_fixtures.py),
    each compiled once; packets the kernel's test run refuses are not run."""
    from tests.test_fixtures import PACKETS, SHORT
    obj = elf.load(path.read_bytes(), file=str(path))
    ran = 0
    for prog in obj.programs:
        ran += check_packets(obj, prog, cfg.name, PACKETS, cpu=cfg.cpu, short=SHORT)
    assert ran


# ====================================================================== coverage

def _all_programs() -> list:
    bits = CONFIGS[0].caps.imm_bits
    progs = []
    for n, w in ALU_CASES:
        progs += [alu_values_batch(n, w).insns, alu_imm_batch(n, w, bits).insns]
    progs += [unary_batch().insns, movsx_batch().insns, lddw_batch(bits).insns,
              load_batch(bits).insns, store_batch(bits).insns, local_calls_program()]
    for aop, size in ATOMIC_CASES:
        progs.append(atomic_batch(aop, size, ((1, 2),)).insns)
    for c, w in JUMP_CASES:
        progs.append(jump_batch(c, w, bits).insns)
    return progs


def test_every_opcode_is_covered():
    """Every opcode isa.all_opcodes() lists appears in some program of this file."""
    used = {i.opcode for p in _all_programs() for i in p}
    used |= {isa.JA, isa.GOTOL, isa.EXIT, isa.CALL}                     # test_ja_gotol_and_loops
    used |= {Cls.LD | Mode.ABS | s for s in (Size.B, Size.H, Size.W)}   # test_ld_abs_ld_ind
    used |= {Cls.LD | Mode.IND | s for s in (Size.B, Size.H, Size.W)}
    missing = sorted(set(isa.all_opcodes()) - used)
    assert not missing, [hex(m) for m in missing]
