"""Value ranges: a verifier-style abstract interpretation of a whole program.

This module owns what the kernel verifier learns about values while it walks a
program (kernel/bpf/verifier.c, tnum.c), as far as a JIT can use it:

  * per register, at every instruction reached: for a scalar a tnum (the bits
    known, `value`/`mask`) with unsigned and signed 64-bit bounds, kept in step
    the way `reg_bounds_sync()` keeps them; 32-bit operations work on the low
    half as a zero-extended 64-bit scalar, so the 32-bit bounds of a register
    whose upper half is zero are its 64-bit bounds (a JMP32 compare refines a
    register only then);
  * for a pointer its kind (a stack frame -- which one --, the context, a raw
    memory block, a map value of known size, a map, the packet) and the range
    of its offset;
  * stack slots of every frame: what an 8-byte spill holds (scalar or
    pointer), and a narrower scalar store whose value fits it;
  * bpf-to-bpf calls push a frame, so a stack pointer passed down a call chain
    still names the caller's frame: an access through it counts against the
    caller's stack, as the verifier counts it.

How the walk goes: like the verifier, states are explored path by path (a
work list, depth first) and a state is dropped at a block when a state already
seen there contains it (every register and slot range includes the new one).
Conditional jumps refine both sides (`reg_set_min_max`) and a side whose
refinement is empty is not taken.  So a loop with a constant trip count is
walked once per iteration, as the verifier walks it.  A block that has seen
`JOIN_AFTER` states stops keeping them apart: what reaches it next is joined
into one state, and after `WIDEN_AFTER` more joins bounds that still grow jump
to the next constant the function compares with (or to the end of the range):
widening with thresholds, so every loop terminates.

What it gives (`Ranges`): per function the deepest byte below r10 that any
access reaches (`depth`), or why that is not bounded (`reason`); per
instruction the value of a divisor and the verdict of a conditional jump when
every state agrees (`divisors`, `decided`); and problems (`problems`: an access
whose offset range leaves the stack frame, a dereference of a value that is a
plain number), each with the eBPF pc.  It is not a verifier: no packet range
checks, no helper prototypes beyond what stack depths need, no precision
marks.  A raw program (`prog_type` "raw") is not rejected for dereferencing a
number: it runs as uBPF and bpf_conformance run bytecode, where that is a
fault the run reports.  What it cannot follow (a value loaded from memory other than a stack
slot, a helper's result) is `TOP`: maybe a pointer, never rejected.
"""
from __future__ import annotations

from typing import NamedTuple

from jit.program import Program

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1
MAX_STACK = 512
JOIN_AFTER = 256         # states kept apart per block before they are joined
RECENT = 8               # latest states a new one is compared with (beyond equality)
WIDEN_AFTER = 8          # joins into a block before growing bounds are widened
BUDGET = 400_000         # abstract instructions per program before giving up
MAP_LOOKUP = 1           # bpf_map_lookup_elem: r0 = map value or NULL ...
MAP_OF_MAPS = (12, 13)   # ... except in an array/hash of maps: an inner map
# context sizes the checks know (as jit.contexts lays them out): struct xdp_md and
# struct __sk_buff; other program types' contexts are not checked
_SKB = 192
CTX_SIZES = {"xdp": 24, "sched_cls": _SKB, "sched_act": _SKB, "sk_skb": _SKB,
             "socket_filter": _SKB, "cgroup_skb": _SKB, "lwt_in": _SKB, "lwt_out": _SKB,
             "lwt_xmit": _SKB}


# --------------------------------------------------------------------- values

class Sc(NamedTuple):
    """A scalar: tnum (value, mask) and unsigned / signed 64-bit bounds."""
    tv: int
    tm: int
    umin: int
    umax: int
    smin: int
    smax: int


class Ptr(NamedTuple):
    """A pointer: kind, tag (stack: frame number; map value: its size), offset range.

    lo is None when the offset cannot be bounded.  null: may be NULL (a map
    lookup's result before its test)."""
    kind: int
    tag: int
    lo: int | None
    hi: int
    null: bool = False


STACK, CTX, MEM, MAPVAL, MAP, OTHER = range(6)
KIND_NAMES = ("stack", "context", "memory", "map value", "map", "pointer")
TOP = None               # anything: a scalar or a pointer we do not follow


def _s(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def const(v: int) -> Sc:
    v &= M64
    return Sc(v, 0, v, v, _s(v), _s(v))


UNKNOWN = Sc(0, M64, 0, M64, S64_MIN, S64_MAX)
U32 = Sc(0, M32, 0, M32, 0, M32)


def tnum_range(lo: int, hi: int) -> tuple[int, int]:
    """The tnum of all of [lo, hi] (unsigned), as tnum_range() makes it."""
    chi = lo ^ hi
    if chi == 0:
        return lo, 0
    bits = chi.bit_length()
    if bits > 63:
        return 0, M64
    delta = (1 << bits) - 1
    return lo & ~delta & M64, delta


def sync(tv: int, tm: int, umin: int, umax: int, smin: int, smax: int) -> Sc | None:
    """reg_bounds_sync(): each of tnum, unsigned and signed bounds tightened by the
    others; None when they contradict (a branch side that cannot happen)."""
    if tm == 0:                                     # a constant: in bounds or impossible
        c = _s(tv)
        if umin <= tv <= umax and smin <= c <= smax:
            return Sc(tv, 0, tv, tv, c, c)
        return None
    for _ in range(2):
        umin = max(umin, tv)
        umax = min(umax, tv | tm)
        # signed from tnum: the sign bit known
        if not tm >> 63:
            if tv >> 63:
                smin = max(smin, _s(tv))
                smax = min(smax, _s(tv | tm))
            else:
                smin = max(smin, tv)
                smax = min(smax, tv | tm)
        # unsigned range within one sign half: signed and unsigned bounds are the same numbers
        if umin > umax or smin > smax:
            return None
        if umax <= S64_MAX or umin > S64_MAX:
            smin, smax = max(smin, _s(umin)), min(smax, _s(umax))
        if smin >= 0 or smax < 0:
            umin, umax = max(umin, smin & M64), min(umax, smax & M64)
        if umin > umax or smin > smax:
            return None
        rv, rm = tnum_range(umin, umax)
        # tnum_intersect
        v = tv | rv
        m = tm & rm
        if (tv & ~tm) & ~(rv | rm) & M64 or (rv & ~rm) & ~(tv | tm) & M64:
            return None          # known bits disagree
        if m == tm:
            break                # the bounds taught the tnum nothing: nothing to redo
        tv, tm = v & ~m, m
    return Sc(tv, tm, umin, umax, smin, smax)


def from_urange(lo: int, hi: int) -> Sc:
    v, m = tnum_range(lo, hi)
    return sync(v, m, lo, hi, S64_MIN, S64_MAX) or UNKNOWN


def from_srange(lo: int, hi: int) -> Sc:
    return sync(0, M64, 0, M64, lo, hi) or UNKNOWN


def low32(a: Sc) -> Sc:
    """The low half of a scalar, zero-extended."""
    if a.umax <= M32:
        return a
    if a.umax - a.umin <= M32 and a.umin >> 32 == a.umax >> 32:
        return sync(a.tv & M32, a.tm & M32, a.umin & M32, a.umax & M32, 0, M32) or U32
    return sync(a.tv & M32, a.tm & M32, 0, M32, 0, M32) or U32


def _bounded(a: Sc, sa: int, sb: int, ua: int, ub: int, t: tuple[int, int]) -> Sc:
    tv, tm = t
    umin, umax = (ua, ub) if 0 <= ua <= ub <= M64 else (0, M64)
    smin, smax = (sa, sb) if S64_MIN <= sa <= sb <= S64_MAX else (S64_MIN, S64_MAX)
    return sync(tv, tm, umin, umax, smin, smax) or UNKNOWN


def _tadd(a: Sc, b: Sc) -> tuple[int, int]:
    sm = a.tm + b.tm
    sv = a.tv + b.tv
    sigma = sm + sv
    chi = sigma ^ sv
    mu = (chi | a.tm | b.tm) & M64
    return (sv & ~mu) & M64, mu


def _tsub(a: Sc, b: Sc) -> tuple[int, int]:
    dv = a.tv - b.tv
    alpha = dv + a.tm
    beta = dv - b.tm
    chi = alpha ^ beta
    mu = (chi | a.tm | b.tm) & M64
    return (dv & ~mu) & M64, mu


def alu(code: int, a: Sc, b: Sc) -> Sc:
    """a op b on 64-bit scalars (ALU codes of jit.isa.Alu)."""
    if a.tm == 0 and b.tm == 0:
        r = _fold(code, a.tv, b.tv)
        return UNKNOWN if r is None else const(r)
    if code == 0x00:                                      # add
        return _bounded(a, a.smin + b.smin, a.smax + b.smax, a.umin + b.umin,
                        a.umax + b.umax, _tadd(a, b))
    if code == 0x10:                                      # sub
        return _bounded(a, a.smin - b.smax, a.smax - b.smin, a.umin - b.umax,
                        a.umax - b.umin, _tsub(a, b))
    if code == 0x20:                                      # mul
        if a.umax <= M32 and b.umax <= M32:
            return from_urange(a.umin * b.umin, a.umax * b.umax)
        return UNKNOWN
    if code == 0x50:                                      # and
        v = a.tv & b.tv
        m = ((a.tv | a.tm) & (b.tv | b.tm)) & ~v
        return sync(v, m, 0, min(a.umax, b.umax), S64_MIN, S64_MAX) or UNKNOWN
    if code == 0x40:                                      # or
        v = a.tv | b.tv
        m = (a.tm | b.tm) & ~v
        return sync(v, m & M64, max(a.umin, b.umin), M64, S64_MIN, S64_MAX) or UNKNOWN
    if code == 0xA0:                                      # xor
        v = a.tv ^ b.tv
        m = a.tm | b.tm
        return sync(v & ~m, m, 0, M64, S64_MIN, S64_MAX) or UNKNOWN
    if b.tm == 0:
        k = b.tv & 63
        if code == 0x60:                                  # lsh
            if a.umax << k <= M64:
                return _bounded(a, S64_MIN, S64_MAX, a.umin << k, a.umax << k,
                                ((a.tv << k) & M64, (a.tm << k) & M64))
            return sync((a.tv << k) & M64, (a.tm << k) & M64, 0, M64,
                        S64_MIN, S64_MAX) or UNKNOWN
        if code == 0x70:                                  # rsh
            return _bounded(a, S64_MIN, S64_MAX, a.umin >> k, a.umax >> k,
                            (a.tv >> k, a.tm >> k))
        if code == 0xC0:                                  # arsh
            return from_srange(a.smin >> k, a.smax >> k)
        if code == 0x30 and b.tv:                         # div
            return from_urange(a.umin // b.tv, a.umax // b.tv)
        if code == 0x90 and b.tv:                         # mod
            return from_urange(0, min(a.umax, b.tv - 1))
    if code == 0x30:
        return from_urange(0, a.umax)
    if code == 0x90:
        return from_urange(0, max(a.umax, b.umax))
    return UNKNOWN


def _fold(code: int, a: int, b: int) -> int | None:
    if code == 0x00:
        return a + b
    if code == 0x10:
        return a - b
    if code == 0x20:
        return a * b
    if code == 0x30:
        return a // b if b else 0
    if code == 0x40:
        return a | b
    if code == 0x50:
        return a & b
    if code == 0x60:
        return a << (b & 63)
    if code == 0x70:
        return a >> (b & 63)
    if code == 0x80:
        return -a
    if code == 0x90:
        return a % b if b else a
    if code == 0xA0:
        return a ^ b
    if code == 0xC0:
        return _s(a) >> (b & 63)
    return None


def alu32(code: int, a: Sc, b: Sc) -> Sc:
    """a op b on the low halves, zero-extended (ALU32)."""
    a, b = low32(a), low32(b)
    if a.tm == 0 and b.tm == 0:
        x, y = a.tv, b.tv
        if code == 0x60:
            r = x << (y & 31)
        elif code == 0x70:
            r = x >> (y & 31)
        elif code == 0xC0:
            r = ((x - (1 << 32) if x >> 31 else x) >> (y & 31))
        elif code == 0x30:
            r = x // y if y else 0
        elif code == 0x90:
            r = x % y if y else x
        else:
            r = _fold(code, x, y)
            if r is None:
                return U32
        return const(r & M32)
    if code in (0x60, 0xC0, 0x80):
        if code == 0x60 and b.tm == 0:
            k = b.tv & 31
            r = alu(0x60, a, const(k))
            return r if r.umax <= M32 else low32(r)
        return U32
    if code == 0x70 and b.tm == 0:
        return alu(0x70, a, const(b.tv & 31))
    r = alu(code, a, b)
    if r.umax <= M32 and r.umin >= 0:
        return r
    return low32(r)


def join_sc(a: Sc, b: Sc) -> Sc:
    if a == b:
        return a
    mu = a.tm | b.tm | (a.tv ^ b.tv)
    return sync(a.tv & ~mu & M64, mu, min(a.umin, b.umin), max(a.umax, b.umax),
                min(a.smin, b.smin), max(a.smax, b.smax)) or UNKNOWN


def widen_sc(old: Sc, new: Sc, up: list[int]) -> Sc:
    """old ∇ new: bounds of old that new exceeds jump to the next threshold."""
    j = join_sc(old, new)
    umin, umax, smin, smax = j.umin, j.umax, j.smin, j.smax
    if umax > old.umax:
        umax = next((t for t in up if t >= umax), M64)
    if umin < old.umin:
        umin = next((t for t in reversed(up) if 0 <= t <= umin), 0)
    if smax > old.smax:
        smax = next((t for t in up if umax >= t >= smax), S64_MAX)
    if smin < old.smin:
        smin = next((t for t in reversed(up) if t <= smin), S64_MIN)
    return sync(0, M64, umin, umax, smin, smax) or UNKNOWN


def sc_le(a: Sc, b: Sc) -> bool:
    """a ⊆ b."""
    return (b.umin <= a.umin and a.umax <= b.umax and b.smin <= a.smin and a.smax <= b.smax
            and a.tm & ~b.tm == 0 and (a.tv ^ b.tv) & ~b.tm == 0)


def value_le(a, b) -> bool:
    if b is TOP or a == b:
        return True
    if a is TOP:
        return False
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is Sc:
        return sc_le(a, b)
    if a.kind != b.kind or a.tag != b.tag or (a.null and not b.null):
        return False
    if b.lo is None:
        return True
    return a.lo is not None and b.lo <= a.lo and a.hi <= b.hi


def join_value(a, b, widen: list[int] | None):
    if a == b:
        return a
    if a is TOP or b is TOP:
        return TOP
    ta = type(a)
    if ta is not type(b):
        return TOP
    if ta is Sc:
        return widen_sc(a, b, widen) if widen is not None else join_sc(a, b)
    if a.kind != b.kind or a.tag != b.tag:
        return TOP
    null = a.null or b.null
    if a.lo is None or b.lo is None:
        return Ptr(a.kind, a.tag, None, 0, null)
    lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
    if widen is not None and (lo < a.lo or hi > a.hi):
        # a pointer walking around a loop: bound it by the frame, or not at all
        if a.kind == STACK and lo >= -MAX_STACK and hi <= 0:
            # the frame's ends are the thresholds; beyond them, no bound
            lo, hi = -MAX_STACK if lo < a.lo else lo, 0 if hi > a.hi else hi
        else:
            return Ptr(a.kind, a.tag, None, 0, null)
    return Ptr(a.kind, a.tag, lo, hi, null)


# --------------------------------------------------------------------- the walk

class Ranges(NamedTuple):
    depth: dict[int, int]               # function start slot -> lowest offset touched (<= 0)
    reason: dict[int, str]              # function start slot -> why its depth is unbounded
    reached: frozenset[int]             # function start slots the walk entered
    divisors: dict[int, Sc | None]      # pc of a DIV/MOD by register -> its divisor (joined)
    decided: dict[int, bool]            # pc of a conditional jump -> always taken / never
    safe_divs: frozenset[int]           # pcs of DIV/MOD by a register that needs no guard
    problems: list[tuple[int, str]]     # (pc, message)
    complete: bool                      # False: the budget ran out (nothing is proven)
    steps: int


class _Frame(NamedTuple):
    regs: tuple
    slots: tuple          # sorted ((offset, size, value), ...)
    func: int             # function start slot
    ret: int              # insn index to return to in the caller (-1: entry)


def analyse(prog: Program, *, budget: int = BUDGET) -> Ranges:
    return _Walk(prog, budget).run()


_JMP_NAMES = {0x10: "==", 0x50: "!=", 0x20: ">", 0x30: ">=", 0xA0: "<", 0xB0: "<=",
              0x60: "s>", 0x70: "s>=", 0xC0: "s<", 0xD0: "s<=", 0x40: "&"}


def refine(op: int, a: Sc, b: Sc, taken: bool) -> tuple[Sc | None, Sc | None]:
    """reg_set_min_max: a and b after `if a op b` goes (taken) or not; None = impossible."""
    if not taken:
        op = _NEG.get(op, op)
        if op == 0x40:                    # JSET not taken: a & b == 0
            if b.tm == 0:
                return sync(a.tv & ~b.tv, a.tm & ~b.tv, a.umin, a.umax, a.smin, a.smax), b
            return a, b
        if op == -1:
            return a, b
    if op == 0x40:                        # JSET taken
        if b.tm == 0 and a.tm & b.tv == 0 and a.tv & b.tv == 0:
            return None, None
        return a, b
    if op == 0x10:                        # ==
        v = sync(a.tv | b.tv, a.tm & b.tm, max(a.umin, b.umin), min(a.umax, b.umax),
                 max(a.smin, b.smin), min(a.smax, b.smax))
        if v is None or (a.tv ^ b.tv) & ~(a.tm | b.tm):
            return None, None
        return v, v
    if op == 0x50:                        # !=
        if a.tm == 0 and b.tm == 0 and a.tv == b.tv:
            return None, None
        return _ne(a, b), _ne(b, a)
    if op == 0x20:                        # a > b
        return (sync(a.tv, a.tm, max(a.umin, b.umin + 1), a.umax, a.smin, a.smax),
                sync(b.tv, b.tm, b.umin, min(b.umax, a.umax - 1), b.smin, b.smax))
    if op == 0x30:
        return (sync(a.tv, a.tm, max(a.umin, b.umin), a.umax, a.smin, a.smax),
                sync(b.tv, b.tm, b.umin, min(b.umax, a.umax), b.smin, b.smax))
    if op == 0xA0:
        b2, a2 = refine(0x20, b, a, True)
        return a2, b2
    if op == 0xB0:
        b2, a2 = refine(0x30, b, a, True)
        return a2, b2
    if op == 0x60:
        return (sync(a.tv, a.tm, a.umin, a.umax, max(a.smin, b.smin + 1), a.smax),
                sync(b.tv, b.tm, b.umin, b.umax, b.smin, min(b.smax, a.smax - 1)))
    if op == 0x70:
        return (sync(a.tv, a.tm, a.umin, a.umax, max(a.smin, b.smin), a.smax),
                sync(b.tv, b.tm, b.umin, b.umax, b.smin, min(b.smax, a.smax)))
    if op == 0xC0:
        b2, a2 = refine(0x60, b, a, True)
        return a2, b2
    if op == 0xD0:
        b2, a2 = refine(0x70, b, a, True)
        return a2, b2
    return a, b


_NEG = {0x10: 0x50, 0x50: 0x10, 0x20: 0xB0, 0x30: 0xA0, 0xA0: 0x30, 0xB0: 0x20,
        0x60: 0xD0, 0x70: 0xC0, 0xC0: 0x70, 0xD0: 0x60, 0x40: 0x40}


def _ne(a: Sc, b: Sc) -> Sc:
    """a given a != b: a bound equal to the constant b moves by one (the kernel's JNE)."""
    if b.tm or a.tm == 0:
        return a
    k = b.tv
    umin, umax, smin, smax = a.umin, a.umax, a.smin, a.smax
    if umin == k:
        umin += 1
    if umax == k:
        umax -= 1
    if smin == _s(k):
        smin += 1
    if smax == _s(k):
        smax -= 1
    return sync(a.tv, a.tm, umin, umax, smin, smax) or a


class _Walk:
    def __init__(self, prog: Program, budget: int) -> None:
        self.prog = prog
        self.insns = prog.insns
        self.pcs = prog.pcs
        self.index = {pc: i for i, pc in enumerate(self.pcs)}
        self.budget = budget
        self.depth: dict[int, int] = {}
        self.reason: dict[int, str] = {}
        self.reached: set[int] = set()
        self.divisors: dict[int, Sc | None] = {}
        self.branches: dict[int, int] = {}       # pc -> bit 1: taken seen, bit 2: not taken seen
        self.problems: dict[int, str] = {}
        starts = sorted(f.start for f in prog.functions)
        self.starts = set(starts)
        self.func_of = {}
        for f in prog.functions:
            self.func_of[f.start] = f
        self.thresholds = self._thresholds()
        self.live = self._liveness()
        self.approx = False
        self.escaped = False     # a stack pointer was stored outside the stack

    def _liveness(self) -> list[int]:
        """Registers live into each instruction (bit masks): states are compared and
        kept only on what is live, as the verifier prunes with its liveness marks."""
        insns, pcs, index = self.insns, self.pcs, self.index
        n = len(insns)
        use = [0] * n
        kill = [0] * n
        succ: list[tuple[int, ...]] = [()] * n
        for i, (op, dst, src, off, imm) in enumerate(insns):
            cls, code = op & 7, op & 0xF0
            d, sr = 1 << dst, 1 << src
            nxt = (i + 1,) if i + 1 < n else ()
            if cls in (4, 7):
                u = (0 if code == 0xB0 else d) | (sr if op & 8 else 0)
                use[i], kill[i] = u, d
            elif cls == 1:
                use[i], kill[i] = sr, d
            elif cls == 2:
                use[i] = d
            elif cls == 3:
                use[i] = d | sr | (1 if imm == 0xF1 else 0)
                kill[i] = (1 if imm == 0xF1 else sr if op & 0xE0 == 0xC0 and imm & 1 else 0)
            elif cls == 0:
                if op == 0x18:
                    kill[i] = d
                else:
                    use[i], kill[i] = 1 << 6 | (sr if op & 0xE0 == 0x40 else 0), 0x3F
            elif code == 0x90:
                use[i], nxt = 1, ()
            elif code == 0x80:
                use[i], kill[i] = 0x3E, 0x3F
            elif code == 0x00:
                t = index.get(pcs[i] + 1 + (imm if op == 0x06 else off))
                nxt = (t,) if t is not None else ()
            else:
                t = index.get(pcs[i] + 1 + off)
                use[i] = d | (sr if op & 8 else 0)
                nxt = nxt + ((t,) if t is not None else ())
            succ[i] = nxt
        live = [0] * n
        changed = True
        while changed:
            changed = False
            for i in range(n - 1, -1, -1):
                out = 0
                for t in succ[i]:
                    out |= live[t]
                v = use[i] | (out & ~kill[i])
                if v != live[i]:
                    live[i] = v
                    changed = True
        return live

    def normal(self, i: int, st: tuple) -> tuple:
        """st with the registers nobody reads again forgotten (TOP)."""
        live = self.live
        out = []
        for k, fr in enumerate(st):
            m = live[i] if k == len(st) - 1 else live[st[k + 1].ret] & ~0x3F
            regs = tuple(v if m >> r & 1 or r == 10 else TOP for r, v in enumerate(fr.regs))
            out.append(fr if regs == fr.regs else fr._replace(regs=regs))
        return tuple(out)

    def _thresholds(self) -> list[int]:
        ks = {0}
        for op, dst, src, off, imm in self.insns:
            if op & 7 in (5, 6) and not op & 8 and op & 0xF0 not in (0x00, 0x80, 0x90):
                for d in (-1, 0, 1):
                    ks.add(imm + d)
        return sorted(ks)

    # ------------------------------------------------------------ entry
    def entry(self) -> tuple:
        regs = [TOP] * 11
        regs[10] = Ptr(STACK, 0, 0, 0)
        if self.prog.prog_type != "raw":
            regs[1] = Ptr(CTX, 0, 0, 0)
        return (_Frame(tuple(regs), (), self.prog.functions[0].start, -1),)

    def run(self) -> Ranges:
        steps = 0
        seen: dict[tuple, list] = {}       # (insn index, call stack) -> states seen
        joins: dict[tuple, int] = {}
        work = [(self.index[self.prog.functions[0].start], self.entry(), False)]
        self.reached.add(self.prog.functions[0].start)
        insns = self.insns
        complete = True
        while work:
            i, st, approx = work.pop()
            st = self.normal(i, st)
            key = (i, tuple(f.ret for f in st))
            have = seen.get(key)
            if have is None:
                seen[key] = have = ([st], {st})
            else:
                kept, exact = have
                # a state seen before, or contained in one of the latest: nothing new
                if st in exact or any(_state_le(st, h) for h in kept[-RECENT:]):
                    continue
                if len(kept) >= JOIN_AFTER:
                    n = joins.get(key, 0) + 1
                    joins[key] = n
                    acc = kept[-1]
                    if len(kept) > 1:
                        for h in kept[:-1]:
                            acc = _join_state(acc, h, None)
                    st = _join_state(acc, st, self.thresholds if n > WIDEN_AFTER else None)
                    approx = True
                    if st is None or _state_le(st, acc):
                        seen[key] = ([acc], {acc})
                        continue
                    seen[key] = ([st], {st})
                else:
                    kept.append(st)
                    exact.add(st)
            # run the block from i
            self.approx = approx
            while True:
                steps += 1
                if steps > self.budget:
                    complete = False
                    work = []
                    break
                out = self.step(i, st)
                if out is None:
                    break
                if len(out) == 1 and out[0][0] == i + 1 and not self._leader(i + 1):
                    i, st = out[0]
                    continue
                for t, s in reversed(out):
                    work.append((t, s, approx))
                break
        safe = frozenset(self.safe_divisions()) if complete else frozenset()
        problems = sorted(self.problems.items())
        decided = {pc: m == 1 for pc, m in self.branches.items() if m in (1, 2)}
        return Ranges(self.depth, self.reason, frozenset(self.reached), self.divisors,
                      decided if complete else {}, safe, problems if complete else [],
                      complete, steps)

    def safe_divisions(self):
        """pcs of DIV/MOD by a register that is never 0 (nor -1, for a signed one)."""
        for pc, d in self.divisors.items():
            if d is None:
                continue
            op, _, _, off, _ = self.insns[self.index[pc]]
            top = M64 if op & 7 == 7 else M32
            if d.umin == 0:
                continue
            if off == 1 and d.umax == top:
                continue
            yield pc

    def _leader(self, i: int) -> bool:
        lead = getattr(self, "_leaders", None)
        if lead is None:
            lead = self._leaders = set()
            for k, (op, dst, src, off, imm) in enumerate(self.insns):
                if op & 7 in (5, 6) and op & 0xF0 not in (0x80, 0x90):
                    tgt = self.pcs[k] + 1 + (imm if op == 0x06 else off)
                    if tgt in self.index:
                        lead.add(self.index[tgt])
                    lead.add(k + 1)
                elif op == 0x85:
                    lead.add(k + 1)
            lead |= {self.index[s] for s in self.starts if s in self.index}
        return i in lead

    # ------------------------------------------------------------ accesses
    def problem(self, pc: int, msg: str) -> None:
        """Only what a state nobody joined shows is reported: a joined or widened state
        may hold values no path has."""
        if not self.approx:
            self.problems.setdefault(pc, msg)

    def access(self, st: tuple, base, off: int, size: int, pc: int, what: str) -> None:
        """An access of size bytes at base + off."""
        if type(base) is Sc:
            if self.prog.prog_type == "raw":
                return      # raw bytecode runs as uBPF runs it: such a load is a fault to see
            if base.tm == 0:
                self.problem(pc, f"{what} the number 0x{base.tv:x}, which is not a pointer")
            else:
                self.problem(pc, f"{what} a computed number (range {_fmt(base)}), "
                             "which is not a pointer")
            return
        if base is TOP or base.kind != STACK:
            if type(base) is Ptr and base.kind == CTX and base.lo is not None:
                n = CTX_SIZES.get(self.prog.prog_type)
                if n is not None and (base.lo + off < 0 or base.hi + off + size > n):
                    self.problem(pc, f"invalid context access off=[{base.lo + off},"
                                 f"{base.hi + off}] size={size}: the "
                                 f"{self.prog.prog_type} context has {n} bytes")
            if type(base) is Ptr and base.kind == MAPVAL and base.lo is not None:
                if base.lo + off < 0 or base.hi + off + size > base.tag:
                    self.problem(pc, f"{what} a map value at off=[{base.lo + off},"
                                 f"{base.hi + off}] size={size}: the value has "
                                 f"{base.tag} bytes")
            return
        func = st[base.tag].func
        if base.lo is None:
            self.reason.setdefault(func, f"pc {pc}: {what} the stack at an offset that "
                                   "cannot be bounded")
            return
        lo, hi = base.lo + off, base.hi + off
        if lo < -MAX_STACK or hi + size > 0:
            if self.approx:
                self.reason.setdefault(func, f"pc {pc}: {what} the stack at off=[{lo},{hi}], "
                                       "a range only joined states give")
                return
            rng = f"off={lo}" if lo == hi else f"off=[{lo},{hi}]"
            self.problem(pc, f"invalid stack {rng} size={size}: {what} the stack "
                         f"outside r10-{MAX_STACK}..r10")
            lo = max(lo, -MAX_STACK)
        if lo < self.depth.get(func, 1):
            self.depth[func] = lo
        elif func not in self.depth:
            self.depth[func] = 0

    # ------------------------------------------------------------ transfer
    def step(self, i: int, st: tuple):
        """The successors [(insn index, state)] of insn i in state st; None: none."""
        op, dst, src, off, imm = self.insns[i]
        pc = self.pcs[i]
        cls = op & 7
        fr = st[-1]
        regs = fr.regs
        if cls == 7 or cls == 4:               # ALU64 / ALU32
            code = op & 0xF0
            x = op & 8
            sv = regs[src] if x else const(imm)
            dv = regs[dst]
            if code in (0x30, 0x90) and x:
                s = sv if type(sv) is Sc else None
                if cls == 4 and s is not None:
                    s = low32(s)
                old = self.divisors.get(pc, 0)
                self.divisors[pc] = (s if old == 0 else
                                     None if old is None or s is None else join_sc(old, s))
            if code in (0x30, 0x90) and off == 1:
                # signed division and modulo (SDIV/SMOD): not followed
                v = UNKNOWN if cls == 7 else U32
            elif cls == 7:
                v = self.alu64(code, op, dv, sv, off, imm, pc)
            else:
                v = self.alu32(code, op, dv, sv, off, imm)
            return [(i + 1, _set(st, dst, v))]
        if cls == 1:                            # LDX
            size = (4, 2, 1, 8)[op >> 3 & 3]
            base = regs[src]
            self.access(st, base, off, size, pc, "load from")
            v = TOP
            if type(base) is Ptr and base.kind == STACK and base.lo is not None \
                    and base.lo == base.hi:
                v = _slot_get(st[base.tag].slots, base.lo + off, size,
                              self.prog.byteorder == "little")
            if v is TOP and size < 8 and not (type(base) is Ptr and base.kind == CTX):
                # a narrow load is a number, except from a context (xdp_md.data is a u32
                # the kernel turns into a packet pointer)
                v = from_urange(0, (1 << 8 * size) - 1)
            if op & 0xE0 == 0x80 and type(v) is Sc:     # LDSX
                if v.tm or v.tv >> (8 * size - 1):
                    v = from_srange(-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1)
            return [(i + 1, _set(st, dst, v))]
        if cls in (2, 3):                       # ST, STX (and atomics)
            size = (4, 2, 1, 8)[op >> 3 & 3]
            base = regs[dst]
            val = const(imm) if cls == 2 else regs[src]
            atomic = cls == 3 and op & 0xE0 == 0xC0
            self.access(st, base, off, size, pc, "atomic access to" if atomic else "store to")
            if type(base) is Ptr and base.kind == STACK:
                st = self.store(st, base, off, size, TOP if atomic else val)
            else:
                if type(val) is Ptr and val.kind == STACK:
                    self.escaped = True     # whoever reloads it writes a frame we cannot see
                if self.escaped and base is TOP:
                    st = _forget_slots(st)
            if atomic:
                if imm == 0xF1:
                    st = _set(st, 0, TOP)
                elif imm & 1:
                    st = _set(st, src, TOP)
            return [(i + 1, st)]
        if cls == 0:                            # LDDW, LD_ABS/IND
            if op == 0x18:
                if src == 0:
                    v = const(imm)
                elif src in (1, 5):
                    v = Ptr(MAP, imm & M32, 0, 0)
                elif src in (2, 6):
                    m = self.prog.maps[imm & M32] if (imm & M32) < len(self.prog.maps) else None
                    v = (Ptr(MAPVAL, m.value_size, imm >> 32, imm >> 32) if m is not None
                         else TOP)
                else:
                    v = TOP
                return [(i + 1, _set(st, dst, v))]
            st = _clobber(st)
            return [(i + 1, _set(st, 0, from_urange(0, M32)))]
        # JMP / JMP32
        code = op & 0xF0
        if code == 0x90:                        # exit
            if len(st) == 1:
                return None
            ret = fr.ret
            caller = st[-2]
            regs2 = list(caller.regs)
            regs2[0] = regs[0]
            for r in range(1, 6):
                regs2[r] = TOP
            return [(ret, st[:-2] + (caller._replace(regs=tuple(regs2)),))]
        if code == 0x80:                        # call
            if src == 1:
                tgt = pc + 1 + imm
                if tgt not in self.starts or len(st) >= 8 or \
                        any(f.func == tgt for f in st):
                    return None                 # reported by jit.analysis
                self.reached.add(tgt)
                regs2 = [TOP] * 11
                regs2[1:6] = regs[1:6]
                regs2[10] = Ptr(STACK, len(st), 0, 0)
                self.depth.setdefault(tgt, 0)
                return [(self.index[tgt], st + (_Frame(tuple(regs2), (), tgt, i + 1),))]
            st = self.helper(st, imm if src == 0 else -1, pc)
            return [(i + 1, st)]
        if code == 0x00:                        # ja
            tgt = pc + 1 + (imm if op == 0x06 else off)
            return [(self.index[tgt], st)] if tgt in self.index else None
        tgt = self.index.get(pc + 1 + off)
        if tgt is None:
            return None
        a = regs[dst]
        b = regs[src] if op & 8 else const(imm)
        outs = self.branch(st, code, cls == 6, dst, src if op & 8 else -1, a, b)
        res = []
        m = 0
        if outs[1] is not None:
            res.append((tgt, outs[1]))
            m |= 1
        if outs[0] is not None:
            res.append((i + 1, outs[0]))
            m |= 2
        self.branches[pc] = self.branches.get(pc, 0) | m
        return res or None

    def alu64(self, code: int, op: int, dv, sv, off: int, imm: int, pc: int):
        if code == 0xB0:                        # mov
            if op & 8 and off:                  # movsx
                if type(sv) is not Sc:
                    return UNKNOWN
                bits = off
                if sv.tm == 0:
                    v = sv.tv & ((1 << bits) - 1)
                    return const(v - (1 << bits) if v >> (bits - 1) else v)
                if sv.umax < 1 << (bits - 1):
                    return sv
                return from_srange(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            return sv
        if code == 0x80:                        # neg
            return alu(0x10, const(0), dv) if type(dv) is Sc else (TOP if dv is TOP else UNKNOWN)
        if code == 0xD0:                        # end / bswap
            if type(dv) is Sc and dv.tm == 0 and imm == 64 and op & 8:
                return const(int.from_bytes(dv.tv.to_bytes(8, "little"), "big"))
            return from_urange(0, (1 << imm) - 1) if imm in (16, 32) else UNKNOWN
        td, ts = type(dv), type(sv)
        if td is Sc and ts is Sc:
            return alu(code, dv, sv)
        if td is Ptr and code in (0x00, 0x10) and ts is not Ptr:
            return _ptr_add(dv, sv, code == 0x10)
        if ts is Ptr and code == 0x00 and td is not Ptr:
            return _ptr_add(sv, dv, False)
        if td is not Ptr and ts is not Ptr and code not in (0x00, 0x10):
            # anything but add/sub makes a number of whatever it is given
            return alu(code, dv if td is Sc else UNKNOWN, sv if ts is Sc else UNKNOWN)
        if td is Ptr and ts is Ptr and code == 0x10:
            if dv.kind == sv.kind and dv.tag == sv.tag and dv.lo is not None \
                    and sv.lo is not None:
                return from_srange(dv.lo - sv.hi, dv.hi - sv.lo)
            return UNKNOWN
        return TOP

    def alu32(self, code: int, op: int, dv, sv, off: int, imm: int):
        if code == 0xB0:
            if op & 8 and off:
                if type(sv) is Sc and sv.tm == 0:
                    v = sv.tv & ((1 << off) - 1)
                    return const((v - (1 << off) if v >> (off - 1) else v) & M32)
                return U32
            return low32(sv) if type(sv) is Sc else U32
        if code == 0x80:
            return alu32(0x10, const(0), dv) if type(dv) is Sc else U32
        if code == 0xD0:
            if imm == 64 and bool(op & 8) == (self.prog.byteorder == "big"):
                return dv if type(dv) is Sc else TOP     # to its own byte order: nothing
            return from_urange(0, (1 << imm) - 1) if imm in (16, 32) else UNKNOWN
        if type(dv) is Sc and type(sv) is Sc:
            return alu32(code, dv, sv)
        return U32

    def store(self, st: tuple, base: Ptr, off: int, size: int, val) -> tuple:
        k = base.tag
        fr = st[k]
        if base.lo is None:
            slots = ()
        else:
            lo, hi = base.lo + off, base.hi + off + size
            slots = tuple(s for s in fr.slots if s[0] + s[1] <= lo or s[0] >= hi)
            if base.lo == base.hi:
                if size < 8 and type(val) is Sc:
                    val = val if val.umax < 1 << 8 * size else from_urange(0, (1 << 8 * size) - 1)
                elif size < 8:
                    val = from_urange(0, (1 << 8 * size) - 1)
                slots = tuple(sorted(slots + ((lo, size, val),)))
        return st[:k] + (fr._replace(slots=slots),) + st[k + 1:]

    def helper(self, st: tuple, hid: int, pc: int) -> tuple:
        regs = st[-1].regs
        r0 = TOP
        if hid == MAP_LOOKUP and type(regs[1]) is Ptr and regs[1].kind == MAP:
            m = self.prog.maps[regs[1].tag] if regs[1].tag < len(self.prog.maps) else None
            if m is not None and m.type not in MAP_OF_MAPS:
                r0 = Ptr(MAPVAL, m.value_size, 0, 0, True)
        # stack pointers handed over: the helper's object starts there (key, buffer);
        # it may write the frame from there up
        for r in range(1, 6):
            v = regs[r]
            if type(v) is Ptr and v.kind == STACK:
                if v.lo is None:
                    self.reason.setdefault(st[v.tag].func, f"pc {pc}: a stack pointer at an "
                                           f"offset that cannot be bounded is passed to a "
                                           f"helper in r{r}")
                    fr = st[v.tag]      # which the helper may write anywhere in that frame
                    st = st[:v.tag] + (fr._replace(slots=()),) + st[v.tag + 1:]
                    continue
                func = st[v.tag].func
                if v.lo < -MAX_STACK:
                    self.problem(pc, f"invalid stack off={v.lo} passed to a helper in r{r}")
                elif v.lo < self.depth.get(func, 1):
                    self.depth[func] = v.lo
                fr = st[v.tag]
                st = st[:v.tag] + (fr._replace(slots=tuple(
                    s for s in fr.slots if s[0] + s[1] <= v.lo)),) + st[v.tag + 1:]
        if self.escaped:
            st = _forget_slots(st)
        st = _clobber(st)
        return _set(st, 0, r0)

    def branch(self, st: tuple, code: int, j32: bool, dst: int, src: int, a, b):
        """(fall-through state, taken state), None for a side that cannot happen."""
        if type(a) is Ptr and a.null and type(b) is Sc and b.tm == 0 and b.tv == 0 \
                and code in (0x10, 0x50) and not j32:
            nonnull = _set(st, dst, a._replace(null=False))
            null = _set(st, dst, const(0))
            return (nonnull, null) if code == 0x10 else (null, nonnull)
        if type(a) is not Sc or type(b) is not Sc:
            return st, st
        if j32:
            if a.umax > M32 or b.umax > M32:
                la, lb = low32(a), low32(b)
                if code in (0x60, 0x70, 0xC0, 0xD0):
                    return st, st
                # the low halves decide; what they learn goes into the tnum's low bits
                # (the upper half stays unknown), so a later 32-bit use is bounded
                out = []
                for taken in (False, True):
                    ra, rb = refine(code, la, lb, taken)
                    if ra is None or rb is None:
                        out.append(None)
                        continue
                    s2 = st
                    for r, old, new in ((dst, a, ra), (src, b, rb)):
                        if r >= 0 and old.umax > M32 and new != low32(old):
                            v = _with_low(old, new)
                            if v is None:
                                s2 = None
                                break
                            s2 = _set(s2, r, v)
                    out.append(s2)
                return out[0], out[1]
            if code in (0x60, 0x70, 0xC0, 0xD0) and (a.umax > M32 >> 1 or b.umax > M32 >> 1):
                return st, st
        out = []
        for taken in (False, True):
            ra, rb = refine(code, a, b, taken)
            if ra is None or rb is None:
                out.append(None)
                continue
            s = _set(st, dst, ra) if ra != a else st
            if src >= 0 and rb != b:
                s = _set(s, src, rb)
            out.append(s)
        return out[0], out[1]


def _with_low(a: Sc, low: Sc) -> Sc | None:
    """a with its low half known to lie in `low` (a 32-bit range): the tnum of that
    range for the low 32 bits, the upper half as a had it."""
    rv, rm = tnum_range(low.umin, low.umax)
    rm |= M64 & ~M32
    if (a.tv & ~a.tm) & ~(rv | rm) & M64 or (rv & ~rm) & ~(a.tv | a.tm) & M64:
        return None
    m = a.tm & rm
    return sync((a.tv | rv) & ~m, m, a.umin, a.umax, a.smin, a.smax)


def _ptr_add(p: Ptr, s, neg: bool) -> Ptr:
    if p.lo is None:
        return p
    if type(s) is not Sc or s.smin < -(1 << 29) or s.smax > 1 << 29:
        return p._replace(lo=None, hi=0)
    lo, hi = (-s.smax, -s.smin) if neg else (s.smin, s.smax)
    return p._replace(lo=p.lo + lo, hi=p.hi + hi)


def _set(st: tuple, r: int, v) -> tuple:
    fr = st[-1]
    regs = fr.regs
    if regs[r] is v:
        return st
    return st[:-1] + (fr._replace(regs=regs[:r] + (v,) + regs[r + 1:]),)


def _clobber(st: tuple) -> tuple:
    fr = st[-1]
    regs = (TOP,) * 6 + fr.regs[6:]
    return st[:-1] + (fr._replace(regs=regs),)


def _forget_slots(st: tuple) -> tuple:
    return tuple(fr._replace(slots=()) if fr.slots else fr for fr in st)


def _slot_get(slots: tuple, a: int, size: int, little: bool = True):
    for o, n, v in slots:
        if o == a and n == size:
            return v
        # a narrow load of the low end of a small spilled scalar: its first bytes in a
        # little-endian program, its last in a big-endian one
        low = o if little else o + 8 - size
        if low == a and n == 8 and size < 8 and type(v) is Sc and v.umax < 1 << 8 * size:
            return v
    return TOP


def _state_le(a: tuple, b: tuple) -> bool:
    if len(a) != len(b):
        return False
    for fa, fb in zip(a, b):
        if fa.func != fb.func or fa.ret != fb.ret:
            return False
        for x, y in zip(fa.regs, fb.regs):
            if x is not y and not value_le(x, y):
                return False
        if fa.slots != fb.slots:
            sa = {(o, n): v for o, n, v in fa.slots}
            for o, n, v in fb.slots:
                x = sa.get((o, n), TOP)
                if not value_le(x, v):
                    return False
            # a slot b forgot is TOP in b: fine
    return True


def _join_state(a: tuple, b: tuple, widen: list[int] | None) -> tuple | None:
    if len(a) != len(b):
        return None
    out = []
    for fa, fb in zip(a, b):
        regs = tuple(join_value(x, y, widen) for x, y in zip(fa.regs, fb.regs))
        sb = {(o, n): v for o, n, v in fb.slots}
        slots = []
        for o, n, v in fa.slots:
            w = sb.get((o, n), TOP)
            if w is TOP:
                continue
            j = join_value(v, w, widen)
            if j is not TOP:
                slots.append((o, n, j))
        out.append(fa._replace(regs=regs, slots=tuple(slots)))
    return tuple(out)


def _fmt(s: Sc) -> str:
    if s.tm == 0:
        return f"{s.tv:#x}"
    return f"umin={s.umin:#x} umax={s.umax:#x} smin={s.smin} smax={s.smax}"
