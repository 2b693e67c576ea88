"""The differential matrix for the ARM32 backend, on both CPU models.

Every instruction, edge value and register pair runs on the interpreter (the
reference) and on ARM32 through the whole pipeline (tests/difftest.check_program);
they must agree on r0, the memory regions, the helper calls and the fault.
Everything runs twice: cortex-a15 (udiv/sdiv) and cortex-a9 (no hardware
divide: every division goes through the image's runtime routine).

ARM32 keeps five eBPF registers in register pairs and five in frame slots
(backends/arm32/regs.py), so the bugs to expect are about *where* operands
live: a pair and a slot, two slots, a register aliasing itself, a borrowed
pair or the temporary pair r2:r3 clobbering a bystander.  Hence:

- value sweeps (tests/edge.py, and +-2^n around the encodings' immediate
  limits) rotate through representative placements (pair/pair, slot/slot,
  pair/slot, slot/pair, aliased) case by case;
- register-pair programs run all 10x10 pairs and dump *every* register after
  every case, so a clobbered bystander shows at the case that clobbered it.

Checks are batched: a program runs hundreds of cases and stores results into
the --mem block through a cursor at r10-8; the block is compared once.

Named for the historic kernel ARM32 JIT bugs: a 64-bit RSH/ARSH by 0 (`lsr #0`
encodes a shift by 32) and a DW load/store whose off+4 overflows imm12.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from jit import isa
from jit.errors import BpfjitError, UnsupportedError
from jit.isa import LDDW, Alu, Cls, Insn, Jmp, Mode, Size, Src
from jit.program import MapDef, Object
from tests import edge
from tests.difftest import check_program, program

pytest.importorskip("unicorn", reason="the runner needs unicorn")

ARCH = "arm32"
CPUS = ("cortex-a15", "cortex-a9")
M64, M32 = edge.M64, edge.M32
REGS = range(10)
DATA = 512                 # pattern bytes at the start of the --mem block
RESULTS = -8               # r10-8: the results cursor
MEMBASE = -16              # r10-16: the --mem block's address
# where the default map puts each register (regs.py): placement classes to rotate through
PAIRED, SLOTTED = (0, 5, 6, 7, 8), (1, 2, 3, 4, 9)
PLACEMENTS = [(0, 5), (1, 2), (6, 9), (3, 7), (8, 8), (4, 4), (2, 0), (9, 3)]

PATTERN = bytes((0x81 + 37 * i) & 0xFF for i in range(DATA))     # no zero byte, all distinct
SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}
WIDTHS = {64: Cls.ALU64, 32: Cls.ALU}


def I(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
    return Insn(opcode, dst, src, off, imm)


def lddw(dst: int, value: int) -> Insn:
    return I(LDDW, dst, 0, 0, value & M64)


def alu(width: int, op: int, dst: int, src: int | None = None, imm: int = 0, off: int = 0) -> Insn:
    cls = WIDTHS[width]
    if src is None:
        return I(cls | op | Src.K, dst, 0, off, imm)
    return I(cls | op | Src.X, dst, src, off, 0)


def ldx(size: int, dst: int, base: int, off: int, signed: bool = False) -> Insn:
    return I(Cls.LDX | (Mode.MEMSX if signed else Mode.MEM) | SIZES[size], dst, base, off)


def stx(size: int, base: int, src: int, off: int) -> Insn:
    return I(Cls.STX | Mode.MEM | SIZES[size], base, src, off)


def st(size: int, base: int, off: int, imm: int) -> Insn:
    return I(Cls.ST | Mode.MEM | SIZES[size], base, 0, off, imm)


def jmp(width: int, cond: int, a: int, b: int | None = None, imm: int = 0, off: int = 0) -> Insn:
    cls = Cls.JMP if width == 64 else Cls.JMP32
    if b is None:
        return I(cls | cond | Src.K, a, 0, off, imm)
    return I(cls | cond | Src.X, a, b, off, 0)


def magnitudes() -> list[int]:
    """+-2^n around each immediate limit the backend declares (caps.imm_bits), as s32."""
    import backends
    out = set()
    for n in backends.get(ARCH).caps.imm_bits:
        limit = (1 << n) - 1
        for v in (limit, 1 << n, -(1 << n), -limit):
            out.update((v - 1, v, v + 1))
    for n in range(8, 32, 4):                     # rotated 8-bit immediates and movw/movt
        out.update((1 << n, (1 << n) - 1, (1 << n) + 1, -(1 << n), 0xFF << n & M32))
    return sorted(isa.s32(v) for v in out if -(1 << 31) <= isa.s32(v))


MAGNITUDES = magnitudes()


class Batch:
    """A straight-line program running many cases, storing results into --mem.

    --mem: DATA pattern bytes (what loads and atomics read), then results
    written through the cursor at r10-8.  Every register starts distinct, so
    a clobbered bystander shows up in a dump.
    """

    def __init__(self) -> None:
        self.insns: list[Insn] = [stx(8, 10, 1, MEMBASE), alu(64, Alu.ADD, 1, imm=DATA),
                                  stx(8, 10, 1, RESULTS)]
        self.insns += [lddw(r, 0x1111_1111_1111_1111 * (r + 1) ^ 0x0123_4567_89AB_CDEF)
                       for r in REGS]
        self.out = 0

    def add(self, *insns: Insn) -> None:
        self.insns.extend(insns)

    def dump(self, regs, keep=()) -> None:
        """Store `regs` as the next results, through a register outside regs and keep."""
        regs = list(regs)
        t = next(r for r in REGS if r not in regs and r not in keep)
        self.add(ldx(8, t, 10, RESULTS))
        for i, r in enumerate(regs):
            self.add(stx(8, t, r, 8 * i))
        self.add(alu(64, Alu.ADD, t, imm=8 * len(regs)), stx(8, 10, t, RESULTS))
        self.out += 8 * len(regs)

    def dump_all_but(self, *keep: int) -> None:
        """Store every register except one not in `keep`, which holds the cursor."""
        t = next(r for r in REGS if r not in keep)
        self.dump([r for r in REGS if r != t], keep=[r for r in REGS if r != t])

    def data_ptr(self, t: int, at: int) -> None:
        """t = the address of PATTERN[at]."""
        self.add(ldx(8, t, 10, MEMBASE), alu(64, Alu.ADD, t, imm=at))

    def program(self, *, maps=None):
        return program(self.insns + [alu(64, Alu.MOV, 0, imm=0), I(isa.EXIT)], maps=maps)

    def check(self, cpu: str, **kw):
        return check_program(self.program(), ARCH, mem=PATTERN + bytes(self.out + 8), cpu=cpu,
                             max_insns=1_000_000, **kw)


# ====================================================================== ALU

# name -> (opcode, off): SDIV/SMOD are DIV/MOD with off = 1
ALU_OPS = {"add": (Alu.ADD, 0), "sub": (Alu.SUB, 0), "mul": (Alu.MUL, 0), "div": (Alu.DIV, 0),
           "sdiv": (Alu.DIV, 1), "mod": (Alu.MOD, 0), "smod": (Alu.MOD, 1), "or": (Alu.OR, 0),
           "and": (Alu.AND, 0), "xor": (Alu.XOR, 0), "mov": (Alu.MOV, 0), "lsh": (Alu.LSH, 0),
           "rsh": (Alu.RSH, 0), "arsh": (Alu.ARSH, 0)}
ALU_CASES = [(n, w) for n in ALU_OPS for w in (64, 32)]
DIVS = ("div", "sdiv", "mod", "smod")
SHIFTS = ("lsh", "rsh", "arsh")


def operand_values(name: str) -> list[tuple[int, int]]:
    """(dst, src) register values for a value sweep."""
    if name in DIVS:
        return [(a, b) for a in edge.DIVIDENDS for b in edge.DIVISORS]
    if name in SHIFTS:
        return [(a, b) for a in edge.REGS for b in edge.SHIFTS]
    return [(a, b) for a in edge.REGS for b in edge.REGS]


def alu_values_batch(name: str, width: int) -> Batch:
    code, off = ALU_OPS[name]
    b = Batch()
    for i, (x, y) in enumerate(operand_values(name)):
        d, s = PLACEMENTS[i % len(PLACEMENTS)]
        b.add(lddw(s, y))
        if d != s:
            b.add(lddw(d, x))
        b.add(alu(width, code, d, s, off=off))
        b.dump([d])
    return b


def imm_values(name: str, width: int) -> list[int]:
    if name in SHIFTS:
        return list(range(width))
    values = sorted(set(edge.IMMS) | set(MAGNITUDES))
    return [v for v in values if v] if name in DIVS else values    # the checks refuse x / 0


def alu_imm_batch(name: str, width: int) -> Batch:
    code, off = ALU_OPS[name]
    b = Batch()
    regs_values = edge.REGS if name in SHIFTS else edge.REGS[::3]
    i = 0
    for imm in imm_values(name, width):
        for x in regs_values:
            d = (PAIRED + SLOTTED)[i % 10]
            i += 1
            b.add(lddw(d, x), alu(width, code, d, imm=imm, off=off))
            b.dump([d])
    return b


def pair_values(name: str) -> list[tuple[int, int]]:
    if name in DIVS:
        return [(edge.INT64_MIN & M64, 7), (0xDEAD_BEEF_8765_4321, M64 - 1)]
    if name in SHIFTS:
        return [(0xDEAD_BEEF_8765_4321, 36), (0x8000_0000_0000_0001, 65)]
    return [(0xDEAD_BEEF_8765_4321, 0x8000_0001_FFFF_FFFF), (M64, 1)]


def alu_pairs_batch(name: str, width: int) -> Batch:
    code, off = ALU_OPS[name]
    b = Batch()
    for x, y in pair_values(name):
        for d in REGS:
            for s in REGS:
                b.add(lddw(s, y))
                if d != s:
                    b.add(lddw(d, x))
                b.add(alu(width, code, d, s, off=off))
                b.dump_all_but(d, s)
    return b


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("name, width", ALU_CASES, ids=[f"{n}{w}" for n, w in ALU_CASES])
def test_alu_values(name, width, cpu):
    alu_values_batch(name, width).check(cpu)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("name, width", ALU_CASES, ids=[f"{n}{w}" for n, w in ALU_CASES])
def test_alu_imm(name, width, cpu):
    alu_imm_batch(name, width).check(cpu)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("name, width", ALU_CASES, ids=[f"{n}{w}" for n, w in ALU_CASES])
def test_alu_register_pairs(name, width, cpu):
    alu_pairs_batch(name, width).check(cpu)


def test_alu32_results_with_poisoned_upper_halves():
    """32-bit results whose upper half the analysis calls unread get garbage there
    (the lowering's poison_hi32): ARM32's lazy zero-extension must not care."""
    for name in ("add", "mul", "rsh", "arsh", "div", "smod", "mov"):
        alu_values_batch(name, 32).check("cortex-a9", options={"poison_hi32": 7})


def halves_batch() -> Batch:
    """Every 64-bit producer followed by a consumer of one half only.

    The backend computes only the halves that are read later (a liveness
    analysis per register half): a 32-bit store reads the low word, and
    `>>= 32` moves the high word down, so both halves get a run where the
    other one is dead.
    """
    producers = []
    for name in ("add", "sub", "mul", "or", "and", "xor", "mov", "lsh", "rsh", "arsh",
                 "div", "sdiv", "mod", "smod"):
        code, off = ALU_OPS[name]
        producers.append(lambda d, s, code=code, off=off: [alu(64, code, d, s, off=off)])
        for imm in (5, -7, 31, 32, 33, 0x7FFF_FFFF):
            producers.append(lambda d, s, code=code, off=off, imm=imm:
                             [alu(64, code, d, imm=imm, off=off)])
    producers += [lambda d, s: [alu(64, Alu.NEG, d)],
                  lambda d, s: [alu(64, Alu.MOV, d, s, off=16)],
                  lambda d, s: [I(Cls.ALU64 | Alu.END, d, 0, 0, 64)],
                  lambda d, s: [I(Cls.ALU | Alu.END | Src.X, d, 0, 0, 32)],
                  lambda d, s: [lddw(d, 0xFEDC_BA98_7654_3210)],
                  lambda d, s: [alu(64, Alu.MOV, d, 10), alu(64, Alu.ADD, d, imm=-12),
                                ldx(4, d, d, -4)]]     # the low word of the --mem address
    b = Batch()
    i = 0
    for make in producers:
        for hi_only in (False, True):
            d, s = PLACEMENTS[i % len(PLACEMENTS)]
            if d == s:
                s = (d + 3) % 10
            i += 1
            b.add(lddw(d, 0x8000_0001_FFFF_FFF7 + i), lddw(s, 0xC000_0000_0000_0003 - i),
                  *make(d, s))
            if hi_only:
                b.add(alu(64, Alu.RSH, d, imm=32))
            t = next(r for r in REGS if r not in (d, s))
            b.add(ldx(8, t, 10, RESULTS), stx(4, t, d, 0), alu(64, Alu.ADD, t, imm=8),
                  stx(8, 10, t, RESULTS))
            b.out += 8
    return b


@pytest.mark.parametrize("cpu", CPUS)
def test_one_half_read(cpu):
    halves_batch().check(cpu)


# ====================================================================== unary

def unary_batch() -> Batch:
    b = Batch()
    ops = [alu(64, Alu.NEG, 0), alu(32, Alu.NEG, 0)]
    for bits in (16, 32, 64):
        ops += [I(Cls.ALU | Alu.END | Src.K, 0, 0, 0, bits),       # to le: truncate
                I(Cls.ALU | Alu.END | Src.X, 0, 0, 0, bits),       # to be: swap
                I(Cls.ALU64 | Alu.END, 0, 0, 0, bits)]             # bswap (cpuv4)
    i = 0
    for op in ops:
        for x in edge.REGS[::2]:
            d = i % 10
            i += 1
            b.add(lddw(d, x), op._replace(dst=d))
            b.dump_all_but(d)
    return b


def movsx_batch() -> Batch:
    b = Batch()
    forms = [(64, 8), (64, 16), (64, 32), (32, 8), (32, 16)]
    for k, (width, bits) in enumerate(forms):
        for d in REGS:
            for s in REGS:
                x = edge.REGS[(d * 10 + s + k) % len(edge.REGS)] ^ 0x80_8080_8080
                b.add(lddw(s, x), alu(width, Alu.MOV, d, s, off=bits))
                b.dump_all_but(d, s)
    return b


@pytest.mark.parametrize("cpu", CPUS)
def test_unary(cpu):
    unary_batch().check(cpu)


@pytest.mark.parametrize("cpu", CPUS)
def test_movsx_register_pairs(cpu):
    movsx_batch().check(cpu)


# ====================================================================== memory

# offsets where the encodings change: ldrh/ldrd imm8, ldr imm12, the s16 limits
OFFSETS = (0, 1, -1, 255, 256, -255, -256, 4088, 4092, 4095, 4096, -4095, -4096, 0x7FF0, -0x8000)
BIG = 0x9000               # bytes of --mem the far offsets point into


def mem_batch(kind: str) -> Batch:
    """Loads (zero- or sign-extending) or stores of every size at every offset, through
    every base register, into/from every register (pair, slot, aliased)."""
    b = Batch()
    i = 0
    for size in (1, 2, 4, 8):
        for off in OFFSETS:
            base = i % 10
            val = (i * 3 + 1) % 10
            i += 1
            # base = mem + BIG/2 - off + small: the access lands in the big area
            at = BIG // 2 + (i * 8) % 256
            b.data_ptr(base, DATA + at - off)
            if kind == "store":
                if val != base:
                    b.add(lddw(val, 0xF1E2_D3C4_B5A6_9788 ^ i))
                b.add(stx(size, base, val, off), st(size, base, off + (8 if off < 0 else -8),
                                                   -(i * 0x1357) & 0x7FFF_FFFF))
                b.add(ldx(8, val, base, off))
            else:
                b.add(ldx(size, val, base, off, signed=(kind == "sload" and size < 8)))
            b.dump_all_but(val)
    return b


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("kind", ["load", "sload", "store"])
def test_memory(kind, cpu):
    b = mem_batch(kind)
    check_program(b.program(), ARCH, mem=PATTERN + bytes(BIG) + bytes(b.out + 8), cpu=cpu)


def test_dw_offset_plus_4_overflow():
    """Kernel ARM32 JIT bug (4178417cc535, "Fix offset overflow for BPF_MEM BPF_DW"):
    a 64-bit access at off 4092 needs its second word at imm12 4096, which does
    not fit; the address must go through a temporary base."""
    b = Batch()
    for reg in (0, 1, 6, 9):                        # a pair and a slot as base and value
        base, val = reg, (reg + 3) % 10
        b.data_ptr(base, DATA - 4092 + 16)
        b.add(lddw(val, 0x0102_0304_0506_0708 * (reg + 1)), stx(8, base, val, 4092),
              ldx(8, (val + 1) % 10, base, 4092), st(8, base, 4088, -2))
        b.dump_all_but(base)
    check_program(b.program(), ARCH, mem=PATTERN + bytes(4096 + b.out + 8))


@pytest.mark.parametrize("cpu", CPUS)
def test_stack_every_size_and_offset(cpu):
    """r10-relative stores and loads across the whole 512-byte stack (sp + imm8/imm12)."""
    b = Batch()
    for i, off in enumerate((-512, -511, -300, -256, -255, -129, -24, -17, -9)):
        for size in (1, 2, 4, 8):
            if off % size:
                continue
            r = i % 10
            b.add(lddw(r, 0x8877_6655_4433_2211 + i), stx(size, 10, r, off),
                  ldx(size, (r + 1) % 10, 10, off, signed=bool(i & 1) and size < 8),
                  st(size, 10, off, -i))
            b.add(ldx(size, (r + 2) % 10, 10, off))
            b.dump_all_but(r)
    b.check(cpu)


# ====================================================================== atomics

ATOMICS = [(isa.Atomic.ADD, "add"), (isa.Atomic.OR, "or"), (isa.Atomic.AND, "and"),
           (isa.Atomic.XOR, "xor"), (0x01, "fetch_add"), (0x41, "fetch_or"),
           (0x51, "fetch_and"), (0xA1, "fetch_xor"), (isa.Atomic.XCHG, "xchg"),
           (isa.Atomic.CMPXCHG, "cmpxchg")]


def atomic_batch(aop: int, size: int, *, pairs=None, values=None) -> Batch:
    b = Batch()
    pairs = pairs if pairs is not None else [(x, y) for x in list(REGS) + [10] for y in REGS
                                             if x != y]
    values = values or [(0xFFFF_FFFF_8000_0001, 0x1_0000_0001), (0x7FFF_FFFF, M64)]
    for n, (base, src) in enumerate(pairs):
        mem, val = values[n % len(values)]
        off = -24 if base == 10 else 8 * (n % 4)
        if base != 10:
            b.data_ptr(base, 64 - off)
        b.add(lddw(src, mem), stx(8, base, src, off), lddw(src, val))
        if aop == isa.Atomic.CMPXCHG and src != 0 and base != 0:
            b.add(lddw(0, mem if n % 2 else val))        # equal every other case
        b.add(I(Cls.STX | Mode.ATOMIC | SIZES[size], base, src, off, aop))
        b.add(ldx(8, (src + 1) % 10 if (src + 1) % 10 != base else (src + 2) % 10, base, off))
        b.dump_all_but(base, src, 0)
    return b


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("aop, size", [(a, s) for a, _ in ATOMICS for s in (4, 8)],
                         ids=[f"{n}{s * 8}" for _, n in ATOMICS for s in (4, 8)])
def test_atomic_register_pairs(aop, size, cpu):
    atomic_batch(aop, size).check(cpu)


def test_atomic_whose_operand_is_its_base():
    """`lock *(u64 *)(r + off) op= r`: the address register is also the value
    (and, for cmpxchg, r0 may be either); results must be read before writes."""
    b = Batch()
    for aop, _ in ATOMICS:
        for size in (4, 8):
            for r in (0, 1, 6, 9):
                other = (r + 5) % 10
                b.data_ptr(r, 96)
                b.add(lddw(other, 0x0102_0304_F0E0_D0C0 ^ r), stx(8, r, other, 8))
                if aop == isa.Atomic.CMPXCHG and r != 0:
                    b.add(lddw(0, 0x0102_0304_F0E0_D0C0 ^ r))
                b.add(I(Cls.STX | Mode.ATOMIC | SIZES[size], r, r, 8, aop),
                      ldx(8, other, 10, MEMBASE), ldx(8, other, other, 96 + 8))
                b.dump_all_but(other, r)
    for cpu in CPUS:
        b.check(cpu)


# ====================================================================== LDDW

def lddw_batch() -> Batch:
    b = Batch()
    consts = set(edge.REGS) | {v & M64 for v in MAGNITUDES} | {
        0x0000_FFFF_0000_FFFF, 0xFF00_0000_0000_00FF, 0x1234_5678_9ABC_DEF0, 0xFFFF_0000_FFFF_0000}
    for i, c in enumerate(sorted(consts)):
        r = i % 10
        b.add(lddw(r, c))
        b.dump([r])
    return b


@pytest.mark.parametrize("cpu", CPUS)
def test_lddw(cpu):
    lddw_batch().check(cpu)


def test_lddw_map_value_and_map_pointer():
    """LDDW src=1 (map pointer) and src=2 (map value + offset), read and written."""
    m = MapDef(name="gv", type=2, key_size=4, value_size=64, max_entries=1,
               initial=bytes(range(64)), section=".data")
    insns = [I(LDDW, 6, isa.Pseudo.MAP_VALUE, 0, (24 << 32) | 0),     # r6 = &gv + 24
             ldx(8, 2, 6, 0), alu(64, Alu.ADD, 2, imm=0x1234), stx(8, 6, 2, 8),
             I(LDDW, 3, isa.Pseudo.MAP_FD, 0, 0),                        # r3 = the map pointer
             stx(8, 6, 3, 16), alu(64, Alu.MOV, 0, 2), I(isa.EXIT)]
    for cpu in CPUS:
        check_program(program(insns, maps=[m]), ARCH, cpu=cpu)


# ====================================================================== jumps

JCONDS = [Jmp.JEQ, Jmp.JNE, Jmp.JGT, Jmp.JGE, Jmp.JLT, Jmp.JLE, Jmp.JSGT, Jmp.JSGE, Jmp.JSLT,
          Jmp.JSLE, Jmp.JSET]


def taken(b: Batch, jump: Insn, keep) -> None:
    """Record 1 if `jump` is taken, else 2, as the next result."""
    t = next(r for r in REGS if r not in keep)
    b.add(ldx(8, t, 10, RESULTS), st(8, t, 0, 1), jump._replace(off=1), st(8, t, 0, 2),
          alu(64, Alu.ADD, t, imm=8), stx(8, 10, t, RESULTS))
    b.out += 8


def jump_batch(cond: int, width: int) -> Batch:
    b = Batch()
    vals = list(edge.REGS)
    for i, x in enumerate(vals):                     # register against register: values
        for j, y in enumerate(vals):
            a, c = PLACEMENTS[(i + j) % len(PLACEMENTS)]
            if a == c:
                c = (a + 1) % 10
            b.add(lddw(a, x), lddw(c, y))
            taken(b, jmp(width, cond, a, c), (a, c))
    for k, imm in enumerate(sorted(set(edge.IMMS) | set(MAGNITUDES[::2]))):
        for x in vals[k % 3::3]:                     # register against immediate
            a = (PAIRED + SLOTTED)[k % 10]
            b.add(lddw(a, x))
            taken(b, jmp(width, cond, a, imm=imm), (a,))
    for a in REGS:                                   # every register pair (aliased too)
        for c in REGS:
            b.add(lddw(a, 0x8000_0000_0000_0001 + a), lddw(c, 0x7FFF_FFFF_0000_0002 + c))
            taken(b, jmp(width, cond, a, c), (a, c))
    return b


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("cond, width", [(c, w) for c in JCONDS for w in (64, 32)],
                         ids=[f"{c.name.lower()}{w}" for c in JCONDS for w in (64, 32)])
def test_jumps(cond, width, cpu):
    jump_batch(cond, width).check(cpu)


def test_ja_and_gotol():
    insns = [alu(64, Alu.MOV, 0, imm=1), I(isa.JA, 0, 0, 2), alu(64, Alu.ADD, 0, imm=10),
             I(isa.EXIT), I(isa.GOTOL, 0, 0, 0, 2), alu(64, Alu.ADD, 0, imm=100), I(isa.EXIT),
             alu(64, Alu.ADD, 0, imm=1000), I(isa.GOTOL, 0, 0, 0, -4)]
    # 0 -> ja 4 -> gotol 7 -> +1000 -> gotol 5 -> +100 -> exit: 1 + 1000 + 100
    for cpu in CPUS:
        assert check_program(program(insns), ARCH, cpu=cpu).r0 == 1101


def test_backward_loop_with_spilled_counter():
    """A loop whose counter lives in a slot (r9) and whose sum lives in a pair (r7)."""
    insns = [alu(64, Alu.MOV, 9, imm=1000), alu(64, Alu.MOV, 7, imm=0),
             alu(64, Alu.ADD, 7, 9), alu(32, Alu.XOR, 7, imm=0x55), alu(64, Alu.SUB, 9, imm=1),
             jmp(64, Jmp.JSGT, 9, imm=0, off=-4), alu(64, Alu.MOV, 0, 7), I(isa.EXIT)]
    for cpu in CPUS:
        check_program(program(insns), ARCH, cpu=cpu)


# ====================================================================== legacy packet loads

def test_ld_abs_ld_ind():
    packet = bytes(range(1, 65))
    insns = [alu(64, Alu.MOV, 6, 1), alu(64, Alu.MOV, 8, imm=0)]
    for k, (mode, size, off, idx) in enumerate(
            [(Mode.ABS, Size.B, 0, 0), (Mode.ABS, Size.H, 13, 0), (Mode.ABS, Size.W, 60, 0),
             (Mode.IND, Size.B, 3, 7), (Mode.IND, Size.H, -2, 9), (Mode.IND, Size.W, 1, 40)]):
        if mode == Mode.IND:
            insns.append(alu(64, Alu.MOV, 4, imm=idx))
        insns += [I(Cls.LD | mode | size, 0, 4 if mode == Mode.IND else 0, 0, off),
                  alu(64, Alu.LSH, 8, imm=5),
                  alu(64, Alu.XOR, 8, 0)]
    insns += [alu(64, Alu.MOV, 0, 8), I(isa.EXIT)]
    for cpu in CPUS:
        check_program(program(insns), ARCH, packet=packet, cpu=cpu)


@pytest.mark.parametrize("insn", [I(Cls.LD | Mode.ABS | Size.W, 0, 0, 0, 62),
                                  I(Cls.LD | Mode.IND | Size.H, 0, 3, 0, 1)])
def test_ld_abs_out_of_bounds_returns_zero(insn):
    insns = [alu(64, Alu.MOV, 6, 1), alu(64, Alu.MOV, 3, imm=63), insn,
             alu(64, Alu.MOV, 0, imm=7), I(isa.EXIT)]
    assert check_program(program(insns), ARCH, packet=bytes(64)).r0 == 0


# ====================================================================== calls

def test_helper_call_with_five_arguments():
    """gather_bytes(r1..r5) (conformance set): every argument is logged as a u64, so the
    AAPCS layout (r0:r1, r2:r3, then [sp], [sp+8], [sp+16]) must be exact; r6-r9
    survive the call."""
    b = Batch()
    for k in range(3):
        for r in range(1, 6):
            b.add(lddw(r, (0x1111_1111_0000_0000 * r + 0x0102_0304 * (k + 1)) ^ (k << 60)))
        b.add(lddw(6, 0x6666 + k), lddw(9, 0x9999_0000_0000_0000 + k),
              I(isa.CALL, 0, 0, 0, 0))
        b.dump([0, 6, 7, 8, 9])
    for cpu in CPUS:
        b.check(cpu, helpers="conformance")


def _local_calls_program() -> Batch:
    """main -> f1 -> f2 -> f3, each with its own stack, args in r1-r5 (pairs and slots),
    r6-r9 clobbered by callees and checked by callers, a stack pointer passed down."""
    def fn(depth: int, callee_off: int | None) -> list[Insn]:
        body = [stx(8, 10, 1, -8), stx(8, 10, 3, -16), stx(8, 10, 4, -24), stx(8, 10, 5, -32),
                lddw(6, 0x6060 + depth), lddw(7, 0x7070 + depth), lddw(8, 0x8080 + depth),
                lddw(9, 0x9090 + depth),
                ldx(8, 0, 2, 0), alu(64, Alu.ADD, 0, imm=depth), stx(8, 2, 0, 0)]
        if callee_off is not None:
            body += [alu(64, Alu.MOV, 2, 10), alu(64, Alu.ADD, 2, imm=-8),
                     alu(64, Alu.ADD, 1, imm=1), alu(64, Alu.MUL, 3, imm=3),
                     alu(64, Alu.SUB, 4, imm=5), alu(64, Alu.XOR, 5, imm=0x55),
                     I(isa.CALL, 0, isa.CallKind.LOCAL, 0, callee_off)]
        body += [ldx(8, 1, 10, -8), alu(64, Alu.ADD, 0, 1), ldx(8, 1, 10, -16),
                 alu(64, Alu.ADD, 0, 1), ldx(8, 1, 10, -24), alu(64, Alu.XOR, 0, 1),
                 ldx(8, 1, 10, -32), alu(64, Alu.ADD, 0, 1),
                 alu(64, Alu.ADD, 0, 6), alu(64, Alu.ADD, 0, 7), alu(64, Alu.ADD, 0, 8),
                 alu(64, Alu.ADD, 0, 9), I(isa.EXIT)]
        return body
    # main, f1, f2, f3 laid out one after the other; call offsets patched below
    main = [stx(8, 10, 1, MEMBASE), lddw(1, 1), lddw(3, 3), lddw(4, 4), lddw(5, 5),
            lddw(6, 0x6666), lddw(7, 0x7777), lddw(8, 0x8888), lddw(9, 0x9999),
            ldx(8, 2, 10, MEMBASE), I(isa.CALL, 0, isa.CallKind.LOCAL, 0, 0)]
    tail = [alu(64, Alu.ADD, 0, 6), alu(64, Alu.ADD, 0, 7), alu(64, Alu.ADD, 0, 8),
            alu(64, Alu.ADD, 0, 9), ldx(8, 1, 10, MEMBASE), stx(8, 1, 0, 8), I(isa.EXIT)]
    f1, f2, f3 = fn(1, 0), fn(2, 0), fn(3, None)

    def slots(insns) -> int:
        return sum(i.slots for i in insns)
    at_f1 = slots(main) + slots(tail)
    at_f2 = at_f1 + slots(f1)
    at_f3 = at_f2 + slots(f2)

    def set_call(insns, start, target):
        out = []
        pc = start
        for i in insns:
            if i.opcode == isa.CALL and i.src == isa.CallKind.LOCAL:
                i = i._replace(imm=target - pc - 1)
            out.append(i)
            pc += i.slots
        return out
    main = set_call(main, 0, at_f1)
    f1 = set_call(f1, at_f1, at_f2)
    f2 = set_call(f2, at_f2, at_f3)
    b = Batch()
    b.insns = main + tail + f1 + f2 + f3
    return b


def test_local_calls_with_stack_in_every_frame():
    b = _local_calls_program()
    for cpu in CPUS:
        check_program(program(b.insns), ARCH, mem=bytes(64), cpu=cpu)


def test_local_call_result_with_subprogram_division():
    """The division routine called from a subprogram (its frame layout is the same)."""
    insns = [lddw(1, 0xFFFF_FFFF_FFFF_FF00), lddw(2, 7), I(isa.CALL, 0, isa.CallKind.LOCAL, 0, 2),
             alu(64, Alu.ADD, 0, 6), I(isa.EXIT),
             alu(64, Alu.MOV, 0, 1), alu(64, Alu.DIV, 0, 2), alu(64, Alu.MOD, 1, 2, off=1),
             alu(64, Alu.ADD, 0, 1), alu(32, Alu.DIV, 0, imm=3), I(isa.EXIT)]
    insns.insert(0, alu(64, Alu.MOV, 6, imm=-5))
    for cpu in CPUS:
        check_program(program(insns), ARCH, cpu=cpu)


# ====================================================================== tail calls

def _prog_array_object(case: str):
    """Programs that count their runs in the map value `cnt` and tail-call through
    the prog array `jt`; a failed tail call falls through to r0 = runs + 1000.
      chain         entry -> t1 -> t2 -> t3 -> slot 3, past max_entries
      limit         entry -> t1 -> t1 -> ... until the 33-call limit
      empty_slot    entry -> t1 -> slot 1, never filled
      out_of_range  entry -> slot 7 of 3
      deep_stack    the chain, each program with a 504-byte stack (the largest frames
                    torn down by a tail call)
    """
    deep = case == "deep_stack"
    case = "chain" if deep else case
    n = 1 if case == "limit" else 3
    jt = MapDef(name="jt", type=3, key_size=4, value_size=4, max_entries=n)
    cnt = MapDef(name="cnt", type=2, key_size=4, value_size=64, max_entries=1)
    maps = [jt, cnt]

    def body(k: int, slot: int) -> list[Insn]:
        return [I(LDDW, 6, isa.Pseudo.MAP_VALUE, 0, 1),
                ldx(8, 7, 6, 0), alu(64, Alu.ADD, 7, imm=1), stx(8, 6, 7, 0),
                ldx(8, 9, 6, 8 * (k + 1)), alu(64, Alu.ADD, 9, imm=1), stx(8, 6, 9, 8 * (k + 1)),
                ldx(8, 0, 6, 0),
                I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, slot)] + (
                [stx(8, 10, 0, -504), ldx(8, 0, 10, -504)] if deep else []) + [
                I(isa.CALL, 0, 0, 0, 12),
                alu(64, Alu.ADD, 0, imm=1000), I(isa.EXIT)]
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


@pytest.mark.parametrize("case", ["chain", "limit", "empty_slot", "out_of_range", "deep_stack"])
def test_tail_calls(case):
    obj, entry = _prog_array_object(case)
    ref = check_program(entry, ARCH, obj=obj, mem=bytes(8))
    # runs before the tail call that fails, by the kernel's rules (MAX_TAIL_CALL_CNT = 33)
    runs = {"chain": 4, "limit": 1 + 33, "empty_slot": 2, "out_of_range": 1, "deep_stack": 4}
    assert ref.r0 == runs[case] + 1000


def _entry_and_target(entry: list, target: list, file: str) -> tuple[Object, list]:
    """An object of two programs: `entry` tail-calls slot 0 of map 0 (a prog array
    holding `target`)."""
    jt = MapDef(name="jt", type=3, key_size=4, value_size=4, max_entries=2)
    progs = [program(entry, name="entry"), program(target, name="t1")]
    jt.prog_slots = {0: "t1"}
    for p in progs:
        p.maps = [jt]
    return Object(file=file, programs=progs, maps=[jt], byteorder="little"), progs


def test_tail_call_from_a_subprogram():
    """A subprogram tail-calls: its frame is replaced, and the target returns r0 to the
    subprogram's caller, whose r6-r9 and stack must be intact."""
    entry = [lddw(6, 0x6666_0000_0000_0006), lddw(9, 0x9999), stx(8, 10, 9, -8),
             I(isa.CALL, 0, isa.CallKind.LOCAL, 0, 5),
             alu(64, Alu.ADD, 0, 6), ldx(8, 1, 10, -8), alu(64, Alu.ADD, 0, 1),
             alu(64, Alu.ADD, 0, 9), I(isa.EXIT),
             # the subprogram: its own stack, then bpf_tail_call(ctx, jt, 0)
             lddw(7, 0x7777), stx(8, 10, 7, -16), lddw(6, 1), lddw(9, 2),
             I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, 0), I(isa.CALL, 0, 0, 0, 12),
             alu(64, Alu.MOV, 0, imm=-1), I(isa.EXIT)]
    target = [lddw(6, 0x1234), lddw(0, 0x5000_0000_0000_0077), alu(64, Alu.ADD, 0, 6),
              I(isa.EXIT)]
    obj, progs = _entry_and_target(entry, target, "<tail call in a subprogram>")
    for cpu in CPUS:
        ref = check_program(progs[0], ARCH, obj=obj, mem=bytes(8), cpu=cpu)
        assert ref.r0 == (0x5000_0000_0000_0077 + 0x1234 + 0x6666_0000_0000_0006 + 2 * 0x9999)


def test_tail_call_target_keeps_the_replaced_frames_r10():
    """r10 is a word slot the prologue fills from ip (backends/arm32/abi.py): a tail call
    passes the replaced frame's r10 (a subprogram's: below the entry's frame), and the
    target, with a frame of another size, must store it where the interpreter does."""
    entry = [stx(8, 10, 1, -24), I(isa.CALL, 0, isa.CallKind.LOCAL, 0, 1), I(isa.EXIT),
             # the subprogram (depth 8): bpf_tail_call(ctx, jt, 0)
             stx(8, 10, 1, -8), I(LDDW, 2, isa.Pseudo.MAP_FD, 0, 0), lddw(3, 0),
             I(isa.CALL, 0, 0, 0, 12), alu(64, Alu.MOV, 0, imm=-1), I(isa.EXIT)]
    target = [stx(8, 1, 10, 0), stx(8, 10, 10, -40), ldx(8, 2, 10, -40), stx(8, 1, 2, 8),
              alu(64, Alu.MOV, 0, imm=7), I(isa.EXIT)]
    obj, progs = _entry_and_target(entry, target, "<tail call keeps r10>")
    for cpu in CPUS:
        ref = check_program(progs[0], ARCH, obj=obj, mem=bytes(16), cpu=cpu)
        assert ref.r0 == 7


# ====================================================================== wild pointers

@pytest.mark.parametrize("base", [6, 9], ids=["pair", "slot"])
@pytest.mark.parametrize("kind", ["ldx", "stx", "st", "atomic"])
@pytest.mark.parametrize("value, off", [(0x1_2000_0000, 0), (0x1_2000_0000, 8),
                                        (0x1_2000_0010, -16), (0xFFFF_FFF8, 16), (0x8, -16)],
                         ids=["hi", "hi+off", "hi-off", "carry", "borrow"])
def test_wild_pointer_faults_at_its_64_bit_address(value, off, kind, base):
    """A pointer whose upper word is not 0 (or whose low word + off wraps) must fault at
    its 64-bit address, not reach the low word's region (0x2000_0000 is the --mem
    block): the check before every access through a register other than r10.  The
    32-bit values come from a 32-bit load (their upper half known to be 0)."""
    if kind == "atomic":
        access = I(Cls.STX | Mode.ATOMIC | Size.DW, base, 2, off, isa.Atomic.ADD)
    else:
        access = {"ldx": ldx(8, 0, base, off), "stx": stx(8, base, 2, off),
                  "st": st(4, base, off, 5)}[kind]
    if value >> 32 == 0:
        load = [lddw(3, value), stx(8, 1, 3, 0), ldx(4, base, 1, 0)]
    else:
        load = [lddw(base, value)]
    insns = [lddw(0, 0), lddw(2, 1)] + load + [access, I(isa.EXIT)]
    check_program(program(insns), ARCH, mem=bytes(64))


# ====================================================================== rotated register maps

ROTATED = [("lsh", 64), ("arsh", 32), ("div", 64), ("smod", 32), ("mul", 64), ("sub", 64)]


@pytest.mark.parametrize("rotate", range(1, 10))
def test_rotated_register_maps(rotate):
    """Every eBPF register takes its turn in each pair and each slot (call-free programs):
    register-specific encoder bugs surface (docstring of backends/arm32)."""
    opts = {"rotate": rotate}
    for name, width in ROTATED:
        code, off = ALU_OPS[name]
        b = Batch()
        for d in REGS:
            for s in REGS:
                x, y = pair_values(name)[(d + s) % 2]
                b.add(lddw(s, y))
                if d != s:
                    b.add(lddw(d, x))
                b.add(alu(width, code, d, s, off=off))
                b.dump_all_but(d, s)
        b.check("cortex-a9" if rotate % 2 else "cortex-a15", options=opts)
    pairs = [(x, y) for x in REGS for y in REGS if x != y and (x + y + rotate) % 3 == 0]
    for aop in (isa.Atomic.CMPXCHG, 0xA1, isa.Atomic.ADD):
        for size in (4, 8):
            atomic_batch(aop, size, pairs=pairs).check("cortex-a15", options=opts)
    unary_batch().check("cortex-a15", options=opts)
    b = mem_batch("store")
    check_program(b.program(), ARCH, mem=PATTERN + bytes(BIG) + bytes(b.out + 8), options=opts)


def test_rotation_refuses_programs_with_calls():
    insns = [I(isa.CALL, 0, 0, 0, 7), I(isa.EXIT)]
    with pytest.raises(UnsupportedError, match="rotat"):
        check_program(program(insns), ARCH, options={"rotate": 3})


# ====================================================================== historic kernel bugs

def test_rsh64_arsh64_by_zero_is_not_a_shift_by_32():
    """Kernel ARM32 JIT bug (bb9562cf5c67, "Fix bugs with ALU64 {RSH, ARSH} BPF_K shift
    by 0"): `lsr #0`/`asr #0` encode a shift by 32.  By a register holding 0, by an
    immediate 0 behind constant blinding (so the backend sees it), and by 32 and 64."""
    b = Batch()
    for op in (Alu.RSH, Alu.ARSH, Alu.LSH):
        for r in (0, 1, 7, 9):
            for count in (0, 32, 64, 96):
                b.add(lddw(r, 0x8765_4321_DEAD_BEEF), lddw((r + 1) % 10, count),
                      alu(64, op, r, (r + 1) % 10))
                b.dump([r])
            b.add(lddw(r, 0x8765_4321_DEAD_BEEF), alu(64, op, r, imm=0),
                  alu(32, op, r, imm=0))
            b.dump([r])
    for cpu in CPUS:
        b.check(cpu)
        b.check(cpu, harden=True)


# ====================================================================== fixtures

BUILD = Path(__file__).parent / "progs" / "build"
FIXTURES = sorted(BUILD.glob("*.el[34].o")) if BUILD.is_dir() else []
SHORT_PACKETS = ("trunc_eth", "empty")


def _packets() -> dict:
    try:
        from tests.test_fixtures import PACKETS
        return PACKETS
    except ImportError:
        return {}


@pytest.mark.skipif(not FIXTURES, reason="no fixture objects in tests/progs/build")
@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_agrees_with_interpreter(path, cpu):
    """Every program of the object over the fixture packet set (tests/test_fixtures.py)."""
    from jit import driver, elf
    packets = _packets()
    if not packets:
        pytest.skip("tests/test_fixtures.PACKETS is not available")
    obj = elf.load(path.read_bytes(), file=str(path))
    ran = 0
    for prog in obj.programs:
        driver.compile_program(prog, ARCH, cpu=cpu)    # a compile error fails here
        for pname, frame in packets.items():
            try:
                check_program(prog, ARCH, obj=obj, packet=frame, cpu=cpu)
            except AssertionError as e:
                raise AssertionError(f"{prog.name} x packet {pname}: {e}") from None
            except BpfjitError as e:
                assert pname in SHORT_PACKETS, f"{prog.name} x packet {pname}: {e}"
                continue
            ran += 1
    assert ran


# ====================================================================== coverage

def _all_programs() -> list:
    progs = []
    for n, w in ALU_CASES:
        progs += [alu_values_batch(n, w).insns, alu_imm_batch(n, w).insns]
    progs += [unary_batch().insns, movsx_batch().insns, lddw_batch().insns]
    progs += [mem_batch(k).insns for k in ("load", "sload", "store")]
    for aop, _ in ATOMICS:
        for size in (4, 8):
            progs.append(atomic_batch(aop, size, pairs=[(1, 2)]).insns)
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
