"""Tests for backends/aarch64/enc.py: every encoder against independent oracles.

Four layers, cheapest first:
  1. golden rows: (call, word, capstone text), words frozen from GNU as
     (aarch64-linux-gnu-as -march=armv8.1-a);
  2. hypothesis properties decoded by capstone in detail mode, comparing the
     mnemonic and the operands (register names, immediates with their shifts,
     memory base / index / displacement), capstone's preferred aliases written
     out per form (`cs`);
  3. sweeps over all 32 register numbers in every register position and the
     edge immediates of every form, assembled in one batch by GNU as and by
     llvm-mc-19 and compared word for word;
  4. out-of-range operands raise EncodingError naming the field, and the
     logical-immediate encoder agrees with a brute-force enumeration of every
     (N, immr, imms) the architecture defines.

One table, FORMS, drives layers 2 and 3: each row names the encoder call, how
hypothesis draws its arguments, the edge arguments of the sweep, the assembler
text, and what capstone must decode.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

import capstone
import pytest
from capstone import arm64 as csa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.aarch64 import enc as E
from backends.aarch64.enc import Cond, Gpr, Shift
from jit.errors import EncodingError
from tests import oracles

ARCH = "aarch64"
PC = 0x40_0000                  # decode address of branches (targets stay positive)
M64 = (1 << 64) - 1


# ---------------------------------------------------------------- register spelling

def r(n: int, bits: int = 64) -> str:
    """Register n in the zero-register reading of 31."""
    if n == 31:
        return "xzr" if bits == 64 else "wzr"
    return f"{'x' if bits == 64 else 'w'}{n}"


def rsp(n: int, bits: int = 64) -> str:
    """Register n where 31 is the stack pointer."""
    if n == 31:
        return "sp" if bits == 64 else "wsp"
    return r(n, bits)


def _cs():
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    md.detail = True
    return md


CS = _cs()


def _name(reg: str) -> str:
    """Capstone calls x29 and x30 by their AAPCS64 roles."""
    return {"fp": "x29", "lr": "x30"}.get(reg, reg)


def narrow(got: tuple[str, list]) -> tuple[str, list]:
    """A W-register instruction's immediates to 32 bits (capstone sign-extends some)."""
    mn, ops = got
    if ops and ops[0][0] == "reg" and ops[0][1].startswith("w"):
        ops = [("imm", o[1] & 0xFFFF_FFFF, o[2]) if o[0] == "imm" else o for o in ops]
    return mn, ops


def decode(word: int, pc: int = PC) -> tuple[str, list]:
    """(mnemonic, operands) from capstone detail mode."""
    insns = list(CS.disasm(struct.pack("<I", word), pc))
    assert len(insns) == 1, f"capstone cannot decode {word:#010x}"
    i = insns[0]
    ops = []
    for o in i.operands:
        sh = (o.shift.type, o.shift.value) if o.shift.type and o.shift.value else None
        if o.type == csa.ARM64_OP_REG:
            ops.append(("reg", _name(i.reg_name(o.reg)), sh))
        elif o.type == csa.ARM64_OP_IMM:
            ops.append(("imm", o.imm & M64, sh))
        elif o.type == csa.ARM64_OP_MEM:
            index = _name(i.reg_name(o.mem.index)) if o.mem.index else None
            ops.append(("mem", _name(i.reg_name(o.mem.base)), index, o.mem.disp, sh))
        elif o.type == csa.ARM64_OP_BARRIER:
            ops.append(("barrier", o.barrier))
        else:
            ops.append(("other", o.type))
    return i.mnemonic, ops


def R(name: str) -> tuple:
    return ("reg", name, None)


def I(v: int, lsl: int = 0) -> tuple:
    return ("imm", v & M64, (csa.ARM64_SFT_LSL, lsl) if lsl else None)


def MEM(base: str, disp: int = 0, index: str | None = None, lsl: int = 0) -> tuple:
    return ("mem", base, index, disp, (csa.ARM64_SFT_LSL, lsl) if lsl else None)


# ---------------------------------------------------------------- operand strategies

REG = st.integers(0, 31)                 # 31 = zr or sp, as the form reads it
REG30 = st.integers(0, 30)
BITS = st.sampled_from((32, 64))
ALL_REGS = tuple(range(32))


@dataclass(frozen=True)
class Form:
    """One encoder form: how to call it, draw it, sweep it, spell it and decode it."""
    name: str
    fn: Callable[..., int]
    draw: st.SearchStrategy               # tuple of call arguments
    edges: Callable[[], list]             # call arguments for the assembler sweep
    asm: Callable[..., str]               # the assembler text of the same call
    cs: Callable[..., list]               # acceptable (mnemonic, operands) from capstone
    lse: bool = False                     # needs ARMv8.1 (LSE)


def _reg_sweep(n: int, build: Callable[..., tuple]) -> list:
    """Each register position through all 32 numbers, the others fixed at distinct ones."""
    out = []
    base = [1, 2, 3, 4][:n]
    for pos in range(n):
        for v in ALL_REGS:
            regs = list(base)
            regs[pos] = v
            out.append(build(*regs))
    return out


IMM12_EDGES = (0, 1, 0xFFF, 0x1000, 0xFFF000, 0x7FF000, 0x123000)
SHIFT_NAMES = {Shift.LSL: "lsl", Shift.LSR: "lsr", Shift.ASR: "asr", Shift.ROR: "ror"}
CS_SHIFT = {Shift.LSL: csa.ARM64_SFT_LSL, Shift.LSR: csa.ARM64_SFT_LSR,
            Shift.ASR: csa.ARM64_SFT_ASR, Shift.ROR: csa.ARM64_SFT_ROR}


def imm12_values() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(IMM12_EDGES), st.integers(0, 0xFFF),
                     st.integers(0, 0xFFF).map(lambda v: v << 12))


def _imm12_text(v: int) -> str:
    return f"#{v}" if v <= 0xFFF else f"#{v >> 12}, lsl #12"


def _imm12_op(v: int) -> tuple:
    return I(v) if v <= 0xFFF else I(v >> 12, 12)


def _addsub_imm(name: str, fn, zr_dest: bool = False, zr_src: bool = False):
    """add/sub/cmp/cmn immediate forms (31 is sp in rd/rn, except cmp/cmn's rd)."""
    if zr_dest:
        def asm(rn, imm, bits):
            return f"{name} {rsp(rn, bits)}, {_imm12_text(imm)}"

        def cs(rn, imm, bits):
            return [(name, [R(rsp(rn, bits)), _imm12_op(imm)])]
        return Form(name, fn, st.tuples(REG, imm12_values(), BITS),
                    lambda: [(n, 7, b) for n in ALL_REGS for b in (32, 64)]
                    + [(3, v, b) for v in IMM12_EDGES for b in (32, 64)], asm, cs)

    def asm(rd, rn, imm, bits):
        return f"{name} {rsp(rd, bits)}, {rsp(rn, bits)}, {_imm12_text(imm)}"

    def cs(rd, rn, imm, bits):
        alts = [(name, [R(rsp(rd, bits)), R(rsp(rn, bits)), _imm12_op(imm)])]
        if name == "add" and imm == 0 and (rd == 31 or rn == 31):
            alts.append(("mov", [R(rsp(rd, bits)), R(rsp(rn, bits))]))
        return alts
    return Form(name, fn, st.tuples(REG, REG, imm12_values(), BITS),
                lambda: _reg_sweep(2, lambda a, b: (a, b, 5, 64))
                + [(1, 2, v, b) for v in IMM12_EDGES for b in (32, 64)], asm, cs)


def _three_reg(name: str, fn, cs_name: Callable | None = None, shifts: tuple = (),
               only64: bool = False):
    """rd, rn, rm (zr for 31), optionally with a shifted rm."""
    bits_s = st.just(64) if only64 else BITS

    def draw():
        if not shifts:
            return st.tuples(REG, REG, REG, bits_s).map(lambda t: (*t, Shift.LSL, 0))
        return st.tuples(REG, REG, REG, bits_s, st.sampled_from(shifts)).flatmap(
            lambda t: st.integers(0, t[3] - 1).map(lambda a: (*t, a)))

    def asm(rd, rn, rm, bits, shift=Shift.LSL, amount=0):
        tail = f", {SHIFT_NAMES[shift]} #{amount}" if amount or shift != Shift.LSL else ""
        return f"{name} {r(rd, bits)}, {r(rn, bits)}, {r(rm, bits)}{tail}"

    def cs(rd, rn, rm, bits, shift=Shift.LSL, amount=0):
        last = ("reg", r(rm, bits), (CS_SHIFT[shift], amount) if amount else None)
        base = [(name, [R(r(rd, bits)), R(r(rn, bits)), last])]
        return base + (cs_name(rd, rn, rm, bits, shift, amount) if cs_name else [])

    def call(rd, rn, rm, bits, shift=Shift.LSL, amount=0):
        if shifts:
            return fn(rd, rn, rm, bits, shift, amount)
        return fn(rd, rn, rm, bits)

    def edges():
        out = [(a, b_, c, 64, Shift.LSL, 0) for a, b_, c in _reg_sweep(3, lambda *x: x)]
        out += [(1, 2, 3, 32, Shift.LSL, 0)]
        for s in shifts:
            out += [(1, 2, 3, bits, s, a) for bits in (32, 64) for a in (1, bits - 1)]
        return out
    return Form(name, call, draw(), edges, asm, cs)


def _alias_mov(rd, rn, rm, bits, shift, amount):
    # orr rd, zr, rm is `mov`; add/sub with zr first operand: neg/mov aliases
    if rn == 31 and not amount:
        return [("mov", [R(r(rd, bits)), R(r(rm, bits))])]
    return []


def _alias_neg(rd, rn, rm, bits, shift, amount):
    if rn == 31:
        last = ("reg", r(rm, bits), (CS_SHIFT[shift], amount) if amount else None)
        return [("neg", [R(r(rd, bits)), last])]
    return []


def _alias_mul(rd, rn, rm, bits, shift, amount):
    return []


def _two_reg(name: str, fn, rd_bits: Callable[[int], int] = lambda b: b,
             rn_bits: Callable[[int], int] = lambda b: b, bits_s=BITS):
    def asm(rd, rn, bits):
        return f"{name} {r(rd, rd_bits(bits))}, {r(rn, rn_bits(bits))}"

    def cs(rd, rn, bits):
        return [(name, [R(r(rd, rd_bits(bits))), R(r(rn, rn_bits(bits)))])]
    return Form(name, fn, st.tuples(REG, REG, bits_s),
                lambda: [(a, b_, 64 if bits_s is not BITS else bb)
                         for a, b_ in _reg_sweep(2, lambda *x: x) for bb in (32, 64)],
                asm, cs)


# ---------------------------------------------------------------- logical immediates

def _all_bitmasks(bits: int) -> set[int]:
    """Every logical immediate of `bits` bits, by the architecture's DecodeBitMasks."""
    out = set()
    for e in (2, 4, 8, 16, 32, 64):
        if e > bits:
            break
        for ones in range(1, e):
            run = (1 << ones) - 1
            for rot in range(e):
                elt = ((run >> rot) | (run << (e - rot))) & ((1 << e) - 1)
                v = 0
                for k in range(bits // e):
                    v |= elt << (k * e)
                out.add(v)
    return out


BITMASKS = {b: sorted(_all_bitmasks(b)) for b in (32, 64)}
BITMASK_EDGES = (1, 0xFF, 0xFFFF, 0x5555_5555_5555_5555, 0x8000_0000_0000_0000,
                 0x7FFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE, 0x0F0F_0F0F_0F0F_0F0F,
                 0x0000_FFFF_0000_FFFF, 0xFFFF_FFFF)


def bitmask_value() -> st.SearchStrategy:
    return BITS.flatmap(lambda b: st.sampled_from(BITMASKS[b]).map(lambda v: (v, b)))


def _logic_imm(name: str, fn, rd_sp: bool = True):
    def asm(rd, rn, v, bits):
        return f"{name} {rsp(rd, bits) if rd_sp else r(rd, bits)}, {r(rn, bits)}, #{v:#x}"

    def cs(rd, rn, v, bits):
        d = rsp(rd, bits) if rd_sp else r(rd, bits)
        alts = [(name, [R(d), R(r(rn, bits)), I(v)])]
        if name == "orr" and rn == 31:
            alts.append(("mov", [R(d), I(v)]))
        return alts
    return Form(name, fn, st.tuples(REG, REG, bitmask_value()).map(lambda t: (t[0], t[1], *t[2])),
                lambda: _reg_sweep(2, lambda a, b_: (a, b_, 0xFF, 64))
                + [(1, 2, v, 64) for v in BITMASK_EDGES] + [(1, 2, 0xFF00FF00, 32)],
                asm, cs)


def _tst_imm():
    def asm(rn, v, bits):
        return f"tst {r(rn, bits)}, #{v:#x}"

    def cs(rn, v, bits):
        return [("tst", [R(r(rn, bits)), I(v)])]
    return Form("tst", E.tst_imm, st.tuples(REG, bitmask_value()).map(lambda t: (t[0], *t[1])),
                lambda: [(n, 1, 64) for n in ALL_REGS] + [(1, v, 64) for v in BITMASK_EDGES],
                asm, cs)


# ---------------------------------------------------------------- moves

def _move_wide(name: str, fn):
    def draw():
        return BITS.flatmap(lambda b: st.tuples(
            REG, st.one_of(st.sampled_from((0, 1, 0x7FFF, 0x8000, 0xFFFF)), st.integers(0, 0xFFFF)),
            st.sampled_from(range(0, b, 16)), st.just(b)))

    def asm(rd, imm, shift, bits):
        return f"{name} {r(rd, bits)}, #{imm}, lsl #{shift}"

    def cs(rd, imm, shift, bits):
        alts = [(name, [R(r(rd, bits)), I(imm, shift)])]
        mask = M64 if bits == 64 else 0xFFFF_FFFF
        if name == "movz":
            alts.append(("mov", [R(r(rd, bits)), I(imm << shift)]))
        elif name == "movn":
            v = ~(imm << shift) & mask
            alts.append(("mov", [R(r(rd, bits)), I(v)]))
            alts.append(("mov", [R(r(rd, bits)), I(v - (1 << 32) if v >> 31 else v)]))
        return alts
    return Form(name, fn, draw(),
                lambda: [(n, 0x1234, 16, 64) for n in ALL_REGS]
                + [(1, v, s, b) for v in (0, 1, 0x8000, 0xFFFF) for b in (32, 64)
                   for s in range(0, b, 16)], asm, cs)


def _shift_imm(name: str, fn, alias: str):
    def draw():
        return BITS.flatmap(lambda b: st.tuples(REG, REG, st.integers(0, b - 1), st.just(b)))

    def asm(rd, rn, n, bits):
        return f"{name} {r(rd, bits)}, {r(rn, bits)}, #{n}"

    def cs(rd, rn, n, bits):
        alts = [(name, [R(r(rd, bits)), R(r(rn, bits)), I(n)])]
        if n == 0:          # ubfm #0, #bits-1 reads as lsr #0
            alts.append(("lsr", [R(r(rd, bits)), R(r(rn, bits)), I(0)]))
        return alts
    return Form(name + "_imm", fn, draw(),
                lambda: _reg_sweep(2, lambda a, b_: (a, b_, 3, 64))
                + [(1, 2, n, b) for b in (32, 64) for n in (0, 1, b // 2, b - 1)], asm, cs)


def _ubfx():
    def draw():
        return BITS.flatmap(lambda b: st.integers(0, b - 1).flatmap(
            lambda lsb: st.tuples(REG, REG, st.just(lsb), st.integers(1, b - lsb), st.just(b))))

    def asm(rd, rn, lsb, width, bits):
        return f"ubfx {r(rd, bits)}, {r(rn, bits)}, #{lsb}, #{width}"

    def cs(rd, rn, lsb, width, bits):
        alts = [("ubfx", [R(r(rd, bits)), R(r(rn, bits)), I(lsb), I(width)])]
        if lsb + width == bits:
            alts.append(("lsr", [R(r(rd, bits)), R(r(rn, bits)), I(lsb)]))
        if bits == 32 and lsb == 0 and width in (8, 16):
            alts.append(("uxtb" if width == 8 else "uxth", [R(r(rd, 32)), R(r(rn, 32))]))
        return alts
    return Form("ubfx", E.ubfx, draw(),
                lambda: [(1, 2, lsb, w, b) for b in (32, 64) for lsb, w in
                         ((0, 1), (0, b - 1), (1, b - 1), (b - 1, 1), (8, 8))], asm, cs)


# ---------------------------------------------------------------- loads and stores

LDST_TEXT = {"strb": ("strb", 32), "ldrb": ("ldrb", 32), "ldrsb": ("ldrsb", 64),
             "strh": ("strh", 32), "ldrh": ("ldrh", 32), "ldrsh": ("ldrsh", 64),
             "str_w": ("str", 32), "ldr_w": ("ldr", 32), "ldrsw": ("ldrsw", 64),
             "str_x": ("str", 64), "ldr_x": ("ldr", 64)}
UNSCALED = {"strb": "sturb", "ldrb": "ldurb", "ldrsb": "ldursb", "strh": "sturh",
            "ldrh": "ldurh", "ldrsh": "ldursh", "str_w": "stur", "ldr_w": "ldur",
            "ldrsw": "ldursw", "str_x": "stur", "ldr_x": "ldur"}
LDST_NAMES = tuple(LDST_TEXT)


def _ldst_imm():
    def draw():
        return st.sampled_from(LDST_NAMES).flatmap(lambda nm: st.tuples(
            st.just(nm), REG, REG,
            st.integers(0, 0xFFF).map(lambda k: k * E.LDST[nm][2])))

    def asm(name, rt, rn, off):
        mn, bits = LDST_TEXT[name]
        return f"{mn} {r(rt, bits)}, [{rsp(rn)}, #{off}]"

    def cs(name, rt, rn, off):
        mn, bits = LDST_TEXT[name]
        return [(mn, [R(r(rt, bits)), MEM(rsp(rn), off)])]

    def edges():
        out = [(nm, a, b_, 8 * E.LDST[nm][2]) for nm in LDST_NAMES
               for a, b_ in _reg_sweep(2, lambda *x: x)]
        out += [(nm, 1, 2, k * E.LDST[nm][2]) for nm in LDST_NAMES for k in (0, 1, 0xFFF)]
        return out
    return Form("ldst_imm", E.ldst_imm, draw(), edges, asm, cs)


def _ldst_unscaled():
    def asm(name, rt, rn, off):
        return f"{UNSCALED[name]} {r(rt, LDST_TEXT[name][1])}, [{rsp(rn)}, #{off}]"

    def cs(name, rt, rn, off):
        return [(UNSCALED[name], [R(r(rt, LDST_TEXT[name][1])), MEM(rsp(rn), off)])]
    return Form("ldst_unscaled", E.ldst_unscaled_imm,
                st.tuples(st.sampled_from(LDST_NAMES), REG, REG, st.integers(-256, 255)),
                lambda: [(nm, a, b_, -8) for nm in LDST_NAMES for a, b_ in
                         _reg_sweep(2, lambda *x: x)]
                + [(nm, 1, 2, o) for nm in LDST_NAMES for o in (-256, -1, 0, 1, 255)], asm, cs)


def _ldst_reg():
    def asm(name, rt, rn, rm, scaled):
        mn, bits = LDST_TEXT[name]
        n = E.LDST[name][2].bit_length() - 1
        tail = f", lsl #{n}" if scaled else ""
        return f"{mn} {r(rt, bits)}, [{rsp(rn)}, {r(rm)}{tail}]"

    def cs(name, rt, rn, rm, scaled):
        mn, bits = LDST_TEXT[name]
        n = E.LDST[name][2].bit_length() - 1
        return [(mn, [R(r(rt, bits)), MEM(rsp(rn), 0, r(rm), n if scaled else 0)])]
    return Form("ldst_reg", E.ldst_reg,
                st.tuples(st.sampled_from(LDST_NAMES), REG, REG, REG, st.booleans())
                .filter(lambda t: not (t[4] and E.LDST[t[0]][2] == 1)),
                lambda: [(nm, a, b_, c, nm != "ldrb" and nm != "strb" and nm != "ldrsb")
                         for nm in ("ldr_x", "strb", "ldrsh") for a, b_, c in
                         _reg_sweep(3, lambda *x: x)], asm, cs)


def _pair(name: str, fn):
    def draw():
        return st.tuples(REG30, REG30, REG, st.integers(-64, 63).map(lambda k: 8 * k),
                         st.sampled_from(("offset", "pre", "post"))).filter(
            lambda t: name == "stp" or t[0] != t[1]).filter(
            lambda t: t[3] == "offset" or (t[2] not in (t[0], t[1]) or t[2] == 31))

    def asm(rt, rt2, rn, off, mode):
        addr = {"offset": f"[{rsp(rn)}, #{off}]", "pre": f"[{rsp(rn)}, #{off}]!",
                "post": f"[{rsp(rn)}], #{off}"}[mode]
        return f"{name} {r(rt)}, {r(rt2)}, {addr}"

    def cs(rt, rt2, rn, off, mode):
        if mode == "post":
            return [(name, [R(r(rt)), R(r(rt2)), MEM(rsp(rn)), I(off)]),
                    (name, [R(r(rt)), R(r(rt2)), MEM(rsp(rn), off)])]
        return [(name, [R(r(rt)), R(r(rt2)), MEM(rsp(rn), off)])]
    return Form(name, fn, draw(),
                lambda: [(19, 20, 31, o, m) for o in (-512, -8, 0, 8, 504)
                         for m in ("offset", "pre", "post")]
                + [(a, 30, 31, 16, "offset") for a in range(30)], asm, cs)


def _single_idx(name: str, fn, mode: str):
    def asm(rt, rn, off):
        return (f"str {r(rt)}, [{rsp(rn)}, #{off}]!" if mode == "pre"
                else f"ldr {r(rt)}, [{rsp(rn)}], #{off}")

    def cs(rt, rn, off):
        mn = "str" if mode == "pre" else "ldr"
        if mode == "pre":
            return [(mn, [R(r(rt)), MEM(rsp(rn), off)])]
        return [(mn, [R(r(rt)), MEM(rsp(rn)), I(off)]), (mn, [R(r(rt)), MEM(rsp(rn), off)])]
    return Form(name, fn, st.tuples(REG, st.just(31), st.integers(-256, 255)),
                lambda: [(n, 31, o) for n in range(31) for o in (-16,)]
                + [(30, 31, o) for o in (-256, -1, 0, 255)], asm, cs)


# ---------------------------------------------------------------- exclusives and LSE

def _excl_load(name: str, fn):
    return Form(name, fn, st.tuples(REG, REG, BITS),
                lambda: [(a, b_, bb) for a, b_ in _reg_sweep(2, lambda *x: x) for bb in (32, 64)],
                lambda rt, rn, bits: f"{name} {r(rt, bits)}, [{rsp(rn)}]",
                lambda rt, rn, bits: [(name, [R(r(rt, bits)), MEM(rsp(rn))])])


def _excl_store(name: str, fn):
    # rs must differ from rt and rn (CONSTRAINED UNPREDICTABLE otherwise: GNU as rejects it)
    def ok(t):
        return t[0] != t[1] and (t[0] != t[2] or t[2] == 31)
    return Form(name, fn, st.tuples(REG30, REG, REG, BITS).filter(ok),
                lambda: [t + (bb,) for t in _reg_sweep(3, lambda *x: x)
                         if ok(t) and t[0] != 31 for bb in (32, 64)],
                lambda rs, rt, rn, bits: f"{name} {r(rs, 32)}, {r(rt, bits)}, [{rsp(rn)}]",
                lambda rs, rt, rn, bits: [(name, [R(r(rs, 32)), R(r(rt, bits)), MEM(rsp(rn))])])


LSE_SUFFIX = {(False, False): "", (True, False): "a", (False, True): "l", (True, True): "al"}
ST_ALIAS = {"ldadd": "stadd", "ldclr": "stclr", "ldeor": "steor", "ldset": "stset"}


def _lse():
    def asm(name, rs, rt, rn, bits, acq, rel):
        return f"{name}{LSE_SUFFIX[acq, rel]} {r(rs, bits)}, {r(rt, bits)}, [{rsp(rn)}]"

    def cs(name, rs, rt, rn, bits, acq, rel):
        mn = f"{name}{LSE_SUFFIX[acq, rel]}"
        alts = [(mn, [R(r(rs, bits)), R(r(rt, bits)), MEM(rsp(rn))])]
        if rt == 31 and not acq and name in ST_ALIAS:
            alts.append((ST_ALIAS[name] + LSE_SUFFIX[acq, rel],
                         [R(r(rs, bits)), MEM(rsp(rn))]))
        return alts
    names = tuple(E.LSE_OPS)
    return Form("lse_op", E.lse_op,
                st.tuples(st.sampled_from(names), REG, REG, REG, BITS, st.booleans(),
                          st.booleans()),
                lambda: [(nm, a, b_, c, 64, True, True) for nm in names
                         for a, b_, c in _reg_sweep(3, lambda *x: x)]
                + [(nm, 1, 2, 3, bb, a, rl) for nm in names for bb in (32, 64)
                   for a in (False, True) for rl in (False, True)], asm, cs, lse=True)


def _cas():
    def asm(rs, rt, rn, bits, acq, rel):
        return f"cas{LSE_SUFFIX[acq, rel]} {r(rs, bits)}, {r(rt, bits)}, [{rsp(rn)}]"

    def cs(rs, rt, rn, bits, acq, rel):
        return [(f"cas{LSE_SUFFIX[acq, rel]}",
                 [R(r(rs, bits)), R(r(rt, bits)), MEM(rsp(rn))])]
    return Form("cas", E.cas, st.tuples(REG, REG, REG, BITS, st.booleans(), st.booleans()),
                lambda: [(a, b_, c, 64, True, True) for a, b_, c in _reg_sweep(3, lambda *x: x)]
                + [(1, 2, 3, bb, a, rl) for bb in (32, 64) for a in (False, True)
                   for rl in (False, True)], asm, cs, lse=True)


# ---------------------------------------------------------------- branches

COND_NAMES = {c: c.name.lower() for c in Cond if c != Cond.AL}


def _target(disp: int) -> str:
    return f".{disp:+d}" if disp else "."


def _branch19(name: str, fn, with_reg: bool):
    disp = st.integers(-(1 << 18), (1 << 18) - 1).map(lambda k: 4 * k)
    edges_d = (-(1 << 20), -4, 0, 4, (1 << 20) - 4)
    if with_reg:
        return Form(name, fn, st.tuples(REG, disp, BITS),
                    lambda: [(n, 8, 64) for n in ALL_REGS] + [(1, d, bb) for d in edges_d
                                                              for bb in (32, 64)],
                    lambda rt, d, bits: f"{name} {r(rt, bits)}, {_target(d)}",
                    lambda rt, d, bits: [(name, [R(r(rt, bits)), I(PC + d)])])
    return Form(name, fn, st.tuples(st.sampled_from(list(COND_NAMES)), disp),
                lambda: [(c, 8) for c in COND_NAMES] + [(Cond.EQ, d) for d in edges_d],
                lambda c, d: f"b.{COND_NAMES[c]} {_target(d)}",
                lambda c, d: [(f"b.{COND_NAMES[c]}", [I(PC + d)])])


def _tb(name: str, fn):
    disp = st.integers(-(1 << 13), (1 << 13) - 1).map(lambda k: 4 * k)
    return Form(name, fn, st.tuples(REG, st.integers(0, 63), disp),
                lambda: [(n, 3, 8) for n in ALL_REGS]
                + [(1, b_, d) for b_ in (0, 31, 32, 63) for d in (-(1 << 15), 0, (1 << 15) - 4)],
                lambda rt, bit, d: f"{name} {r(rt, 64 if bit >= 32 else 32)}, #{bit}, {_target(d)}",
                lambda rt, bit, d: [(name, [R(r(rt, 64 if bit >= 32 else 32)), I(bit),
                                            I(PC + d)])])


def _b26(name: str, fn):
    disp = st.integers(-(1 << 25), (1 << 25) - 1).map(lambda k: 4 * k)
    return Form(name, fn, st.tuples(disp),
                lambda: [(d,) for d in (-(1 << 22), -4, 0, 4, (1 << 22) - 4)],
                lambda d: f"{name} {_target(d)}",
                lambda d: [(name, [I(PC + d)])])


def _breg(name: str, fn):
    return Form(name, fn, st.tuples(REG), lambda: [(n,) for n in ALL_REGS],
                lambda n: f"{name} {r(n)}",
                lambda n: [(name, [R(r(n))])] + ([("ret", [])] if name == "ret" and n == 30
                                                  else []))


def _fixed(name: str, fn, text: str, alts: list):
    return Form(name, fn, st.just(()), lambda: [()], lambda: text, lambda: alts)


FORMS: list[Form] = [
    _addsub_imm("add", E.add_imm),
    _addsub_imm("sub", E.sub_imm),
    _addsub_imm("cmp", E.cmp_imm, zr_dest=True),
    _addsub_imm("cmn", E.cmn_imm, zr_dest=True),
    _three_reg("add", E.add_reg, shifts=(Shift.LSL, Shift.LSR, Shift.ASR)),
    _three_reg("sub", E.sub_reg, _alias_neg, shifts=(Shift.LSL, Shift.LSR, Shift.ASR)),
    _three_reg("and", E.and_reg, shifts=(Shift.LSL, Shift.LSR, Shift.ASR, Shift.ROR)),
    _three_reg("orr", E.orr_reg, _alias_mov, shifts=(Shift.LSL, Shift.LSR, Shift.ASR, Shift.ROR)),
    _three_reg("eor", E.eor_reg, shifts=(Shift.LSL, Shift.LSR, Shift.ASR, Shift.ROR)),
    _three_reg("ands", E.ands_reg, lambda d, n, m, b, s, a: [("tst", [R(r(n, b)), R(r(m, b))])]
               if d == 31 else []),
    _three_reg("bic", E.bic_reg),
    _three_reg("orn", E.orn_reg, lambda d, n, m, b, s, a: [("mvn", [R(r(d, b)), R(r(m, b))])]
               if n == 31 else []),
    _three_reg("mul", E.mul),
    _three_reg("udiv", E.udiv),
    _three_reg("sdiv", E.sdiv),
    _three_reg("lsl", E.lslv),
    _three_reg("lsr", E.lsrv),
    _three_reg("asr", E.asrv),
    Form("madd", E.madd, st.tuples(REG, REG, REG, REG, BITS),
         lambda: [t + (64,) for t in _reg_sweep(4, lambda *x: x)],
         lambda d, n, m, a, bits: f"madd {r(d, bits)}, {r(n, bits)}, {r(m, bits)}, {r(a, bits)}",
         lambda d, n, m, a, bits: [("madd", [R(r(x, bits)) for x in (d, n, m, a)])]
         + ([("mul", [R(r(x, bits)) for x in (d, n, m)])] if a == 31 else [])),
    Form("msub", E.msub, st.tuples(REG, REG, REG, REG, BITS),
         lambda: [t + (32,) for t in _reg_sweep(4, lambda *x: x)],
         lambda d, n, m, a, bits: f"msub {r(d, bits)}, {r(n, bits)}, {r(m, bits)}, {r(a, bits)}",
         lambda d, n, m, a, bits: [("msub", [R(r(x, bits)) for x in (d, n, m, a)])]
         + ([("mneg", [R(r(x, bits)) for x in (d, n, m)])] if a == 31 else [])),
    Form("cmp_reg", E.cmp_reg, st.tuples(REG, REG, BITS),
         lambda: [t + (64,) for t in _reg_sweep(2, lambda *x: x)],
         lambda n, m, bits: f"cmp {r(n, bits)}, {r(m, bits)}",
         lambda n, m, bits: [("cmp", [R(r(n, bits)), R(r(m, bits))])]
         + ([("negs", [R(r(31, bits)), R(r(m, bits))])] if n == 31 else [])),
    Form("tst_reg", E.tst_reg, st.tuples(REG, REG, BITS),
         lambda: [t + (64,) for t in _reg_sweep(2, lambda *x: x)],
         lambda n, m, bits: f"tst {r(n, bits)}, {r(m, bits)}",
         lambda n, m, bits: [("tst", [R(r(n, bits)), R(r(m, bits))])]),
    _two_reg("neg", E.neg),
    _two_reg("mvn", E.mvn),
    Form("mov_reg", E.mov_reg, st.tuples(REG, REG, BITS),
         lambda: [t + (b_,) for t in _reg_sweep(2, lambda *x: x) for b_ in (32, 64)],
         lambda d, m, bits: f"orr {r(d, bits)}, {r(31, bits)}, {r(m, bits)}",
         lambda d, m, bits: [("mov", [R(r(d, bits)), R(r(m, bits))])]),
    _logic_imm("and", E.and_imm),
    _logic_imm("orr", E.orr_imm),
    _logic_imm("eor", E.eor_imm),
    _tst_imm(),
    _move_wide("movz", E.movz),
    _move_wide("movn", E.movn),
    _move_wide("movk", E.movk),
    _shift_imm("lsl", E.lsl_imm, "ubfm"),
    _shift_imm("lsr", E.lsr_imm, "ubfm"),
    _shift_imm("asr", E.asr_imm, "sbfm"),
    _ubfx(),
    Form("extr", E.extr, BITS.flatmap(lambda b: st.tuples(REG, REG, REG, st.integers(0, b - 1),
                                                         st.just(b))),
         lambda: [t + (7, 64) for t in _reg_sweep(3, lambda *x: x)]
         + [(1, 2, 3, n, b) for b in (32, 64) for n in (0, 1, b - 1)],
         lambda d, n, m, lsb, bits: f"extr {r(d, bits)}, {r(n, bits)}, {r(m, bits)}, #{lsb}",
         lambda d, n, m, lsb, bits: [("extr", [R(r(x, bits)) for x in (d, n, m)] + [I(lsb)])]
         + ([("ror", [R(r(d, bits)), R(r(n, bits)), I(lsb)])] if n == m else [])),
    Form("ror_imm", E.ror_imm, BITS.flatmap(lambda b: st.tuples(REG, REG, st.integers(0, b - 1),
                                                               st.just(b))),
         lambda: _reg_sweep(2, lambda a, b_: (a, b_, 5, 64))
         + [(1, 2, n, b) for b in (32, 64) for n in (0, 1, b - 1)],
         lambda d, n, k, bits: f"ror {r(d, bits)}, {r(n, bits)}, #{k}",
         lambda d, n, k, bits: [("ror", [R(r(d, bits)), R(r(n, bits)), I(k)])]),
    _two_reg("sxtb", E.sxtb, rn_bits=lambda b: 32),
    _two_reg("sxth", E.sxth, rn_bits=lambda b: 32),
    Form("sxtw", E.sxtw, st.tuples(REG, REG),
         lambda: _reg_sweep(2, lambda *x: x),
         lambda d, n: f"sxtw {r(d)}, {r(n, 32)}",
         lambda d, n: [("sxtw", [R(r(d)), R(r(n, 32))])]),
    Form("uxtb", E.uxtb, st.tuples(REG, REG), lambda: _reg_sweep(2, lambda *x: x),
         lambda d, n: f"uxtb {r(d, 32)}, {r(n, 32)}",
         lambda d, n: [("uxtb", [R(r(d, 32)), R(r(n, 32))])]),
    Form("uxth", E.uxth, st.tuples(REG, REG), lambda: _reg_sweep(2, lambda *x: x),
         lambda d, n: f"uxth {r(d, 32)}, {r(n, 32)}",
         lambda d, n: [("uxth", [R(r(d, 32)), R(r(n, 32))])]),
    _two_reg("rev", E.rev),
    _two_reg("rev16", E.rev16),
    Form("rev32", E.rev32, st.tuples(REG, REG), lambda: _reg_sweep(2, lambda *x: x),
         lambda d, n: f"rev32 {r(d)}, {r(n)}",
         lambda d, n: [("rev32", [R(r(d)), R(r(n))])]),
    _ldst_imm(),
    _ldst_unscaled(),
    _ldst_reg(),
    _pair("stp", E.stp),
    _pair("ldp", E.ldp),
    _single_idx("str_pre", E.str_pre, "pre"),
    _single_idx("ldr_post", E.ldr_post, "post"),
    _excl_load("ldxr", E.ldxr),
    _excl_load("ldaxr", E.ldaxr),
    _excl_store("stxr", E.stxr),
    _excl_store("stlxr", E.stlxr),
    _lse(),
    _cas(),
    _branch19("b.cond", E.b_cond, with_reg=False),
    _branch19("cbz", E.cbz, with_reg=True),
    _branch19("cbnz", E.cbnz, with_reg=True),
    _tb("tbz", E.tbz),
    _tb("tbnz", E.tbnz),
    _b26("b", E.b),
    _b26("bl", E.bl),
    _breg("br", E.br),
    _breg("blr", E.blr),
    _breg("ret", E.ret),
    _fixed("nop", E.nop, "nop", [("nop", [])]),
    _fixed("dmb_ish", E.dmb_ish, "dmb ish", [("dmb", [("barrier", csa.ARM64_BARRIER_ISH)])]),
    Form("brk", E.brk, st.tuples(st.integers(0, 0xFFFF)),
         lambda: [(v,) for v in (0, 1, 0x800, 0xFFFF)],
         lambda v: f"brk #{v:#x}", lambda v: [("brk", [I(v)])]),
]
FORM_IDS = [f"{f.name}-{i}" for i, f in enumerate(FORMS)]


# ---------------------------------------------------------------- 2. capstone

@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(data=st.data())
def test_capstone_decodes_form(form: Form, data: st.DataObject) -> None:
    args = data.draw(form.draw)
    word = form.fn(*args)
    assert type(word) is int and 0 <= word < 1 << 32
    got = narrow(decode(word))
    want = form.cs(*args)
    assert got in [narrow((m, list(ops))) for m, ops in want], (
        f"{form.name}{args} = {word:#010x}: capstone says {got}, want one of {want}")


# ---------------------------------------------------------------- 3. GNU as and llvm-mc

def _sweep() -> tuple[list[str], list[int]]:
    lines, words = [], []
    for form in FORMS:
        for args in form.edges():
            lines.append(form.asm(*args))
            words.append(form.fn(*args))
    return lines, words


def _check_assembler(assemble: Callable[[str, str], bytes | None], tool: str) -> None:
    lines, words = _sweep()
    code = assemble(ARCH, "\n".join(lines))
    if code is None:
        pytest.skip(f"{tool} is not installed")
    got = struct.unpack(f"<{len(words)}I", code[:4 * len(words)])
    bad = [(line, f"{w:#010x}", f"{g:#010x}") for line, w, g in zip(lines, words, got) if w != g]
    assert not bad, f"{len(bad)} of {len(words)} differ, first: {bad[:5]}"


def test_sweep_matches_gnu_as() -> None:
    _check_assembler(oracles.gnu_as, "aarch64-linux-gnu-as")


def test_sweep_matches_llvm_mc() -> None:
    _check_assembler(oracles.llvm_mc, "llvm-mc-19")


def test_sweep_is_large() -> None:
    """Every form contributes: all 32 numbers in each register position and its edges."""
    lines, _ = _sweep()
    assert len(lines) > 3000


@pytest.mark.parametrize("form", FORMS, ids=FORM_IDS)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(data=st.data())
def test_random_args_match_gnu_as(form: Form, data: st.DataObject) -> None:
    """Hypothesis draws assembled by GNU as (a few per form: one process each)."""
    args = data.draw(form.draw)
    code = oracles.gnu_as(ARCH, form.asm(*args))
    if code is None:
        pytest.skip("aarch64-linux-gnu-as is not installed")
    assert struct.unpack_from("<I", code)[0] == form.fn(*args), form.asm(*args)


# ---------------------------------------------------------------- 1. golden rows
# Words from aarch64-linux-gnu-as -march=armv8.1-a; text as capstone prints it at PC.

G = Gpr
GOLDEN: list[tuple[Callable[[], int], int, str]] = [
    (lambda: E.add_imm(G.X1, G.X2, 4095), 0x913FFC41, "add x1, x2, #0xfff"),
    (lambda: E.add_imm(G.X1, G.X2, 4096, 32), 0x11400441, "add w1, w2, #1, lsl #12"),
    (lambda: E.sub_imm(E.SP, E.SP, 32), 0xD10083FF, "sub sp, sp, #0x20"),
    (lambda: E.cmp_imm(G.X3, 7, 32), 0x71001C7F, "cmp w3, #7"),
    (lambda: E.cmn_imm(G.X3, 1), 0xB100047F, "cmn x3, #1"),
    (lambda: E.add_reg(G.X1, G.X2, G.X3), 0x8B030041, "add x1, x2, x3"),
    (lambda: E.sub_reg(G.X25, G.X25, G.X7, 32), 0x4B070339, "sub w25, w25, w7"),
    (lambda: E.neg(G.X1, G.X1), 0xCB0103E1, "neg x1, x1"),
    (lambda: E.mov_reg(G.X0, G.X7), 0xAA0703E0, "mov x0, x7"),
    (lambda: E.mov_reg(G.X0, G.X0, 32), 0x2A0003E0, "mov w0, w0"),
    (lambda: E.and_imm(G.X1, G.X2, 0xFF), 0x92401C41, "and x1, x2, #0xff"),
    (lambda: E.orr_imm(G.X1, G.ZR, 0x5555_5555_5555_5555), 0xB200F3E1,
     "mov x1, #0x5555555555555555"),
    (lambda: E.eor_imm(G.X1, G.X2, 0x8000_0000, 32), 0x52010041, "eor w1, w2, #0x80000000"),
    (lambda: E.tst_imm(G.X1, 1), 0xF240003F, "tst x1, #1"),
    (lambda: E.movz(G.X1, 0x1234, 16), 0xD2A24681, "mov x1, #0x12340000"),
    (lambda: E.movn(G.X1, 0, 0, 32), 0x12800001, "mov w1, #-1"),
    (lambda: E.movk(G.X1, 0xFFFF, 48), 0xF2FFFFE1, "movk x1, #0xffff, lsl #48"),
    (lambda: E.lsl_imm(G.X1, G.X2, 3), 0xD37DF041, "lsl x1, x2, #3"),
    (lambda: E.lsr_imm(G.X1, G.X2, 3, 32), 0x53037C41, "lsr w1, w2, #3"),
    (lambda: E.asr_imm(G.X1, G.X2, 63), 0x937FFC41, "asr x1, x2, #0x3f"),
    (lambda: E.sxtw(G.X1, G.X2), 0x93407C41, "sxtw x1, w2"),
    (lambda: E.ror_imm(G.X22, G.X3, 28, 32), 0x13837076, "ror w22, w3, #0x1c"),
    (lambda: E.uxth(G.X1, G.X1), 0x53003C21, "uxth w1, w1"),
    (lambda: E.mul(G.X1, G.X2, G.X3), 0x9B037C41, "mul x1, x2, x3"),
    (lambda: E.msub(G.X1, G.X12, G.X3, G.X1, 32), 0x1B038581, "msub w1, w12, w3, w1"),
    (lambda: E.udiv(G.X1, G.X2, G.X3), 0x9AC30841, "udiv x1, x2, x3"),
    (lambda: E.sdiv(G.X1, G.X2, G.X3, 32), 0x1AC30C41, "sdiv w1, w2, w3"),
    (lambda: E.lslv(G.X1, G.X2, G.X3), 0x9AC32041, "lsl x1, x2, x3"),
    (lambda: E.asrv(G.X1, G.X2, G.X3, 32), 0x1AC32841, "asr w1, w2, w3"),
    (lambda: E.rev(G.X1, G.X2), 0xDAC00C41, "rev x1, x2"),
    (lambda: E.rev16(G.X1, G.X2, 32), 0x5AC00441, "rev16 w1, w2"),
    (lambda: E.ldst_imm("ldr_x", G.X1, G.X2, 8), 0xF9400441, "ldr x1, [x2, #8]"),
    (lambda: E.ldst_imm("ldrsw", G.X1, G.X2, 4), 0xB9800441, "ldrsw x1, [x2, #4]"),
    (lambda: E.ldst_imm("strb", G.ZR, G.X25, 4095), 0x393FFF3F, "strb wzr, [x25, #0xfff]"),
    (lambda: E.ldst_unscaled_imm("ldr_x", G.X1, G.X25, -256), 0xF8500321,
     "ldur x1, [x25, #-0x100]"),
    (lambda: E.ldst_reg("ldr_x", G.X10, G.X10, G.X11, True), 0xF86B794A,
     "ldr x10, [x10, x11, lsl #3]"),
    (lambda: E.stp(G.X30, G.X19, E.SP, -32, "pre"), 0xA9BE4FFE, "stp x30, x19, [sp, #-0x20]!"),
    (lambda: E.ldp(G.X30, G.X19, E.SP, 32, "post"), 0xA8C24FFE, "ldp x30, x19, [sp], #0x20"),
    (lambda: E.str_pre(G.X30, E.SP, -16), 0xF81F0FFE, "str x30, [sp, #-0x10]!"),
    (lambda: E.ldxr(G.X11, G.X10, 32), 0x885F7D4B, "ldxr w11, [x10]"),
    (lambda: E.stlxr(G.X13, G.X12, G.X10), 0xC80DFD4C, "stlxr w13, x12, [x10]"),
    (lambda: E.lse_op("ldadd", G.X1, G.X1, G.X10, 64, True, True), 0xF8E10141,
     "ldaddal x1, x1, [x10]"),
    (lambda: E.lse_op("ldadd", G.X1, G.ZR, G.X10, 32), 0xB821015F, "stadd w1, [x10]"),
    (lambda: E.cas(G.X7, G.X1, G.X10, 32, True, True), 0x88E7FD41, "casal w7, w1, [x10]"),
    (lambda: E.b_cond(Cond.NE, 8), 0x54000041, "b.ne #0x400008"),
    (lambda: E.cbz(G.X10, -12), 0xB4FFFFAA, "cbz x10, #0x3ffff4"),
    (lambda: E.tbnz(G.X1, 63, 8), 0xB7F80041, "tbnz x1, #0x3f, #0x400008"),
    (lambda: E.b(-4), 0x17FFFFFF, "b #0x3ffffc"),
    (lambda: E.bl(8), 0x94000002, "bl #0x400008"),
    (lambda: E.blr(G.X10), 0xD63F0140, "blr x10"),
    (lambda: E.br(G.X10), 0xD61F0140, "br x10"),
    (lambda: E.ret(), 0xD65F03C0, "ret"),
    (lambda: E.dmb_ish(), 0xD5033BBF, "dmb ish"),
]


PC_RELATIVE = {"b.ne", "cbz", "tbnz", "b", "bl"}


@pytest.mark.parametrize("call,word,text", GOLDEN, ids=[g[2] for g in GOLDEN])
def test_golden(call, word, text) -> None:
    got = call()
    assert got == word, f"{got:#010x} != {word:#010x}"
    i = next(CS.disasm(struct.pack("<I", word), PC))
    assert f"{i.mnemonic} {i.op_str}".strip() == text


def test_golden_rows_match_gnu_as() -> None:
    """The golden words are what GNU as writes for the golden text (PC-relative rows
    are spelled relative to `.` instead)."""
    texts, words = [], []
    for call, word, text in GOLDEN:
        if text.split()[0] in PC_RELATIVE:
            continue
        texts.append(text)
        words.append(word)
    code = oracles.gnu_as(ARCH, "\n".join(texts))
    if code is None:
        pytest.skip("aarch64-linux-gnu-as is not installed")
    assert list(struct.unpack(f"<{len(words)}I", code[:4 * len(words)])) == words


# ---------------------------------------------------------------- 4. ranges and bitmasks

@pytest.mark.parametrize("call,field", [
    (lambda: E.add_imm(G.X1, G.X2, 0x1001), "imm"),
    (lambda: E.add_imm(G.X1, G.X2, -1), "imm"),
    (lambda: E.movz(G.X1, 0x10000), "imm16"),
    (lambda: E.movz(G.X1, 1, 32, 32), "hw"),
    (lambda: E.movz(G.X1, 1, 8), "shift"),
    (lambda: E.and_imm(G.X1, G.X2, 0), "imm"),
    (lambda: E.and_imm(G.X1, G.X2, M64), "imm"),
    (lambda: E.and_imm(G.X1, G.X2, 0x1234), "imm"),
    (lambda: E.lsl_imm(G.X1, G.X2, 64), "shift"),
    (lambda: E.lsl_imm(G.X1, G.X2, 32, 32), "shift"),
    (lambda: E.ldst_imm("ldr_x", G.X1, G.X2, 4), "off"),
    (lambda: E.ldst_imm("ldr_x", G.X1, G.X2, 8 * 4096), "imm12"),
    (lambda: E.ldst_unscaled_imm("ldr_x", G.X1, G.X2, 256), "imm9"),
    (lambda: E.stp(G.X1, G.X2, E.SP, 512), "imm7"),
    (lambda: E.b_cond(Cond.EQ, 1 << 20), "disp"),
    (lambda: E.b_cond(Cond.EQ, 2), "disp"),
    (lambda: E.b(1 << 27), "disp"),
    (lambda: E.tbz(G.X1, 64, 0), "bit"),
    (lambda: E.tbz(G.X1, 1, 1 << 15), "disp"),
    (lambda: E.add_reg(G.X1, G.X2, G.X3, 32, Shift.LSL, 32), "imm6"),
    (lambda: E.add_reg(G.X1, G.X2, G.X3, 64, Shift.ROR, 1), "ROR"),
    (lambda: E.add_imm(G.X1, G.X2, 1, 16), "bits"),
    (lambda: E.add_reg(32, G.X2, G.X3), "rd"),
])
def test_out_of_range_raises_naming_the_field(call, field) -> None:
    with pytest.raises(EncodingError, match=field):
        call()


@pytest.mark.parametrize("bits", (32, 64))
def test_bitmask_encodes_exactly_the_logical_immediates(bits) -> None:
    """Every value the architecture can express round-trips through the encoder and
    capstone; a sample of others is refused."""
    valid = set(BITMASKS[bits])
    assert len(valid) == (5334 if bits == 64 else 1302)
    for v in BITMASKS[bits]:
        n, immr, imms = E.bitmask(v, bits)
        word = E.logic_imm(bits == 64, 0, n, immr, imms, 1, 2)
        mn, ops = decode(word)
        assert (mn, ops[2]) == ("and", I(v)), (hex(v), mn, ops)
    for v in (0, (1 << bits) - 1, 0x1234, 0x12345678, 5, 0xF0F0_F0F1):
        assert (v in valid) == (E.bitmask(v, bits) is not None)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, M64))
def test_bitmask_refuses_what_is_not_a_pattern(v) -> None:
    assert (E.bitmask(v, 64) is not None) == (v in set(BITMASKS[64]))


def test_invert_flips_each_condition() -> None:
    pairs = {Cond.EQ: Cond.NE, Cond.HS: Cond.LO, Cond.HI: Cond.LS, Cond.GE: Cond.LT,
             Cond.GT: Cond.LE, Cond.MI: Cond.PL}
    for a, b_ in pairs.items():
        assert E.invert(a) == b_ and E.invert(b_) == a
