"""64-bit eBPF values on a 32-bit machine: homes, halves, and the 64-bit idioms.

Owns what exists only because an eBPF register is two A32 registers (or a
frame slot): reading and writing one half of a register wherever it lives,
constants and immediates that are no ARM modified immediate, moving whole
registers between homes (with a parallel move for argument shuffles),
borrowing register pairs for the few sequences that need more than the
temporaries, the 64-bit multiply and shift idioms, the division routine
emitted once per image, the liveness of register halves (which half of
which register is read later: a 32-bit machine need not compute the others),
and which upper halves are known to be 0 (a pointer's need not be checked).

Does not own: which LIR op becomes which idiom (emit.py), the register map
(regs.py), prologues and calls (abi.py) or any encoding (enc.py).

Conventions: the temporaries are the pair T (r2:r3), ip and lr.  A value's
low word is at the lower address of its slot.  Flags survive loads, stores
and the non-S moves used to build constants, so a 64-bit compare or add may
reload a spilled half between its two instructions.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from jit import lir
from jit.buffer import BranchForm, CodeBuffer
from jit.errors import EncodingError
from jit.lir import R10, Alu, AtomicOp, Imm, Op

from . import enc
from .enc import Cond, Reg, Shift
from .regs import BORROW, DIV_AREA, IP, LR, PAIRS, Frame, Pair, RegMap, Slot, T


class _Memo:
    """enc's functions behind a cache: they are pure, their operands a handful of
    small ints, and a program uses the same few hundred words again and again,
    so compiling spends its time checking fields it has already checked."""

    def __init__(self, module) -> None:
        self._module = module

    def __getattr__(self, name: str):
        value = getattr(self._module, name)
        if callable(value) and not isinstance(value, type):
            value = functools.lru_cache(maxsize=None)(value)
        setattr(self, name, value)
        return value


E = _Memo(enc)
encode_imm12 = E.encode_imm12
M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1
SP = Reg.SP
LO, HI = 0, 1


def halves(v: int) -> tuple[int, int]:
    v &= M64
    return v & M32, v >> 32


def fits_b(disp: int) -> bool:
    return E.B_REACH[0] <= disp <= E.B_REACH[1] and disp % 4 == 0


def branch_form(cond: Cond = Cond.AL, link: bool = False) -> list[BranchForm]:
    """The one A32 branch form (±32 MiB); the buffer raises EncodingError beyond it."""
    fn = E.bl if link else E.b
    return [BranchForm(4, fits_b,
                       lambda disp, at: fn(disp - E.PC_BIAS, cond).to_bytes(4, "little"))]


# Immediate forms with an equivalent partner: (partner, how the value changes).
# adds/subs and cmp/cmn give the same flags with the negated value for every
# value but 0 and 0x80000000, and both of those are encodable, so the partner
# is only ever tried where the flags agree.  adc/sbc trade v for ~v exactly
# (SBC is defined as rn + ~v + C).
_NEG = "neg"
_INV = "inv"
_PARTNER = {"add": ("sub", _NEG), "sub": ("add", _NEG), "adds": ("subs", _NEG),
            "subs": ("adds", _NEG), "adc": ("sbc", _INV), "sbc": ("adc", _INV),
            "adcs": ("sbcs", _INV), "sbcs": ("adcs", _INV), "and": ("bic", _INV),
            "bic": ("and", _INV), "cmp": ("cmn", _NEG), "cmn": ("cmp", _NEG),
            "mov": ("mvn", _INV), "mvn": ("mov", _INV)}
_COMPARES = frozenset({"cmp", "cmn", "tst", "teq"})


def _imm_fn(name: str):
    return getattr(E, f"{name}_imm")


def _reg_fn(name: str):
    return getattr(E, f"{name}_reg")


class PairCode:
    """Building blocks the emitter (emit.py) and the ABI code (abi.py) share.

    Subclasses set `buf` and `regs`.  eBPF r10 is a Frame home: a word slot whose
    upper half is the constant 0 (read with one ldr, the upper half with `mov #0`).
    """

    buf: CodeBuffer
    regs: RegMap

    def w(self, *words: int) -> None:
        self.buf.words(words)

    # ------------------------------------------------------------ constants
    def const(self, rd: Reg, value: int, cond: Cond = Cond.AL) -> None:
        """rd = value (32 bits): mov or mvn of a modified immediate, else movw (+ movt)."""
        v = value & M32
        if encode_imm12(v) is not None:
            self.w(E.mov_imm(rd, v, cond))
        elif encode_imm12(~v & M32) is not None:
            self.w(E.mvn_imm(rd, ~v & M32, cond))
        else:
            self.w(E.movw(rd, v & 0xFFFF, cond))
            if v >> 16:
                self.w(E.movt(rd, v >> 16, cond))

    def dp(self, name: str, rd: Reg | None, rn: Reg, value: int, scratch: Reg,
           cond: Cond = Cond.AL) -> None:
        """rd = rn <name> value (compares: flags = rn <name> value), through `scratch`
        when neither the value nor its partner form is a modified immediate."""
        v = value & M32
        compare = name in _COMPARES
        if encode_imm12(v) is not None:
            self._dp_imm(name, rd, rn, v, cond, compare)
            return
        partner = _PARTNER.get(name)
        if partner is not None:
            other, how = partner
            pv = (-v if how == _NEG else ~v) & M32
            if v != 0 and encode_imm12(pv) is not None:
                self._dp_imm(other, rd, rn, pv, cond, compare)
                return
        if scratch == rn:
            raise EncodingError(f"{name}: scratch register r{int(scratch)} is the operand")
        self.const(scratch, v, cond)
        if compare:
            self.w(_reg_fn(name)(rn, scratch, cond=cond))
        elif name in ("mov", "mvn"):
            self.w(_reg_fn(name)(rd, scratch, cond=cond))
        else:
            self.w(_reg_fn(name)(rd, rn, scratch, cond=cond))

    def _dp_imm(self, name, rd, rn, v, cond, compare) -> None:
        fn = _imm_fn(name)
        if compare:
            self.w(fn(rn, v, cond))
        elif name in ("mov", "mvn"):
            self.w(fn(rd, v, cond))
        else:
            self.w(fn(rd, rn, v, cond))

    def add_const(self, rd: Reg, rn: Reg, value: int, scratch: Reg) -> None:
        """rd = rn + value (any 32-bit value); nothing if it is a no-op."""
        if value & M32 == 0:
            if rd != rn:
                self.w(E.mov_reg(rd, rn))
            return
        self.dp("add", rd, rn, value, scratch)

    # ------------------------------------------------------------ halves of homes
    # For the paths where one word is all that is read or written (32-bit ops,
    # dead upper halves): single ldr/str through ip or lr.
    def half(self, r: int, which: int, tmp: Reg) -> Reg:
        """A register holding half `which` of eBPF register r (loaded into tmp if need be)."""
        h = self.regs[r]
        t = type(h)
        if t is Pair:
            return h[which]
        if t is Slot:
            self.w(E.ldr_imm(tmp, SP, h.off + 4 * which))
            return tmp
        if which == LO:                          # r10: its word slot, upper half 0
            self.w(E.ldr_imm(tmp, SP, h.off))
        else:
            self.w(E.mov_imm(tmp, 0))
        return tmp

    def lo(self, r: int, tmp: Reg) -> Reg:
        return self.half(r, LO, tmp)

    def hi(self, r: int, tmp: Reg) -> Reg:
        return self.half(r, HI, tmp)

    def target(self, r: int, which: int, tmp: Reg) -> Reg:
        """The register to compute half `which` of r into (its home, or tmp for a slot)."""
        h = self.regs[r]
        if type(h) is Pair:
            return h[which]
        if type(h) is Frame:
            raise EncodingError("r10 is read-only")
        return tmp

    def put(self, r: int, which: int, reg: Reg) -> None:
        """Half `which` of r was computed into `reg` (from `target`): store it if r is spilled."""
        h = self.regs[r]
        if type(h) is Slot:
            self.w(E.str_imm(reg, SP, h.off + 4 * which))
        elif h[which] != reg:
            self.w(E.mov_reg(h[which], reg))

    copy_half = put                              # half `which` of r = register src

    def set_half(self, r: int, which: int, value: int, tmp: Reg) -> None:
        """Half `which` of r = a constant."""
        reg = self.target(r, which, tmp)
        self.const(reg, value)
        self.put(r, which, reg)

    def rmw(self, r: int, which: int, tmp: Reg) -> Reg:
        """Half `which` of r in a register that may be modified and then `put` back."""
        if type(self.regs[r]) is Frame:
            raise EncodingError("r10 is read-only")
        return self.half(r, which, tmp)

    # ------------------------------------------------------------ whole registers
    # Both words at once: a pair home is used in place, a slot goes through T
    # (r2:r3) with one ldrd/strd.
    def src_pair(self, r: int, tmp: Pair = T) -> Pair:
        """A pair of registers holding r: its home, or `tmp` loaded from its slot."""
        h = self.regs[r]
        if type(h) is Pair:
            return h
        if type(h) is Slot:
            self.w(E.ldrd_imm(tmp.lo, tmp.hi, SP, h.off))
        else:
            self.w(E.ldr_imm(tmp.lo, SP, h.off), E.mov_imm(tmp.hi, 0))
        return tmp

    def dst_pair(self, r: int, load: bool) -> Pair:
        """Where to compute r: its home, or T (loaded first when `load`)."""
        h = self.regs[r]
        if type(h) is Pair:
            return h
        if type(h) is Frame:
            raise EncodingError("r10 is read-only")
        if load:
            self.w(E.ldrd_imm(T.lo, T.hi, SP, h.off))
        return T

    def commit(self, r: int, p: Pair) -> None:
        """r was computed into p (from `dst_pair`): store it if r is spilled."""
        h = self.regs[r]
        if type(h) is Slot:
            self.w(E.strd_imm(p.lo, p.hi, SP, h.off))
        elif h != p:
            self.w(E.mov_reg(h.lo, p.lo), E.mov_reg(h.hi, p.hi))

    def operands64(self, d: int, s: int) -> tuple[Pair, Pair]:
        """(D, S) for a two-operand 64-bit op: D from `dst_pair` (loaded), S holding s.

        S is s's home, D itself when s is d, T when D is a home, else ip:lr
        (two ldr: T is taken by D).  ip:lr is no ldrd pair, only two registers.
        """
        D = self.dst_pair(d, True)
        if s == d:
            return D, D
        h = self.regs[s]
        if type(h) is Pair:
            return D, h
        if D != T:
            return D, self.src_pair(s, T)
        if type(h) is Slot:
            self.w(E.ldr_imm(IP, SP, h.off), E.ldr_imm(LR, SP, h.off + 4))
        else:
            self.w(E.ldr_imm(IP, SP, h.off), E.mov_imm(LR, 0))
        return D, Pair(IP, LR)

    def move(self, dst, src) -> None:
        """dst = src, 64 bits; either may be a Pair, a Slot or (src only) Frame."""
        if dst == src:
            return
        if type(dst) is Pair:
            if type(src) is Pair:
                self.w(E.mov_reg(dst.lo, src.lo), E.mov_reg(dst.hi, src.hi))
            elif type(src) is Slot:
                self.w(E.ldrd_imm(dst.lo, dst.hi, SP, src.off))
            else:
                self.w(E.ldr_imm(dst.lo, SP, src.off), E.mov_imm(dst.hi, 0))
        elif type(dst) is Slot:
            if type(src) is Pair:
                self.w(E.strd_imm(src.lo, src.hi, SP, dst.off))
            elif type(src) is Slot:
                self.w(E.ldrd_imm(T.lo, T.hi, SP, src.off), E.strd_imm(T.lo, T.hi, SP, dst.off))
            else:
                self.w(E.ldr_imm(T.lo, SP, src.off), E.mov_imm(T.hi, 0),
                       E.strd_imm(T.lo, T.hi, SP, dst.off))
        else:
            raise EncodingError("r10 is read-only")

    def parallel_move(self, moves: list) -> None:
        """Perform [(dst home, src home)] as if all at once (sources read before any write).

        Homes are whole pairs or slots, so two homes either coincide or are
        disjoint; a cycle is broken by parking one source in ip:lr.
        """
        pending = [(d, s) for d, s in moves if d != s]
        parked = None
        while pending:
            for i, (d, s) in enumerate(pending):
                if all(d != s2 for j, (_, s2) in enumerate(pending) if j != i):
                    self.move(d, s)
                    del pending[i]
                    break
            else:
                d, s = pending[0]
                if type(s) is Pair:
                    self.w(E.mov_reg(IP, s.lo), E.mov_reg(LR, s.hi))
                elif type(s) is Frame:
                    self.w(E.ldr_imm(IP, SP, s.off), E.mov_imm(LR, 0))
                else:
                    self.w(E.ldr_imm(IP, SP, s.off), E.ldr_imm(LR, SP, s.off + 4))
                parked = d
                del pending[0]
        if parked is not None:
            if type(parked) is Pair:
                self.w(E.mov_reg(parked.lo, IP), E.mov_reg(parked.hi, LR))
            else:
                self.w(E.str_imm(IP, SP, parked.off), E.str_imm(LR, SP, parked.off + 4))

    # ------------------------------------------------------------ borrowing
    def free_pair(self, p: Pair) -> bool:
        """May p be clobbered here without saving it?  (Overridden by the emitter,
        which knows what is live and what the prologue saved.)"""
        return False

    def borrow(self, n: int, avoid: set) -> list[Pair]:
        """n home pairs holding none of the registers in `avoid`, for the rare
        sequences that need more than T, ip and lr (atomics on spilled
        operands, 64-bit fetch-and-op).  A pair whose eBPF register is dead is
        taken as it is; another is saved to the borrow area and given back."""
        cands = [p for p in PAIRS if p.lo not in avoid and p.hi not in avoid]
        cands.sort(key=lambda p: not self.free_pair(p))
        if len(cands) < n:
            raise EncodingError(f"cannot borrow {n} register pairs")
        got = cands[:n]
        self.borrowed_saved = [(p, off) for p, off in zip(got, BORROW) if not self.free_pair(p)]
        for p, off in self.borrowed_saved:
            self.w(E.strd_imm(p.lo, p.hi, SP, off))
        return got

    def give_back(self, pairs: list[Pair]) -> None:
        for p, off in self.borrowed_saved:
            self.w(E.ldrd_imm(p.lo, p.hi, SP, off))
        self.borrowed_saved = []

    # ------------------------------------------------------------ 64-bit idioms
    def mul64(self, d: Pair, s: Pair) -> None:
        """d = d * s (low 64 bits of the product); s may be ip:lr (then consumed)."""
        if d == s:
            self.w(E.mul(IP, d.lo, d.hi),              # ip = lo * hi
                   E.add_reg(IP, IP, IP),              # ip = 2 * lo * hi (cross terms)
                   E.umull(d.lo, d.hi, d.lo, d.lo),    # d = lo * lo
                   E.add_reg(d.hi, d.hi, IP))
        elif s.lo == IP:
            self.w(E.mul(LR, d.lo, LR),                # lr = dlo * shi
                   E.mla(LR, d.hi, IP, LR),            # lr += dhi * slo
                   E.umull(d.lo, d.hi, d.lo, IP),      # d = dlo * slo (64-bit)
                   E.add_reg(d.hi, d.hi, LR))          # d.hi += cross terms
        else:
            self.w(E.mul(IP, d.lo, s.hi),              # ip = dlo * shi
                   E.mla(IP, d.hi, s.lo, IP),          # ip += dhi * slo
                   E.umull(d.lo, d.hi, d.lo, s.lo),    # d = dlo * slo (64-bit)
                   E.add_reg(d.hi, d.hi, IP))          # d.hi += cross terms

    def mul64_imm(self, d: Pair, v: int) -> None:
        """d = d * v, v a sign-extended 32-bit immediate."""
        lo, hi = halves(v)
        self.const(LR, lo)                             # lr = imm lo
        self.w(E.mul(IP, d.hi, LR))                    # ip = dhi * lo
        if hi:
            self.w(E.sub_reg(IP, IP, d.lo))            # ip -= dlo (dlo * 0xffffffff)
        self.w(E.umull(d.lo, d.hi, d.lo, LR),          # d = dlo * lo (64-bit)
               E.add_reg(d.hi, d.hi, IP))

    def shift64_imm(self, kind: str, lo: Reg, hi: Reg, n: int) -> None:
        """hi:lo <<= n, >>= n or >>= n arithmetic; n in 0..63.

        A shift by 0 emits nothing: `lsr #0` would encode a shift by 32 (the
        kernel ARM32 JIT's 64-bit RSH/ARSH-by-0 bug).
        """
        if n == 0:
            return
        if kind == "lsh":
            if n < 32:
                self.w(E.lsl_imm(hi, hi, n),                          # hi <<= n
                       E.orr_reg(hi, hi, lo, Shift.LSR, 32 - n),      # hi |= lo >> (32 - n)
                       E.lsl_imm(lo, lo, n))
            else:
                self.w(E.lsl_imm(hi, lo, n - 32) if n > 32 else E.mov_reg(hi, lo),
                       E.mov_imm(lo, 0))
            return
        fill = E.asr_imm(hi, hi, 31) if kind == "arsh" else E.mov_imm(hi, 0)
        if n < 32:
            tail = E.asr_imm(hi, hi, n) if kind == "arsh" else E.lsr_imm(hi, hi, n)
            self.w(E.lsr_imm(lo, lo, n),                              # lo >>= n
                   E.orr_reg(lo, lo, hi, Shift.LSL, 32 - n),          # lo |= hi << (32 - n)
                   tail)
        elif n == 32:
            self.w(E.mov_reg(lo, hi), fill)
        else:
            sh = E.asr_imm(lo, hi, n - 32) if kind == "arsh" else E.lsr_imm(lo, hi, n - 32)
            self.w(sh, fill)

    def shift64_reg_with(self, kind: str, d: Pair, n: Reg, tmp: Reg) -> None:
        """d <<= n for n already in 0..63 (the division routine's alignment), with `tmp`."""
        lo, hi = d
        self.w(E.lsl_reg(hi, hi, n),                                  # hi <<= n
               E.sub_imm(tmp, n, 32),                                 # tmp = n - 32
               E.orr_rsr(hi, hi, lo, Shift.LSL, tmp),                 # hi |= lo << (n - 32)
               E.rsb_imm(tmp, n, 32),                                 # tmp = 32 - n
               E.orr_rsr(hi, hi, lo, Shift.LSR, tmp),                 # hi |= lo >> (32 - n)
               E.lsl_reg(lo, lo, n))                                  # lo <<= n

    def shift64_reg(self, kind: str, d: Pair, count: Reg) -> None:
        """d <<= / >>= / >>=arith (count & 63).

        A32 register shifts use the count's low byte and give 0 (or the sign)
        from 32 on, so a negative (n - 32) or (32 - n) contributes nothing:
        the six-instruction sequences need no branches.
        """
        lo, hi = d
        self.w(E.and_imm(IP, count, 63))                              # ip = n
        if kind == "lsh":
            self.shift64_reg_with(kind, d, IP, LR)
        elif kind == "rsh":
            self.w(E.lsr_reg(lo, lo, IP),                             # lo >>= n
                   E.rsb_imm(LR, IP, 32),                             # lr = 32 - n
                   E.orr_rsr(lo, lo, hi, Shift.LSL, LR),              # lo |= hi << (32 - n)
                   E.sub_imm(LR, IP, 32),                             # lr = n - 32
                   E.orr_rsr(lo, lo, hi, Shift.LSR, LR),              # lo |= hi >> (n - 32)
                   E.lsr_reg(hi, hi, IP))                             # hi >>= n
        else:
            self.w(E.lsr_reg(lo, lo, IP),                             # lo >>= n
                   E.rsb_imm(LR, IP, 32),                             # lr = 32 - n
                   E.orr_rsr(lo, lo, hi, Shift.LSL, LR),              # lo |= hi << (32 - n)
                   E.subs_imm(LR, IP, 32),                            # lr = n - 32, pl if n >= 32
                   E.orr_rsr(lo, lo, hi, Shift.ASR, LR, Cond.PL),     # lo |= hi >>a (n - 32)
                   E.asr_reg(hi, hi, IP))                             # hi >>= n (arith)


# ---------------------------------------------------------------- division routines
# One routine per kind of division an image uses (64-bit DIV/MOD/SDIV/SMOD,
# and on cortex-a9 the 32-bit ones too), each emitted once.  The caller stores
# the dividend at [sp, #DIV_AREA] and the divisor at [sp, #DIV_AREA + 8] and
# `bl`s the routine; the result replaces the dividend.  Every register but ip
# and lr is preserved.  Signed ones divide the magnitudes and fix the sign
# after (truncating: the quotient is negative when the signs differ, the
# remainder takes the dividend's sign); the lowering never passes 0 or -1.

class DivKind(NamedTuple):
    width: int          # 32: the low words only
    signed: bool
    mod: bool           # the remainder instead of the quotient

    @property
    def name(self) -> str:
        return f"bpf_{'s' if self.signed else 'u'}{'mod' if self.mod else 'div'}{self.width}"


_SAVED = tuple(Reg(i) for i in range(11)) + (Reg.LR,)
_AREA = 4 * len(_SAVED) + DIV_AREA          # the caller's division area, from the routine


def emit_divmod(code: PairCode, hw_div: bool, kind: DivKind) -> None:
    """The routine body (its label is bound by the caller).

    Registers: n = r1:r0 (then the remainder), d = r3:r2, q = r5:r4, r6 the
    shift count, r8:r9 a trial difference, r10 the sign of the result.
    """
    buf, w, r = code.buf, code.w, Reg
    done, wide = buf.new_label(), buf.new_label()
    w(E.push(_SAVED))
    if kind.width == 32:
        w(E.ldr_imm(r.R0, SP, _AREA), E.ldr_imm(r.R2, SP, _AREA + 8))
        if kind.signed:
            w(E.mov_reg(r.R10, r.R0) if kind.mod else E.eor_reg(r.R10, r.R0, r.R2),
              E.cmp_imm(r.R0, 0), E.rsb_imm(r.R0, r.R0, 0, Cond.LT),   # n = |n|
              E.cmp_imm(r.R2, 0), E.rsb_imm(r.R2, r.R2, 0, Cond.LT))   # d = |d|
        w(E.mov_imm(r.R1, 0), E.mov_imm(r.R3, 0))
    else:
        w(E.ldrd_imm(r.R0, r.R1, SP, _AREA), E.ldrd_imm(r.R2, r.R3, SP, _AREA + 8))
        if kind.signed:
            w(E.mov_reg(r.R10, r.R1) if kind.mod else E.eor_reg(r.R10, r.R1, r.R3))
            for lo, hi in ((r.R0, r.R1), (r.R2, r.R3)):             # x = |x|
                positive = buf.new_label()
                w(E.cmp_imm(hi, 0))
                buf.branch(positive, branch_form(Cond.GE))
                w(E.rsbs_imm(lo, lo, 0), E.rsc_imm(hi, hi, 0))
                buf.bind(positive)
    w(E.mov_imm(r.R4, 0), E.mov_imm(r.R5, 0),                   # q = 0
      E.cmp_reg(r.R3, r.R1), E.cmp_reg(r.R2, r.R0, cond=Cond.EQ))
    buf.branch(done, branch_form(Cond.HI))                       # d > n: q = 0, rem = n
    if kind.width == 64:
        w(E.orrs_reg(r.R6, r.R1, r.R3))                          # both upper halves zero?
        buf.branch(wide, branch_form(Cond.NE))
    if hw_div:
        w(E.udiv(r.R4, r.R0, r.R2))                              # q = n / d
        if kind.mod:
            w(E.mls(r.R0, r.R4, r.R2, r.R0))                     # rem = n - q * d
    else:                                                        # one quotient bit per 6 insns
        loop32 = buf.new_label()
        w(E.clz(r.R6, r.R2), E.clz(r.R7, r.R0),
          E.sub_reg(r.R6, r.R6, r.R7),                           # r6 = shift (d <= n: >= 0)
          E.lsl_reg(r.R2, r.R2, r.R6),                           # d <<= shift
          E.add_imm(r.R6, r.R6, 1))                              # shift + 1 quotient bits
        buf.bind(loop32)
        w(E.cmp_reg(r.R0, r.R2),                                 # cs: n >= d
          E.sub_reg(r.R0, r.R0, r.R2, cond=Cond.CS),             # n -= d
          E.adc_reg(r.R4, r.R4, r.R4),                           # q = 2q + (n >= d)
          E.lsr_imm(r.R2, r.R2, 1),                              # d >>= 1
          E.subs_imm(r.R6, r.R6, 1))
        buf.branch(loop32, branch_form(Cond.NE))
    if kind.width == 64:
        buf.branch(done, branch_form())
        buf.bind(wide)
        loop64 = buf.new_label()
        w(E.cmp_imm(r.R3, 0),                                    # r6 = clz64(d)
          E.clz(r.R6, r.R3, Cond.NE), E.clz(r.R6, r.R2, Cond.EQ),
          E.add_imm(r.R6, r.R6, 32, Cond.EQ),
          E.cmp_imm(r.R1, 0),                                    # r7 = clz64(n)
          E.clz(r.R7, r.R1, Cond.NE), E.clz(r.R7, r.R0, Cond.EQ),
          E.add_imm(r.R7, r.R7, 32, Cond.EQ),
          E.sub_reg(r.R6, r.R6, r.R7))                           # r6 = shift (d <= n: >= 0)
        code.shift64_reg_with("lsh", Pair(r.R2, r.R3), r.R6, r.R8)   # d <<= shift
        w(E.add_imm(r.R6, r.R6, 1))                              # shift + 1 quotient bits
        buf.bind(loop64)
        w(E.adds_reg(r.R4, r.R4, r.R4), E.adc_reg(r.R5, r.R5, r.R5),  # q <<= 1
          E.subs_reg(r.R8, r.R0, r.R2), E.sbcs_reg(r.R9, r.R1, r.R3),  # r9:r8 = n - d, cs: n >= d
          E.mov_reg(r.R0, r.R8, cond=Cond.CS), E.mov_reg(r.R1, r.R9, cond=Cond.CS),
          E.orr_imm(r.R4, r.R4, 1, Cond.CS),                           # q |= 1
          E.movs_reg(r.R3, r.R3, Shift.LSR, 1), E.rrx(r.R2, r.R2),     # d >>= 1
          E.subs_imm(r.R6, r.R6, 1))
        buf.branch(loop64, branch_form(Cond.NE))
    buf.bind(done)
    if kind.mod:
        w(E.mov_reg(r.R4, r.R0), E.mov_reg(r.R5, r.R1))         # the remainder
    if kind.signed and kind.width == 32:                         # negate if r10 < 0
        w(E.cmp_imm(r.R10, 0), E.rsb_imm(r.R4, r.R4, 0, Cond.LT))
    elif kind.signed:
        positive = buf.new_label()
        w(E.cmp_imm(r.R10, 0))
        buf.branch(positive, branch_form(Cond.GE))
        w(E.rsbs_imm(r.R4, r.R4, 0), E.rsc_imm(r.R5, r.R5, 0))
        buf.bind(positive)
    if kind.width == 32:
        w(E.str_imm(r.R4, SP, _AREA))
    else:
        w(E.strd_imm(r.R4, r.R5, SP, _AREA))
    w(E.pop(_SAVED[:-1] + (Reg.PC,)))


# ---------------------------------------------------------------- stack addresses

class FrameAddr(NamedTuple):
    """dst = r10 + off, upper half 0: what `rX = r10; rX += off` computes (every
    map lookup passes a key on the stack that way).  The backend's own op: made
    by fold_frame_addr only for |off| <= FRAME_ADDR_MAX, where the 64-bit sum of
    a stack address far from 0 and 2^32 cannot carry into the upper half."""
    dst: int
    off: int
    pc: int


FRAME_ADDR_MAX = 4096


def fold_frame_addr(ops: list) -> list:
    """Replace `mov64 rX, r10` + `add64 rX, #k` (nothing in between) by FrameAddr."""
    out = []
    i, n = 0, len(ops)
    while i < n:
        op = ops[i]
        if (type(op) is Alu and op.op == Op.MOV and op.width == 64 and op.src == R10
                and i + 1 < n):
            nxt = ops[i + 1]
            if (type(nxt) is Alu and nxt.width == 64 and nxt.dst == op.dst
                    and nxt.op in (Op.ADD, Op.SUB) and type(nxt.src) is Imm
                    and abs(nxt.src.value) <= FRAME_ADDR_MAX):
                k = nxt.src.value if nxt.op == Op.ADD else -nxt.src.value
                out.append(FrameAddr(op.dst, k, op.pc))
                i += 2
                continue
        out.append(op)
        i += 1
    return out


# ---------------------------------------------------------------- live halves
# A 32-bit machine pays for every upper half it computes, and eBPF code is
# full of 64-bit operations whose upper halves nobody reads: pointer
# arithmetic (addresses use the low word), a loaded byte compared with JMP32,
# a Zext whose register is overwritten next.  This is a backward liveness
# analysis over the LIR of one function with one bit per register half
# (bit 2*r: low word of eBPF register r, bit 2*r + 1: its high word).  The
# emitter skips the halves (and whole side-effect-free ops) that are dead.

def _bit(r: int, h: int) -> int:
    return 1 << (2 * r + h)


def _both(r: int) -> int:
    return 3 << (2 * r)


ARGS_BOTH = sum(_both(r) for r in range(1, 6))
R0_BOTH = _both(0)


def _reg(o) -> bool:
    return type(o) is int


def _t_alu(op, live: int) -> int:
    d, s, o = op.dst, op.src, op.op
    lo_live, hi_live = live >> 2 * d & 1, live >> (2 * d + 1) & 1
    if op.width == 32:
        if not lo_live:
            return live
        uses = _bit(s, 0) if _reg(s) else 0
        if o != Op.MOV:
            uses |= _bit(d, 0)
        return (live & ~_bit(d, 0)) | uses
    if not (lo_live or hi_live):
        return live & ~_both(d)
    sb = _both(s) if _reg(s) else 0
    sl = _bit(s, 0) if _reg(s) else 0
    if o == Op.MOV:
        uses = (sl if lo_live else 0) | (sb & ~sl if hi_live else 0)
    elif o in (Op.AND, Op.OR, Op.XOR):
        uses = ((sl | _bit(d, 0)) if lo_live else 0) | ((sb & ~sl | _bit(d, 1)) if hi_live else 0)
    elif o in (Op.ADD, Op.SUB, Op.MUL):
        uses = (sb | _both(d)) if hi_live else (sl | _bit(d, 0))
    elif o in (Op.LSH, Op.RSH, Op.ARSH) and not _reg(s):
        n = s.value & 63
        lo_in, hi_in = _bit(d, 0), _bit(d, 1)
        if o == Op.LSH:               # lo = lo << n (0 from 32 on); hi takes lo's bits
            uses = ((lo_in if n < 32 else 0) if lo_live else 0) | \
                   (((hi_in if n < 32 else 0) | (lo_in if n else 0)) if hi_live else 0)
        else:                         # lo takes hi's bits; hi = hi >> n (arith: the sign)
            uses = (((lo_in if n < 32 else 0) | (hi_in if n else 0)) if lo_live else 0) | \
                   ((hi_in if o == Op.ARSH or n < 32 else 0) if hi_live else 0)
    else:                             # shifts by register, division
        uses = _both(d) | sb
    return (live & ~_both(d)) | uses


def _t_neg(op, live: int) -> int:
    d = op.dst
    if op.width == 32:
        return live
    if live & _both(d) == 0:
        return live
    return (live & ~_both(d)) | (_both(d) if live & _bit(d, 1) else _bit(d, 0))


def _t_movsx(op, live: int) -> int:
    d = op.dst
    defs = _both(d) if op.width == 64 else _bit(d, 0)
    if live & defs == 0:
        return live
    return (live & ~defs) | _bit(op.src, 0)


def _t_zext(op, live: int) -> int:
    return live & ~_bit(op.dst, 1)


def _t_bswap(op, live: int) -> int:
    d = op.dst
    if live & _both(d) == 0:
        return live
    return (live & ~_both(d)) | (_both(d) if op.bits == 64 else _bit(d, 0))


def _t_trunc(op, live: int) -> int:
    d = op.dst
    if op.bits == 32:
        return live & ~_bit(d, 1)
    if live & _both(d) == 0:
        return live
    return (live & ~_both(d)) | _bit(d, 0)


def _t_def(op, live: int) -> int:
    return live & ~_both(op.dst)


def _addr(base: int) -> int:
    """The halves an access through `base` reads: both (the upper word is checked to
    be 0, emit.checked_base), but only the low word of r10 (its upper half is 0)."""
    return _bit(base, 0) if base == 10 else _both(base)


def _t_load(op, live: int) -> int:
    return (live & ~_both(op.dst)) | _addr(op.base)


def _t_store(op, live: int) -> int:
    uses = _addr(op.base)
    if _reg(op.src):
        uses |= _both(op.src) if op.size == 8 else _bit(op.src, 0)
    return live | uses


def _t_atomic(op, live: int) -> int:
    width = _both if op.size == 8 else (lambda r: _bit(r, 0))
    if op.op == AtomicOp.CMPXCHG:
        return (live & ~_both(0)) | _addr(op.base) | width(op.src) | width(0)
    if op.fetch or op.op == AtomicOp.XCHG:
        live &= ~_both(op.src)
    return live | _addr(op.base) | width(op.src)


def _t_branch(op, live: int) -> int:
    width = _both if op.width == 64 else (lambda r: _bit(r, 0))
    uses = width(op.a)
    if _reg(op.b):
        uses |= width(op.b)
    return live | uses


def _t_call(op, live: int) -> int:
    return (live & ~(R0_BOTH | ARGS_BOTH)) | ARGS_BOTH


def _t_tail_call(op, live: int) -> int:
    # falls through with r0 unchanged and r1-r5 clobbered; the target reads r1
    return (live & ~ARGS_BOTH) | _both(1) | _bit(2, 0) | _bit(3, 0)


def _t_exit(op, live: int) -> int:
    return R0_BOTH


def _t_none(op, live: int) -> int:
    return live


@functools.lru_cache(maxsize=None)
def _transfers() -> dict:
    return {lir.Alu: _t_alu, lir.Neg: _t_neg, lir.MovSx: _t_movsx, lir.Zext: _t_zext,
            lir.Bswap: _t_bswap, lir.Trunc: _t_trunc, lir.LoadImm: _t_def,
            lir.LoadAddr: _t_def, lir.Load: _t_load, lir.Store: _t_store,
            lir.Atomic: _t_atomic, lir.Branch: _t_branch, lir.CallHelper: _t_call,
            lir.CallLocal: _t_call, lir.TailCall: _t_tail_call, lir.Exit: _t_exit,
            lir.Jump: _t_none, lir.Label: _t_none, FrameAddr: _t_def}


def live_before(op, live: int) -> int:
    """The halves live before `op`, given those live after it."""
    return _transfers()[type(op)](op, live)


def _cfg(ops: list) -> tuple[list, list, list]:
    """The basic blocks of one function: [start, end) op ranges (a label starts one, a
    jump/branch/exit ends one), each block's successors and each block's predecessors."""
    n = len(ops)
    starts = [0]
    for i, op in enumerate(ops):
        t = type(op)
        if t is lir.Label and i and starts[-1] != i:
            starts.append(i)
        elif t in (lir.Branch, lir.Jump, lir.Exit) and i + 1 < n:
            starts.append(i + 1)
    starts = sorted(set(starts))
    bounds = list(zip(starts, starts[1:] + [n]))
    block_of_label = {}
    for b, (s, e) in enumerate(bounds):
        for i in range(s, e):
            if type(ops[i]) is lir.Label:
                block_of_label[ops[i].id] = b
            else:
                break
    succs = []
    for b, (s, e) in enumerate(bounds):
        last = ops[e - 1] if e > s else None
        t = type(last)
        out = []
        if t is lir.Jump:
            out.append(block_of_label[last.target])
        elif t is lir.Branch:
            out.append(block_of_label[last.target])
            if b + 1 < len(bounds):
                out.append(b + 1)
        elif t is not lir.Exit and b + 1 < len(bounds):
            out.append(b + 1)
        succs.append(out)
    preds: list[list[int]] = [[] for _ in bounds]
    for b, out in enumerate(succs):
        for x in out:
            preds[x].append(b)
    return bounds, succs, preds


def live_after(ops: list, lo_only: frozenset = frozenset()) -> tuple[list[int], int]:
    """For each op of one function, the register halves live right after it; and
    the halves live at the function's entry (the arguments it reads).  `lo_only`:
    indices of the accesses whose base is known to have a zero upper half, which
    their check (emit.checked_base) therefore does not read."""
    transfer = _transfers()
    bounds, succs, preds = _cfg(ops)
    live_in = [0] * len(bounds)
    after = [0] * len(ops)

    def block(b: int) -> bool:
        s, e = bounds[b]
        live = 0
        for x in succs[b]:
            live |= live_in[x]
        for i in range(e - 1, s - 1, -1):
            after[i] = live
            op = ops[i]
            if i in lo_only:                   # the access reads its base's low word only
                live = transfer[type(op)](op._replace(base=10), live) | _bit(op.base, 0)
            else:
                live = transfer[type(op)](op, live)
        changed, live_in[b] = live != live_in[b], live
        return changed

    _until_stable(range(len(bounds)), block, preds)
    return after, (live_in[0] if bounds else 0)


def _until_stable(order, block, then: list[list[int]]) -> None:
    """Run `block(b)` for the blocks in `order` (last first), and again for `then[b]`
    each time block b's result changed, until none changes."""
    work = list(order)
    queued = [True] * len(then)
    while work:
        b = work.pop()
        queued[b] = False
        if block(b):
            for x in then[b]:
                if not queued[x]:
                    queued[x] = True
                    work.append(x)


# ---------------------------------------------------------------- upper halves known zero
# A 32-bit machine checks the upper word of every pointer it dereferences
# (emit.checked_base); where that word is known to be 0 -- the pointer came from a
# 32-bit load (packet pointers from the context), a constant or a symbol's
# address, a zero-extension, or the same register passed the check already --
# the check (and the upper word itself) can go.  A forward analysis over the
# same blocks, one bit per register (bit r: r's upper half is 0), met by
# intersection.

ALL = (1 << 12) - 1
CALL_CLOBBERS = sum(1 << r for r in (0, 1, 2, 3, 4, 5, 11))


def _z_op(op, k: int) -> int:
    """Known-zero upper halves after `op`, given k before it."""
    t = type(op)
    if t in (lir.Load, lir.Store, lir.Atomic):
        if op.base != 10 and op.off == 0:
            k |= 1 << op.base                    # its check passed (or faulted)
        if t is lir.Load:
            zero = op.size < 8 and not op.signed
            return k | 1 << op.dst if zero else k & ~(1 << op.dst)
        if t is lir.Atomic:
            r = 0 if op.op == AtomicOp.CMPXCHG else (
                op.src if op.fetch or op.op == AtomicOp.XCHG else None)
            if r is not None:                     # the old value: zero-extended for W
                k = k | 1 << r if op.size == 4 else k & ~(1 << r)
        return k
    if t is lir.Alu:
        d, src = op.dst, op.src
        if op.width == 32:
            return k                              # the low word only (no Zext yet)
        imm = type(src) is lir.Imm
        src_zero = (halves(src.value)[1] == 0) if imm else bool(k >> src & 1)
        if op.op == Op.MOV or op.op == Op.AND and (src_zero or k >> d & 1):
            zero = src_zero if op.op == Op.MOV else True
        elif op.op == Op.RSH and imm and (32 <= src.value & 63 or k >> d & 1):
            zero = True
        else:
            zero = False
        return k | 1 << d if zero else k & ~(1 << d)
    if t in (lir.Zext, lir.LoadAddr, FrameAddr) or t is lir.Trunc or \
            t is lir.Bswap and op.bits < 64:
        return k | 1 << op.dst
    if t is lir.LoadImm:
        return k | 1 << op.dst if halves(op.value)[1] == 0 else k & ~(1 << op.dst)
    if t in (lir.Neg, lir.MovSx):
        return k if op.width == 32 else k & ~(1 << op.dst)
    if t is lir.Bswap:
        return k & ~(1 << op.dst)
    if t in (lir.CallHelper, lir.CallLocal, lir.TailCall):
        return k & ~CALL_CLOBBERS
    return k


def hi_zero(ops: list) -> list[int]:
    """For each op of one function, the registers whose upper half is known to be 0
    right before it (bit r)."""
    bounds, succs, preds = _cfg(ops)
    before = [0] * len(ops)
    out_of = [ALL] * len(bounds)

    def block(b: int) -> bool:
        s, e = bounds[b]
        k = 0 if b == 0 else ALL
        for p in preds[b]:
            k &= out_of[p]
        for i in range(s, e):
            before[i] = k
            k = _z_op(ops[i], k)
        changed, out_of[b] = k != out_of[b], k
        return changed

    _until_stable(range(len(bounds) - 1, -1, -1), block, succs)
    return before
