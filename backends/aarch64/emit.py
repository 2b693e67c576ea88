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

from backends.base import EmitContext
from backends.aarch64 import enc as E
from backends.aarch64.abi import FuncFrame, func_frame
from backends.aarch64.enc import Cond as CC, Gpr
from backends.aarch64.regs import FP, HOME, ROTATION_RING, T1, T2, T3, T4, regmap
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
        self.pure = {
            lir.Alu: self.emit_alu,
            lir.Neg: self.emit_neg,
            lir.MovSx: self.emit_movsx,
            lir.Zext: self.emit_zext,
            lir.Bswap: self.emit_bswap,
            lir.Trunc: self.emit_trunc,
            lir.LoadImm: self.emit_load_imm,
            lir.Load: self.emit_load,
            lir.Store: self.emit_store,
            lir.Atomic: self.emit_atomic,
        }
        self.control = {
            lir.Branch: self.emit_branch,
            lir.Jump: self.emit_jump,
            lir.Exit: self.emit_exit,
            lir.CallHelper: self.emit_call_helper,
            lir.CallLocal: self.emit_call_local,
            lir.LoadAddr: self.emit_load_addr,
            lir.TailCall: self.emit_tail_call,
        }
        self.caches: dict = {t: {} for t in self.pure}
        self.branch_cache: dict = {}
        self.helpers: dict = {}

    # ------------------------------------------------------------ driver
    def function(self, f: lir.LirFunc) -> None:
        buf = self.buf
        self.frame = ff = func_frame(f, self.R)
        d = f.stack_depth
        self.call_local_frame = ((_pack((E.sub_imm(FP, FP, d),)), _pack((E.add_imm(FP, FP, d),)))
                                 if d else (b"", b""))
        buf.bind(self.entries[f.index])
        if f.index == 0 and self.prog.tail_calls:
            self.zero_tail_count()
        buf.bind(self.ctx.funcs[f.index].tail)     # a tail call lands past the count reset
        buf.emit(_pack(ff.prologue))
        self.exit_label = buf.new_label()
        self.epilogue = _pack(ff.epilogue)
        self.inline_exit = len(ff.epilogue) <= 3
        ops = f.ops
        self.last_op = ops[-1] if ops else None
        how = {t: (self.caches[t], fn) for t, fn in self.pure.items()}
        how.update((t, (None, fn)) for t, fn in self.control.items())
        emit, mark, mark_emit, bind = buf.emit, buf.mark, buf.mark_emit, buf.bind
        Label = lir.Label
        last_pc = None
        for op in ops:
            t = type(op)
            if t is Label:
                bind(op.id)
                continue
            pc = op.pc
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
        words = addr_words(rd, addr)
        self.reloc_words([k for _, k in words], sym)
        self.buf.emit(_pack([w for w, _ in words]))

    # ------------------------------------------------------------ ALU
    def emit_alu(self, op: lir.Alu) -> tuple:
        aop, bits = op.op, op.width
        D = self.R[op.dst]
        src = op.src
        if type(src) is Imm:
            return self.alu_imm(aop, bits, D, src.value)
        S = self.R[src]
        if aop == Op.ADD:
            return (E.add_reg(D, D, S, bits),)
        if aop == Op.SUB:
            return (E.sub_reg(D, D, S, bits),)
        fn = LOGIC_REG.get(aop)
        if fn is not None:
            return (fn(D, D, S, bits),)
        if aop == _MOV:
            if D == S and bits == 64:
                return ()
            return (E.mov_reg(D, S, bits),)             # 32-bit: zero-extends
        if aop == Op.MUL:
            return (E.mul(D, D, S, bits),)
        fn = SHIFT_REG.get(aop)
        if fn is not None:
            return (fn(D, D, S, bits),)                 # the count is taken mod bits
        return self.divide(aop, bits, D, S)

    def divide(self, aop: Op, bits: int, D: Gpr, S: Gpr) -> tuple:
        """D = D / S or D % S (the lowering has guarded zero and, signed, -1)."""
        div, remainder = DIVIDE[aop]
        if not remainder:
            return (div(D, D, S, bits),)
        return (div(T3, D, S, bits),                    # t3 = D / S
                E.msub(D, T3, S, D, bits))              # D = D - t3 * S

    def alu_imm(self, aop: Op, bits: int, D: Gpr, v: int) -> tuple:
        mask = M64 if bits == 64 else M32
        v &= mask
        if aop == _MOV:
            return mov_imm(D, v, bits)
        if aop == Op.ADD:
            return add_const(D, D, v, bits, T2)
        if aop == Op.SUB:
            return add_const(D, D, -v, bits, T2)
        fn = LOGIC_IMM.get(aop)
        if fn is not None:
            keep = (aop == Op.AND and v == mask) or (aop != Op.AND and v == 0)
            if keep:                                    # D unchanged (32: zero-extended)
                return (E.mov_reg(D, D, 32),) if bits == 32 else ()
            if aop == Op.AND and v == 0:
                return (E.movz(D, 0, 0, 32),)
            if aop == Op.OR and v == mask:
                return (E.movn(D, 0, 0, bits),)
            if aop == Op.XOR and v == mask:
                return (E.mvn(D, D, bits),)
            if E.bitmask(v, bits) is not None:
                return (fn(D, D, v, bits),)
            return mov_imm(T2, v, bits) + (LOGIC_REG[aop](D, D, T2, bits),)
        fn = SHIFT_IMM.get(aop)
        if fn is not None:
            n = v & (bits - 1)
            if n == 0:
                return (E.mov_reg(D, D, 32),) if bits == 32 else ()
            return (fn(D, D, n, bits),)
        if aop == Op.MUL:
            return mov_imm(T2, v, bits) + (E.mul(D, D, T2, bits),)
        return mov_imm(T2, v, bits) + self.divide(aop, bits, D, T2)

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
        return mov_imm(self.R[op.dst], op.value, 64)

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
            return mov_imm(T2, v, 64 if op.size == 8 else 32) + self.access(
                name, T2, self.R[op.base], op.off)
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
            return _pack(mov_imm(T2, v, bits) + (E.tst_reg(A, T2, bits),)), bcond_forms(cc)
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
        return _pack(mov_imm(T2, v, bits) + (E.cmp_reg(A, T2, bits),)), bcond_forms(cc)

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
        epilogue leaves r0 in x7 (its home) as well as in x0."""
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
