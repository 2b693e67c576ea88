"""Random valid, terminating eBPF programs for differential testing.

This module owns *making* programs: a seeded generator whose every output
passes `jit.analysis.check` with the kernel helper set, ends on every path in
`exit`, and terminates (forward jumps, loops with a counter nobody else writes,
tail-call chains bounded by the kernel's 33).  It does not run or compare
anything (`jit.testing.fuzz` and the tests do), and it knows no machine.

What a generated program can contain (each a feature name in `FEATURES`):

    alu      ALU64/ALU32, every operation (sdiv/smod, movsx, bswap/end, neg), K and
             X forms, immediates drawn around every encoding limit (EDGE_IMMS),
             LDDW of 64-bit edge values
    jmp      JMP/JMP32 forward jumps of every condition, K and X, crossing as well
             as nested, if/else with JA or gotol, early exits
    loop     bounded loops: a counter in r6-r9 that the body never writes
    stack    loads (also sign-extending) and stores at r10-off inside the frame,
             directly or through a register holding r10-k
    mem      the same on the --mem block (r1 at entry), at offsets near the
             immediate limits, through bases moved inside the block
    map      an array map value via LDDW map_value, or via map_lookup_elem after
             a null check (keys on the stack, in the mem block or in a map value);
             a hash map lookup that may miss
    atomic   W/DW add/or/and/xor with and without fetch, xchg, cmpxchg on the
             stack, the mem block and map values
    helper   deterministic helpers: ktime, prandom, smp_processor_id, numa node,
             pid/uid, map_update_elem/map_delete_elem with valid and invalid flags
    call     bpf-to-bpf calls to subprograms with their own frames and typed
             arguments (scalars, mem and map value pointers, a pointer to a slice of
             the caller's frame); r6-r9 are relied on across calls
    tail     tail calls through a prog array with filled and empty slots, indices
             in and out of range (and above 2^32), self-loops that hit the 33 limit
    ldabs    legacy LD_ABS/LD_IND on the mem block (only without local calls)
    far      jumps over padding sized around branch-reach limits, staggered

How validity is kept: the generator tracks, per register, whether it holds a
value and what kind (`Val`: a scalar, a pointer into the mem block or a map
value at a known offset, a pointer into its own frame or into a caller's, or
"tainted": initialised but with a value that differs between the interpreter
and native code, like r0 after a failed tail call, or that the checks would
follow as a stack pointer, like anything computed from r10), and which frame
bytes are initialised.  Forward labels meet the states
of every jump to them; a loop body is regenerated until its exit state meets
its entry state.  Only values that are the same in every run (scalars, mem and
map addresses) ever reach r0, memory or a comparison; frame addresses reach
only helper arguments (the diff compares them exactly: every backend lays the
frames out as the interpreter does) and memory accesses.  Before the final
exit each function folds every readable register into r0 (and stores some in
the mem block), so a wrong bit anywhere shows.

Every function starts by saving r1 (the mem block) at r10-8 and giving every
register it may read a value, so a program reads nothing it did not write.

`generate(seed_or_rng, GenConfig(...)) -> Case`: the programs (entry first),
their maps, the mem block and map seeds.  `Builder` (label-based emission) is
public for tests that build programs by hand.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Iterable, NamedTuple

from jit import analysis, driver, isa
from jit.isa import LDDW, Alu, Atomic, Cls, Insn, Jmp, Mode, Size, Src
from jit.program import MapDef, Object, Program, from_bytecode

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

FEATURES = frozenset({"alu", "jmp", "loop", "stack", "mem", "map", "atomic", "helper", "call",
                      "tail", "ldabs", "far"})

# Where an encoding changes form on some machine: x86 imm8, ARM imm8/imm12, MIPS
# imm16, the s32 limit.  Each n gives 2^n-1, 2^n, 2^n+1 and their negatives.
LIMIT_BITS = (7, 8, 11, 12, 15, 16, 31)


def _edge_imms() -> tuple[int, ...]:
    vals = {0, 1, -1, 2, -2, INT32_MIN, INT32_MAX}
    for n in LIMIT_BITS:
        for v in (2 ** n - 1, 2 ** n, 2 ** n + 1):
            for s in (v, -v):
                if INT32_MIN <= s <= INT32_MAX:
                    vals.add(s)
    return tuple(sorted(vals))


EDGE_IMMS = _edge_imms()

# 64-bit register values where operations go wrong (signs, halves, widths).
EDGE_U64 = tuple(sorted({v & M64 for v in (
    0, 1, 2, 7, -1, -2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, INT32_MAX, 1 << 31, INT32_MIN,
    M32, 1 << 32, (1 << 32) + 1, 0xFFFF_FFFF_0000_0000, (1 << 63) - 1, 1 << 63,
    0xDEAD_BEEF_8765_4321, 0x8000_0000_0000_0001, 0x0123_4567_89AB_CDEF)}))

# Helpers whose results are the same in every run with the same seed (no arguments).
PURE_HELPERS = (5, 7, 8, 14, 15, 42)
MAP_LOOKUP, MAP_UPDATE, MAP_DELETE, TAIL_CALL = 1, 2, 3, 12

ARRAY, HASH, PROG_ARRAY = 2, 1, 3
MEM_SLOT = -8                   # every frame keeps the mem block pointer here

ALU_CODES = (Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.OR, Alu.AND, Alu.LSH, Alu.RSH, Alu.NEG,
             Alu.MOD, Alu.XOR, Alu.MOV, Alu.ARSH, Alu.END)
SHIFT_CODES = (Alu.LSH, Alu.RSH, Alu.ARSH)
COND_CODES = (Jmp.JEQ, Jmp.JGT, Jmp.JGE, Jmp.JSET, Jmp.JNE, Jmp.JSGT, Jmp.JSGE, Jmp.JLT,
              Jmp.JLE, Jmp.JSLT, Jmp.JSLE)
ATOMIC_IMMS = (Atomic.ADD, Atomic.OR, Atomic.AND, Atomic.XOR,
               Atomic.ADD | Atomic.FETCH, Atomic.OR | Atomic.FETCH, Atomic.AND | Atomic.FETCH,
               Atomic.XOR | Atomic.FETCH, Atomic.XCHG, Atomic.CMPXCHG)
SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}


# --------------------------------------------------------------------- instruction makers

def alu(code: int, dst: int, *, src: int | None = None, imm: int = 0, wide: bool = True,
        off: int = 0) -> Insn:
    """An ALU/ALU64 instruction: X form when `src` is given, else K with `imm`."""
    cls = Cls.ALU64 if wide else Cls.ALU
    if src is None:
        return Insn(cls | Src.K | code, dst, 0, off, imm)
    return Insn(cls | Src.X | code, dst, src, off, 0)


def mov(dst: int, *, src: int | None = None, imm: int = 0, wide: bool = True) -> Insn:
    return alu(Alu.MOV, dst, src=src, imm=imm, wide=wide)


def lddw(dst: int, value: int, pseudo: int = 0) -> Insn:
    return Insn(LDDW, dst, pseudo, 0, value & M64)


def ldx(size: int, dst: int, base: int, off: int, *, signed: bool = False) -> Insn:
    mode = Mode.MEMSX if signed else Mode.MEM
    return Insn(Cls.LDX | mode | SIZES[size], dst, base, off, 0)


def stx(size: int, base: int, off: int, src: int) -> Insn:
    return Insn(Cls.STX | Mode.MEM | SIZES[size], base, src, off, 0)


def st(size: int, base: int, off: int, imm: int) -> Insn:
    return Insn(Cls.ST | Mode.MEM | SIZES[size], base, 0, off, imm)


def atomic(size: int, base: int, off: int, src: int, op: int) -> Insn:
    return Insn(Cls.STX | Mode.ATOMIC | SIZES[size], base, src, off, op)


def jcond(code: int, dst: int, *, src: int | None = None, imm: int = 0, wide: bool = True,
          off: int = 0) -> Insn:
    cls = Cls.JMP if wide else Cls.JMP32
    if src is None:
        return Insn(cls | Src.K | code, dst, 0, off, imm)
    return Insn(cls | Src.X | code, dst, src, off, 0)


def call_helper(hid: int) -> Insn:
    return Insn(isa.CALL, 0, 0, 0, hid)


EXIT = Insn(isa.EXIT)
JA = Insn(isa.JA)
GOTOL = Insn(isa.GOTOL)
CALL_LOCAL = Insn(isa.CALL, 0, 1, 0, 0)


# --------------------------------------------------------------------- label-based emission

class Builder:
    """Instructions with symbolic jump targets; `build()` fixes the offsets.

    `jump(insn, label)` fills the field the instruction uses for its target:
    `off` for JMP/JMP32 conditionals and JA, `imm` for gotol, a local call and
    an LDDW of a function address.  Labels are any hashable value.
    """

    def __init__(self) -> None:
        self.items: list[tuple[Insn, Any]] = []     # (insn, target label or None)
        self.labels: dict[Any, int] = {}            # label -> index into items

    def emit(self, *insns: Insn) -> None:
        for i in insns:
            self.items.append((i, None))

    def jump(self, insn: Insn, label: Any) -> None:
        self.items.append((insn, label))

    def label(self, name: Any) -> None:
        if name in self.labels:
            raise ValueError(f"label {name!r} placed twice")
        self.labels[name] = len(self.items)

    def mark(self) -> tuple[int, set]:
        """A point to `rewind` to (used when a loop body is regenerated)."""
        return len(self.items), set(self.labels)

    def rewind(self, mark: tuple[int, set]) -> None:
        n, names = mark
        del self.items[n:]
        for k in [k for k in self.labels if k not in names]:
            del self.labels[k]

    def __len__(self) -> int:
        return sum(i.slots for i, _ in self.items)

    def build(self) -> list[Insn]:
        pcs = []
        pc = 0
        for insn, _ in self.items:
            pcs.append(pc)
            pc += insn.slots
        end = pc
        out = []
        for (insn, label), pc in zip(self.items, pcs):
            if label is not None:
                idx = self.labels[label]
                tgt = pcs[idx] if idx < len(pcs) else end
                rel = tgt - (pc + 1)
                if insn.opcode == isa.GOTOL or insn.is_call or insn.is_lddw:
                    insn = insn._replace(imm=rel & M32 if insn.is_lddw else rel)
                else:
                    if not -0x8000 <= rel <= 0x7FFF:
                        raise ValueError(f"jump at slot {pc} to {label!r} is {rel} slots: "
                                         "too far for a 16-bit offset (use gotol)")
                    insn = insn._replace(off=rel)
            out.append(insn)
        return out


# --------------------------------------------------------------------- what a register holds

class VK(IntEnum):
    SCALAR = 0      # a number, the same in every run
    MEM = 1         # mem block + a
    MAP = 2         # value of map a (slot 0 for LDDW map_value, any slot from a lookup) + b
    STACK = 3       # r10 + a
    TAINT = 4       # initialised, but not the same in every run: never read
    FRAME = 5       # a pointer to a caller's frame bytes [0, a) (an argument): access only


class Val(NamedTuple):
    kind: VK
    a: int = 0
    b: int = 0


SCALAR = Val(VK.SCALAR)
TAINT = Val(VK.TAINT)
READABLE = (VK.SCALAR, VK.MEM, VK.MAP)
UNSHARED = (VK.STACK, VK.TAINT, VK.FRAME)    # never read as numbers (see the module notes)


def _meet(x: Val | None, y: Val | None) -> Val | None:
    if x == y:
        return x
    if x is None or y is None:
        return None
    if x.kind in UNSHARED or y.kind in UNSHARED:
        return TAINT
    return SCALAR


class _St:
    """Registers r0-r9 (None: no value) and the initialised bytes of the frame."""
    __slots__ = ("regs", "stk")

    def __init__(self, regs: list, stk: int) -> None:
        self.regs = regs
        self.stk = stk          # bit i: frame byte r10 - frame + i holds a value

    def copy(self) -> "_St":
        return _St(list(self.regs), self.stk)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _St) and self.regs == other.regs and self.stk == other.stk


def _meet_st(a: _St | None, b: _St | None) -> _St | None:
    if a is None:
        return None if b is None else b.copy()
    if b is None:
        return a.copy()
    return _St([_meet(x, y) for x, y in zip(a.regs, b.regs)], a.stk & b.stk)


# --------------------------------------------------------------------- configuration and output

@dataclass(frozen=True)
class GenConfig:
    """Knobs.  `size` is the number of snippets (1-8 instructions each) in the entry
    function; None picks 5-30 (20-200 instructions in all).  `features` restricts what
    is generated; `far_pad` sizes the padding that `far` jumps cross."""
    size: int | None = None
    byteorder: str = "little"
    features: frozenset = FEATURES
    mem_size: int | None = None
    max_loop_iters: int = 6
    max_subprograms: int = 3
    max_tail_targets: int = 2
    far_pad: tuple[int, ...] = (8, 12, 20, 30, 40, 64)   # padding sizes for `far` jumps
    stack_keys: bool = True         # map keys on the stack too, as kernel programs keep them

    def has(self, feature: str) -> bool:
        return feature in self.features


@dataclass(frozen=True)
class Case:
    """A generated program set and everything a run starts from."""
    programs: list[Program]          # the entry program first, then tail-call targets
    maps: list[MapDef]
    mem: bytes
    map_seeds: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)
    byteorder: str = "little"
    seed: int | None = None
    features: frozenset = frozenset()   # the features that were actually used
    config: GenConfig | None = None     # what made it: generate(seed, config) gives it back

    @property
    def prog(self) -> Program:
        return self.programs[0]

    @property
    def n_insns(self) -> int:
        return sum(len(p.insns) for p in self.programs)

    def obj(self) -> Object:
        return Object(file=self.prog.file, programs=list(self.programs), maps=list(self.maps),
                      byteorder=self.byteorder)

    def inputs(self, max_insns: int = 1_000_000):
        return driver.Inputs(mem=self.mem, map_seeds={k: list(v) for k, v in self.map_seeds.items()},
                      helpers="kernel", max_insns=max_insns)

    def with_insns(self, index: int, insns: list[Insn]) -> "Case":
        """The same case with program `index` replaced by `insns` (for minimizing)."""
        progs = list(self.programs)
        progs[index] = make_program(insns, self.byteorder, progs[index].name, self.maps,
                                    file=progs[index].file)
        return replace(self, programs=progs)


def make_program(insns: list[Insn], order: str, name: str, maps: list[MapDef], *,
                 file: str = "<gen>") -> Program:
    """A Program as a loader would make it from this bytecode (functions split at calls)."""
    prog = from_bytecode(isa.encode(insns, order), byteorder=order, file=file, name=name)
    prog.maps = list(maps)
    return prog


def validate(case: Case) -> list:
    """Every CheckError of every program of the case (empty when it is valid)."""
    problems = []
    for p in case.programs:
        problems += analysis.check(p, helpers=driver.helper_set("kernel", p))
    return problems


# --------------------------------------------------------------------- the generator

def _u64_value(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.choice(EDGE_U64)
    if r < 0.7:
        return rng.choice(EDGE_IMMS) & M64
    if r < 0.85:
        return rng.getrandbits(64)
    return rng.getrandbits(rng.choice((8, 16, 32)))


def _imm(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.6:
        return rng.choice(EDGE_IMMS)
    if r < 0.8:
        return rng.randint(-64, 64)
    return rng.randint(INT32_MIN, INT32_MAX)


@dataclass(frozen=True)
class _Sub:
    """A subprogram: its frame, which of r2-r5 it takes and as what, whom it calls."""
    index: int
    frame: int
    args: tuple                   # Val for r2..r5
    callees: tuple[int, ...]
    size: int
    may_tail: bool


class _ProgGen:
    """One program (entry function and subprograms) into one Builder."""

    def __init__(self, g: "_Gen", name: str, size: int, *, n_subs: int) -> None:
        self.g = g
        self.rng = g.rng
        self.cfg = g.cfg
        self.name = name
        self.b = Builder()
        self.size = size
        rng = self.rng
        tail_ok = g.tail_map is not None
        # frames: the kernel sums 16-byte-rounded frames along a call chain (<= 512),
        # and a subprogram may tail-call only below 256 bytes of callers' frames.
        if n_subs == 0:
            main_frame = rng.choice((16, 16, 32, 64, 128, 256, 512))
            self.subs: list[_Sub] = []
        else:
            main_frame = rng.choice((16, 32, 64, 128))
            frames = [rng.choice((16, 16, 32, 48, 64)) for _ in range(n_subs)]
            limit = 240 if tail_ok else 512
            while main_frame + sum(frames) > limit:
                k = max(range(n_subs), key=lambda i: frames[i])
                if frames[k] > 16:
                    frames[k] -= 16
                else:
                    main_frame //= 2
            self.subs = []
            # a caller's frame slice passed down must fit below the mem slot of every frame
            self.max_frame_arg = min([main_frame] + frames) + MEM_SLOT
            for i in range(n_subs):
                callees = tuple(j for j in range(i + 1, n_subs) if rng.random() < 0.5)
                args = tuple(self.random_arg() for _ in range(4))
                self.subs.append(_Sub(i, frames[i], args, callees,
                                      max(2, size // rng.choice((2, 3, 4))),
                                      tail_ok and g.sub_tail and rng.random() < 0.5))
        self.main_frame = main_frame
        self.called: set[int] = set()
        self.ldabs = self.cfg.has("ldabs") and n_subs == 0 and g.mem_len > 0

    def random_arg(self) -> Val:
        r = self.rng.random()
        g = self.g
        sizes = [n for n in (8, 16, 24, 32) if n <= self.max_frame_arg]
        if self.cfg.has("stack") and r > 0.85 and sizes:
            return Val(VK.FRAME, self.rng.choice(sizes))
        if r < 0.6 or not self.cfg.has("mem"):
            return SCALAR
        if r < 0.8 or not self.cfg.has("map"):
            return Val(VK.MEM, self.rng.randrange(0, g.mem_len, 8))
        return Val(VK.MAP, g.arr_index, self.rng.randrange(0, g.arr_value, 8))

    def generate(self) -> list[Insn]:
        f = _FnGen(self, "main", self.main_frame, entry_args=None,
                   callees=tuple(range(len(self.subs))), size=self.size,
                   may_tail=self.g.tail_map is not None)
        f.run()
        for s in self.subs:               # callees have higher indices: callers come first
            if s.index not in self.called:
                continue
            self.b.label(("func", s.index))
            _FnGen(self, f"sub{s.index}", s.frame, entry_args=s.args, callees=s.callees,
                   size=s.size, may_tail=s.may_tail).run()
        return self.b.build()


class _Gen:
    """The program set: maps, mem block, entry program, tail-call targets."""

    def __init__(self, rng: random.Random, cfg: GenConfig) -> None:
        self.rng = rng
        self.cfg = cfg
        self.order = cfg.byteorder
        self.used: set[str] = set()
        self.loop_depth = 0
        self.mem_len = cfg.mem_size if cfg.mem_size is not None else \
            rng.choice((64, 128, 256, 256, 512, 1024, 4096, 8200))
        self.mem_len &= ~7
        self.maps: list[MapDef] = []
        self.arr_value = rng.choice((8, 16, 24, 32, 64))
        self.arr_entries = rng.randint(1, 8)
        self.arr_index = self.add_map(MapDef("arr", ARRAY, 4, self.arr_value, self.arr_entries))
        self.hash_key = rng.choice((4, 8))
        self.hash_index = self.add_map(MapDef("hash", HASH, self.hash_key, 16, 4))
        self.hash_keys = [rng.getrandbits(8 * self.hash_key).to_bytes(self.hash_key, self.order)
                          for _ in range(3)]
        self.tail_map: int | None = None
        self.tail_entries = 0
        # Tail calls from subprograms: the frames under the caller stay, so a chain
        # that comes back to a program with local calls would pile up frames (the
        # kernel bounds this by stack size, the interpreter by 8 frames).  When
        # subprograms tail-call, only the entry program has subprograms and no
        # prog array slot leads back to it.
        self.sub_tail = False
        if cfg.has("tail"):
            self.sub_tail = rng.random() < 0.3
            self.tail_entries = rng.randint(1, 6)
            self.tail_map = self.add_map(MapDef("jmp", PROG_ARRAY, 4, 4, self.tail_entries))

    def add_map(self, m: MapDef) -> int:
        self.maps.append(m)
        return len(self.maps) - 1

    def mem_bytes(self) -> bytes:
        rng = self.rng
        style = rng.random()
        if style < 0.3:
            return bytes(rng.getrandbits(8) for _ in range(self.mem_len))
        out = bytearray()
        while len(out) < self.mem_len:
            v = _u64_value(rng)
            out += v.to_bytes(8, self.order)
        return bytes(out[:self.mem_len])

    def seeds(self) -> dict[str, list[tuple[bytes, bytes]]]:
        rng = self.rng
        arr = []
        for i in range(self.arr_entries):
            if rng.random() < 0.6:
                value = b"".join(_u64_value(rng).to_bytes(8, self.order)
                                 for _ in range((self.arr_value + 7) // 8))[:self.arr_value]
                arr.append((i.to_bytes(4, self.order), value))
        hsh = [(k, rng.getrandbits(128).to_bytes(16, self.order))
               for k in self.hash_keys[:rng.randint(0, 2)]]
        return {"arr": arr, "hash": hsh}

    def program(self, name: str, size: int, *, is_target: bool) -> Program:
        rng = self.rng
        n_subs = 0
        if self.cfg.has("call") and self.cfg.max_subprograms:
            n_subs = rng.choice((0, 0, 1, 1, 2, 3))
            n_subs = min(n_subs, self.cfg.max_subprograms, 1 if is_target else 3)
            if is_target and self.sub_tail:
                n_subs = 0
        pg = _ProgGen(self, name, size, n_subs=n_subs)
        insns = pg.generate()
        return make_program(insns, self.order, name, self.maps, file=f"<gen:{name}>")


def generate(seed: int | random.Random = 0, config: GenConfig | None = None) -> Case:
    """A valid, terminating program set with its inputs, from `seed` (or a Random)."""
    cfg = config or GenConfig()
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    g = _Gen(rng, cfg)
    size = cfg.size if cfg.size is not None else rng.randint(5, 30)
    names = ["main"]
    if g.tail_map is not None:
        names += [f"target{i}" for i in range(rng.randint(0, cfg.max_tail_targets))]
        slots = {}
        choices = names[1:] if g.sub_tail else names
        for slot in range(g.tail_entries):
            if choices and rng.random() < 0.7:
                slots[slot] = rng.choice(choices)
        g.maps[g.tail_map].prog_slots = slots
    programs = [g.program("main", size, is_target=False)]
    for n in names[1:]:
        programs.append(g.program(n, max(3, size // 3), is_target=True))
    if g.tail_map is not None and "tail" not in g.used:
        # no tail call was emitted: the prog array (the last map, so no index
        # moves) and the targets are dead weight
        programs = programs[:1]
        del g.maps[g.tail_map]
        programs[0].maps = list(g.maps)
    seed_val = seed if isinstance(seed, int) else None
    for p in programs:
        p.file = f"<gen seed={seed_val}>" if seed_val is not None else "<gen>"
    return Case(programs=programs, maps=g.maps, mem=g.mem_bytes(), map_seeds=g.seeds(),
                byteorder=cfg.byteorder, seed=seed_val, features=frozenset(g.used),
                config=cfg)


# --------------------------------------------------------------------- one function

class _FnGen:
    """Emits one function: prologue, random snippets, the final exit."""

    def __init__(self, pg: _ProgGen, name: str, frame: int, *, entry_args: tuple | None,
                 callees: tuple[int, ...], size: int, may_tail: bool) -> None:
        self.pg = pg
        self.g = pg.g
        self.rng = pg.rng
        self.cfg = pg.cfg
        self.b = pg.b
        self.name = name
        self.frame = frame
        self.entry_args = entry_args
        self.callees = callees
        self.size = size
        self.may_tail = may_tail
        self.reserved: set[int] = set()
        self.incoming: dict[Any, list[_St]] = {}
        self.scopes: list[list[Any]] = [[]]
        self.nlabel = 0
        self.st: _St | None = None
        self.depth = 0           # nesting of sub-blocks (bounded)

    # ------------------------------------------------------------ state helpers
    def new_label(self) -> Any:
        self.nlabel += 1
        return (self.name, self.nlabel)

    def readable(self, *, scalar_only: bool = False) -> list[int]:
        kinds = (VK.SCALAR,) if scalar_only else READABLE
        return [r for r in range(10) if self.st.regs[r] is not None
                and self.st.regs[r].kind in kinds]

    def writable(self) -> list[int]:
        return [r for r in range(10) if r not in self.reserved]

    def pick_dst(self, *, keep_pointers: bool = True) -> int:
        w = self.writable()
        if keep_pointers and self.rng.random() < 0.85:
            plain = [r for r in w if self.st.regs[r] is None or
                     self.st.regs[r].kind in (VK.SCALAR, VK.TAINT)]
            if plain:
                return self.rng.choice(plain)
        return self.rng.choice(w)

    def set(self, r: int, v: Val | None) -> None:
        self.st.regs[r] = v

    def kill_args(self) -> None:
        for r in range(1, 6):
            self.st.regs[r] = None

    def ensure_readable(self, r: int) -> None:
        """Give r a scalar value if it has none we may read (r must be writable)."""
        v = self.st.regs[r]
        if v is None or v.kind not in READABLE:
            self.emit_value(r)

    def emit_value(self, r: int) -> None:
        rng = self.rng
        x = rng.random()
        if x < 0.4:
            self.b.emit(lddw(r, _u64_value(rng)))
        elif x < 0.8:
            self.b.emit(mov(r, imm=_imm(rng)))
        else:
            self.b.emit(mov(r, imm=_imm(rng), wide=False))
        self.set(r, SCALAR)

    def mark_stack(self, off: int, size: int) -> None:
        lo = off + self.frame
        self.st.stk |= ((1 << size) - 1) << lo

    def stack_ready(self, off: int, size: int) -> bool:
        lo = off + self.frame
        m = ((1 << size) - 1) << lo
        return self.st.stk & m == m

    def jump_to(self, insn: Insn, label: Any) -> None:
        self.incoming.setdefault(label, []).append(self.st.copy())
        self.b.jump(insn, label)
        if insn.opcode in (isa.JA, isa.GOTOL):
            self.st = None

    def place(self, label: Any) -> None:
        st = self.st
        for s in self.incoming.pop(label, []):
            st = _meet_st(st, s)
        self.st = st
        self.b.label(label)
        for scope in self.scopes:
            if label in scope:
                scope.remove(label)

    def close_scope(self) -> None:
        scope = self.scopes.pop()
        for label in list(scope):
            self.place(label)

    # ------------------------------------------------------------ the function
    def run(self) -> None:
        b, rng = self.b, self.rng
        self.st = _St([None] * 10, 0)
        self.set(1, Val(VK.MEM, 0))
        b.emit(stx(8, 10, MEM_SLOT, 1))
        self.mark_stack(MEM_SLOT, 8)
        if self.entry_args is None:
            for r in (0, 2, 3, 4, 5, 6, 7, 8, 9):
                self.emit_value(r)
        else:
            for r, v in zip((2, 3, 4, 5), self.entry_args):
                self.set(r, v)
            for r in (0, 6, 7, 8, 9):
                self.emit_value(r)
        self.block(self.size)
        self.close_scope()
        if self.st is None:       # every path already left (cannot happen: we never end on JA)
            self.st = _St([None] * 10, 0)
        if self.rng.random() < 0.85:
            self.observe()
        self.exit(keep=True)

    def observe(self) -> None:
        """Fold every register we may read into r0 (and some into the mem block), so a
        wrong bit anywhere reaches what a diff compares."""
        rng, b = self.rng, self.b
        self.ensure_readable(0)
        regs = [r for r in self.readable() if r != 0]
        rng.shuffle(regs)
        for r in regs:
            b.emit(alu(rng.choice((Alu.ADD, Alu.XOR, Alu.SUB)), 0, src=r))
            if rng.random() < 0.3:
                b.emit(alu(Alu.MUL, 0, imm=rng.choice((3, 5, 0x1003, -7, 0x10001))))
        self.set(0, SCALAR)
        if self.cfg.has("mem") and self.g.mem_len >= 8 and regs and rng.random() < 0.5:
            base, k = self.mem_base()
            for r in regs[:4]:
                pos = rng.randrange(0, self.g.mem_len - 7, 8)
                if -0x8000 <= pos - k <= 0x7FFF and self.st.regs[r] is not None \
                        and self.st.regs[r].kind in READABLE:
                    b.emit(stx(8, base, pos - k, r))
        self.set(0, SCALAR)

    def exit(self, keep: bool = False) -> None:
        v = self.st.regs[0]
        if v is None or v.kind not in READABLE or (not keep and self.rng.random() < 0.2):
            src = self.readable()
            if src and self.rng.random() < 0.5:
                self.b.emit(mov(0, src=self.rng.choice(src)))
            else:
                self.emit_value(0)
            self.set(0, SCALAR)
        self.b.emit(EXIT)
        self.st = None

    # ------------------------------------------------------------ snippets
    def snippets(self) -> list[tuple[float, Any]]:
        cfg = self.cfg
        out: list[tuple[float, Any]] = []
        if cfg.has("alu"):
            out += [(40, self.s_alu), (3, self.s_lddw)]
        if cfg.has("jmp"):
            out += [(7, self.s_open_jump), (3, self.s_if_else), (1, self.s_early_exit)]
        if cfg.has("loop") and self.g.loop_depth < 2 and self.depth < 3:
            free = [r for r in (6, 7, 8, 9) if r not in self.reserved]
            if free:
                out.append((3, self.s_loop))
        if cfg.has("stack"):
            out += [(8, self.s_stack), (2, self.s_stack_ptr)]
            if self.entry_args and any(v.kind == VK.FRAME for v in self.entry_args):
                out.append((6, self.s_frame_arg))
        if cfg.has("mem") and self.g.mem_len:
            out.append((8, self.s_mem))
        if cfg.has("map"):
            out += [(3, self.s_map_direct)]
            if self.depth < 3 and cfg.has("helper"):      # a lookup is a helper call
                out.append((3, self.s_map_lookup))
        if cfg.has("atomic"):
            out.append((5, self.s_atomic))
        if cfg.has("helper"):
            out += [(3, self.s_helper), (2, self.s_map_update)]
        if cfg.has("call") and self.callees:
            out.append((3, self.s_call))
        if cfg.has("tail") and self.may_tail and self.g.tail_map is not None:
            out.append((2, self.s_tail_call))
        if self.pg.ldabs:
            out.append((1, self.s_ldabs))
        if cfg.has("far") and self.depth < 2:
            out.append((1, self.s_far))
        return out

    def block(self, n: int) -> None:
        rng = self.rng
        choices = self.snippets()
        if not choices:
            return
        weights = [w for w, _ in choices]
        fns = [f for _, f in choices]
        for _ in range(n):
            if self.st is None:
                scope = self.scopes[-1]
                if not scope:
                    return
                self.place(rng.choice(scope))
                continue
            if self.scopes[-1] and rng.random() < 0.25:
                self.place(rng.choice(self.scopes[-1]))
                continue
            rng.choices(fns, weights)[0]()

    def sub_block(self, n: int) -> None:
        """A nested block whose forward labels are all placed before it ends."""
        self.scopes.append([])
        self.depth += 1
        self.block(n)
        self.depth -= 1
        self.close_scope()

    # ------------------------------------------------------------ ALU
    def s_alu(self) -> None:
        rng, b = self.rng, self.b
        wide = rng.random() < 0.55
        code = rng.choice(ALU_CODES)
        self.g.used.add("alu")
        dst = self.pick_dst()
        if code == Alu.MOV:
            x = rng.random()
            src_regs = self.readable()
            if x < 0.4 or not src_regs:
                b.emit(mov(dst, imm=_imm(rng), wide=wide))
            elif x < 0.75:
                b.emit(mov(dst, src=rng.choice(src_regs), wide=wide))
            else:                                   # movsx
                widths = (8, 16, 32) if wide else (8, 16)
                b.emit(alu(Alu.MOV, dst, src=rng.choice(src_regs), wide=wide,
                           off=rng.choice(widths)))
            self.set(dst, SCALAR)
            return
        self.ensure_readable(dst)
        if code == Alu.NEG:
            b.emit(alu(Alu.NEG, dst, wide=wide))
        elif code == Alu.END:
            width = rng.choice((16, 32, 64))
            if wide:
                b.emit(Insn(Cls.ALU64 | Alu.END, dst, 0, 0, width))         # bswap
            else:
                b.emit(Insn(Cls.ALU | Alu.END | rng.choice((Src.K, Src.X)), dst, 0, 0, width))
        else:
            off = 1 if code in (Alu.DIV, Alu.MOD) and rng.random() < 0.5 else 0
            src_regs = self.readable()
            if rng.random() < 0.5 and src_regs:
                b.emit(alu(code, dst, src=rng.choice(src_regs), wide=wide, off=off))
            else:
                if code in SHIFT_CODES:
                    imm = rng.choice((0, 1, 7, 8, 15, 16, 31, 32, 63) if wide else
                                     (0, 1, 7, 8, 15, 16, 31))
                    imm = min(imm, 63 if wide else 31)
                    if rng.random() < 0.3:
                        imm = rng.randrange(64 if wide else 32)
                else:
                    imm = _imm(rng)
                    if code in (Alu.DIV, Alu.MOD) and imm == 0:
                        imm = rng.choice((-1, 1, 3, INT32_MIN))
                b.emit(alu(code, dst, imm=imm, wide=wide, off=off))
        self.set(dst, SCALAR)

    def s_lddw(self) -> None:
        dst = self.pick_dst()
        self.b.emit(lddw(dst, _u64_value(self.rng)))
        self.set(dst, SCALAR)

    # ------------------------------------------------------------ jumps
    def cond_insn(self) -> Insn:
        rng = self.rng
        src = self.readable()
        dst = rng.choice(src) if src else None
        if dst is None:
            dst = self.pick_dst()
            self.emit_value(dst)
            src = self.readable()
        code = rng.choice(COND_CODES)
        wide = rng.random() < 0.6
        self.g.used.add("jmp")
        if rng.random() < 0.5:
            return jcond(code, dst, src=rng.choice(src), wide=wide)
        return jcond(code, dst, imm=_imm(rng), wide=wide)

    def s_open_jump(self) -> None:
        label = self.new_label()
        self.jump_to(self.cond_insn(), label)
        self.scopes[-1].append(label)

    def s_if_else(self) -> None:
        rng = self.rng
        els, end = self.new_label(), self.new_label()
        self.jump_to(self.cond_insn(), els)
        self.sub_block(rng.randint(1, 4))
        if self.st is not None:
            self.jump_to(GOTOL if rng.random() < 0.3 else JA, end)
        self.place(els)
        self.sub_block(rng.randint(1, 4))
        self.place(end)

    def s_early_exit(self) -> None:
        label = self.new_label()
        self.jump_to(self.cond_insn(), label)
        self.exit()
        self.place(label)

    def s_far(self) -> None:
        """Jumps over padding sized around short/long branch limits, some staggered."""
        rng, b = self.rng, self.b
        self.g.used.add("far")
        labels = [self.new_label() for _ in range(rng.randint(1, 3))]
        for lab in labels:
            self.jump_to(self.cond_insn(), lab)
        for lab in labels:
            pad = rng.choice(self.cfg.far_pad)
            regs = [r for r in self.writable() if self.st.regs[r] is not None and
                    self.st.regs[r].kind == VK.SCALAR]
            for _ in range(pad):
                if regs:
                    r = rng.choice(regs)
                    b.emit(alu(rng.choice((Alu.ADD, Alu.XOR, Alu.SUB)), r, imm=rng.randint(-9, 9),
                               wide=rng.random() < 0.7))
                    self.set(r, SCALAR)
                else:
                    b.emit(JA)          # goto +0
            self.place(lab)

    def s_loop(self) -> None:
        rng, b = self.rng, self.b
        c = rng.choice([r for r in (6, 7, 8, 9) if r not in self.reserved])
        n = rng.randint(1, self.cfg.max_loop_iters)
        b.emit(mov(c, imm=n, wide=rng.random() < 0.5))
        self.set(c, SCALAR)
        self.reserved.add(c)
        self.g.loop_depth += 1
        entry = self.st.copy()
        top = self.new_label()
        body = rng.randint(1, 6)
        looped = False
        for _ in range(4):
            mark = b.mark()
            self.st = entry.copy()
            b.label(top)
            self.sub_block(body)
            if self.st is None:
                b.rewind(mark)
                continue
            merged = _meet_st(entry, self.st)
            if merged == entry:
                looped = True
                break
            b.rewind(mark)
            entry = merged
        self.g.loop_depth -= 1
        if not looped:
            self.st = entry
            self.reserved.discard(c)
            return
        self.g.used.add("loop")
        wide = rng.random() < 0.5
        if rng.random() < 0.5:
            b.emit(alu(Alu.ADD, c, imm=-1, wide=wide))
        else:
            b.emit(alu(Alu.SUB, c, imm=1, wide=wide))
        cond = jcond(rng.choice((Jmp.JNE, Jmp.JSGT, Jmp.JGT)), c, imm=0, wide=wide)
        b.jump(cond, top)
        self.reserved.discard(c)

    # ------------------------------------------------------------ stack
    def stack_range(self, size: int) -> list[int]:
        """Aligned offsets from r10 for a `size`-byte access that avoid the mem slot."""
        return [o for o in range(-self.frame, MEM_SLOT - size + 1, size)]

    def stack_offset(self, size: int, *, ready: bool) -> int | None:
        offs = self.stack_range(size)
        if ready:
            offs = [o for o in offs if self.stack_ready(o, size)]
        if not offs:
            return None
        if self.rng.random() < 0.3:
            return offs[0] if self.rng.random() < 0.5 else offs[-1]
        return self.rng.choice(offs)

    def store_value(self) -> int | None:
        src = self.readable()
        return self.rng.choice(src) if src else None

    def s_stack(self) -> None:
        rng, b = self.rng, self.b
        size = rng.choice((1, 2, 4, 8))
        load = rng.random() < 0.5
        if load:
            if rng.random() < 0.1 and self.stack_ready(MEM_SLOT, 8):
                dst = self.pick_dst()
                b.emit(ldx(8, dst, 10, MEM_SLOT))
                self.set(dst, Val(VK.MEM, 0))
                return
            off = self.stack_offset(size, ready=True)
            if off is not None:
                dst = self.pick_dst()
                signed = size < 8 and rng.random() < 0.3
                b.emit(ldx(size, dst, 10, off, signed=signed))
                self.set(dst, SCALAR)
                self.g.used.add("stack")
                return
        off = self.stack_offset(size, ready=False)
        if off is None:
            return
        src = self.store_value()
        if src is None or rng.random() < 0.3:
            b.emit(st(size, 10, off, _imm(rng)))
        else:
            b.emit(stx(size, 10, off, src))
        self.mark_stack(off, size)
        self.g.used.add("stack")

    def s_frame_arg(self) -> None:
        """An access to a caller's frame through a pointer argument."""
        have = [r for r in range(10) if self.st.regs[r] is not None
                and self.st.regs[r].kind == VK.FRAME]
        if not have:
            return
        r = self.rng.choice(have)
        self.access(r, 0, self.st.regs[r].a)
        self.g.used.add("stack")

    def s_stack_ptr(self) -> None:
        """rX = r10 - k; then an access through rX (a frame pointer in a register)."""
        rng, b = self.rng, self.b
        size = rng.choice((1, 2, 4, 8))
        offs = self.stack_range(size)
        if not offs:
            return
        target = rng.choice(offs)
        k = rng.choice([o for o in range(-self.frame, 1, 8)])
        p = self.pick_dst()
        b.emit(mov(p, src=10), alu(Alu.ADD, p, imm=k))
        self.set(p, Val(VK.STACK, k))
        if self.stack_ready(target, size) and rng.random() < 0.5:
            dst = self.pick_dst()
            b.emit(ldx(size, dst, p, target - k, signed=size < 8 and rng.random() < 0.3))
            self.set(dst, SCALAR)
        else:
            src = self.store_value()
            if src is None:
                b.emit(st(size, p, target - k, _imm(rng)))
            else:
                b.emit(stx(size, p, target - k, src))
            self.mark_stack(target, size)
        self.g.used.add("stack")

    # ------------------------------------------------------------ mem block and map values
    def mem_base(self) -> tuple[int, int]:
        """(register, k) with the register = mem + k; loads it from the frame if needed."""
        rng, b = self.rng, self.b
        have = [r for r in range(10) if self.st.regs[r] is not None
                and self.st.regs[r].kind == VK.MEM]
        if have and rng.random() < 0.7:
            r = rng.choice(have)
            return r, self.st.regs[r].a
        r = self.pick_dst()
        b.emit(ldx(8, r, 10, MEM_SLOT))
        k = 0
        if rng.random() < 0.4:
            k = rng.randrange(0, self.g.mem_len, 8)
            b.emit(alu(Alu.ADD, r, imm=k))
        self.set(r, Val(VK.MEM, k))
        return r, k

    def map_base(self) -> tuple[int, int, int]:
        """(register, map value size, k): a register pointing k bytes into a map value."""
        rng, b, g = self.rng, self.b, self.g
        have = [r for r in range(10) if self.st.regs[r] is not None
                and self.st.regs[r].kind == VK.MAP]
        if have and rng.random() < 0.7:
            r = rng.choice(have)
            v = self.st.regs[r]
            return r, g.maps[v.a].value_size, v.b
        r = self.pick_dst()
        k = rng.randrange(0, g.arr_value, 8) if rng.random() < 0.5 else 0
        b.emit(lddw(r, (k << 32) | g.arr_index, pseudo=isa.Pseudo.MAP_VALUE))
        self.set(r, Val(VK.MAP, g.arr_index, k))
        self.g.used.add("map")
        return r, g.arr_value, k

    def positions(self, length: int, size: int) -> list[int]:
        """Aligned positions for a `size`-byte access inside [0, length), edges first."""
        last = (length - size) // size * size
        edges = {0, size, last}
        for n in LIMIT_BITS[:5]:
            for v in (2 ** n - size, 2 ** n, 2 ** n - 4, 2 ** n + 4):
                edges.add(v - v % size)
        return sorted(e for e in edges if 0 <= e <= last)

    def access(self, base: int, k: int, length: int) -> None:
        """A load, store or atomic through `base` (= region + k) inside [0, length)."""
        rng, b = self.rng, self.b
        size = rng.choice((1, 2, 4, 8))
        if length < size:
            return
        if rng.random() < 0.4:
            pos = rng.choice(self.positions(length, size))
        else:
            pos = rng.randrange(0, length - size + 1, size)
        off = pos - k
        if not -0x8000 <= off <= 0x7FFF:
            return
        x = rng.random()
        if x < 0.45:
            dst = self.pick_dst()
            b.emit(ldx(size, dst, base, off, signed=size < 8 and rng.random() < 0.3))
            self.set(dst, SCALAR)
        elif x < 0.9:
            src = self.store_value()
            if src is None or rng.random() < 0.3:
                b.emit(st(size, base, off, _imm(rng)))
            else:
                b.emit(stx(size, base, off, src))
        elif self.cfg.has("atomic") and size >= 4:
            self.emit_atomic(size, base, off)

    def s_mem(self) -> None:
        base, k = self.mem_base()
        self.access(base, k, self.g.mem_len)
        self.g.used.add("mem")

    def s_map_direct(self) -> None:
        base, length, k = self.map_base()
        self.access(base, k, length)
        self.g.used.add("map")

    def key_ptr(self, reg: int, key: bytes) -> None:
        """Put `key` in memory and its address in `reg` (mem block, map value or stack)."""
        rng, b = self.rng, self.b
        n = len(key)
        words = [int.from_bytes(key[i:i + 4], self.g.order, signed=True) for i in range(0, n, 4)]
        if self.cfg.stack_keys and rng.random() < 0.5:
            offs = [o for o in self.stack_range(8)]
            if offs:
                off = rng.choice(offs)
                for i, w in enumerate(words):
                    b.emit(st(4, 10, off + 4 * i, w))
                self.mark_stack(off, n)
                b.emit(mov(reg, src=10), alu(Alu.ADD, reg, imm=off))
                self.set(reg, Val(VK.STACK, off))
                return
        if self.g.mem_len >= 8 and (rng.random() < 0.8 or not self.cfg.has("map")):
            pos = rng.randrange(0, self.g.mem_len - 7, 8)
            b.emit(ldx(8, reg, 10, MEM_SLOT))
            for i, w in enumerate(words):
                b.emit(st(4, reg, pos + 4 * i, w))
            b.emit(alu(Alu.ADD, reg, imm=pos))
            self.set(reg, Val(VK.MEM, pos))
            return
        pos = rng.randrange(0, self.g.arr_value - n + 1, 4) if self.g.arr_value >= n else 0
        b.emit(lddw(reg, (pos << 32) | self.g.arr_index, pseudo=isa.Pseudo.MAP_VALUE))
        for i, w in enumerate(words):
            b.emit(st(4, reg, 4 * i, w))
        self.set(reg, Val(VK.MAP, self.g.arr_index, pos))

    def array_key(self) -> bytes:
        rng, g = self.rng, self.g
        x = rng.random()
        if x < 0.75:
            idx = rng.randrange(g.arr_entries)
        elif x < 0.9:
            idx = g.arr_entries + rng.randint(0, 2)
        else:
            idx = rng.choice((M32, 1 << 31))
        return idx.to_bytes(4, g.order)

    def hash_key(self) -> bytes:
        g = self.g
        if self.rng.random() < 0.7:
            return self.rng.choice(g.hash_keys)
        return self.rng.getrandbits(8 * g.hash_key).to_bytes(g.hash_key, g.order)

    def s_map_lookup(self) -> None:
        """r0 = map_lookup_elem(map, key); if r0 == 0 skip; accesses through r0."""
        rng, b, g = self.rng, self.b, self.g
        use_hash = rng.random() < 0.3
        idx = g.hash_index if use_hash else g.arr_index
        key = self.hash_key() if use_hash else self.array_key()
        self.key_ptr(2, key)
        b.emit(lddw(1, idx, pseudo=isa.Pseudo.MAP_FD))
        b.emit(call_helper(MAP_LOOKUP))
        self.kill_args()
        self.g.used.update(("map", "helper"))
        skip = self.new_label()
        self.set(0, SCALAR)                 # the null pointer on the jumping path
        self.jump_to(jcond(Jmp.JEQ, 0, imm=0, wide=rng.random() < 0.8), skip)
        self.set(0, Val(VK.MAP, idx, 0))
        if rng.random() < 0.3:
            r = self.pick_dst()
            b.emit(mov(r, src=0))
            self.set(r, Val(VK.MAP, idx, 0))
        length = g.maps[idx].value_size
        self.scopes.append([])
        self.depth += 1
        for _ in range(rng.randint(1, 4)):
            if self.st is None:
                break
            have = [r for r in range(10) if self.st.regs[r] is not None
                    and self.st.regs[r].kind == VK.MAP and self.st.regs[r].a == idx]
            if have and rng.random() < 0.6:
                r = rng.choice(have)
                self.access(r, self.st.regs[r].b, length)
            else:
                self.block(1)
        self.depth -= 1
        self.close_scope()
        self.place(skip)

    def s_map_update(self) -> None:
        """map_update_elem / map_delete_elem with valid and invalid flags."""
        rng, b, g = self.rng, self.b, self.g
        use_hash = rng.random() < 0.5
        idx = g.hash_index if use_hash else g.arr_index
        key = self.hash_key() if use_hash else self.array_key()
        if use_hash and rng.random() < 0.3:
            self.key_ptr(2, key)
            b.emit(lddw(1, idx, pseudo=isa.Pseudo.MAP_FD), call_helper(MAP_DELETE))
        else:
            vsize = g.maps[idx].value_size
            if g.mem_len < vsize:
                return
            self.key_ptr(2, key)
            pos = rng.randrange(0, g.mem_len - vsize + 1, 8)
            b.emit(ldx(8, 3, 10, MEM_SLOT), alu(Alu.ADD, 3, imm=pos))
            b.emit(lddw(1, idx, pseudo=isa.Pseudo.MAP_FD))
            b.emit(mov(4, imm=rng.choice((0, 0, 1, 2, 3, -1))))
            b.emit(call_helper(MAP_UPDATE))
        self.kill_args()
        self.set(0, SCALAR)
        self.g.used.update(("map", "helper"))

    def s_helper(self) -> None:
        self.b.emit(call_helper(self.rng.choice(PURE_HELPERS)))
        self.kill_args()
        self.set(0, SCALAR)
        self.g.used.add("helper")

    # ------------------------------------------------------------ atomics
    def emit_atomic(self, size: int, base: int, off: int) -> None:
        rng, b = self.rng, self.b
        op = rng.choice(ATOMIC_IMMS)
        fetch = bool(op & Atomic.FETCH)
        cands = self.readable()
        if fetch:
            cands = [r for r in cands if r not in self.reserved]
        if op == Atomic.CMPXCHG:
            if 0 in self.reserved:
                return
            self.ensure_readable(0)
            cands = self.readable()
        if not cands:
            return
        src = rng.choice(cands)
        b.emit(atomic(size, base, off, src, op))
        if op == Atomic.CMPXCHG:
            self.set(0, SCALAR)
        elif fetch:
            self.set(src, SCALAR)
        self.g.used.add("atomic")

    def s_atomic(self) -> None:
        rng = self.rng
        size = rng.choice((4, 8))
        where = rng.random()
        if where < 0.4:
            off = self.stack_offset(size, ready=True)
            if off is not None:
                self.emit_atomic(size, 10, off)
            return
        if where < 0.7 and self.g.mem_len:
            base, k = self.mem_base()
            length = self.g.mem_len
        elif self.cfg.has("map"):
            base, length, k = self.map_base()
        else:
            return
        if length < size:
            return
        pos = rng.choice(self.positions(length, size)) if rng.random() < 0.4 else \
            rng.randrange(0, length - size + 1, size)
        if -0x8000 <= pos - k <= 0x7FFF:
            self.emit_atomic(size, base, pos - k)

    # ------------------------------------------------------------ calls
    def s_call(self) -> None:
        rng, b = self.rng, self.b
        callee = self.pg.subs[rng.choice(self.callees)]
        if any(r in self.reserved for r in range(1, 6)):
            return
        b.emit(ldx(8, 1, 10, MEM_SLOT))
        self.set(1, Val(VK.MEM, 0))
        for r, want in zip((2, 3, 4, 5), callee.args):
            if want.kind == VK.SCALAR:
                src = [s for s in self.readable() if s != r]
                if src and rng.random() < 0.5:
                    b.emit(mov(r, src=rng.choice(src)))
                else:
                    self.emit_value(r)
            elif want.kind == VK.MEM:
                b.emit(ldx(8, r, 10, MEM_SLOT))
                if want.a:
                    b.emit(alu(Alu.ADD, r, imm=want.a))
            elif want.kind == VK.FRAME:
                # r = r10 - k: `want.a` bytes of this frame, all given a value first (the
                # callee may read any of them)
                k = rng.choice(range(-self.frame, MEM_SLOT - want.a + 1, 8))
                for off in range(k, k + want.a, 8):
                    if not self.stack_ready(off, 8):
                        b.emit(st(8, 10, off, _imm(rng)))
                        self.mark_stack(off, 8)
                b.emit(mov(r, src=10), alu(Alu.ADD, r, imm=k))
            else:
                b.emit(lddw(r, (want.b << 32) | want.a, pseudo=isa.Pseudo.MAP_VALUE))
            self.set(r, want if want.kind != VK.FRAME else Val(VK.STACK, 0))
        b.jump(CALL_LOCAL, ("func", callee.index))
        self.pg.called.add(callee.index)
        self.kill_args()
        self.set(0, SCALAR)
        self.g.used.add("call")

    def s_tail_call(self) -> None:
        rng, b, g = self.rng, self.b, self.g
        if any(r in self.reserved for r in (0, 1, 2, 3, 4, 5)):
            return
        n = g.tail_entries
        filled = sorted(g.maps[g.tail_map].prog_slots)
        empty = [i for i in range(n) if i not in filled]
        x = rng.random()
        if x < 0.55 and filled:
            index = rng.choice(filled)
        elif x < 0.7 and empty:
            index = rng.choice(empty)
        elif x < 0.8:
            index = n + rng.randint(0, 3)
        elif x < 0.9:
            index = rng.choice((M32, M64, 1 << 31))
        else:                                       # the kernel reads the index as u32
            index = (1 << 32) + (rng.choice(filled) if filled else 0)
        b.emit(ldx(8, 1, 10, MEM_SLOT))
        b.emit(lddw(2, g.tail_map, pseudo=isa.Pseudo.MAP_FD))
        if 0 <= index <= INT32_MAX and rng.random() < 0.7:
            b.emit(mov(3, imm=index))
        else:
            b.emit(lddw(3, index))
        b.emit(call_helper(TAIL_CALL))
        self.kill_args()
        self.set(0, TAINT)                  # a failed tail call leaves r0 unspecified
        self.g.used.add("tail")

    def s_ldabs(self) -> None:
        """r0 = packet[k] big-endian (LD_ABS) or packet[src + k] (LD_IND)."""
        rng, b = self.rng, self.b
        size = rng.choice((1, 2, 4))
        L = self.g.mem_len
        k = rng.choice((0, 1, L - size, L - size + 1, L, -1, rng.randrange(0, L)))
        if rng.random() < 0.5:
            b.emit(Insn(Cls.LD | Mode.ABS | SIZES[size], 0, 0, 0, k))
        else:
            src = self.pick_dst()
            if src in range(1, 6) or rng.random() < 0.6:
                b.emit(mov(src, imm=rng.randrange(0, L)))
                self.set(src, SCALAR)
            else:
                self.ensure_readable(src)
            b.emit(Insn(Cls.LD | Mode.IND | SIZES[size], 0, src, 0,
                        rng.choice((0, 1, -1, 4, rng.randrange(-8, 8)))))
        self.kill_args()
        self.set(0, SCALAR)
        self.g.used.add("ldabs")


def opcode_coverage(cases: Iterable[Case]) -> set[int]:
    """The opcode bytes a set of cases uses (for coverage checks)."""
    out: set[int] = set()
    for c in cases:
        for p in c.programs:
            out.update(i.opcode for i in p.insns)
    return out
