"""The pipeline end to end, as a Python API: load, check, compile, run, diff.

    load ──▶ Program ──analyse──▶ Facts ──lower──▶ LIR ──backend──▶ Image ──run──▶ Result
                 └──────────────── interpret (reference) ──────────────────────────┘

This is the only module of `jit/` (with cli.py) that imports backends.  It
owns the choices that join stages: which helper set, which target a by-order name picks,
where code is loaded, how prog arrays point at native code, what a diff
compares.  The CLI is a thin layer over these functions.

Each stage is imported where it is first used (`# local: start-up`): every CLI
command imports this module, and each loads only the stages it runs (`disasm`
no analysis, `check` no backend, `compile` no interpreter or emulator).
"""
from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from jit import memory as M
from jit.errors import BpfjitError, ElfError, MemoryFault, UnsupportedError
from jit.image import Image
from jit.lir import Symbol, SymKind
from jit.maps import BPF_MAP_TYPE_PROG_ARRAY
from jit.program import Object, Program, from_bytecode

INTERP = "interp"
MAX_IMAGE = 64 << 20               # bytes of machine code one program may become
MAX_CODE_SPACE = 0x1000_0000       # CODE_BASE .. NATIVE_STACK_BASE


@contextlib.contextmanager
def _no_gc():
    """The pipeline builds millions of small immutable objects and no cycles: the
    cyclic collector only slows it down (about a quarter of compile time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# ------------------------------------------------------------------ loading

def load(source: str | bytes, *, program: str | None = None, section: str | None = None,
         byteorder: str = "little", file: str | None = None) -> tuple[Object, Program]:
    """Load an ELF object or raw bytecode; returns the object and the chosen program."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), file or "<bytes>"
    else:
        name = file or source
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise BpfjitError(f"cannot read: {e.strerror}", file=name) from None
    with _no_gc():
        return _load(data, name, program, section, byteorder)


def _load(data: bytes, name: str, program: str | None, section: str | None,
          byteorder: str) -> tuple[Object, Program]:
    if data[:4] == b"\x7fELF":
        from jit import elf  # local: start-up (module doc)
        obj = elf.load(data, file=name)
    else:
        if len(data) % 8 or not data:
            raise ElfError(f"not an ELF object, and not raw bytecode ({len(data)} bytes is not "
                           "a non-zero multiple of 8)", file=name)
        prog = from_bytecode(data, byteorder=byteorder, file=name,
                             name=program or "main")
        obj = Object(file=name, programs=[prog], maps=[], byteorder=byteorder)
        return obj, prog
    return obj, obj.program(program, section)


# ------------------------------------------------------------------ helper sets

def helper_set(helpers: str | dict | None, prog: Program) -> dict:
    """The helpers a run may call: 'kernel' (with the networking/tracing ones) or 'conformance'."""
    from jit import helpers as H  # local: start-up (module doc)
    if isinstance(helpers, dict):
        return helpers
    name = helpers or "kernel"
    if name == "kernel":
        try:
            from jit import contexts  # local: start-up (module doc)
            return contexts.kernel_helpers()
        except (ImportError, AttributeError):
            return dict(H.KERNEL)
    if name not in H.HELPER_SETS:
        raise BpfjitError(f"unknown helper set {name!r} (kernel or conformance)")
    return dict(H.HELPER_SETS[name])


def analyse(prog: Program, helpers: str | dict | None = None):
    """Facts about a program; raises CheckError (with file, function, pc) if it fails a check."""
    from jit import analysis  # local: start-up (module doc)
    return analysis.analyse(prog, helpers=helper_set(helpers, prog))


# ------------------------------------------------------------------ compiling

def backend_for(arch: str, prog: Program, *, cpu: str | None = None, options: dict | None = None):
    """The backend for `arch`, refusing a target whose byte order differs from the program's."""
    import backends  # local: start-up (module doc)
    target = backends.target(arch, prog.byteorder)
    want = target.byteorder
    if want != prog.byteorder:
        bpf = "bpfel" if want == "little" else "bpfeb"
        follow = [a for a, by in backends.order_aliases().items() if target.name in by.values()]
        hint = f", or use --arch {follow[0]} to follow the object" if follow else ""
        raise BpfjitError(f"{target.name} is {want}-endian but the program is "
                          f"{prog.byteorder}-endian (build it with -target {bpf}{hint})",
                          file=prog.file)
    opts = dict(options or {})
    if cpu is not None:
        if not target.cpus:
            with_cpu = [t.name for t in backends.targets() if t.cpus]
            raise BpfjitError(f"--cpu applies to {', '.join(with_cpu)} only, not {target.name}")
        opts["cpu"] = cpu
    return backends.get(target.name, **opts)


def linker(prog: Program) -> Callable[[Symbol], int]:
    """Symbol -> address in the shared address space (the same for every run of `prog`)."""
    from jit import runner  # local: start-up (module doc)
    from jit.contexts import NetMaps  # local: start-up (module doc)
    mem = M.Memory(prog.byteorder)
    maps = NetMaps(mem, prog.maps)

    def link(sym: Symbol) -> int:
        kind = sym.kind
        if kind == SymKind.MAP:
            return maps.map_addr(sym.index)
        if kind == SymKind.MAP_VALUE:
            return maps.value_addr(sym.index, 0)
        if kind == SymKind.HELPER:
            return runner.helper_addr(sym.index)
        if kind == SymKind.TAIL_COUNT:
            return runner.TAIL_COUNT_ADDR
        raise BpfjitError(f"cannot link symbol {sym.name} of kind {kind.name}")
    return link


def map_problems(prog: Program) -> list[BpfjitError]:
    """What compile would refuse about `prog`'s maps (a type it does not support, a
    max_entries that does not fit the maps' address space...): the linker's own
    allocation, so `bpfjit check` applies exactly the limits compile applies."""
    try:
        linker(prog)
    except BpfjitError as e:
        return [e.where(file=prog.file, func=prog.name)]
    return []


def compile_program(prog: Program, arch: str, *, helpers: str | dict | None = None,
                    harden: bool = False, seed: int | None = None, cpu: str | None = None,
                    options: dict | None = None, base: int | None = None,
                    facts: Any = None) -> Image:
    """Check, lower and emit `prog` for `arch`; returns the Image (code at `base`).

    `harden` blinds every immediate with masks drawn from `seed`; with no seed a
    fresh one comes from the OS for each compile (recorded as `Image.seed`, so
    `seed=image.seed` reproduces the image)."""
    if harden and seed is None:
        import secrets
        seed = secrets.randbits(63)
    with _no_gc():
        return _compile(prog, arch, helpers, harden, seed, cpu, options, base, facts)


def _compile(prog, arch, helpers, harden, seed, cpu, options, base, facts) -> Image:
    from jit.lower import lower  # local: start-up (module doc)
    backend = backend_for(arch, prog, cpu=cpu, options=options)
    if facts is None:
        facts = analyse(prog, helpers)
    lir = lower(prog, alu32_zext=backend.caps.alu32_zext, depths=facts.depths,
                zext_needed=facts.zext_needed, harden=harden, seed=seed,
                poison_hi32=(options or {}).get("poison_hi32"),
                **({} if (options or {}).get("no_range_facts") else
                   {"safe_divs": facts.safe_divs, "decided": facts.decided}))   # #18
    base = M.CODE_BASE if base is None else base
    try:
        compiled = backend.compile(lir, link=linker(prog), base=base, options=options)
    except BpfjitError as e:
        if e.pc is not None and e.func is None:
            try:
                e.func = prog.function_at(e.pc).name
            except KeyError:
                pass
        raise e.where(file=prog.file)
    if len(compiled.code) > MAX_IMAGE:
        raise BpfjitError(f"the {backend.name} image is {len(compiled.code)} bytes, over the "
                          f"{MAX_IMAGE}-byte image-size limit", file=prog.file,
                          func=prog.functions[0].name)
    return Image(arch=backend.name, code=compiled.code, base=base, funcs=compiled.funcs,
                 pc_map=compiled.pc_map, program=prog, backend=backend, relocs=compiled.relocs,
                 runtime=compiled.runtime, passes=compiled.passes,
                 stack_depths={f.start_pc: f.stack_depth for f in lir.funcs},
                 seed=seed if harden else None)


# ------------------------------------------------------------------ running

@dataclass
class Inputs:
    """What a run starts from; the same for the interpreter and every backend."""
    mem: bytes | None = None
    packet: bytes | None = None
    ctx: bytes | None = None
    map_seeds: dict = field(default_factory=dict)   # map name -> [(key, value)]
    helpers: str | dict | None = None
    max_insns: int = 1_000_000
    seed: int = 0
    kernel_rules: bool = True   # refuse a given frame the kernel's BPF_PROG_TEST_RUN refuses


def prepare(obj: Object, prog: Program, inputs: Inputs):
    """(env, r1, r2, helpers) for one run: fresh memory every time."""
    from jit import interp  # local: start-up (module doc)
    hs = helper_set(inputs.helpers, prog)
    programs = obj.programs if any(m.prog_slots for m in prog.maps) else None
    if prog.prog_type not in ("raw", "") and inputs.mem is None:
        try:
            from jit import contexts  # local: start-up (module doc)
        except ImportError:
            contexts = None
        if contexts is not None and hasattr(contexts, "prepare"):
            p = contexts.prepare(obj, prog, packet=inputs.packet, ctx=inputs.ctx,
                                 map_seeds=inputs.map_seeds, helpers=hs, seed=inputs.seed,
                                 kernel_rules=inputs.kernel_rules)
            return p.env, p.r1, p.r2, hs
    env, r1, r2 = interp.setup(prog, mem=inputs.mem, packet=inputs.packet, ctx=inputs.ctx,
                               helpers=hs, seed=inputs.seed, programs=programs)
    for name, pairs in inputs.map_seeds.items():
        for k, v in pairs:
            env.maps.seed(name, k, v)
    return env, r1, r2, hs


def run(obj: Object, prog: Program, arch: str = INTERP, inputs: Inputs | None = None, *,
        cpu: str | None = None, harden: bool = False, options: dict | None = None,
        count_insns: bool = False, facts: Any = None, images: list | None = None,
        native: bool = False):
    """Run `prog` on the interpreter or a backend; returns a `jit.interp.Result`.

    Faults, the instruction budget and helper errors land in `Result.fault`.
    `native` runs the backend's code on the host CPU (`jit.native`) instead of Unicorn.
    """
    from jit import interp, runner  # local: start-up (module doc)
    inputs = inputs or Inputs()
    env, r1, r2, hs = prepare(obj, prog, inputs)
    if facts is None:
        facts = analyse(prog, hs)
    if arch == INTERP:
        programs = obj.programs
        return interp.run(prog, env=env, r1=r1, r2=r2, helpers=hs, max_insns=inputs.max_insns,
                          stack_depths=facts.depths, programs=programs,
                          depths_of=lambda p: analyse(p, hs).depths)
    if native:
        _refuse_native(arch, prog)
    if images is None:
        images = compile_for_run(obj, prog, arch, hs, cpu=cpu, harden=harden, options=options,
                                 facts=facts)
    restore = _point_prog_arrays(env, obj, images)
    try:
        if native:
            from jit import native as N  # local: start-up (module doc)
            result = N.run(images, env, r1, r2, helpers=hs, max_insns=inputs.max_insns)
        else:
            result = runner.run(images, env, r1, r2, helpers=hs, max_insns=inputs.max_insns,
                                count_insns=count_insns)
    finally:
        restore()
    result.regions = env.memory.snapshot()      # with the prog arrays as the interpreter has them
    return result


def _refuse_native(arch: str, prog: Program) -> None:
    """One line when `arch` code cannot run on this host (jit.native says why)."""
    from jit import native as N  # local: start-up (module doc)
    why = N.why_not(backend_for(arch, prog))
    if why is not None:
        raise UnsupportedError(why, file=prog.file)


def compile_for_run(obj: Object, prog: Program, arch: str, hs: dict, *, cpu=None, harden=False,
                    options=None, facts=None) -> list[Image]:
    """The program's image first, then images of every program its prog arrays can reach."""
    images = [compile_program(prog, arch, helpers=hs, cpu=cpu, harden=harden, options=options,
                              facts=facts, base=M.CODE_BASE)]
    if any(m.prog_slots for m in prog.maps) or any(m.type == 3 for m in prog.maps):
        base = _next_base(images[0])
        for other in obj.programs:
            if other is prog:
                images.append(images[0])
                continue
            img = compile_program(other, arch, helpers=hs, cpu=cpu, harden=harden,
                                  options=options, base=base)
            images.append(img)
            base = _next_base(img)
    if images[-1].base + len(images[-1].code) > M.CODE_BASE + MAX_CODE_SPACE:
        raise BpfjitError(f"the images need more than {MAX_CODE_SPACE >> 20} MiB of code space",
                          file=prog.file)
    return images


def _next_base(img: Image) -> int:
    """Where the next program's code goes: after this one, 64 KiB aligned."""
    return (img.base + len(img.code) + 0xFFFF) & ~0xFFFF


def _point_prog_arrays(env, obj: Object, images: list[Image]) -> Callable[[], None]:
    """Rewrite prog array slots (program index + 1) to native tail-call entry addresses.

    Returns a function that puts the interpreter's values back, so the regions
    a diff compares hold the same bytes on every side.
    """
    saved = []
    targets = images[1:]
    for st in env.maps.maps:
        if st.type != BPF_MAP_TYPE_PROG_ARRAY:
            continue
        for slot in range(st.mdef.max_entries):
            v = env.maps.prog_slot(env.maps.map_addr(st.index), slot)
            if v == 0:
                continue
            saved.append((st.mdef.name, slot, v))
            if not 1 <= v <= len(targets):
                continue
            img = targets[v - 1]
            env.maps.set_prog(st.mdef.name, slot, img.base + img.funcs[0].tail_entry)

    def restore() -> None:
        for name, slot, v in saved:
            env.maps.set_prog(name, slot, v)
    return restore


# ------------------------------------------------------------------ comparing

# What a diff compares, in order; the first difference is reported.
INTERNAL_CALLS = frozenset({12})      # tail calls are control flow in native code, not helper calls


def comparable(result) -> dict:
    """The facts two runs must agree on: r0, writable regions, helper calls, fault."""
    fault = result.fault
    return {
        "fault": None if fault is None else _fault_key(fault),
        "r0": None if fault is not None else result.r0,
        "regions": {k: v for k, v in sorted(result.regions.items()) if k != "native_stack"},
        "helper_calls": [(h, n, tuple(_codeless(x) for x in a))
                         for h, n, a in result.helper_calls if h not in INTERNAL_CALLS],
    }


def _codeless(arg: int):
    """A helper argument as compared: function addresses (an eBPF slot for the
    interpreter, native code for a backend) differ by design, so they compare as
    "code".  Stack pointers compare as they are: every backend lays the eBPF
    frames out in the STACK region as the interpreter does."""
    if M.CODE_BASE <= arg < M.NATIVE_STACK_BASE:
        return "code"
    return arg


def _fault_key(fault) -> tuple:
    if isinstance(fault, MemoryFault):
        return ("memory", fault.kind, fault.pc, fault.addr)
    msg = fault.msg
    if "budget" in msg:
        return ("budget",)
    return (type(fault).__name__, fault.pc)


@dataclass
class Divergence:
    """The first fact on which a backend disagreed with the interpreter.

    `what` names it ("fault", "r0", "region <name> at +<offset>", "helper call #n"),
    `expected` is the interpreter's value and `got` the backend's; `pc` is the
    eBPF pc where known and `listing` the native code around it.
    """
    arch: str
    what: str                   # "r0", "fault", "region <name>", "helper call #n"
    expected: Any
    got: Any
    pc: int | None = None
    listing: str = ""


def first_difference(ref: dict, got: dict) -> tuple[str, Any, Any] | None:
    if ref["fault"] != got["fault"]:
        return "fault", ref["fault"], got["fault"]
    if ref["r0"] != got["r0"]:
        return "r0", ref["r0"], got["r0"]
    for name in sorted(set(ref["regions"]) | set(got["regions"])):
        a, b = ref["regions"].get(name), got["regions"].get(name)
        if a != b:
            if a is not None and b is not None and len(a) == len(b):
                off = next(i for i in range(len(a)) if a[i] != b[i])
                return f"region {name} at +{off:#x}", a[off:off + 16].hex(), b[off:off + 16].hex()
            return f"region {name}", a, b
    ra, rb = ref["helper_calls"], got["helper_calls"]
    for i in range(max(len(ra), len(rb))):
        x = ra[i] if i < len(ra) else None
        y = rb[i] if i < len(rb) else None
        if x != y:
            return f"helper call #{i}", x, y
    return None


def diff(obj: Object, prog: Program, arches: list[str], inputs: Inputs | None = None, *,
         cpu: str | None = None, harden: bool = False, options: dict | None = None):
    """Run the interpreter and each backend; returns (reference result, [Divergence]).

    One input; for many, a `jit.session.Session` compiles each backend once."""
    from jit.session import Session  # local: start-up (module doc)
    inputs = inputs or Inputs()
    session = Session(obj, prog, arches, helpers=inputs.helpers, cpu=cpu, harden=harden,
                      options=options)
    return session.diff(inputs)


def _listing_near(image: Image, pc: int | None, context: int = 3) -> str:
    try:
        text = image.listing().splitlines()
    except Exception:   # noqa: BLE001 - a listing is a courtesy in an error report
        return ""
    if pc is None:
        return "\n".join(text[:40])
    marks = [i for i, line in enumerate(text) if line.startswith("; ") and
             line[2:].split(":")[0].strip().isdigit() and
             abs(int(line[2:].split(":")[0]) - pc) <= context]
    if not marks:
        return "\n".join(text[:40])
    return "\n".join(text[max(0, marks[0] - 1):marks[-1] + 12])


def all_arches() -> list[str]:
    import backends  # local: start-up (module doc)
    return list(backends.names())


def arches_for(spec: str, prog: Program) -> list[str]:
    """`all` (every backend that can run this program's byte order) or a comma list."""
    import backends  # local: start-up (module doc)
    if spec == "all":
        return [t.name for t in backends.targets() if t.byteorder == prog.byteorder]
    return [backends.canonical(a.strip(), prog.byteorder) for a in spec.split(",") if a.strip()]


def read_bytes_arg(value: str | None, what: str) -> bytes | None:
    """A file name, or hex bytes given on the command line."""
    if value is None:
        return None
    if os.path.exists(value):
        try:
            with open(value, "rb") as f:
                return f.read()
        except OSError as e:            # a directory, no permission: the user's, one line
            raise BpfjitError(f"cannot read --{what}: {e.strerror}", file=value) from None
    text = value.replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BpfjitError(f"--{what}: {value!r} is neither a file nor hex bytes") from None
