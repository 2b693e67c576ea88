"""What the verifier would know about a Program, computed before anything is emitted.

This module owns the facts a JIT in the kernel takes from the verifier:

  * per function (`FuncFacts`): basic blocks and successors, back edges, local
    callees (and callback references), helpers and maps used, registers read
    and written, and the stack the function really uses;
  * per program (`Facts`): the deepest call chain's stack, the call depth, and
    the 32-bit definitions whose upper half is read later (`zext_needed`);
  * the checks that reject what the kernel verifier plainly rejects, each a
    `CheckError` naming the file, the function and the eBPF pc.

It does not own instruction validity bit by bit (`jit.isa`), loading
(`jit.elf`), frame layout (`jit.frame` reads `FuncFacts.stack_depth`), or
anything about a machine.  Its own passes are not a verifier: no value ranges,
no pointer types beyond "points into a stack frame", no path sensitivity.
Those come from `jit.ranges` (see "Value ranges" below).

How the stack is measured
-------------------------
A forward abstract interpretation over each function's CFG gives every
register one of: a scalar we know nothing about (None), a constant (int), a
pointer into a frame at a known range of offsets (`_Fp`), or a pointer into a
frame at an offset we cannot bound (`_VarFp`).  Frame 0 is the function's own
(r10); frames 1-5 stand for "whatever the caller passed in r1-r5", which gives
each function a summary (`arg_reach`: the lowest offset it touches through each
argument) that its callers apply to the stack pointers they pass.  Stack
pointers spilled to the stack with 8-byte stores are tracked per slot (the
spilled-pointer map in the state).  Functions are analysed callees first.

A function's stack use is the lowest byte below r10 that it (or a callee
through a pointer it passed) touches: a load or store `*(size *)(r10 + off)`
touches [off, off + size); a stack pointer `fp + off` handed to a helper, or
spilled where someone else may reload it, is taken to reach up to r10,
[off, 0), because its object (a map key, a buffer, a struct) lies there and we
do not model each helper's sizes.  A stack pointer stored into non-stack memory
reloads as a scalar nobody may dereference, so it is not followed.  When a
stack pointer gets an offset we cannot bound (a variable added to it, a value
that keeps changing around a loop, a misaligned spill, a callee that uses it
at a variable offset) and is then used, the function falls back to the full
512 bytes and `FuncFacts.depth_reason` says why.  The checks against the
limits use only what is proven (`FuncFacts.proven_depth`): a fallback sizes a
frame, it never rejects a program.

What the kernel does, and what we match (kernel/bpf/verifier.c, 6.x):

  * `grow_stack_state()` records each subprogram's `stack_depth` as
    round_up(-min_off, 8): the kernel's per-subprogram figure is a multiple of
    8, and `stack depth A+B+...` in the log (log_level 4, BPF_LOG_STATS) prints
    exactly these.  `FuncFacts.stack_depth` is that figure.
  * `check_max_stack_depth_subprog()` walks every call chain from the entry
    (bpf-to-bpf calls and callback references alike), sums
    `round_up_stack_depth()` per frame -- round_up(depth, 16) when a JIT is
    requested (32 with at least 1 byte for the interpreter) -- and refuses a
    sum above MAX_BPF_STACK (512), a ninth frame (MAX_CALL_FRAMES 8), and a
    tail call in a subprogram whose callers' frames already sum to 256 bytes.
    We sum 16-byte frames: bpfjit is a JIT.  (Kernels that give tracing
    programs a private stack skip the sum for them; we do not model that.)

Value ranges
------------
Where the walk above falls back (a variable offset: an array indexed by a loop
variable, a buffer a callee fills at offsets it computes), `jit.ranges` walks
the program as the verifier does -- tnums and bounds, pointer kinds, both sides
of every branch, a frame per call -- and gives each function it reaches the
deepest byte any access touches: the verifier's `stack_depth` on clang's
output (tests/progs/stack_arrays.c).  Programs of up to `RANGES_CHECK_INSNS`
instructions get that walk anyway, within `RANGES_CHECK_STEPS`, for the checks
it makes (an access outside the frame, the context or a map value; a load or
store through a number) and for what lowering may drop (`Facts.safe_divs`,
`Facts.decided`).  A walk that runs out of budget proves nothing: the fallback
and its reason stay, and no range check is reported.

32-bit definitions and their upper halves
-----------------------------------------
Like the kernel's `mark_insn_zext()`, a backwards liveness of "the upper 32
bits of rX may be read": 64-bit uses (ALU64 operands, JMP compares, memory
base addresses, DW stores, r0 at exit, r1-r5 at every call) make it live,
32-bit uses (ALU32 operands, JMP32, W/H/B stores, shift counts, the source of
a sign-extending move) do not, and any definition kills it.  A 32-bit
definition (ALU32, MOV32, LDX W/H/B, LD_ABS/LD_IND, 16/32-bit byte swaps,
atomic fetches of W) whose register is live after it is in `zext_needed`.
Only r0 is live at a function's exit: r6-r9 are the caller's own again.

Cost: linear in the instructions.  One C-level pass looks every instruction
up in a cache of register masks (`_Effects`), which classifies each distinct
Insn once -- and, since most fields do not matter to it, each distinct
operation and registers once; one pass per block builds its summaries
(written-on-every-path, upper halves read, 32-bit defs pending); the
fixpoints then run over blocks, in one pass when the function has no back
edges, else by worklist.  The stack interpretation skips every instruction
and block whose registers hold nothing it tracks (a mask test), and loops
revisit their blocks a bounded number of times before offsets widen; an entry
function that never lets r10 escape needs no interpretation at all
(`stack_direct`).  Nothing recurses on the program: DFS and call graph walks
keep their own stacks.
"""
from __future__ import annotations

import heapq
from bisect import bisect_left
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache, cached_property
from itertools import chain, compress, count, islice, repeat
from operator import and_, itemgetter, ne, sub
from typing import Iterable, Mapping, NamedTuple

from jit import ranges
from jit.helper_names import HELPER_NAMES
from jit.errors import CheckError
from jit.isa import LDDW, Alu, Cls, Jmp, Mode, Size
from jit.program import Program

MAX_STACK = 512            # MAX_BPF_STACK
MAX_FRAMES = 8             # MAX_CALL_FRAMES
TAIL_CALL = 12             # BPF_FUNC_tail_call
TAIL_CALL_STACK = 256      # callers' frames limit for a subprogram that tail-calls
SLOT = 8                   # the kernel counts a frame in 8-byte slots ...
FRAME_ALIGN = 16           # ... and rounds each to 16 when it sums a chain (JIT requested)
RANGES_CHECK_INSNS = 4096  # programs up to this size get the value-range checks ...
RANGES_CHECK_STEPS = 20_000  # ... within this many abstract steps
WIDEN_AFTER = 4            # joins into a block before changing stack offsets go unbounded

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
ARGS = 0b111110            # r1-r5
R0 = 1
R6 = 1 << 6
R10 = 1 << 10
ALL_REGS = (1 << 11) - 1


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


# --------------------------------------------------------------------- public results

class Block(NamedTuple):
    """A basic block: slots [start, end); `succs` are the start slots of its successors."""
    start: int
    end: int
    succs: tuple[int, ...]


class _Cfg(NamedTuple):
    """A function's CFG as the analysis keeps it: block start/end slots, successor indices."""
    starts: list[int]
    ends: list[int]
    succ: list[tuple[int, ...]]


@dataclass(frozen=True)
class FuncFacts:
    name: str
    start: int                          # first slot
    end: int                            # one past the last slot
    n_insns: int
    cfg: _Cfg = field(repr=False, compare=False)
    back_edges: frozenset[tuple[int, int]]   # (pc of the jump, pc it goes back to)
    callees: tuple[int, ...]            # start slots of functions called or referenced
    call_sites: tuple[tuple[int, int], ...]  # (pc, callee start): calls and LDDW FUNC refs
    helpers: frozenset[int]
    kfuncs: frozenset[int]
    maps: frozenset[int]                # indices into Program.maps
    regs_read: frozenset[int]
    regs_written: frozenset[int]        # including r0-r5 changed by calls and LD_ABS
    stack_bytes: int                    # lowest byte below r10 proven touched: 0..512
    stack_depth: int                    # the kernel's figure: round_up(stack_bytes, 8), or 512
    depth_reason: str | None            # why stack_depth fell back to 512, else None
    tail_call_pcs: tuple[int, ...]
    has_ld_abs: bool
    # (i, lowest offset this function or its callees touch through what ri held at
    # entry, None if unbounded), for the arguments used as pointers at all
    arg_reach: tuple[tuple[int, int | None], ...]

    @cached_property
    def blocks(self) -> tuple[Block, ...]:
        """Basic blocks in slot order; blocks[0] is the entry."""
        starts, ends, succ = self.cfg
        return tuple(Block(starts[j], ends[j], tuple(starts[s] for s in succ[j]))
                     for j in range(len(starts)))

    @property
    def has_tail_call(self) -> bool:
        return bool(self.tail_call_pcs)

    @property
    def proven_depth(self) -> int:
        """The depth the instructions prove (what the limits are checked against)."""
        return round_up(self.stack_bytes, SLOT)

    @property
    def frame_size(self) -> int:
        """This function's share of a call chain, as the kernel sums it for a JIT."""
        return round_up(self.stack_depth, FRAME_ALIGN)

    @property
    def has_loops(self) -> bool:
        return bool(self.back_edges)


@dataclass(frozen=True)
class Facts:
    functions: tuple[FuncFacts, ...]    # in Program.functions order
    zext_needed: frozenset[int]         # slots of 32-bit defs whose upper half is read
    stack_total: int                    # deepest chain from the entry, 16-byte frames
    deepest_chain: tuple[int, ...]      # function start slots of that chain
    max_frames: int                     # longest call chain from the entry, in frames
    problems: tuple[CheckError, ...]    # everything `check` found, in pc order
    # from value ranges (jit.ranges), where they ran to the end: what lowering may drop
    safe_divs: frozenset[int] = frozenset()     # DIV/MOD by a register never 0 (nor -1 signed)
    decided: Mapping[int, bool] = field(default_factory=dict)  # jump pc -> always / never taken

    def function(self, key: str | int) -> FuncFacts:
        """By name or start slot."""
        for f in self.functions:
            if f.name == key or f.start == key:
                return f
        raise KeyError(key)

    @property
    def depths(self) -> dict[int, int]:
        """Function start slot -> stack bytes to allocate (what `jit.lower.lower` takes)."""
        return {f.start: f.stack_depth for f in self.functions}


# --------------------------------------------------------------------- entry points

def analyse(prog: Program, *, helpers: set[int] | Mapping | None = None) -> Facts:
    """Facts about `prog`; raises the first CheckError (in pc order) if any check fails.

    `helpers`: the helper ids that exist (a set, or a dict id -> Helper whose
    `nargs` is then used to check that the arguments are set); None = any id.
    """
    facts = _Analysis(prog, helpers).run()
    if facts.problems:
        raise facts.problems[0]
    return facts


def check(prog: Program, *, helpers: set[int] | Mapping | None = None) -> list[CheckError]:
    """Every problem the checks find, in pc order (empty when the program passes)."""
    return list(_Analysis(prog, helpers).run().problems)


def facts_unchecked(prog: Program, *,
                    helpers: set[int] | Mapping | None = None) -> Facts:
    """Facts even for a program that fails checks (`Facts.problems` lists why)."""
    return _Analysis(prog, helpers).run()


def describe(prog: Program, facts: Facts) -> dict:
    """A summary for `bpfjit info`, in the spirit of `bpftool prog show`."""
    names = _helper_names()
    by_start = {f.start: f for f in facts.functions}

    def helper_list(ids: Iterable[int]) -> list[dict]:
        return [{"id": h, "name": names.get(h)} for h in sorted(ids)]

    def map_list(idx: Iterable[int]) -> list[dict]:
        out = []
        for i in sorted(idx):
            m = prog.maps[i] if 0 <= i < len(prog.maps) else None
            out.append({"index": i, "name": m.name if m else None,
                        "type": m.type if m else None})
        return out

    funcs = []
    all_helpers: set[int] = set()
    all_maps: set[int] = set()
    for f in facts.functions:
        all_helpers |= f.helpers
        all_maps |= f.maps
        funcs.append({
            "name": f.name, "start": f.start, "end": f.end, "insns": f.n_insns,
            "blocks": len(f.blocks), "loops": len(f.back_edges),
            "stack_depth": f.stack_depth, "stack_reason": f.depth_reason,
            "callees": [by_start[c].name if c in by_start else f"pc {c}" for c in f.callees],
            "helpers": helper_list(f.helpers), "maps": map_list(f.maps),
            "tail_calls": len(f.tail_call_pcs),
        })
    return {
        "name": prog.name, "type": prog.prog_type, "section": prog.section, "file": prog.file,
        "byteorder": prog.byteorder, "license": prog.license,
        "insns": len(prog.insns), "slots": prog.n_slots,
        "stack": {"total": facts.stack_total,
                  "chain": [by_start[s].name for s in facts.deepest_chain if s in by_start]},
        "frames": facts.max_frames,
        "helpers": helper_list(all_helpers), "maps": map_list(all_maps),
        "functions": funcs,
        "problems": [str(p) for p in facts.problems],
    }


def _helper_names() -> dict[int, str]:
    """Every helper id the kernel defines, by its uapi name (jit.helper_names)."""
    return dict(HELPER_NAMES)


# --------------------------------------------------------------------- opcode kinds

class Kind(IntEnum):
    ALU64 = 0
    ALU32 = 1
    LDX = 2
    ST = 3
    STX = 4
    JCOND = 5
    JCOND32 = 6
    JA = 7
    CALL = 8
    EXIT = 9
    LDDW = 10
    LDABS = 11
    ATOMIC = 12
    BAD = 13


@cache
def _kinds() -> tuple[Kind, ...]:
    """Opcode byte -> Kind (BAD for bytes no valid instruction uses)."""
    out = []
    for op in range(256):
        cls, code = op & 7, op & 0xF0
        k = Kind.BAD
        if cls in (Cls.ALU, Cls.ALU64):
            if code <= Alu.END and not (code == Alu.END and cls == Cls.ALU64 and op & 8):
                k = Kind.ALU64 if cls == Cls.ALU64 else Kind.ALU32
        elif cls in (Cls.JMP, Cls.JMP32):
            if code == Jmp.JA:
                k = Kind.JA if not op & 8 else Kind.BAD
            elif code == Jmp.CALL:
                k = Kind.CALL if op == 0x85 else Kind.BAD
            elif code == Jmp.EXIT:
                k = Kind.EXIT if op == 0x95 else Kind.BAD
            elif code <= Jmp.JSLE:
                k = Kind.JCOND if cls == Cls.JMP else Kind.JCOND32
        elif cls == Cls.LD:
            if op == LDDW:
                k = Kind.LDDW
            elif op & 0xE0 in (Mode.ABS, Mode.IND) and op & 0x18 != Size.DW:
                k = Kind.LDABS
        elif cls == Cls.LDX:
            if op & 0xE0 == Mode.MEM or (op & 0xE0 == Mode.MEMSX and op & 0x18 != Size.DW):
                k = Kind.LDX
        elif cls == Cls.ST:
            if op & 0xE0 == Mode.MEM:
                k = Kind.ST
        else:
            if op & 0xE0 == Mode.MEM:
                k = Kind.STX
            elif op & 0xE0 == Mode.ATOMIC and op & 0x18 in (Size.W, Size.DW):
                k = Kind.ATOMIC
        out.append(k)
    return tuple(out)


# Kind and opcode values as plain ints for the per-instruction loops: on CPython
# 3.11 reading an enum member (`Kind.ALU64`) costs about 150 ns, more than the
# comparison it is used in.
_K_ALU64, _K_ALU32, _K_LDX, _K_ST, _K_STX = (int(Kind.ALU64), int(Kind.ALU32), int(Kind.LDX),
                                             int(Kind.ST), int(Kind.STX))
_K_CALL, _K_LDDW, _K_ATOMIC, _K_LDABS = (int(Kind.CALL), int(Kind.LDDW), int(Kind.ATOMIC),
                                         int(Kind.LDABS))
_ADD, _SUB, _MOV, _DW = int(Alu.ADD), int(Alu.SUB), int(Alu.MOV), int(Size.DW)


class _Special(IntEnum):
    """Why an instruction's pc must be looked at (`_Analysis.specials`)."""
    JUMP = 1
    EXIT = 2
    CALL = 3
    LDDW = 4            # one that refers to a map or a function
    LDABS = 5
    SYNTAX = 8          # a bit: some syntactic check fails


# as plain ints for `specials` (see _K_ALU64)
_S_JUMP, _S_EXIT, _S_CALL, _S_LDDW, _S_LDABS, _S_SYNTAX = (
    int(_Special.JUMP), int(_Special.EXIT), int(_Special.CALL), int(_Special.LDDW),
    int(_Special.LDABS), int(_Special.SYNTAX))

_SPECIAL = {Kind.ALU64: 0, Kind.ALU32: 0, Kind.LDX: 0, Kind.ST: 0, Kind.STX: 0,
            Kind.ATOMIC: 0, Kind.JCOND: _Special.JUMP, Kind.JCOND32: _Special.JUMP,
            Kind.JA: _Special.JUMP, Kind.EXIT: _Special.EXIT, Kind.CALL: _Special.CALL,
            Kind.LDDW: _Special.LDDW, Kind.LDABS: _Special.LDABS}

_SIZE = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}
_SIZES = tuple(_SIZE[op & 0x18] for op in range(256))
_SHIFTS = (Alu.LSH, Alu.RSH, Alu.ARSH)
_CMPXCHG = 0xF1
_FETCH = 0x01


def _effects(insn, kind: int, nargs: Mapping[int, int] | None) -> tuple[int, int, int, int, int]:
    """(read, read64, set, killed, def32 register or -1) of one instruction, as register masks.

    read    registers whose value is used (checked against "written on every path")
    read64  registers whose upper 32 bits are used (the zext liveness)
    set     registers given a value
    killed  registers left without a value (r1-r5 after a call or LD_ABS)
    """
    op, dst, src, off, imm = insn
    d = 1 << dst
    s = 1 << src
    if kind == Kind.ALU64 or kind == Kind.ALU32:
        code = op & 0xF0
        x = op & 8
        wide = kind == Kind.ALU64
        if code == Alu.MOV:
            if not x:
                return 0, 0, d, 0, -1 if wide else dst
            # MOVSX reads only the low 8/16/32 bits of its source
            return s, s if wide and off == 0 else 0, d, 0, -1 if wide else dst
        if code == Alu.END:
            full = imm == 64
            return d, d if full else 0, d, 0, -1 if full else dst
        if code == Alu.NEG:
            return d, d if wide else 0, d, 0, -1 if wide else dst
        rd = d | s if x else d
        if not wide:
            return rd, 0, d, 0, dst
        # a 64-bit shift uses only the low 6 bits of its count
        return rd, d if code in _SHIFTS else rd, d, 0, -1
    if kind == Kind.LDX:
        return s, s, d, 0, dst if op & 0xE0 == Mode.MEM and op & 0x18 != Size.DW else -1
    if kind == Kind.STX:
        return d | s, d | s if op & 0x18 == Size.DW else d, 0, 0, -1
    if kind == Kind.ST:
        return d, d, 0, 0, -1
    if kind == Kind.JCOND:
        rd = d | s if op & 8 else d
        return rd, rd, 0, 0, -1
    if kind == Kind.JCOND32:
        return (d | s if op & 8 else d), 0, 0, 0, -1
    if kind == Kind.JA:
        return 0, 0, 0, 0, -1
    if kind == Kind.CALL:
        rd = 0
        if src == 0 and nargs is not None:
            n = nargs.get(imm)
            if n is not None:
                rd = ((1 << (n + 1)) - 1) & ARGS
        return rd, ARGS, R0, ARGS, -1
    if kind == Kind.EXIT:
        return R0, R0, 0, 0, -1
    if kind == Kind.LDDW:
        return 0, 0, d, 0, -1
    if kind == Kind.LDABS:
        rd = R6 | s if op & 0xE0 == Mode.IND else R6
        return rd, rd, R0, ARGS, 0
    if kind == Kind.ATOMIC:
        dw = op & 0x18 == Size.DW
        rd = d | s
        r64 = d | s if dw else d
        if imm == _CMPXCHG:
            return rd | R0, r64 | R0 if dw else r64, R0, 0, -1 if dw else 0
        if imm & _FETCH:
            return rd, r64, s, 0, -1 if dw else src
        return rd, r64, 0, 0, -1
    return 0, 0, 0, 0, -1


# --------------------------------------------------------------------- abstract values

class _Fp(NamedTuple):
    """A pointer into frame `base` (0: ours, i: the one ri pointed into at entry) at [lo, hi]."""
    base: int
    lo: int
    hi: int


@dataclass(frozen=True)
class _VarFp:
    """A pointer into the frames in `bases` (bit mask) at an offset we cannot bound."""
    bases: int
    pc: int
    why: str


FP0 = _Fp(0, 0, 0)              # r10: states hold this one object, so `is FP0` finds r10
_SCALAR = (type(None), int)     # types of register values that are not pointers
# a state is a list: r0-r10, then the spilled pointers {offset: value} (or None), then
# the mask of registers holding something to track (see run_block)
_SPILLS = 11
_PM = 12
_STATE = 13
_MAKES_CONST = 1 << 11          # tmask bit: the instruction creates a constant
_ALWAYS = R10 | _MAKES_CONST    # run_block's mask always has these
NEVER = 1 << 40     # arg_reach of an argument never used as a pointer


def _sx(v: int) -> int:
    """The signed value of a u64."""
    return v - (1 << 64) if v >> 63 else v


def _fold(code: int, a: int, b: int, wide: bool) -> int | None:
    """Constant folding for the operations that build stack offsets."""
    if not wide:
        a &= M32
        b &= M32
    fold = _FOLD.get(code)
    if fold is None:
        return None
    return fold(a, b, 63 if wide else 31) & (M64 if wide else M32)


# ALU code -> (a, b, shift mask) -> result before truncation
_FOLD = {
    int(Alu.ADD): lambda a, b, m: a + b,
    int(Alu.SUB): lambda a, b, m: a - b,
    int(Alu.MUL): lambda a, b, m: a * b,
    int(Alu.OR): lambda a, b, m: a | b,
    int(Alu.AND): lambda a, b, m: a & b,
    int(Alu.XOR): lambda a, b, m: a ^ b,
    int(Alu.LSH): lambda a, b, m: a << (b & m),
    int(Alu.RSH): lambda a, b, m: a >> (b & m),
    int(Alu.NEG): lambda a, b, m: -a,
}


def _bases(v) -> int:
    return 1 << v.base if type(v) is _Fp else v.bases


def _join_value(a, b, widen: bool, pc: int, reg: str):
    """Least upper bound; a pointer joined with a scalar stays a pointer (it may be one)."""
    if a == b:
        return a
    ta, tb = type(a), type(b)
    if ta is _Fp and tb is _Fp:
        if a.base == b.base:
            lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
            if (lo, hi) == (a.lo, a.hi):
                return a
            if not widen:
                return _Fp(a.base, lo, hi)
        return _VarFp(_bases(a) | _bases(b), pc,
                      f"the stack offset in {reg} keeps changing around a loop (pc {pc})"
                      if a.base == b.base else
                      f"{reg} may point into different frames (pc {pc})")
    if ta is _VarFp:
        if tb is _VarFp or tb is _Fp:
            m = a.bases | _bases(b)
            return a if m == a.bases else _VarFp(m, a.pc, a.why)
        return a
    if tb is _VarFp or tb is _Fp:
        return b
    if ta is _Fp:
        return a
    return None  # two different constants, or a constant and a scalar


# --------------------------------------------------------------------- the analysis

class _Func:
    """Everything computed about one function on the way to its FuncFacts."""

    def __init__(self, index: int, name: str, start: int, end: int, lo: int, hi: int) -> None:
        self.index = index
        self.name = name
        self.start = start
        self.end = end
        self.lo = lo            # insn index range [lo, hi)
        self.hi = hi
        self.call_sites: list[tuple[int, int]] = []
        self.helpers: set[int] = set()
        self.kfuncs: set[int] = set()
        self.maps: set[int] = set()
        self.tail_calls: list[int] = []
        self.has_ld_abs = False
        self.read = 0
        self.written = 0
        self.blocks: list[tuple[int, int]] = []   # insn index ranges
        self.succ: list[tuple[int, ...]] = []
        self.rpo: list[int] = []
        self.back: list[tuple[int, int]] = []
        self.backwards = False      # some jump goes to itself or an earlier instruction
        # stack facts
        self.min_off = 0
        self.reason: str | None = None
        # lowest offset touched through what r1-r5 held at entry; NEVER, or None: unbounded
        self.arg_reach: list[int | None] = [NEVER] * 6
        self.block_tm: list[int] = []
        self.r10_escapes = False    # r10 is read other than as a memory base (_ESCAPE)


class _Effects(dict):
    """Insn -> `_Analysis.classify` of it, for one function (a dict, so that a whole
    function is looked up by one C-level `map`).

    Only some fields matter to the classification: the immediate of most
    instructions and the offset of all but a sign-extending move do not.  A
    miss looks the instruction up again with those fields cleared in a cache
    the whole analysis shares, so a program full of different constants and
    offsets is classified once per operation and registers, not once per
    instruction.
    """

    def __init__(self, analysis: "_Analysis") -> None:
        super().__init__()
        self.analysis = analysis
        self.classified = analysis.classified
        self.r10_escapes = False        # some instruction lets r10 escape (see `_ESCAPE`)

    def __missing__(self, insn):
        op, dst, src, off, imm = insn
        keep = _KEEP[op]                # the same key for every insn classify cannot tell apart
        if keep == _KEEP_NONE:
            key = (op, dst, src, 0, 0)
        elif keep == _KEEP_ALL:
            key = insn
        elif keep == _KEEP_OFF:
            key = (op, dst, src, off, 0)
        else:
            key = (op, dst, src, 0, 0 if imm == 0 else 1)
        e = self.classified.get(key)
        if e is None:
            e = self.classified[key] = self.analysis.classify(key)
        self[insn] = e
        esc = _ESCAPE[op]
        if esc == _ESC_ALU:
            if dst == 10 or (op & 8 and src == 10):
                self.r10_escapes = True
        elif esc == _ESC_SRC and src == 10:
            self.r10_escapes = True
        return e


def _keep(op: int, kind: Kind) -> int:
    """Which fields `classify` reads besides op, dst and src, for opcode `op`."""
    if kind in (Kind.CALL, Kind.ATOMIC, Kind.BAD):
        return _KEEP_ALL                    # helper id / atomic operation / anything
    if kind in (Kind.ALU64, Kind.ALU32):
        if op & 0xF0 == Alu.END:
            return _KEEP_ALL                # the width
        if op & 0xF8 in (Alu.DIV, Alu.MOD):
            return _KEEP_IMM_ZERO           # division by constant zero
        if op & 0xF8 == Alu.MOV | 0x08:
            return _KEEP_OFF                # MOVSX: the width read
    return _KEEP_NONE


_KEEP_NONE, _KEEP_OFF, _KEEP_IMM_ZERO, _KEEP_ALL = range(4)
_KEEP = tuple(_keep(op, kind) for op, kind in enumerate(_kinds()))

# How an instruction can let r10 escape: read it (or write it) other than as the
# base of a memory access, the only ways a stack pointer gets into another
# register or into memory.  ALU: dst or a register src is r10; STX (atomics
# included): src is r10.
_ESC_ALU, _ESC_SRC = 1, 2
_ESCAPE = tuple(_ESC_ALU if op & 7 in (Cls.ALU, Cls.ALU64) else _ESC_SRC if op & 7 == Cls.STX
                else 0 for op in range(256))


_TMASK = itemgetter(7)
_SPECIAL_OF = itemgetter(6)


class _Analysis:
    def __init__(self, prog: Program, helpers) -> None:
        self.prog = prog
        self.insns = prog.insns
        self.pcs = prog.pcs
        self.known_helpers = None if helpers is None else set(helpers)
        self.nargs = None
        if isinstance(helpers, Mapping):
            n = {i: getattr(h, "nargs", None) for i, h in helpers.items()}
            self.nargs = {i: v for i, v in n.items() if isinstance(v, int)}
        self.problems: dict[tuple[int, str], CheckError] = {}
        self.zext: set[int] = set()
        self.classified: dict = {}         # insn, unread fields cleared -> classify(it)
        self.ranges: ranges.Ranges | None = None

    # ------------------------------------------------------------ problems
    def problem(self, f: _Func | None, pc: int | None, msg: str) -> None:
        key = (-1 if pc is None else pc, msg)
        if key not in self.problems:
            self.problems[key] = CheckError(msg, file=self.prog.file,
                                            func=f.name if f else None, pc=pc)

    # ------------------------------------------------------------ driver
    def run(self) -> Facts:
        prog = self.prog
        n_slots = prog.n_slots
        # slot -> insn index; -1 marks the second slot of an LDDW (and slots past the end)
        self.index_of = index_of = _slot_index(self.pcs, n_slots)
        index_of[n_slots] = len(self.insns)
        self.tmask = [0] * len(self.insns)
        self.starts = {f.start: k for k, f in enumerate(prog.functions)}
        funcs = []
        for k, f in enumerate(prog.functions):
            lo = index_of[f.start] if 0 <= f.start <= n_slots else -1
            hi = index_of[f.end] if 0 <= f.end <= n_slots else -1
            fn = _Func(k, f.name, f.start, f.end, lo, hi)
            funcs.append(fn)
            if lo < 0 or hi < 0 or hi <= lo:
                self.problem(fn, f.start, f"function {f.name} does not cover whole "
                             f"instructions (slots {f.start}..{f.end})")
                fn.lo = fn.hi = max(lo, 0)
                continue
            self.scan(fn)
        self.funcs = funcs
        order = self.call_graph()
        for k in order:
            if funcs[k].blocks:
                self.stack(funcs[k])
        self.value_ranges(funcs)
        results = tuple(self.finish(fn) for fn in funcs)
        total, chain, frames = self.chains(results)
        problems = tuple(sorted(self.problems.values(),
                                key=lambda e: -1 if e.pc is None else e.pc))
        r = self.ranges
        return Facts(functions=results, zext_needed=frozenset(self.zext), stack_total=total,
                     deepest_chain=chain, max_frames=frames, problems=problems,
                     safe_divs=r.safe_divs if r and not problems else frozenset(),
                     decided=r.decided if r and not problems else {})

    def value_ranges(self, funcs: list[_Func]) -> None:
        """Where offsets need value ranges (jit.ranges), or the program is small enough
        to check with them: the kernel's depths and the range checks.

        Runs only on a program the structural checks passed; a walk that runs out
        of budget proves nothing and changes nothing."""
        fallback = any(f.reason is not None for f in funcs)
        if self.problems or not funcs or not (fallback or len(self.insns) <= RANGES_CHECK_INSNS):
            return
        # checking alone gets a smaller budget than a depth that needs the ranges
        r = ranges.analyse(self.prog, budget=ranges.BUDGET if fallback else RANGES_CHECK_STEPS)
        self.ranges = r
        if not r.complete:
            for f in funcs:
                if f.reason is not None:
                    f.reason += (f"; value ranges gave up after {r.steps} steps")
            return
        for f in funcs:
            # only where the first analysis fell back: elsewhere it already gives the
            # kernel's figure (its helper objects reach up to r10; see the module doc)
            if f.reason is None or f.start not in r.reached:
                continue
            why = r.reason.get(f.start)
            if why is not None:
                continue                # the first analysis's reason says more
            f.min_off = r.depth.get(f.start, 0)
            f.reason = None
        for pc, msg in r.problems:
            self.problem(self.funcs[self.func_index(pc)], pc, msg)

    def func_index(self, pc: int) -> int:
        for f in self.funcs:
            if f.start <= pc < f.end:
                return f.index
        return 0

    # ------------------------------------------------------------ pass 1: per instruction
    def classify(self, insn) -> tuple:
        """(read, read64, set, killed, set|killed, def32 reg, special, stack mask).

        `special` (a _Special code, 0 for most) says what needs the instruction's
        pc looked at: control flow, calls, map and function LDDWs, LD_ABS, and
        (bit SYNTAX) anything a syntactic check rejects.
        """
        op, dst, src, off, imm = insn
        kind = _kinds()[op]
        if kind == Kind.BAD or dst > 10 or src > 10:
            return 0, 0, 0, 0, 0, -1, _Special.SYNTAX, 0
        rd, r64, st, kl, dr = _effects(insn, kind, self.nargs)
        special = _SPECIAL[kind] if kind != Kind.LDDW or src else 0
        if st & R10 or (kind <= Kind.ALU32 and op & 0xF8 in (Alu.DIV, Alu.MOD) and imm == 0):
            special |= _Special.SYNTAX
        # which registers the stack analysis must look at (see run_block)
        if kind in (Kind.JCOND, Kind.JCOND32, Kind.JA, Kind.EXIT):
            tm = 0
        elif kind == Kind.CALL or kind == Kind.LDABS:
            tm = 0x3F
        else:
            tm = rd | st | kl | (1 << dst if kind in (Kind.ST, Kind.STX, Kind.ATOMIC) else 0)
            if op == 0xB7 or (kind == Kind.LDDW and src == 0):     # MOV64 K, LDDW imm
                tm |= _MAKES_CONST
        return rd, r64, st, kl, st | kl, dr, special, tm

    def scan(self, f: _Func) -> None:
        """Per-instruction effects, the syntactic checks, the CFG, the bit-mask dataflows."""
        lo, hi = f.lo, f.hi
        # one C-level pass: `_Effects` classifies each distinct instruction once
        distinct = _Effects(self)
        effects = list(map(distinct.__getitem__, self.insns[lo:hi]))
        self.tmask[lo:hi] = map(_TMASK, effects)
        special = list(compress(range(lo, hi), map(_SPECIAL_OF, effects)))
        for e in distinct.values():
            f.read |= e[0] | e[1]
            f.written |= e[4]
        f.r10_escapes = distinct.r10_escapes
        leaders, ends = self.specials(f, special, effects)
        leaders.discard(hi)                 # after a last jump or exit: not a block
        self.cfg(f, sorted(leaders), ends)
        self.dataflow(f, effects)

    def specials(self, f: _Func, special: list[int],
                 effects: list) -> tuple[set[int], dict[int, tuple[int, ...]]]:
        """Checks and facts of the instructions `classify` marked.

        Returns the block leaders and, for each jump or exit, the successors of
        the block it ends (as insn indices; -1 for a target that is not valid).
        """
        insns, pcs, index_of = self.insns, self.pcs, self.index_of
        known = self.known_helpers
        start, end = f.start, f.end
        lo, hi = f.lo, f.hi
        leaders = {lo}
        ends: dict[int, tuple[int, ...]] = {}
        backwards = False
        for i in special:
            code = effects[i - lo][6]
            op, dst, src, off, imm = insns[i]
            pc = pcs[i]
            kind = code & ~_S_SYNTAX
            if kind == _S_JUMP:
                tgt = pc + 1 + (imm if op == 0x06 else off)
                t = -1
                if not start <= tgt < end:
                    self.problem(f, pc, f"jump to pc {tgt} leaves function {f.name} "
                                 f"(slots {start}..{end - 1})")
                elif index_of[tgt] < 0:
                    self.problem(f, pc, f"jump to pc {tgt}, the second half of an LDDW")
                else:
                    t = index_of[tgt]
                    leaders.add(t)
                    if t <= i:
                        backwards = True
                leaders.add(i + 1)
                if op & 0xF0 == 0x00:                  # JA, gotol
                    ends[i] = (t,) if t >= 0 else ()
                elif i + 1 < hi:        # fall through first, then the target
                    ends[i] = (i + 1,) if t < 0 or t == i + 1 else (i + 1, t)
                else:
                    ends[i] = (t,) if t >= 0 else ()
            elif kind == _S_EXIT:
                leaders.add(i + 1)
                ends[i] = ()
            elif kind == _S_CALL:
                if src == 1:
                    self.call_ref(f, pc, pc + 1 + imm, "call")
                elif src == 0:
                    f.helpers.add(imm)
                    if imm == TAIL_CALL:
                        f.tail_calls.append(pc)
                    if known is not None and imm not in known:
                        self.problem(f, pc, f"unknown helper {imm}")
                else:
                    f.kfuncs.add(imm)
            elif kind == _S_LDDW:
                if src in (1, 2, 5, 6):
                    if imm & M32 >= len(self.prog.maps):
                        self.problem(f, pc, f"LDDW refers to map {imm & M32}, but the "
                                     f"program has {len(self.prog.maps)} maps")
                    else:
                        f.maps.add(imm & M32)
                elif src == 4:
                    self.call_ref(f, pc, pc + 1 + _sx32(imm), "callback")
            elif kind == _S_LDABS:
                f.has_ld_abs = True
            if code & _S_SYNTAX:
                self.syntax(f, insns[i], pc, effects[i - lo])
        f.backwards = backwards
        kinds = _kinds()
        last = insns[f.hi - 1]
        if kinds[last[0]] not in (Kind.EXIT, Kind.JA):
            self.problem(f, pcs[f.hi - 1], f"falls off the end of function {f.name}: "
                         "the last instruction is not an exit or a jump")
        return leaders, ends

    def syntax(self, f: _Func, insn, pc: int, e: tuple) -> None:
        op, dst, src, _, imm = insn
        if _kinds()[op] == Kind.BAD:
            self.problem(f, pc, f"unknown opcode 0x{op:02x}")
        elif dst > 10 or src > 10:
            self.problem(f, pc, f"invalid register r{max(dst, src)}")
        else:
            if op & 7 in (Cls.ALU, Cls.ALU64) and op & 0xF8 in (Alu.DIV, Alu.MOD) and imm == 0:
                self.problem(f, pc, "division by constant zero")
            if e[2] & R10:
                self.problem(f, pc, "writes r10, the read-only frame pointer")

    def call_ref(self, f: _Func, pc: int, tgt: int, what: str) -> None:
        if tgt not in self.starts:
            self.problem(f, pc, f"{what} target pc {tgt} is not the start of a function")
            return
        f.call_sites.append((pc, tgt))

    # ------------------------------------------------------------ CFG
    def cfg(self, f: _Func, leaders: list[int], jumps: dict[int, tuple[int, ...]]) -> None:
        """Blocks (insn index ranges), successors, reverse postorder and back edges."""
        hi = f.hi
        nb = len(leaders)
        ends = leaders[1:] + [hi]
        block_of = dict(zip(leaders, range(nb)))
        block_of[-1] = -1
        succ: list[tuple[int, ...]] = []
        for j in range(nb):
            b = ends[j]
            out = jumps.get(b - 1)
            if out is None:                     # falls through into the next block
                succ.append((j + 1,) if b < hi else ())
            elif len(out) == 1:
                succ.append((block_of[out[0]],))
            elif out:
                succ.append((block_of[out[0]], block_of[out[1]]))
            else:
                succ.append(())
        f.blocks = list(zip(leaders, ends))
        f.succ = succ
        if not f.backwards:
            # every edge goes forward: layout order is already a reverse postorder (of the
            # reachable blocks) and there are no back edges
            reach = bytearray(nb)
            reach[0] = 1
            for j in range(nb):
                if reach[j]:
                    for t in succ[j]:
                        reach[t] = 1
            f.rpo = [j for j in range(nb) if reach[j]]
            f.back = []
            return
        # iterative DFS from the entry: postorder and the edges back to an open block
        color = bytearray(nb)
        nxt_succ = [0] * nb
        post: list[int] = []
        back: list[tuple[int, int]] = []
        stack = [0]
        color[0] = 1
        while stack:
            b = stack[-1]
            ss = succ[b]
            k = nxt_succ[b]
            if k < len(ss):
                nxt_succ[b] = k + 1
                s = ss[k]
                c = color[s]
                if c == 0:
                    color[s] = 1
                    stack.append(s)
                elif c == 1:
                    back.append((b, s))
            else:
                color[b] = 2
                post.append(b)
                stack.pop()
        post.reverse()
        f.rpo = post
        f.back = back

    # ------------------------------------------------------------ bit-mask dataflows
    def dataflow(self, f: _Func, effects: list) -> None:
        """Registers written on every path (forward, must) and upper halves read (backward).

        One forward walk over each block gives both summaries, plus the 32-bit
        definitions whose upper half the same block reads; the rest are decided
        by the block's live-out once the backward fixpoint is known.
        """
        lo = f.lo
        pcs = self.pcs
        blocks, succ, rpo = f.blocks, f.succ, f.rpo
        nb = len(blocks)
        zext = self.zext
        init_summ: list = [None] * nb   # (set, killed, need, bad): out = (in & ~killed) | set
        use = [0] * nb      # upper halves read before any write in the block
        kill = [0] * nb     # registers written (or killed) in the block
        tails: list = [None] * nb   # 32-bit defs still pending at the block's end
        f.block_tm = block_tm = [0] * nb    # union of the block's stack-analysis masks
        pend = [0] * 11     # insn index (from lo) of the pending 32-bit def of each register
        for j, (a, b) in enumerate(blocks):
            s = k = need = bad = u = w_all = bt = pmask = 0
            i = a = a - lo
            for rd, r64, st, kl, w, dr, _, tm in effects[a:b - lo]:
                bt |= tm
                if rd & ~s:
                    miss = rd & ~s
                    need |= miss & ~k
                    bad |= miss & k
                if kl:
                    s = (s & ~kl) | st
                    k = (k | kl) & ~st
                else:
                    s |= st           # k may keep a stale bit for a register now in s: harmless
                if r64:
                    u |= r64 & ~w_all
                    if pmask & r64:
                        hit = pmask & r64
                        pmask &= ~hit
                        for r in _bits(hit):
                            zext.add(pcs[lo + pend[r]])
                w_all |= w
                if dr >= 0:
                    pend[dr] = i
                    pmask = (pmask & ~w) | 1 << dr
                elif pmask:
                    pmask &= ~w
                i += 1
            init_summ[j] = (s, k, need, bad)
            block_tm[j] = bt
            use[j] = u
            kill[j] = w_all
            if pmask:
                tails[j] = (pmask, tuple(pend))
        self.initialised(f, effects, init_summ)
        # backward liveness of upper halves over the block summaries
        live_in = [0] * nb
        if not f.back and len(rpo) == nb:
            # no loops, nothing unreachable: successors first (postorder) is exact in one pass
            for j in reversed(rpo):
                out = 0
                for s in succ[j]:
                    out |= live_in[s]
                live_in[j] = use[j] | (out & ~kill[j])
        else:
            preds: list[list[int]] = [[] for _ in range(nb)]
            for j, ss in enumerate(succ):
                for s in ss:
                    preds[s].append(j)
            work = list(range(nb))           # popping from the end visits later blocks first
            queued = bytearray([1]) * nb
            while work:
                j = work.pop()
                queued[j] = 0
                out = 0
                for s in succ[j]:
                    out |= live_in[s]
                new = use[j] | (out & ~kill[j])
                if new != live_in[j]:
                    live_in[j] = new
                    for p in preds[j]:
                        if not queued[p]:
                            queued[p] = 1
                            work.append(p)
        for j in range(nb):
            t = tails[j]
            if t:
                out = 0
                for s in succ[j]:
                    out |= live_in[s]
                pmask, pend = t
                for r in _bits(pmask & out):
                    zext.add(pcs[lo + pend[r]])

    def initialised(self, f: _Func, effects: list, summ: list) -> None:
        """Forward must-analysis of "written on every path" over the block summaries."""
        blocks, succ, rpo = f.blocks, f.succ, f.rpo
        nb = len(blocks)
        # main: r1 (ctx) and r10; raw bytecode runs as uBPF and bpf_conformance run it,
        # with r1 = the memory block and r2 = its length
        main_in = 0b110 if self.prog.prog_type == "raw" else R0 << 1
        entry = (main_in | R10) if f.index == 0 else (ARGS | R10)
        ins = [ALL_REGS] * nb        # unvisited: no constraint yet (this is a must-analysis)
        ins[0] = entry
        if not f.back:
            # no loops: every predecessor comes first in reverse postorder
            for b in rpo:
                s, k, _, _ = summ[b]
                out = (ins[b] & ~k) | s
                for t in succ[b]:
                    ins[t] &= out
        else:
            pos = {b: j for j, b in enumerate(rpo)}
            heap = [0]
            queued = bytearray(nb)
            queued[0] = 1
            seen = bytearray(nb)
            while heap:
                b = rpo[heapq.heappop(heap)]
                queued[b] = 0
                seen[b] = 1
                s, k, _, _ = summ[b]
                out = (ins[b] & ~k) | s
                for t in succ[b]:
                    new = ins[t] & out
                    if new != ins[t] or not seen[t]:
                        ins[t] = new
                        if not queued[t]:
                            queued[t] = 1
                            heapq.heappush(heap, pos[t])
        for b in rpo:
            _, _, need, bad = summ[b]
            if bad or need & ~ins[b]:
                self.report_uninit(f, b, ins[b], effects)

    def report_uninit(self, f: _Func, b: int, have: int, effects: list) -> None:
        a, e = f.blocks[b]
        for i in range(a, e):
            rd, _, st, kl, _, _, _, _ = effects[i - f.lo]
            miss = rd & ~have
            if miss:
                r = (miss & -miss).bit_length() - 1
                self.problem(f, self.pcs[i], f"r{r} is read before it is written "
                             "(on some path to here)")
                return
            have = (have & ~kl) | st

    # ------------------------------------------------------------ call graph
    def call_graph(self) -> list[int]:
        """Callees-first order of all functions; reports recursion."""
        funcs = self.funcs
        starts = self.starts
        n = len(funcs)
        color = bytearray(n)
        order: list[int] = []
        for root in range(n):
            if color[root]:
                continue
            color[root] = 1
            stack = [(root, 0)]
            while stack:
                k, j = stack[-1]
                sites = funcs[k].call_sites
                if j < len(sites):
                    stack[-1] = (k, j + 1)
                    pc, tgt = sites[j]
                    c = starts[tgt]
                    if color[c] == 0:
                        color[c] = 1
                        stack.append((c, 0))
                    elif color[c] == 1:
                        path = [funcs[x].name for x, _ in stack]
                        path = path[path.index(funcs[c].name):] + [funcs[c].name]
                        self.problem(funcs[k], pc, "recursive call: " + " -> ".join(path))
                else:
                    color[k] = 2
                    order.append(k)
                    stack.pop()
        return order

    # ------------------------------------------------------------ stack: abstract interpretation
    def stack(self, f: _Func) -> None:
        if f.index == 0 and not f.r10_escapes:
            self.stack_direct(f)
            return
        blocks, succ, rpo = f.blocks, f.succ, f.rpo
        nb = len(blocks)
        entry: list = [None] * _STATE
        entry[10] = FP0
        if f.index != 0:
            for r in range(1, 6):      # whatever the caller passed: frame r, offset 0
                entry[r] = _Fp(r, 0, 0)
        entry[_PM] = _pm(entry)
        ins: list = [None] * nb
        ins[0] = entry
        pcs = self.pcs
        block_tm = f.block_tm
        if not f.back:
            # no loops: every predecessor comes first in reverse postorder
            for b in rpo:
                st = ins[b]
                if st[_PM] & block_tm[b]:   # else nothing in the block can change the state
                    st = list(st)
                    self.run_block(f, b, st)
                for t in succ[b]:
                    old = ins[t]
                    if old is None:
                        ins[t] = st
                    else:
                        new = _join_state(old, st, False, pcs[blocks[t][0]])
                        if new is not None:
                            ins[t] = new
            return
        # widen only once a block has taken more joins than it has predecessors: a merge
        # of many paths is not a loop going round
        joins = [-WIDEN_AFTER] * nb
        for ss in succ:
            for t in ss:
                joins[t] -= 1
        pos = {b: j for j, b in enumerate(rpo)}
        heap = [0]
        queued = bytearray(nb)
        queued[0] = 1
        while heap:
            b = rpo[heapq.heappop(heap)]
            queued[b] = 0
            st = ins[b]
            if st[_PM] & block_tm[b]:
                st = list(st)
                self.run_block(f, b, st)
            for t in succ[b]:
                old = ins[t]
                if old is None:
                    ins[t] = st
                else:
                    joins[t] += 1
                    new = _join_state(old, st, joins[t] > 0,
                                      pcs[blocks[t][0]])
                    if new is None:
                        continue
                    ins[t] = new
                if not queued[t]:
                    queued[t] = 1
                    heapq.heappush(heap, pos[t])

    def stack_direct(self, f: _Func) -> None:
        """`stack` for an entry function that never lets r10 escape.

        Its r1-r5 hold no stack pointers at entry (only a subprogram's do), and
        nothing copies r10, adds to it or stores it: no register and no stack
        slot can ever hold a stack pointer.  Constants then never meet a
        pointer either, so the abstract interpretation would learn exactly
        this: the accesses `*(r10 + off)` of the reachable blocks, checked and
        measured one by one.
        """
        lo, hi = f.lo, f.hi
        insns, pcs = self.insns, self.pcs
        kinds = _kinds()
        # every instruction that touches the stack through r10 has r10 in its mask
        at = list(compress(range(lo, hi), map(and_, self.tmask[lo:hi], repeat(R10))))
        if len(f.rpo) < len(f.blocks):
            live = bytearray(hi - lo)
            for b in f.rpo:
                a, e = f.blocks[b]
                live[a - lo:e - lo] = b"\x01" * (e - a)
            at = list(compress(at, map(live.__getitem__, map(sub, at, repeat(lo)))))
        for i in at:
            op, dst, src, off, _ = insns[i]
            kind = kinds[op]
            if kind == _K_LDX:
                if src != 10:
                    continue
                what = "load from"
            elif kind == _K_STX or kind == _K_ST:
                if dst != 10:
                    continue
                what = "store to"
            elif kind == _K_ATOMIC:
                if dst != 10:
                    continue
                what = "atomic access to"
            else:
                continue
            size = _SIZES[op]
            if off >= -MAX_STACK and off + size <= 0:
                if off < f.min_off:     # in bounds: all that `touch` would do
                    f.min_off = off
            else:
                self.touch(f, FP0, off, size, pcs[i], what)

    def fallback(self, f: _Func, bases: int, reason: str) -> None:
        if bases & 1 and f.reason is None:
            f.reason = reason
        for r in range(1, 6):
            if bases >> r & 1:
                f.arg_reach[r] = None

    def touch(self, f: _Func, v, off: int, size: int, pc: int, what: str) -> None:
        """Record an access of `size` bytes at v + off (size 0: a helper's object up to r10)."""
        if type(v) is _Fp:
            a = v.lo + off
            if v.base:
                r = f.arg_reach[v.base]
                if r is not None and a < r:
                    f.arg_reach[v.base] = a
                return
            if a < -MAX_STACK:
                self.problem(f, pc, f"{what} r10{a:+d} is below r10-{MAX_STACK}")
            elif size and v.hi + off + size > 0:
                self.problem(f, pc, f"{what} r10{v.hi + off:+d} ({size} bytes) "
                             "is at or above r10")
            elif a < f.min_off:
                f.min_off = a
        else:
            self.fallback(f, v.bases, f"pc {pc}: {what} through a stack pointer at an "
                          f"unknown offset: {v.why}")

    def reaches(self, f: _Func, v) -> None:
        """Count the object a stack pointer `v` points to as reaching up to its r10."""
        if type(v) is _Fp:
            if v.base:
                r = f.arg_reach[v.base]
                if r is not None and v.lo < r:
                    f.arg_reach[v.base] = v.lo
            elif -MAX_STACK <= v.lo < f.min_off:
                f.min_off = v.lo

    def run_block(self, f: _Func, b: int, st: list) -> None:
        """The transfer function: update `st` (regs r0-r10 + spills) through block b.

        `pm` holds the registers with something to track (a pointer or a
        constant) plus the bits for r10 and "makes a constant"; an instruction
        whose register mask (`self.tmask`) misses all of them cannot change the
        state and is skipped, which is most instructions.
        """
        insns, pcs, tmask = self.insns, self.pcs, self.tmask
        kinds = _kinds()
        a, e = f.blocks[b]
        pm = st[_PM]
        for i in range(a, e):
            if not pm & tmask[i]:
                continue
            op, dst, src, off, imm = insns[i]
            kind = kinds[op]
            if kind == _K_ALU64:
                if dst == 10:
                    continue          # reported; r10 keeps its value
                code = op & 0xF0
                sv = st[src] if op & 8 else imm & M64
                if code == _MOV:
                    if not op & 8 or off == 0:
                        v = sv
                    elif type(sv) is int:   # MOVSX of a constant
                        v = sv & ((1 << off) - 1)
                        v = (v - (1 << off) if v >> (off - 1) else v) & M64
                    else:
                        v = None
                else:
                    dv = st[dst]
                    if dv is None and (sv is None or type(sv) is int):
                        continue      # scalar op scalar: still a scalar
                    v = self.arith(f, code, dv, sv, pcs[i], dst, src if op & 8 else -1)
                st[dst] = v
                pm = pm & ~(1 << dst) if v is None else pm | 1 << dst
            elif kind == _K_LDX:
                base = st[src]
                v = None
                if base is not None and type(base) is not int:
                    if base is FP0 and off >= -MAX_STACK and off + _SIZES[op] <= 0:
                        if off < f.min_off:     # r10 + off in bounds: `touch` made short
                            f.min_off = off
                    else:
                        self.touch(f, base, off, _SIZES[op], pcs[i], "load from")
                    spills = st[_SPILLS]
                    if spills and op & 0x18 == _DW:
                        v = _reload(spills, base, off, pcs[i])
                if dst != 10:
                    st[dst] = v
                    pm = pm & ~(1 << dst) if v is None else pm | 1 << dst
            elif kind == _K_ALU32:
                if dst != 10:     # a 32-bit result is never a pointer; constants
                    st[dst] = None    # are only followed in 64-bit arithmetic
                    pm &= ~(1 << dst)
            elif kind == _K_STX or kind == _K_ST:
                base = st[dst]
                if base is not None and type(base) is not int:
                    size = _SIZES[op]
                    if (base is FP0 and off >= -MAX_STACK and off + size <= 0
                            and not st[_SPILLS] and (kind == _K_ST or type(st[src]) in _SCALAR)):
                        # a scalar to r10 + off, in bounds, nothing spilled: of `touch`
                        # and `store` only the new lowest offset is left to do
                        if off < f.min_off:
                            f.min_off = off
                        continue
                    self.touch(f, base, off, size, pcs[i], "store to")
                    self.store(f, st, base, off, size,
                               st[src] if kind == _K_STX else None, pcs[i], src)
                # a pointer stored anywhere else comes back as a scalar the verifier
                # will not let anyone dereference: nothing to follow
            elif kind == _K_CALL:
                pc = pcs[i]
                if src == 1:
                    self.call_args(f, st, pc, pc + 1 + imm)
                else:
                    nargs = self.nargs.get(imm, 5) if src == 0 and self.nargs else 5
                    for r in range(1, nargs + 1):
                        v = st[r]
                        if v is not None and type(v) is not int:
                            self.touch(f, v, 0, 0, pc, f"helper argument r{r} =")
                    # a helper may overwrite spilled pointers: keeping them is the safe side
                st[0] = st[1] = st[2] = st[3] = st[4] = st[5] = None
                pm &= ~0x3F
            elif kind == _K_LDDW:
                if dst != 10:
                    v = imm & M64 if src == 0 else None
                    st[dst] = v
                    pm = pm & ~(1 << dst) if v is None else pm | 1 << dst
            elif kind == _K_ATOMIC:
                base = st[dst]
                val = st[src]
                size = _SIZES[op]
                if base is not None and type(base) is not int:
                    self.touch(f, base, off, size, pcs[i], "atomic access to")
                    self.store(f, st, base, off, size, None, pcs[i], src)
                    if val is not None and type(val) is not int and size == 8:
                        self.fallback(f, _bases(val), f"pc {pcs[i]}: a stack pointer "
                                      f"(r{src}) is stored into the stack by an atomic "
                                      "operation")
                if imm == _CMPXCHG:
                    st[0] = None
                    pm &= ~1
                elif imm & _FETCH and src != 10:
                    st[src] = None
                    pm &= ~(1 << src)
            elif kind == _K_LDABS:
                st[0] = st[1] = st[2] = st[3] = st[4] = st[5] = None
                pm &= ~0x3F
            # jumps, EXIT, BAD: nothing (their mask is 0)
        st[_PM] = pm

    def arith(self, f: _Func, code: int, dv, sv, pc: int, dst: int, src: int):
        """ALU64 `dst op= sv` where one side is a pointer or both are constants."""
        td, ts = type(dv), type(sv)
        if td is int and ts is int:
            return _fold(code, dv, sv, True)
        ptr_d = dv is not None and td is not int
        ptr_s = sv is not None and ts is not int
        if code == _ADD or code == _SUB:
            if ptr_d and not ptr_s:
                if ts is int and td is _Fp:
                    k = _sx(sv) if code == _ADD else -_sx(sv)
                    return _Fp(dv.base, dv.lo + k, dv.hi + k)
                if td is _VarFp:
                    return dv
                verb = "added to" if code == _ADD else "subtracted from"
                return _VarFp(1 << dv.base, pc, f"a variable is {verb} r{dst} at pc {pc}")
            if code == _ADD and ptr_s and not ptr_d:
                if td is int and ts is _Fp:
                    k = _sx(dv)
                    return _Fp(sv.base, sv.lo + k, sv.hi + k)
                return _VarFp(_bases(sv), pc, f"r{src} (a stack pointer) is added to a variable "
                              f"at pc {pc}")
            if code == _SUB and ptr_d and ptr_s:
                return None           # pointer difference: a scalar
        if not ptr_d and not ptr_s:
            return None
        m = (_bases(dv) if ptr_d else 0) | (_bases(sv) if ptr_s else 0)
        return _VarFp(m, pc, f"arithmetic other than a constant add on a stack pointer at pc {pc}")

    def store(self, f: _Func, st: list, base, off: int, size: int, val, pc: int,
              src: int) -> None:
        """Keep the spilled-pointer map right across a store at base + off.

        Only whole 8-byte pointers stored into our own frame at a known slot are
        followed; a partial pointer reloads as a scalar nobody may dereference.
        """
        ptr_val = val is not None and type(val) is not int and size == 8
        exact = type(base) is _Fp and base.base == 0 and base.lo == base.hi
        spills = st[_SPILLS]
        if exact:
            a = base.lo + off
            if spills:
                hit = [k for k in spills if k < a + size and a < k + 8]
                if hit:
                    spills = dict(spills)
                    for k in hit:
                        del spills[k]
            if ptr_val:
                if a % 8 == 0:
                    spills = dict(spills or {})
                    spills[a] = val
                    # whoever reloads it (a callee, through a struct it was given) may
                    # use the object it points to: count that object up to r10
                    self.reaches(f, val)
                else:
                    self.fallback(f, _bases(val), f"pc {pc}: a stack pointer (r{src}) is "
                                  f"spilled to the misaligned slot r10{a:+d}")
            st[_SPILLS] = spills or None
        elif ptr_val:
            self.fallback(f, _bases(val), f"pc {pc}: a stack pointer (r{src}) is stored "
                          "where we cannot follow it")

    def call_args(self, f: _Func, st: list, pc: int, tgt: int) -> None:
        """A local call: stack pointers passed in r1-r5 reach as far as the callee goes."""
        k = self.starts.get(tgt)
        callee = self.funcs[k] if k is not None else None
        for r in range(1, 6):
            v = st[r]
            if v is None or type(v) is int:
                continue
            if callee is None or callee.index == f.index or callee.arg_reach[r] is None:
                self.fallback(f, _bases(v), f"pc {pc}: r{r} passes a stack pointer to a "
                              "callee that uses it at offsets we cannot bound")
                continue
            reach = callee.arg_reach[r]
            if reach != NEVER:
                self.touch(f, v, reach, 1, pc, f"{callee.name} (called through r{r}) touches")

    # ------------------------------------------------------------ results
    def finish(self, f: _Func) -> FuncFacts:
        pcs = self.pcs
        n = len(pcs)
        n_slots = self.prog.n_slots
        starts = [pcs[a] for a, _ in f.blocks]
        ends = [pcs[b] if b < n else n_slots for _, b in f.blocks]
        back = frozenset((pcs[f.blocks[x][1] - 1], starts[y]) for x, y in f.back)
        used = -f.min_off
        if f.reason is not None:
            depth = MAX_STACK
        else:
            depth = round_up(used, SLOT)
        reach = tuple((r, f.arg_reach[r]) for r in range(1, 6) if f.arg_reach[r] != NEVER)
        return FuncFacts(
            name=f.name, start=f.start, end=f.end, n_insns=f.hi - f.lo,
            cfg=_Cfg(starts, ends, f.succ), back_edges=back,
            callees=tuple(sorted({t for _, t in f.call_sites})),
            call_sites=tuple(f.call_sites), helpers=frozenset(f.helpers),
            kfuncs=frozenset(f.kfuncs), maps=frozenset(f.maps),
            regs_read=_regset(f.read), regs_written=_regset(f.written),
            stack_bytes=used, stack_depth=depth, depth_reason=f.reason,
            tail_call_pcs=tuple(f.tail_calls), has_ld_abs=f.has_ld_abs, arg_reach=reach)

    def chains(self, res: tuple[FuncFacts, ...]) -> tuple[int, tuple[int, ...], int]:
        """The kernel's check_max_stack_depth as longest paths over the call DAG from the entry."""
        if not res:
            return 0, (), 0
        funcs = self.funcs
        starts = self.starts
        n = len(res)
        # topological order of what the entry reaches, ignoring edges that close cycles
        color = bytearray(n)
        post: list[int] = []
        color[0] = 1
        stack = [(0, 0)]
        dag: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        while stack:
            k, j = stack[-1]
            sites = funcs[k].call_sites
            if j < len(sites):
                stack[-1] = (k, j + 1)
                pc, tgt = sites[j]
                c = starts[tgt]
                if color[c] != 1:
                    dag[k].append((pc, c))
                if color[c] == 0:
                    color[c] = 1
                    stack.append((c, 0))
            else:
                color[k] = 2
                post.append(k)
                stack.pop()
        topo = post[::-1]
        proven = [round_up(r.proven_depth, FRAME_ALIGN) for r in res]
        alloc = [r.frame_size for r in res]

        def longest(weight: list[int]):
            before = [-1] * n          # heaviest sum of the callers' frames
            via: list[tuple[int, int] | None] = [None] * n
            before[0] = 0
            for k in topo:
                w = before[k] + weight[k]
                for pc, c in dag[k]:
                    if w > before[c]:
                        before[c] = w
                        via[c] = (k, pc)
            return before, via

        def path(via, k: int) -> list[tuple[int, int | None]]:
            out: list[tuple[int, int | None]] = [(k, None)]
            while via[k] is not None:
                k, pc = via[k]
                out[-1] = (out[-1][0], pc)
                out.append((k, None))
            return out[::-1]           # (function, pc of the call into it in its caller)

        # frames: more than MAX_FRAMES
        depth, via = longest([1] * n)
        deepest = max(topo, key=lambda k: depth[k])
        frames = depth[deepest] + 1
        if frames > MAX_FRAMES:
            p = path(via, deepest)
            caller, _ = p[MAX_FRAMES - 1]
            _, pc = p[MAX_FRAMES]
            self.problem(funcs[caller], pc, f"call chain of {frames} frames is too deep "
                         f"(at most {MAX_FRAMES}): "
                         + " -> ".join(funcs[x].name for x, _ in p))
        # combined stack over 512, on what the instructions prove
        before, via = longest(proven)
        worst = max(topo, key=lambda k: before[k] + proven[k])
        if before[worst] + proven[worst] > MAX_STACK:
            p = path(via, worst)
            total = 0
            for j, (k, _) in enumerate(p):
                total += proven[k]
                if total > MAX_STACK:
                    break
            if j == 0:
                where_f, where_pc = funcs[p[0][0]], funcs[p[0][0]].start
            else:              # the call that pushes the frame over the limit
                where_f, where_pc = funcs[p[j - 1][0]], p[j][1]
            self.problem(where_f, where_pc,
                         f"combined stack of {before[worst] + proven[worst]} bytes along "
                         + " -> ".join(f"{funcs[x].name} ({proven[x]})" for x, _ in p)
                         + f" exceeds {MAX_STACK}")
        # tail calls below 256 bytes of callers' frames
        for k in topo:
            if k != 0 and res[k].tail_call_pcs and before[k] >= TAIL_CALL_STACK:
                self.problem(funcs[k], res[k].tail_call_pcs[0],
                             f"tail call in {funcs[k].name}, whose callers' frames already use "
                             f"{before[k]} bytes (a tail call needs less than {TAIL_CALL_STACK})")
        # what a JIT allocates
        before, via = longest(alloc)
        worst = max(topo, key=lambda k: before[k] + alloc[k])
        chain = tuple(funcs[k].start for k, _ in path(via, worst))
        return before[worst] + alloc[worst], chain, frames


def _slot_index(pcs: list[int], n_slots: int) -> list[int]:
    """Slot -> index of the instruction starting there, -1 for none, for slots 0..n_slots.

    `pcs` (increasing) goes up by one except after an LDDW: each run of
    consecutive pcs is copied as one range (this runs for every program)."""
    index_of = [-1] * (n_slots + 1)
    k = bisect_left(pcs, n_slots)           # the instructions that start below n_slots
    # indices where a run starts again after an LDDW's second slot
    breaks = compress(count(1), map(ne, map(sub, islice(pcs, 1, k), pcs), repeat(1)))
    a = 0
    for b in chain(breaks, (k,)):
        if b > a:
            index_of[pcs[a]:pcs[a] + b - a] = range(a, b)
        a = b
    return index_of


def _join_state(old: list, new: list, widen: bool, pc: int) -> list | None:
    """old ⊔ new, or None when that is still old."""
    if old == new:
        return None
    out = None
    for r in range(11):
        a, b = old[r], new[r]
        if a is b or a == b:
            continue
        j = _join_value(a, b, widen, pc, f"r{r}")
        if j != a:
            if out is None:
                out = list(old)
            out[r] = j
    if out is not None:
        out[_PM] = _pm(out)
    sa, sb = old[_SPILLS], new[_SPILLS]
    if sa != sb and sb:
        merged = dict(sa or {})
        changed = False
        for k, v in sb.items():
            cur = merged.get(k)
            j = v if cur is None else _join_value(cur, v, widen, pc, f"the slot at r10{k:+d}")
            if j != cur:
                merged[k] = j
                changed = True
        if changed:
            if out is None:
                out = list(old)
            out[_SPILLS] = merged
    return out


def _pm(st: list) -> int:
    """The mask of registers in a state that hold a pointer or a constant."""
    pm = _ALWAYS
    for r in range(10):
        if st[r] is not None:
            pm |= 1 << r
    return pm


def _reload(spills: dict, base, off: int, pc: int):
    """What an 8-byte load through `base` + off may read back from the spilled pointers."""
    if type(base) is _Fp:
        if base.base:
            return None
        lo, hi = base.lo + off, base.hi + off
        hits = [v for k, v in spills.items() if lo - 8 < k <= hi]
    else:
        hits = list(spills.values()) if base.bases & 1 else []
    out = None
    for v in hits:
        out = v if out is None else _join_value(out, v, False, pc, "a reloaded pointer")
    return out


def _sx32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


@cache
def _bits(mask: int) -> tuple[int, ...]:
    """The register numbers in a mask."""
    return tuple(r for r in range(12) if mask >> r & 1)


def _regset(mask: int) -> frozenset[int]:
    return frozenset(r for r in range(11) if mask >> r & 1)
