"""The reference interpreter against the spec (RFC 9669), instruction by instruction.

Every opcode of jit.isa.all_opcodes() runs over the edge values of tests/edge.py
in both byte orders; the expected results come from the small model below,
written from the RFC with plain Python ints (no code from jit.interp), and the
model itself is pinned by literal golden values.  Then calls, frames, tail
calls, the instruction budget, faults, LD_ABS and the helpers.

The case generators (`cases_for`) are shared with tests/test_kernel_oracle.py.
"""
from __future__ import annotations

from fractions import Fraction
from math import trunc
from typing import NamedTuple

import pytest

from jit.errors import MemoryFault, RunError, UnsupportedError
from jit.interp import FUNC_ADDR_BASE, STACK_TOP, run, setup
from jit.isa import Insn, all_opcodes, encode
from jit.memory import MAPS_BASE, PACKET_BASE
from jit.program import MapDef, from_bytecode
from tests.edge import (ALIGNED_OFFSETS, DIVIDENDS, DIVISORS, IMMS, INT32_MIN, INT64_MIN, M32,
                        M64, PATTERN, REGS, SHIFTS)

ORDERS = ("little", "big")

# ---------------------------------------------------------------- building programs

EXIT = Insn(0x95)


def lddw(dst: int, value: int, src: int = 0) -> Insn:
    return Insn(0x18, dst, src, 0, value & M64)


def mov64_imm(dst: int, imm: int) -> Insn:
    return Insn(0xB7, dst, 0, 0, imm)


def mov64_reg(dst: int, src: int) -> Insn:
    return Insn(0xBF, dst, src)


def add64_imm(dst: int, imm: int) -> Insn:
    return Insn(0x07, dst, 0, 0, imm)


def add64_reg(dst: int, src: int) -> Insn:
    return Insn(0x0F, dst, src)


def stxdw(dst: int, off: int, src: int) -> Insn:
    return Insn(0x7B, dst, src, off)


def ldxdw(dst: int, src: int, off: int) -> Insn:
    return Insn(0x79, dst, src, off)


def call_helper(hid: int) -> Insn:
    return Insn(0x85, 0, 0, 0, hid)


def call_local(imm: int) -> Insn:
    return Insn(0x85, 0, 1, 0, imm)


def program(insns: list[Insn], order: str = "little", maps: list[MapDef] | None = None,
            name: str = "main"):
    """Encode in `order`, decode back: what the interpreter runs is real bytecode."""
    p = from_bytecode(encode(insns, order), byteorder=order, name=name)
    p.maps = list(maps or [])
    return p


def execute(insns: list[Insn], order: str = "little", *, mem: bytes | None = None,
            helpers: str = "kernel", maps: list[MapDef] | None = None, **kw):
    p = program(insns, order, maps)
    env, r1, r2 = setup(p, mem=mem, helpers=helpers)
    return run(p, env=env, r1=r1, r2=r2, **kw)


# ---------------------------------------------------------------- the spec model

def signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def c_div(a: int, b: int) -> int:
    """C division: the quotient truncated toward zero."""
    return trunc(Fraction(a, b))


def ref_alu(name: str, width: int, a: int, b: int) -> int:
    """RFC 9669 section 4.1: dst = dst OP src on `width` bits, zero-extended."""
    mask = (1 << width) - 1
    a &= mask
    b &= mask
    sa, sb = signed(a, width), signed(b, width)
    if name == "add":
        r = a + b
    elif name == "sub":
        r = a - b
    elif name == "mul":
        r = a * b
    elif name == "div":
        r = 0 if b == 0 else a // b
    elif name == "sdiv":
        r = 0 if b == 0 else c_div(sa, sb)
    elif name == "mod":
        r = a if b == 0 else a % b
    elif name == "smod":
        r = a if b == 0 else sa - sb * c_div(sa, sb)
    elif name == "or":
        r = a | b
    elif name == "and":
        r = a & b
    elif name == "xor":
        r = a ^ b
    elif name == "lsh":
        r = a << (b % width)
    elif name == "rsh":
        r = a >> (b % width)
    elif name == "arsh":
        r = sa >> (b % width)
    elif name == "neg":
        r = -a
    elif name == "mov":
        r = b
    elif name.startswith("movsx"):
        r = signed(b, int(name[5:]))
    else:
        raise KeyError(name)
    return r & mask


def ref_jmp(name: str, width: int, a: int, b: int) -> bool:
    mask = (1 << width) - 1
    a &= mask
    b &= mask
    sa, sb = signed(a, width), signed(b, width)
    return {
        "jeq": a == b, "jne": a != b, "jset": a & b != 0,
        "jgt": a > b, "jge": a >= b, "jlt": a < b, "jle": a <= b,
        "jsgt": sa > sb, "jsge": sa >= sb, "jslt": sa < sb, "jsle": sa <= sb,
    }[name]


def ref_end(kind: str, width: int, v: int, order: str) -> int:
    """to_le/to_be: the value whose in-memory form (in the program's byte order)
    is the low `width` bits of v stored little/big-endian.  bswap: reversed."""
    n = width // 8
    low = v & ((1 << width) - 1)
    if kind == "bswap":
        return int.from_bytes(low.to_bytes(n, "little"), "big")
    target = "little" if kind == "le" else "big"
    return int.from_bytes(low.to_bytes(n, target), order)


ATOMIC_NAMES = {0x00: "add", 0x40: "or", 0x50: "and", 0xA0: "xor",
                0x01: "fetch_add", 0x41: "fetch_or", 0x51: "fetch_and", 0xA1: "fetch_xor",
                0xE1: "xchg", 0xF1: "cmpxchg"}


def ref_atomic(imm: int, size: int, buf: bytes, o: int, v: int, r0: int, order: str):
    """(memory after, src register after, r0 after) for BPF_ATOMIC."""
    mask = (1 << (8 * size)) - 1
    old = int.from_bytes(buf[o:o + size], order)
    name = ATOMIC_NAMES[imm]
    base = name.removeprefix("fetch_")
    src_after = v
    r0_after = r0
    if base in ("add", "or", "and", "xor"):
        new = {"add": old + v, "or": old | v, "and": old & v, "xor": old ^ v}[base] & mask
        if name.startswith("fetch_"):
            src_after = old
    elif name == "xchg":
        new = v & mask
        src_after = old
    else:   # cmpxchg
        new = v & mask if old == r0 & mask else old
        r0_after = old
    out = bytearray(buf)
    out[o:o + size] = new.to_bytes(size, order)
    return bytes(out), src_after, r0_after


# ---------------------------------------------------------------- golden values for the model

def test_model_golden_values():
    """Literal values from the RFC's text and the bpf_conformance suite, so the
    model above is not merely checked against itself."""
    assert ref_alu("sdiv", 32, 0x8000_0000, M32) == 0x8000_0000
    assert ref_alu("sdiv", 64, 1 << 63, M64) == 1 << 63
    assert ref_alu("sdiv", 64, -7 & M64, 2) == -3 & M64
    assert ref_alu("smod", 64, -7 & M64, 2) == M64                    # -1
    assert ref_alu("smod", 64, 7, -2 & M64) == 1
    assert ref_alu("smod", 64, 1 << 63, M64) == 0
    assert ref_alu("smod", 32, -7 & M32, 2) == M32
    assert ref_alu("mod", 32, 0xFFFF_FFFF_0000_0005, 0) == 5
    assert ref_alu("mod", 64, 0xFFFF_FFFF_0000_0005, 0) == 0xFFFF_FFFF_0000_0005
    assert ref_alu("div", 64, 12345, 0) == 0
    assert ref_alu("div", 32, 10, 1 << 32) == 0                       # divisor's low half is 0
    assert ref_alu("lsh", 32, 1, 33) == 2
    assert ref_alu("lsh", 64, 1, 65) == 2
    assert ref_alu("arsh", 32, 0x8000_0000, 1) == 0xC000_0000
    assert ref_alu("arsh", 64, 1 << 63, 63) == M64
    assert ref_alu("neg", 32, 1, 0) == M32
    assert ref_alu("mov", 32, 0, M64) == M32
    assert ref_alu("movsx8", 64, 0, 0x80) == 0xFFFF_FFFF_FFFF_FF80
    assert ref_alu("movsx16", 32, 0, 0x8000) == 0xFFFF_8000
    assert ref_alu("movsx32", 64, 0, 0x8000_0000) == 0xFFFF_FFFF_8000_0000
    assert ref_alu("mul", 32, 0xFFFF_FFFF, 0xFFFF_FFFF) == 1
    assert ref_end("be", 16, 0x1234_5678, "little") == 0x7856
    assert ref_end("le", 16, 0x1234_5678, "little") == 0x5678
    assert ref_end("be", 16, 0x1234_5678, "big") == 0x5678
    assert ref_end("le", 32, 0x1122_3344_5566_7788, "big") == 0x8877_6655
    assert ref_end("bswap", 32, 0x1234_5678, "big") == 0x7856_3412
    assert ref_end("bswap", 64, 0x0102_0304_0506_0708, "little") == 0x0807_0605_0403_0201
    assert ref_jmp("jset", 32, 1 << 32, 1 << 32) is False
    assert ref_jmp("jsgt", 32, 0x1_0000_0000, M64) is True              # 0 > -1
    assert ref_jmp("jgt", 64, M64, 1) is True


# ---------------------------------------------------------------- per-opcode cases

class Case(NamedTuple):
    name: str
    insns: list[Insn]
    expected: int                  # r0
    mem: bytes | None = None       # the --mem block
    stack: bool = False            # uses only the stack (the kernel oracle can run it)


ALU_NAMES = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
             0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor", 0xB0: "mov",
             0xC0: "arsh", 0xD0: "end"}
JMP_NAMES = {0x10: "jeq", 0x20: "jgt", 0x30: "jge", 0x40: "jset", 0x50: "jne", 0x60: "jsgt",
             0x70: "jsge", 0xA0: "jlt", 0xB0: "jle", 0xC0: "jslt", 0xD0: "jsle"}
SIZES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
ABS_PACKET = bytes((i * 37 + 11) & 0xFF or 1 for i in range(32))     # no zero byte


def _alu_variants(name: str, is64: bool, x: bool) -> list[tuple[int, str]]:
    """(off, model name) pairs an ALU opcode stands for."""
    if name in ("div", "mod"):
        return [(0, name), (1, "s" + name)]
    if name == "mov" and x:
        return [(0, "mov"), (8, "movsx8"), (16, "movsx16")] + ([(32, "movsx32")] if is64 else [])
    return [(0, name)]


def _alu_cases(op: int, order: str) -> list[Case]:
    is64 = op & 7 == 0x07
    width = 64 if is64 else 32
    x = bool(op & 0x08)
    name = ALU_NAMES[op & 0xF0]
    out = []
    if name == "end":
        kind = "bswap" if is64 else ("be" if x else "le")
        for w in (16, 32, 64):
            for a in REGS:
                out.append(Case(f"{kind}{w} 0x{a:x}", [lddw(0, a), Insn(op, 0, 0, 0, w), EXIT],
                                ref_end(kind, w, a, order), stack=True))
        return out
    if name == "neg":
        for a in REGS:
            out.append(Case(f"neg{width} 0x{a:x}", [lddw(0, a), Insn(op, 0), EXIT],
                            ref_alu("neg", width, a, 0), stack=True))
        return out
    dsts = DIVIDENDS if name in ("div", "mod") else REGS
    srcs = DIVISORS if name in ("div", "mod") else SHIFTS if name in ("lsh", "rsh", "arsh") \
        else REGS
    for off, model in _alu_variants(name, is64, x):
        if x:
            for a in dsts:
                for b in srcs:
                    out.append(Case(f"{model}{width} 0x{a:x}, 0x{b:x}",
                                    [lddw(0, a), lddw(2, b), Insn(op, 0, 2, off), EXIT],
                                    ref_alu(model, width, a, b), stack=True))
            for a in dsts[::3]:           # dst and src the same register
                out.append(Case(f"{model}{width} r0, r0 (0x{a:x})",
                                [lddw(0, a), Insn(op, 0, 0, off), EXIT],
                                ref_alu(model, width, a, a), stack=True))
        else:
            for a in dsts:
                for imm in IMMS:
                    # the operand: imm sign-extended to 64 bits (ALU64) or its 32 bits (ALU)
                    out.append(Case(f"{model}{width} 0x{a:x}, {imm}",
                                    [lddw(0, a), Insn(op, 0, 0, off, imm), EXIT],
                                    ref_alu(model, width, a, imm & M64), stack=True))
    return out


def _branch(test: list[Insn], jump: Insn) -> list[Insn]:
    """test...; jump +2; r0 = 0; exit; r0 = 1; exit."""
    return test + [jump, mov64_imm(0, 0), EXIT, mov64_imm(0, 1), EXIT]


def _jmp_cases(op: int, order: str) -> list[Case]:
    width = 64 if op & 7 == 0x05 else 32
    name = JMP_NAMES[op & 0xF0]
    out = []
    if op & 0x08:
        for a in REGS:
            for b in REGS:
                out.append(Case(f"{name}{width} 0x{a:x}, 0x{b:x}",
                                _branch([lddw(1, a), lddw(2, b)], Insn(op, 1, 2, 2)),
                                int(ref_jmp(name, width, a, b)), stack=True))
    else:
        for a in REGS:
            for imm in IMMS:
                out.append(Case(f"{name}{width} 0x{a:x}, {imm}",
                                _branch([lddw(1, a)], Insn(op, 1, 0, 2, imm)),
                                int(ref_jmp(name, width, a, imm & M64)), stack=True))
    return out


def _ja_cases(op: int, order: str) -> list[Case]:
    gotol = op == 0x06

    def ja(n: int) -> Insn:
        return Insn(op, 0, 0, 0, n) if gotol else Insn(op, 0, 0, n, 0)

    tag = "gotol" if gotol else "ja"
    out = [
        Case(f"{tag} +1", [ja(1), mov64_imm(0, 1), mov64_imm(0, 2), EXIT], 2, stack=True),
        Case(f"{tag} +0", [mov64_imm(0, 9), ja(0), EXIT], 9, stack=True),
        # r0 = 0; r1 = 5; loop: r0 += 3; r1 -= 1; if r1 == 0 goto out; goto loop; out: exit
        Case(f"{tag} backward", [mov64_imm(0, 0), mov64_imm(1, 5), add64_imm(0, 3),
                                 add64_imm(1, -1), Insn(0x15, 1, 0, 1, 0), ja(-4), EXIT],
             15, stack=True),
    ]
    if gotol:
        # Offsets beyond s16 both ways: over 40000 fillers and back.
        fill = 40_000
        out.append(Case("gotol beyond 16 bits",
                        [mov64_imm(0, 0), ja(fill + 1)] + [mov64_imm(0, 1)] * fill
                        + [EXIT, mov64_imm(0, 7), ja(-3)], 7))
    return out


def _mem_setup(order: str) -> list[Insn]:
    """Put PATTERN in the 16 bytes at r10-16 (as two DW stores)."""
    lo = int.from_bytes(PATTERN[:8], order)
    hi = int.from_bytes(PATTERN[8:], order)
    return [lddw(2, lo), stxdw(10, -16, 2), lddw(2, hi), stxdw(10, -8, 2)]


UNALIGNED_OFFSETS = {1: (), 2: (1, 7), 4: (1, 2, 3, 11), 8: (1, 4, 7)}


def _ldx_cases(op: int, order: str) -> list[Case]:
    size = SIZES[op & 0x18]
    sx = op & 0xE0 == 0x80
    out = []
    for o in ALIGNED_OFFSETS[size] + UNALIGNED_OFFSETS[size]:
        want = int.from_bytes(PATTERN[o:o + size], order, signed=sx) & M64
        out.append(Case(f"ldx{'s' if sx else ''}{size} stack+{o}",
                        _mem_setup(order) + [Insn(op, 0, 10, -16 + o), EXIT], want, stack=True))
        # the same from the --mem block through r1
        out.append(Case(f"ldx{'s' if sx else ''}{size} mem+{o}",
                        [Insn(op, 0, 1, o), EXIT], want, mem=PATTERN))
    return out


def _st_cases(op: int, order: str) -> list[Case]:
    size = SIZES[op & 0x18]
    is_stx = op & 7 == 0x03
    out = []
    for o in ALIGNED_OFFSETS[size]:
        base = 0 if o < 8 else 8
        for v in (REGS if is_stx else IMMS):
            buf = bytearray(PATTERN)
            buf[o:o + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, order)
            want = int.from_bytes(buf[base:base + 8], order)
            store = [lddw(1, v), Insn(op, 10, 1, -16 + o)] if is_stx \
                else [Insn(op, 10, 0, -16 + o, v)]
            out.append(Case(f"{'stx' if is_stx else 'st'}{size} +{o} 0x{v & M64:x}",
                            _mem_setup(order) + store + [ldxdw(0, 10, -16 + base), EXIT],
                            want, stack=True))
    return out


ATOMIC_VALUES = (0, 1, M64, 0x8000_0000, M32, 1 << 32, 0x0123_4567_89AB_CDEF, INT64_MIN & M64)


def _atomic_cases(op: int, order: str) -> list[Case]:
    size = SIZES[op & 0x18]
    out = []
    for imm, name in ATOMIC_NAMES.items():
        for o in ((0, 4) if size == 4 else (0,)):
            for init in ATOMIC_VALUES:
                buf = init.to_bytes(8, order)
                for v in ATOMIC_VALUES[::2] + (init,):
                    old = int.from_bytes(buf[o:o + size], order)
                    r0s = [0]
                    if name == "cmpxchg":
                        # equal, unequal, and equal only in the low 32 bits
                        r0s = [old, old ^ 1, old | 0xDEAD_0000_0000_0000]
                    for r0 in r0s:
                        mem_after, src_after, r0_after = ref_atomic(imm, size, buf, o, v, r0, order)
                        pre = [lddw(2, init), stxdw(10, -8, 2), lddw(1, v), lddw(0, r0),
                               Insn(op, 10, 1, -8 + o, imm)]
                        tag = f"{name}{size * 8} +{o} [0x{init:x}] 0x{v:x} r0=0x{r0:x}"
                        out.append(Case(tag + " mem", pre + [ldxdw(0, 10, -8), EXIT],
                                        int.from_bytes(mem_after, order), stack=True))
                        if name != "cmpxchg" and (src_after != v or name.startswith("fetch")):
                            out.append(Case(tag + " src", pre + [mov64_reg(0, 1), EXIT],
                                            src_after, stack=True))
                        if name == "cmpxchg":
                            out.append(Case(tag + " r0", pre + [EXIT], r0_after, stack=True))
    return out


def _ld_cases(op: int, order: str) -> list[Case]:
    if op == 0x18:
        return [Case(f"lddw 0x{v:x}", [lddw(0, v), EXIT], v, stack=True) for v in REGS]
    size = SIZES[op & 0x18]
    pkt = ABS_PACKET
    bump = [lddw(1, 1 << 32), add64_reg(0, 1), EXIT]     # in bounds: bit 32 set; a miss: 0

    def want(o: int) -> int:
        if o < 0 or o + size > len(pkt):
            return 0
        return int.from_bytes(pkt[o:o + size], "big") + (1 << 32)

    out = []
    if op & 0xE0 == 0x20:
        for o in (0, 1, 2, 3, 13, 14, 28, 29, 30, 31, 32, 33, -1, 0x7FFF_FFFF, INT32_MIN):
            out.append(Case(f"ld_abs{size} {o}", [mov64_reg(6, 1), Insn(op, 0, 0, 0, o)] + bump,
                            want(o), mem=pkt, stack=True))
    else:
        for x in (0, 1, 3, 28, 31, 32, M32, 1 << 32, 0x7FFF_FFFF, 0xFFFF_FFFF_0000_0004):
            for imm in (0, 1, 2, -1, 4, -4, 30):
                o = signed(x + imm, 32)
                out.append(Case(f"ld_ind{size} 0x{x:x}{imm:+}",
                                [mov64_reg(6, 1), lddw(7, x), Insn(op, 0, 7, 0, imm)] + bump,
                                want(o), mem=pkt, stack=True))
    return out


def _call_exit_cases(op: int, order: str) -> list[Case]:
    if op == 0x95:
        return [Case("exit", [mov64_imm(0, 5), EXIT], 5, stack=True)]
    return [
        # r1 = 0x42; call f; exit; f: r0 = r1; exit
        Case("call local", [mov64_imm(1, 0x42), call_local(1), EXIT, mov64_reg(0, 1), EXIT], 0x42),
        Case("call helper", [mov64_imm(0, 9), call_helper(8), EXIT], 0),    # get_smp_processor_id
    ]


def cases_for(op: int, order: str) -> list[Case]:
    cls = op & 7
    if cls in (0x04, 0x07):
        return _alu_cases(op, order)
    if cls in (0x05, 0x06):
        code = op & 0xF0
        if code == 0x00:
            return _ja_cases(op, order)
        if code in (0x80, 0x90):
            return _call_exit_cases(op, order)
        return _jmp_cases(op, order)
    if cls == 0x00:
        return _ld_cases(op, order)
    if cls == 0x01:
        return _ldx_cases(op, order)
    if cls == 0x02:
        return _st_cases(op, order)
    if op & 0xE0 == 0xC0:
        return _atomic_cases(op, order)
    return _st_cases(op, order)


OPCODES = all_opcodes()


def test_every_opcode_has_cases():
    assert len(OPCODES) > 100
    for op in OPCODES:
        for order in ORDERS:
            cases = cases_for(op, order)
            assert cases, f"no cases for opcode 0x{op:02x}"
            assert any(i.opcode == op for c in cases for i in c.insns), f"0x{op:02x} not used"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("op", OPCODES, ids=lambda op: f"0x{op:02x}")
def test_opcode(op: int, order: str):
    bad = []
    for case in cases_for(op, order):
        res = execute(case.insns, order, mem=case.mem)
        if res.fault is not None or res.r0 != case.expected:
            got = f"fault {res.fault}" if res.fault else f"0x{res.r0:x}"
            bad.append(f"{case.name}: got {got}, want 0x{case.expected:x}")
    assert not bad, f"{len(bad)} failures, first: " + "; ".join(bad[:5])


# ---------------------------------------------------------------- memory through --mem

@pytest.mark.parametrize("order", ORDERS)
def test_stores_land_in_the_mem_block(order):
    mem = bytes(16)
    # *(u32 *)(r1 + 4) = 0x11223344; *(u16 *)(r1 + 10) = -2; r0 = 0; exit
    res = execute([Insn(0x62, 1, 0, 4, 0x11223344), Insn(0x6A, 1, 0, 10, -2),
                   mov64_imm(0, 0), EXIT], order, mem=mem)
    assert res.fault is None
    data = res.regions["packet"]
    assert data[4:8] == (0x11223344).to_bytes(4, order)
    assert data[10:12] == (-2 & 0xFFFF).to_bytes(2, order)
    assert data[:4] == bytes(4) and data[12:16] == bytes(4)


def test_mem_block_registers():
    """r1 = the block's address and r2 = its length, as uBPF and bpf_conformance do."""
    res = execute([mov64_reg(0, 2), EXIT], mem=bytes(24))
    assert res.r0 == 24
    res = execute([mov64_reg(0, 1), EXIT], mem=bytes(24))
    assert res.r0 == PACKET_BASE
    res = execute([mov64_reg(0, 1), EXIT])
    assert res.r0 == 0


# ---------------------------------------------------------------- LDDW pseudo sources

def _array(name: str, value_size: int = 8, entries: int = 1, **kw) -> MapDef:
    return MapDef(name=name, type=2, key_size=4, value_size=value_size, max_entries=entries, **kw)


def test_lddw_map_pointer_and_value_address():
    maps = [_array("a"), _array("b", initial=b"\x05" * 8, section=".data")]
    res = execute([lddw(0, 1, src=1), EXIT], maps=maps)
    assert res.r0 == MAPS_BASE + 32
    # the value of map b, 3 bytes in, read back: 5
    res = execute([lddw(1, (3 << 32) | 1, src=2), Insn(0x71, 0, 1, 0), EXIT], maps=maps)
    assert res.r0 == 5


def test_lddw_function_address():
    # r0 = &f; exit; f: exit    (f is slot 3: target = pc + 1 + imm = 0 + 1 + 2)
    res = execute([lddw(0, 2, src=4), EXIT, EXIT])
    assert res.r0 == FUNC_ADDR_BASE + 3 * 8


# ---------------------------------------------------------------- calls and frames

def test_call_preserves_r6_to_r9_and_passes_r1_to_r5():
    body = [mov64_imm(6, 6), mov64_imm(7, 7), mov64_imm(8, 8), mov64_imm(9, 9)]
    args = [mov64_imm(r, 10 * r) for r in range(1, 6)]
    # main: r6..r9 = 6..9; r1..r5 = 10..50; call f; r0 += r6 + r7 + r8 + r9; exit
    main = body + args + [call_local(5), add64_reg(0, 6), add64_reg(0, 7), add64_reg(0, 8),
                          add64_reg(0, 9), EXIT]
    # f: clobber r6..r9; r0 = r1 + r2 + r3 + r4 + r5; exit
    f = [mov64_imm(r, 1000) for r in range(6, 10)] + [mov64_reg(0, 1)] + \
        [add64_reg(0, r) for r in range(2, 6)] + [EXIT]
    res = execute(main + f)
    assert res.fault is None
    assert res.r0 == 150 + 30


def test_each_frame_has_its_own_r10_and_stack():
    # main: *(u64*)(r10-8) = 1; call f; r0 = *(u64*)(r10-8) (still 1) + r0 (f's r10); exit
    # f: *(u64*)(r10-8) = 99; r0 = r10; exit
    main = [Insn(0x7A, 10, 0, -8, 1), call_local(3), ldxdw(1, 10, -8), add64_reg(0, 1), EXIT]
    f = [Insn(0x7A, 10, 0, -8, 99), mov64_reg(0, 10), EXIT]
    res = execute(main + f)
    assert res.r0 == STACK_TOP - 512 + 1
    # with real stack depths the callee's frame starts right below the caller's
    p = program(main + f)
    env, r1, r2 = setup(p)
    res = run(p, env=env, r1=r1, stack_depths={0: 16, 5: 8})
    assert res.r0 == STACK_TOP - 16 + 1


def test_more_than_eight_frames_faults():
    # f: call f  (infinite recursion); the 8th call is refused
    res = execute([call_local(-1), EXIT])
    assert isinstance(res.fault, RunError)
    assert "8 frames" in str(res.fault)
    assert res.fault.pc == 0


def test_eight_frames_are_allowed():
    # main calls f1 ... f7 nested: 8 frames in all, each returns r0 + 1
    insns = []
    for _ in range(7):
        insns += [call_local(2), add64_imm(0, 1), EXIT]
    insns += [mov64_imm(0, 0), EXIT]
    res = execute(insns)
    assert res.fault is None and res.r0 == 7


# ---------------------------------------------------------------- tail calls

JMP_TABLE = MapDef(name="jmp", type=3, key_size=4, value_size=4, max_entries=4,
                   prog_slots={0: "main"})
COUNTER = _array("counter")


def _tail_call(index: int) -> list[Insn]:
    """r1 = r6 (ctx); r2 = &jmp; r3 = index; call tail_call"""
    return [mov64_reg(1, 6), lddw(2, 0, src=1), lddw(3, index), call_helper(12)]


def _run_with_programs(progs, maps, **kw):
    for p in progs:
        p.maps = list(maps)
    env, r1, r2 = setup(progs[0], programs=progs)
    return run(progs[0], env=env, r1=r1, r2=r2, programs=progs, **kw)


@pytest.mark.parametrize("order", ORDERS)
def test_tail_call_chain_stops_after_33(order):
    # counter += 1; tail_call(self); r0 = 99; exit
    bump = [mov64_reg(6, 1), lddw(1, 1, src=2), ldxdw(2, 1, 0), add64_imm(2, 1), stxdw(1, 0, 2)]
    main = program(bump + _tail_call(0) + [mov64_imm(0, 99), EXIT], order, name="main")
    res = _run_with_programs([main], [JMP_TABLE, COUNTER])
    assert res.fault is None
    assert res.r0 == 99
    assert res.maps["counter"] == [(bytes(4), (34).to_bytes(8, order))]     # 1 + 33 tail calls
    assert [c[0] for c in res.helper_calls] == [12] * 34


def test_failed_tail_call_leaves_r0_and_falls_through():
    target = program([mov64_imm(0, 5), EXIT], name="target")
    for index in (1, 3, 4, 0xFFFF_FFFF):      # empty, empty, out of range, out of range
        main = program([mov64_reg(6, 1), mov64_imm(0, 77)] + _tail_call(index) + [EXIT])
        table = MapDef(name="jmp", type=3, key_size=4, value_size=4, max_entries=4,
                       prog_slots={0: "target"})
        res = _run_with_programs([main, target], [table])
        assert res.fault is None and res.r0 == 77, index


def test_tail_call_index_is_u32():
    """The kernel reads the index as u32: 1 << 32 is slot 0."""
    target = program([mov64_imm(0, 5), EXIT], name="target")
    main = program([mov64_reg(6, 1), mov64_imm(0, 77)] + _tail_call(1 << 32) + [EXIT])
    table = MapDef(name="jmp", type=3, key_size=4, value_size=4, max_entries=4,
                   prog_slots={0: "target"})
    res = _run_with_programs([main, target], [table])
    assert res.r0 == 5


@pytest.mark.parametrize("empty_tries, want", [(32, 5), (33, 77)])
def test_tail_calls_to_empty_slots_count(empty_tries, want):
    """kernel/bpf/core.c counts before it reads the slot: empty slots use up the 33."""
    target = program([mov64_imm(0, 5), EXIT], name="target")
    call_slots = sum(i.slots for i in _tail_call(1))
    # r8 = n; again: tail_call(1); r8 -= 1; if r8 != 0 goto again
    loop = [mov64_imm(8, empty_tries)] + _tail_call(1) + \
        [add64_imm(8, -1), Insn(0x55, 8, 0, -(call_slots + 2), 0)]
    main = program([mov64_reg(6, 1)] + loop + [mov64_imm(0, 77)] + _tail_call(0) + [EXIT])
    table = MapDef(name="jmp", type=3, key_size=4, value_size=4, max_entries=4,
                   prog_slots={0: "target"})
    res = _run_with_programs([main, target], [table])
    assert res.fault is None
    assert res.r0 == want


def test_tail_call_from_subprogram_returns_to_its_caller():
    # main: r6 = ctx; r7 = 1000; call f; r0 += r7; exit.  f: tail_call(target) ; r0 = 1; exit
    target = program([mov64_imm(7, 0), mov64_imm(0, 5), EXIT], name="target")
    f = [mov64_reg(6, 1)] + _tail_call(0) + [mov64_imm(0, 1), EXIT]
    main_part = [mov64_reg(6, 1), mov64_imm(7, 1000), call_local(2), add64_reg(0, 7), EXIT]
    main = program(main_part + f)
    table = MapDef(name="jmp", type=3, key_size=4, value_size=4, max_entries=4,
                   prog_slots={0: "target"})
    res = _run_with_programs([main, target], [table])
    assert res.fault is None
    assert res.r0 == 1005


# ---------------------------------------------------------------- budget and faults

def test_budget_exhausted():
    res = execute([Insn(0x05, 0, 0, -1, 0)], max_insns=1000)
    assert isinstance(res.fault, RunError)
    assert str(res.fault).endswith("instruction budget of 1000 exhausted")
    assert res.insns_executed == 1000
    assert res.fault.pc == 0


def test_insns_executed_counts_each_instruction_once():
    res = execute([mov64_imm(0, 0), mov64_imm(1, 4), add64_imm(0, 1), add64_imm(1, -1),
                   Insn(0x55, 1, 0, -3, 0), EXIT])
    assert res.r0 == 4
    assert res.insns_executed == 2 + 4 * 3 + 1


@pytest.mark.parametrize("order", ORDERS)
def test_read_fault_reports_pc_and_address(order):
    # slots 0-1: r1 = 0x1234 (an LDDW, so the load is at slot 3); r0 = 0; r0 = *(u32 *)(r1 + 8)
    res = execute([lddw(1, 0x1234), mov64_imm(0, 0), Insn(0x61, 0, 1, 8), EXIT], order)
    assert isinstance(res.fault, MemoryFault)
    assert (res.fault.kind, res.fault.addr, res.fault.size, res.fault.pc) == ("read", 0x123C, 4, 3)
    assert "pc 3" in str(res.fault)


def test_write_to_read_only_region_faults():
    res = execute([lddw(1, 0, src=1), Insn(0x62, 1, 0, 0, 1), EXIT], maps=[_array("a")])
    assert isinstance(res.fault, MemoryFault)
    assert (res.fault.kind, res.fault.addr, res.fault.pc) == ("write", MAPS_BASE, 2)


def test_access_running_off_a_region_faults():
    # the block is one page: an 8-byte load at 4092 crosses its end
    res = execute([Insn(0x79, 0, 1, 4092), EXIT], mem=bytes(64))
    assert isinstance(res.fault, MemoryFault)
    assert res.fault.addr == PACKET_BASE + 4092 and res.fault.size == 8
    # the stack: a store just above r10
    res = execute([Insn(0x7A, 10, 0, 0, 1), EXIT])
    assert isinstance(res.fault, MemoryFault) and res.fault.kind == "write"


def test_falling_off_the_end_faults():
    res = execute([mov64_imm(0, 1)])
    assert isinstance(res.fault, RunError) and res.fault.pc == 1


def test_ld_abs_miss_in_subprogram_returns_zero_to_caller():
    """bpf_gen_ld_abs inlines `r0 = 0; exit`: a miss returns from the current function."""
    # main: r6 = r1; call f; r0 += 7; exit.   f: r0 = *(u8 *)skb[100]; r0 = 1; exit
    insns = [mov64_reg(6, 1), call_local(2), add64_imm(0, 7), EXIT,
             Insn(0x30, 0, 0, 0, 100), mov64_imm(0, 1), EXIT]
    res = execute(insns, mem=bytes(16))
    assert res.fault is None and res.r0 == 7


def test_ld_abs_without_packet_faults():
    res = execute([Insn(0x30, 0, 0, 0, 0), EXIT])
    assert isinstance(res.fault, RunError) and res.fault.pc == 0


# ---------------------------------------------------------------- helpers

def _call_with(args: dict[int, int], hid: int) -> list[Insn]:
    return [lddw(r, v) for r, v in args.items()] + [call_helper(hid)]


def test_unknown_helper_is_unsupported():
    res = execute([call_helper(9999), EXIT])
    assert isinstance(res.fault, UnsupportedError)
    assert "9999" in str(res.fault) and res.fault.pc == 0
    res = execute([call_helper(6), EXIT], helpers="conformance")
    assert isinstance(res.fault, UnsupportedError)


def test_conformance_gather_bytes_and_log():
    args = {1: 0x11, 2: 0x122, 3: 0x33, 4: 0x44, 5: 0xFF55}
    res = execute(_call_with(args, 0) + [EXIT], helpers="conformance")
    assert res.r0 == 0x11_22_33_44_55
    assert res.helper_calls == [(0, "gather_bytes", (0x11, 0x122, 0x33, 0x44, 0xFF55))]


def test_conformance_memfrob_sqrti_strcmp():
    mem = b"abc\0abd\0abc\0"
    res = execute([mov64_imm(2, 3), call_helper(1), EXIT], mem=mem, helpers="conformance")
    assert res.regions["packet"][:4] == bytes(c ^ 42 for c in b"abc") + b"\0"
    res = execute([lddw(1, 1 << 40), call_helper(3), EXIT], helpers="conformance")
    assert res.r0 == 1 << 20
    res = execute([lddw(1, (1 << 40) - 1), call_helper(3), EXIT], helpers="conformance")
    assert res.r0 == (1 << 20) - 1
    same = [mov64_reg(2, 1), add64_imm(2, 8), call_helper(4), EXIT]
    assert execute(same, mem=mem, helpers="conformance").r0 == 0
    differ = [mov64_reg(2, 1), add64_imm(2, 4), call_helper(4), EXIT]
    assert execute(differ, mem=mem, helpers="conformance").r0 == (ord("c") - ord("d")) & M64


def test_conformance_unwind():
    # r1 = 0: the program stops at the call with r0 = 0
    res = execute([mov64_imm(1, 0), call_helper(5), mov64_imm(0, 3), EXIT], helpers="conformance")
    assert res.fault is None and res.r0 == 0 and res.insns_executed == 2
    res = execute([mov64_imm(1, 9), call_helper(5), add64_imm(0, 1), EXIT], helpers="conformance")
    assert res.r0 == 10


def _stack_string(s: bytes, at: int) -> list[Insn]:
    """Store s (padded to 8-byte words) at r10 + at, using r3."""
    s = s.ljust((len(s) + 7) // 8 * 8, b"\0")
    out = []
    for i in range(0, len(s), 8):
        out += [lddw(3, int.from_bytes(s[i:i + 8], "little")), stxdw(10, at + i, 3)]
    return out


def test_trace_printk_formats():
    fmt = b"x=%d u=%u y=%lx s=%s c=%c %%\0"
    prog = _stack_string(fmt, -48) + _stack_string(b"hi\0", -56) + [
        mov64_reg(1, 10), add64_imm(1, -48), mov64_imm(2, len(fmt)),
        lddw(3, M64), lddw(4, M32), lddw(5, 0xABC)]
    # only three arguments: a second call prints %s and %c
    res = execute(prog[:] + [call_helper(6), EXIT])
    assert res.trace == []      # four conversions for three arguments: -EINVAL
    assert res.r0 == (-22) & M64
    fmt2 = b"x=%d u=%u y=%lx\0"
    res = execute(_stack_string(fmt2, -48) + [
        mov64_reg(1, 10), add64_imm(1, -48), mov64_imm(2, len(fmt2)),
        lddw(3, M64), lddw(4, M32), lddw(5, 0xABC), call_helper(6), EXIT])
    assert res.trace == ["x=-1 u=4294967295 y=abc"]
    assert res.r0 == len("x=-1 u=4294967295 y=abc")
    fmt3 = b"[%5s|%-3c|%04x]\0"
    res = execute(_stack_string(fmt3, -48) + _stack_string(b"hi\0", -56) + [
        mov64_reg(1, 10), add64_imm(1, -48), mov64_imm(2, len(fmt3)),
        mov64_reg(3, 10), add64_imm(3, -56), mov64_imm(4, ord("z")), mov64_imm(5, 0x2A),
        call_helper(6), EXIT])
    assert res.trace == ["[   hi|z  |002a]"]


def test_clock_and_random_are_deterministic():
    prog = [call_helper(5), mov64_reg(6, 0), call_helper(5), Insn(0x1F, 0, 6), EXIT]
    a, b = execute(prog), execute(prog)
    assert a.r0 == b.r0 and 0 < a.r0 < 1_000_000_000
    rnd = [call_helper(7), mov64_reg(6, 0), call_helper(7), Insn(0x67, 0, 0, 0, 32),
           Insn(0x4F, 0, 6), EXIT]
    p = program(rnd)
    vals = []
    for seed in (0, 0, 1):
        env, r1, r2 = setup(p, seed=seed)
        vals.append(run(p, env=env, r1=r1).r0)
    assert vals[0] == vals[1] != vals[2]
    assert vals[0] >> 32 != vals[0] & M32


def test_map_helpers_from_a_program():
    hmap = MapDef(name="h", type=1, key_size=4, value_size=8, max_entries=2)
    # key = 7 at r10-4, value = 0x55 at r10-16; update(h, key, value, ANY);
    # r0 = lookup(h, key); r0 = *r0
    prog = [Insn(0x62, 10, 0, -4, 7), Insn(0x7A, 10, 0, -16, 0x55),
            lddw(1, 0, src=1), mov64_reg(2, 10), add64_imm(2, -4), mov64_reg(3, 10),
            add64_imm(3, -16), mov64_imm(4, 0), call_helper(2),
            lddw(1, 0, src=1), mov64_reg(2, 10), add64_imm(2, -4), call_helper(1),
            ldxdw(0, 0, 0), EXIT]
    res = execute(prog, maps=[hmap])
    assert res.fault is None and res.r0 == 0x55
    assert res.maps["h"] == [((7).to_bytes(4, "little"), (0x55).to_bytes(8, "little"))]
    assert [c[1] for c in res.helper_calls] == ["map_update_elem", "map_lookup_elem"]


def test_bpf_loop_runs_the_callback():
    # main: *(u64*)(r10-8) = 0; r1 = 5; r2 = &cb; r3 = r10 - 8; r4 = 0; call loop;
    #       r0 = r0 * 1000 + *(u64*)(r10-8); exit
    # cb(i, ctx): *ctx += i; r0 = (i == 2); exit     (stops after i = 2)
    main = [Insn(0x7A, 10, 0, -8, 0), mov64_imm(1, 5), lddw(2, 0, src=4), mov64_reg(3, 10),
            add64_imm(3, -8), mov64_imm(4, 0), call_helper(181), Insn(0x27, 0, 0, 0, 1000),
            ldxdw(1, 10, -8), add64_reg(0, 1), EXIT]
    cb = [ldxdw(3, 2, 0), add64_reg(3, 1), stxdw(2, 0, 3), mov64_imm(0, 0),
          Insn(0x55, 1, 0, 1, 2), mov64_imm(0, 1), EXIT]
    # patch the LDDW src=4 offset: cb starts right after main
    start = sum(i.slots for i in main)
    main[2] = lddw(2, start - 3, src=4)
    res = execute(main + cb)
    assert res.fault is None
    assert res.r0 == 3 * 1000 + (0 + 1 + 2)
    assert res.helper_calls == [(181, "loop", (5, FUNC_ADDR_BASE + start * 8, STACK_TOP - 8, 0))]
    # the callbacks' instructions count against the budget
    assert res.insns_executed == 11 + 3 * 6 + 1


def _env(mem: bytes = bytes(64), prog_type: str = "raw"):
    p = program([EXIT])
    p.prog_type = prog_type
    env, r1, _ = setup(p, mem=mem)
    return env, r1


def test_probe_read_and_probe_read_str():
    from jit.helpers import KERNEL
    env, base = _env(b"hello\0world" + bytes(53))
    probe_read, probe_read_str = KERNEL[4].fn, KERNEL[45].fn
    assert probe_read(env, base + 32, 5, base, 0, 0) == 0
    assert env.memory.read(base + 32, 5) == b"hello"
    # an unreadable source: -EFAULT and the destination zeroed
    assert probe_read(env, base + 32, 5, 0x10, 0, 0) == (-14) & M64
    assert env.memory.read(base + 32, 5) == bytes(5)
    # the _str form copies up to the NUL, returns the length with it, truncates to size
    assert probe_read_str(env, base + 40, 16, base + 6, 0, 0) == 6
    assert env.memory.read(base + 40, 6) == b"world\0"
    assert probe_read_str(env, base + 40, 3, base, 0, 0) == 3
    assert env.memory.read(base + 40, 3) == b"he\0"


def test_comm_pid_and_redirect():
    from jit.helpers import KERNEL
    env, base = _env()
    assert KERNEL[16].fn(env, base, 4, 0, 0, 0) == 0
    assert env.memory.read(base, 4) == b"bpf\0"
    assert KERNEL[14].fn(env, 0, 0, 0, 0, 0) == env.tgid << 32 | env.pid
    assert KERNEL[23].fn(env, 3, 0, 0, 0, 0) == 7           # TC_ACT_REDIRECT
    assert KERNEL[23].fn(env, 3, 2, 0, 0, 0) == 2           # bad flags: TC_ACT_SHOT
    xdp, _ = _env(prog_type="xdp")
    assert KERNEL[23].fn(xdp, 3, 0, 0, 0, 0) == 4           # XDP_REDIRECT
    assert KERNEL[23].fn(xdp, 3, 1, 0, 0, 0) == 0           # XDP_ABORTED
    assert xdp.redirect == (3, 0)


def test_printf_pointer_and_address_conversions():
    from jit.helpers import KERNEL, format_printf
    env, base = _env(bytes([10, 0, 0, 1]) + b"%pI4 %px %p\0" + bytes(48))
    text = format_printf(env.memory, base + 4, 13, [base, 0x1234, 0xFFFF_8880_0000_0000])
    assert text == "10.0.0.1 0000000000001234 ffff888000000000"
    assert format_printf(env.memory, base + 4, 5, [base]) is None      # no NUL within size
    # snprintf writes a NUL-terminated, truncated copy and returns the full length + 1
    env.memory.write(base + 32, (7).to_bytes(8, "little"))
    env.memory.write(base + 24, b"n=%llu\0")
    assert KERNEL[165].fn(env, base + 48, 4, base + 24, base + 32, 8) == 4
    assert env.memory.read(base + 48, 4) == b"n=7\0"
    assert KERNEL[165].fn(env, base + 48, 4, base + 24, base + 32, 7) == (-22) & M64


def test_setup_packet_and_ctx():
    from jit.memory import CTX_BASE, PACKET_HEADROOM
    p = program([EXIT])
    env, r1, r2 = setup(p, packet=b"\x01\x02\x03")
    assert (r1, r2) == (PACKET_BASE + PACKET_HEADROOM, 3)
    assert env.packet == (r1, r1 + 3)
    assert env.memory.read(r1, 3) == b"\x01\x02\x03"
    env, r1, r2 = setup(p, ctx=b"\xaa" * 24)
    assert (r1, r2) == (CTX_BASE, 24)
    with pytest.raises(RunError):
        setup(p, mem=b"", packet=b"")
