"""What a backend declares and provides, and the one compile driver they all share.

A backend is a package `backends/<arch>/` with `regs.py` (register map), `enc.py`
(pure encoders), `emit.py` (LIR op -> encoder calls) and `abi.py` (calling
convention, prologue/epilogue, the runner's `RunSpec`, the psABI's relocation
fields).  Its `__init__.py` exports exactly one `TARGET`: a frozen `Target`
record, data only.  `backends/__init__.py` builds the registry from those
records; everything that loops over architectures (CLI help, runner, ELF writer,
fuzz, bench, the differential test matrix) reads the registry, never a name.

What a backend supplies, and nothing else:

- `Target.emitter(ctx)`: an object with `function(f)` (emit one LIR function,
  binding `ctx.funcs[f.index].entry` and `.tail`) and `finish()` (flush anything
  held back and return the runtime routines to append);
- `Target.runspec(backend)`: how the Unicorn runner drives the machine;
- the facts below: caps, ABI, CPU models, rotation rule, emulator and ELF ids.

`compile_lir` below walks the functions, appends the runtime routines, finishes
the buffer (branch relaxation) and builds the function table and relocations,
the same for every backend.  A backend never sees eBPF bytes, only LIR.
"""
from __future__ import annotations

import importlib
import struct
from functools import cached_property
from typing import Any, Callable, NamedTuple, Protocol

from jit.buffer import CodeBuffer
from jit.errors import BpfjitError, EncodingError, UnsupportedError
from jit.lir import (Alu, Atomic, Branch, Bswap, CallHelper, CallLocal, Exit, Jump, LirFunc,
                     LirProgram, Load, LoadAddr, LoadImm, MovSx, Neg, Store, Symbol, SymKind,
                     TailCall, Trunc, Zext)


# ------------------------------------------------------------------ facts

class Caps(NamedTuple):
    """What the machine can do, for the common lowering and the tests."""
    alu32_zext: bool            # a 32-bit ALU op leaves the upper 32 bits zero
    byteorder: str              # "little" or "big"
    word_bits: int              # 64 or 32 (native register width)
    hw_div: bool = True         # a hardware divide exists (else a software routine)
    # where an operand's encoding changes form, in one unit: n means the form changes
    # at magnitude 2^n (imm8 -> 7 and 8, imm12 -> 12, simm16 -> 15, uimm16 -> 16 ...);
    # the differential tests sweep +-2^n (and +-2^n +- 1) around each of these
    imm_bits: tuple[int, ...] = ()
    branch_reach: int = 0       # bytes the shortest conditional branch reaches (forward)


class AbiSpec(NamedTuple):
    """Calling-convention facts the frame planner and the runner need."""
    word: int                   # bytes per saved register
    stack_align: int            # sp alignment at a call
    incoming: int               # bytes the call instruction pushes (x86: 8)
    arg_regs: tuple             # native argument registers, in order (names)
    ret_regs: tuple             # native return registers
    callee_saved: tuple         # names


class Cpu(NamedTuple):
    """One CPU model a target can compile for (the first of `Target.cpus` is the default)."""
    name: str
    caps: dict = {}                            # Caps fields this model changes (hw_div=False)
    uc_cpu: str | None = None                  # Unicorn CPU model constant, by name
    note: str = ""                             # for --help


class Emu(NamedTuple):
    """Unicorn and capstone ids, by name: resolved only when something runs or
    disassembles, so that compiling imports neither."""
    uc_arch: str                # "UC_ARCH_X86"
    uc_mode: tuple[str, ...]    # or-ed: ("UC_MODE_MIPS64", "UC_MODE_BIG_ENDIAN")
    cs_arch: str                # "CS_ARCH_X86"
    cs_mode: tuple[str, ...]
    regs_module: str            # "x86_const": unicorn.<module> holds the register ids
    reg_prefix: str             # "UC_X86_REG_": prefix + capstone's register name, upper-cased
    pc: str                     # register names (without the prefix)
    sp: str


def _consts(module: str, names: tuple[str, ...]) -> int:
    mod = importlib.import_module(module)
    value = 0
    for n in names:
        value |= getattr(mod, n)
    return value


class Field(NamedTuple):
    """Where a relocated value lives in the code, as the psABI relocates it."""
    name: str
    read: Callable[["CodeView", int], int]          # the value the field holds (signed where
    write: Callable[["CodeView", int, int], None]   # the machine sign-extends it)
    split: bool = False         # holds one piece of an address (movw/movt, %hi/%lo ...)


class Rel(NamedTuple):
    """One reference kind of a backend: its psABI relocation type and field."""
    rtype: int                  # R_X86_64_*, R_ARM_*, R_MIPS_*, ...
    field: Field
    shift: int = 0              # a split field holds bits [shift, shift+16) of S + A
    pcrel: bool = False         # the field holds S + A - P
    name: str = ""              # the psABI's name (as readelf prints it)


class ElfSpec(NamedTuple):
    """What `compile --format elf` writes for this target."""
    elfclass: int               # 32 or 64
    machine: int                # e_machine
    flags: int                  # e_flags
    rela: bool                  # RELA (addends in the relocation) or REL (in the field)
    relocs: dict                # Reloc.kind -> Rel
    # r_info of a 64-bit relocation where the psABI does not use ELF64_R_INFO
    # (MIPS64): (symbol index, type, byte order) -> the 8 bytes
    r_info: Callable[[int, int, str], bytes] | None = None
    # e_flags bits we state that GNU as keeps elsewhere (ARM: the float ABI, which gas
    # puts in .ARM.attributes of a .o and ld moves into e_flags)
    flags_beyond_gas: int = 0


class CodeView:
    """Code being relocated, with word access in the target's byte order."""

    def __init__(self, code: bytes, order: str) -> None:
        self.data = bytearray(code)
        self.e = "<" if order == "little" else ">"

    def get(self, off: int, fmt: str) -> int:
        return struct.unpack_from(self.e + fmt, self.data, off)[0]

    def put(self, off: int, fmt: str, v: int) -> None:
        struct.pack_into(self.e + fmt, self.data, off, v)


def sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


DATA32 = Field("data32", lambda c, off: c.get(off, "I"),
               lambda c, off, v: c.put(off, "I", v & 0xFFFF_FFFF))
DATA64 = Field("data64", lambda c, off: c.get(off, "Q"),
               lambda c, off, v: c.put(off, "Q", v & (1 << 64) - 1))


class Toolchain(NamedTuple):
    """The target's outside tools, for the oracles, the platform-ABI runs and the bench
    anchors: what a user of the target builds, assembles, links and runs code with."""
    triple: str                     # GNU triple, the prefix of binutils/gcc ("arm-linux-gnueabihf")
    as_flags: tuple[str, ...] = ()  # GNU as flags for this machine and byte order
    as_prelude: str = ""            # directives before assembler text (syntax, noreorder)
    llvm_mc: tuple[str, ...] = ()   # llvm-mc-19 flags for the same machine
    keystone: tuple[str, ...] = ()  # keystone arch and mode constants, by name (oracle)
    clang: tuple[str, ...] = ()     # clang flags to compile C for the same machine
    gcc: str = ""                   # the cross gcc's prefix, where not `triple`
    gcc_flags: tuple[str, ...] = () # the cross gcc's flags (byte order, ABI)
    ld_flags: tuple[str, ...] = ()  # GNU ld flags (emulation for a non-default byte order)
    objdump_flags: tuple[str, ...] = ()
    qemu: str | None = None         # qemu-user binary that runs its Linux executables
    host: tuple[str, ...] = ()      # platform.machine() names of a host that runs it natively
    # `readelf -h` wording of this target's objects: (class, data, machine, flags)
    readelf: tuple[str, str, str, str] = ("", "", "", "")

    def binutil(self, what: str) -> str:
        return f"{self.triple}-{what}"

    def cc(self) -> str:
        return f"{self.gcc or self.triple}-gcc"


class Rotation(NamedTuple):
    """Register-map rotation for tests: eBPF r0-r9 move along a ring of homes so that
    register-specific encoder mistakes show.  Calls pin r0-r5 to the C ABI, so a
    program with calls is either refused or compiled with the standard map."""
    with_calls: str             # "refuse" (UnsupportedError) or "ignore" (standard map)
    ring: int = 10              # rotate=k and rotate=k+ring give the same map


class RunSpec(Protocol):
    """How the Unicorn runner drives this machine (all methods take a Uc instance)."""
    uc_arch: int
    uc_mode: int
    uc_cpu: int | None
    cs_arch: int
    cs_mode: int
    pc_reg: int
    sp_reg: int

    def uc_reg(self, name: str) -> int | None:
        """The Unicorn id of a register named as capstone names it (None: unknown)."""

    def helper_slot(self) -> bytes:
        """Machine code of one trampoline slot: returns to the caller (the hook runs first)."""

    def enter(self, uc: Any, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        """Set up a call of `entry` with eBPF r1/r2, r10 = `fp` and a return to `sentinel`;
        returns sp."""

    def helper_args(self, uc: Any) -> tuple:
        """eBPF r1..r5 as a helper trampoline sees them (read per the C ABI)."""

    def set_return(self, uc: Any, value: int) -> None:
        """Write a helper's 64-bit result where the C ABI returns it."""

    def result(self, uc: Any) -> int:
        """eBPF r0 when the program returned to the sentinel."""

    def enter_call(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """Set up a call of the eBPF function at `entry` as a bpf-to-bpf call would enter
        it, with eBPF r1..r5 = args and r10 = `fp`, returning to `sentinel`; returns sp.
        The runner uses it for helpers that call back into the program (bpf_loop)."""

    def enter_c(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int) -> int:
        """Set up a call of the C function at `entry` per the platform ABI (word-sized
        integer arguments in registers), returning to `sentinel`; returns sp.  The bench
        runs clang's code for the same kernels through it."""

    # Optional: trap_address(uc, native) -> int | None, the eBPF address of a wild access
    # the backend's own check trapped at `native` (an address its machine cannot form).

    def frame_pointer(self, uc: Any) -> int:
        """eBPF r10 of the function whose helper call is being served (read in the
        helper trampoline)."""


class EmuIds:
    """The emulator ids of a RunSpec, from the target's `Emu` names (a base class for
    each backend's RunSpec; `emu` and `cpu_model` are set by the subclass)."""
    emu: Emu
    cpu_model: str | None = None

    @cached_property
    def uc_arch(self) -> int:
        return _consts("unicorn", (self.emu.uc_arch,))

    @cached_property
    def uc_mode(self) -> int:
        return _consts("unicorn", self.emu.uc_mode)

    @cached_property
    def uc_cpu(self) -> int | None:
        if self.cpu_model is None:
            return None
        return _consts("unicorn." + self.emu.regs_module, (self.cpu_model,))

    @cached_property
    def cs_arch(self) -> int:
        return _consts("capstone", (self.emu.cs_arch,))

    @cached_property
    def cs_mode(self) -> int:
        return _consts("capstone", self.emu.cs_mode)

    @cached_property
    def pc_reg(self) -> int:
        return _consts("unicorn." + self.emu.regs_module, (self.emu.reg_prefix + self.emu.pc,))

    @cached_property
    def sp_reg(self) -> int:
        return _consts("unicorn." + self.emu.regs_module, (self.emu.reg_prefix + self.emu.sp,))

    def uc_reg(self, name: str) -> int | None:
        mod = importlib.import_module("unicorn." + self.emu.regs_module)
        return getattr(mod, self.emu.reg_prefix + name.upper(), None)


# ------------------------------------------------------------------ what a compile makes

class Reloc(NamedTuple):
    """A place in the code that refers to a symbol (for ELF output)."""
    offset: int
    kind: str                   # a key of the target's ElfSpec.relocs
    sym: Symbol


class NativeFunc(NamedTuple):
    name: str
    offset: int                 # entry
    size: int
    tail_entry: int             # where a tail call into this (entry) function lands
    start_pc: int


class Compiled(NamedTuple):
    """A backend's output for one program, before `jit.image.Image` wraps it."""
    code: bytes
    base: int
    funcs: list                 # NativeFunc, entry first
    pc_map: list                # sorted (native offset, eBPF pc)
    relocs: list                # Reloc, by offset
    passes: int                 # layout passes the code buffer made
    runtime: list               # (name, offset, size) of backend runtime routines


class FuncLabels(NamedTuple):
    entry: int                  # where calls to the function land
    tail: int                   # where a tail call into it lands (the emitter binds both)


class EmitContext:
    """Everything one compile gives a backend's emitter."""

    def __init__(self, buf: CodeBuffer, lir: LirProgram, link: Callable[[Symbol], int],
                 base: int, caps: Caps, cpu: str, rotate: int, funcs: list) -> None:
        self.buf = buf
        self.lir = lir
        self.link = link                # symbol -> run-time address
        self.base = base                # load address of the code
        self.caps = caps
        self.cpu = cpu
        self.rotate = rotate            # 0 unless a test rotates the register map
        self.funcs = funcs              # FuncLabels per function, made before any is emitted
        # relocations, resolved once the layout is final:
        self.relocs: list = []          # (label, delta, kind, sym): at label + delta
        self.sites: list = []           # ([address], delta, kind, sym): the address a fixed
        #                                 hole's encoder saw

    def reloc(self, kind: str, sym: Symbol, delta: int = 0) -> None:
        """A relocation at the current position + delta."""
        label = self.buf.new_label()
        self.buf.bind(label)
        self.relocs.append((label, delta, kind, sym))


class Emitter(Protocol):
    def function(self, f: LirFunc) -> None:
        """Emit one function, binding ctx.funcs[f.index].entry and .tail."""

    def finish(self) -> list:
        """Flush what is held back; the runtime routines to append, as
        (name, label their callers branch to, emit())."""


def lazy(module: str, name: str) -> Callable:
    """`module.name`, imported on the first call: a Target names its emitter this way so
    that reading the registry (--help, the CLI's choices) imports no instruction selection."""
    def make(*args, **kw):
        return getattr(importlib.import_module(module), name)(*args, **kw)
    make.__qualname__ = f"lazy({module}.{name})"
    return make


# ------------------------------------------------------------------ the Target record

class Target(NamedTuple):
    """One architecture, as data.  `backends/<arch>/__init__.py` exports one."""
    name: str                       # canonical: "x86_64"
    summary: str                    # one line for --help ("x86-64, System V")
    caps: Caps                      # of the default CPU
    abi: AbiSpec
    emu: Emu
    elf: ElfSpec
    emitter: Callable[[EmitContext], Emitter]
    runspec: Callable[["Backend"], RunSpec]
    aliases: tuple[str, ...] = ()
    # several targets sharing a name resolved by the object's byte order ("mips")
    order_alias: str | None = None
    cpus: tuple[Cpu, ...] = ()      # the first is the default; () = no --cpu
    rotation: Rotation | None = None
    insn_align: int = 4             # bytes a disassembler steps over undecodable code by
    tools: Toolchain | None = None

    @property
    def byteorder(self) -> str:
        return self.caps.byteorder

    def cpu(self, name: str | None) -> Cpu | None:
        """The CPU model `name` (None: the default); an error naming the known ones."""
        if not self.cpus:
            if name is not None:
                raise BpfjitError(f"--cpu does not apply to {self.name} (it has one model)")
            return None
        if name is None:
            return self.cpus[0]
        for c in self.cpus:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.cpus)
        raise UnsupportedError(f"{self.name}: unknown cpu {name!r} (known: {known})")

    def make(self, cpu: str | None = None, rotate: int = 0) -> "Backend":
        return Backend(self, cpu, rotate)


# ------------------------------------------------------------------ a configured backend

# LIR op type -> the emitter method for it, by name.  "Pure" ops' code depends on their
# operands only (an emitter may memoise it by the op's fields); control ops place labels,
# branches or fixed-size holes in the buffer.
PURE_OPS = {Alu: "emit_alu", Neg: "emit_neg", MovSx: "emit_movsx", Zext: "emit_zext",
            Bswap: "emit_bswap", Trunc: "emit_trunc", LoadImm: "emit_load_imm",
            Load: "emit_load", Store: "emit_store", Atomic: "emit_atomic"}
CONTROL_OPS = {Branch: "emit_branch", Jump: "emit_jump", Exit: "emit_exit",
               CallHelper: "emit_call_helper", CallLocal: "emit_call_local",
               LoadAddr: "emit_load_addr", TailCall: "emit_tail_call"}


def bind_ops(emitter: object, table: dict) -> dict:
    """op type -> the emitter's bound method, from PURE_OPS or CONTROL_OPS."""
    return {t: getattr(emitter, name) for t, name in table.items()}


def c_called(lir: LirProgram) -> frozenset[int]:
    """Indices of the functions C calls: the entry, and every function whose address the
    program takes (a helper's callback).  They return r0 per the C ABI; a bpf-to-bpf
    callee need not."""
    return frozenset({0} | {op.sym.index for f in lir.funcs for op in f.ops
                            if type(op) is LoadAddr and op.sym.kind == SymKind.FUNC})


def call_free(lir: LirProgram) -> bool:
    """No helper, local or tail calls, and no function addresses: rotation is safe."""
    return not any(type(op) in (CallHelper, CallLocal, TailCall)
                   or (type(op) is LoadAddr and op.sym.kind == SymKind.FUNC)
                   for f in lir.funcs for op in f.ops)


class Backend:
    """A target with its options chosen: what `backends.get` returns and an Image keeps."""

    def __init__(self, target: Target, cpu: str | None = None, rotate: int = 0) -> None:
        if not isinstance(rotate, int):
            raise BpfjitError(f"{target.name}: rotate must be an integer, not {rotate!r}")
        self.target = target
        self.name = target.name
        model = target.cpu(cpu)
        self.cpu = model.name if model is not None else ""
        self.cpu_model = model
        self.caps = target.caps._replace(**model.caps) if model is not None else target.caps
        self.abi = target.abi
        self.rotate = rotate
        self._run: RunSpec | None = None

    @property
    def run(self) -> RunSpec:
        if self._run is None:
            self._run = self.target.runspec(self)
        return self._run

    def compile(self, lir: LirProgram, *, link: Callable[[Symbol], int], base: int,
                options: dict | None = None) -> Compiled:
        """Emit machine code for `lir` loaded at `base`; `link` gives symbol addresses.
        `options` may carry `rotate` for this compile (tests of the emitter alone; a run
        follows the backend's own rotation)."""
        rotate = (options or {}).get("rotate", self.rotate) or 0
        return compile_lir(self.target, lir, link=link, base=base, caps=self.caps,
                           cpu=self.cpu, rotate=self.rotation_for(lir, rotate))

    def rotation_for(self, lir: LirProgram, rotate: int) -> int:
        """The rotation this program is compiled with (the target's rule for calls)."""
        rule = self.target.rotation
        if not rotate:
            return 0
        if rule is None:
            raise UnsupportedError(f"{self.name}: register rotation is not supported")
        if rotate % rule.ring == 0 or call_free(lir):
            return rotate
        if rule.with_calls == "ignore":
            return 0
        raise UnsupportedError(f"{self.name}: a rotated register map applies to call-free "
                               "programs only (calls pin arguments, the result and the "
                               "preserved registers)")


def compile_lir(target: Target, lir: LirProgram, *, link: Callable[[Symbol], int], base: int,
                caps: Caps, cpu: str, rotate: int) -> Compiled:
    """The one compile driver: every function, then the runtime routines, then layout."""
    buf = CodeBuffer(caps.byteorder)
    buf.reserve_labels(lir.n_labels)
    funcs = [FuncLabels(buf.new_label(), buf.new_label()) for _ in lir.funcs]
    ctx = EmitContext(buf, lir, link, base, caps, cpu, rotate, funcs)
    em = target.emitter(ctx)
    try:
        for f in lir.funcs:
            em.function(f)
        routines = []
        for name, label, emit in em.finish():
            buf.bind(label)
            buf.pc = -1
            emit()
            end = buf.new_label()
            buf.bind(end)
            routines.append((name, label, end))
        asm = buf.finish(base)
    except EncodingError as e:
        if e.pc is None and buf.pc >= 0:
            e.pc = buf.pc
        raise
    at = asm.labels
    starts = [at[fl.entry] for fl in funcs]
    code_end = at[routines[0][1]] if routines else len(asm.code)
    ends = starts[1:] + [code_end]
    native = [NativeFunc(f.name, starts[i], ends[i] - starts[i], at.get(funcs[i].tail, starts[i]),
                         f.start_pc) for i, f in enumerate(lir.funcs)]
    relocs = [Reloc(at[label] + delta, kind, sym) for label, delta, kind, sym in ctx.relocs]
    relocs += [Reloc(site[0] - base + delta, kind, sym) for site, delta, kind, sym in ctx.sites]
    relocs.sort(key=lambda r: r.offset)
    runtime = [(name, at[a], at[b] - at[a]) for name, a, b in routines]
    return Compiled(asm.code, base, native, asm.pc_map, relocs, asm.passes, runtime)
