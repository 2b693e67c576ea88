"""Tests named after the eBPF JIT bugs they pin, on the interpreter and every backend.

Each test builds a small program that exercises exactly the case a real JIT
once got wrong (most of them in the Linux kernel's JITs), checks the
interpreter against a value computed here from RFC 9669, and checks that every
available backend agrees with the interpreter (r0, the mem block, maps, helper
calls, faults).  Register-specific cases also run with every rotation of the
register map, so the eBPF register that lands on the awkward native register
(rcx for shifts, rax/rdx for division, sil/dil/bpl for byte stores) changes.

Bugs found by bpfjit's own fuzzing are pinned here too, with their reproducer
in tests/fuzz_seeds/.
"""
from __future__ import annotations

import functools
import os

import pytest

import backends
from jit.testing import fuzz, gen
from jit.isa import Alu, Insn, Jmp
from jit.program import MapDef

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
SEEDS = os.path.join(os.path.dirname(__file__), "fuzz_seeds")

TARGETS = ["interp", *backends.names()]
ORDER = {"interp": "little", **{t.name: t.byteorder for t in backends.targets()}}


@functools.cache
def _not_ready(arch: str) -> str | None:
    return fuzz.available(arch) or fuzz.smoke(arch)


def _rotations(arch: str) -> list[int]:
    """0, and 1-9 when the target declares register-map rotation."""
    if arch == "interp":
        return [0]
    return list(range(10)) if backends.target(arch).rotation is not None else [0]


def case_of(insns: list[Insn], order: str, mem: bytes = bytes(64), maps=(),
            programs=(), seeds=None) -> gen.Case:
    maps = list(maps)
    progs = [gen.make_program(insns, order, "main", maps)]
    progs += [gen.make_program(i, order, n, maps) for n, i in programs]
    return gen.Case(programs=progs, maps=maps, mem=mem, map_seeds=seeds or {}, byteorder=order)


def check(target: str, insns: list[Insn], *, r0: int | None = None, mem: bytes = bytes(64),
          mem_after: bytes | None = None, maps=(), programs=(), rotate: bool = False,
          map_after: dict | None = None):
    """The interpreter gives the spec's answer and `target` gives the interpreter's."""
    order = ORDER[target]
    case = case_of(insns, order, mem, maps, programs)
    ref = fuzz.reference(case)
    assert ref.fault is None, f"the interpreter faulted: {ref.fault}"
    if r0 is not None:
        assert ref.r0 == r0, f"interpreter r0 = 0x{ref.r0:x}, the spec says 0x{r0:x}"
    if mem_after is not None:
        got = ref.regions["packet"][:len(mem_after)]
        bad = next((i for i in range(len(mem_after)) if got[i] != mem_after[i]), None)
        assert bad is None, (f"interpreter mem at +0x{bad:x}: {got[bad:bad + 8].hex()}, the spec "
                             f"says {mem_after[bad:bad + 8].hex()}")
    for name, want in (map_after or {}).items():
        assert ref.maps[name] == want, f"interpreter map {name}: {ref.maps[name]}, spec {want}"
    if target == "interp":
        return
    why = _not_ready(target)
    if why is not None:
        pytest.skip(f"backend {target} is not ready: {why}")
    for k in (_rotations(target) if rotate else [0]):
        d = fuzz.diff_case(case, target, options={"rotate": k} if k else None)
        assert d is None, (f"{target} (rotate {k}) diverges: {d.what}: expected "
                           f"{_show(d.expected)}, got {_show(d.got)} (pc {d.pc})\n{d.listing}")


def _show(v) -> str:
    return f"0x{v:x}" if isinstance(v, int) and not isinstance(v, bool) else repr(v)


def u64(v: int, order: str) -> bytes:
    return (v & M64).to_bytes(8, order)


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


class Results:
    """Instructions that leave 64-bit results at mem + 8k (r9 = mem), and what they should be."""

    def __init__(self, order: str) -> None:
        self.order = order
        self.insns: list[Insn] = [gen.mov(9, src=1)]
        self.want = bytearray()

    def add(self, insns: list[Insn], reg: int, expect: int) -> None:
        self.insns += insns + [gen.stx(8, 9, len(self.want), reg)]
        self.want += u64(expect, self.order)

    def taken(self, jump: Insn, expect: bool) -> None:
        """Record whether a conditional jump (over one instruction) is taken."""
        k = len(self.want)
        self.insns += [gen.st(8, 9, k, 1), jump._replace(off=1), gen.st(8, 9, k, 0)]
        self.want += u64(int(expect), self.order)

    def program(self) -> list[Insn]:
        return self.insns + [gen.mov(0, imm=0), gen.EXIT]


# ------------------------------------------------------------------ ARM32


@pytest.mark.parametrize("target", TARGETS)
def test_arm32_64bit_shift_by_zero_is_not_a_shift_by_32(target):
    """Kernel ARM32 JIT: a 64-bit RSH/ARSH by an immediate 0 emitted `lsr #0`, which the
    A32 encoding reads as `lsr #32`.  Shifts by 0 (K, and X with counts 0, 64, 128 that
    mask to 0) must leave the value alone."""
    res = Results(ORDER[target])
    for v in (0x8000_0000_0000_0001, 0xFFFF_FFFF_0000_0000, 0x1234_5678_9ABC_DEF0):
        for code in (Alu.RSH, Alu.ARSH, Alu.LSH):
            res.add([gen.lddw(2, v), gen.alu(code, 2, imm=0)], 2, v)
            for count in (0, 64, 128):
                res.add([gen.lddw(2, v), gen.mov(3, imm=count), gen.alu(code, 2, src=3)], 2, v)
            # 32-bit: by 0 keeps the low half and clears the upper one
            res.add([gen.lddw(2, v), gen.alu(code, 2, imm=0, wide=False)], 2, v & M32)
            res.add([gen.lddw(2, v), gen.mov(3, imm=32), gen.alu(code, 2, src=3, wide=False)],
                    2, v & M32)
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


@pytest.mark.parametrize("target", TARGETS)
def test_arm32_dw_access_offset_plus_4_overflows_imm12(target):
    """Kernel ARM32 JIT: a DW load/store at offset off is two word accesses at off and
    off + 4; for off in 4092..4095 the second no longer fits the 12-bit immediate (and
    -4096 is one past the negative limit).  The base is placed so every address is
    8-byte aligned."""
    order = ORDER[target]
    size = 8200
    mem = bytearray(bytes((i * 7 + 3) & 0xFF for i in range(size)))
    want = bytearray(mem)
    insns = [gen.mov(9, src=1)]
    for k, off in enumerate((4088, 4092, 4093, 4094, 4095, -4096, -4092, -4095)):
        base = (8 - off % 8) % 8 + (4104 if off < 0 else 0)    # base + off is 8-aligned
        addr = base + off
        value = 0x1122_3344_5566_7788 + k * 0x0101_0101_0101_0101
        old = int.from_bytes(want[addr:addr + 8], order)
        # r2 = mem + base; r0 = *(u64 *)(r2 + off); *(u64 *)(r2 + off) = value; r3 = reload
        insns += [gen.mov(2, src=9), gen.alu(Alu.ADD, 2, imm=base), gen.ldx(8, 0, 2, off),
                  gen.lddw(4, value), gen.stx(8, 2, off, 4), gen.ldx(8, 3, 2, off),
                  gen.ldx(4, 5, 2, off), gen.ldx(4, 6, 2, off + 4) if off + 4 <= 0x7FFF
                  else gen.mov(6, imm=0)]
        want[addr:addr + 8] = value.to_bytes(8, order)
        # the results: old value, reloaded value and the two halves, at 16 + 32k
        at = 16 + 32 * k
        assert at + 32 <= 4000 or at >= 8200
        insns += [gen.stx(8, 9, at, 0), gen.stx(8, 9, at + 8, 3), gen.stx(4, 9, at + 16, 5),
                  gen.stx(4, 9, at + 20, 6)]
        lo_word = int.from_bytes(want[addr:addr + 4], order)
        hi_word = int.from_bytes(want[addr + 4:addr + 8], order)
        want[at:at + 8] = old.to_bytes(8, order)
        want[at + 8:at + 16] = value.to_bytes(8, order)
        want[at + 16:at + 20] = lo_word.to_bytes(4, order)
        want[at + 20:at + 24] = hi_word.to_bytes(4, order)
        # and a ST DW immediate at the same place (sign-extended imm)
        insns += [gen.st(8, 2, off, -2 - k)]
        want[addr:addr + 8] = ((-2 - k) & M64).to_bytes(8, order)
    check(target, insns + [gen.mov(0, imm=0), gen.EXIT], mem=bytes(mem),
          mem_after=bytes(want))


# ------------------------------------------------------------------ x86-64


@pytest.mark.parametrize("target", TARGETS)
def test_x86_byte_store_from_sil_dil_bpl(target):
    """x86: the low byte of rsi/rdi/rbp (sil/dil/bpl, eBPF r2/r1/r10 in the kernel's map)
    needs a REX prefix; without one the same ModRM bits name dh/bh/ch.  Store the low
    byte (and halfword) of every register; r10's is checked against itself in-program."""
    order = ORDER[target]
    insns = [gen.mov(9, src=1)]
    vals = {r: 0x0102_0304_0506_0700 | (0xA0 + r) | (r << 8) for r in range(9)}
    want = bytearray(64)
    for r in range(9):
        insns.append(gen.lddw(r, vals[r]))
    for r in range(9):
        insns.append(gen.stx(1, 9, r, r))
        want[r] = vals[r] & 0xFF
        insns.append(gen.stx(2, 9, 16 + 2 * r, r))
        want[16 + 2 * r:18 + 2 * r] = (vals[r] & 0xFFFF).to_bytes(2, order)
    # r9 itself (it is the base): store its low byte through another base
    insns += [gen.mov(8, src=9), gen.stx(1, 8, 40, 9), gen.stx(2, 8, 42, 9)]
    # r10: *(u8 *)(r10 - 1) = r10; r0 = (that byte == r10 & 0xff) + (halfword check) * 2
    insns += [gen.stx(1, 10, -1, 10), gen.ldx(1, 3, 10, -1), gen.mov(4, src=10),
              gen.alu(Alu.AND, 4, imm=0xFF), gen.mov(0, imm=0),
              gen.jcond(Jmp.JNE, 3, src=4, off=1), gen.alu(Alu.ADD, 0, imm=1),
              gen.stx(2, 10, -4, 10), gen.ldx(2, 3, 10, -4), gen.mov(4, src=10),
              gen.alu(Alu.AND, 4, imm=0xFFFF), gen.jcond(Jmp.JNE, 3, src=4, off=1),
              gen.alu(Alu.ADD, 0, imm=2), gen.EXIT]
    mem_after = bytes(want[:40])
    check(target, insns, r0=3, mem_after=mem_after, rotate=True)


@pytest.mark.parametrize("target", TARGETS)
def test_x86_shift_with_dst_rcx(target):
    """x86: variable shifts take their count in cl, so a shift whose destination is rcx
    (eBPF r4) -- or whose count is r4 -- must move things around without losing either."""
    res = Results(ORDER[target])
    a, c = 0x8765_4321_0FED_CBA9, 0x0000_0001_0000_0025       # count 37 (0x25 & 63), 5 (& 31)
    for code, f64, f32 in (
            (Alu.LSH, lambda x, n: (x << n) & M64, lambda x, n: (x << n) & M32),
            (Alu.RSH, lambda x, n: x >> n, lambda x, n: (x & M32) >> n),
            (Alu.ARSH, lambda x, n: (s64(x) >> n) & M64, lambda x, n: (s32(x) >> n) & M32)):
        for src in (1, 2, 3, 5, 0):
            res.add([gen.lddw(4, a), gen.lddw(src, c), gen.alu(code, 4, src=src)], 4,
                     f64(a, c & 63))
            res.add([gen.lddw(4, a), gen.lddw(src, c), gen.alu(code, 4, src=src, wide=False)],
                    4, f32(a, c & 31))
            # the count register keeps its value
            res.add([gen.lddw(4, a), gen.lddw(src, c), gen.alu(code, 4, src=src)], src, c)
            # dst elsewhere, count in rcx
            res.add([gen.lddw(src, a), gen.lddw(4, c), gen.alu(code, src, src=4)], src,
                    f64(a, c & 63))
        res.add([gen.lddw(4, c), gen.alu(code, 4, src=4)], 4, f64(c, c & 63))         # r4 op= r4
        res.add([gen.lddw(4, a), gen.alu(code, 4, imm=13)], 4, f64(a, 13))
        res.add([gen.lddw(4, a), gen.alu(code, 4, imm=31, wide=False)], 4, f32(a, 31))
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


def _udiv(a, b, bits):
    m = (1 << bits) - 1
    a, b = a & m, b & m
    return a // b if b else 0


def _umod(a, b, bits):
    m = (1 << bits) - 1
    a, b = a & m, b & m
    return a % b if b else a


def _sdiv(a, b, bits):
    m = (1 << bits) - 1
    x, y = (s64(a), s64(b)) if bits == 64 else (s32(a), s32(b))
    if y == 0:
        return 0
    q = abs(x) // abs(y)
    return (-q if (x < 0) != (y < 0) else q) & m


def _smod(a, b, bits):
    m = (1 << bits) - 1
    x, y = (s64(a), s64(b)) if bits == 64 else (s32(a), s32(b))
    if y == 0:
        return x & m
    r = abs(x) % abs(y)
    return (-r if x < 0 else r) & m


@pytest.mark.parametrize("target", TARGETS)
def test_x86_div_with_dst_or_src_in_rax_rdx(target):
    """x86: div/idiv divide rdx:rax and write both, so eBPF r0 (rax) and r3 (rdx) as the
    destination, the divisor or a bystander must all survive."""
    res = Results(ORDER[target])
    a, b = 0xFFFF_FFFF_FFFF_FF9C, 0x0000_0000_0000_0007     # -100 and 7
    ops = ((Alu.DIV, 0, _udiv), (Alu.MOD, 0, _umod), (Alu.DIV, 1, _sdiv), (Alu.MOD, 1, _smod))
    pairs = [(0, 3), (3, 0), (0, 0), (3, 3), (1, 3), (3, 1), (0, 2), (2, 0), (1, 2)]
    for code, signed, f in ops:
        for wide in (True, False):
            bits = 64 if wide else 32
            for d, s in pairs:
                setup = [gen.lddw(0, 0x1111), gen.lddw(3, 0x3333), gen.lddw(d, a)]
                if s != d:
                    setup.append(gen.lddw(s, b))
                op = gen.alu(code, d, src=s, wide=wide, off=signed)
                divisor = b if s != d else a
                res.add(setup + [op], d, f(a, divisor, bits))
                for bystander in (0, 3):
                    if bystander not in (d, s):
                        res.add(setup + [op], bystander, 0x1111 if bystander == 0 else 0x3333)
                if s != d:
                    res.add(setup + [op], s, b)
            # K form with the destination in rax and rdx
            for d in (0, 3):
                res.add([gen.lddw(d, a), gen.alu(code, d, imm=-7, wide=wide, off=signed)], d,
                        f(a, -7 & M64, bits))
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


# ------------------------------------------------------------------ atomics


def _atomic_result(op: int, old: int, v: int, size: int) -> int:
    m = (1 << (8 * size)) - 1
    return {0x00: old + v, 0x40: old | v, 0x50: old & v, 0xA0: old ^ v}[op & ~1] & m


@pytest.mark.parametrize("target", TARGETS)
def test_fetch_and_or_xor_with_r0_as_the_source(target):
    """x86: FETCH AND/OR/XOR have no single instruction and become a cmpxchg loop, which
    needs rax -- the home of r0.  With r0 as the source (and the fetched result), the
    loop must not mix the operand and the expected value up."""
    order = ORDER[target]
    insns = [gen.mov(9, src=1)]
    mem = bytearray(256)
    want = bytearray(256)
    k = 0
    for op in (0x51, 0x41, 0xA1, 0x01, 0x50, 0x40, 0xA0):
        for size in (4, 8):
            old = 0xF0F0_F0F0_3C3C_5A5A if size == 8 else 0xF0F0_5A5A
            v = 0x0FF0_0FF0_FFFF_0001
            at = 16 * k
            mem[at:at + size] = old.to_bytes(size, order)
            insns += [gen.lddw(0, v), gen.atomic(size, 9, at, 0, op),
                      gen.stx(8, 9, at + 8, 0)]
            want[at:at + size] = _atomic_result(op, old, v, size).to_bytes(size, order)
            # fetch: r0 = the old value, zero-extended for W; otherwise r0 is unchanged
            r0 = old if op & 1 else v
            want[at + 8:at + 16] = r0.to_bytes(8, order)
            k += 1
    check(target, insns + [gen.mov(0, imm=0), gen.EXIT], mem=bytes(mem), mem_after=bytes(want))


@pytest.mark.parametrize("target", TARGETS)
def test_cmpxchg32_zero_extends_r0(target):
    """A 32-bit CMPXCHG loads the old value zero-extended into r0 (RFC 9669), whether the
    exchange happens or not: r0's upper half must not survive."""
    order = ORDER[target]
    res = Results(order)
    mem_init = bytearray(64)
    mem_init[48:52] = (5).to_bytes(4, order)
    mem_init[56:60] = (5).to_bytes(4, order)
    # success: low half of r0 matches
    res.add([gen.lddw(0, 0xFFFF_FFFF_0000_0005), gen.lddw(2, 0xAAAA_BBBB_CCCC_DDDD),
             gen.atomic(4, 9, 48, 2, 0xF1)], 0, 5)
    # failure: it does not
    res.add([gen.lddw(0, 0xFFFF_FFFF_0000_0006), gen.lddw(2, 0x1234),
             gen.atomic(4, 9, 56, 2, 0xF1)], 0, 5)
    # DW: the full 64-bit compare
    res.add([gen.lddw(2, 0x77), gen.lddw(0, 0x0000_0001_0000_0000),
             gen.atomic(8, 9, 40, 2, 0xF1)], 0, 0)
    want = bytearray(res.want) + bytearray(64 - len(res.want))
    want[48:52] = (0xCCCC_DDDD).to_bytes(4, order)
    want[56:60] = (5).to_bytes(4, order)
    want[40:48] = u64(0, order)       # 0 != 1 << 32: no exchange at 40
    # (the result stores overwrite 0..24; 40..64 hold the memory operands)
    check(target, res.program(), mem=bytes(mem_init), mem_after=bytes(want))


# ------------------------------------------------------------------ 32-bit results


@pytest.mark.parametrize("target", TARGETS)
def test_mov32_clears_the_upper_half(target):
    """MOV32 (w0 = w1, w0 = imm, and w1 = w1) writes 32 bits and zero-extends: JITs that
    treat `w1 = w1` as a no-op, or move all 64 bits, leave the upper half behind."""
    res = Results(ORDER[target])
    res.add([gen.lddw(1, 0xFFFF_FFFF_1234_5678), gen.mov(0, src=1, wide=False)], 0, 0x1234_5678)
    res.add([gen.lddw(1, 0xFFFF_FFFF_8765_4321), gen.mov(1, src=1, wide=False)], 1, 0x8765_4321)
    res.add([gen.lddw(2, M64), gen.mov(2, imm=-1, wide=False)], 2, M32)
    res.add([gen.lddw(3, M64), gen.mov(3, imm=0, wide=False)], 3, 0)
    res.add([gen.lddw(4, 0x8000_0000_0000_0080), gen.alu(Alu.MOV, 5, src=4, wide=False, off=8)],
            5, 0xFFFF_FF80)                                   # movsx8 to 32 bits
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


@pytest.mark.parametrize("target", TARGETS)
def test_le16_le32_truncate(target):
    """BPF_END to the target's own byte order swaps nothing but must still truncate to
    16/32 bits (JITs have emitted nothing at all); to the other order it swaps; BSWAP
    always swaps."""
    order = ORDER[target]
    res = Results(order)
    v = 0x1122_3344_5566_7788
    native = 0x00 if order == "little" else 0x08          # to-le is BPF_K, to-be is BPF_X

    def swap(x, bits):
        return int.from_bytes((x & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")
    for bits in (16, 32, 64):
        res.add([gen.lddw(2, v), Insn(0xD4 | native, 2, 0, 0, bits)], 2, v & ((1 << bits) - 1))
        res.add([gen.lddw(2, v), Insn(0xD4 | (native ^ 0x08), 2, 0, 0, bits)], 2, swap(v, bits))
        res.add([gen.lddw(2, v), Insn(0xD7, 2, 0, 0, bits)], 2, swap(v, bits))
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


@pytest.mark.parametrize("target", TARGETS)
def test_alu32_zero_extends_add_sub_neg_and_shifts(target):
    """32-bit ALU results are zero-extended (RFC 9669).  MIPS sign-extends 32-bit results
    and ARM32 keeps the high word apart, so each needs an explicit clear where the upper
    half is read."""
    res = Results(ORDER[target])
    hi = 0xFFFF_FFFF_0000_0000
    cases = [
        (gen.alu(Alu.ADD, 2, imm=1, wide=False), hi | M32, 0),
        (gen.alu(Alu.ADD, 2, imm=0x7FFF_FFFF, wide=False), hi | 1, 0x8000_0000),
        (gen.alu(Alu.SUB, 2, imm=1, wide=False), hi, M32),
        (gen.alu(Alu.NEG, 2, wide=False), hi | 1, M32),
        (gen.alu(Alu.LSH, 2, imm=31, wide=False), hi | 1, 0x8000_0000),
        (gen.alu(Alu.RSH, 2, imm=1, wide=False), hi | 0x8000_0000, 0x4000_0000),
        (gen.alu(Alu.ARSH, 2, imm=4, wide=False), 0x8000_0000, 0xF800_0000),
        (gen.alu(Alu.MUL, 2, imm=3, wide=False), hi | 0x8000_0001, 0x8000_0003),
        (gen.alu(Alu.OR, 2, imm=0, wide=False), hi | 0x8000_0000, 0x8000_0000),
        (gen.alu(Alu.AND, 2, imm=-1, wide=False), M64, M32),
        (gen.alu(Alu.XOR, 2, imm=0, wide=False), M64, M32),
    ]
    for insn, before, after in cases:
        res.add([gen.lddw(2, before), insn], 2, after)
        res.add([gen.lddw(2, before), insn, gen.alu(Alu.RSH, 2, imm=32)], 2, 0)
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


@pytest.mark.parametrize("target", TARGETS)
def test_64bit_ops_sign_extend_their_immediate(target):
    """ALU64 and JMP immediates are s32 sign-extended to 64 bits; JITs have zero-extended
    them (and/or/xor/add/sub with negative immediates, compares against -1)."""
    res = Results(ORDER[target])
    x = 0x1234_5678_9ABC_DEF0
    res.add([gen.mov(2, imm=0), gen.alu(Alu.ADD, 2, imm=-1)], 2, M64)
    res.add([gen.lddw(2, x), gen.alu(Alu.AND, 2, imm=-16)], 2, x & (-16 & M64))
    res.add([gen.lddw(2, x), gen.alu(Alu.OR, 2, imm=-0x80)], 2, x | (-0x80 & M64))
    res.add([gen.lddw(2, x), gen.alu(Alu.XOR, 2, imm=-1)], 2, x ^ M64)
    res.add([gen.lddw(2, x), gen.alu(Alu.SUB, 2, imm=-1)], 2, x + 1)
    res.add([gen.lddw(2, x), gen.alu(Alu.MUL, 2, imm=-1)], 2, -x & M64)
    res.add([gen.mov(2, imm=-0x8000_0000)], 2, 0xFFFF_FFFF_8000_0000)
    res.add([gen.mov(2, imm=-2), gen.alu(Alu.ADD, 2, imm=-1, wide=False)], 2, 0xFFFF_FFFD)
    res.add([gen.lddw(2, x), gen.alu(Alu.DIV, 2, imm=-1)], 2, 0)      # x / 0xffff...ffff
    for value, imm, taken in ((M64, -1, True), (M32, -1, False), (0xFFFF_FFFF_8000_0000,
                                                                 -0x8000_0000, True)):
        res.insns.append(gen.lddw(2, value))
        res.taken(gen.jcond(Jmp.JEQ, 2, imm=imm), taken)
        res.insns.append(gen.lddw(2, value))
        res.taken(gen.jcond(Jmp.JEQ, 2, imm=imm, wide=False), value & M32 == imm & M32)
    res.insns.append(gen.lddw(2, 5))
    res.taken(gen.jcond(Jmp.JGT, 2, imm=-1), False)          # 5 > 0xffff...ffff: never
    res.insns.append(gen.lddw(2, 5))
    res.taken(gen.jcond(Jmp.JSGT, 2, imm=-1), True)          # 5 > -1 signed
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


# ------------------------------------------------------------------ jumps


@pytest.mark.parametrize("target", TARGETS)
def test_jset_x_checks_the_upper_bits(target):
    """JSET X tests all 64 bits (JMP32 JSET only the low 32): a JIT that used a 32-bit
    `test` missed bits set only in the upper half."""
    res = Results(ORDER[target])
    for a, b in ((1 << 40, (1 << 40) | 8), (1 << 63, M64), (0x1_0000_0000, 0x1_0000_0001),
                 (0x8, 0x1_0000_0008), (0xF0, 0x0F)):
        res.insns += [gen.lddw(2, a), gen.lddw(3, b)]
        res.taken(gen.jcond(Jmp.JSET, 2, src=3), bool(a & b))
        res.insns += [gen.lddw(2, a), gen.lddw(3, b)]
        res.taken(gen.jcond(Jmp.JSET, 2, src=3, wide=False), bool(a & b & M32))
    res.insns.append(gen.lddw(2, 1 << 40))
    res.taken(gen.jcond(Jmp.JSET, 2, imm=-0x8000_0000), True)    # imm sign-extends
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


COMPARES = {
    Jmp.JGT: lambda a, b: a > b, Jmp.JLT: lambda a, b: a < b,
    Jmp.JGE: lambda a, b: a >= b, Jmp.JLE: lambda a, b: a <= b,
}
SCOMPARES = {
    Jmp.JSGT: lambda a, b: a > b, Jmp.JSLT: lambda a, b: a < b,
    Jmp.JSGE: lambda a, b: a >= b, Jmp.JSLE: lambda a, b: a <= b,
}


@pytest.mark.parametrize("target", TARGETS)
def test_jgt_jlt_operand_order(target):
    """`if dst > src` compares dst with src in that order: a JIT that swaps the cmp
    operands (or picks the condition for the swapped order) turns JGT into JLT."""
    res = Results(ORDER[target])
    pairs = ((1, 2), (2, 1), (5, 5), (M64, 0), (0, M64), (1 << 63, 1), (M32, 1 << 32),
             (0x8000_0000, 0x7FFF_FFFF))
    for a, b in pairs:
        for wide in (True, False):
            m = M64 if wide else M32
            sx = s64 if wide else s32
            for cond, f in COMPARES.items():
                res.insns += [gen.lddw(2, a), gen.lddw(3, b)]
                res.taken(gen.jcond(cond, 2, src=3, wide=wide), f(a & m, b & m))
            for cond, f in SCOMPARES.items():
                res.insns += [gen.lddw(2, a), gen.lddw(3, b)]
                res.taken(gen.jcond(cond, 2, src=3, wide=wide), f(sx(a), sx(b)))
            if b < 1 << 31:                                  # and as an immediate
                for cond, f in COMPARES.items():
                    res.insns.append(gen.lddw(2, a))
                    res.taken(gen.jcond(cond, 2, imm=b, wide=wide), f(a & m, b & m))
    check(target, res.program(), mem=bytes(len(res.want)), mem_after=bytes(res.want),
          rotate=True)


# ------------------------------------------------------------------ tail calls


def _tail_call(index: int) -> list[Insn]:
    """r1 = mem (saved at r10-8); r2 = &jmp (map 1); r3 = index; tail_call"""
    return [gen.ldx(8, 1, 10, -8), gen.lddw(2, 1, pseudo=1), gen.lddw(3, index),
            gen.call_helper(12)]


def _count() -> list[Insn]:
    """counter (map 0) += 1"""
    return [gen.stx(8, 10, -8, 1), gen.lddw(6, 0, pseudo=2), gen.mov(7, imm=1),
            gen.atomic(8, 6, 0, 7, 0x00)]


def _maps(slots: dict[int, str]) -> list[MapDef]:
    return [MapDef("counter", 2, 4, 8, 1), MapDef("jmp", 3, 4, 4, 4, prog_slots=slots)]


@pytest.mark.parametrize("target", TARGETS)
def test_tail_call_count_is_33_not_32_or_34(target):
    """MAX_TAIL_CALL_CNT is 33: a program that tail-calls itself runs 1 + 33 times, and
    the 34th tail call falls through (JITs have been off by one both ways)."""
    order = ORDER[target]
    prog = _count() + _tail_call(0) + [gen.mov(0, imm=99), gen.EXIT]
    check(target, prog, r0=99, maps=_maps({0: "main"}),
          map_after={"counter": [(bytes(4), (34).to_bytes(8, order))]})


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("misses, r0", [(32, 5), (33, 77)])
def test_tail_calls_to_an_empty_slot_count_too(target, misses, r0):
    """The kernel counts a tail call before it reads the slot: after 32 misses on an empty
    slot one more tail call still succeeds; after 33 it falls through."""
    tries = sum(i.slots for i in _tail_call(1))
    loop = [gen.mov(8, imm=misses)] + _tail_call(1) + \
        [gen.alu(Alu.ADD, 8, imm=-1), gen.jcond(Jmp.JNE, 8, imm=0, off=-(tries + 2))]
    prog = [gen.stx(8, 10, -8, 1)] + loop + [gen.mov(0, imm=77)] + _tail_call(0) + [gen.EXIT]
    check(target, prog, r0=r0, maps=_maps({0: "target"}),
          programs=[("target", [gen.mov(0, imm=5), gen.EXIT])])


@pytest.mark.parametrize("target", TARGETS)
def test_tail_call_index_out_of_range_falls_through(target):
    """An index >= max_entries (as u32: 1 << 32 is index 0) falls through with r0 unchanged
    in the kernel's interpreter; JITs must not read past the array."""
    for index, r0 in ((4, 77), (5, 77), (M32, 77), (M64, 77), (3, 77), (1 << 32, 5)):
        prog = [gen.stx(8, 10, -8, 1), gen.mov(0, imm=77)] + _tail_call(index) + [gen.EXIT]
        check(target, prog, r0=r0, maps=_maps({0: "target"}),
              programs=[("target", [gen.mov(0, imm=5), gen.EXIT])])


# ------------------------------------------------------------------ found by bpfjit fuzz


@pytest.mark.parametrize("target", TARGETS)
def test_mips_long_conditional_branch_not_taken_keeps_ra(target):
    """Found by bpfjit fuzz (tests/fuzz_seeds/mips-long-branch-not-taken-*.json): a
    conditional branch beyond the 128 KiB reach of a MIPS branch uses the long form, an
    inverted branch over a far jump.  Not taken, it skipped to the far jump's last word,
    `move ra, t9` in the delay slot of its `jr`, so ra took a t9 that was never saved and
    the function returned somewhere else.  3000 signed divisions (44 bytes of MIPS code
    each) sit between the branch and its target."""
    n = 3000
    prog = [gen.mov(0, imm=7), gen.mov(2, imm=1), gen.jcond(Jmp.JEQ, 2, imm=0, off=n)] + \
        [gen.alu(Alu.DIV, 0, src=2, off=1)] * n + [gen.EXIT]
    check(target, prog, r0=7)


@pytest.mark.parametrize("target", TARGETS)
def test_mips_jmp32_compare_after_a_32bit_load(target):
    """Found by bpfjit fuzz (tests/fuzz_seeds/mips-jmp32-compare-*.json): MIPS compares
    JMP32 operands as sign-extended 64-bit values, but a 32-bit load (lwu, or lwl/lwr +
    dext) leaves its value zero-extended, so with bit 31 set an unsigned compare against
    a negative immediate (sign-extended by lui) and every signed compare went the wrong
    way.  Loads of each width from the stack and the mem block, then every JMP32
    condition against immediates on both sides of the sign bit."""
    order = ORDER[target]
    res = Results(order)
    # r8 = mem (the words to load), r9 = mem + 64 (the results)
    res.insns = [gen.mov(8, src=1), gen.mov(9, src=1), gen.alu(Alu.ADD, 9, imm=64)]
    words = (0xEFA9_BAD9, 0x8000_0000, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x0000_8001)
    mem = b"".join(w.to_bytes(4, order) for w in words).ljust(64, b"\0")
    conds = {Jmp.JGT: lambda a, b: a > b, Jmp.JGE: lambda a, b: a >= b,
             Jmp.JLT: lambda a, b: a < b, Jmp.JLE: lambda a, b: a <= b,
             Jmp.JEQ: lambda a, b: a == b, Jmp.JNE: lambda a, b: a != b}
    sconds = {Jmp.JSGT: lambda a, b: a > b, Jmp.JSGE: lambda a, b: a >= b,
              Jmp.JSLT: lambda a, b: a < b, Jmp.JSLE: lambda a, b: a <= b}
    for k, w in enumerate(words):
        for size in (4, 2):
            # the halfword at the word's address: its low half on bpfel, its high half on bpfeb
            v = w if size == 4 else (w & 0xFFFF if order == "little" else w >> 16)
            for where in ("stack", "mem"):
                if where == "stack":
                    load = [gen.lddw(4, 0x0696_86B7_0000_0000 | w), gen.stx(4, 10, -12, 4),
                            gen.ldx(size, 5, 10, -12)]
                else:
                    load = [gen.ldx(size, 5, 8, 4 * k)]
                for imm in (-0x449A_0EF5, 0x2992_4DB6, -0x8001, -1, 0x7FFF_FFFF, 0x8001):
                    for cond, f in conds.items():
                        res.insns += load
                        res.taken(gen.jcond(cond, 5, imm=imm, wide=False), f(v, imm & M32))
                    for cond, f in sconds.items():
                        res.insns += load
                        res.taken(gen.jcond(cond, 5, imm=imm, wide=False), f(s32(v), imm))
    check(target, res.program(), mem=mem + bytes(len(res.want)),
          mem_after=mem + bytes(res.want))


def _reproducers() -> list[str]:
    if not os.path.isdir(SEEDS):
        return []
    out = []
    for name in sorted(os.listdir(SEEDS)):
        if name.endswith(".json"):
            try:
                with open(os.path.join(SEEDS, name)) as f:
                    if '"bpfjit-repro/1"' in f.read(200):
                        out.append(name)
            except OSError:
                continue
    return out


# reproducer file -> pytest mark, for bugs that are still open (none now)
OPEN_REPRODUCERS: dict = {}


@pytest.mark.parametrize("name", [pytest.param(n, marks=OPEN_REPRODUCERS.get(n, ()))
                                  for n in _reproducers()])
def test_saved_reproducer_agrees(name):
    """Every reproducer saved by `bpfjit fuzz` in tests/fuzz_seeds/ runs clean now."""
    case, meta = fuzz.load(os.path.join(SEEDS, name))
    arch = meta["arch"]
    why = _not_ready(arch)
    if why is not None:
        pytest.skip(f"backend {arch} is not ready: {why}")
    d = fuzz.diff_case(case, arch, options=meta.get("options"), max_insns=meta.get("max_insns"))
    assert d is None, f"{name}: {arch} still diverges: {d.what}: expected {_show(d.expected)}, " \
                      f"got {_show(d.got)}"
