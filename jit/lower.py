"""The common lowering: eBPF (a checked Program plus analysis facts) -> LIR.

Everything every backend would otherwise repeat happens here, once:
labels for jump targets; LDDW as a constant or a symbol; calls classified;
the guards the kernel's verifier inserts around division (x/0 = 0, x%0 = x,
INT_MIN/-1 = INT_MIN, x%-1 = 0); zero-extension of 32-bit results only where
the target's 32-bit ops don't zero-extend (caps.alu32_zext False) and the upper
half is read later (the analysis facts say where); byte-order ops as Bswap or
Trunc for the program's byte order (which is the target's: the driver refuses
a mismatch); LD_ABS/LD_IND as a call to an internal helper plus a bounds
branch; always/never-taken branches and no-op ALU folded; and, when asked,
constant blinding through the scratch register AX.

Programs repeat the same instructions many times over: each distinct one is
lowered once per function and its other occurrences are rebuilt from that
(`_template`), which is what makes the lowering fast on large programs.

It does not know any machine: only `caps`.
"""
from __future__ import annotations

import random
from bisect import bisect_left
from typing import Iterable, Mapping

from jit import isa
from jit.errors import CheckError, UnsupportedError
from jit.isa import Insn
from jit.lir import (AX, LD_ABS_HELPER, Alu, Atomic, AtomicOp, Branch, Bswap, CallHelper,
                     CallLocal, Cond, Exit, Imm, Jump, Label, LirFunc, LirProgram, Load,
                     LoadAddr, LoadImm, MovSx, Neg, Op, Store, Symbol, SymKind, TailCall, Trunc,
                     Zext)
from jit.program import Program

TAIL_CALL_HELPER = 12

ALU_OPS = {isa.Alu.ADD: Op.ADD, isa.Alu.SUB: Op.SUB, isa.Alu.MUL: Op.MUL, isa.Alu.OR: Op.OR,
           isa.Alu.AND: Op.AND, isa.Alu.LSH: Op.LSH, isa.Alu.RSH: Op.RSH, isa.Alu.XOR: Op.XOR,
           isa.Alu.MOV: Op.MOV, isa.Alu.ARSH: Op.ARSH}
SHIFTS = (Op.LSH, Op.RSH, Op.ARSH)

CONDS = {isa.Jmp.JEQ: Cond.EQ, isa.Jmp.JNE: Cond.NE, isa.Jmp.JGT: Cond.GT, isa.Jmp.JGE: Cond.GE,
         isa.Jmp.JLT: Cond.LT, isa.Jmp.JLE: Cond.LE, isa.Jmp.JSGT: Cond.SGT,
         isa.Jmp.JSGE: Cond.SGE, isa.Jmp.JSLT: Cond.SLT, isa.Jmp.JSLE: Cond.SLE,
         isa.Jmp.JSET: Cond.SET}
# a register compared with itself
SELF_TRUE = frozenset({Cond.EQ, Cond.GE, Cond.LE, Cond.SGE, Cond.SLE})
SELF_FALSE = frozenset({Cond.NE, Cond.GT, Cond.LT, Cond.SGT, Cond.SLT})

ATOMIC_OPS = {isa.Atomic.ADD: (AtomicOp.ADD, False), isa.Atomic.OR: (AtomicOp.OR, False),
              isa.Atomic.AND: (AtomicOp.AND, False), isa.Atomic.XOR: (AtomicOp.XOR, False),
              0x01: (AtomicOp.ADD, True), 0x41: (AtomicOp.OR, True),
              0x51: (AtomicOp.AND, True), 0xA1: (AtomicOp.XOR, True),
              isa.Atomic.XCHG: (AtomicOp.XCHG, True), isa.Atomic.CMPXCHG: (AtomicOp.CMPXCHG, True)}

# ALU64 operations with an immediate that change nothing
_NOOP_IMM64 = {Op.ADD: 0, Op.SUB: 0, Op.OR: 0, Op.XOR: 0, Op.LSH: 0, Op.RSH: 0, Op.ARSH: 0,
               Op.MUL: 1, Op.AND: -1}


class _Lowerer:
    def __init__(self, prog: Program, alu32_zext: bool, zext_needed: set[int] | None,
                 harden: bool, seed: int | None, poison_hi32: int | None = None) -> None:
        self.prog = prog
        self.alu32_zext = alu32_zext
        self.zext_needed = zext_needed
        self.next_label = prog.n_slots          # labels 0..n_slots-1 are eBPF jump targets
        # blinding masks: reproducible from `seed`, else fresh from the OS every compile
        self.rng = (random.Random(random.SystemRandom().getrandbits(64) if seed is None else seed)
                    if harden else None)
        # the kernel's BPF_F_TEST_RND_HI32: garbage in upper halves nobody should read
        self.poison = random.Random(poison_hi32) if poison_hi32 is not None else None
        self.func_index = {f.start: i for i, f in enumerate(prog.functions)}
        self.safe_divs: frozenset[int] = frozenset()   # see `lower`
        self.decided: Mapping[int, bool] = {}
        self.ops: list = []
        self.func_name = ""
        self.dispatch = {isa.Cls.ALU: self.lower_alu, isa.Cls.ALU64: self.lower_alu,
                         isa.Cls.JMP: self.lower_jmp, isa.Cls.JMP32: self.lower_jmp,
                         isa.Cls.LDX: self.lower_ldx, isa.Cls.ST: self.lower_st,
                         isa.Cls.STX: self.lower_stx, isa.Cls.LD: self.lower_ld}

    def label(self) -> int:
        self.next_label += 1
        return self.next_label - 1

    def err(self, cls, msg: str, pc: int):
        return cls(msg, file=self.prog.file, func=self.func_name, pc=pc)

    # ------------------------------------------------------------ driver
    def lower_function(self, index: int, depth: int) -> LirFunc:
        prog = self.prog
        f = prog.functions[index]
        self.func_name = f.name
        insns = prog.insns
        pcs = prog.pcs
        lo = bisect_left(pcs, f.start)
        hi = bisect_left(pcs, f.end)
        targets = set()
        for pc, insn in zip(pcs[lo:hi], insns[lo:hi]):
            op = insn[0]
            if _JUMPS[op]:
                targets.add(pc + 1 + (insn[4] if op == isa.GOTOL else insn[3]))
        self.ops = ops = []
        self.tail = False
        self.calls = False
        need_zext = not self.alu32_zext
        zn = self.zext_needed
        poison = self.poison
        upper = need_zext or poison is not None     # whether 32-bit results need anything
        dispatch = self.dispatch
        append = ops.append
        new = tuple.__new__
        # Insn -> how every other occurrence of it is lowered, without running the
        # per-instruction methods again (`_template`).  Per function, so that `used`
        # and the calls/tail-call flags are counted the first time.
        memo: dict = {}
        cacheable = self.rng is None        # blinding draws fresh random numbers every time
        used = 0
        decided = self.decided
        for pc, insn in zip(pcs[lo:hi], insns[lo:hi]):
            if pc in targets:
                append(Label(pc, pc))
            if decided and pc in decided:              # value ranges know the outcome
                if decided[pc]:
                    append(Jump(pc + 1 + insn[3], pc))
                continue
            hit = memo.get(insn)
            if hit is not None:
                t, fields, alu32, off = hit
                if t is not None:
                    append(new(t, fields + (pc,) if off is None else fields + (pc + 1 + off, pc)))
                elif fields:
                    ops += [new(tt, ff + (pc,)) for tt, ff in fields]
            else:
                op = insn[0]
                n = len(ops)
                dispatch[op & 7](insn, pc)
                used |= (1 << insn[1]) | (1 << insn[2])
                alu32 = op & 7 == 4 and op & 0xF0 != 0xD0     # END zero-extends
                if cacheable and _PC_FREE[op] and insn[2] != _PC_SRC.get(op):
                    memo[insn] = _template(ops[n:], pc, alu32)
            if alu32 and upper:                                # a 32-bit ALU result
                needed = zn is None or pc in zn
                if need_zext and needed:
                    append(Zext(insn[1], pc))
                elif poison is not None and not needed:
                    append(LoadImm(AX, poison.getrandbits(32) << 32, pc))
                    append(Alu(Op.OR, 64, insn[1], AX, pc))
        if self.calls:
            used |= 0b111111                            # r0-r5: arguments and result
        if self.rng is not None or poison is not None:
            used |= 1 << AX
        regs = frozenset(r for r in range(AX + 1) if used >> r & 1)
        return LirFunc(name=f.name, index=index, start_pc=f.start, ops=ops,
                       stack_depth=(depth + 7) // 8 * 8, regs_used=regs,
                       calls=self.calls, tail_calls=self.tail, n_labels=0)

    # ------------------------------------------------------------ per instruction
    def lower_ldx(self, insn: Insn, pc: int) -> None:
        op = insn[0]
        self.ops.append(Load(_SIZE[op & 0x18], insn[1], insn[2], insn[3], op & 0xE0 == 0x80, pc))

    def lower_st(self, insn: Insn, pc: int) -> None:
        self.store(_SIZE[insn[0] & 0x18], insn[1], insn[3], Imm(insn[4]), pc)

    def lower_stx(self, insn: Insn, pc: int) -> None:
        op = insn[0]
        size = _SIZE[op & 0x18]
        if op & 0xE0 == isa.Mode.ATOMIC:
            aop, fetch = ATOMIC_OPS[insn[4]]
            self.ops.append(Atomic(aop, size, insn[1], insn[3], insn[2], fetch, pc))
        else:
            self.ops.append(Store(size, insn[1], insn[3], insn[2], pc))

    def lower_ld(self, insn: Insn, pc: int) -> None:
        if insn[0] == isa.LDDW:
            self.lower_lddw(insn, pc)
        else:
            self.lower_ldabs(insn, pc)

    def lower_alu(self, insn: Insn, pc: int) -> None:
        opcode, dst, srcreg, off, imm = insn
        width = 64 if opcode & 7 == _ALU64 else 32
        code = opcode & 0xF0
        x = opcode & 0x08
        op = ALU_OPS.get(code)
        if op is not None and not (x and off):             # the plain cases first
            if x:
                if width == 64 and op == _MOV and srcreg == dst:
                    return                                   # r = r
                self.ops.append(Alu(op, width, dst, srcreg, pc))
                return
            if op in SHIFTS:
                imm &= width - 1
            if width == 64 and _NOOP_IMM64.get(op) == imm:
                return                                       # r += 0, r *= 1, ...
            if op == _MUL and self.strength_reduce(Op.MUL, width, dst, imm, pc):
                return
            self.alu_imm(op, width, dst, imm, pc)
        elif code == _NEG:
            self.ops.append(Neg(width, dst, pc))
        elif code == _END:
            self.lower_end(insn, pc)
        elif code == _DIV or code == _MOD:
            self.lower_div(insn, width, dst, srcreg if x else Imm(imm), pc)
        else:                                                # MOV X with off: movsx
            self.ops.append(MovSx(width, dst, srcreg, off, pc))

    def alu_imm(self, op: Op, width: int, dst: int, v: int, pc: int) -> None:
        if self.rng is not None:
            self.blind(v, pc)
            self.ops.append(Alu(op, width, dst, AX, pc))
        else:
            self.ops.append(Alu(op, width, dst, Imm(v), pc))

    def strength_reduce(self, op: Op, width: int, dst: int, v: int, pc: int) -> bool:
        """Multiply, unsigned divide and unsigned modulo by an immediate power of two (and
        multiply by 0 or -1) as the cheaper op every machine has; True if done.

        The immediate is read as the operation reads it: for width 64 sign-extended
        and, for DIV/MOD, then unsigned (so only 1 .. 2^30 are powers of two); for
        width 32 its low 32 bits (0x80000000 is 2^31).  A 32-bit result is still a
        32-bit op, so the zero-extension the caller adds stays where it is needed.
        Not when hardening: a blinded shift count costs more than a blinded factor."""
        if self.rng is not None:
            return False
        u = v & (M32 if width == 32 else M64)
        ops = self.ops
        if op == Op.MUL and u == 0:
            ops.append(Alu(Op.MOV, width, dst, Imm(0), pc))             # x * 0 = 0
            return True
        if op == Op.MUL and u == (M32 if width == 32 else M64):
            ops.append(Neg(width, dst, pc))                             # x * -1 = -x
            return True
        if u & (u - 1):
            return False
        k = u.bit_length() - 1
        if op == Op.MOD:
            if k == 0:
                ops.append(Alu(Op.MOV, width, dst, Imm(0), pc))         # x % 1 = 0
            else:
                self.alu_imm(Op.AND, width, dst, u - 1, pc)             # x % 2^k = x & (2^k-1)
            return True
        if k == 0:                                                      # x * 1, x / 1
            if width == 32:
                ops.append(Alu(Op.MOV, 32, dst, dst, pc))               # the low half, zext
            return True
        self.alu_imm(Op.LSH if op == Op.MUL else Op.RSH, width, dst, k, pc)
        return True

    def blind(self, v: int, pc: int) -> None:
        """AX = v, without v appearing in the code (imm ^ rnd, then xor rnd)."""
        r = self.rng.randrange(-(1 << 31), 1 << 31)
        self.ops.append(Alu(Op.MOV, 64, AX, Imm(isa.s32(v ^ r)), pc))
        self.ops.append(Alu(Op.XOR, 64, AX, Imm(r), pc))

    def store(self, size: int, base: int, off: int, src, pc: int) -> None:
        if isinstance(src, Imm) and self.rng is not None:
            self.blind(src.value, pc)
            src = AX
        self.ops.append(Store(size, base, off, src, pc))

    def lower_end(self, insn: Insn, pc: int) -> None:
        bits = insn.imm
        if insn.cls == isa.Cls.ALU64:                        # v4 unconditional bswap
            self.ops.append(Bswap(insn.dst, bits, pc))
            return
        to_be = insn.source == isa.Src.X
        native = (self.prog.byteorder == "big") == to_be
        if not native:
            self.ops.append(Bswap(insn.dst, bits, pc))
        elif bits < 64:
            self.ops.append(Trunc(insn.dst, bits, pc))

    def lower_div(self, insn: Insn, width: int, dst: int, src, pc: int) -> None:
        ops = self.ops
        signed = insn.off == 1
        is_mod = insn.code == isa.Alu.MOD
        op = (Op.SMOD if is_mod else Op.SDIV) if signed else (Op.MOD if is_mod else Op.DIV)
        if isinstance(src, Imm):
            v = src.value
            if v == 0:
                if is_mod:                                   # x % 0 = x (ALU32: zero-extended)
                    if width == 32:
                        ops.append(Alu(Op.MOV, 32, dst, dst, pc))
                else:
                    ops.append(Alu(Op.MOV, width, dst, Imm(0), pc))
            elif signed and v == -1:                         # x / -1 = -x, x % -1 = 0
                if is_mod:
                    ops.append(Alu(Op.MOV, width, dst, Imm(0), pc))
                else:
                    ops.append(Neg(width, dst, pc))
            elif not signed and self.strength_reduce(op, width, dst, v, pc):
                pass
            else:
                self.alu_imm(op, width, dst, v, pc)
            return
        if pc in self.safe_divs:            # value ranges: the divisor is never 0 (nor -1)
            ops.append(Alu(op, width, dst, src, pc))
            return
        done = self.label()
        zero = self.label()
        ops.append(Branch(Cond.EQ, width, src, Imm(0), zero, pc))
        if signed:
            minus1 = self.label()
            ops.append(Branch(Cond.EQ, width, src, Imm(-1), minus1, pc))
        ops.append(Alu(op, width, dst, src, pc))
        ops.append(Jump(done, pc))
        ops.append(Label(zero, pc))
        if is_mod:
            if width == 32:
                ops.append(Alu(Op.MOV, 32, dst, dst, pc))
        else:
            ops.append(Alu(Op.MOV, width, dst, Imm(0), pc))
        if signed:
            ops.append(Jump(done, pc))
            ops.append(Label(minus1, pc))
            if is_mod:
                ops.append(Alu(Op.MOV, width, dst, Imm(0), pc))
            else:
                ops.append(Neg(width, dst, pc))
        ops.append(Label(done, pc))

    def lower_jmp(self, insn: Insn, pc: int) -> None:
        ops = self.ops
        opcode, dst, src, off, imm = insn          # raw fields: this runs for every jump
        code = opcode & 0xF0
        if opcode == isa.JA or opcode == isa.GOTOL:
            if opcode == isa.GOTOL:
                off = imm
            if off != 0:
                ops.append(Jump(pc + 1 + off, pc))
            return
        if code == _EXIT:
            ops.append(Exit(pc))
            return
        if code == _CALL:
            self.calls = True
            if src == _LOCAL:
                tgt = pc + 1 + imm
                if tgt not in self.func_index:
                    raise self.err(CheckError, f"call to pc {tgt}, which starts no function", pc)
                ops.append(CallLocal(self.func_index[tgt], pc))
            elif src == _KFUNC:
                raise self.err(UnsupportedError, "kfunc calls (call with src=2) are not supported",
                               pc)
            elif imm == TAIL_CALL_HELPER:
                self.tail = True
                ops.append(TailCall(pc))
            else:
                ops.append(CallHelper(imm, pc))
            return
        width = 64 if opcode & 7 == _JMP else 32
        cond = CONDS[code]
        target = pc + 1 + off
        if off == 0:
            return                                           # a branch to the next insn
        if opcode & 0x08:                                    # Src.X
            if src == dst and cond != _SET:
                if cond in SELF_TRUE:
                    ops.append(Jump(target, pc))
                return
            ops.append(Branch(cond, width, dst, src, target, pc))
            return
        if cond == _SET and imm == 0:
            return                                           # never taken
        if self.rng is not None:
            self.blind(imm, pc)
            ops.append(Branch(cond, width, dst, AX, target, pc))
        else:
            ops.append(Branch(cond, width, dst, Imm(imm), target, pc))

    def lower_lddw(self, insn: Insn, pc: int) -> None:
        kind = insn.src
        dst = insn.dst
        if kind == isa.Pseudo.IMM:
            v = insn.imm
            if self.rng is not None:
                r = self.rng.getrandbits(64)
                self.ops.append(LoadImm(dst, v ^ r, pc))
                self.ops.append(LoadImm(AX, r, pc))
                self.ops.append(Alu(Op.XOR, 64, dst, AX, pc))
            else:
                self.ops.append(LoadImm(dst, v, pc))
            return
        lo = insn.imm & 0xFFFFFFFF
        maps = self.prog.maps
        if kind in (isa.Pseudo.MAP_FD, isa.Pseudo.MAP_IDX,
                    isa.Pseudo.MAP_VALUE, isa.Pseudo.MAP_IDX_VALUE):
            if lo >= len(maps):
                raise self.err(CheckError, f"LDDW refers to map {lo}, but the program has "
                               f"{len(maps)} maps", pc)
            name = maps[lo].name
            if kind in (isa.Pseudo.MAP_FD, isa.Pseudo.MAP_IDX):
                self.ops.append(LoadAddr(dst, Symbol(SymKind.MAP, lo, name), 0, pc))
            else:
                self.ops.append(LoadAddr(dst, Symbol(SymKind.MAP_VALUE, lo, name),
                                         insn.imm >> 32, pc))
            return
        if kind == isa.Pseudo.FUNC:
            tgt = pc + 1 + isa.s32(lo)
            if tgt not in self.func_index:
                raise self.err(CheckError, f"function pointer to pc {tgt}, which starts no "
                               "function", pc)
            fi = self.func_index[tgt]
            self.ops.append(LoadAddr(dst, Symbol(SymKind.FUNC, fi,
                                                 self.prog.functions[fi].name), 0, pc))
            return
        raise self.err(UnsupportedError, f"LDDW with src={kind} (BTF ids) is not supported", pc)

    def lower_ldabs(self, insn: Insn, pc: int) -> None:
        """r0 = ntoh(packet[imm (+ src)]); out of bounds the program returns 0.

        The load goes through an internal helper (the packet is behind the
        context, whose layout is the runtime's business); r1-r5 are clobbered
        as the ISA allows.
        """
        ops = self.ops
        size = isa.SIZE_BYTES[insn.size]
        if insn.mode == isa.Mode.IND:
            if insn.src != 2:
                ops.append(Alu(Op.MOV, 64, 2, insn.src, pc))
            self.alu_imm(Op.ADD, 32, 2, insn.imm, pc)        # blinded when hardening
        else:
            self.alu_imm(Op.MOV, 64, 2, insn.imm, pc)
        ops.append(Alu(Op.MOV, 64, 1, 6, pc))
        ops.append(CallHelper(LD_ABS_HELPER[size], pc))
        self.calls = True
        ok = self.label()
        ops.append(Branch(Cond.SGE, 64, 0, Imm(0), ok, pc))
        ops.append(Alu(Op.MOV, 64, 0, Imm(0), pc))
        ops.append(Exit(pc))
        ops.append(Label(ok, pc))


_CALL_EXIT = (isa.Jmp.CALL, isa.Jmp.EXIT)


def _pc_free(op: int) -> bool:
    """Whether what an instruction with opcode `op` lowers to is the same at every
    pc, but for the pc field and a jump's target (see `_template`): not register
    division and LD_ABS (they make labels), not LDDW src=FUNC and local calls
    (targets that are not a label: `_PC_SRC`)."""
    cls = op & 7
    if cls in (isa.Cls.ALU, isa.Cls.ALU64):
        return not (op & 0x08 and op & 0xF0 in (isa.Alu.DIV, isa.Alu.MOD))
    if cls == isa.Cls.LD:
        return op == isa.LDDW
    return True


_PC_FREE = tuple(_pc_free(op) for op in range(256))
# opcode -> the src field that makes an instruction of it depend on its pc
_PC_SRC = {isa.LDDW: int(isa.Pseudo.FUNC), isa.CALL: int(isa.CallKind.LOCAL)}


def _template(made: list, pc: int, alu32: bool) -> tuple:
    """(op type, fields, alu32, target distance) from which `_Lowerer.lower_function`
    rebuilds `made`, the ops an instruction at `pc` lowered to, at any other pc.

    One op: `fields` are its fields but the pc -- and but the target for a
    Jump or a Branch, whose target is rebuilt as pc + 1 + distance.  Any other
    number (none, for a no-op): type None and `fields` ((type, fields), ...)."""
    if len(made) == 1:
        o = made[0]
        t = type(o)
        if t is Jump or t is Branch:
            return t, o[:-2], alu32, o[-2] - pc - 1
        return t, o[:-1], alu32, None
    assert not any(type(o) in (Jump, Branch, Label) for o in made), made   # see _pc_free
    return None, tuple((type(o), o[:-1]) for o in made), alu32, None


# JMP and JMP32 opcodes that jump to an offset (all but call and exit)
_JUMPS = tuple(op & 7 in (isa.Cls.JMP, isa.Cls.JMP32) and op & 0xF0 not in _CALL_EXIT
               for op in range(256))
# enum members as plain ints where every instruction (or every jump) reads them:
# on CPython 3.11 reading an enum member costs ~150 ns, more than the test itself
_ALU64, _JMP = int(isa.Cls.ALU64), int(isa.Cls.JMP)
_NEG, _END, _DIV, _MOD = int(isa.Alu.NEG), int(isa.Alu.END), int(isa.Alu.DIV), int(isa.Alu.MOD)
_EXIT, _CALL = int(isa.Jmp.EXIT), int(isa.Jmp.CALL)
_LOCAL, _KFUNC = int(isa.CallKind.LOCAL), int(isa.CallKind.KFUNC)
_MOV, _MUL, _SET = Op.MOV, Op.MUL, Cond.SET   # module globals: no enum lookup when compared
M32, M64 = 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF
_SIZE = {isa.Size.W: 4, isa.Size.H: 2, isa.Size.B: 1, isa.Size.DW: 8}




def lower(prog: Program, *, alu32_zext: bool, depths: dict[int, int] | None = None,
          zext_needed: Iterable[int] | None = None, harden: bool = False,
          seed: int | None = None, poison_hi32: int | None = None,
          safe_divs: Iterable[int] = (), decided: Mapping[int, bool] | None = None
          ) -> LirProgram:
    """Lower a checked program.  `depths` maps function start slot -> stack bytes
    (default 512); `zext_needed` the slots of 32-bit definitions whose upper
    half is read (None = all of them).  `harden` blinds every immediate of the
    program with masks drawn from `seed` (None: a fresh random seed, so no two
    hardened images are alike).  `poison_hi32` (a seed) fills the upper
    half of every other 32-bit definition with random bits, so a wrong
    "never read" fact shows up as a divergence (tests only).
    From value ranges (`Facts.safe_divs`, `Facts.decided`): the pcs of register
    divisions that need no 0 / -1 guard, and conditional jumps whose outcome is
    always the same (folded to a jump or to nothing)."""
    zn = None if zext_needed is None else set(zext_needed)
    lw = _Lowerer(prog, alu32_zext, zn, harden, seed, poison_hi32)
    lw.safe_divs = frozenset(safe_divs)
    lw.decided = decided or {}
    funcs = []
    for i, f in enumerate(prog.functions):
        depth = 512 if depths is None else depths.get(f.start, 512)
        funcs.append(lw.lower_function(i, depth))
    return LirProgram(name=prog.name, funcs=funcs, byteorder=prog.byteorder,
                      map_count=len(prog.maps), tail_calls=any(f.tail_calls for f in funcs),
                      n_labels=lw.next_label)
