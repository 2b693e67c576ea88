"""ARM32 emission: LIR ops -> A32 words, function by function.

Owns the walk over a LirProgram (labels, pc marks, per-function plans, the
division routine appended once) and one method per LIR op, dispatched on the
op's type.  Each method reads its operands' homes (regs.py) and builds the
sequence from the pair idioms (pairs.py) and the calling conventions (abi.py).
Does not own encodings (enc.py) or the code buffer's layout (jit.buffer).

Upper halves: caps.alu32_zext is False, so a 32-bit op writes only the low
word; the lowering inserts `Zext` where the upper half is read.  Every other
op writes both halves, except where pairs.live_after says a half is dead:
then it is not computed (and an op with no live result and no side effect is
not emitted at all).

Division: 32-bit on cortex-a15 is `udiv`/`sdiv` (+ `mls` for the remainder);
everything else calls the image's division routine (pairs.emit_divmod).

Memory: r10 is an address in the STACK region kept in a word slot (abi.py);
every other base is a 64-bit pointer whose upper word is checked before the
access (checked_base, "wild pointers"), except where pairs.hi_zero knows it is 0.
"""
from __future__ import annotations

from backends.base import EmitContext, c_called
from jit import lir
from jit.errors import EncodingError, UnsupportedError
from jit.lir import (Alu, Atomic, AtomicOp, Branch, Bswap, CallHelper, CallLocal, Exit, Imm,
                     Jump, Label, Load, LoadAddr, LoadImm, MovSx, Neg, Op, R10, Store, Symbol,
                     SymKind, TailCall, Trunc, Zext)

from .abi import AbiCode, FuncPlan, plan_function, trap_access
from .enc import Cond, Reg, Shift
from .pairs import (HI, LO, LR, M32, SP, DivKind, E, FrameAddr,
                    branch_form, emit_divmod, fold_frame_addr, halves, hi_zero, live_after,
                    live_before)
from .regs import ARG_PAIRS, DIV_AREA, FP_SLOT, IP, Frame, Pair, RegMap, Slot, T

# eBPF condition -> A32 condition after `cmp a, b` (64-bit: the combined flags)
CC = {lir.Cond.EQ: Cond.EQ, lir.Cond.NE: Cond.NE, lir.Cond.GT: Cond.HI, lir.Cond.GE: Cond.HS,
      lir.Cond.LT: Cond.LO, lir.Cond.LE: Cond.LS, lir.Cond.SGT: Cond.GT, lir.Cond.SGE: Cond.GE,
      lir.Cond.SLT: Cond.LT, lir.Cond.SLE: Cond.LE, lir.Cond.SET: Cond.NE}
SIGNED = frozenset({lir.Cond.SGT, lir.Cond.SGE, lir.Cond.SLT, lir.Cond.SLE})

# 32-bit instructions for each half of the bitwise and additive ops
LOGIC = {Op.AND: "and", Op.OR: "orr", Op.XOR: "eor"}
ADDSUB = {Op.ADD: ("adds", "adc"), Op.SUB: ("subs", "sbc")}
PLAIN32 = {Op.ADD: "add", Op.SUB: "sub", Op.AND: "and", Op.OR: "orr", Op.XOR: "eor"}
SHIFT_KIND = {Op.LSH: "lsh", Op.RSH: "rsh", Op.ARSH: "arsh"}
SHIFT32_IMM = {Op.LSH: E.lsl_imm, Op.RSH: E.lsr_imm, Op.ARSH: E.asr_imm}
SHIFT32_REG = {Op.LSH: E.lsl_reg, Op.RSH: E.lsr_reg, Op.ARSH: E.asr_reg}
DIV_MODE = {Op.DIV: (False, False), Op.MOD: (False, True), Op.SDIV: (True, False),
            Op.SMOD: (True, True)}                         # (signed, remainder)

# loads: (size, signed) -> (encoder, offset limit); stores: size -> (encoder, limit)
LOADS = {(1, False): (E.ldrb_imm, E.LDR_IMM_MAX), (1, True): (E.ldrsb_imm, E.LDRH_IMM_MAX),
         (2, False): (E.ldrh_imm, E.LDRH_IMM_MAX), (2, True): (E.ldrsh_imm, E.LDRH_IMM_MAX),
         (4, False): (E.ldr_imm, E.LDR_IMM_MAX), (4, True): (E.ldr_imm, E.LDR_IMM_MAX)}
STORES = {1: (E.strb_imm, E.LDR_IMM_MAX), 2: (E.strh_imm, E.LDRH_IMM_MAX),
          4: (E.str_imm, E.LDR_IMM_MAX)}
ATOMIC_LOGIC = {AtomicOp.AND: "and", AtomicOp.OR: "orr", AtomicOp.XOR: "eor"}


class Emitter(AbiCode):
    def __init__(self, ctx: EmitContext) -> None:
        self.ctx = ctx
        self.prog = prog = ctx.lir
        self.link = ctx.link
        self.base = ctx.base
        self.regs = RegMap(ctx.rotate)
        self.hw_div = ctx.caps.hw_div
        self.buf = buf = ctx.buf
        self.div_labels: dict[DivKind, int] = {}       # the division routines used
        self.plan: FuncPlan | None = None
        self.plans: list[FuncPlan] = []
        self.live = -1                   # register halves live after the current op (all: -1)
        self.index = -1                  # the current op's index in its function
        self.unchecked: frozenset = frozenset()   # accesses whose base's upper half is 0
        self.dispatch = {
            Label: self.emit_label, Alu: self.emit_alu, Neg: self.emit_neg,
            MovSx: self.emit_movsx, Zext: self.emit_zext, Bswap: self.emit_bswap,
            Trunc: self.emit_trunc, LoadImm: self.emit_load_imm, LoadAddr: self.emit_load_addr,
            Load: self.emit_load, Store: self.emit_store, Atomic: self.emit_atomic,
            Jump: self.emit_jump, Branch: self.emit_branch, CallHelper: self.emit_call_helper,
            CallLocal: self.emit_call_local, TailCall: self.emit_tail_call, Exit: self.emit_exit,
            FrameAddr: self.emit_frame_addr,
        }
        called_from_c = c_called(prog)
        for f, labels in zip(prog.funcs, ctx.funcs):
            entry = f.index == 0
            self.plans.append(plan_function(
                f, self.regs, cabi=f.index in called_from_c, entry=labels.entry,
                body=buf.new_label(), tail_store=entry and prog.tail_calls))
        self.count_addr = (self.link(Symbol(SymKind.TAIL_COUNT, 0, "tail_count"))
                           if prog.tail_calls else None)

    # ------------------------------------------------------------ driver
    def function(self, f: lir.LirFunc) -> None:
        buf = self.buf
        fp = self.plan = self.plans[f.index]
        self.func = f
        buf.bind(fp.entry)
        buf.pc = f.start_pc
        ops = fold_frame_addr(f.ops)
        known = hi_zero(ops)
        self.unchecked = frozenset(
            i for i, op in enumerate(ops) if type(op) in (Load, Store, Atomic)
            and op.base != R10 and op.off == 0 and known[i] >> op.base & 1)
        after, entry_live = live_after(ops, self.unchecked)
        self.prologue(fp, entry_live, self.count_addr)
        self.last_pc = None
        i = 0
        while i < len(ops):
            run = self.spill_run(ops, i)
            if run is None:
                self.index = i
                self.emit_op(ops[i], after[i])
                i += 1
            else:
                d, j = run
                self.emit_run(ops, i, j, d, after)
                i = j + 1
        if fp.tail_store:
            fp.tail_entry = self.ctx.funcs[f.index].tail
            buf.bind(fp.tail_entry)
            self.tail_entry_stub(fp)

    def finish(self) -> list:
        """The division routines the code calls, each appended once."""
        return [(kind.name, label, lambda kind=kind: emit_divmod(self, self.hw_div, kind))
                for kind, label in self.div_labels.items()]

    def emit_op(self, op, live: int) -> None:
        self.mark(op.pc)
        self.live = live
        self.dispatch[type(op)](op)

    def mark(self, pc: int) -> None:
        if pc != self.last_pc and pc >= 0:
            self.buf.mark(pc)
            self.last_pc = pc

    # ------------------------------------------------------------ spilled runs
    # A spilled register that a few consecutive ops work on (a clang temporary:
    # `w1 = *(u8 *)(r8 + 12); w1 &= 15; if w1 > 4 goto`) is given T as its home
    # for the run: loaded once (the halves live on entry), stored once at the end
    # (the halves live after it, often none).  An op may join the run only if
    # it does not use T itself for another operand (t_safe).
    RUN_OPS = (Alu, Neg, MovSx, Zext, Bswap, Trunc, LoadImm, LoadAddr, Load, Store, Branch,
               CallHelper, CallLocal, FrameAddr)
    ENDS_RUN = (Branch, CallHelper, CallLocal)          # d is stored (if live) before these

    def spill_run(self, ops: list, i: int):
        """(d, j): ops i..j form a run on spilled register d, or None."""
        op = ops[i]
        if type(op) not in self.RUN_OPS or type(op) in self.ENDS_RUN or type(op) is Store:
            return None
        d = op.dst
        if type(self.regs[d]) is not Slot:
            return None
        refs, last = 0, -1
        for k in range(i, len(ops)):
            o = ops[k]
            if type(o) not in self.RUN_OPS or not self.t_safe(o, d):
                break
            t = type(o)
            if t in (CallHelper, CallLocal):
                if 1 <= d <= 5:                          # an argument: read from T by the call
                    refs += 1
                    last = k
                break
            if d in (getattr(o, "dst", None), getattr(o, "src", None), getattr(o, "base", None),
                     getattr(o, "a", None), getattr(o, "b", None)):
                refs += 1
                last = k
            if t is Branch:
                break                                    # a taken branch must find d home
        return (d, last) if refs >= 2 else None

    def t_safe(self, op, d: int) -> bool:
        """Can `op` be emitted with d homed in T (no other operand goes through T)?"""
        regs = self.regs

        def home(r) -> bool:
            return r == d or type(r) is int and type(regs[r]) is Pair
        t = type(op)
        if t is Alu:
            if op.op in DIV_MODE:
                return False
            if op.width == 32 or op.dst == d:
                return True
            if op.op == Op.MOV:                           # into a slot: strd from a pair
                return home(op.src)
            return type(regs[op.dst]) is Pair and (type(op.src) is Imm or home(op.src))
        if t is Store:
            return op.size < 8 or type(op.src) is Imm or home(op.src)
        if t is Branch:
            if op.width == 32:
                return True
            if type(op.b) is Imm:
                return home(op.a)
            a, b = op.a, op.b
            if op.cond in (lir.Cond.SGT, lir.Cond.SLE):
                a, b = b, a
            return home(a) and (home(b) or a == d)
        if t in (CallHelper, CallLocal, LoadAddr):
            return True                                   # r1, r2 into r0:r1, r2:r3 by ldrd
        return home(op.dst)

    def emit_run(self, ops: list, i: int, j: int, d: int, after: list) -> None:
        slot = self.regs[d]
        self.mark(ops[i].pc)
        need = live_before(ops[i], after[i]) >> 2 * d & 3
        self.load_halves(T, slot, need)
        self.regs.homes[d] = T
        stored = False
        try:
            for k in range(i, j + 1):
                if k == j and type(ops[k]) in self.ENDS_RUN:
                    self.mark(ops[k].pc)
                    self.store_halves(T, slot, after[k] >> 2 * d & 3)
                    stored = True
                self.index = k
                self.emit_op(ops[k], after[k])
        finally:
            self.regs.homes[d] = slot
        if not stored:
            self.store_halves(T, slot, after[j] >> 2 * d & 3)

    def load_halves(self, p: Pair, slot: Slot, which: int) -> None:
        if which == 3:
            self.w(E.ldrd_imm(p.lo, p.hi, SP, slot.off))
        elif which:
            h = which >> 1
            self.w(E.ldr_imm(p[h], SP, slot.off + 4 * h))

    def store_halves(self, p: Pair, slot: Slot, which: int) -> None:
        if which == 3:
            self.w(E.strd_imm(p.lo, p.hi, SP, slot.off))
        elif which:
            h = which >> 1
            self.w(E.str_imm(p[h], SP, slot.off + 4 * h))

    # ------------------------------------------------------------ small pieces
    def jump(self, label: int, cond: Cond = Cond.AL) -> None:
        self.buf.branch(label, branch_form(cond))

    def load_addr(self, rd: Reg, addr: int, sym: Symbol | None = None) -> None:
        """rd = a 32-bit address, always movw + movt (a fixed size that a relocation can patch)."""
        if not 0 <= addr <= M32:
            raise EncodingError(f"address 0x{addr:x} is not a 32-bit address")
        if sym is not None:
            self.reloc_pair(sym)
        self.w(E.movw(rd, addr & 0xFFFF), E.movt(rd, addr >> 16))

    def reloc_pair(self, sym: Symbol) -> None:
        self.ctx.reloc("movw", sym)
        self.ctx.reloc("movt", sym, 4)

    def free_pair(self, p: Pair) -> bool:
        """p's eBPF register is dead after the current op (and the op does not read
        it: callers put operands in `avoid`), and clobbering p breaks no
        convention: r0:r1 is caller-saved, a pushed pair is restored by the
        epilogue, and an internal function need only keep the homes of r6-r9."""
        owner = next((r for r in range(10) if self.regs[r] == p), None)
        if owner is not None and self.live >> 2 * owner & 3:
            return False
        if p.lo == Reg.R0 or p.lo in self.plan.saved:
            return True
        return not self.plan.cabi and not (owner is not None and 6 <= owner <= 9)

    def lv(self, r: int, which: int) -> bool:
        """Is half `which` of r read before it is written again (after the current op)?"""
        return bool(self.live >> (2 * r + which) & 1)

    def emit_label(self, op: Label) -> None:
        self.buf.bind(op.id)

    # ------------------------------------------------------------ ALU
    def emit_alu(self, op: Alu) -> None:
        d = op.dst
        if not (self.lv(d, LO) or op.width == 64 and self.lv(d, HI)):
            return                                  # the result is never read
        if op.op in DIV_MODE:
            self.emit_div(op)
        elif op.width == 32:
            self.alu32(op)
        else:
            self.alu64(op)

    def alu32(self, op: Alu) -> None:
        o, d, s = op.op, op.dst, op.src
        if type(s) is Imm:
            v = s.value & M32
            if o == Op.MOV:
                self.set_half(d, LO, v, IP)
            elif o in SHIFT32_IMM:
                if v & 31:
                    reg = self.rmw(d, LO, LR)
                    self.w(SHIFT32_IMM[o](reg, reg, v & 31))
                    self.put(d, LO, reg)
            elif o == Op.MUL:
                self.mul_lo(d, s)
            else:
                self.logic_half(PLAIN32[o], d, LO, v)
            return
        if o == Op.MOV:
            if d != s:
                self.copy_lo(d, s)
            return
        sreg = self.lo(s, IP)
        if o in SHIFT32_REG:
            self.w(E.and_imm(IP, sreg, 31))                   # count mod 32 (RFC 9669)
            reg = self.rmw(d, LO, LR)
            self.w(SHIFT32_REG[o](reg, reg, IP))
        else:
            reg = self.rmw(d, LO, LR)
            if o == Op.MUL:
                self.w(E.mul(reg, reg, sreg))
            else:
                self.w(getattr(E, PLAIN32[o] + "_reg")(reg, reg, sreg))
        self.put(d, LO, reg)

    def copy_lo(self, d: int, s: int) -> None:
        """d.lo = s.lo (a 32-bit move)."""
        h = self.regs[d]
        if type(h) is Pair:
            reg = self.lo(s, h.lo)
            if reg != h.lo:
                self.w(E.mov_reg(h.lo, reg))
        else:
            self.w(E.str_imm(self.lo(s, IP), SP, h.off))

    def logic_half(self, name: str, d: int, which: int, v: int) -> None:
        """Half `which` of d = itself <name> v (add/sub without carry, and/orr/eor),
        skipping identities and turning all-ones/all-zeros results into moves."""
        v &= M32
        if v == 0 and name in ("add", "sub", "orr", "eor") or v == M32 and name == "and":
            return
        if name == "and" and v == 0 or name == "orr" and v == M32:
            self.set_half(d, which, v, IP)
            return
        reg = self.rmw(d, which, LR)
        if name == "eor" and v == M32:
            self.w(E.mvn_reg(reg, reg))
        else:
            self.dp(name, reg, reg, v, IP)
        self.put(d, which, reg)

    def alu64(self, op: Alu) -> None:
        o, d, s = op.op, op.dst, op.src
        lo_live, hi_live = self.lv(d, LO), self.lv(d, HI)
        if type(s) is Imm:
            self.alu64_imm(o, d, s.value, lo_live, hi_live)
            return
        if o == Op.MOV:
            if lo_live and hi_live:
                self.move(self.regs[d], self.regs[s])
            elif lo_live:
                self.copy_lo(d, s)
            else:
                self.put(d, HI, self.hi(s, IP))
        elif o in ADDSUB or o in LOGIC:
            if o in ADDSUB and not hi_live:
                names = (PLAIN32[o], None)                      # no carry into a dead half
            elif o in LOGIC and not (lo_live and hi_live):
                names = (LOGIC[o] if lo_live else None, LOGIC[o] if hi_live else None)
            else:
                names = ADDSUB[o] if o in ADDSUB else (LOGIC[o], LOGIC[o])
                D, S = self.operands64(d, s)
                self.w(getattr(E, names[0] + "_reg")(D.lo, D.lo, S.lo),
                       getattr(E, names[1] + "_reg")(D.hi, D.hi, S.hi))
                self.commit(d, D)
                return
            for which, name in ((LO, names[0]), (HI, names[1])):
                if name is not None:
                    sreg = self.half(s, which, IP)
                    reg = self.rmw(d, which, LR)
                    self.w(getattr(E, name + "_reg")(reg, reg, sreg))
                    self.put(d, which, reg)
        elif o == Op.MUL:
            if not hi_live:
                self.mul_lo(d, s)
                return
            D, S = self.operands64(d, s)
            self.mul64(D, S)
            self.commit(d, D)
        elif o in SHIFT_KIND:
            D = self.dst_pair(d, True)
            count = D.lo if s == d else self.lo(s, IP)
            self.shift64_reg(SHIFT_KIND[o], D, count)
            self.commit(d, D)
        else:
            raise UnsupportedError(f"alu64 {o.name}")

    def alu64_imm(self, o: Op, d: int, value: int, lo_live: bool, hi_live: bool) -> None:
        lo, hi = halves(value)
        if o == Op.MOV:
            self.set64(d, lo, hi, lo_live, hi_live)
        elif o in ADDSUB:
            if not hi_live:                                    # no carry needed
                self.logic_half(PLAIN32[o], d, LO, lo)
                return
            lo_op, hi_op = ADDSUB[o]
            D = self.dst_pair(d, True)
            self.dp(lo_op, D.lo, D.lo, lo, IP)
            self.dp(hi_op, D.hi, D.hi, hi, IP)
            self.commit(d, D)
        elif o in LOGIC:
            if lo_live:
                self.logic_half(LOGIC[o], d, LO, lo)
            if hi_live:
                self.logic_half(LOGIC[o], d, HI, hi)
        elif o == Op.MUL:
            if not hi_live:
                self.mul_lo(d, Imm(value))
                return
            D = self.dst_pair(d, True)
            self.mul64_imm(D, value)
            self.commit(d, D)
        elif o in SHIFT_KIND:
            n = value & 63
            if n == 0:
                return                                     # never `lsr #0` (= lsr #32)
            if not hi_live:
                self.shift64_imm_lo(SHIFT_KIND[o], d, n)
                return
            D = self.dst_pair(d, True)
            self.shift64_imm(SHIFT_KIND[o], D.lo, D.hi, n)
            self.commit(d, D)
        else:
            raise UnsupportedError(f"alu64 {o.name} with an immediate")

    def mul_lo(self, d: int, s) -> None:
        """The low word of d * s (all that is read of the product)."""
        if type(s) is Imm:
            if s.value & M32 == 1:
                return
            self.const(IP, s.value)
            sreg = IP
        else:
            sreg = self.lo(s, IP)
        reg = self.rmw(d, LO, LR)
        self.w(E.mul(reg, reg, sreg))
        self.put(d, LO, reg)

    def shift64_imm_lo(self, kind: str, d: int, n: int) -> None:
        """The low word of a 64-bit shift by 1..63 (the high word is dead)."""
        if kind == "lsh":
            if n >= 32:
                self.set_half(d, LO, 0, IP)
                return
            reg = self.rmw(d, LO, LR)
            self.w(E.lsl_imm(reg, reg, n))
            self.put(d, LO, reg)
            return
        hreg = self.hi(d, IP)
        reg = self.target(d, LO, LR)
        if n < 32:
            lo = self.lo(d, reg)
            self.w(E.lsr_imm(reg, lo, n),                            # lo >>= n
                   E.orr_reg(reg, reg, hreg, Shift.LSL, 32 - n))       # lo |= hi << (32 - n)
        elif n == 32:
            self.w(E.mov_reg(reg, hreg))
        else:
            right = E.asr_imm if kind == "arsh" else E.lsr_imm
            self.w(right(reg, hreg, n - 32))
        self.put(d, LO, reg)

    def set64(self, d: int, lo: int, hi: int, lo_live: bool = True,
              hi_live: bool = True) -> None:
        if lo_live and hi_live and type(self.regs[d]) is Slot:
            self.const(T.lo, lo)
            self.const(T.hi, hi)
            self.commit(d, T)
            return
        if lo_live:
            self.set_half(d, LO, lo, IP)
        if hi_live:
            self.set_half(d, HI, hi, LR)

    # ------------------------------------------------------------ division
    def emit_div(self, op: Alu) -> None:
        o, d, s, width = op.op, op.dst, op.src, op.width
        if width == 32 and self.hw_div:
            self.div32_hw(o, d, s)
            return
        kind = DivKind(width, *DIV_MODE[o])
        # dividend and divisor into the division area, the result back from it
        if width == 64:
            self.move(Slot(DIV_AREA), self.regs[d])
            if type(s) is Imm:
                lo, hi = halves(s.value)
                self.const(T.lo, lo)
                self.const(T.hi, hi)
                self.move(Slot(DIV_AREA + 8), T)
            else:
                self.move(Slot(DIV_AREA + 8), self.regs[s])
        else:
            self.w(E.str_imm(self.lo(d, IP), SP, DIV_AREA))
            if type(s) is Imm:
                self.const(IP, s.value)
                self.w(E.str_imm(IP, SP, DIV_AREA + 8))
            else:
                self.w(E.str_imm(self.lo(s, IP), SP, DIV_AREA + 8))
        if kind not in self.div_labels:
            self.div_labels[kind] = self.buf.new_label()
        self.buf.branch(self.div_labels[kind], branch_form(link=True))
        if width == 64:
            self.move(self.regs[d], Slot(DIV_AREA))
        else:
            reg = self.target(d, LO, IP)
            self.w(E.ldr_imm(reg, SP, DIV_AREA))
            self.put(d, LO, reg)

    def div32_hw(self, o: Op, d: int, s) -> None:
        if type(s) is Imm:
            self.const(IP, s.value)
            sreg = IP
        else:
            sreg = self.lo(s, IP)
        reg = self.rmw(d, LO, LR)
        div = E.sdiv if o in (Op.SDIV, Op.SMOD) else E.udiv
        if o in (Op.DIV, Op.SDIV):
            self.w(div(reg, reg, sreg))
        else:
            # remainder = n - (n / m) * m: truncating, so SMOD keeps the dividend's sign
            self.w(div(T.lo, reg, sreg), E.mls(reg, T.lo, sreg, reg))
        self.put(d, LO, reg)

    # ------------------------------------------------------------ unary
    def emit_neg(self, op: Neg) -> None:
        d = op.dst
        if op.width == 32 or not self.lv(d, HI):
            if self.lv(d, LO):
                reg = self.rmw(d, LO, LR)
                self.w(E.rsb_imm(reg, reg, 0))
                self.put(d, LO, reg)
            return
        D = self.dst_pair(d, True)
        self.w(E.rsbs_imm(D.lo, D.lo, 0), E.rsc_imm(D.hi, D.hi, 0))     # D = 0 - D
        self.commit(d, D)

    def emit_movsx(self, op: MovSx) -> None:
        d, s = op.dst, op.src
        hi_live = op.width == 64 and self.lv(d, HI)
        if not (self.lv(d, LO) or hi_live):
            return
        sreg = self.lo(s, IP)
        D = self.dst_pair(d, False) if hi_live else Pair(self.target(d, LO, IP), None)
        if op.bits == 8:
            self.w(E.sxtb(D.lo, sreg))
        elif op.bits == 16:
            self.w(E.sxth(D.lo, sreg))
        elif D.lo != sreg:
            self.w(E.mov_reg(D.lo, sreg))
        if hi_live:
            self.w(E.asr_imm(D.hi, D.lo, 31))                      # hi = the sign of lo
            self.commit(d, D)
        else:
            self.put(d, LO, D.lo)

    def emit_zext(self, op: Zext) -> None:
        if self.lv(op.dst, HI):
            self.set_half(op.dst, HI, 0, IP)

    def emit_bswap(self, op: Bswap) -> None:
        d = op.dst
        lo_live, hi_live = self.lv(d, LO), self.lv(d, HI)
        if not (lo_live or hi_live):
            return
        if op.bits == 64:
            D = self.dst_pair(d, True)
            self.w(E.rev(IP, D.lo),                                # ip = the low word swapped
                   E.rev(D.lo, D.hi),                              # lo = the high word swapped
                   E.mov_reg(D.hi, IP))
            self.commit(d, D)
            return
        if lo_live:
            reg = self.rmw(d, LO, LR)
            self.w(E.rev(reg, reg))
            if op.bits == 16:
                self.w(E.lsr_imm(reg, reg, 16))                    # the swapped halfword, zero-extended
            self.put(d, LO, reg)
        if hi_live:
            self.set_half(d, HI, 0, IP)

    def emit_trunc(self, op: Trunc) -> None:
        d = op.dst
        if op.bits == 16 and self.lv(d, LO):
            reg = self.rmw(d, LO, LR)
            self.w(E.uxth(reg, reg))
            self.put(d, LO, reg)
        if op.bits < 64 and self.lv(d, HI):
            self.set_half(d, HI, 0, IP)

    # ------------------------------------------------------------ constants
    def emit_load_imm(self, op: LoadImm) -> None:
        lo, hi = halves(op.value)
        self.set64(op.dst, lo, hi, self.lv(op.dst, LO), self.lv(op.dst, HI))

    def emit_load_addr(self, op: LoadAddr) -> None:
        d, sym = op.dst, op.sym
        if self.lv(d, LO):
            reg = self.target(d, LO, IP)
            if sym.kind == SymKind.FUNC:
                label = self.plans[sym.index].entry
                self.reloc_pair(sym)

                def encode(addr_of, at, reg=reg, label=label) -> bytes:
                    a = addr_of(label)
                    return (E.movw(reg, a & 0xFFFF).to_bytes(4, "little")
                            + E.movt(reg, a >> 16).to_bytes(4, "little"))
                self.buf.fixed(8, encode)
            else:
                self.load_addr(reg, self.link(sym) + op.addend, sym)
            self.put(d, LO, reg)
        if self.lv(d, HI):
            self.set_half(d, HI, 0, LR)

    def emit_frame_addr(self, op: FrameAddr) -> None:
        """d = r10 + off: the stack address, upper half 0 (|off| is small, see FrameAddr)."""
        d = op.dst
        if self.lv(d, LO):
            reg = self.target(d, LO, IP)
            self.add_const(reg, self.lo(R10, reg), op.off, LR)
            self.put(d, LO, reg)
        if self.lv(d, HI):
            self.set_half(d, HI, 0, LR)

    # ------------------------------------------------------------ memory
    def mem_base(self, base: int, off: int, limit: int, span: int,
                 write: bool) -> tuple[Reg, int]:
        """(register, offset) addressing base + off with the offset (and offset + span)
        within ±limit; otherwise the address goes to ip first.  A base other than
        r10 is checked first (checked_base).

        Checking offset + span is what the kernel ARM32 JIT once missed for the
        second word of a 64-bit access (an imm12 of 4096)."""
        if type(self.regs[base]) is not Frame:
            return self.checked_base(base, off, write)
        b = self.lo(base, IP)                                      # r10: loaded into ip
        if -limit <= off and off + span <= limit:
            return b, off
        self.add_const(IP, b, off, LR)                             # ip = base + off
        return IP, 0

    # ------------------------------------------------------------ wild pointers
    # An eBPF pointer is 64 bits and A32 addresses memory with its low word, so
    # 0x1_2000_0000 would reach the --mem block at 0x2000_0000.  Every access
    # through a register other than r10 (whose upper half is 0 by construction)
    # first checks that the upper word of base + off (off sign-extended) is 0; if
    # not, a conditional trap right there, `ldrne/strne hi, [lo, -lo]`, reads or
    # writes address 0 (never mapped) inside the access's own native code, with
    # the eBPF address in hi:lo, where RunSpec.trap_address finds it.  The cost:
    # `cmp hi, #0` + the trap (off == 0), or `adds; adcs` + the trap, which leaves
    # the address itself in ip (the access then needs no offset).

    def checked_base(self, base: int, off: int, write: bool) -> tuple[Reg, int]:
        """(register, 0) holding the low word of base + off, its upper word checked
        (unless it is known to be 0: pairs.hi_zero)."""
        lo = self.lo(base, IP)
        if self.index in self.unchecked:
            return lo, 0
        if off == 0:
            hi = self.hi(base, LR)
            self.w(E.cmp_imm(hi, 0))                               # the address is base
        else:
            self.dp("adds", IP, lo, off, LR)                       # ip = the low word
            hi = self.hi(base, LR)                                 # (ldr keeps the carry)
            self.dp("adcs", LR, hi, -1 if off < 0 else 0, LR)      # lr = the upper word (ne: not 0)
            lo, hi = IP, LR
        self.w(trap_access(write, lo, hi, Cond.NE))
        return lo, 0

    def pair_ok(self, base: int, b: Reg, o: int) -> bool:
        """ldrd/strd at [b, #o] for base + off: only where the address is known to be
        word-aligned (r10 is 8-aligned: every frame is a multiple of 8 below
        STACK_TOP) and o is in the imm8 range."""
        return (type(self.regs[base]) is Frame and b == IP and o % 4 == 0
                and -E.LDRH_IMM_MAX <= o <= E.LDRH_IMM_MAX)

    def emit_load(self, op: Load) -> None:
        d, size = op.dst, op.size
        lo_live, hi_live = self.lv(d, LO), self.lv(d, HI)
        h = self.regs[d]
        if size == 8:
            b, o = self.mem_base(op.base, op.off, E.LDR_IMM_MAX, 4, False)
            D = h if type(h) is Pair else T
            if self.pair_ok(op.base, b, o):
                self.w(E.ldrd_imm(D.lo, D.hi, b, o))
            elif b == D.lo:                                         # the base is overwritten last
                self.w(E.ldr_imm(D.hi, b, o + 4), E.ldr_imm(D.lo, b, o))
            else:
                self.w(E.ldr_imm(D.lo, b, o), E.ldr_imm(D.hi, b, o + 4))
            self.commit(d, D)
            return
        fn, limit = LOADS[(size, op.signed)]
        b, o = self.mem_base(op.base, op.off, limit, 0, False)
        if not hi_live:
            reg = self.target(d, LO, LR)
            self.w(fn(reg, b, o))                                  # loaded even if dead: it may fault
            if lo_live:
                self.put(d, LO, reg)
            return
        D = self.dst_pair(d, False)
        self.w(fn(D.lo, b, o),
               E.asr_imm(D.hi, D.lo, 31) if op.signed else E.mov_imm(D.hi, 0))
        self.commit(d, D)

    def emit_store(self, op: Store) -> None:
        size, src = op.size, op.src
        if size == 8:
            b, o = self.mem_base(op.base, op.off, E.LDR_IMM_MAX, 4, True)
            if type(src) is Imm:
                lo, hi = halves(src.value)
                self.const(LR, lo)
                self.w(E.str_imm(LR, b, o))
                if hi != lo:
                    self.const(LR, hi)
                self.w(E.str_imm(LR, b, o + 4))
                return
            S = self.src_pair(src, T)
            if self.pair_ok(op.base, b, o):
                self.w(E.strd_imm(S.lo, S.hi, b, o))
            else:
                self.w(E.str_imm(S.lo, b, o), E.str_imm(S.hi, b, o + 4))
            return
        fn, limit = STORES[size]
        b, o = self.mem_base(op.base, op.off, limit, 0, True)
        if type(src) is Imm:
            self.const(LR, src.value)
            reg = LR
        else:
            reg = self.lo(src, LR)
        self.w(fn(reg, b, o))

    # ------------------------------------------------------------ atomics
    def emit_atomic(self, op: Atomic) -> None:
        """ldrex/strex (ldrexd/strexd) retry loops.

        ip holds the address, lr the store-exclusive status and T (r2:r3) the
        old value (W: T.lo, with T.hi for a spilled operand or the new value).
        An operation that must keep the old value while building a new one
        that does not fit, or a spilled operand of a 64-bit one, gets a
        borrowed pair (saved and restored around the sequence).  Results
        (fetch/xchg: src = old; cmpxchg: r0 = old) are written after the loop,
        W ones zero-extended.
        """
        aop, s, dw = op.op, op.src, op.size == 8
        cmpxchg = aop == AtomicOp.CMPXCHG
        arith = aop not in (AtomicOp.XCHG, AtomicOp.CMPXCHG)
        b, o = self.mem_base(op.base, op.off, 0, 0, False)        # the ldrex reads first
        self.add_const(IP, b, o, LR)                               # ip = address
        s_native = type(self.regs[s]) is Pair
        r0_native = type(self.regs[0]) is Pair
        wants = []                                                 # what the borrowed pairs hold
        if dw and not s_native:
            wants.append("src")
        if cmpxchg and not r0_native:
            wants.append("r0")
        if arith and op.fetch and (dw or not s_native):
            wants.append("new")
        borrowed = self.borrow(len(wants),
                               self.regs.natives([op.base, s] + ([0] if cmpxchg else [])))
        got = dict(zip(wants, borrowed))
        # the operand (and cmpxchg's r0) in registers for the whole loop
        if dw:
            S = self.regs[s] if s_native else got["src"]
            if not s_native:
                self.move(S, self.regs[s])
        else:
            S = Pair(self.lo(s, T.hi), None)                       # native, or loaded into T.hi
        if cmpxchg:
            R0 = self.regs[0] if r0_native else got["r0"]
            if not r0_native:
                self.move(R0, self.regs[0])
        if "new" in got:
            new = got["new"]
        elif dw:
            new = T                                                # no fetch: built in place
        else:
            new = Pair(T.lo if S.lo == T.hi else T.hi, None)       # in place, or next to old
        loop, done = self.buf.new_label(), self.buf.new_label()
        self.buf.bind(loop)
        self.w(E.ldrexd(T.lo, T.hi, IP) if dw else E.ldrex(T.lo, IP))
        if cmpxchg:
            self.w(E.cmp_reg(T.lo, R0.lo))
            if dw:
                self.w(E.cmp_reg(T.hi, R0.hi, cond=Cond.EQ))
            self.jump(done, Cond.NE)                               # mismatch: no store
            stored = S
        elif aop == AtomicOp.XCHG:
            stored = S
        else:
            names = ("adds", "adc") if aop == AtomicOp.ADD else (ATOMIC_LOGIC[aop],) * 2
            if not dw:
                names = ("add",) if aop == AtomicOp.ADD else names
            self.w(getattr(E, names[0] + "_reg")(new.lo, T.lo, S.lo))
            if dw:
                self.w(getattr(E, names[1] + "_reg")(new.hi, T.hi, S.hi))
            stored = new
        if dw:
            self.w(E.strexd(LR, stored.lo, stored.hi, IP))
        else:
            self.w(E.strex(LR, stored.lo, IP))
        self.w(E.cmp_imm(LR, 0))
        self.jump(loop, Cond.NE)                                  # lost the reservation: retry
        self.buf.bind(done)
        result = 0 if cmpxchg else (s if op.fetch or aop == AtomicOp.XCHG else None)
        if result is not None:
            if dw:
                self.commit(result, T)
            else:
                if self.lv(result, LO):
                    self.put(result, LO, T.lo)
                if self.lv(result, HI):
                    self.set_half(result, HI, 0, LR)
        if borrowed:
            self.give_back(borrowed)

    # ------------------------------------------------------------ control flow
    def emit_jump(self, op: Jump) -> None:
        self.jump(op.target)

    def emit_branch(self, op: Branch) -> None:
        cond, a, b = op.cond, op.a, op.b
        imm = type(b) is Imm
        if op.width == 32:
            ar = self.lo(a, IP)
            name = "tst" if cond == lir.Cond.SET else "cmp"
            if imm:
                self.dp(name, None, ar, b.value, LR)
            else:
                self.w(getattr(E, name + "_reg")(ar, self.lo(b, LR)))
            self.jump(op.target, CC[cond])
            return
        if imm:
            v = b.value
            if cond in (lir.Cond.SGT, lir.Cond.SLE):             # a > v  <=>  a >= v + 1
                v += 1
                cond = lir.Cond.SGE if cond == lir.Cond.SGT else lir.Cond.SLT
            lo, hi = halves(v)
            if cond == lir.Cond.SET and hi == 0:
                self.dp("tst", None, self.lo(a, IP), lo, LR)
                self.jump(op.target, Cond.NE)
                return
            A = self.src_pair(a, T)
            if cond == lir.Cond.SET:                             # hi is all ones
                self.dp("tst", None, A.lo, lo, LR)
                self.w(E.tst_reg(A.hi, A.hi, cond=Cond.EQ))
            elif cond in SIGNED:
                # the flags of a - v over 64 bits: cmp the low words, sbcs the high words
                self.dp("cmp", None, A.lo, lo, LR)
                self.dp("sbcs", IP, A.hi, hi, LR)
            else:
                # unsigned and equality: the high words decide unless they are equal
                self.dp("cmp", None, A.hi, hi, LR)
                self.dp("cmp", None, A.lo, lo, LR, Cond.EQ)
            self.jump(op.target, CC[cond])
            return
        if cond in (lir.Cond.SGT, lir.Cond.SLE):                 # a > b  <=>  b < a
            a, b = b, a
            cond = lir.Cond.SLT if cond == lir.Cond.SGT else lir.Cond.SGE
        A = self.src_pair(a, T)
        if type(self.regs[b]) is Pair:
            B = self.regs[b]
        elif A != T:
            B = self.src_pair(b, T)
        else:
            B = Pair(self.lo(b, IP), self.hi(b, LR))
        if cond == lir.Cond.SET:
            self.w(E.tst_reg(A.lo, B.lo), E.tst_reg(A.hi, B.hi, cond=Cond.EQ))
        elif cond in SIGNED:
            self.w(E.cmp_reg(A.lo, B.lo), E.sbcs_reg(IP, A.hi, B.hi))
        else:
            self.w(E.cmp_reg(A.hi, B.hi), E.cmp_reg(A.lo, B.lo, cond=Cond.EQ))
        self.jump(op.target, CC[cond])

    def emit_call_helper(self, op: CallHelper) -> None:
        self.call_args(c_abi=True)
        sym = Symbol(SymKind.HELPER, op.id, f"helper_{op.id}")
        self.load_addr(IP, self.link(sym), sym)
        self.w(E.blx_reg(IP))
        self.call_result()

    def emit_call_local(self, op: CallLocal) -> None:
        callee = self.plans[op.func]
        self.call_args(c_abi=callee.cabi)
        # the callee's r10 in ip: the bottom of this frame (this r10 stays in its slot)
        self.w(E.ldr_imm(IP, SP, FP_SLOT))
        self.dp("sub", IP, IP, self.func.stack_depth, LR)
        self.buf.branch(callee.entry, branch_form(link=True))
        self.call_result()

    def emit_tail_call(self, op: TailCall) -> None:
        """Index check, count check and increment, slot check, then leave this frame
        and jump with ctx in r0:r1 and this r10 in ip (the target keeps it).  The
        count goes up before the slot is read (the kernel's and the interpreter's
        order: an empty slot uses up a tail call).  r2 (T.lo) holds the target: eBPF
        r2-r5 are clobbered by a tail call whether it is taken or not."""
        out = self.buf.new_label()
        m, idx = self.lo(2, T.lo), self.lo(3, T.hi)
        self.w(E.ldr_imm(IP, m, 12),                               # ip = max_entries
               E.cmp_reg(idx, IP))
        self.jump(out, Cond.HS)                                    # index (u32) out of range
        sym = Symbol(SymKind.TAIL_COUNT, 0, "tail_count")
        self.load_addr(LR, self.link(sym), sym)                    # lr = &count
        self.w(E.ldr_imm(IP, LR, 0),
               E.cmp_imm(IP, lir.MAX_TAIL_CALLS))
        self.jump(out, Cond.HS)                                    # the chain is too long
        self.w(E.add_imm(IP, IP, 1), E.str_imm(IP, LR, 0),         # count += 1
               E.ldr_imm(IP, m, 16),                               # ip = the values array
               E.add_reg(IP, IP, idx, Shift.LSL, 3),               # ip = &slot
               E.ldr_imm(LR, IP, 4), E.ldr_imm(T.lo, IP, 0),       # lr:r2 = slot
               E.orrs_reg(LR, T.lo, LR))
        self.jump(out, Cond.EQ)                                    # empty slot
        self.move(ARG_PAIRS[0], self.regs[1])                      # ctx into r0:r1
        fp = self.plan
        self.w(E.ldr_imm(IP, SP, FP_SLOT))                         # ip = r10, kept
        self.teardown(fp, LR)                                      # r2 holds the target
        self.w(E.pop(fp.saved), E.bx(T.lo))
        self.buf.bind(out)

    def emit_exit(self, op: Exit) -> None:
        self.epilogue(self.plan)
