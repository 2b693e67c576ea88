"""LIR -> MIPS64r2 instruction words: instruction selection, 32-bit semantics, delay slots.

This module owns which instructions implement each LIR op.  Encodings are
enc.py's, the register map regs.py's, frames and the calling convention
abi.py's, and the shapes of branches to labels (short and long) branches.py's.
Dispatch is one dict on the op's type; the irregular ops (division through
hi/lo, LL/SC loops, unaligned accesses, tail calls) have their own methods.

What the emitter knows about registers (`Known`).  Along the code it tracks,
per native register:

  sx     it holds a sign-extended 32-bit value (bits 63..31 equal)
  zx     its upper half is zero
  free   its upper half is nobody's business: the last write was a 32-bit op
         with no `Zext` after it, so it may be sign-extended in place
  align  a power of two its value is a multiple of (pointers)

and carries these facts across labels with a small forward fixpoint: a label
gets the meet of the facts on every edge into it.  A function without
backward branches needs one pass (every edge into a label is emitted before
it); with loops, passes into a scratch buffer assume the loop-head facts,
check them against the back edges and shrink them until they hold, then the
real pass emits.

32-bit operations.  MIPS's 32-bit instructions (addu, subu, srl, sra, mul,
divu, ...) leave a *sign*-extended result and are UNPREDICTABLE unless their
inputs are sign-extended; eBPF wants the low 32 bits, zero-extended where
the upper half is read.  The lowering (caps.alu32_zext=False) puts a `Zext`
exactly where the upper half of a 32-bit result is read, so a 32-bit op here
only gets the low half right: ADD/SUB use addu/subu when both inputs are
known sx and daddu/dsubu (same low half, any inputs) otherwise; RSH by a
constant is one `dext`; ops that need sx inputs (srlv, srav, mul, div, 32-bit
compares) sign-extend only what is not known sx -- in place when the
register is `free` or about to be overwritten, else into a temporary.

Alignment.  MIPS traps on a misaligned lh/lw/ld; eBPF allows them (packet
headers sit at odd offsets).  An access whose base is not known aligned uses
the unaligned pairs (lwl/lwr, ldl/ldr, swl/swr, sdl/sdr) or byte accesses.
Known aligned: r10 (frames are multiples of 8 below STACK_TOP), r1 on entry
(the context or memory block), map values returned by map lookups, constant
addresses, and what simple arithmetic derives from those.

Three-operand forms.  `dst = src; dst op= x` (eBPF is two-operand) is one
instruction `op dst, src, x` whenever MIPS has the form; `r = r10; r += k`
is one daddiu from fp.

r10 and local calls.  r10 is fp (regs.py), a pointer into the runner's eBPF
stack region.  A bpf-to-bpf call passes the callee r10 - depth (this
function's stack depth) by lowering fp in the call's delay slot.  The caller
then leaves fp there (`bias` = -depth, fp == r10 + bias) while only stack
accesses (their displacements absorb the bias), ALU work without r10 and more
calls follow, and raises it back (`settle_fp`) before anything else: a label,
a branch, a helper call, a tail call, an exit, r10 read as a value.  So
back-to-back calls cost one `daddiu` for the lot.

Constants in loops.  A survey pass counts the constants that loops build
with li sequences; the most used live in spare registers loaded once in the
prologue (`choose_constants`).

Delay slots.  ALU words that cannot fault are held back in a small window
(`pending`); the next branch, jump, call or return takes one into its delay
slot when it touches none of the registers that transfer (and the words
emitted before it) read or write, nor any held word after it.  A loop's back
edge with nothing to take uses branch-likely with the loop head's first word
in the slot.  Otherwise the slot gets a nop.  Nothing that can fault ever
moves, so a fault's eBPF pc is exact.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from backends.base import EmitContext
from backends.mips64 import abi, branches
from backends.mips64 import enc as E
from backends.mips64.enc import Gpr
from backends.mips64.regs import (ADDR, AX_HOME, CALL, CALL_CLOBBERED, CONST_CALLEE_SAVED,
                                  CONST_CALLER_SAVED, R10_HOME, T0, T1, T2, TEMPS, regmap)
from jit import lir
from jit.buffer import CodeBuffer
from jit.errors import EncodingError, UnsupportedError
from jit.lir import AtomicOp, Cond, Imm, Op, Symbol, SymKind

ZERO, SP, RA, AT, T9 = Gpr.ZERO, Gpr.SP, Gpr.RA, Gpr.AT, Gpr.T9
NOP = E.nop()
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1
FAR = frozenset({AT, T9, RA})          # what the long branch forms use (branches.py)
STACK_ALIGN = 8                        # r10: STACK_TOP less frames of multiples of 8 bytes
CTX_ALIGN = 8                          # r1 on entry: every context the runtime builds
# helpers that return a pointer to a map value (8-aligned, as the kernel's are) or NULL
MAP_VALUE_HELPERS = frozenset({1, 195})      # map_lookup_elem, map_lookup_percpu_elem
MAX_FACT_PASSES = 6
HELD_WINDOW = 4                        # ALU words kept back for delay slots


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def fits_s16(v: int) -> bool:
    return -0x8000 <= v <= 0x7FFF


def fits_u16(v: int) -> bool:
    return 0 <= v <= 0xFFFF


def log2_exact(v: int) -> int | None:
    """k when v == 2**k (v > 0), else None."""
    return v.bit_length() - 1 if v > 0 and v & (v - 1) == 0 else None


def low_bit(v: int) -> int:
    """The largest power of two dividing v (8 for 0: a NULL pointer faults anyway)."""
    v &= M64
    return min(v & -v, 8) if v else 8


def word_regs(w: int) -> set:
    """Every register field of an instruction word (a superset of what it touches)."""
    return {(w >> 21) & 31, (w >> 16) & 31, (w >> 11) & 31}


# ------------------------------------------------------------------ constants

@lru_cache(maxsize=8192)
def _li_recipe(v: int, depth: int = 0) -> tuple | None:
    """The shortest recipe this search finds for the signed 64-bit constant v."""
    if fits_s16(v):
        return (("daddiu0", v),)
    if fits_u16(v):
        return (("ori0", v),)
    if -(1 << 31) <= v < (1 << 31):
        r: tuple = (("lui", (v >> 16) & 0xFFFF),)          # sign-extends from bit 31
        return r + ((("ori", v & 0xFFFF),) if v & 0xFFFF else ())
    if depth >= 4:
        return None
    cands = []
    if 0 <= v < (1 << 32):                                  # u32 with bit 31 set
        cands.append(_li_recipe(v - (1 << 32), depth + 1) + (("dext32", 0),))
    tz = (v & -v).bit_length() - 1
    if tz:
        sub = _li_recipe(v >> tz, depth + 1)
        if sub:
            cands.append(sub + (("dsll", tz),))
    sub = _li_recipe(v >> 16, depth + 1)                    # always terminates: 64 -> 48 -> 32 bits
    if sub:
        cands.append(sub + (("dsll", 16),) + ((("ori", v & 0xFFFF),) if v & 0xFFFF else ()))
    if v > 0:                                               # a mask-like value: shift ones down
        lz = 64 - v.bit_length()
        sub = _li_recipe(s64(v << lz), depth + 1)
        if sub:
            cands.append(sub + (("dsrl", lz),))
    cands = [c for c in cands if c]
    return min(cands, key=len) if cands else None


def li_words(rt: Gpr, value: int) -> list[int]:
    """rt = value (any 64-bit constant) in 1..6 words."""
    return list(_li_words(rt, s64(value)))


@lru_cache(maxsize=16384)
def _li_words(rt: Gpr, value: int) -> tuple:
    out = []
    for op, imm in _li_recipe(s64(value)):
        if op == "daddiu0":
            out.append(E.daddiu(rt, ZERO, imm))
        elif op == "ori0":
            out.append(E.ori(rt, ZERO, imm))
        elif op == "lui":
            out.append(E.lui(rt, imm))
        elif op == "ori":
            out.append(E.ori(rt, rt, imm))
        elif op == "dsll":
            out.append(E.dsll_any(rt, rt, imm))
        elif op == "dsrl":
            out.append(E.dsrl_any(rt, rt, imm))
        else:                                               # dext32: clear the upper half
            out.append(E.dext(rt, rt, 0, 32))
    return tuple(out)


def const_facts(value: int) -> tuple[bool, bool]:
    """(sx, zx) of a register holding `value`."""
    v = s64(value)
    return -(1 << 31) <= v < (1 << 31), 0 <= v < (1 << 32)


@lru_cache(maxsize=16384)
def _const_plan(rt: Gpr, value: int) -> tuple:
    """(li words, sx, zx, align) for rt = value: what `load_const` needs, computed once."""
    return (_li_words(rt, s64(value)),) + const_facts(value) + (low_bit(value),)


# ------------------------------------------------------------------ tables

LOADS = {(1, False): E.lbu, (2, False): E.lhu, (4, False): E.lwu, (8, False): E.ld,
         (1, True): E.lb, (2, True): E.lh, (4, True): E.lw, (8, True): E.ld}
STORES = {1: E.sb, 2: E.sh, 4: E.sw, 8: E.sd}
# what a load leaves in the register: (sx, zx)
LOAD_FACTS = {(1, False): (True, True), (2, False): (True, True), (4, False): (False, True),
              (8, False): (False, False), (1, True): (True, False), (2, True): (True, False),
              (4, True): (True, False), (8, True): (False, False)}

LOGIC = {Op.AND: E.and_, Op.OR: E.or_, Op.XOR: E.xor}
LOGIC_IMM = {Op.AND: E.andi, Op.OR: E.ori, Op.XOR: E.xori}
SHIFT64_REG = {Op.LSH: E.dsllv, Op.RSH: E.dsrlv, Op.ARSH: E.dsrav}
SHIFT64_IMM = {Op.LSH: E.dsll_any, Op.RSH: E.dsrl_any, Op.ARSH: E.dsra_any}
DIVIDE = {  # op -> (64-bit divide, 32-bit divide, result register reader)
    Op.DIV: (E.ddivu, E.divu, E.mflo), Op.MOD: (E.ddivu, E.divu, E.mfhi),
    Op.SDIV: (E.ddiv, E.div, E.mflo), Op.SMOD: (E.ddiv, E.div, E.mfhi)}
ATOMIC_LOGIC = {AtomicOp.ADD: E.daddu, AtomicOp.OR: E.or_, AtomicOp.AND: E.and_,
                AtomicOp.XOR: E.xor}
SIGNED = frozenset({Cond.SGT, Cond.SGE, Cond.SLT, Cond.SLE})
# compare with zero, signed: one REGIMM/BLEZ-family branch
SIGNED_ZERO = {Cond.SGT: "bgtz", Cond.SGE: "bgez", Cond.SLT: "bltz", Cond.SLE: "blez"}
# a > b == b < a; a >= b == !(a < b); a <= b == !(b < a): (swap operands, taken if slt is 1)
SLT_FORM = {Cond.GT: (True, True), Cond.SGT: (True, True), Cond.LT: (False, True),
            Cond.SLT: (False, True), Cond.GE: (False, False), Cond.SGE: (False, False),
            Cond.LE: (True, False), Cond.SLE: (True, False)}
UNSIGNED_OF = {Cond.SGT: Cond.GT, Cond.SGE: Cond.GE, Cond.SLT: Cond.LT, Cond.SLE: Cond.LE}


class Held(NamedTuple):
    """An emitted-but-not-yet-written ALU word and every register it reads or writes.

    `after`: a label to bind right after the word (the first word at a loop head,
    which backward branches copy into their delay slot); such a word never moves."""
    word: int
    regs: frozenset
    after: int | None = None


def mask(regs) -> int:
    """A set of registers as a bit mask (bit n: register n)."""
    m = 0
    for r in regs:
        m |= 1 << r
    return m


CLOBBERED_MASK = mask(CALL_CLOBBERED)


class Known:
    """Facts about native registers at one point (see the module docstring).

    sx, zx and free are bit masks (bit n: register n), so copying and meeting
    facts at every label and branch costs a few integer operations."""
    __slots__ = ("sx", "zx", "free", "align")

    def __init__(self, sx=(), zx=(), free=(), align=None) -> None:
        self.sx = mask(sx)
        self.zx = mask(zx)
        self.free = mask(free)
        self.align = dict(align or {})

    def copy(self) -> "Known":
        k = Known.__new__(Known)
        k.sx, k.zx, k.free, k.align = self.sx, self.zx, self.free, self.align.copy()
        return k

    def meet(self, other: "Known | None") -> "Known":
        """What holds on both paths (None stands for "no path yet": everything)."""
        if other is None:
            return self.copy()
        a, b = self.align, other.align
        k = Known.__new__(Known)
        k.sx, k.zx, k.free = self.sx & other.sx, self.zx & other.zx, self.free & other.free
        k.align = {r: min(v, b[r]) for r, v in a.items() if r in b}
        return k

    def __eq__(self, other) -> bool:
        return (isinstance(other, Known) and self.sx == other.sx and self.zx == other.zx
                and self.free == other.free and self.align == other.align)

    def forget(self, regs, regs_mask: int) -> None:
        """Nothing is known of `regs` any more (`regs_mask`: the same as a mask)."""
        keep = ~regs_mask
        self.sx &= keep
        self.zx &= keep
        self.free &= keep
        for r in regs:
            self.align.pop(r, None)


def _meet(a: Known | None, b: Known | None) -> Known | None:
    if a is None:
        return None if b is None else b.copy()
    return a.meet(b)


class Emitter:
    """Emits every function of one LirProgram into a CodeBuffer."""

    def __init__(self, ctx: EmitContext) -> None:
        self.buf = buf = ctx.buf
        self.order = buf.byteorder
        self.big = self.order == "big"
        self.prog = ctx.lir
        self.link = ctx.link
        self.base = ctx.base
        self.home = regmap(ctx.rotate)
        self.rotated = ctx.rotate != 0
        self.func_labels = [fl.entry for fl in ctx.funcs]
        self.tail_labels = [fl.tail for fl in ctx.funcs]
        self.relocs = ctx.relocs         # (label, delta, kind, sym)
        self.dispatch = {
            lir.Alu: self.emit_alu, lir.Neg: self.emit_neg, lir.MovSx: self.emit_movsx,
            lir.Zext: self.emit_zext, lir.Bswap: self.emit_bswap, lir.Trunc: self.emit_trunc,
            lir.LoadImm: self.emit_load_imm, lir.LoadAddr: self.emit_load_addr,
            lir.Load: self.emit_load, lir.Store: self.emit_store, lir.Atomic: self.emit_atomic,
            lir.Jump: self.emit_jump, lir.Branch: self.emit_branch,
            lir.CallHelper: self.emit_call_helper, lir.CallLocal: self.emit_call_local,
            lir.TailCall: self.emit_tail_call, lir.Exit: self.emit_exit,
        }
        self.pending: list = []          # Held words and, between them, pc marks (ints)
        self.heads: dict = {}
        self.heads_open: list = []
        self.want_mark: int | None = None
        self.k = Known()
        self.kregs: dict = {}            # constant -> register holding it (see choose_constants)
        self.survey: dict | None = None
        self.in_loop: list = []
        self.loop_heads: set = set()

    # ============================================================ writing words

    def do_mark(self) -> None:
        """Place the pending pc mark: in order behind the held words, if any."""
        if self.want_mark is not None:
            if self.pending:
                self.pending.append(self.want_mark)
            else:
                self.buf.mark(self.want_mark)
            self.want_mark = None

    def flush(self) -> None:
        """Write the held words (and the marks between them) where they were emitted."""
        buf = self.buf
        for item in self.pending:
            if type(item) is int:
                buf.mark(item)
            else:
                buf.word(item.word)
                if item.after is not None:
                    buf.bind(item.after)
        self.pending = []

    def write(self, item) -> None:
        """Write one entry of the window: a pc mark or a held word."""
        if type(item) is int:
            self.buf.mark(item)
        else:
            self.buf.word(item.word)
            if item.after is not None:
                self.buf.bind(item.after)

    def emit(self, *words: int) -> None:
        """Write the held words, the pending mark, then `words` (even none: a barrier)."""
        if self.pending:
            self.flush()
        if self.want_mark is not None:                       # nothing held now: mark here
            self.buf.mark(self.want_mark)
            self.want_mark = None
        if words:
            self.buf.words(words)
        self.heads_open = []

    def alu(self, word: int, *regs: Gpr) -> None:
        """One ALU word that cannot fault: held so a later delay slot may take it.

        `regs` must name every register it reads or writes."""
        p = self.pending
        if self.want_mark is not None:
            self.do_mark()
        after = None
        if self.heads_open:                                  # the first word at a label
            after = self.buf.new_label()
            for label in self.heads_open:
                self.heads[label] = (word, after)
            self.heads_open = []
        p.append(Held(word, frozenset(regs), after))
        if len(p) > HELD_WINDOW:                             # write the oldest out
            while True:
                item = p.pop(0)
                self.write(item)
                if type(item) is not int:
                    break

    def take_held(self, touched) -> int | None:
        """A held word that may run after everything emitted since: it touches none
        of `touched` (what the transfer and the words before it read or write) and
        shares no register with the held words after it.  The rest are written."""
        p = self.pending
        later: set = set()
        chosen = None
        self.heads_open = []
        for i in range(len(p) - 1, -1, -1):
            item = p[i]
            if type(item) is int:
                continue
            if item.after is None and not item.regs & touched and not item.regs & later:
                chosen = i
                break
            later |= item.regs
        word = None
        if chosen is not None:
            word = p.pop(chosen).word
        self.flush()
        return word

    def take_slot(self, touched) -> int:
        """The word for the delay slot of the transfer about to be emitted (a held
        word, else a nop); the mark of the transfer's pc goes in front."""
        word = self.take_held(touched)
        self.do_mark()
        return NOP if word is None else word

    def addr_load(self, rt: Gpr, addr: int, sym: Symbol) -> None:
        """rt = addr in a fixed sequence, each word recorded with its relocation kind."""
        self.flush()
        self.do_mark()
        self.heads_open = []
        label = self.buf.new_label()
        self.buf.bind(label)
        for i, (w, kind) in enumerate(abi.addr_words(rt, addr)):
            self.buf.word(w)
            if kind:
                self.relocs.append((label, 4 * i, kind, sym))

    # ============================================================ what registers hold

    def define(self, n: Gpr, sx: bool = False, zx: bool = False, free: bool = False,
               align: int = 1) -> None:
        """n was written: record what is known about the new value."""
        k = self.k
        bit = 1 << n
        k.sx = k.sx | bit if sx else k.sx & ~bit
        k.zx = k.zx | bit if zx else k.zx & ~bit
        k.free = k.free | bit if free else k.free & ~bit
        if align > 1:
            k.align[n] = align
        else:
            k.align.pop(n, None)

    def facts(self, n: Gpr) -> tuple[bool, bool]:
        k = self.k
        return bool(k.sx >> n & 1), bool(k.zx >> n & 1)

    def sext(self, n: Gpr, tmp: Gpr, out: list) -> Gpr:
        """A register holding sext32(low half of n): n itself when known sx, n
        sign-extended in place when its upper half is free, else a copy in tmp."""
        k = self.k
        if k.sx >> n & 1:
            return n
        if k.free >> n & 1 and n not in TEMPS:
            out.append(E.sll(n, n, 0))
            k.sx |= 1 << n
            k.zx &= ~(1 << n)
            return n
        out.append(E.sll(tmp, n, 0))
        return tmp

    def sext_into(self, d: Gpr, a: Gpr, out: list) -> Gpr:
        """sext32(a) in a register, using d (about to be overwritten) if a is not sx."""
        k = self.k
        if k.sx >> a & 1:
            return a
        if a != d and k.free >> a & 1 and a not in TEMPS:
            return self.sext(a, d, out)
        out.append(E.sll(d, a, 0))
        k.sx |= 1 << d
        k.zx &= ~(1 << d)
        k.align.pop(d, None)
        return d

    def const(self, value: int, tmp: Gpr, out: list) -> Gpr:
        """A register holding `value`: its constant register if it has one (loops'
        constants, loaded once in the prologue), else tmp after li words (to out)."""
        v = s64(value)
        kreg = self.kregs.get(v)
        if kreg is not None:
            return kreg
        words = _li_words(tmp, v)                            # (shared: not to be changed)
        self.survey_use(v, len(words))
        out += words
        return tmp

    def survey_use(self, value: int, saved: int) -> None:
        """Count what a constant register would save here (surveying, inside loops)."""
        if self.survey is not None and saved > 0 and self.in_loop[self.index]:
            self.survey[s64(value)] = self.survey.get(s64(value), 0) + saved

    # ============================================================ functions

    def function(self, f: lir.LirFunc) -> None:
        home = self.home
        self.entry = f.index == 0
        self.uses = {home[r] for r in f.regs_used if r != lir.R10}
        self.kregs = {}
        self.survey = None
        self.in_loop, self.loop_heads = loop_mask(f.ops)
        self.depth = f.stack_depth
        self.set_frame(f)
        label_in: dict = {}
        if any(self.in_loop):
            # a survey pass counts the constants the loops materialise; the most
            # useful get constant registers, then the label facts are iterated
            self.survey = {}
            self.dry_pass(f, {})
            self.kregs = self.choose_constants(f, self.survey)
            self.survey = None
            self.set_frame(f)
            for _ in range(MAX_FACT_PASSES):
                used_at, edges = self.dry_pass(f, label_in)
                nxt = {lab: k.meet(edges.get(lab)) for lab, k in used_at.items()}
                if all(nxt[lab] == k for lab, k in used_at.items()):
                    break                                    # every assumption holds
                label_in = nxt
            else:
                label_in = {lab: Known() for lab in used_at}  # give up: nothing at labels
        self.body(f, label_in)

    def set_frame(self, f: lir.LirFunc) -> None:
        self.frame = abi.frame_for(self.uses | set(self.kregs.values()), f.calls)
        self.saved_regs = frozenset(reg for reg, _ in self.frame.saved)

    def finish(self) -> list:
        self.flush()
        return []                        # no runtime routines

    def dry_pass(self, f: lir.LirFunc, label_in: dict) -> tuple[dict, dict]:
        """Emit into a scratch buffer (for the facts and the survey); nothing is kept."""
        real_buf, n_relocs = self.buf, len(self.relocs)
        self.buf = CodeBuffer(self.order)
        self.buf.reserve_labels(real_buf.reserve_labels(0))  # fresh ids never collide
        try:
            return self.body(f, label_in)
        finally:
            self.buf = real_buf
            del self.relocs[n_relocs:]

    def choose_constants(self, f: lir.LirFunc, survey: dict) -> dict:
        """value -> register for the constants the loops use most.

        Leaf functions use spare caller-saved registers (free to take); functions
        that call use spare callee-saved ones, which their frames then save."""
        taken = set(self.home) | {AX_HOME}
        spare = [r for r in (CONST_CALLEE_SAVED if f.calls else CONST_CALLER_SAVED)
                 if r not in taken]
        cost = 2 if f.calls else 0                           # the save and the restore
        chosen = {}
        for value, saving in sorted(survey.items(), key=lambda kv: (-kv[1], kv[0])):
            if not spare:
                break
            if saving > cost:
                chosen[value] = spare.pop(0)
        return chosen

    def body(self, f: lir.LirFunc, label_in: dict) -> tuple[dict, dict]:
        """Emit one function; returns the facts assumed at each label and those on its edges."""
        buf = self.buf
        frame = self.frame
        self.pending = []
        self.want_mark = None
        self.heads: dict = {}            # label -> (its first word, label after that word)
        self.heads_open: list = []       # labels bound with no word after them yet
        self.epilogue_label: int | None = None
        self.label_in = label_in
        self.used_at: dict = {}
        self.edges: dict = {}
        self.reachable = True
        self.bias = 0                    # fp == r10 + bias (see emit_call_local)
        buf.bind(self.func_labels[f.index])
        if self.entry and self.prog.tail_calls:
            # the run's tail-call count starts at 0; tail calls land after this store
            count = self.link(Symbol(SymKind.TAIL_COUNT, 0, "tail_count"))
            hl = abi.hi_lo(count)
            if hl is None:
                self.emit(*li_words(ADDR, count), E.sw(ZERO, 0, ADDR))
            else:
                self.emit(E.lui(ADDR, hl[0]), E.sw(ZERO, hl[1], ADDR))
        buf.bind(self.tail_labels[f.index])
        self.emit(*abi.prologue(frame))
        if self.entry and self.rotated:
            self.emit(*self.rotation_entry_moves(f))
        self.k = Known()
        for value, reg in sorted(self.kregs.items(), key=lambda kv: kv[1]):
            self.emit(*li_words(reg, value))                 # the loops' constants, once
            self.define(reg, *const_facts(value), align=low_bit(value))
        if self.entry:
            self.k.align[self.home[1]] = CTX_ALIGN
        ops = f.ops
        last_pc = None
        dispatch = self.dispatch
        self.ops = ops
        self.skip = False
        for i, op in enumerate(ops):
            if self.skip:                                    # fused into the op before
                self.skip = False
                continue
            t = type(op)
            self.index = i
            if self.bias and not self.keeps_bias(op, t):
                self.settle_fp()
            if t is lir.Label:
                self.flush()
                buf.bind(op.id)
                if op.id in self.loop_heads:
                    self.heads_open.append(op.id)
                self.enter_label(op.id)
                continue
            if op.pc != last_pc:
                last_pc = op.pc
                self.want_mark = op.pc
            dispatch[t](op)
        self.flush()
        self.want_mark = None
        if self.epilogue_label is not None:
            buf.bind(self.epilogue_label)
            self.emit(*self.result_move(), *abi.restore(frame), E.jr(RA), abi.pop(frame))
        return self.used_at, self.edges

    def enter_label(self, label: int) -> None:
        """Facts at a label: the meet over its edges (back edges as the fixpoint assumes)."""
        incoming = self.edges.get(label)
        if self.reachable:
            incoming = _meet(self.k, incoming)
            self.edges[label] = incoming.copy()
        k = _meet(incoming, self.label_in.get(label)) if label in self.label_in else incoming
        if k is None:
            k = Known()                                      # unreachable so far: assume nothing
        self.used_at[label] = k.copy()
        self.k = k
        self.reachable = True

    def edge_to(self, label: int) -> None:
        """The current facts flow along a branch or jump to `label`."""
        self.edges[label] = _meet(self.k, self.edges.get(label))

    def rotation_entry_moves(self, f: lir.LirFunc) -> list[int]:
        """With a rotated map, eBPF r1/r2 arrive in a0/a1 but live elsewhere.

        Through temporaries, because a rotated home may be the other's ABI
        register; only registers the program uses (the prologue saved those)."""
        words = []
        moves = [(r, src) for r, src in ((1, Gpr.A0), (2, Gpr.A1))
                 if r in f.regs_used and self.home[r] != src]
        for (r, src), tmp in zip(moves, (T0, T1)):
            words.append(E.move(tmp, src))
        for (r, src), tmp in zip(moves, (T0, T1)):
            words.append(E.move(self.home[r], tmp))
        return words

    def result_move(self) -> list[int]:
        """The program's result goes back in v0 (only differs under rotation)."""
        h0 = self.home[0]
        if self.entry and self.rotated and h0 != Gpr.V0:
            return [E.move(Gpr.V0, h0)]
        return []

    def next_op(self):
        i = self.index + 1
        return self.ops[i] if i < len(self.ops) else None

    # ============================================================ ALU

    def emit_alu(self, op: lir.Alu) -> None:
        d = self.home[op.dst]
        src = op.src
        if op.op == Op.MOV:
            if src == lir.R10 and self.stack_address(op, d):
                return
            if type(src) is int:
                nxt = self.next_op()
                if (type(nxt) is lir.Alu and nxt.dst == op.dst and nxt.width == op.width
                        and nxt.op != Op.MOV):
                    # dst = src; dst op= x  ->  op dst, src, x
                    self.skip = True
                    a = self.home[src]
                    x = nxt.src
                    if type(x) is int:
                        x = a if x == op.dst else self.home[x]
                    self.alu_op(nxt.op, op.width, d, a, x)
                    return
            self.emit_mov(op, d)
            return
        if type(src) is int:
            s = self.home[src]
        else:
            s = src
        self.alu_op(op.op, op.width, d, d, s)

    def stack_address(self, op: lir.Alu, d: Gpr) -> bool:
        """`r = r10; r += k` (a pointer into the stack, for a helper) is one daddiu,
        and the result is known aligned as far as k lets it be."""
        nxt = self.next_op()
        if not (op.width == 64 and type(nxt) is lir.Alu
                and nxt.dst == op.dst and nxt.width == 64 and nxt.op in (Op.ADD, Op.SUB)
                and isinstance(nxt.src, Imm)):
            return False
        off = nxt.src.value if nxt.op == Op.ADD else -nxt.src.value
        if not fits_s16(off):
            return False
        self.skip = True
        self.alu(E.daddiu(d, R10_HOME, off), d, R10_HOME)
        self.define(d, align=min(STACK_ALIGN, low_bit(off)))
        return True

    def alu_op(self, o: Op, width: int, d: Gpr, a: Gpr, s) -> None:
        """d = a <o> s: s a register or an Imm; a may differ from d (three-operand)."""
        if width == 64:
            if isinstance(s, Imm):
                self.alu64_imm(o, d, a, s.value)
            else:
                self.alu64_reg(o, d, a, s)
        elif isinstance(s, Imm):
            self.alu32_imm(o, d, a, s.value)
        else:
            self.alu32_reg(o, d, a, s)

    def emit_mov(self, op: lir.Alu, d: Gpr) -> None:
        src = op.src
        if isinstance(src, Imm):
            if op.width == 64:
                self.load_const(d, src.value)
            else:
                zext = self.next_is_zext(op.dst)
                self.load_const(d, src.value & M32 if zext else s32(src.value), free=True)
            return
        s = self.home[src]
        if op.width == 64:
            self.alu(E.move(d, s), d, s)
            align = STACK_ALIGN if src == lir.R10 else self.k.align.get(s, 1)
            self.define(d, *self.facts(s), align=align)
        elif s == d:                                         # w = w: the low half is there
            self.define(d, *self.facts(d), free=True)
        elif self.next_is_zext(op.dst):                      # w = w; zext: one dext
            self.alu(E.dext(d, s, 0, 32), d, s)
            self.define(d, zx=True, free=True)
        else:
            self.alu(E.sll(d, s, 0), d, s)                   # a sign-extended copy
            self.define(d, sx=True, free=True)

    def next_is_zext(self, dst: int) -> bool:
        nxt = self.next_op()
        return type(nxt) is lir.Zext and nxt.dst == dst

    def logic_facts(self, o: Op, a: Gpr, s: Gpr) -> tuple[bool, bool]:
        """(sx, zx) of a <o> s for AND/OR/XOR."""
        k = self.k
        both = 1 << a | 1 << s
        sx = k.sx & both == both
        zx = bool(k.zx & both) if o == Op.AND else k.zx & both == both
        return sx, zx

    def load_const(self, n: Gpr, value: int, free: bool = False) -> None:
        words, sx, zx, align = _const_plan(n, value)
        kreg = self.kregs.get(s64(value)) if self.kregs else None
        if kreg is not None:
            self.alu(E.move(n, kreg), n, kreg)
        else:
            if self.survey is not None:
                self.survey_use(value, len(words) - 1)
            self.emit(*words[:-1])                           # (none: still a barrier)
            self.alu(words[-1], n)
        self.define(n, sx, zx, free, align=align)

    def copy(self, d: Gpr, a: Gpr) -> None:
        """d = a (64-bit), facts and all."""
        if d != a:
            self.alu(E.move(d, a), d, a)
            self.define(d, *self.facts(a), align=self.k.align.get(a, 1))

    def and_imm(self, d: Gpr, a: Gpr, v: int) -> tuple[bool, bool, int]:
        """d = a & v (v a sign-extended 64-bit mask); returns (sx, zx, align) of d."""
        uv = v & M64
        k = log2_exact(uv + 1)
        if fits_u16(v):
            self.alu(E.andi(d, a, v), d, a)
            return True, True, 1
        if k is not None and k <= 32:                        # low-bits mask
            self.alu(E.dext(d, a, 0, k), d, a)
            return k < 32, True, 1
        sx, zx = self.facts(a)
        align = max(self.k.align.get(a, 1), low_bit(v))
        k = log2_exact((-v) & M64)
        if v < 0 and k is not None and k <= 32:              # clear the low k bits
            self.copy(d, a)
            self.alu(E.dins(d, ZERO, 0, k), d)
            return sx, zx, align
        pre: list = []
        t = self.const(v, T0, pre)
        self.emit(*pre)
        self.alu(E.and_(d, a, t), d, a, t)
        csx, czx = const_facts(v)
        return (sx and csx) or (csx and czx) or (sx and zx), zx or czx, align

    # ---------------------------------------------------------------- 64-bit

    def alu64_reg(self, o: Op, d: Gpr, a: Gpr, s: Gpr) -> None:
        sx = zx = False
        align = 1
        if o in (Op.ADD, Op.SUB):
            self.alu((E.daddu if o == Op.ADD else E.dsubu)(d, a, s), d, a, s)
            align = min(self.k.align.get(a, 1), self.k.align.get(s, 1))
        elif o in LOGIC:
            sx, zx = self.logic_facts(o, a, s)
            self.alu(LOGIC[o](d, a, s), d, a, s)
        elif o in SHIFT64_REG:                               # the hardware masks to 6 bits
            self.alu(SHIFT64_REG[o](d, a, s), d, a, s)
        elif o == Op.MUL:
            self.emit(E.dmultu(a, s))                        # R2 has no dmul: hi:lo = a * s
            self.alu(E.mflo(d), d)
        else:
            divide, _, result = DIVIDE[o]                    # the lowering guarded 0 and -1
            self.emit(divide(a, s))
            self.alu(result(d), d)
        self.define(d, sx, zx, align=align)

    def alu64_imm(self, o: Op, d: Gpr, a: Gpr, v: int) -> None:
        sx = zx = False
        align = 1
        asx, azx = self.facts(a)
        if o in (Op.ADD, Op.SUB):
            add = v if o == Op.ADD else -v
            if add == 0:
                self.copy(d, a)
                return
            if fits_s16(add):
                self.alu(E.daddiu(d, a, add), d, a)
            else:
                pre: list = []
                t = self.const(v, T0, pre)
                self.emit(*pre)
                self.alu((E.daddu if o == Op.ADD else E.dsubu)(d, a, t), d, a, t)
            align = min(self.k.align.get(a, 1), low_bit(add))
        elif o == Op.AND:
            sx, zx, align = self.and_imm(d, a, v)
        elif o in LOGIC_IMM and fits_u16(v):                 # OR, XOR: zero-extended imm16
            self.alu(LOGIC_IMM[o](d, a, v), d, a)
            sx, zx = asx, azx
        elif o == Op.XOR and v == -1:
            self.alu(E.nor(d, a, ZERO), d, a)                # d = ~a
            sx = asx
        elif o in LOGIC:
            pre = []
            t = self.const(v, T0, pre)
            self.emit(*pre)
            csx, czx = const_facts(v)
            sx, zx = asx and csx, azx and czx
            self.alu(LOGIC[o](d, a, t), d, a, t)
        elif o in SHIFT64_IMM:
            sa = v & 63
            if sa == 0:
                self.copy(d, a)
                return
            self.alu(SHIFT64_IMM[o](d, a, sa), d, a)
            if o == Op.RSH:
                zx, sx = True if sa >= 32 else False, sa >= 33
            elif o == Op.ARSH:
                sx = sa >= 32
            else:
                align = min(1 << sa, 8)
        elif o == Op.MUL:
            # (the common lowering already turned x * 2^k, x * 0 and x * -1 into
            # cheaper ops, and unsigned x / 2^k and x % 2^k likewise)
            pre = []
            t = self.const(v, T0, pre)
            self.emit(*pre, E.dmultu(a, t))
            self.alu(E.mflo(d), d)
        else:
            divide, _, result = DIVIDE[o]
            pre = []
            t = self.const(v, T0, pre)
            self.emit(*pre, divide(a, t))
            self.alu(result(d), d)
        self.define(d, sx, zx, align=align)

    # ---------------------------------------------------------------- 32-bit
    # Only the low half of the result matters: every result is `free`.

    def copy32(self, d: Gpr, a: Gpr) -> None:
        """d's low half = a's low half."""
        if d == a:
            self.define(d, *self.facts(d), free=True)
        else:
            self.alu(E.sll(d, a, 0), d, a)
            self.define(d, sx=True, free=True)

    def alu32_reg(self, o: Op, d: Gpr, a: Gpr, s: Gpr) -> None:
        pre: list = []
        sx = zx = False
        k = self.k
        if o in (Op.ADD, Op.SUB):
            if k.sx >> a & 1 and k.sx >> s & 1:
                fn = E.addu if o == Op.ADD else E.subu
                sx = True
            else:                                            # same low half, any inputs
                fn = E.daddu if o == Op.ADD else E.dsubu
            self.alu(fn(d, a, s), d, a, s)
        elif o in LOGIC:
            sx, zx = self.logic_facts(o, a, s)
            self.alu(LOGIC[o](d, a, s), d, a, s)
        elif o == Op.LSH:
            self.alu(E.sllv(d, a, s), d, a, s)               # sllv takes any input
            sx = True
        elif o in (Op.RSH, Op.ARSH):
            if s == d and a != d:                            # d is about to change: keep s
                pre.append(E.move(T1, s))
                s = T1
            a = self.sext_into(d, a, pre)
            self.emit(*pre)
            self.alu((E.srlv if o == Op.RSH else E.srav)(d, a, s), d, a, s)
            sx = True
        elif o == Op.MUL and not k.sx >> a & 1 and not k.sx >> s & 1 and s != a:
            self.emit(E.dmultu(a, s))                        # low half right for any inputs
            self.alu(E.mflo(d), d)
        else:
            same = s == a
            if s == d and a != d:
                pre.append(E.move(T1, s))
                s = T1
            a = self.sext_into(d, a, pre)
            s = a if same else self.sext(s, T1, pre)
            if o == Op.MUL:
                self.emit(*pre)
                self.alu(E.mul(d, a, s), d, a, s)
            else:
                _, divide, result = DIVIDE[o]
                self.emit(*pre, divide(a, s))
                self.alu(result(d), d)
            sx = True
        self.define(d, sx, zx, free=True)

    def alu32_imm(self, o: Op, d: Gpr, a: Gpr, v: int) -> None:
        v32, sv = v & M32, s32(v)
        asx, azx = self.facts(a)
        sx = zx = False
        if o in (Op.ADD, Op.SUB):
            add = sv if o == Op.ADD else s32(-sv)
            if add == 0:
                self.copy32(d, a)
                return
            if fits_s16(add):
                if asx:
                    self.alu(E.addiu(d, a, add), d, a)
                    sx = True
                else:
                    self.alu(E.daddiu(d, a, add), d, a)
            else:
                pre = []
                t = self.const(add, T0, pre)                 # sign-extended: addu may use it
                self.emit(*pre)
                self.alu((E.addu if asx else E.daddu)(d, a, t), d, a, t)
                sx = asx
        elif o == Op.AND:
            if v32 == M32:
                self.copy32(d, a)
                return
            sx, zx, _ = self.and_imm(d, a, v32 if fits_u16(v32) else sv)
        elif o in LOGIC_IMM and fits_u16(v32):
            self.alu(LOGIC_IMM[o](d, a, v32), d, a)
            sx, zx = asx, azx
        elif o == Op.XOR and v32 == M32:
            self.alu(E.nor(d, a, ZERO), d, a)
            sx = asx
        elif o in LOGIC:
            pre = []
            t = self.const(sv, T0, pre)
            self.emit(*pre)
            sx = asx
            self.alu(LOGIC[o](d, a, t), d, a, t)
        elif o in (Op.LSH, Op.RSH, Op.ARSH):
            sa = v & 31
            if sa == 0:
                self.copy32(d, a)
                return
            if o == Op.LSH:
                self.alu(E.sll(d, a, sa), d, a)
                sx = True
            elif o == Op.RSH:
                self.alu(E.dext(d, a, sa, 32 - sa), d, a)    # bits sa..31, zero-extended
                sx = zx = True
            else:
                pre: list = []
                a = self.sext_into(d, a, pre)
                self.emit(*pre)
                self.alu(E.sra(d, a, sa), d, a)
                sx = True
        elif o == Op.MUL:                           # (powers of two: the common lowering)
            pre = []
            t = self.const(sv, T0, pre)
            a = self.sext_into(d, a, pre)
            self.emit(*pre)
            self.alu(E.mul(d, a, t), d, a, t)
            sx = True
        else:
            _, divide, result = DIVIDE[o]
            pre = []
            t = self.const(sv, T0, pre)                      # sign-extended, as divu wants
            a = self.sext_into(d, a, pre)
            self.emit(*pre, divide(a, t))
            self.alu(result(d), d)
            sx = True
        self.define(d, sx, zx, free=True)

    # ---------------------------------------------------------------- other ALU-like ops

    def emit_neg(self, op: lir.Neg) -> None:
        d = self.home[op.dst]
        if op.width == 64:
            self.alu(E.dsubu(d, ZERO, d), d)
            self.define(d)
        elif self.k.sx >> d & 1:
            self.alu(E.subu(d, ZERO, d), d)
            self.define(d, sx=True, free=True)
        else:
            self.alu(E.dsubu(d, ZERO, d), d)
            self.define(d, free=True)

    def emit_movsx(self, op: lir.MovSx) -> None:
        d = self.home[op.dst]
        s = self.home[op.src]
        word = {8: E.seb, 16: E.seh}.get(op.bits)
        self.alu(word(d, s) if word else E.sll(d, s, 0), d, s)
        self.define(d, sx=True, free=op.width == 32)

    def emit_zext(self, op: lir.Zext) -> None:
        d = self.home[op.dst]
        sx, zx = self.facts(d)
        if zx:
            self.define(d, sx, True)
            return
        self.alu(E.dext(d, d, 0, 32), d)                     # clear the upper half
        self.define(d, zx=True)

    def emit_bswap(self, op: lir.Bswap) -> None:
        d = self.home[op.dst]
        if op.bits == 16:
            self.emit(E.dsbh(d, d))                          # bytes of each halfword swapped
            self.alu(E.andi(d, d, 0xFFFF), d)                # keep the low one
            self.define(d, sx=True, zx=True)
        elif op.bits == 32:
            self.emit(E.dsbh(d, d), E.dshd(d, d))            # all 8 bytes reversed: the low
            self.alu(E.dsrl32(d, d, 0), d)                   # word's swap is now on top
            self.define(d, zx=True)
        else:
            self.emit(E.dsbh(d, d))
            self.alu(E.dshd(d, d), d)
            self.define(d)

    def emit_trunc(self, op: lir.Trunc) -> None:
        d = self.home[op.dst]
        if op.bits == 16:
            self.alu(E.andi(d, d, 0xFFFF), d)
            self.define(d, sx=True, zx=True)
        elif self.k.zx >> d & 1:
            self.define(d, self.facts(d)[0], True, align=self.k.align.get(d, 1))
        else:
            self.alu(E.dext(d, d, 0, 32), d)
            self.define(d, zx=True)

    def emit_load_imm(self, op: lir.LoadImm) -> None:
        self.load_const(self.home[op.dst], op.value)

    def emit_load_addr(self, op: lir.LoadAddr) -> None:
        d = self.home[op.dst]
        sym = op.sym
        if sym.kind != SymKind.FUNC:
            addr = self.link(sym) + op.addend
            self.addr_load(d, addr, sym)
            sx, zx = const_facts(addr)
            self.define(d, sx, zx, align=low_bit(addr))
            return
        # a function's native address is known only after layout: a fixed-size hole
        target = self.func_labels[sym.index]
        short = self.base + (1 << 28) < 0x7FFF_8000          # this image stays below 2 GiB
        size = 8 if short else 24

        def encode(addr_of, at: int) -> bytes:
            words = abi.addr_words(d, addr_of(target))
            if len(words) * 4 != size:
                raise EncodingError(f"function address 0x{addr_of(target):x} does not fit "
                                    f"the {size}-byte form chosen before layout")
            return b"".join(w.to_bytes(4, self.order) for w, _ in words)

        self.flush()
        self.do_mark()
        self.heads_open = []
        label = self.buf.new_label()
        self.buf.bind(label)
        self.buf.fixed(size, encode)
        kinds = ("hi16", "lo16") if short else ("highest", "higher", "", "hi16", "", "lo16")
        self.relocs += [(label, 4 * i, k, sym) for i, k in enumerate(kinds) if k]
        self.define(d, sx=short, zx=short, align=4)

    # ============================================================ memory

    def mem(self, base: int, off: int, size: int, out: list) -> tuple[Gpr, int, bool]:
        """(register, displacement, aligned) addressing `size` bytes at base + off.

        `aligned` says the address is a multiple of size (then a plain access is
        safe; r10 always is 8-aligned), else the caller needs the unaligned
        forms, whose last byte's displacement must fit too."""
        b = self.home[base]
        if base == lir.R10:
            off -= self.bias                                 # fp may be below r10
            align = STACK_ALIGN
        else:
            align = self.k.align.get(b, 1)
        aligned = size == 1 or (align >= size and off % size == 0)
        if -0x8000 <= off and off + size - 1 <= 0x7FFF:           # first and last byte fit
            return b, off, aligned
        out += _li_words(ADDR, s64(off))
        out.append(E.daddu(ADDR, ADDR, b))
        return ADDR, 0, aligned

    def emit_load(self, op: lir.Load) -> None:
        d = self.home[op.dst]
        pre: list = []
        size, signed = op.size, op.signed
        b, disp, aligned = self.mem(op.base, op.off, size, pre)
        if aligned:
            self.emit(*pre, LOADS[size, signed](d, disp, b))
        else:
            self.emit(*pre, *self.unaligned_load(d, b, disp, size, signed))
        self.define(d, *LOAD_FACTS[size, signed])

    def unaligned_load(self, d: Gpr, b: Gpr, disp: int, size: int, signed: bool) -> list[int]:
        """A load of `size` bytes at any alignment: never touches an aligned word
        (doubleword) outside the bytes asked for, so it faults where a plain
        access would."""
        big = self.big
        if size == 2:
            hi, lo = (disp, disp + 1) if big else (disp + 1, disp)
            return [(E.lb if signed else E.lbu)(T0, hi, b),  # T0 = high byte (extended)
                    E.lbu(d, lo, b),                         # d = low byte (b may be d)
                    E.dins_any(d, T0, 8, 56 if signed else 8)]  # d |= T0 << 8
        left, right = (E.lwl, E.lwr) if size == 4 else (E.ldl, E.ldr)
        last = disp + size - 1
        lo_end, hi_end = (disp, last) if big else (last, disp)
        # into T0 when d is the base: lwl would change the base before lwr reads it
        t = T0 if d == b or (size == 4 and not signed) else d
        words = [left(t, lo_end, b), right(t, hi_end, b)]   # both: a sign-extended word
        if size == 4 and not signed:
            words.append(E.dext(d, t, 0, 32))
        elif t != d:
            words.append(E.move(d, t))
        return words

    def emit_store(self, op: lir.Store) -> None:
        pre: list = []
        size = op.size
        b, disp, aligned = self.mem(op.base, op.off, size, pre)
        if isinstance(op.src, Imm):
            v = op.src.value
            if v == 0:
                s = ZERO
            else:
                s = self.const(v if size == 8 else s32(v), T1, pre)
        else:
            s = self.home[op.src]
        if aligned:
            self.emit(*pre, STORES[size](s, disp, b))
            return
        big = self.big
        last = disp + size - 1
        if size == 2:
            hi, lo = (disp, last) if big else (last, disp)
            # the higher address first: a store running off the end of a region
            # faults before it has written anything, as the interpreter's does
            if hi > lo:
                words = [E.dsrl(T0, s, 8), E.sb(T0, hi, b), E.sb(s, lo, b)]
            else:
                words = [E.sb(s, lo, b), E.dsrl(T0, s, 8), E.sb(T0, hi, b)]
        else:
            left, right = (E.swl, E.swr) if size == 4 else (E.sdl, E.sdr)
            if big:                                          # swr holds the higher address
                words = [right(s, last, b), left(s, disp, b)]
            else:                                            # swl holds the higher address
                words = [left(s, last, b), right(s, disp, b)]
        self.emit(*pre, *words)

    def emit_atomic(self, op: lir.Atomic) -> None:
        """LL/SC loops (no R6 forms); W results and CMPXCHG's r0 zero-extended.

        LL/SC need an aligned address, as the verifier demands of atomics."""
        pre: list = []
        b, disp, _ = self.mem(op.base, op.off, op.size, pre)
        s = self.home[op.src]
        wide = op.size == 8
        ll, sc = (E.lld, E.scd) if wide else (E.ll, E.sc)
        ret = (lambda rd, rs: E.move(rd, rs)) if wide else (lambda rd, rs: E.dext(rd, rs, 0, 32))
        if op.op == AtomicOp.CMPXCHG:
            r0 = self.home[0]
            cmp = r0
            if not wide and not self.k.sx >> r0 & 1:
                # ll sign-extends a word, so the W compare is on sign-extended values
                # (into t9, not T1: sc rewrites T1 before a retry compares again)
                cmp = CALL
                pre.append(E.sll(cmp, r0, 0))
            self.emit(*pre,
                      ll(T0, disp, b),                       # 0: T0 = old
                      E.bne(T0, cmp, 4 * 4),                 # 1: different: done (6)
                      E.move(T1, s),                         # 2: (delay slot) T1 = new
                      sc(T1, disp, b),                       # 3: T1 = stored?
                      E.beq(T1, ZERO, -5 * 4),               # 4: lost the link: retry (0)
                      NOP,                                   # 5
                      ret(r0, T0))                           # 6: r0 = old
            self.define(r0, zx=not wide)
            return
        if op.op == AtomicOp.XCHG:
            new = E.move(T1, s)
        else:
            # daddu/or/and/xor: for W, sc stores the low half, which they get right
            new = ATOMIC_LOGIC[op.op](T1, T0, s)
        self.emit(*pre,
                  ll(T0, disp, b),                           # 0: T0 = old
                  new,                                       # 1: T1 = new value
                  sc(T1, disp, b),                           # 2: T1 = stored?
                  E.beq(T1, ZERO, -4 * 4),                   # 3: lost the link: retry (0)
                  NOP)                                       # 4
        if op.fetch:
            self.emit(ret(s, T0))                            # src = old
            self.define(s, zx=not wide)

    # ============================================================ control flow

    def emit_jump(self, op: lir.Jump) -> None:
        i = self.index + 1
        while i < len(self.ops) and type(self.ops[i]) is lir.Label:
            if self.ops[i].id == op.target:
                return                                       # a jump to the next instruction
            i += 1
        self.jump_to(op.target, set())

    def jump_to(self, target: int, touched) -> None:
        word = self.take_held(FAR | touched)
        self.do_mark()
        self.edge_to(target)
        if word is None and target in self.heads:
            # back to a loop head: its first word in the slot, land after it
            word, target = self.heads[target]
        self.buf.branch(target, branches.jump_forms(NOP if word is None else word, self.order))
        self.reachable = False

    def emit_branch(self, op: lir.Branch) -> None:
        plan = self.plan_branch(op)
        if plan is None:
            return                                           # never taken
        words, bop, rs, rt = plan
        touched = {rs, rt}
        for w in words:
            touched |= word_regs(w)
        if bop == "b":
            self.emit(*words)
            self.jump_to(op.target, touched)
            return
        word = self.take_held(FAR | touched)
        self.do_mark()
        self.emit(*words)
        self.edge_to(op.target)
        if word is None and op.target in self.heads:
            # a loop's back edge with nothing for its slot: branch-likely, the loop
            # head's first word in the slot (run only when taken), land after it
            copied, after = self.heads[op.target]
            self.buf.branch(after, branches.likely_forms(bop, rs, rt, copied, self.order))
            return
        slot = NOP if word is None else word
        self.buf.branch(op.target, branches.cond_forms(bop, rs, rt, slot, self.order))

    def plan_branch(self, op: lir.Branch):
        """(words before the branch, branch mnemonic or "b" for always, rs, rt), or None."""
        cond, a, b = op.cond, op.a, op.b
        words: list = []
        # operands as 64-bit values that compare like eBPF's; width 32: sign-extended,
        # or zero-extended when both are known zx and the compare is unsigned
        ra = self.home[a]
        rb = None if isinstance(b, Imm) else self.home[b]
        if op.width == 32 and cond == Cond.SET:
            return self.plan_set32(ra, rb, b, words)
        if op.width == 32:
            k = self.k
            regs = [r for r in (ra, rb) if r is not None]
            m = mask(regs)
            zmode = k.sx & m != m and cond not in SIGNED and k.zx & m == m
            if isinstance(b, Imm):
                b = Imm(b.value & M32 if zmode else s32(b.value))
            if isinstance(b, Imm) and never_taken(cond, b.value):
                return None
            if not zmode:
                ra = self.sext(ra, T2, words)
                if rb is not None:
                    rb = self.sext(rb, T1, words)
        elif isinstance(b, Imm) and never_taken(cond, b.value):
            return None
        if rb is not None:
            return self.plan_reg_compare(cond, ra, rb, words)
        return self.plan_imm_compare(cond, ra, b.value, words)

    def plan_set32(self, ra, rb, b, words):
        """(a & b) has a non-zero low half: test the whole AND when its upper half
        is zero (an operand is zx) or a copy of bit 31 (both are sx)."""
        k = self.k
        if rb is None:
            v32 = b.value & M32
            if fits_u16(v32):
                words.append(E.andi(T0, ra, v32))
                return words, "bne", T0, ZERO
            rb = self.const(s32(v32), T1, words)
            rb_sx, rb_zx = True, v32 < (1 << 31)
        else:
            rb_sx, rb_zx = self.facts(rb)
        words.append(E.and_(T0, ra, rb))
        ra_sx, ra_zx = self.facts(ra)
        if not (ra_zx or rb_zx or (ra_sx and rb_sx)):
            words.append(E.sll(T0, T0, 0))                   # test the low half only
        return words, "bne", T0, ZERO

    def plan_reg_compare(self, cond, ra, rb, words):
        if cond == Cond.EQ:
            return words, "beq", ra, rb
        if cond == Cond.NE:
            return words, "bne", ra, rb
        if cond == Cond.SET:
            words.append(E.and_(T0, ra, rb))
            return words, "bne", T0, ZERO
        slt = E.slt if cond in SIGNED else E.sltu
        swap, taken_if_set = SLT_FORM[cond]
        words.append(slt(T0, rb, ra) if swap else slt(T0, ra, rb))
        return words, "bne" if taken_if_set else "beq", T0, ZERO

    def plan_imm_compare(self, cond, ra, v, words):
        """v is the 64-bit value to compare with (already sign- or zero-extended)."""
        uv = v & M64
        if cond in (Cond.EQ, Cond.NE):
            bop = "beq" if cond == Cond.EQ else "bne"
            if v == 0:
                return words, bop, ra, ZERO
            return words, bop, ra, self.const(v, T1, words)
        if cond == Cond.SET:
            if fits_u16(v):
                words.append(E.andi(T0, ra, v))
            else:
                words.append(E.and_(T0, ra, self.const(v, T1, words)))
            return words, "bne", T0, ZERO
        signed = cond in SIGNED
        if signed and v == 0:
            return words, SIGNED_ZERO[cond], ra, ZERO
        if not signed:
            # unsigned compares with 0 or UINT64_MAX (the never-taken ones are gone)
            if uv == 0:
                if cond == Cond.GE:
                    return words, "b", ZERO, ZERO
                return words, "bne" if cond == Cond.GT else "beq", ra, ZERO
            if uv == M64 and cond == Cond.LE:
                return words, "b", ZERO, ZERO
        slti = E.slti if signed else E.sltiu
        slt = E.slt if signed else E.sltu
        base = UNSIGNED_OF.get(cond, cond)
        # a < v: slti; a >= v: !(a < v); a > v: !(a < v + 1); a <= v: a < v + 1
        if base in (Cond.LT, Cond.GE):
            if fits_s16(v):
                words.append(slti(T0, ra, v))
            else:
                words.append(slt(T0, ra, self.const(v, T1, words)))
            return words, "bne" if base == Cond.LT else "beq", T0, ZERO
        if fits_s16(v + 1):                                  # v + 1 does not wrap: v != -1 here
            words.append(slti(T0, ra, v + 1))
            return words, "bne" if base == Cond.LE else "beq", T0, ZERO
        words.append(slt(T0, self.const(v, T1, words), ra))  # v < a  ==  a > v
        return words, "bne" if base == Cond.GT else "beq", T0, ZERO

    def emit_exit(self, op: lir.Exit) -> None:
        frame = self.frame
        move = self.result_move()
        touched = {RA} | ({Gpr.V0, self.home[0]} if move else set())
        if frame.size:
            touched |= {SP} | self.saved_regs
        if frame.size == 0:
            slot = self.take_slot(touched)
            self.emit(*move, E.jr(RA), slot)
        elif len(frame.saved) <= 3 or self.index == len(self.ops) - 1:
            # inline: small, or the last op (a shared epilogue would follow it anyway)
            word = self.take_held(touched)
            self.do_mark()
            if word is not None:                             # the pop goes first, the
                self.emit(*move, *abi.restore(frame), abi.pop(frame), E.jr(RA), word)
            else:
                self.emit(*move, *abi.restore(frame), E.jr(RA), abi.pop(frame))
        else:
            if self.epilogue_label is None:
                self.epilogue_label = self.buf.new_label()
            slot = self.take_slot(FAR)
            self.buf.branch(self.epilogue_label, branches.jump_forms(slot, self.order))
        self.reachable = False

    def emit_call_helper(self, op: lir.CallHelper) -> None:
        sym = Symbol(SymKind.HELPER, op.id, f"helper#{op.id}")
        addr = self.link(sym)
        slot = self.take_slot({CALL, RA})                    # runs before the helper does
        self.addr_load(CALL, addr, sym)                      # t9 = helper (n64: jalr t9)
        self.emit(E.jalr(CALL), slot)
        self.k.forget(CALL_CLOBBERED, CLOBBERED_MASK)
        if op.id in MAP_VALUE_HELPERS:
            self.k.align[self.home[0]] = 8

    def emit_call_local(self, op: lir.CallLocal) -> None:
        """The callee's r10 is the bottom of this function's eBPF frame: fp goes down by
        this function's depth in the call's delay slot, and stays there (bias) while
        only stack accesses follow, so back-to-back calls adjust it once."""
        depth = self.depth
        if self.bias != -depth:                              # bias is 0 here
            self.flush()
            self.do_mark()
            self.heads_open = []                             # a loop head's first word: the call
            slot = E.daddiu(R10_HOME, R10_HOME, -depth)      # (delay slot) fp = callee's r10
            self.bias = -depth
        else:
            slot = self.take_slot({AT, RA})
        self.buf.branch(self.func_labels[op.func], branches.call_forms(slot, self.order))
        self.k.forget(CALL_CLOBBERED, CLOBBERED_MASK)

    def keeps_bias(self, op, t) -> bool:
        """Can `op` run with fp below r10?  Accesses through r10 and ALU work that does
        not read r10 can (a displacement absorbs the bias); control flow, labels,
        helper calls (a callback's frame is found from fp) and r10 as a value cannot."""
        if t is lir.Load or t is lir.CallLocal:
            return True
        if t is lir.Alu:
            nxt = self.next_op()                             # `d = a; d op= r10` fuses
            return op.src != lir.R10 and not (type(nxt) is lir.Alu and nxt.src == lir.R10)
        if t is lir.Store or t is lir.Atomic or t is lir.MovSx:
            return op.src != lir.R10
        return t in (lir.Neg, lir.Zext, lir.Bswap, lir.Trunc, lir.LoadImm, lir.LoadAddr)

    def settle_fp(self) -> None:
        """fp = r10 again (held: it may fill the next delay slot, which runs first)."""
        self.alu(E.daddiu(R10_HOME, R10_HOME, -self.bias), R10_HOME)
        self.bias = 0

    def emit_tail_call(self, op: lir.TailCall) -> None:
        """The kernel's order: index < max_entries, count < 33, count += 1, slot != 0."""
        home = self.home
        mp, idx = home[2], home[3]
        count = self.link(Symbol(SymKind.TAIL_COUNT, 0, "tail_count"))
        hl = abi.hi_lo(count)
        if hl is None:
            raise UnsupportedError(f"tail-call count address 0x{count:x} is above 2 GiB")
        hi, lo = hl
        frame = self.frame
        tail = abi.restore(frame) + [E.jr(T0), abi.pop(frame)]
        words = [E.lwu(T0, 12, mp),                          # T0 = max_entries
                 E.dext(T1, idx, 0, 32),                     # T1 = index (u32)
                 E.sltu(T0, T1, T0),                         # T0 = index < max_entries
                 None,                                       # 3: beq T0, zero, out
                 E.lui(ADDR, hi),                            # (delay slot) at = &count, high
                 E.lw(T2, lo, ADDR),                         # T2 = count
                 E.sltiu(T0, T2, lir.MAX_TAIL_CALLS),        # T0 = count < 33
                 None,                                       # 7: beq T0, zero, out
                 E.addiu(T2, T2, 1),                         # (delay slot) T2 = count + 1
                 E.sw(T2, lo, ADDR),                         # counted before the slot is read
                 E.ld(T0, 16, mp),                           # T0 = values
                 E.dsll(T1, T1, 3),
                 E.daddu(T0, T0, T1),                        # T0 = &values[index]
                 E.ld(T0, 0, T0),                            # T0 = target (0: empty)
                 None,                                       # 14: beq T0, zero, out
                 NOP] + tail
        out = len(words)
        for at in (3, 7, 14):
            words[at] = E.beq(T0, ZERO, (out - at - 1) * 4)
        self.emit(*words)


def never_taken(cond: Cond, v: int) -> bool:
    """Unsigned a < 0 and a > UINT64_MAX (v is the compare's 64-bit value)."""
    return (cond == Cond.LT and v == 0) or (cond == Cond.GT and v & M64 == M64)


def loop_mask(ops: list) -> tuple[list[bool], set]:
    """(for each op: does it lie between a label and a later branch back to it?,
    the labels some later branch goes back to)."""
    at: dict = {}
    mask = [False] * len(ops)
    heads = set()
    for i, op in enumerate(ops):
        t = type(op)
        if t is lir.Label:
            at[op.id] = i
        elif (t is lir.Branch or t is lir.Jump) and op.target in at:
            heads.add(op.target)
            for j in range(at[op.target], i + 1):
                mask[j] = True
    return mask, heads
