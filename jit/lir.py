"""LIR: the arch-neutral operations every backend consumes.

The common lowering (`jit.lower`) turns eBPF into these; a backend turns these
into machine code and never sees eBPF bytes or jump offsets.  LIR keeps eBPF's
eleven registers (plus `AX`, a scratch the lowering may use, like the kernel's
BPF_REG_AX) so that every backend can keep its fixed register map; what differs
from eBPF is that everything implicit is made explicit:

- jumps name `Label`s, not offsets; always/never-taken branches are gone;
- division and modulo are guarded already: a backend's `Alu(DIV/MOD/SDIV/SMOD)`
  never sees a zero divisor, and the signed forms never see -1;
- byte-order ops are `Bswap` (swap and zero-extend) or `Trunc` (zero-extend);
- `Zext` appears only where the target's 32-bit ops leave the upper half
  unspecified (caps.alu32_zext False) *and* the upper half is read later;
- LDDW is `LoadImm` (a constant) or `LoadAddr` (a symbol: map, map value, function);
- calls are `CallHelper`, `CallLocal` or `TailCall`;
- legacy LD_ABS/LD_IND are ordinary calls to an internal helper plus a branch.

Every op carries `pc`, the eBPF slot it came from (for the native->pc map).
Operands: a register number 0..11 or an `Imm`.
"""
from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, Union

AX = 11          # scratch register for the lowering (constant blinding, compare-with-imm)
R10 = 10
NREGS = 12


class Imm(NamedTuple):
    """An immediate operand (already sign-extended to a Python int)."""
    value: int


Operand = Union[int, Imm]


class Op(IntEnum):
    """ALU operations.  DIV/MOD/SDIV/SMOD come with the lowering's guards in front."""
    ADD = 0
    SUB = 1
    MUL = 2
    DIV = 3
    OR = 4
    AND = 5
    LSH = 6
    RSH = 7
    MOD = 9
    XOR = 10
    MOV = 11
    ARSH = 12
    SDIV = 13
    SMOD = 14


class Cond(IntEnum):
    EQ = 0
    NE = 1
    GT = 2     # unsigned
    GE = 3
    LT = 4
    LE = 5
    SGT = 6
    SGE = 7
    SLT = 8
    SLE = 9
    SET = 10   # (a & b) != 0


NEGATE = {Cond.EQ: Cond.NE, Cond.NE: Cond.EQ, Cond.GT: Cond.LE, Cond.LE: Cond.GT,
          Cond.GE: Cond.LT, Cond.LT: Cond.GE, Cond.SGT: Cond.SLE, Cond.SLE: Cond.SGT,
          Cond.SGE: Cond.SLT, Cond.SLT: Cond.SGE}
SWAP = {Cond.EQ: Cond.EQ, Cond.NE: Cond.NE, Cond.GT: Cond.LT, Cond.LT: Cond.GT,
        Cond.GE: Cond.LE, Cond.LE: Cond.GE, Cond.SGT: Cond.SLT, Cond.SLT: Cond.SGT,
        Cond.SGE: Cond.SLE, Cond.SLE: Cond.SGE, Cond.SET: Cond.SET}


class AtomicOp(IntEnum):
    ADD = 0
    OR = 1
    AND = 2
    XOR = 3
    XCHG = 4
    CMPXCHG = 5


class SymKind(IntEnum):
    MAP = 1          # the map pointer (memory.MAPS_BASE + 32*index)
    MAP_VALUE = 2    # address of a map's value + addend (global data)
    FUNC = 4         # native address of a function of this program
    HELPER = 5       # trampoline address of a helper id
    TAIL_COUNT = 6   # address of the u32 tail-call counter of the run


class Symbol(NamedTuple):
    kind: SymKind
    index: int       # map index, function index, or helper id
    name: str


# ---------------------------------------------------------------- operations
# NamedTuples: cheap to build (the lowering makes one per eBPF instruction or
# more) and matched by type in each backend's dispatch dict.

class Label(NamedTuple):
    """Binds label `id` here."""
    id: int
    pc: int = -1


class Alu(NamedTuple):
    """dst = dst <op> src (width 32: on the low halves; the result's upper half
    is zero if caps.alu32_zext, otherwise unspecified until a `Zext`)."""
    op: Op
    width: int
    dst: int
    src: Operand
    pc: int


class Neg(NamedTuple):
    width: int
    dst: int
    pc: int


class MovSx(NamedTuple):
    """dst = sign-extend(low `bits` of src) to `width` (32-bit results zero-extended as Alu)."""
    width: int
    dst: int
    src: int
    bits: int
    pc: int


class Zext(NamedTuple):
    """dst = dst & 0xffffffff (only where caps.alu32_zext is False and the upper half is read)."""
    dst: int
    pc: int


class Bswap(NamedTuple):
    """dst = byte-swap of dst's low `bits`, zero-extended."""
    dst: int
    bits: int
    pc: int


class Trunc(NamedTuple):
    """dst = dst & ((1 << bits) - 1); bits is 16 or 32."""
    dst: int
    bits: int
    pc: int


class LoadImm(NamedTuple):
    """dst = value (a 64-bit constant, given unsigned)."""
    dst: int
    value: int
    pc: int


class LoadAddr(NamedTuple):
    """dst = address(sym) + addend: must be emitted in a fixed-size form (patched at link time)."""
    dst: int
    sym: Symbol
    addend: int
    pc: int


class Load(NamedTuple):
    """dst = *(size *)(base + off), zero- or sign-extended to 64 bits."""
    size: int          # bytes: 1, 2, 4, 8
    dst: int
    base: int
    off: int
    signed: bool
    pc: int


class Store(NamedTuple):
    """*(size *)(base + off) = src (a register's low bytes or an immediate)."""
    size: int
    base: int
    off: int
    src: Operand
    pc: int


class Atomic(NamedTuple):
    """Atomic read-modify-write of *(size *)(base + off), size 4 or 8.

    ADD/OR/AND/XOR: mem op= src; with fetch, src = old value (zero-extended for W).
    XCHG: src = old, mem = src.  CMPXCHG: if mem == r0 then mem = src; r0 = old
    (zero-extended for W; compares the low 32 bits of r0 for W).
    """
    op: AtomicOp
    size: int
    base: int
    off: int
    src: int
    fetch: bool
    pc: int


class Jump(NamedTuple):
    target: int        # label id
    pc: int


class Branch(NamedTuple):
    """if (a <cond> b) goto target; width 32 compares the low halves."""
    cond: Cond
    width: int
    a: int
    b: Operand
    target: int
    pc: int


class CallHelper(NamedTuple):
    """r0 = helper(r1..r5); r1-r5 are clobbered."""
    id: int
    pc: int


class CallLocal(NamedTuple):
    """A bpf-to-bpf call: r1-r5 are arguments and clobbered, r6-r9 preserved, r0 the result."""
    func: int          # function index in LirProgram.funcs
    pc: int


class TailCall(NamedTuple):
    """bpf_tail_call(ctx=r1, map=r2, index=r3): jumps away or falls through (r0 unchanged).

    The backend checks, in the kernel's order (kernel/bpf/core.c JMP_TAIL_CALL
    and the x86 JIT): index (u32) < max_entries of the prog array (u32 at
    map+12), else fall through; the chain so far made fewer than
    MAX_TAIL_CALLS tail calls, else fall through; count the call (so a call to
    an EMPTY slot still uses one of the 33); the slot (u64 at *(map+16) +
    index*8) is non-zero, else fall through; then tear down the frame and jump
    to the slot's native address.
    """
    pc: int


class Exit(NamedTuple):
    """Return r0 from this function (to the caller, or from the program)."""
    pc: int


MAX_TAIL_CALLS = 33
MAX_CALL_DEPTH = 8

# Internal helper ids for what the lowering turns into calls (outside the uapi range).
LD_ABS_HELPER = {1: 0x10001, 2: 0x10002, 4: 0x10004}   # by load size: r0 = value or -1 when out of bounds


class LirFunc(NamedTuple):
    name: str
    index: int
    start_pc: int
    ops: list
    stack_depth: int           # bytes of eBPF stack this function uses (rounded up to 8)
    regs_used: frozenset       # eBPF registers read or written (0..11)
    calls: bool                # makes helper or local calls
    tail_calls: bool           # contains a TailCall
    n_labels: int


class LirProgram(NamedTuple):
    name: str
    funcs: list                # LirFunc, entry first
    byteorder: str
    map_count: int
    tail_calls: bool           # any function tail-calls
    n_labels: int              # label ids used are 0 .. n_labels-1 (a backend reserves them first)


def fmt_operand(o: Operand) -> str:
    return f"#{o.value:#x}" if isinstance(o, Imm) else reg_name(o)


def reg_name(r: int) -> str:
    return "ax" if r == AX else f"r{r}"


def format_op(op) -> str:
    """One line of a LIR listing (golden tests read these)."""
    t = type(op).__name__
    if isinstance(op, Label):
        return f"L{op.id}:"
    if isinstance(op, Alu):
        return f"  {op.op.name.lower()}{op.width} {reg_name(op.dst)}, {fmt_operand(op.src)}"
    if isinstance(op, Branch):
        return (f"  if{op.width} {reg_name(op.a)} {op.cond.name.lower()} {fmt_operand(op.b)}"
                f" goto L{op.target}")
    if isinstance(op, Jump):
        return f"  goto L{op.target}"
    if isinstance(op, Load):
        s = "s" if op.signed else "u"
        return f"  {reg_name(op.dst)} = *({s}{op.size * 8} *)({reg_name(op.base)} {op.off:+d})"
    if isinstance(op, Store):
        return f"  *(u{op.size * 8} *)({reg_name(op.base)} {op.off:+d}) = {fmt_operand(op.src)}"
    if isinstance(op, LoadImm):
        return f"  {reg_name(op.dst)} = {op.value:#x}"
    if isinstance(op, LoadAddr):
        return f"  {reg_name(op.dst)} = &{op.sym.name}{op.addend:+d}"
    if isinstance(op, Atomic):
        f = " fetch" if op.fetch else ""
        return (f"  atomic{op.size * 8} {op.op.name.lower()}{f} "
                f"({reg_name(op.base)} {op.off:+d}), {reg_name(op.src)}")
    if isinstance(op, MovSx):
        return f"  movsx{op.width} {reg_name(op.dst)}, {reg_name(op.src)}, s{op.bits}"
    if isinstance(op, (Bswap, Trunc)):
        return f"  {t.lower()}{op.bits} {reg_name(op.dst)}"
    if isinstance(op, Neg):
        return f"  neg{op.width} {reg_name(op.dst)}"
    if isinstance(op, Zext):
        return f"  zext {reg_name(op.dst)}"
    if isinstance(op, CallHelper):
        return f"  call helper#{op.id:#x}"
    if isinstance(op, CallLocal):
        return f"  call func#{op.func}"
    if isinstance(op, TailCall):
        return "  tail_call"
    if isinstance(op, Exit):
        return "  exit"
    return f"  {op!r}"


def listing(prog: LirProgram) -> str:
    out = []
    for f in prog.funcs:
        out.append(f"{f.name}:  ; stack {f.stack_depth}")
        out.extend(format_op(op) for op in f.ops)
    return "\n".join(out) + "\n"
