"""LIR -> RISC-V 64 machine code: one method per LIR op type, encoders from enc.py.

This module owns instruction selection: which RV64GC instructions implement
each LIR op, the compressed (RVC) form wherever one fits (as the Linux JIT's
emit_* helpers pick them), the constant-materialising sequences, and the
branch forms the code buffer relaxes between.  It does not own the register
map (regs.py), the frame (abi.py) or bit layouts (enc.py).

Two kinds of op, as in the x86-64 emitter:
- "pure" ops, whose code depends only on their operands (ALU, loads, stores,
  atomics, constants): a method returns a list of instructions, turned into
  bytes once per distinct op (memoised by the op's fields but `pc`);
- control ops (branches, jumps, calls, exits, symbols, tail calls), which
  need labels, branch relaxation or fixed-size holes.

RISC-V has no flags: every condition is a compare-and-branch (beq, bne, blt,
bge, bltu, bgeu; GT/LE/SGT/SLE swap the operands, SET goes through an `and`).
32-bit ALU ops (addw, subw, sllw, ...) sign-extend their result, so the upper
half of a 32-bit result is not zero: caps.alu32_zext is False and the
lowering puts a `Zext` where the upper half is read.  A JMP32 compares the
sign-extended low halves (sext is monotone for signed *and* unsigned order,
so one `addiw x, y, 0` per operand serves every condition).

What keeps the code near clang's size and instruction count:
- facts per native register: "sign-extended from 32 bits" (flows into labels
  through a small must-analysis, `label_facts`; a JMP32 skips `sext.w` of
  such operands) and "upper half zero" (straight-line; a `Zext` of such a
  register emits nothing);
- constants a leaf function uses more than once live in free caller-saved
  registers, loaded after the prologue (`choose_constants`);
- `mv d, s` followed by an ALU-immediate op on d is one instruction
  (`fusable`).
"""
from __future__ import annotations

from typing import Callable

from backends.base import CONTROL_OPS, EmitContext, PURE_OPS, bind_ops, c_called
from backends.riscv64 import abi
from backends.riscv64 import enc as E
from backends.riscv64.enc import Gpr, fits_simm, is_creg
from backends.riscv64.regs import CALLEE_SAVED, FAR, T1, T2, T3, T4, regmap
from jit import lir
from jit.buffer import BranchForm
from jit.errors import UnsupportedError
from jit.lir import AtomicOp, Cond, Imm, Op, Symbol, SymKind

ZERO, RA, SP = Gpr.ZERO, Gpr.RA, Gpr.SP
M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def s12(v: int) -> int:
    return ((v & 0xFFF) ^ 0x800) - 0x800


def size_of(insns: list[int]) -> int:
    return sum(2 if i & 3 != 3 else 4 for i in insns)


# (funct3, swap operands) of the branch taken when `a <cond> b`; SET is handled apart
BRANCH = {Cond.EQ: (E.BEQ, False), Cond.NE: (E.BNE, False),
          Cond.LT: (E.BLTU, False), Cond.GE: (E.BGEU, False),
          Cond.GT: (E.BLTU, True), Cond.LE: (E.BGEU, True),
          Cond.SLT: (E.BLT, False), Cond.SGE: (E.BGE, False),
          Cond.SGT: (E.BLT, True), Cond.SLE: (E.BGE, True)}
INVERT = {E.BEQ: E.BNE, E.BNE: E.BEQ, E.BLT: E.BGE, E.BGE: E.BLT, E.BLTU: E.BGEU,
          E.BGEU: E.BLTU}

# 32-bit ops whose RV64 form (addw, subw, mulw, divw, sllw, ...) sign-extends its result
SX32 = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.SDIV, Op.SMOD, Op.LSH, Op.RSH,
                  Op.ARSH})
SHIFTS = frozenset({Op.LSH, Op.RSH, Op.ARSH})
# ops after which no sign-extension fact survives: calls change caller-saved registers
CLOBBERS = frozenset({lir.CallHelper, lir.CallLocal})
SET, DROP, COPY, IF_S, DROP2 = 1, 2, 3, 4, 5         # sign-extension fact rules (Emitter.learn_*)

AMO = {AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor",
       AtomicOp.XCHG: "swap"}

# 64-bit and 32-bit register forms of the ALU ops that are one instruction
RR64 = {Op.ADD: E.add, Op.SUB: E.sub, Op.MUL: E.mul, Op.DIV: E.divu, Op.MOD: E.remu,
        Op.SDIV: E.div, Op.SMOD: E.rem, Op.OR: E.or_, Op.AND: E.and_, Op.XOR: E.xor,
        Op.LSH: E.sll, Op.RSH: E.srl, Op.ARSH: E.sra}
RR32 = {Op.ADD: E.addw, Op.SUB: E.subw, Op.MUL: E.mulw, Op.DIV: E.divuw, Op.MOD: E.remuw,
        Op.SDIV: E.divw, Op.SMOD: E.remw, Op.LSH: E.sllw, Op.RSH: E.srlw, Op.ARSH: E.sraw,
        # and/or/xor: the 64-bit op has the right low half (the upper is unspecified)
        Op.OR: E.or_, Op.AND: E.and_, Op.XOR: E.xor}
# the RVC CA forms (rd == rs1, both in x8-x15), and which ops commute
CA = {E.sub: E.c_sub, E.xor: E.c_xor, E.or_: E.c_or, E.and_: E.c_and, E.subw: E.c_subw,
      E.addw: E.c_addw}
COMMUTES = {E.add, E.xor, E.or_, E.and_, E.addw, E.mul, E.mulw}
IMM12 = {Op.ADD: E.addi, Op.AND: E.andi, Op.OR: E.ori, Op.XOR: E.xori}
SHIFT_IMM = {(Op.LSH, 64): E.slli, (Op.RSH, 64): E.srli, (Op.ARSH, 64): E.srai,
             (Op.LSH, 32): E.slliw, (Op.RSH, 32): E.srliw, (Op.ARSH, 32): E.sraiw}


class Asm:
    """The instruction-level idioms, each picking the RVC form where one fits."""

    def __init__(self, rvc: bool) -> None:
        self.rvc = rvc
        self._li: dict = {}

    def mv(self, d: int, s: int) -> list[int]:
        if d == s:
            return []
        if self.rvc and d and s:
            return [E.c_mv(d, s)]
        return [E.addi(d, s, 0)]

    def addi(self, d: int, s: int, v: int) -> list[int]:
        """d = s + v, v a 12-bit signed immediate."""
        if v == 0:
            return self.mv(d, s)
        if self.rvc and d == s and d and fits_simm(v, 6):
            return [E.c_addi(d, v)]
        if self.rvc and d == s == SP and v % 16 == 0 and -512 <= v <= 496:
            return [E.c_addi16sp(v)]
        return [E.addi(d, s, v)]

    def addiw(self, d: int, s: int, v: int) -> list[int]:
        if self.rvc and d == s and d and fits_simm(v, 6):
            return [E.c_addiw(d, v)]
        return [E.addiw(d, s, v)]

    def rr(self, fn: Callable, d: int, a: int, b: int) -> list[int]:
        """d = a <fn> b, compressed when d is one operand (and the form allows)."""
        if self.rvc:
            if fn is E.add and d:
                if d == a and b:
                    return [E.c_add(d, b)]
                if d == b and a:
                    return [E.c_add(d, a)]
            c = CA.get(fn)
            if c is not None and is_creg(d):
                if d == a and is_creg(b):
                    return [c(d, b)]
                if d == b and is_creg(a) and fn in COMMUTES:
                    return [c(d, a)]
        return [fn(d, a, b)]

    def andi(self, d: int, s: int, v: int) -> list[int]:
        if self.rvc and d == s and is_creg(d) and fits_simm(v, 6):
            return [E.c_andi(d, v)]
        return [E.andi(d, s, v)]

    def shift(self, fn: Callable, d: int, s: int, sh: int) -> list[int]:
        """slli/srli/srai(w) d, s, sh."""
        if sh == 0 and fn in (E.slli, E.srli, E.srai):
            return self.mv(d, s)
        if self.rvc and d == s and sh:
            if fn is E.slli and d:
                return [E.c_slli(d, sh)]
            if fn is E.srli and is_creg(d):
                return [E.c_srli(d, sh)]
            if fn is E.srai and is_creg(d):
                return [E.c_srai(d, sh)]
        return [fn(d, s, sh)]

    def zext32(self, d: int, s: int) -> list[int]:
        """d = s & 0xffffffff (no Zba here: add.uw is not run under Unicorn)."""
        return self.shift(E.slli, d, s, 32) + self.shift(E.srli, d, d, 32)

    def li(self, d: int, v: int) -> list[int]:
        """d = v (a 64-bit constant), a shortest sequence of lui/addi(w)/slli/srli."""
        v = s64(v)
        key = (d, v)
        hit = self._li.get(key)
        if hit is None:
            hit = self._li[key] = self._li_seq(d, v)
        return hit

    def _li_seq(self, d: int, v: int) -> list[int]:
        if fits_simm(v, 12):
            if self.rvc and d and fits_simm(v, 6):
                return [E.c_li(d, v)]
            return [E.addi(d, ZERO, v)]
        if fits_simm(v, 32):
            lo = s12(v)
            hi = ((v - lo) >> 12) & 0xFFFFF
            shi = hi - (1 << 20) if hi >> 19 else hi
            seq = ([E.c_lui(d, shi)] if self.rvc and d not in (0, 2) and fits_simm(shi, 6)
                   else [E.lui(d, hi)])
            if lo:
                seq += self.addiw(d, d, lo)         # addiw: wraps as a 32-bit sum should
            return seq
        # 64 bits: the upper part built recursively, then shifted and the low 12 added
        lo = s12(v)
        hi = (v - lo) >> 12
        tz = (hi & -hi).bit_length() - 1
        best = self._li_seq(d, hi >> tz) + self.shift(E.slli, d, d, 12 + tz)
        if lo:
            best += self.addi(d, d, lo)
        # or: a value with leading zeros as a shorter one shifted right (0xffffffff = -1 >> 32)
        if v > 0:
            lz = 64 - v.bit_length()
            alt = self._li_seq(d, s64(v << lz)) + self.shift(E.srli, d, d, lz)
            if size_of(alt) < size_of(best):
                best = alt
            # or: the value's trailing zeros made a final shift
            tz = (v & -v).bit_length() - 1
            if tz:
                alt = self._li_seq(d, v >> tz) + self.shift(E.slli, d, d, tz)
                if size_of(alt) < size_of(best):
                    best = alt
        return best

    def load(self, size: int, signed: bool, d: int, b: int, off: int) -> list[int]:
        if self.rvc and is_creg(d) and is_creg(b):
            if size == 8 and 0 <= off < 256 and off % 8 == 0:
                return [E.c_ld(d, b, off)]
            if size == 4 and signed and 0 <= off < 128 and off % 4 == 0:
                return [E.c_lw(d, b, off)]
        return [E.load(size, signed, d, b, off)]

    def store(self, size: int, s: int, b: int, off: int) -> list[int]:
        if self.rvc and is_creg(s) and is_creg(b):
            if size == 8 and 0 <= off < 256 and off % 8 == 0:
                return [E.c_sd(s, b, off)]
            if size == 4 and 0 <= off < 128 and off % 4 == 0:
                return [E.c_sw(s, b, off)]
        return [E.store(size, s, b, off)]


# ---------------------------------------------------------------- branch forms
# `disp` from the buffer is target - start of the branch, as RISC-V counts it.

def _far(link: int, disp: int) -> list[int]:
    """auipc t6 + jalr link: pc-relative +-2 GiB (disp from the auipc)."""
    hi, lo = abi.hi_lo(disp)
    return [E.auipc(FAR, hi), E.jalr(link, FAR, lo)]


def _fits_far(disp: int) -> bool:
    return abi.hi_lo(disp) is not None


def _by_disp(encode_disp: Callable[[int], bytes]) -> Callable[[int, int], bytes]:
    """A BranchForm encoder that encodes each displacement once (a program has thousands
    of short branches and few distinct displacements)."""
    done: dict[int, bytes] = {}

    def encode(disp: int, at: int) -> bytes:
        code = done.get(disp)
        if code is None:
            code = done[disp] = encode_disp(disp)
        return code
    return encode


def branch_forms(f3: int, a: int, b: int, rvc: bool) -> tuple:
    """The forms of `if a <f3> b goto label`, shortest first."""
    forms = []
    if rvc and f3 in (E.BEQ, E.BNE) and (a == ZERO or b == ZERO) and is_creg(a or b):
        r = a or b
        cb = E.c_beqz if f3 == E.BEQ else E.c_bnez
        forms.append(BranchForm(2, lambda d: -256 <= d < 256,
                                _by_disp(lambda d: E.to_bytes([cb(r, d)]))))
    forms.append(BranchForm(4, lambda d: -4096 <= d < 4096,
                            _by_disp(lambda d: E.to_bytes([E.branch(f3, a, b, d)]))))
    inv = INVERT[f3]
    forms.append(BranchForm(8, lambda d: -(1 << 20) <= d - 4 < (1 << 20),
                            lambda d, at: E.to_bytes([E.branch(inv, a, b, 8),
                                                      E.jal(ZERO, d - 4)])))
    forms.append(BranchForm(12, lambda d: _fits_far(d - 4),
                            lambda d, at: E.to_bytes([E.branch(inv, a, b, 12)]
                                                     + _far(ZERO, d - 4))))
    return tuple(forms)


def jump_forms(rvc: bool) -> tuple:
    forms = []
    if rvc:
        forms.append(BranchForm(2, lambda d: -2048 <= d < 2048,
                                _by_disp(lambda d: E.to_bytes([E.c_j(d)]))))
    forms.append(BranchForm(4, lambda d: -(1 << 20) <= d < (1 << 20),
                            lambda d, at: E.to_bytes([E.jal(ZERO, d)])))
    forms.append(BranchForm(8, _fits_far, lambda d, at: E.to_bytes(_far(ZERO, d))))
    return tuple(forms)


CALL_FORMS = (BranchForm(4, lambda d: -(1 << 20) <= d < (1 << 20),
                         lambda d, at: E.to_bytes([E.jal(RA, d)])),
              BranchForm(8, _fits_far, lambda d, at: E.to_bytes(_far(RA, d))))


class Emitter:
    """Emits each function of one LirProgram into the compile's CodeBuffer (backends.base
    drives it: `function` per LirFunc, then `finish`)."""

    def __init__(self, ctx: EmitContext) -> None:
        self.ctx = ctx
        self.prog = ctx.lir
        self.buf = ctx.buf
        self.link = ctx.link
        self.base = ctx.base
        self.rvc = rvc = cpu_has_rvc(ctx.cpu)
        self.a = Asm(rvc)
        self.R = regmap(ctx.rotate)
        self.entries = [fl.entry for fl in ctx.funcs]
        self.c_called = c_called(self.prog)
        self.c_callable = True
        self.jump = jump_forms(rvc)
        self.branch_cache: dict = {}
        self.forms_cache: dict = {}
        self.pure = bind_ops(self, PURE_OPS)
        self.control = bind_ops(self, CONTROL_OPS)
        self.caches: dict = {}
        self.caches_by_konst: dict = {}     # constant registers -> op type -> op[:-1] -> code
        self.branch_caches: dict = {}
        self.konst: dict = {}               # value -> the register holding it (leaf functions)
        self.rules: dict = {}               # op[:-1] -> its sign-extension fact rule
        # natives known to have a zero upper half (a Zext of them is nothing); facts in
        # one straight line of code only (cleared at labels and calls)
        self.zx: set = set()
        self.zlearn = {lir.Alu: self.zlearn_alu, lir.Load: self.zlearn_load,
                       lir.LoadImm: self.zlearn_load_imm, lir.MovSx: self.zlearn_drop,
                       lir.Neg: self.zlearn_drop, lir.Trunc: self.zlearn_set,
                       lir.Bswap: self.zlearn_bswap, lir.Store: self.learn_nothing,
                       lir.Zext: self.zlearn_set, lir.Atomic: self.learn_atomic}
        self.fused_cache: dict = {}         # (move, ALU op) fields -> the one instruction
        self.helpers: dict = {}
        self.frame = None
        self.depth = 0
        # natives known to hold a sign-extended 32-bit value (sext32(x) == x): a JMP32
        # needs no `sext.w` of them.  Facts die at labels and calls (see `learn`).
        self.sx: set = set()
        self.learn = {lir.Alu: self.learn_alu, lir.Load: self.learn_load,
                      lir.LoadImm: self.learn_load_imm, lir.MovSx: self.learn_dst_sx,
                      lir.Neg: self.learn_neg, lir.Trunc: self.learn_trunc,
                      lir.Bswap: self.learn_bswap, lir.Store: self.learn_nothing,
                      lir.Zext: self.learn_zext, lir.Atomic: self.learn_atomic}
        self.exit_label = -1
        self.last_op = None

    # ------------------------------------------------------------ driver
    def function(self, f: lir.LirFunc) -> None:
        buf, R, a = self.buf, self.R, self.a
        used = {R[r] for r in f.regs_used}
        self.frame = frame = abi.frame_for(used, f.calls or f.tail_calls)
        self.depth = f.stack_depth
        self.c_callable = f.index in self.c_called
        buf.bind(self.entries[f.index])
        if f.index == 0 and self.prog.tail_calls:
            addr, sym = self.tail_count()
            self.addr_seq(T1, addr, sym)                     # t1 = &tail_call_count
            buf.emit(E.to_bytes(a.store(4, ZERO, T1, 0)))    # count = 0
        buf.bind(self.ctx.funcs[f.index].tail)               # a tail call lands here
        buf.emit(E.to_bytes(abi.prologue(frame, self.rvc)))
        self.konst = konst = self.choose_constants(f, used)
        if konst:
            buf.emit(E.to_bytes([i for v, K in konst.items() for i in a.li(K, v)]))
        key = frozenset(konst.items())
        self.caches = self.caches_by_konst.setdefault(key, {t: {} for t in self.pure})
        self.branch_cache = self.branch_caches.setdefault(key, {})
        self.exit_label = buf.new_label()
        ops = f.ops
        self.last_op = ops[-1] if ops else None
        how = {t: (self.caches[t], fn) for t, fn in self.pure.items()}
        how.update((t, (None, fn)) for t, fn in self.control.items())
        emit, mark, mark_emit, bind = buf.emit, buf.mark, buf.mark_emit, buf.bind
        Label = lir.Label
        last_pc = None
        sx, zx = self.sx, self.zx
        sx.clear()
        zx.clear()
        learn, zlearn = self.learn, self.zlearn
        Zext = lir.Zext
        at_label = self.label_facts(ops)
        fused = self.fusable(ops)
        skip = False
        for i, op in enumerate(ops):
            if skip:
                skip = False
                continue
            t = type(op)
            if i in fused:
                nxt = ops[i + 1]
                key = (op[:-1], nxt[:-1])
                hit = self.fused_cache.get(key)
                if hit is None:
                    mark(op.pc)
                    hit = self.fused_cache[key] = E.to_bytes([fused[i]])
                mark_emit(op.pc, hit)
                mark(nxt.pc)                    # no bytes of its own: folded into the first
                last_pc = nxt.pc
                for o in (op, nxt):
                    for rule, facts in ((learn[lir.Alu](o), sx), (zlearn[lir.Alu](o), zx)):
                        kind, d, s = rule
                        if kind == SET or (kind == COPY and s in facts):
                            facts.add(d)
                        elif kind and (kind != IF_S or s not in facts):
                            facts.discard(d)
                skip = True
                continue
            if t is Label:
                bind(op.id)
                sx.clear()
                zx.clear()
                known = at_label.get(op.id)
                if known:
                    sx.update(known)
                continue
            pc = op.pc
            if t is Zext and R[op.dst] in zx:
                if pc != last_pc:               # already zero-extended: nothing to do
                    mark(pc)
                    last_pc = pc
                continue
            h = how.get(t)
            if h is None:
                mark(pc)
                raise UnsupportedError(f"riscv64 has no emitter for LIR {t.__name__}", pc=pc)
            cache, fn = h
            if cache is not None:
                key = op[:-1]
                hit = cache.get(key)
                if hit is None:
                    if pc != last_pc:
                        mark(pc)                # an encoding error names this pc
                        last_pc = pc
                    hit = cache[key] = (E.to_bytes(fn(op)), learn[t](op), zlearn[t](op))
                code, (kind, d, s), zrule = hit
                if pc != last_pc:
                    mark_emit(pc, code)
                    last_pc = pc
                else:
                    emit(code)
                # the sign-extension fact the op leaves (see `rule`)
                if kind:
                    if kind == SET or (kind == COPY and s in sx):
                        sx.add(d)
                    elif kind != IF_S or s not in sx:
                        sx.discard(d)
                        if kind == DROP2:
                            sx.discard(s)
                kind, d, s = zrule
                if kind:
                    if kind == SET or (kind == COPY and s in zx):
                        zx.add(d)
                    elif kind != IF_S or s not in zx:
                        zx.discard(d)
                        if kind == DROP2:
                            zx.discard(s)
            else:
                if pc != last_pc:
                    mark(pc)
                    last_pc = pc
                fn(op)
                if t in CLOBBERS:
                    sx.clear()
                    zx.clear()
                elif t is lir.LoadAddr:
                    sx.add(R[op.dst])           # an address below 2 GiB
                    zx.add(R[op.dst])
        bind(self.exit_label)
        self.epilogue()

    def epilogue(self) -> None:
        """r0 into a0 where a C caller reads it (the entry, and functions whose address a
        helper calls: bpf_loop's callback), the frame torn down, ret.  A bpf-to-bpf call
        gets r0 in a5 and keeps the callee's r1 in a0, as the interpreter does."""
        a = self.a
        code = a.mv(abi.RET_REG, self.R[0]) if self.c_callable else []
        code += abi.teardown(self.frame, self.rvc)
        code += [E.c_jr(RA)] if self.rvc else [E.jalr(ZERO, RA, 0)]
        self.buf.emit(E.to_bytes(code))

    def finish(self) -> list:
        return []                       # no runtime routines

    # ------------------------------------------------------------ ALU
    def emit_alu(self, op: lir.Alu) -> list[int]:
        o, w = op.op, op.width
        D = self.R[op.dst]
        src = op.src
        a = self.a
        if type(src) is Imm:
            return self.alu_imm(o, w, D, src.value)
        S = self.R[src]
        if o == Op.MOV:
            return a.mv(D, S)        # 32-bit too: the upper half is unspecified until a Zext
        return a.rr((RR64 if w == 64 else RR32)[o], D, D, S)

    def alu_imm(self, o: Op, w: int, D: int, v: int) -> list[int]:
        a = self.a
        v = s64(v) if w == 64 else s32(v)
        if o == Op.MOV:
            K = self.konst.get(v)
            return a.mv(D, K) if K is not None else a.li(D, v)
        if (o, w) in SHIFT_IMM:
            sh = v & (w - 1)
            if sh == 0:
                return []             # 32-bit: the upper half is unspecified anyway
            return a.shift(SHIFT_IMM[o, w], D, D, sh)
        if o == Op.SUB and fits_simm(-v, 12):
            o, v = Op.ADD, -v
        if o == Op.ADD and fits_simm(v, 12):
            return a.addi(D, D, v) if w == 64 else a.addiw(D, D, v)
        if o in IMM12 and fits_simm(v, 12):
            if o == Op.AND:
                return a.andi(D, D, v)
            return [IMM12[o](D, D, v)]
        code, K = self.const(T1, v)
        return code + a.rr((RR64 if w == 64 else RR32)[o], D, D, K)

    def emit_neg(self, op: lir.Neg) -> list[int]:
        D = self.R[op.dst]
        return [(E.sub if op.width == 64 else E.subw)(D, ZERO, D)]

    def emit_movsx(self, op: lir.MovSx) -> list[int]:
        D, S = self.R[op.dst], self.R[op.src]
        a = self.a
        if op.bits == 32:
            if op.width == 32:
                return a.mv(D, S)
            return a.addiw(D, S, 0) if D != S else a.addiw(D, D, 0)   # sext.w
        n = 64 - op.bits
        return a.shift(E.slli, D, S, n) + a.shift(E.srai, D, D, n)

    def emit_zext(self, op: lir.Zext) -> list[int]:
        D = self.R[op.dst]
        return self.a.zext32(D, D)

    def emit_trunc(self, op: lir.Trunc) -> list[int]:
        D = self.R[op.dst]
        n = 64 - op.bits
        return self.a.shift(E.slli, D, D, n) + self.a.shift(E.srli, D, D, n)

    def emit_bswap(self, op: lir.Bswap) -> list[int]:
        """Byte by byte (no Zbb's rev8 under Unicorn): t1 collects the bytes of D from
        the lowest, shifting left by 8 before each next one."""
        D = self.R[op.dst]
        a = self.a
        n = op.bits // 8
        out = a.andi(T1, D, 0xFF)                            # t1 = byte 0
        for i in range(1, n):
            out += a.shift(E.srli, T2, D, 8 * i)             # t2 = D >> 8i
            if i < 7:
                out += a.andi(T2, T2, 0xFF)                  # t2 = byte i
            out += a.shift(E.slli, T1, T1, 8)                # t1 = bytes 0..i-1, moved up
            out += a.rr(E.or_, T1, T1, T2)                   # t1 |= byte i
        return out + a.mv(D, T1)

    def emit_load_imm(self, op: lir.LoadImm) -> list[int]:
        D, v = self.R[op.dst], s64(op.value)
        K = self.konst.get(v)
        return self.a.mv(D, K) if K is not None else self.a.li(D, v)

    def const(self, tmp: int, v: int) -> tuple[list[int], int]:
        """(code, register) holding the 64-bit value v: a constant register, or tmp."""
        K = self.konst.get(v)
        if K is not None:
            return [], K
        return self.a.li(tmp, v), tmp

    def choose_constants(self, f: lir.LirFunc, used: set) -> dict:
        """Constants a leaf function uses more than once and that take more than one
        instruction (or a temporary) each time, kept in caller-saved registers that hold
        no eBPF register here: loaded once after the prologue, so a loop does not
        rebuild them every iteration (CRC polynomials, hash multipliers, bounds)."""
        if f.calls or f.tail_calls:
            return {}
        free = [r for r in dict.fromkeys((Gpr.T5, Gpr.A6, Gpr.A7) + tuple(self.R[1:6]))
                if r not in used and r not in CALLEE_SAVED]         # no saving needed
        if not free:
            return {}
        count: dict = {}
        for op in f.ops:
            t = type(op)
            if t is lir.LoadImm:
                v = s64(op.value)
            elif t is lir.Alu and type(op.src) is Imm:
                v = s64(op.src.value) if op.width == 64 else s32(op.src.value)
                o = op.op
                if o in SHIFTS or (o in IMM12 or o == Op.SUB) and fits_simm(v, 12) \
                        or o == Op.SUB and fits_simm(-v, 12):
                    continue
            elif t is lir.Branch and type(op.b) is Imm:
                v = s64(op.b.value) if op.width == 64 else s32(op.b.value)
                if op.cond == Cond.SET and fits_simm(v, 12):
                    continue
            elif t is lir.Store and type(op.src) is Imm and op.size == 8:
                v = s64(op.src.value)
            else:
                continue
            if v == 0 or fits_simm(v, 6) and t is not lir.Branch:
                continue
            count[v] = count.get(v, 0) + 1
        # what loading it each time costs beyond a 2-byte move, times the uses
        gain = sorted(((n * (size_of(self.a.li(T1, v)) - 2), v) for v, n in count.items()
                       if n > 1), reverse=True)
        return {v: r for (g, v), r in zip(gain, free) if g > 4}

    def fusable(self, ops: list) -> dict:
        """index of a register move -> the one instruction doing it and the ALU-immediate
        op after it on the same register: `mv d, s; addi d, d, v` is `addi d, s, v` (and
        andi/ori/xori, the shifts, their 32-bit forms), as two eBPF instructions often
        are (`r2 = r10; r2 += -8`, `w1 = w2; w1 <<= 4`)."""
        out = {}
        Alu, MOV = lir.Alu, Op.MOV
        R = self.R
        for i in range(len(ops) - 1):
            op = ops[i]
            if type(op) is not Alu or op.op != MOV or type(op.src) is Imm or op.dst == op.src:
                continue
            nxt = ops[i + 1]
            if type(nxt) is not Alu or nxt.dst != op.dst or type(nxt.src) is not Imm:
                continue
            D, S = R[op.dst], R[op.src]
            o, w = nxt.op, nxt.width
            v = s64(nxt.src.value) if w == 64 else s32(nxt.src.value)
            if (o, w) in SHIFT_IMM:
                sh = v & (w - 1)
                if sh:
                    out[i] = SHIFT_IMM[o, w](D, S, sh)
                continue
            if o == Op.SUB and fits_simm(-v, 12):
                o, v = Op.ADD, -v
            if not fits_simm(v, 12) or v in self.konst:
                continue
            if o == Op.ADD:
                out[i] = (E.addi if w == 64 else E.addiw)(D, S, v)
            elif o in IMM12:
                out[i] = IMM12[o](D, S, v)
        return out

    # ------------------------------------------------------------ memory
    def address(self, B: int, off: int, tmp: int = T1) -> tuple[list[int], int, int]:
        """(code, base, displacement) for B + off with a 12-bit displacement."""
        if fits_simm(off, 12):
            return [], B, off
        return self.a.li(tmp, off) + self.a.rr(E.add, tmp, tmp, B), tmp, 0

    def emit_load(self, op: lir.Load) -> list[int]:
        D = self.R[op.dst]
        code, b, disp = self.address(self.R[op.base], op.off)
        return code + self.a.load(op.size, op.signed or op.size == 8, D, b, disp)

    def emit_store(self, op: lir.Store) -> list[int]:
        code, b, disp = self.address(self.R[op.base], op.off)
        src = op.src
        if type(src) is Imm:
            v = src.value
            if op.size < 8:
                v = s64(v & ((1 << op.size * 8) - 1))
            if v == 0:
                return code + self.a.store(op.size, ZERO, b, disp)
            c2, K = self.const(T2, v)
            return code + c2 + self.a.store(op.size, K, b, disp)
        return code + self.a.store(op.size, self.R[src], b, disp)

    def emit_atomic(self, op: lir.Atomic) -> list[int]:
        a = self.a
        B, S, w = self.R[op.base], self.R[op.src], op.size
        if op.off:
            code, A, disp = self.address(B, op.off)
            if disp:
                code = code + a.addi(T1, A, disp)
            A = T1
        else:
            code, A = [], B
        if op.op == AtomicOp.CMPXCHG:
            return code + self.cmpxchg(w, A, S)
        if not op.fetch and op.op != AtomicOp.XCHG:
            return code + [E.amo(AMO[op.op], w, ZERO, S, A)]
        code = code + [E.amo(AMO[op.op], w, S, S, A)]       # S = old (.w: sign-extended)
        return code + a.zext32(S, S) if w == 4 else code

    def cmpxchg(self, w: int, A: int, S: int) -> list[int]:
        """r0 = old = *A; if old == r0 then *A = S: an lr/sc loop.

        lr.w sign-extends, so a 32-bit compare is against r0's low half
        sign-extended (t2); the result goes back zero-extended."""
        a = self.a
        R0 = self.R[0]
        code = []
        want = R0
        if w == 4:
            code += a.addiw(T2, R0, 0)                       # t2 = sext32(r0)
            want = T2
        loop = [E.lr(w, T3, A)]                              # t3 = old, reserved
        sc = [E.sc(w, T4, S, A)]                             # *A = S if still reserved
        # bne t3, want, done (over sc and its retry); bnez t4, loop (back to the lr)
        body = loop + [E.bne(T3, want, 4 + 4 + 4)] + sc
        body += [E.bne(T4, ZERO, -(4 + 4 + 4))]
        code += body
        return code + (a.zext32(R0, T3) if w == 4 else a.mv(R0, T3))

    # ------------------------------------------------------------ sign-extension facts
    def label_facts(self, ops: list) -> dict:
        """label -> the natives sign-extended on every path into it: a must-analysis over
        the function's labels, branches and jumps (bit masks, TOP = all ones, meet = &),
        iterated from TOP to its fixpoint with the same rules the emission applies.
        Only worth it where a JMP32 may read the facts."""
        if not any(type(op) is lir.Branch and op.width == 32 for op in ops):
            return {}
        learn, rules, R = self.learn, self.rules, self.R
        TOP = (1 << 32) - 1
        Label, Branch, Jump, Exit = lir.Label, lir.Branch, lir.Jump, lir.Exit
        # the ops as events on the mask m, built once: (0, label) meet into the label;
        # (1, target) a branch; (2, target) a jump; (3, v) m = v; (4, bit) m |= bit;
        # (5, mask) m &= mask; (6, s, d) d = s's fact; (7, s, d) d's fact only if s's
        events: list = []
        add = events.append
        for op in ops:
            t = type(op)
            if t is Label:
                add((0, op.id))
            elif t is Branch:
                add((1, op.target))
            elif t is Jump:
                add((2, op.target))
            elif t is Exit:
                add((3, TOP))
            elif t in CLOBBERS:
                add((3, 0))
            elif t is lir.LoadAddr:
                add((4, 1 << R[op.dst]))
            else:
                fn = learn.get(t)
                if fn is None:
                    continue
                key = op[:-1]
                rule = rules.get(key)
                if rule is None:
                    rule = rules[key] = fn(op)
                kind, d, s_ = rule
                if kind == SET:
                    add((4, 1 << d))
                elif kind == DROP:
                    add((5, TOP & ~(1 << d)))
                elif kind == DROP2:
                    add((5, TOP & ~(1 << d | 1 << s_)))
                elif kind == COPY:
                    add((6, s_, d))
                elif kind == IF_S:
                    add((7, s_, d))
        into: dict = {}
        get = into.get
        # a pass must be repeated only if a branch lowered a label it had already passed
        at = {e[1]: i for i, e in enumerate(events) if e[0] == 0}
        while True:
            changed = False
            m = 0                                    # nothing known at the entry
            for i, e in enumerate(events):
                k = e[0]
                if k == 4:
                    m |= e[1]
                elif k == 5:
                    m &= e[1]
                elif k <= 2:
                    lab = e[1]
                    old = get(lab, TOP)
                    new = old & m
                    if new != old:
                        into[lab] = new
                        if k and at.get(lab, i) < i:
                            changed = True
                    if k == 0:
                        m = new
                    elif k == 2:
                        m = TOP                      # what follows is reached by a label only
                elif k == 3:
                    m = e[1]
                elif k == 6:
                    m = m | 1 << e[2] if m >> e[1] & 1 else m & ~(1 << e[2])
                elif not m >> e[1] & 1:
                    m &= ~(1 << e[2])
            if not changed:
                break
        return {lab: frozenset(r for r in range(32) if v >> r & 1)
                for lab, v in into.items() if v and v != TOP}

    # Each pure op's effect on the facts is a rule (kind, d, s), computed once per
    # distinct op with its code: SET d is sign-extended; DROP d is not known to be;
    # COPY d is iff s is; IF_S d stays as it was if s is sign-extended, else DROP;
    # DROP2 neither d nor s is known to be; 0 nothing changes.
    def learn_alu(self, op: lir.Alu) -> tuple:
        o, src = op.op, op.src
        D = self.R[op.dst]
        imm = type(src) is Imm
        S = None if imm else self.R[src]
        if op.width == 32:
            if o in SX32:
                return (0, D, S) if imm and o in SHIFTS and not src.value & 31 else (SET, D, S)
            if o == Op.MOV:
                return (SET, D, S) if imm else (COPY, D, S)
            return (0, D, S) if imm else (IF_S, D, S)        # and/or/xor: both sign-extended
        v = s64(src.value) if imm else 0
        if o == Op.MOV:
            if imm:
                return (SET if fits_simm(v, 32) else DROP, D, S)
            return (COPY, D, S)
        if o == Op.AND:
            if imm:
                return (SET if 0 <= v < (1 << 31) else DROP, D, S)
            return (IF_S, D, S)
        if o in (Op.OR, Op.XOR):
            if imm:
                return (0 if fits_simm(v, 32) else DROP, D, S)
            return (IF_S, D, S)
        if o == Op.RSH and imm:
            return (SET if (v & 63) >= 33 else DROP, D, S)
        if o == Op.ARSH and imm:
            return (SET if (v & 63) >= 32 else DROP, D, S)
        return (DROP, D, S)

    def learn_load(self, op: lir.Load) -> tuple:
        # lb/lh/lw sign-extend; lbu/lhu leave fewer than 32 bits; lwu and ld may not fit
        ok = op.size < 4 or (op.size == 4 and op.signed)
        return (SET if ok else DROP, self.R[op.dst], None)

    def learn_load_imm(self, op: lir.LoadImm) -> tuple:
        return (SET if fits_simm(s64(op.value), 32) else DROP, self.R[op.dst], None)

    def learn_dst_sx(self, op: lir.MovSx) -> tuple:
        if op.width == 32 and op.bits == 32:
            return (COPY, self.R[op.dst], self.R[op.src])      # a plain move
        return (SET, self.R[op.dst], None)                     # sign-extended from 8/16/32

    def learn_zext(self, op: lir.Zext) -> tuple:
        return (DROP, self.R[op.dst], None)                    # zero-extended: maybe >= 2^31

    def learn_atomic(self, op: lir.Atomic) -> tuple:
        # the fetched old value (src, or r0 for cmpxchg) comes back zero-extended or 64-bit
        return (DROP2, self.R[op.src], self.R[0])

    def learn_neg(self, op: lir.Neg) -> tuple:
        return (SET if op.width == 32 else DROP, self.R[op.dst], None)

    def learn_trunc(self, op: lir.Trunc) -> tuple:
        return (SET if op.bits == 16 else DROP, self.R[op.dst], None)

    def learn_bswap(self, op: lir.Bswap) -> tuple:
        return (SET if op.bits == 16 else DROP, self.R[op.dst], None)

    def learn_nothing(self, op) -> tuple:
        return (0, None, None)

    # the same rules for "the upper 32 bits are zero"
    def zlearn_alu(self, op: lir.Alu) -> tuple:
        o, src = op.op, op.src
        D = self.R[op.dst]
        imm = type(src) is Imm
        S = None if imm else self.R[src]
        if op.width == 32:
            v = s32(src.value) if imm else 0
            if o == Op.MOV:
                return (SET if v >= 0 else DROP, D, S) if imm else (COPY, D, S)
            if o == Op.RSH and imm:
                return (SET if v & 31 else 0, D, S)            # srliw by 1..31: < 2^31
            if o == Op.AND:
                return (SET if v >= 0 else 0, D, S) if imm else (IF_S, D, S)
            if o in (Op.OR, Op.XOR):
                return (0 if v >= 0 else DROP, D, S) if imm else (IF_S, D, S)
            return (DROP, D, S)                                # addw ...: sign-extended
        v = s64(src.value) if imm else 0
        if o == Op.MOV:
            return (SET if 0 <= v < (1 << 32) else DROP, D, S) if imm else (COPY, D, S)
        if o == Op.AND:
            return (SET if 0 <= v < (1 << 32) else 0, D, S) if imm else (IF_S, D, S)
        if o in (Op.OR, Op.XOR):
            return (0 if 0 <= v < (1 << 32) else DROP, D, S) if imm else (IF_S, D, S)
        if o == Op.RSH and imm:
            return (SET if (v & 63) >= 32 else 0, D, S)
        return (DROP, D, S)

    def zlearn_load(self, op: lir.Load) -> tuple:
        return (SET if op.size < 8 and not op.signed else DROP, self.R[op.dst], None)

    def zlearn_load_imm(self, op: lir.LoadImm) -> tuple:
        return (SET if 0 <= s64(op.value) < (1 << 32) else DROP, self.R[op.dst], None)

    def zlearn_set(self, op) -> tuple:
        return (SET, self.R[op.dst], None)

    def zlearn_drop(self, op) -> tuple:
        return (DROP, self.R[op.dst], None)

    def zlearn_bswap(self, op: lir.Bswap) -> tuple:
        return (SET if op.bits < 64 else DROP, self.R[op.dst], None)

    # ------------------------------------------------------------ control flow
    def emit_branch(self, op: lir.Branch) -> None:
        key = op[:4]
        if op.width == 32:
            b = op.b
            key += (self.R[op.a] in self.sx, type(b) is not Imm and self.R[b] in self.sx)
        hit = self.branch_cache.get(key)
        if hit is None:
            hit = self.branch_cache[key] = self.plan_branch(*key)
        code, forms = hit
        if code:
            self.buf.emit(code)
        self.buf.branch(op.target, forms)

    def forms(self, f3: int, x: int, y: int) -> tuple:
        key = (f3, x, y)
        hit = self.forms_cache.get(key)
        if hit is None:
            hit = self.forms_cache[key] = branch_forms(f3, x, y, self.rvc)
        return hit

    def plan_branch(self, cond: Cond, w: int, ra: int, b, a_sx: bool = False,
                    b_sx: bool = False) -> tuple[bytes, tuple]:
        """(code before the branch, its forms) for `if ra <cond> b`; a_sx/b_sx: the
        operand is known sign-extended from 32 bits (a JMP32 compares it as it is)."""
        a = self.a
        A = self.R[ra]
        code: list[int] = []
        if cond == Cond.SET:
            if type(b) is Imm:
                v = b.value if w == 64 else s32(b.value)
                if fits_simm(v, 12):
                    code += a.andi(T1, A, v)
                else:
                    c2, K = self.const(T1, v)
                    code += c2 + a.rr(E.and_, T1, K, A)
                if w == 32 and not 0 <= v < (1 << 31) and not a_sx:
                    code += a.addiw(T1, T1, 0)
            else:
                code += a.rr(E.and_, T1, A, self.R[b])
                if w == 32 and not (a_sx and b_sx):
                    code += a.addiw(T1, T1, 0)               # only the low half counts
            return E.to_bytes(code), self.forms(E.BNE, T1, ZERO)
        if (w == 32 and not a_sx and cond in (Cond.EQ, Cond.NE) and type(b) is Imm
                and fits_simm(-s32(b.value), 12) and s32(b.value) not in self.konst):
            # low32(a) == v  <=>  sext32(a - v) == 0: one addiw instead of sext.w + li
            code += [E.addiw(T1, A, -s32(b.value))]          # t1 = sext32(a - v)
            return E.to_bytes(code), self.forms(BRANCH[cond][0], T1, ZERO)
        if w == 32 and not a_sx:
            code += [E.addiw(T1, A, 0)]                      # t1 = sext32(a)
            A = T1
        if type(b) is Imm:
            v = s64(b.value) if w == 64 else s32(b.value)
            if v == 0:
                B = ZERO
            else:
                c2, B = self.const(T2, v)
                code += c2
        else:
            B = self.R[b]
            if w == 32 and not b_sx:
                code += [E.addiw(T2, B, 0)]                  # t2 = sext32(b)
                B = T2
        f3, swap = BRANCH[cond]
        x, y = (B, A) if swap else (A, B)
        return E.to_bytes(code), self.forms(f3, x, y)

    def emit_jump(self, op: lir.Jump) -> None:
        self.buf.branch(op.target, self.jump)

    def emit_exit(self, op: lir.Exit) -> None:
        if op is self.last_op:
            return                                          # the epilogue follows
        self.buf.branch(self.exit_label, self.jump)

    def emit_call_local(self, op: lir.CallLocal) -> None:
        """s5 = the callee's r10 around the call; the callee returns r0 in a5 (and a0)."""
        d, a = self.depth, self.a
        if d:
            self.buf.emit(E.to_bytes(self.bias(-d)))
        self.buf.branch(self.entries[op.func], CALL_FORMS)
        if d:
            self.buf.emit(E.to_bytes(self.bias(d)))
        if self.R[0] != abi.RET_REG:
            pass                                            # r0 is still in a5: see epilogue

    def bias(self, v: int) -> list[int]:
        R10 = self.R[lir.R10]
        if fits_simm(v, 12):
            return self.a.addi(R10, R10, v)
        return self.a.li(T1, v) + self.a.rr(E.add, R10, R10, T1)

    def emit_call_helper(self, op: lir.CallHelper) -> None:
        """r0 = helper(r1..r5): r1-r5 already sit in a0-a4; the result comes in a0."""
        hit = self.helpers.get(op.id)
        if hit is None:
            sym = Symbol(SymKind.HELPER, op.id, f"helper_{op.id}")
            hit = self.helpers[op.id] = (sym, self.link(sym))
        sym, addr = hit
        self.call_abs(addr, sym)
        self.buf.emit(E.to_bytes(self.a.mv(self.R[0], abi.RET_REG)))

    def call_abs(self, addr: int, sym: Symbol) -> None:
        """auipc ra + jalr ra: a call of an absolute address, pc-relative once laid out
        (R_RISCV_CALL_PLT); the hole's address is where the relocation goes."""
        site = [0]
        self.ctx.sites.append((site, 0, "call", sym))

        def encode(addr_of, at):
            site[0] = at
            hl = abi.hi_lo(addr - at)
            if hl is None:
                raise UnsupportedError(f"riscv64: {sym.name} at {addr:#x} is beyond the "
                                       f"+-2 GiB an auipc+jalr reaches from {at:#x}")
            return E.to_bytes([E.auipc(RA, hl[0]), E.jalr(RA, RA, hl[1])])
        self.buf.fixed(8, encode)

    def addr_seq(self, D: int, addr: int, sym: Symbol) -> None:
        """D = an absolute address, lui+addi (R_RISCV_HI20/LO12_I)."""
        hl = abi.hi_lo(addr)
        if hl is None:
            raise UnsupportedError(f"riscv64: {sym.name} at {addr:#x} is outside the "
                                   "+-2 GiB a lui+addi reaches")
        hi, lo = hl
        self.ctx.reloc("hi20", sym)
        self.buf.emit(E.to_bytes([E.lui(D, hi)]))
        self.ctx.reloc("lo12_i", sym)
        self.buf.emit(E.to_bytes([E.addi(D, D, lo)]))

    def emit_load_addr(self, op: lir.LoadAddr) -> None:
        D = self.R[op.dst]
        sym = op.sym
        if sym.kind != SymKind.FUNC:
            self.addr_seq(D, self.link(sym) + op.addend, sym)
            return
        label = self.entries[sym.index]
        self.ctx.reloc("hi20", sym)
        self.ctx.reloc("lo12_i", sym, 4)

        def encode(addr_of, at):
            hl = abi.hi_lo(addr_of(label))
            if hl is None:
                raise UnsupportedError("riscv64: code beyond 2 GiB cannot take a function's "
                                       "address with lui+addi")
            return E.to_bytes([E.lui(D, hl[0]), E.addi(D, D, hl[1])])
        self.buf.fixed(8, encode)

    def tail_count(self) -> tuple[int, Symbol]:
        sym = Symbol(SymKind.TAIL_COUNT, 0, "tail_count")
        return self.link(sym), sym

    def emit_tail_call(self, op: lir.TailCall) -> None:
        """bpf_tail_call(r1, r2 = prog array, r3 = index), in the kernel's order of checks.

        Only temporaries are written before the jump, so a failed tail call
        falls through with every eBPF register as it was."""
        buf, R, a = self.buf, self.R, self.a
        out = buf.new_label()
        R2, R3 = R[2], R[3]
        buf.emit(E.to_bytes(a.zext32(T1, R3)                 # t1 = index (u32)
                            + [E.load(4, False, T2, R2, 12)]))   # t2 = max_entries
        buf.branch(out, self.forms(E.BGEU, T1, T2))          # index >= max_entries
        addr, sym = self.tail_count()
        self.addr_seq(T3, addr, sym)                         # t3 = &tail_call_count
        buf.emit(E.to_bytes([E.load(4, False, T4, T3, 0)]    # t4 = count
                            + a.li(T2, lir.MAX_TAIL_CALLS)))
        buf.branch(out, self.forms(E.BGEU, T4, T2))          # count >= 33
        buf.emit(E.to_bytes(a.addi(T4, T4, 1)                # count++, even for an empty slot
                            + [E.store(4, T4, T3, 0),
                               E.ld(T2, R2, 16)]             # t2 = slot array
                            + a.shift(E.slli, T1, T1, 3)     # t1 = index * 8
                            + a.rr(E.add, T1, T1, T2)        # t1 = &slot
                            + [E.ld(T1, T1, 0)]))            # t1 = target's tail entry
        buf.branch(out, self.forms(E.BEQ, T1, ZERO))         # empty slot
        code = abi.teardown(self.frame, self.rvc)            # this frame gone; r1 = ctx kept
        code += [E.c_jr(T1)] if self.rvc else [E.jalr(ZERO, T1, 0)]
        buf.emit(E.to_bytes(code))
        buf.bind(out)


def cpu_has_rvc(cpu: str) -> bool:
    """Whether a --cpu name includes C: "rv64gc", "rv64imac" (the default, "", does)."""
    if not cpu:
        return True
    letters = cpu[4:].split("_")[0]
    return "c" in letters
