"""LIR -> A64 instruction words: one method per LIR op type, encoders from enc.py.

This module owns instruction selection: which A64 instructions implement each
LIR op, with the one-instruction forms wherever an operand fits them (add/sub
imm12 and imm12 << 12, logical "bitmask" immediates, scaled and unscaled load
/store offsets, cbz/cbnz and tbz/tbnz for compares with zero) and movz/movn/
movk sequences otherwise.  It does not own the register map (regs.py), the
frame and the runner's view (abi.py) or encodings (enc.py).

Two kinds of op, as in the x86-64 emitter:
- "pure" ops, whose words depend only on their operands (ALU, loads, stores,
  atomics, constants): a method returns the words, memoised as bytes by the
  op's fields (everything but `pc`) for the compile, so a 100k-op program
  encodes each distinct instruction once;
- control ops (branches, calls, exits, symbols, tail calls), which need the
  code buffer's labels, branch relaxation or fixed-size holes.

32-bit semantics.  Every A64 instruction that writes a W register clears the
upper 32 bits of the X register, so ALU32 results need nothing more
(caps.alu32_zext): `w1 += w2` is one `add w0, w0, w1`.  Shifts by a register
use the hardware's masking to 5 or 6 bits, as eBPF wants.  Division: udiv/sdiv
give x / 0 == 0 and INT_MIN / -1 == INT_MIN without trapping; the lowering has
guarded both anyway, and a modulo is `div` + `msub`.

Atomics.  With the default CPU (ARMv8.0) they are ldxr/stxr loops (the fetch
forms with stlxr + dmb ish, as the kernel's arm64 JIT does); with
--cpu armv8.1-a they are single LSE instructions (stadd/ldaddal, ldclral of
the complement for AND, swpal, casal).

r10 is x25, a pointer into the runner's STACK region; the only code that
moves it is the `sub`/`add` bracket around a CallLocal (abi.py).
"""
from __future__ import annotations

import struct
from functools import lru_cache
from typing import Callable

from backends.base import CONTROL_OPS, EmitContext, PURE_OPS, bind_ops, c_called
from backends.aarch64 import enc as E
from backends.aarch64.abi import FuncFrame, func_frame
from backends.aarch64.enc import Cond as CC, Gpr
from backends.aarch64.regs import (CONST_CALLEE_SAVED, CONST_CALLER_SAVED, FP, HOME, T1, T2, T3,
                                   T4, regmap)
from jit import lir
from jit.buffer import BranchForm
from jit.errors import EncodingError, UnsupportedError
from jit.lir import AtomicOp, Cond, Imm, Op, Symbol, SymKind

ZR, SP = E.ZR, E.SP
M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF
# CPU models with the ARMv8.1 LSE atomics (abi.py's docstring: Unicorn's "max")
LSE_CPUS = frozenset({"armv8.1-a"})
# A helper within this distance of the code is called with `bl` (the margin keeps a
# form chosen before layout valid whatever the code size)
NEAR = E.B_REACH - (1 << 24)
LOW = (1 << 32) - (1 << 28)     # code below this: function addresses in movz + movk

# LIR condition -> the A64 condition after `cmp a, b` (SET: after `tst a, b`)
BCOND = {Cond.EQ: CC.EQ, Cond.NE: CC.NE, Cond.GT: CC.HI, Cond.GE: CC.HS, Cond.LT: CC.LO,
         Cond.LE: CC.LS, Cond.SGT: CC.GT, Cond.SGE: CC.GE, Cond.SLT: CC.LT, Cond.SLE: CC.LE,
         Cond.SET: CC.NE}
# ops with a three-register form and, for immediates, the bitmask form
LOGIC_REG = {Op.AND: E.and_reg, Op.OR: E.orr_reg, Op.XOR: E.eor_reg}
LOGIC_IMM = {Op.AND: E.and_imm, Op.OR: E.orr_imm, Op.XOR: E.eor_imm}
SHIFT_REG = {Op.LSH: E.lslv, Op.RSH: E.lsrv, Op.ARSH: E.asrv}
SHIFT_IMM = {Op.LSH: E.lsl_imm, Op.RSH: E.lsr_imm, Op.ARSH: E.asr_imm}
DIVIDE = {Op.DIV: (E.udiv, False), Op.MOD: (E.udiv, True),     # (divide, remainder?)
          Op.SDIV: (E.sdiv, False), Op.SMOD: (E.sdiv, True)}
LOADS = {(1, False): "ldrb", (2, False): "ldrh", (4, False): "ldr_w", (8, False): "ldr_x",
         (1, True): "ldrsb", (2, True): "ldrsh", (4, True): "ldrsw", (8, True): "ldr_x"}
STORES = {1: "strb", 2: "strh", 4: "str_w", 8: "str_x"}
# LL/SC loop body op and LSE instruction of each atomic ALU op
ATOMIC_REG = {AtomicOp.ADD: E.add_reg, AtomicOp.OR: E.orr_reg, AtomicOp.AND: E.and_reg,
              AtomicOp.XOR: E.eor_reg}
ATOMIC_LSE = {AtomicOp.ADD: "ldadd", AtomicOp.OR: "ldset", AtomicOp.XOR: "ldeor",
              AtomicOp.AND: "ldclr"}

_MOV, _SET = Op.MOV, Cond.SET
# ops that take a shifted register operand, and the shift of each LIR shift op
SHIFTED_OPS = {Op.ADD: E.add_reg, Op.SUB: E.sub_reg, Op.AND: E.and_reg, Op.OR: E.orr_reg,
               Op.XOR: E.eor_reg}
SHIFT_KIND = {Op.LSH: E.Shift.LSL, Op.RSH: E.Shift.LSR, Op.ARSH: E.Shift.ASR}
Shift = E.Shift
LOOKAHEAD = 16                  # ops `shifted_pair` looks ahead within a block
_SIMPLE = frozenset({lir.Neg, lir.Zext, lir.Bswap, lir.Trunc})


def _rw(op) -> tuple[tuple, tuple] | None:
    """(eBPF registers read, written) by a straight-line op; None for a label, branch,
    call or exit (where anything may be read next)."""
    t = type(op)
    if t is lir.Alu:
        src = op.src
        reads = () if op.op is _MOV else (op.dst,)
        return (reads + (src,) if type(src) is int else reads), (op.dst,)
    if t in _SIMPLE:
        return (op.dst,), (op.dst,)
    if t is lir.MovSx:
        return (op.src,), (op.dst,)
    if t is lir.LoadImm or t is lir.LoadAddr:
        return (), (op.dst,)
    if t is lir.Load:
        return (op.base,), (op.dst,)
    if t is lir.Store:
        return ((op.base, op.src) if type(op.src) is int else (op.base,)), ()
    if t is lir.Atomic:
        return (op.base, op.src, 0), (op.src, 0)
    return None


def _pack(words) -> bytes:
    return struct.pack(f"<{len(words)}I", *words)


# ---------------------------------------------------------------- constants

@lru_cache(maxsize=16384)
def mov_imm(rd: Gpr, value: int, bits: int = 64) -> tuple:
    """rd = value (taken modulo 2^bits; a 32-bit form zero-extends): the fewest words
    among movz/movn + movk and a logical immediate (orr rd, zr, #value)."""
    value &= M64 if bits == 64 else M32
    if bits == 64 and value <= M32:
        bits = 32                                       # w forms zero-extend: same value
    n = bits // 16
    halves = [(value >> (16 * i)) & 0xFFFF for i in range(n)]
    nonzero = [i for i in range(n) if halves[i]]
    nonones = [i for i in range(n) if halves[i] != 0xFFFF]
    if len(nonzero) <= 1:
        i = nonzero[0] if nonzero else 0
        return (E.movz(rd, halves[i], 16 * i, bits),)
    if len(nonones) <= 1:
        i = nonones[0] if nonones else 0
        return (E.movn(rd, ~halves[i] & 0xFFFF, 16 * i, bits),)
    if E.bitmask(value, bits) is not None:
        return (E.orr_imm(rd, ZR, value, bits),)
    if len(nonzero) <= len(nonones):
        first, rest = nonzero[0], nonzero[1:]
        out = [E.movz(rd, halves[first], 16 * first, bits)]
    else:
        first, rest = nonones[0], nonones[1:]
        out = [E.movn(rd, ~halves[first] & 0xFFFF, 16 * first, bits)]
    out += [E.movk(rd, halves[i], 16 * i, bits) for i in rest]
    # a logical immediate for all but one halfword, then one movk: two words
    if len(out) > 2:
        for i in range(n):
            for fill in (0, 0xFFFF):
                v = value & ~(0xFFFF << (16 * i)) | fill << (16 * i)
                if v != value and E.bitmask(v, bits) is not None:
                    return (E.orr_imm(rd, ZR, v, bits), E.movk(rd, halves[i], 16 * i, bits))
    return tuple(out)


def addr_words(rd: Gpr, addr: int, wide: bool | None = None) -> list[tuple[int, str]]:
    """A fixed movz/movk sequence for an absolute address, each word with its
    relocation kind: 2 words below 4 GiB (g1 + g0_nc), else 4 (g3 .. g0_nc);
    `wide` forces one size (an address known only after layout)."""
    addr &= M64
    if wide is None:
        wide = addr > M32
    if not wide:
        if addr > M32:
            raise EncodingError(f"address {addr:#x} does not fit a movz/movk pair")
        return [(E.movz(rd, addr >> 16 & 0xFFFF, 16), "g1"),
                (E.movk(rd, addr & 0xFFFF, 0), "g0_nc")]
    return [(E.movz(rd, addr >> 48 & 0xFFFF, 48), "g3"),
            (E.movk(rd, addr >> 32 & 0xFFFF, 32), "g2_nc"),
            (E.movk(rd, addr >> 16 & 0xFFFF, 16), "g1_nc"),
            (E.movk(rd, addr & 0xFFFF, 0), "g0_nc")]


@lru_cache(maxsize=4096)
def _addr_code(rd: Gpr, addr: int) -> tuple[list, bytes]:
    words = addr_words(rd, addr)
    return [k for _, k in words], _pack([w for w, _ in words])


def add_const(rd: Gpr, rn: Gpr, v: int, bits: int, tmp: Gpr) -> tuple:
    """rd = rn + v (modulo 2^bits): one add/sub immediate, two for 24-bit values,
    else the constant in `tmp` (rn 31 is sp only in the immediate forms)."""
    mask = M64 if bits == 64 else M32
    v &= mask
    for val, fn in ((v, E.add_imm), ((-v) & mask, E.sub_imm)):
        if val <= 0xFFF or (val & 0xFFF == 0 and val <= 0xFFF000):
            if val == 0:
                return () if rd == rn and bits == 64 else (E.mov_reg(rd, rn, bits),)
            return (fn(rd, rn, val, bits),)
    for val, fn in ((v, E.add_imm), ((-v) & mask, E.sub_imm)):
        if val <= 0xFFFFFF:
            return (fn(rd, rn, val & 0xFFF000, bits), fn(rd, rd, val & 0xFFF, bits))
    return mov_imm(tmp, v, bits) + (E.add_reg(rd, rn, tmp, bits),)


# ---------------------------------------------------------------- branch forms
# `disp` from the buffer is target - start of the form; A64 counts from the branch.

def _fits_bcond(disp: int) -> bool:
    return -E.BCOND_REACH <= disp < E.BCOND_REACH


def _fits_tb(disp: int) -> bool:
    return -E.TB_REACH <= disp < E.TB_REACH


def _fits_long(disp: int) -> bool:                  # the `b` is the form's second word
    return E.fits_b(disp - 4)


def _always(disp: int) -> bool:
    return True


def _two_forms(short: Callable[[int], int], inverse: Callable[[int], int],
               fits: Callable[[int], bool]) -> tuple:
    """A conditional branch (4 bytes) and its long form: the inverse condition skips
    a `b` (8 bytes, +-128 MiB)."""
    return (BranchForm(4, fits, lambda d, at: short(d).to_bytes(4, "little")),
            BranchForm(8, _fits_long,
                       lambda d, at: _pack((inverse(8), E.b(d - 4)))))


@lru_cache(maxsize=None)
def bcond_forms(cc: CC) -> tuple:
    inv = E.invert(cc)
    return _two_forms(lambda d: E.b_cond(cc, d), lambda d: E.b_cond(inv, d), _fits_bcond)


@lru_cache(maxsize=4096)
def cbz_forms(zero: bool, rt: Gpr, bits: int) -> tuple:
    yes, no = (E.cbz, E.cbnz) if zero else (E.cbnz, E.cbz)
    return _two_forms(lambda d: yes(rt, d, bits), lambda d: no(rt, d, bits), _fits_bcond)


@lru_cache(maxsize=4096)
def tb_forms(set_: bool, rt: Gpr, bit: int) -> tuple:
    yes, no = (E.tbnz, E.tbz) if set_ else (E.tbz, E.tbnz)
    return _two_forms(lambda d: yes(rt, bit, d), lambda d: no(rt, bit, d), _fits_tb)


JUMP_FORMS = (BranchForm(4, E.fits_b, lambda d, at: E.b(d).to_bytes(4, "little")),)
CALL_FORMS = (BranchForm(4, E.fits_b, lambda d, at: E.bl(d).to_bytes(4, "little")),)


class Emitter:
    """Emits each function of one LirProgram into the compile's CodeBuffer (backends.base
    drives it: `function` per LirFunc, then `finish`)."""

    def __init__(self, ctx: EmitContext) -> None:
        self.ctx = ctx
        self.prog = ctx.lir
        self.link = ctx.link
        self.base = ctx.base
        self.buf = ctx.buf
        self.R = regmap(ctx.rotate)
        # functions C calls (the entry, and callbacks whose address the program takes)
        # return r0 in x0 too; a bpf-to-bpf callee leaves x0 (the caller's r1) as it was,
        # as the interpreter leaves r1-r5 after a call
        self.c_called = c_called(ctx.lir)
        if self.R[:10] != HOME and any(f.calls or f.tail_calls for f in self.prog.funcs):
            raise UnsupportedError("a rotated register map is for call-free programs only "
                                   "(helpers and subprograms expect AAPCS64's registers)")
        self.lse = ctx.cpu in LSE_CPUS
        self.relocs = ctx.relocs
        self.sites = ctx.sites
        self.entries = [fl.entry for fl in ctx.funcs]
        self.frame: FuncFrame | None = None
        self.call_local_frame: tuple = (b"", b"")
        self.exit_label = -1
        self.last_op = None
        self.inline_exit = False
        self.pure = bind_ops(self, PURE_OPS)
        self.control = bind_ops(self, CONTROL_OPS)
        # what `choose_constants` runs (with no constant registers) to see the constants
        # an op builds in t2
        self.probes = {lir.Alu: self.emit_alu, lir.LoadImm: self.emit_load_imm,
                       lir.Store: self.emit_store, lir.Branch: self.probe_branch}
        self.cache_sets: dict = {}      # constant registers -> (op caches, branch, fused)
        self.caches: dict = {}
        self.branch_cache: dict = {}
        self.fused_cache: dict = {}
        self.survey_cache: dict = {}    # op fields -> constants it would build in t2
        self.kregs: dict = {}           # constant -> register holding it (this function)
        self.survey: list | None = None
        self.helpers: dict = {}

    # ------------------------------------------------------------ constants in registers
    def choose_constants(self, f: lir.LirFunc) -> dict:
        """Constants this function builds in t2 inside loops go in spare registers
        loaded by the prologue (most uses times words first): caller-saved ones in a
        leaf, callee-saved ones (saved by the frame) in a function that calls."""
        ops = f.ops
        where = {op.id: i for i, op in enumerate(ops) if type(op) is lir.Label}
        depth = [0] * (len(ops) + 1)
        for i, op in enumerate(ops):                    # backward branches: loop bodies
            t = type(op)
            if t is lir.Branch or t is lir.Jump:
                j = where.get(op.target)
                if j is not None and j < i:
                    depth[j] += 1
                    depth[i + 1] -= 1
        if not any(depth):
            return {}                                   # no loops
        score: dict = {}
        inside = 0
        cache = self.survey_cache
        probes = self.probes
        Alu, Branch, Store, LoadImm = lir.Alu, lir.Branch, lir.Store, lir.LoadImm
        for i, op in enumerate(ops):
            inside += depth[i]
            if not inside:
                continue
            t = type(op)
            if t is Alu or t is Store:
                if type(op.src) is not Imm:
                    continue
            elif t is Branch:
                if type(op.b) is not Imm:
                    continue
            elif t is not LoadImm:
                continue
            key = (t, op[:-1])
            found = cache.get(key)
            if found is None:
                self.survey = []
                probes[t](op)
                found = cache[key] = tuple(self.survey)
                self.survey = None
            for v in found:
                score[v] = score.get(v, 0) + 1
        if not score:
            return {}
        homes = set(self.R[:10])
        spare = [r for r in (CONST_CALLEE_SAVED if f.calls else CONST_CALLER_SAVED)
                 if r not in homes]
        wanted = sorted(score, key=lambda v: -score[v] * len(mov_imm(T2, v, 64)))
        return dict(zip(wanted, spare))

    # ------------------------------------------------------------ driver
    def function(self, f: lir.LirFunc) -> None:
        buf = self.buf
        self.kregs = {}
        self.kregs = kregs = self.choose_constants(f)
        extra = tuple(r for r in kregs.values() if r in CONST_CALLEE_SAVED)
        self.frame = ff = func_frame(f, self.R, extra, c_return=f.index in self.c_called)
        d = f.stack_depth
        self.call_local_frame = ((_pack((E.sub_imm(FP, FP, d),)), _pack((E.add_imm(FP, FP, d),)))
                                 if d else (b"", b""))
        buf.bind(self.entries[f.index])
        if f.index == 0 and self.prog.tail_calls:
            self.zero_tail_count()
        buf.bind(self.ctx.funcs[f.index].tail)     # a tail call lands past the count reset
        buf.emit(_pack(ff.prologue))
        for v, k in kregs.items():                  # the function's constant registers
            buf.emit(_pack(mov_imm(k, v, 64)))
        self.exit_label = buf.new_label()
        self.epilogue = _pack(ff.epilogue)
        self.inline_exit = len(ff.epilogue) <= 3
        ops = f.ops
        self.last_op = ops[-1] if ops else None
        kkey = tuple(kregs.items())
        sets = self.cache_sets.get(kkey)
        if sets is None:
            sets = self.cache_sets[kkey] = ({t: {} for t in self.pure}, {}, {})
        self.caches, self.branch_cache, fused_cache = sets
        how = {t: (self.caches[t], fn) for t, fn in self.pure.items()}
        how.update((t, (None, fn)) for t, fn in self.control.items())
        emit, mark, mark_emit, bind = buf.emit, buf.mark, buf.mark_emit, buf.bind
        Label, Alu, MOV = lir.Label, lir.Alu, _MOV
        last_pc = None
        deferred: dict = {}             # op index -> (a, shift, k): its operand is a <shift> k
        n = len(ops)
        i = 0
        while i < n:
            op = ops[i]
            i += 1
            t = type(op)
            if t is Label:
                bind(op.id)
                continue
            pc = op.pc
            if deferred and i - 1 in deferred:
                # `d <op>= t` where t = a <shift> k was not computed: one shifted operand
                a, kind, k = deferred.pop(i - 1)
                R = self.R
                if pc != last_pc:
                    mark(pc)
                    last_pc = pc
                emit(_pack((SHIFTED_OPS[op.op](R[op.dst], R[op.dst], a, op.width, kind, k),)))
                continue
            if t is Alu and op.op is MOV and i < n and type(op.src) is int:
                nxt = ops[i]
                if type(nxt) is Alu and nxt.dst == op.dst and nxt.op is not MOV:
                    if nxt.op in SHIFT_KIND and type(nxt.src) is Imm:
                        # t = a <shift> k, feeding one later op as its shifted operand?
                        done = self.shifted_pair(ops, i + 1, op, nxt, deferred)
                        if done:
                            if pc != last_pc:
                                mark(pc)
                            last_pc = nxt.pc
                            if done is True:
                                mark(last_pc)
                            else:                       # a rotation: three ops, one word
                                mark_emit(last_pc, done)
                                i += 1
                            i += 1
                            continue
                    key = (op[:-1], nxt[:-1])
                    code = fused_cache.get(key)
                    if code is None:
                        words = self.fused(op, nxt)
                        code = fused_cache[key] = None if words is None else _pack(words)
                    if code is not None:
                        if pc != last_pc:
                            mark(pc)
                        last_pc = nxt.pc
                        mark_emit(last_pc, code)
                        i += 1
                        continue
            h = how.get(t)
            if h is None:
                mark(pc)
                raise UnsupportedError(f"aarch64 has no emitter for LIR {t.__name__}", pc=pc)
            cache, fn = h
            if cache is not None:
                key = op[:-1]
                code = cache.get(key)
                if code is None:
                    if pc != last_pc:
                        mark(pc)
                        last_pc = pc
                    code = cache[key] = _pack(fn(op))
                if pc != last_pc:
                    mark_emit(pc, code)
                    last_pc = pc
                else:
                    emit(code)
            else:
                if pc != last_pc:
                    mark(pc)
                    last_pc = pc
                fn(op)
        buf.bind(self.exit_label)
        buf.emit(self.epilogue)

    def finish(self) -> list:
        return []                       # no runtime routines

    def reloc_words(self, kinds: list, sym: Symbol) -> None:
        """Relocations of the words about to be emitted, one kind per word."""
        label = self.buf.new_label()
        self.buf.bind(label)
        self.relocs.extend((label, 4 * i, kind, sym) for i, kind in enumerate(kinds))

    def emit_addr(self, rd: Gpr, addr: int, sym: Symbol) -> None:
        """rd = addr in the fixed movz/movk form, with its relocations."""
        kinds, code = _addr_code(rd, addr)
        self.reloc_words(kinds, sym)
        self.buf.emit(code)

    # ------------------------------------------------------------ ALU
    def emit_alu(self, op: lir.Alu) -> tuple:
        D = self.R[op.dst]
        return self.alu3(op.op, op.width, D, D, op.src)

    def fused(self, mov: lir.Alu, op: lir.Alu) -> tuple | None:
        """`dst = s; dst <op>= x` as one three-operand `op dst, s, x` (eBPF is
        two-operand, A64 is not); None where that is not the same."""
        if mov.width == 32 and op.width == 64:
            return None                         # op64 would read s's upper half, not 0
        R = self.R
        D, S = R[mov.dst], R[mov.src]
        src = op.src
        if type(src) is not Imm and src == mov.dst:
            src = mov.src                       # dst's value there is s
        return self.alu3(op.op, op.width, D, S, src)

    def shifted_pair(self, ops: list, j: int, mov: lir.Alu, sh: lir.Alu,
                     deferred: dict) -> bool | bytes:
        """`t = a; t <shift>= k` (ops j-2, j-1) where t's only use before it dies is one
        later `d <op>= t` in the same block, a unchanged until then: record that op's
        shifted operand (True).  Or the pair completes a rotation with the op right
        after it, `d = a; d <<= k2; d |= t` where t = a >> (w - k2) was deferred: the
        three are one `ror` (its bytes).  False: emit the pair as usual."""
        w = sh.width
        if mov.width == 32 and w == 64 or mov.src == mov.dst:
            return False
        t, a = mov.dst, mov.src
        kind, k = SHIFT_KIND[sh.op], sh.src.value & (w - 1)
        if not k:
            return False
        R = self.R
        if j < len(ops):
            use = ops[j]
            pending = deferred.get(j)
            if (pending is not None and type(use) is lir.Alu and use.op is Op.OR
                    and use.dst == t and use.width == w and pending[0] == R[a]
                    and {pending[1], kind} == {Shift.LSL, Shift.LSR} and pending[2] + k == w):
                del deferred[j]
                right = k if kind == Shift.LSR else pending[2]
                return _pack((E.ror_imm(R[t], R[a], right, w),))
        end = min(len(ops), j + LOOKAHEAD)
        for u in range(j, end):
            rw = _rw(ops[u])
            if rw is None:
                return False
            reads, writes = rw
            if t in reads:
                use = ops[u]
                if not (type(use) is lir.Alu and use.op in SHIFTED_OPS and use.src == t
                        and use.dst != t and use.width == w and u not in deferred):
                    return False
                for v in range(u + 1, end):         # t must be dead after the use
                    rw = _rw(ops[v])
                    if rw is None or t in rw[0]:
                        return False
                    if t in rw[1]:
                        deferred[u] = (R[a], kind, k)
                        return True
                return False
            if t in writes or a in writes:
                return False
        return False

    def const(self, v: int, bits: int) -> tuple[tuple, Gpr]:
        """(words, register) holding the constant v (taken modulo 2^bits, a 32-bit one
        zero-extended): a register loaded in the prologue if one holds it, else t2."""
        v &= M64 if bits == 64 else M32
        k = self.kregs.get(v)
        if k is not None:
            return (), k
        if self.survey is not None:
            self.survey.append(v)
        return mov_imm(T2, v, bits), T2

    def alu3(self, aop: Op, bits: int, D: Gpr, A: Gpr, src) -> tuple:
        """D = A <op> src (A is D for an ordinary two-operand op)."""
        if type(src) is Imm:
            return self.alu_imm(aop, bits, D, A, src.value)
        S = self.R[src]
        if aop == Op.ADD:
            return (E.add_reg(D, A, S, bits),)
        if aop == Op.SUB:
            return (E.sub_reg(D, A, S, bits),)
        fn = LOGIC_REG.get(aop)
        if fn is not None:
            return (fn(D, A, S, bits),)
        if aop == _MOV:
            if D == S and bits == 64:
                return ()
            return (E.mov_reg(D, S, bits),)             # 32-bit: zero-extends
        if aop == Op.MUL:
            return (E.mul(D, A, S, bits),)
        fn = SHIFT_REG.get(aop)
        if fn is not None:
            return (fn(D, A, S, bits),)                 # the count is taken mod bits
        return self.divide(aop, bits, D, A, S)

    def divide(self, aop: Op, bits: int, D: Gpr, A: Gpr, S: Gpr) -> tuple:
        """D = A / S or A % S (the lowering has guarded zero and, signed, -1)."""
        div, remainder = DIVIDE[aop]
        if not remainder:
            return (div(D, A, S, bits),)
        return (div(T3, A, S, bits),                    # t3 = A / S
                E.msub(D, T3, S, A, bits))              # D = A - t3 * S

    def alu_imm(self, aop: Op, bits: int, D: Gpr, A: Gpr, v: int) -> tuple:
        mask = M64 if bits == 64 else M32
        v &= mask
        if aop == _MOV:
            k = self.kregs.get(v)
            if k is not None and len(mov_imm(D, v, bits)) > 1:
                return (E.mov_reg(D, k, 64),)           # the register holds it zero-extended
            if self.survey is not None and len(mov_imm(D, v, bits)) > 1:
                self.survey.append(v)
            return mov_imm(D, v, bits)
        if aop == Op.ADD or aop == Op.SUB:
            words = add_const(D, A, v if aop == Op.ADD else -v, bits, T2)
            if words and words[-1] == E.add_reg(D, A, T2, bits):     # needed a register
                pre, K = self.const(v if aop == Op.ADD else -v, bits)
                return pre + (E.add_reg(D, A, K, bits),)
            return words
        fn = LOGIC_IMM.get(aop)
        if fn is not None:
            keep = (aop == Op.AND and v == mask) or (aop != Op.AND and v == 0)
            if keep:                                    # A unchanged (32: zero-extended)
                if D == A and bits == 64:
                    return ()
                return (E.mov_reg(D, A, bits),)
            if aop == Op.AND and v == 0:
                return (E.movz(D, 0, 0, 32),)
            if aop == Op.OR and v == mask:
                return (E.movn(D, 0, 0, bits),)
            if aop == Op.XOR and v == mask:
                return (E.mvn(D, A, bits),)
            if E.bitmask(v, bits) is not None:
                return (fn(D, A, v, bits),)
            pre, K = self.const(v, bits)
            return pre + (LOGIC_REG[aop](D, A, K, bits),)
        fn = SHIFT_IMM.get(aop)
        if fn is not None:
            n = v & (bits - 1)
            if n == 0:
                if D == A and bits == 64:
                    return ()
                return (E.mov_reg(D, A, bits),)
            return (fn(D, A, n, bits),)
        pre, K = self.const(v, bits)
        if aop == Op.MUL:
            return pre + (E.mul(D, A, K, bits),)
        return pre + self.divide(aop, bits, D, A, K)

    def emit_neg(self, op: lir.Neg) -> tuple:
        D = self.R[op.dst]
        return (E.neg(D, D, op.width),)

    def emit_movsx(self, op: lir.MovSx) -> tuple:
        D, S, w = self.R[op.dst], self.R[op.src], op.width
        if op.bits == 8:
            return (E.sxtb(D, S, w),)
        if op.bits == 16:
            return (E.sxth(D, S, w),)
        if w == 64:
            return (E.sxtw(D, S),)
        return (E.mov_reg(D, S, 32),)                   # nothing to extend within 32 bits

    def emit_zext(self, op: lir.Zext) -> tuple:
        D = self.R[op.dst]
        return (E.mov_reg(D, D, 32),)

    def emit_bswap(self, op: lir.Bswap) -> tuple:
        D = self.R[op.dst]
        if op.bits == 16:
            return (E.rev16(D, D, 32),                  # D = bytes of each halfword swapped
                    E.uxth(D, D))                       # D = the low one, zero-extended
        if op.bits == 32:
            return (E.rev(D, D, 32),)                   # zero-extends
        return (E.rev(D, D, 64),)

    def emit_trunc(self, op: lir.Trunc) -> tuple:
        D = self.R[op.dst]
        if op.bits == 16:
            return (E.uxth(D, D),)
        if op.bits == 32:
            return (E.mov_reg(D, D, 32),)
        return ()

    def emit_load_imm(self, op: lir.LoadImm) -> tuple:
        D = self.R[op.dst]
        return self.alu_imm(_MOV, 64, D, D, op.value)

    # ------------------------------------------------------------ memory
    def address(self, name: str, base: Gpr, off: int) -> tuple[tuple, Gpr, int, bool]:
        """(words computing the address, base register, offset, scaled form?) of an
        access: the scaled unsigned or unscaled signed offset forms when `off` fits,
        else t1 = base + off (so the faulting instruction names the eBPF address as
        base + displacement, which the runner reads back)."""
        if E.ldst_fits_uimm(name, off):
            return (), base, off, True
        if -256 <= off <= 255:
            return (), base, off, False
        return add_const(T1, base, off, 64, T1), T1, 0, True

    def access(self, name: str, rt: Gpr, base: Gpr, off: int) -> tuple:
        pre, rn, o, scaled = self.address(name, base, off)
        if scaled:
            return pre + (E.ldst_imm(name, rt, rn, o),)
        return pre + (E.ldst_unscaled_imm(name, rt, rn, o),)

    def emit_load(self, op: lir.Load) -> tuple:
        return self.access(LOADS[op.size, op.signed], self.R[op.dst], self.R[op.base], op.off)

    def emit_store(self, op: lir.Store) -> tuple:
        name = STORES[op.size]
        src = op.src
        if type(src) is Imm:
            v = src.value & ((1 << (op.size * 8)) - 1)
            if v == 0:
                return self.access(name, ZR, self.R[op.base], op.off)
            pre, K = self.const(v, 64 if op.size == 8 else 32)
            return pre + self.access(name, K, self.R[op.base], op.off)
        return self.access(name, self.R[src], self.R[op.base], op.off)

    def emit_atomic(self, op: lir.Atomic) -> tuple:
        bits = op.size * 8
        B, S = self.R[op.base], self.R[op.src]
        pre = add_const(T1, B, op.off, 64, T1) if op.off else ()
        A = T1 if op.off else B
        if self.lse:
            return pre + self.atomic_lse(op.op, bits, A, S, op.fetch)
        return pre + self.atomic_llsc(op.op, bits, A, S, op.fetch)

    def atomic_lse(self, aop: AtomicOp, bits: int, A: Gpr, S: Gpr, fetch: bool) -> tuple:
        """One ARMv8.1 LSE instruction (the fetch forms acquire-release, as the kernel's)."""
        if aop == AtomicOp.CMPXCHG:
            return (E.cas(self.R[0], S, A, bits, True, True),)   # r0 = old (W: zero-extended)
        if aop == AtomicOp.XCHG:
            return (E.lse_op("swp", S, S, A, bits, True, True),)
        name = ATOMIC_LSE[aop]
        out: tuple = ()
        val = S
        if aop == AtomicOp.AND:                           # ldclr clears the bits set in rs
            out = (E.mvn(T2, S, bits),)                   # t2 = ~S
            val = T2
        if fetch:
            return out + (E.lse_op(name, val, S, A, bits, True, True),)   # S = old
        return out + (E.lse_op(name, val, ZR, A, bits),)                  # st<op>

    def atomic_llsc(self, aop: AtomicOp, bits: int, A: Gpr, S: Gpr, fetch: bool) -> tuple:
        """An ldxr/stxr loop; the branches inside are to fixed words of the sequence."""
        if aop == AtomicOp.CMPXCHG:
            R0 = self.R[0]
            return (E.mov_reg(T3, R0, bits),              # t3 = expected
                    E.ldxr(T2, A, bits),                  # loop: t2 = old
                    E.cmp_reg(T2, T3, bits),
                    E.b_cond(CC.NE, 16),                  # differs: to out
                    E.stlxr(T4, S, A, bits),              # [A] = S if still exclusive
                    E.cbnz(T4, -16, 32),                  # lost it: to loop
                    E.dmb_ish(),                          # out:
                    E.mov_reg(R0, T2, bits))              # r0 = old (W: zero-extended)
        if aop == AtomicOp.XCHG:
            return (E.ldxr(T2, A, bits),                  # loop: t2 = old
                    E.stlxr(T4, S, A, bits),              # [A] = S
                    E.cbnz(T4, -8, 32),
                    E.dmb_ish(),
                    E.mov_reg(S, T2, bits))               # S = old
        body = ATOMIC_REG[aop]
        if not fetch:
            return (E.ldxr(T2, A, bits),                  # loop: t2 = old
                    body(T2, T2, S, bits),                # t2 = old <op> S
                    E.stxr(T4, T2, A, bits),
                    E.cbnz(T4, -12, 32))
        return (E.ldxr(T2, A, bits),                      # loop: t2 = old
                body(T3, T2, S, bits),                    # t3 = old <op> S
                E.stlxr(T4, T3, A, bits),
                E.cbnz(T4, -12, 32),
                E.dmb_ish(),
                E.mov_reg(S, T2, bits))                   # S = old (W: zero-extended)

    # ------------------------------------------------------------ control flow
    def emit_branch(self, op: lir.Branch) -> None:
        key = op[:4]
        hit = self.branch_cache.get(key)
        if hit is None:
            hit = self.branch_cache[key] = self.compare(*key)
        code, forms = hit
        if code:
            self.buf.emit(code)
        self.buf.branch(op.target, forms)

    def probe_branch(self, op: lir.Branch) -> None:
        self.compare(*op[:4])

    def compare(self, cond: Cond, bits: int, a: int, b) -> tuple[bytes, tuple]:
        """(flag-setting words, branch forms) for `if a <cond> b`."""
        A = self.R[a]
        cc = BCOND[cond]
        if type(b) is not Imm:
            B = self.R[b]
            if cond == _SET:
                return _pack((E.tst_reg(A, B, bits),)), bcond_forms(cc)
            return _pack((E.cmp_reg(A, B, bits),)), bcond_forms(cc)
        mask = M64 if bits == 64 else M32
        v = b.value & mask
        if cond == _SET:
            if v & (v - 1) == 0 and v:                    # one bit: tbnz
                return b"", tb_forms(True, A, v.bit_length() - 1)
            if v == 0:                                    # never taken: tst zr sets Z
                return _pack((E.tst_reg(ZR, ZR, 64),)), bcond_forms(cc)
            if E.bitmask(v, bits) is not None:
                return _pack((E.tst_imm(A, v, bits),)), bcond_forms(cc)
            pre, K = self.const(v, bits)
            return _pack(pre + (E.tst_reg(A, K, bits),)), bcond_forms(cc)
        if v == 0:
            if cond in (Cond.EQ, Cond.NE):
                return b"", cbz_forms(cond == Cond.EQ, A, bits)
            if cond in (Cond.SLT, Cond.SGE):              # the sign bit
                return b"", tb_forms(cond == Cond.SLT, A, bits - 1)
        neg = (-v) & mask
        if v <= 0xFFF or (v & 0xFFF == 0 and v <= 0xFFF000):
            return _pack((E.cmp_imm(A, v, bits),)), bcond_forms(cc)
        if neg <= 0xFFF or (neg & 0xFFF == 0 and neg <= 0xFFF000):
            return _pack((E.cmn_imm(A, neg, bits),)), bcond_forms(cc)
        pre, K = self.const(v, bits)
        return _pack(pre + (E.cmp_reg(A, K, bits),)), bcond_forms(cc)

    def emit_jump(self, op: lir.Jump) -> None:
        self.buf.branch(op.target, JUMP_FORMS)

    def emit_exit(self, op: lir.Exit) -> None:
        if op is self.last_op:
            return                                        # the epilogue follows
        if self.inline_exit:
            self.buf.emit(self.epilogue)                  # ret, or mov + ret ...: short
        else:
            self.buf.branch(self.exit_label, JUMP_FORMS)

    def emit_call_local(self, op: lir.CallLocal) -> None:
        """r0 = f(r1..r5): the callee's r10 is this function's r10 - stack depth; its
        epilogue leaves r0 in x7, its home."""
        down, up = self.call_local_frame
        self.buf.emit(down)
        self.buf.branch(self.entries[op.func], CALL_FORMS)
        self.buf.emit(up)

    def emit_call_helper(self, op: lir.CallHelper) -> None:
        """r0 = helper(r1..r5): r1-r5 already sit in x0-x4; the result comes in x0."""
        hit = self.helpers.get(op.id)
        if hit is None:
            sym = Symbol(SymKind.HELPER, op.id, f"helper_{op.id}")
            hit = self.helpers[op.id] = (sym, self.link(sym))
        sym, addr = hit
        buf = self.buf
        if abs(addr - self.base) < NEAR:
            site = [0]
            self.sites.append((site, 0, "call26", sym))

            def encode(addr_of, at):
                site[0] = at
                return E.bl(addr - at).to_bytes(4, "little")
            buf.fixed(4, encode)
        else:
            self.emit_addr(T1, addr, sym)
            buf.emit(_pack((E.blr(T1),)))
        R0 = self.R[0]
        buf.emit(_pack((E.mov_reg(R0, Gpr.X0),)))

    def emit_load_addr(self, op: lir.LoadAddr) -> None:
        D = self.R[op.dst]
        sym = op.sym
        if sym.kind == SymKind.FUNC:
            label = self.entries[sym.index]
            wide = self.base >= LOW
            kinds = [k for _, k in addr_words(D, 0, wide)]
            self.reloc_words(kinds, sym)

            def encode(addr_of, at):
                return _pack([w for w, _ in addr_words(D, addr_of(label), wide)])
            self.buf.fixed(4 * len(kinds), encode)
            return
        self.emit_addr(D, self.link(sym) + op.addend, sym)

    def tail_count_addr(self) -> tuple[int, Symbol]:
        sym = Symbol(SymKind.TAIL_COUNT, 0, "tail_count")
        return self.link(sym), sym

    def zero_tail_count(self) -> None:
        """The entry's first words: tail_call_count = 0 (a tail call lands after them)."""
        addr, sym = self.tail_count_addr()
        self.emit_addr(T1, addr, sym)
        self.buf.emit(_pack((E.ldst_imm("str_w", ZR, T1, 0),)))

    def emit_tail_call(self, op: lir.TailCall) -> None:
        """bpf_tail_call(r1, r2 = prog array, r3 = index), in the kernel's order of checks.

        Only the temporaries are written before the jump, so a failed tail call falls
        through with every eBPF register as it was."""
        buf, R = self.buf, self.R
        out = buf.new_label()
        R2, R3 = R[2], R[3]
        buf.emit(_pack((E.ldst_imm("ldr_w", T1, R2, 12),     # t1 = max_entries
                        E.cmp_reg(R3, T1, 32))))              # index (u32) vs max_entries
        buf.branch(out, bcond_forms(CC.HS))                   # index >= max_entries
        addr, sym = self.tail_count_addr()
        self.emit_addr(T3, addr, sym)                         # t3 = &tail_call_count
        buf.emit(_pack((E.ldst_imm("ldr_w", T4, T3, 0),       # t4 = count
                        E.cmp_imm(T4, lir.MAX_TAIL_CALLS, 32))))
        buf.branch(out, bcond_forms(CC.HS))                   # count >= 33
        buf.emit(_pack((E.add_imm(T4, T4, 1, 32),
                        E.ldst_imm("str_w", T4, T3, 0),       # count++, even for an empty slot
                        E.ldst_imm("ldr_x", T1, R2, 16),      # t1 = slot array
                        E.mov_reg(T2, R3, 32),                # t2 = index (u32)
                        E.ldst_reg("ldr_x", T1, T1, T2, True))))   # t1 = target's tail entry
        buf.branch(out, cbz_forms(True, T1, 64))              # empty slot
        buf.emit(_pack(self.frame.teardown + (E.br(T1),)))    # this frame gone; r1 = ctx kept
        buf.bind(out)
