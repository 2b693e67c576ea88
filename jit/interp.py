"""The reference interpreter: what an eBPF program means, against which every
backend is compared.

This module owns the semantics of every instruction (RFC 9669), of calls,
frames and tail calls, and the `Result` of a run (shared with the Unicorn
runner).  It does not own memory layout (memory.py), maps (maps.py) or what
helpers do (helpers.py); it calls them.  It checks nothing statically beyond
what it needs to run: the safety checks live in analysis.py.

How a run goes: each instruction slot is compiled once (per `Interpreter`, so
once for every run of a session; when it is first reached) into a small closure
`step(pc) -> next pc` bound to the machine's registers and memory accessors,
and a loop calls them, counting instructions against the budget.  The most
frequent ALU and jump forms get closures of their own; the rest go through the
per-operation tables.  A negative return is a control event: exit of the last
frame, a switch of program by a tail call or a return into another program, or
a helper call (made by the loop, so that callbacks count against the budget).

Semantics decided here (and that backends must match):

  * Registers start at 0 except r1/r2 (from `setup`) and r10 (the top of the
    entry frame).
  * The eBPF stack is the STACK region; frame k's r10 is the bottom of frame
    k-1, each frame `stack_depths[function start]` bytes (default 512, rounded
    up to 8).  At most MAX_FRAMES (8) frames.
  * bpf-to-bpf call: r1-r5 pass through, r6-r9 and r10 are saved and restored
    on return, r0 is the callee's result.  Helper calls leave r1-r5 unchanged
    (like the kernel's interpreter; the verifier forbids reading them after).
  * Function pointers (LDDW src=4) are FUNC_ADDR_BASE + target slot * 8: a
    number in the runner's CODE area that the interpreter maps back to a slot
    for callbacks (bpf_loop).  A backend's real function address differs, so
    a program that returns or stores one is not comparable.
  * Tail call (helper 12, r2 = prog array, r3 = index): the kernel's rules
    (kernel/bpf/core.c JMP_TAIL_CALL, see helpers.tail_call_target).  On
    success the current frame is replaced: the target program starts at slot
    0 with every register unchanged (r1 is the context), r10 the replaced
    frame's top, and its exit returns to whoever called the replaced frame.
    On failure execution falls through with r0 unchanged, as in the kernel's
    interpreter (the verifier treats r0 as unknown there).  The call is
    logged like a helper call.  The prog array holds program index + 1 into
    `programs`; tail-call targets must use the entry program's map list.
  * LD_ABS / LD_IND read big-endian from env.packet at (imm) or (src + imm)
    taken as s32.  Out of bounds, the *current function* returns 0: this is
    what the kernel does (bpf_gen_ld_abs inlines "r0 = 0; exit"), and for the
    entry function it is "the program exits returning 0".
  * The conformance unwind helper with r1 == 0 stops the whole program with
    r0 = 0.
  * Faults, an exhausted budget, an unsupported helper or call: the run stops
    and Result.fault holds the error with the eBPF pc (and function, file).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Callable

from jit.errors import BpfjitError, RunError, UnsupportedError
from jit.helpers import HELPER_SETS, TAIL_CALL, Env, Helper, Unwind, tail_call_target
from jit.isa import LDDW, SIZE_BYTES, Alu, Atomic, Cls, Insn, Jmp, Mode, Src, check
from jit.maps import Maps
from jit.memory import (CODE_BASE, CTX_BASE, PACKET_BASE, PACKET_HEADROOM, STACK_BASE, Memory,
                        Perm, Region)
from jit.program import Program

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

FUNC_ADDR_BASE = CODE_BASE          # function pointer = FUNC_ADDR_BASE + slot * 8
MAX_FRAMES = 8
DEFAULT_STACK_DEPTH = 512
STACK_SIZE = MAX_FRAMES * DEFAULT_STACK_DEPTH
STACK_TOP = STACK_BASE + STACK_SIZE
DEFAULT_BUDGET = 1_000_000
HELPER_EVENT = -3                   # a step's result: call m.pending, then go on at m.resume


@dataclass
class Result:
    """What a run produced.  When `fault` is set, r0 is whatever r0 held then."""
    r0: int
    fault: BpfjitError | None = None
    helper_calls: list[tuple[int, str, tuple[int, ...]]] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    insns_executed: int = 0
    regions: dict[str, bytes] = field(default_factory=dict)
    maps: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.fault is None


# ---------------------------------------------------------------- setup

def stack_region() -> Region:
    return Region.zeroed("stack", STACK_BASE, STACK_SIZE, Perm.RW)


def add_packet(env: Env, data: bytes, *, headroom: int = 0, name: str = "packet") -> int:
    """Put `data` in a region at PACKET_BASE + headroom; set env.packet; return its address."""
    env.memory.add(Region.zeroed(name, PACKET_BASE, headroom + len(data), Perm.RW,
                                 init=data, at=headroom, compare=True))
    start = PACKET_BASE + headroom
    env.packet = (start, start + len(data))
    return start


def add_ctx(env: Env, ctx: bytes) -> int:
    """Put a context struct at CTX_BASE (writable, compared); return its address."""
    env.memory.add(Region.zeroed("ctx", CTX_BASE, len(ctx), Perm.RW, init=ctx, compare=True))
    return CTX_BASE


def setup(prog: Program, *, mem: bytes | None = None, packet: bytes | None = None,
          ctx: bytes | None = None, helpers: str | dict = "kernel", seed: int = 0,
          programs: list[Program] | None = None) -> tuple[Env, int, int]:
    """Memory, maps and an Env for running `prog`; returns (env, r1, r2).

    mem     the raw --mem block at PACKET_BASE: r1 = its address, r2 = its length
            (r1 = r2 = 0 without one), as uBPF and bpf_conformance do.  It is
            also the packet LD_ABS reads.
    packet  a packet at PACKET_BASE + PACKET_HEADROOM: r1 = data, r2 = length.
    ctx     a context struct at CTX_BASE: r1 = its address, r2 = its length.
    programs  tail-call targets: prog arrays' MapDef.prog_slots are filled
            with indices into this list.
    Context builders for real program types (xdp_md, __sk_buff) compose
    add_packet/add_ctx the same way.
    """
    if mem is not None and packet is not None:
        raise RunError("give either a --mem block or a packet, not both")
    memory = Memory(prog.byteorder)
    memory.add(stack_region())
    maps = Maps(memory, prog.maps)
    if programs:
        maps.bind_programs([p.name for p in programs])
    hset = HELPER_SETS[helpers] if isinstance(helpers, str) else helpers
    env = Env(memory, maps, helpers=hset, seed=seed, prog_type=prog.prog_type)
    r1 = r2 = 0
    if mem is not None:
        r1, r2 = add_packet(env, mem), len(mem)
    if packet is not None:
        r1, r2 = add_packet(env, packet, headroom=PACKET_HEADROOM), len(packet)
    if ctx is not None:
        r1, r2 = add_ctx(env, ctx), len(ctx)
    return env, r1, r2


# ---------------------------------------------------------------- operations

def _s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _tdiv(a: int, b: int) -> int:
    """Signed division truncating toward zero (C semantics)."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _sdiv64(a: int, b: int) -> int:
    if b == 0:
        return 0
    return _tdiv(_s64(a), _s64(b)) & M64          # INT64_MIN / -1 wraps to INT64_MIN


def _smod64(a: int, b: int) -> int:
    if b == 0:
        return a
    x, y = _s64(a), _s64(b)
    return (x - y * _tdiv(x, y)) & M64            # the sign of the dividend


def _sdiv32(a: int, b: int) -> int:
    if b & M32 == 0:
        return 0
    return _tdiv(_s32(a), _s32(b)) & M32


def _smod32(a: int, b: int) -> int:
    if b & M32 == 0:
        return a & M32
    x, y = _s32(a), _s32(b)
    return (x - y * _tdiv(x, y)) & M32


# (operation, off) -> f(dst, src) -> new dst, operands and results u64.
ALU64: dict[tuple[int, int], Callable[[int, int], int]] = {
    (Alu.ADD, 0): lambda a, b: (a + b) & M64,
    (Alu.SUB, 0): lambda a, b: (a - b) & M64,
    (Alu.MUL, 0): lambda a, b: (a * b) & M64,
    (Alu.DIV, 0): lambda a, b: a // b if b else 0,
    (Alu.DIV, 1): _sdiv64,
    (Alu.OR, 0): lambda a, b: a | b,
    (Alu.AND, 0): lambda a, b: a & b,
    (Alu.LSH, 0): lambda a, b: (a << (b & 63)) & M64,
    (Alu.RSH, 0): lambda a, b: a >> (b & 63),
    (Alu.NEG, 0): lambda a, b: -a & M64,
    (Alu.MOD, 0): lambda a, b: a % b if b else a,
    (Alu.MOD, 1): _smod64,
    (Alu.XOR, 0): lambda a, b: a ^ b,
    (Alu.MOV, 0): lambda a, b: b,
    (Alu.MOV, 8): lambda a, b: _sext(b, 8) & M64,
    (Alu.MOV, 16): lambda a, b: _sext(b, 16) & M64,
    (Alu.MOV, 32): lambda a, b: _sext(b, 32) & M64,
    (Alu.ARSH, 0): lambda a, b: (_s64(a) >> (b & 63)) & M64,
}

# The same for ALU (32-bit): only the low 32 bits of each operand count, and
# the result is zero-extended to 64 bits.
ALU32: dict[tuple[int, int], Callable[[int, int], int]] = {
    (Alu.ADD, 0): lambda a, b: (a + b) & M32,
    (Alu.SUB, 0): lambda a, b: (a - b) & M32,
    (Alu.MUL, 0): lambda a, b: (a * b) & M32,
    (Alu.DIV, 0): lambda a, b: (a & M32) // (b & M32) if b & M32 else 0,
    (Alu.DIV, 1): _sdiv32,
    (Alu.OR, 0): lambda a, b: (a | b) & M32,
    (Alu.AND, 0): lambda a, b: a & b & M32,
    (Alu.LSH, 0): lambda a, b: (a << (b & 31)) & M32,
    (Alu.RSH, 0): lambda a, b: (a & M32) >> (b & 31),
    (Alu.NEG, 0): lambda a, b: -a & M32,
    (Alu.MOD, 0): lambda a, b: (a & M32) % (b & M32) if b & M32 else a & M32,
    (Alu.MOD, 1): _smod32,
    (Alu.XOR, 0): lambda a, b: (a ^ b) & M32,
    (Alu.MOV, 0): lambda a, b: b & M32,
    (Alu.MOV, 8): lambda a, b: _sext(b, 8) & M32,
    (Alu.MOV, 16): lambda a, b: _sext(b, 16) & M32,
    (Alu.ARSH, 0): lambda a, b: (_s32(a) >> (b & 31)) & M32,
}

# Conditional jumps: f(dst, src) -> taken, operands u64.
JMP64: dict[int, Callable[[int, int], bool]] = {
    Jmp.JEQ: lambda a, b: a == b,
    Jmp.JGT: lambda a, b: a > b,
    Jmp.JGE: lambda a, b: a >= b,
    Jmp.JSET: lambda a, b: bool(a & b),
    Jmp.JNE: lambda a, b: a != b,
    Jmp.JSGT: lambda a, b: _s64(a) > _s64(b),
    Jmp.JSGE: lambda a, b: _s64(a) >= _s64(b),
    Jmp.JLT: lambda a, b: a < b,
    Jmp.JLE: lambda a, b: a <= b,
    Jmp.JSLT: lambda a, b: _s64(a) < _s64(b),
    Jmp.JSLE: lambda a, b: _s64(a) <= _s64(b),
}

JMP32: dict[int, Callable[[int, int], bool]] = {
    Jmp.JEQ: lambda a, b: a & M32 == b & M32,
    Jmp.JGT: lambda a, b: a & M32 > b & M32,
    Jmp.JGE: lambda a, b: a & M32 >= b & M32,
    Jmp.JSET: lambda a, b: bool(a & b & M32),
    Jmp.JNE: lambda a, b: a & M32 != b & M32,
    Jmp.JSGT: lambda a, b: _s32(a) > _s32(b),
    Jmp.JSGE: lambda a, b: _s32(a) >= _s32(b),
    Jmp.JLT: lambda a, b: a & M32 < b & M32,
    Jmp.JLE: lambda a, b: a & M32 <= b & M32,
    Jmp.JSLT: lambda a, b: _s32(a) < _s32(b),
    Jmp.JSLE: lambda a, b: _s32(a) <= _s32(b),
}

# Atomic read-modify-write: imm & ~FETCH -> f(old, src) -> new.
ATOMIC_OPS: dict[int, Callable[[int, int], int]] = {
    Atomic.ADD: lambda old, v: old + v,
    Atomic.OR: lambda old, v: old | v,
    Atomic.AND: lambda old, v: old & v,
    Atomic.XOR: lambda old, v: old ^ v,
}


def bswap(v: int, width: int) -> int:
    """Reverse the low `width` bits' bytes; the result is zero-extended."""
    n = width // 8
    return int.from_bytes((v & ((1 << width) - 1)).to_bytes(n, "little"), "big")


# ---------------------------------------------------------------- the machine

class _Frame:
    __slots__ = ("ret_pc", "code", "prog", "saved", "bottom")

    def __init__(self, ret_pc: int | None, code: list, prog: Program, saved: list[int],
                 bottom: int) -> None:
        self.ret_pc = ret_pc        # None: the frame of a callback; its exit returns to the host
        self.code = code
        self.prog = prog
        self.saved = saved          # the caller's r6-r9 and r10 (all of r0-r10 for a callback)
        self.bottom = bottom        # the caller's frame bottom


class _Machine:
    """The interpreter of one program: the compiled code of each program it reaches
    (made once, kept from run to run) and the state of the current run: registers,
    the frame stack, the count, the run's memory and Env (swapped in by `begin`)."""

    def __init__(self, prog: Program, helpers: dict[int, Helper],
                 stack_depths: dict[int, int] | None, programs: list[Program],
                 depths_of: Callable[[Program], dict] | None = None) -> None:
        self.main = prog
        self.helpers = helpers
        self.stack_depths = stack_depths or {}
        self.depths_of = depths_of
        self.other_depths: dict[int, dict] = {}
        self.programs = programs
        self.R = [0] * 11
        self.compiled: dict[int, list] = {}
        # The memory accessors the compiled code calls; they read the run's memory.
        self.load, self.store = _accessors(self, prog.byteorder)
        self.env: Env | None = None
        self.mem: Memory | None = None
        self.maps: Maps | None = None

    def begin(self, env: Env, max_insns: int) -> None:
        """Start a run on `env` (memory, maps, call log): registers zeroed, no frames."""
        self.env = env
        self.mem = env.memory
        self.maps = env.maps
        self.cache_clear()
        self.max_insns = max_insns
        self.R[:] = [0] * 11
        self.frames: list[_Frame] = []
        self.executed = 0
        self.prog = self.main
        self.code = self.compile(self.main)
        self.bottom = STACK_TOP       # lowest stack address of the current frame
        self.resume = 0
        self.done = False
        self.pending: Callable[[], None] | None = None
        env.call_func = self.call_func

    # ------------------------------------------------------------ frames

    def depth_of(self, prog: Program, start: int) -> int:
        if prog is self.main:
            depths = self.stack_depths
        else:
            depths = self.other_depths.get(id(prog))
            if depths is None:
                depths = self.other_depths[id(prog)] = \
                    self.depths_of(prog) if self.depths_of is not None else {}
        return (depths.get(start, DEFAULT_STACK_DEPTH) + 7) & ~7

    def open_frame(self, top: int, prog: Program, start: int) -> None:
        bottom = top - self.depth_of(prog, start)
        if bottom < STACK_BASE:
            raise RunError(f"eBPF stack exhausted: the frames need more than {STACK_SIZE} bytes")
        self.R[10] = top
        self.bottom = bottom

    def do_call(self, pc: int, target: int) -> int:
        if len(self.frames) + 1 >= MAX_FRAMES:
            raise RunError(f"call depth exceeds {MAX_FRAMES} frames")
        R = self.R
        self.frames.append(_Frame(pc + 1, self.code, self.prog, R[6:11], self.bottom))
        self.open_frame(self.bottom, self.prog, target)
        return target

    def do_exit(self, pc: int) -> int:
        if not self.frames:
            self.done = True
            return -1
        f = self.frames.pop()
        R = self.R
        self.bottom = f.bottom
        if f.ret_pc is None:                       # a callback returns to its helper
            r0 = R[0]
            R[:] = f.saved
            R[0] = r0
            self.done = True
            return -1
        R[6:11] = f.saved
        if f.code is self.code:
            return f.ret_pc
        self.code, self.prog, self.resume = f.code, f.prog, f.ret_pc
        return -2

    def do_tail_call(self, pc: int) -> int:
        R = self.R
        slot = tail_call_target(self.env, R[2], R[3])
        if slot == 0:
            return pc + 1
        if not 1 <= slot <= len(self.programs):
            raise RunError(f"prog array slot holds {slot}, not a program index + 1 "
                           f"({len(self.programs)} programs)")
        target = self.programs[slot - 1]
        self.prog = target
        self.code = self.compile(target)
        self.open_frame(R[10], target, 0)        # the replaced frame's top
        self.resume = 0
        return -2

    def call_func(self, addr: int, a1: int, a2: int, a3: int, a4: int, a5: int) -> int:
        """Run the function at a function address to its exit; used by callback helpers."""
        slot, rem = divmod(addr - FUNC_ADDR_BASE, 8)
        if rem or not 0 <= slot < len(self.code) - 1 or self.code[slot] is _mid_lddw:
            raise RunError(f"0x{addr:x} is not a function address")
        if len(self.frames) + 1 >= MAX_FRAMES:
            raise RunError(f"call depth exceeds {MAX_FRAMES} frames")
        R = self.R
        code, prog = self.code, self.prog
        self.frames.append(_Frame(None, code, prog, R[:], self.bottom))
        R[1:6] = [a1 & M64, a2 & M64, a3 & M64, a4 & M64, a5 & M64]
        self.open_frame(self.bottom, prog, slot)
        self.execute(slot)
        self.code, self.prog = code, prog
        return R[0]

    # ------------------------------------------------------------ the loop

    def execute(self, pc: int) -> None:
        """Run from `pc` until the frame it starts in exits (the program, or a callback).

        The inner loop runs instructions until a control event (a negative step
        result) or the budget's end: `n` counts the instructions executed, this
        one included, and the range stops where the budget does.  `self.executed`
        is brought up to date at each event, so a helper's callbacks (bpf_loop),
        which run inside the event, count on from it against the same budget."""
        code = self.code
        limit = self.max_insns
        try:
            while True:
                n = self.executed
                try:
                    for n in range(n + 1, limit + 1):
                        pc = code[pc](pc)
                        if pc < 0:
                            break
                    else:
                        raise RunError(f"instruction budget of {limit} exhausted")
                finally:
                    self.executed = n
                if pc == HELPER_EVENT:
                    call, resume = self.pending, self.resume
                    pc = resume - 1                 # the call's own slot, for errors
                    call()
                    code, pc = self.code, resume
                elif self.done:
                    self.done = False
                    return
                else:
                    code = self.code
                    pc = self.resume
        except BpfjitError as e:
            at = pc if e.pc is None else e.pc
            try:
                func = self.prog.function_at(at).name
            except KeyError:
                func = None
            raise e.where(file=self.prog.file, func=func, pc=at)

    # ------------------------------------------------------------ compiling

    def compile(self, prog: Program) -> list:
        key = id(prog)
        table = self.compiled.get(key)
        if table is not None:
            return table
        n = sum(i.slots for i in prog.insns)
        table: list = [_mid_lddw] * n + [_off_the_end]
        for pc, insn in zip(prog.pcs, prog.insns):
            table[pc] = self.lazy(table, prog, pc, insn, n)
        self.compiled[key] = table
        return table

    def lazy(self, table: list, prog: Program, pc: int, insn: Insn,
             n: int) -> Callable[[int], int]:
        """A slot's first step: compile the instruction into its place, then run it.
        A packet usually takes few of a program's paths, so a run compiles only the
        instructions it reaches."""
        def first(pc: int) -> int:
            step = table[pc] = self.step(prog, pc, insn, n)
            return step(pc)
        return first

    def step(self, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
        # An instruction that cannot be compiled (invalid, a map index out of
        # range) faults when it is reached, like any other run error.
        try:
            check(insn, pc)
            return _COMPILERS[insn.opcode & 7](self, prog, pc, insn, n)
        except BpfjitError as e:
            return _raiser(e)


def _accessors(m: _Machine, order: str):
    """load(addr, size, signed=False) and store(addr, size, value) on the run's memory
    (`m.mem`), and a function that empties their caches.

    They are `Memory.load`/`store` with a cache: per 64 KiB of address space, the
    region last found there (readable ones for loads, writable ones for stores), so
    that a hit is a dict lookup and a bounds check.  A miss asks the Memory, which
    checks permissions and raises the fault."""
    rd: dict[int, tuple[int, int, bytearray]] = {}
    wr: dict[int, tuple[int, int, bytearray]] = {}
    from_bytes = int.from_bytes

    def fill(cache: dict, addr: int, n: int, kind: str, perm: Perm) -> tuple[bytearray, int]:
        data, off = m.mem._find(addr, n, kind, perm)
        base = addr - off
        cache[addr >> 16] = (base, base + len(data), data)
        return data, off

    def load(addr: int, size: int, signed: bool = False) -> int:
        e = rd.get(addr >> 16)
        if e is not None and e[0] <= addr and addr + size <= e[1]:
            data, off = e[2], addr - e[0]
        else:
            data, off = fill(rd, addr, size, "read", Perm.R)
        return from_bytes(data[off:off + size], order, signed=signed)

    def store(addr: int, size: int, value: int) -> None:
        e = wr.get(addr >> 16)
        if e is not None and e[0] <= addr and addr + size <= e[1]:
            data, off = e[2], addr - e[0]
        else:
            data, off = fill(wr, addr, size, "write", Perm.W)
        data[off:off + size] = (value & _SIZE_MASK[size]).to_bytes(size, order)

    def clear() -> None:
        rd.clear()
        wr.clear()
    m.cache_clear = clear
    return load, store


_SIZE_MASK = {1: 0xFF, 2: 0xFFFF, 4: M32, 8: M64}


def _mid_lddw(pc: int) -> int:
    raise RunError("jump into the second slot of an LDDW")


def _off_the_end(pc: int) -> int:
    raise RunError("execution fell off the end of the program")


def _raiser(e: BpfjitError) -> Callable[[int], int]:
    def step(pc: int) -> int:
        raise e
    return step


def _bad_target(target: int) -> Callable[[int], int]:
    def step(pc: int) -> int:
        raise RunError(f"jump to slot {target}, outside the program")
    return step


# ---------------------------------------------------------------- per-class compilers

def _c_alu(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    op, d, s, off, imm = insn
    is64 = insn.cls == Cls.ALU64
    code = insn.code
    if code == Alu.END:
        width = imm
        if is64:
            swap = True                                 # BSWAP: unconditional
        else:
            to = "big" if insn.source == Src.X else "little"
            swap = to != prog.byteorder
        mask = (1 << width) - 1
        if swap:
            def step(pc: int) -> int:
                R[d] = bswap(R[d], width)
                return pc + 1
        else:
            def step(pc: int) -> int:
                R[d] = R[d] & mask
                return pc + 1
        return step
    if off == 0:
        fast = _fast_alu(R, code, is64, d, s if insn.source == Src.X else None,
                         (imm & M64) if is64 else (imm & M32))
        if fast is not None:
            return fast
    # off selects signed DIV/MOD (1) and MOVSX's width (8/16/32); isa.check
    # keeps it 0 everywhere else, so (code, off) names the operation.
    f = (ALU64 if is64 else ALU32)[(code, off)]
    if insn.source == Src.X and code != Alu.NEG:
        def step(pc: int) -> int:
            R[d] = f(R[d], R[s])
            return pc + 1
    else:
        k = (imm & M64) if is64 else (imm & M32)         # imm sign-extended to 64 for ALU64
        def step(pc: int) -> int:
            R[d] = f(R[d], k)
            return pc + 1
    return step


# The ALU forms most programs spend their time in get closures that do the work
# themselves (one Python call per instruction instead of two).  Each is the table
# entry written out: ALU64/ALU32 above remain the definition, and test_session
# checks every (operation, width, source) against them.
_WRAPPING = {Alu.ADD: operator.add, Alu.SUB: operator.sub, Alu.MUL: operator.mul,
             Alu.OR: operator.or_, Alu.AND: operator.and_, Alu.XOR: operator.xor}


def _fast_alu(R: list, code: int, is64: bool, d: int, s: int | None,
              k: int) -> Callable[[int], int] | None:
    """A closure for dst = dst OP src (s a register) or dst OP k, or None for the
    forms left to the tables.  Operands are u64; a 32-bit result is the low 32 bits
    of the 64-bit one for these operations (shifts excepted: their count is masked
    to 31 and RSH reads the low 32 bits of dst), zero-extended."""
    mask = M64 if is64 else M32
    count = 63 if is64 else 31
    wrapping = _WRAPPING.get(code)
    if wrapping is not None:
        if s is None:
            def alu_k(pc: int) -> int:
                R[d] = wrapping(R[d], k) & mask
                return pc + 1
            return alu_k

        def alu_x(pc: int) -> int:
            R[d] = wrapping(R[d], R[s]) & mask
            return pc + 1
        return alu_x
    if code == Alu.MOV:
        if s is None:
            def mov_k(pc: int) -> int:
                R[d] = k
                return pc + 1
            return mov_k

        def mov_x(pc: int) -> int:
            R[d] = R[s] & mask
            return pc + 1
        return mov_x
    if code == Alu.LSH:
        if s is None:
            c = k & count

            def lsh_k(pc: int) -> int:
                R[d] = (R[d] << c) & mask
                return pc + 1
            return lsh_k

        def lsh_x(pc: int) -> int:
            R[d] = (R[d] << (R[s] & count)) & mask
            return pc + 1
        return lsh_x
    if code == Alu.RSH:
        if s is None:
            c = k & count

            def rsh_k(pc: int) -> int:
                R[d] = (R[d] & mask) >> c
                return pc + 1
            return rsh_k

        def rsh_x(pc: int) -> int:
            R[d] = (R[d] & mask) >> (R[s] & count)
            return pc + 1
        return rsh_x
    return None


# Unsigned comparisons and JSET as built-in functions: the JMP64/JMP32 entries
# for them, applied to the operands' low 64 or 32 bits.
_UNSIGNED = {Jmp.JEQ: operator.eq, Jmp.JNE: operator.ne, Jmp.JGT: operator.gt,
             Jmp.JGE: operator.ge, Jmp.JLT: operator.lt, Jmp.JLE: operator.le,
             Jmp.JSET: operator.and_}


def _c_jmp(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    op, d, s, off, imm = insn
    code = insn.code
    if code == Jmp.EXIT:
        return m.do_exit
    if code == Jmp.CALL:
        return _c_call(m, prog, pc, insn, n)
    target = insn.jump_target(pc)
    if not 0 <= target < n:
        return _bad_target(target)
    if code == Jmp.JA:
        return lambda pc: target
    test = _UNSIGNED.get(code)
    if test is not None:
        if insn.cls == Cls.JMP:
            if insn.source == Src.X:
                def jmp_x(pc: int) -> int:
                    return target if test(R[d], R[s]) else pc + 1
                return jmp_x
            k = imm & M64

            def jmp_k(pc: int) -> int:
                return target if test(R[d], k) else pc + 1
            return jmp_k
        if insn.source == Src.X:
            def jmp32_x(pc: int) -> int:
                return target if test(R[d] & M32, R[s] & M32) else pc + 1
            return jmp32_x
        k = imm & M32

        def jmp32_k(pc: int) -> int:
            return target if test(R[d] & M32, k) else pc + 1
        return jmp32_k
    cond = (JMP64 if insn.cls == Cls.JMP else JMP32)[code]
    if insn.source == Src.X:
        def step(pc: int) -> int:
            return target if cond(R[d], R[s]) else pc + 1
    else:
        k = imm & M64 if insn.cls == Cls.JMP else imm & M32
        def step(pc: int) -> int:
            return target if cond(R[d], k) else pc + 1
    return step


def _c_call(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    if insn.src == 1:                                   # bpf-to-bpf: imm is the offset
        target = pc + 1 + insn.imm
        if not 0 <= target < n:
            return _bad_target(target)
        return lambda pc: m.do_call(pc, target)
    if insn.src != 0:
        def kfunc(pc: int) -> int:
            raise UnsupportedError(f"kfunc call (imm {insn.imm}) is not supported")
        return kfunc
    hid = insn.imm
    helper = m.helpers.get(hid)
    if helper is None:
        def missing(pc: int) -> int:
            raise UnsupportedError(f"helper {hid} is not in this run's helper set")
        return missing
    name, nargs = helper.name, helper.nargs
    if hid == TAIL_CALL and name == "tail_call":
        def tail(pc: int) -> int:
            m.env.calls.append((hid, name, tuple(R[1:1 + nargs])))
            return m.do_tail_call(pc)
        return tail
    fn = helper.fn

    def invoke() -> None:
        args = R[1:6]
        env = m.env
        env.calls.append((hid, name, tuple(args[:nargs])))
        R[0] = fn(env, *args) & M64

    def call(pc: int) -> int:
        # The loop makes the call (see _Machine.execute): the helper may run
        # callbacks, which must count on from the instructions executed so far.
        m.pending = invoke
        m.resume = pc + 1
        return HELPER_EVENT
    return call


def _c_ld(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    op, d, s, off, imm = insn
    if op == LDDW:
        if s == 0:
            value = imm & M64
        elif s in (1, 5):
            value = m.maps.map_addr(imm & M32)
        elif s in (2, 6):
            value = m.maps.value_addr(imm & M32, imm >> 32)
        elif s == 4:
            value = FUNC_ADDR_BASE + (pc + 1 + _s32(imm)) * 8
        else:
            raise UnsupportedError(f"LDDW with src {s} (BTF id) is not supported", pc=pc)

        def lddw(pc: int) -> int:
            R[d] = value
            return pc + 2
        return lddw
    size = SIZE_BYTES[insn.size]
    indirect = insn.mode == Mode.IND

    def ld_abs(pc: int) -> int:
        # The kernel turns LD_ABS into a call whose negative result becomes
        # "r0 = 0; exit" inline (net/core/filter.c bpf_gen_ld_abs): the offset
        # is an int, and a miss returns from the current function.
        pkt = m.env.packet
        if pkt is None:
            raise RunError("LD_ABS/LD_IND with no packet")
        o = _s32(R[s] + imm) if indirect else imm
        data, end = pkt
        if o < 0 or data + o + size > end:
            R[0] = 0
            return m.do_exit(pc)
        R[0] = int.from_bytes(m.mem.read(data + o, size), "big")
        return pc + 1
    return ld_abs


def _c_ldx(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    op, d, s, off, imm = insn
    size = SIZE_BYTES[insn.size]
    load = m.load
    if insn.mode == Mode.MEMSX:
        def ldsx(pc: int) -> int:
            R[d] = load((R[s] + off) & M64, size, True) & M64
            return pc + 1
        return ldsx

    def ldx(pc: int) -> int:
        R[d] = load((R[s] + off) & M64, size)
        return pc + 1
    return ldx


def _c_st(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    op, d, s, off, imm = insn
    size = SIZE_BYTES[insn.size]
    store = m.store
    value = imm & M64

    def st(pc: int) -> int:
        store((R[d] + off) & M64, size, value)
        return pc + 1
    return st


def _c_stx(m: _Machine, prog: Program, pc: int, insn: Insn, n: int) -> Callable[[int], int]:
    R = m.R
    op, d, s, off, imm = insn
    size = SIZE_BYTES[insn.size]
    store, load = m.store, m.load
    if insn.mode == Mode.MEM:
        def stx(pc: int) -> int:
            store((R[d] + off) & M64, size, R[s])
            return pc + 1
        return stx
    mask = (1 << (8 * size)) - 1
    if imm == Atomic.XCHG:
        def xchg(pc: int) -> int:
            addr = (R[d] + off) & M64
            old = load(addr, size)
            store(addr, size, R[s])
            R[s] = old
            return pc + 1
        return xchg
    if imm == Atomic.CMPXCHG:
        def cmpxchg(pc: int) -> int:
            addr = (R[d] + off) & M64
            old = load(addr, size)
            if old == R[0] & mask:
                store(addr, size, R[s])
            R[0] = old                                  # zero-extended for W
            return pc + 1
        return cmpxchg
    f = ATOMIC_OPS[imm & ~Atomic.FETCH]
    if imm & Atomic.FETCH:
        def fetch_op(pc: int) -> int:
            addr = (R[d] + off) & M64
            old = load(addr, size)
            store(addr, size, f(old, R[s]) & mask)
            R[s] = old
            return pc + 1
        return fetch_op

    def atomic_op(pc: int) -> int:
        addr = (R[d] + off) & M64
        store(addr, size, f(load(addr, size), R[s]) & mask)
        return pc + 1
    return atomic_op


_COMPILERS = {
    Cls.LD: _c_ld, Cls.LDX: _c_ldx, Cls.ST: _c_st, Cls.STX: _c_stx,
    Cls.ALU: _c_alu, Cls.ALU64: _c_alu, Cls.JMP: _c_jmp, Cls.JMP32: _c_jmp,
}


# ---------------------------------------------------------------- entry point

class Interpreter:
    """`prog` made ready to run many times: its instruction table is compiled on the
    first run and kept (with those of the tail-call targets it reaches).

    helpers       id -> Helper
    stack_depths  function start slot -> stack bytes for `prog`'s functions
    programs      tail-call targets, indexed as the prog arrays store them
    depths_of     program -> its stack_depths, for the tail-call targets (default 512
                  bytes a function)
    """

    def __init__(self, prog: Program, *, helpers: dict, stack_depths: dict[int, int] | None = None,
                 programs: list[Program] | None = None,
                 depths_of: Callable[[Program], dict] | None = None) -> None:
        self.machine = _Machine(prog, helpers, stack_depths, programs or [], depths_of)

    def run(self, env: Env, r1: int, r2: int = 0, *, max_insns: int = DEFAULT_BUDGET) -> Result:
        """Interpret from slot 0 with r1, r2 set, on `env`'s memory and maps; never
        raises for what the program does (faults, budget, unsupported helpers land
        in Result.fault).  An Env is for one run: its call log and trace are the Result's."""
        m = self.machine
        m.begin(env, max_insns)
        prog = m.main
        R = m.R
        R[1], R[2] = r1 & M64, r2 & M64
        fault: BpfjitError | None = None
        try:
            m.open_frame(STACK_TOP, prog, 0)
            m.execute(0)
        except Unwind:
            R[0] = 0
        except BpfjitError as e:
            fault = e
        return Result(r0=R[0], fault=fault, helper_calls=env.calls, trace=env.trace,
                      insns_executed=m.executed, regions=env.memory.snapshot(),
                      maps=env.maps.dump())


def run(prog: Program, *, env: Env, r1: int, r2: int = 0, helpers: dict | None = None,
        max_insns: int = DEFAULT_BUDGET, stack_depths: dict[int, int] | None = None,
        programs: list[Program] | None = None,
        depths_of: Callable[[Program], dict] | None = None) -> Result:
    """Interpret `prog` once (see `Interpreter`); helpers default to env.helpers."""
    return Interpreter(prog, helpers=env.helpers if helpers is None else helpers,
                       stack_depths=stack_depths, programs=programs,
                       depths_of=depths_of).run(env, r1, r2, max_insns=max_insns)
