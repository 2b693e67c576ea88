"""Differential checking for tests: interpreter vs a backend, through the whole pipeline.

`check_program` runs a Program on the interpreter and on a backend with the
same inputs and asserts they agree on r0, every compared region, the helper
calls and the fault; on failure the message carries the first difference and
the native listing around the eBPF pc.  `check_packets` does the same for one
program over many packets, compiling it once (`jit.session.Session`).

`Batch` is the one program builder and result writer of the differential
matrix (tests/test_matrix.py) and of the target-specific files
(tests/test_<arch>_specific.py): a straight-line program that runs many cases
and stores their results into the --mem block through a cursor, compared once.
"""
from __future__ import annotations

from typing import NamedTuple

from jit import driver, isa
from jit.isa import LDDW, Alu, Cls, Insn, Mode, Src
from jit.program import Object, Program, from_bytecode

M64 = (1 << 64) - 1


def program(insns, *, order: str = "little", maps=None, name: str = "main") -> Program:
    """A Program from Insn objects (or assembler text)."""
    if isinstance(insns, str):
        from jit.asm import assemble
        insns = assemble(insns)
    prog = from_bytecode(isa.encode(list(insns), order), byteorder=order, name=name)
    if maps:
        prog.maps = list(maps)
    return prog


def check_program(prog: Program, arch: str, *, obj: Object | None = None, mem: bytes | None = None,
                  packet: bytes | None = None, ctx: bytes | None = None, helpers=None,
                  max_insns: int = 100_000, cpu: str | None = None, harden: bool = False,
                  options: dict | None = None, map_seeds=None):
    """Assert that `arch` agrees with the interpreter; returns the interpreter's Result.

    The interpreter's result for a one-program object without maps is kept for the next
    few checks (the matrix runs each program on every target in turn; what the
    interpreter does depends on neither the target, nor harden, nor the options)."""
    # the matrix tests the encoders: a branch or a division guard that value ranges
    # decide on its constant operands must still be emitted and run
    options = {"no_range_facts": True, **(options or {})}
    key = None
    if obj is None and not prog.maps and not map_seeds and isinstance(helpers, (str, type(None))):
        key = (prog.byteorder, tuple(prog.insns), mem, packet, ctx, helpers, max_insns)
    obj = obj or Object(file=prog.file, programs=[prog], maps=prog.maps, byteorder=prog.byteorder)
    inputs = driver.Inputs(mem=mem, packet=packet, ctx=ctx, helpers=helpers, max_insns=max_insns,
                           map_seeds=map_seeds or {})
    kept = _REFS.get(key) if key is not None else None
    if kept is not None:
        got = driver.run(obj, prog, arch, inputs, cpu=cpu, harden=harden, options=options)
        if driver.first_difference(kept[1], driver.comparable(got)) is None:
            return kept[0]
    # the whole diff (again, on a difference: its message carries the native listing)
    ref, divs = driver.diff(obj, prog, [arch], inputs, cpu=cpu, harden=harden, options=options)
    if divs:
        raise AssertionError(_divergence(divs[0]))
    if key is not None:
        _REFS[key] = (ref, driver.comparable(ref))
        while len(_REFS) > KEEP_REFS:
            del _REFS[next(iter(_REFS))]
    return ref


_REFS: dict = {}            # check_program's kept interpreter results, oldest first
KEEP_REFS = 16


def check_packets(obj: Object, prog: Program, arch: str, packets: dict, *, cpu: str | None = None,
                  short: tuple = ()) -> int:
    """`prog` on every packet (fresh maps each), compiled once per engine; returns how many
    ran.  A packet the kernel's test run refuses is skipped; any other refusal to run must
    be of a packet named in `short`."""
    from jit.contexts import InputRefused
    from jit.errors import BpfjitError
    from jit.session import Session
    session = Session(obj, prog, [arch], cpu=cpu)
    session.engine(arch).prepared()             # compiled once; a compile error fails here
    ran = 0
    for pname, frame in packets.items():
        try:
            _, divs = session.diff(driver.Inputs(packet=frame), carry=False)
        except InputRefused:
            continue
        except BpfjitError as e:
            assert pname in short, f"{prog.name} x packet {pname}: {e}"
            continue
        if divs:
            raise AssertionError(f"{prog.name} x packet {pname}: {_divergence(divs[0])}")
        ran += 1
    return ran


def _divergence(d) -> str:
    return (f"{d.arch} diverges from the interpreter: {d.what}: expected "
            f"{_show(d.expected)}, got {_show(d.got)} (pc {d.pc})\n{d.listing}")


def _show(v):
    return f"0x{v:x}" if isinstance(v, int) else repr(v)


# ------------------------------------------------------------------ where a check runs

class Config(NamedTuple):
    """One target and CPU model the matrix runs on (cpu None: the target's default)."""
    name: str
    cpu: str | None
    order: str
    caps: object                    # the Caps of this CPU model

    @property
    def id(self) -> str:
        return self.name if self.cpu is None else f"{self.name}-{self.cpu}"


def configs(names=None) -> list[Config]:
    """Every registered target (or those named), then each extra CPU model of it."""
    import backends
    out = []
    for t in backends.targets():
        if names is not None and t.name not in names:
            continue
        for i, c in enumerate(t.cpus or (None,)):
            be = backends.get(t.name, cpu=c.name if c else None)
            out.append(Config(t.name, c.name if i and c else None, t.byteorder, be.caps))
    return out


def magnitudes(imm_bits, bits: int = 32) -> list[int]:
    """+-2^n and +-2^n +- 1 for every n of caps.imm_bits, kept within a signed `bits` value."""
    out = set()
    for n in imm_bits:
        for v in (1 << n, -(1 << n)):
            out.update(x for x in (v - 1, v, v + 1) if -(1 << (bits - 1)) <= x < 1 << (bits - 1))
    return sorted(out)


# ------------------------------------------------------------------ the builder

def I(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
    return Insn(opcode, dst, src, off, imm)


def lddw(dst: int, value: int) -> Insn:
    return I(LDDW, dst, 0, 0, value & M64)


def alu(width: int, op: int, dst: int, src: int | None = None, imm: int = 0,
        off: int = 0) -> Insn:
    """ALU64 (width 64) or ALU (32): the register form, or the immediate form if src is None."""
    cls = Cls.ALU64 if width == 64 else Cls.ALU
    if src is None:
        return I(cls | op | Src.K, dst, 0, off, imm)
    return I(cls | op | Src.X, dst, src, off, 0)


def mov(dst: int, src: int | None = None, imm: int = 0) -> Insn:
    return alu(64, Alu.MOV, dst, src, imm)


def jmp(width: int, cond: int, a: int, b: int | None = None, imm: int = 0, off: int = 0) -> Insn:
    cls = Cls.JMP if width == 64 else Cls.JMP32
    if b is None:
        return I(cls | cond | Src.K, a, 0, off, imm)
    return I(cls | cond | Src.X, a, b, off, 0)


def ldx(size: int, dst: int, base: int, off: int, signed: bool = False) -> Insn:
    """size in bytes (1, 2, 4, 8); signed: LDSX."""
    return I(Cls.LDX | (Mode.MEMSX if signed else Mode.MEM) | isa.BYTES_SIZE[size], dst, base, off)


def stx(size: int, base: int, src: int, off: int) -> Insn:
    return I(Cls.STX | Mode.MEM | isa.BYTES_SIZE[size], base, src, off)


def st(size: int, base: int, off: int, imm: int) -> Insn:
    return I(Cls.ST | Mode.MEM | isa.BYTES_SIZE[size], base, 0, off, imm)


def atomic(size: int, base: int, src: int, off: int, aop: int) -> Insn:
    return I(Cls.STX | Mode.ATOMIC | isa.BYTES_SIZE[size], base, src, off, aop)


def call_helper(hid: int) -> Insn:
    return I(isa.CALL, 0, 0, 0, hid)


EXIT = I(isa.EXIT)
REGS = range(10)
DATA = 512                  # pattern bytes at the start of the --mem block
RESULTS = -8                # r10-8: the cursor into the results area
MEMBASE = -16               # r10-16: the --mem block's address
PATTERN = bytes((0x81 + 37 * i) & 0xFF for i in range(DATA))    # no zero byte, all distinct


class CallTo(NamedTuple):
    """A bpf-to-bpf call to function `k` of `link`, patched with its offset."""
    k: int


def link(*funcs) -> list[Insn]:
    """Functions laid out one after the other, CallTo(k) resolved to pc-relative calls."""
    starts, pc = [], 0
    for f in funcs:
        starts.append(pc)
        pc += sum(1 if isinstance(i, CallTo) else i.slots for i in f)
    out, pc = [], 0
    for f in funcs:
        for i in f:
            if isinstance(i, CallTo):
                i = I(isa.CALL, 0, isa.CallKind.LOCAL, 0, starts[i.k] - pc - 1)
            out.append(i)
            pc += i.slots
    return out


class Batch:
    """A straight-line program running many cases, storing results into --mem.

    --mem: DATA pattern bytes (what loads and atomics read), then the results,
    written through the cursor kept at r10-8 (`extra` more bytes after them for
    cases that need room).  Every register starts distinct, so a clobbered
    bystander shows in a dump; a program is compared once, as a whole.
    """

    def __init__(self, extra: int = 0) -> None:
        self.insns: list = [stx(8, 10, 1, MEMBASE), alu(64, Alu.ADD, 1, imm=DATA),
                            stx(8, 10, 1, RESULTS)]
        self.insns += [lddw(r, 0x1111_1111_1111_1111 * (r + 1) ^ 0x0123_4567_89AB_CDEF)
                       for r in REGS]
        self.out = 0                # bytes of results so far
        self.extra = extra

    def add(self, *insns: Insn) -> None:
        self.insns.extend(insns)

    def cursor(self, t: int) -> None:
        """t = the result cursor."""
        self.add(ldx(8, t, 10, RESULTS))

    def advance(self, t: int, n: int) -> None:
        """cursor += n (t holds the cursor)."""
        self.add(alu(64, Alu.ADD, t, imm=n), stx(8, 10, t, RESULTS))
        self.out += n

    def dump(self, regs, keep=(), size: int = 8) -> None:
        """Store `regs` (`size` bytes each) as the next results, through a register
        outside regs and keep."""
        regs = list(regs)
        t = next(r for r in REGS if r not in regs and r not in keep)
        self.cursor(t)
        for i, r in enumerate(regs):
            self.add(stx(size, t, r, 8 * i))
        self.advance(t, 8 * len(regs))

    def dump_all_but(self, *keep: int) -> None:
        """Store every register except one not in `keep` (which holds the cursor)."""
        t = next(r for r in REGS if r not in keep)
        self.dump([r for r in REGS if r != t], keep=[r for r in REGS if r != t])

    def taken(self, jump: Insn, keep) -> None:
        """One result byte: 0 if `jump` is taken, 1 if it falls through."""
        t = next(r for r in REGS if r not in keep)
        self.cursor(t)
        self.add(jump._replace(off=1), st(1, t, 0, 1))
        self.advance(t, 1)

    def data_ptr(self, t: int, at: int) -> None:
        """t = the address of byte `at` of the --mem block."""
        self.add(ldx(8, t, 10, MEMBASE), alu(64, Alu.ADD, t, imm=at))

    def program(self, order: str = "little", *, maps=None) -> Program:
        return program(self.insns + [EXIT], order=order, maps=maps)

    def mem(self) -> bytes:
        return PATTERN + bytes(self.out + 8 + self.extra)

    def check(self, cfg: Config, *, maps=None, **kw):
        kw.setdefault("max_insns", 1_000_000)
        return check_program(self.program(cfg.order, maps=maps), cfg.name, mem=self.mem(),
                             cpu=cfg.cpu, **kw)


def check(cfg: Config, insns, **kw):
    """A program of `insns` on one configuration (the target's byte order)."""
    maps = kw.pop("maps", None)
    return check_program(program(insns, order=cfg.order, maps=maps), cfg.name, cpu=cfg.cpu, **kw)
