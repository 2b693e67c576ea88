"""Compile once, run many inputs: one program on the interpreter and any backends.

A `Session` holds, per engine (the interpreter or a backend), what does not
change from one input to the next: the interpreter's compiled instruction
table, a backend's images and its Unicorn instance (code, trampolines and hooks
set up once, `jit.runner.Emulator`).  Each run still starts from memory built
by `jit.driver.prepare` (context, packet, stack: fresh), so a run's result is
exactly what `jit.driver.run` gives for the same input.

Maps are the state a program keeps between packets.  With `carry=True` (the
default) a run starts from the maps the engine's previous run left, as the
kernel's maps outlive each packet: the map regions (values, global data) and
the bookkeeping (hash keys, queues, ring buffers) are the previous run's
objects, not copies, so a backend's emulator keeps them mapped.  With
`carry=False` the run starts from fresh maps, as a one-shot run does.  Each
engine carries its own maps, so a diff over a capture compares engines that
each saw every packet before.

What it does not own: building memory and contexts (driver.prepare,
contexts), what a diff compares (driver.comparable / first_difference), the
instruction semantics (interp) and running machine code (runner).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from jit import driver
from jit.driver import INTERP, Inputs
from jit.errors import BpfjitError
from jit.program import Object, Program


class Engine:
    """One engine of a session: the interpreter or one backend, with its carried maps."""

    def __init__(self, session: "Session", arch: str) -> None:
        self.session = session
        self.arch = arch                    # INTERP or a backend name
        self.images: list | None = None     # a backend's images, made on first use
        self.emulator: Any = None
        self.interpreter: Any = None
        self.maps: Any = None               # the Maps the previous run left (carried)
        self.kept: dict = {}                # base -> Region the emulator has mapped

    def prepared(self):
        """Compile what this engine runs, once."""
        s = self.session
        if self.arch == INTERP:
            if self.interpreter is None:
                from jit import interp  # local: start-up (a backend-only session)
                self.interpreter = interp.Interpreter(
                    s.prog, helpers=s.hs, stack_depths=s.facts.depths,
                    programs=s.obj.programs,
                    depths_of=lambda p: driver.analyse(p, s.hs).depths)
        elif self.images is None:
            self.images = driver.compile_for_run(s.obj, s.prog, self.arch, s.hs, cpu=s.cpu,
                                                 harden=s.harden, options=s.options,
                                                 facts=s.facts)
        return self

    def run(self, inputs: Inputs | None = None, *, carry: bool = True,
            count_insns: bool = False):
        """One run on this engine; a `jit.interp.Result`."""
        s = self.session
        inputs = inputs or Inputs()
        self.prepared()
        env, r1, r2, _ = driver.prepare(s.obj, s.prog, dataclasses.replace(
            inputs, helpers=s.hs, map_seeds={}))
        if carry and self.maps is not None:
            _adopt_maps(env, self.maps)
        for name, pairs in inputs.map_seeds.items():
            for k, v in (pairs.items() if isinstance(pairs, dict) else pairs):
                env.maps.seed(name, bytes(k), bytes(v))
        self.maps = env.maps
        if self.arch == INTERP:
            return self.interpreter.run(env, r1, r2, max_insns=inputs.max_insns)
        self.kept = _recycle(env, self.kept)
        if self.emulator is None:
            from jit import runner  # local: start-up (an interpreter-only session)
            self.emulator = runner.Emulator(self.images, s.hs)
        restore = driver._point_prog_arrays(env, s.obj, self.images)
        try:
            result = self.emulator.run(env, r1, r2, max_insns=inputs.max_insns,
                                       count_insns=count_insns)
        finally:
            restore()
        result.regions = env.memory.snapshot()  # with the prog arrays as the interpreter has them
        return result

    def reset(self) -> None:
        """Forget the carried maps: the next run starts from fresh ones."""
        self.maps = None


def _adopt_maps(env, maps) -> None:
    """Make `env` (fresh from driver.prepare) use the carried `maps`: their regions
    replace the fresh map regions at the same addresses, and env.maps is them."""
    carried = {r.base: r for r in [maps.header] + [st.region for st in maps.maps]}
    mem = env.memory
    mem.regions = [carried.get(r.base, r) for r in mem.regions]
    mem._last = None
    maps.memory = mem
    env.maps = maps


def _recycle(env, kept: dict) -> dict:
    """Give a backend's run the regions its previous run had mapped, where they fit.

    A fresh region (from driver.prepare) with the same name, place, size and
    permissions as one of the previous run's is replaced by that one, with the fresh
    bytes copied in: the emulator keeps it mapped instead of unmapping and mapping
    again, which was most of a run's cost once the emulator itself is reused.  The
    bytes a run starts from are the fresh ones either way.  Returns the new `kept`."""
    mem = env.memory
    swapped = {}
    regions = []
    for r in mem.regions:
        old = kept.get(r.base)
        if (old is not None and old is not r and old.name == r.name and old.size == r.size
                and old.perms == r.perms and old.compare == r.compare):
            old.data[:] = r.data
            swapped[id(r)] = old
            r = old
        regions.append(r)
    if swapped:
        mem.regions = regions
        mem._last = None
        maps = env.maps                     # maps name their regions too
        maps.header = swapped.get(id(maps.header), maps.header)
        for st in maps.maps:
            st.region = swapped.get(id(st.region), st.region)
    return {r.base: r for r in regions}


class Session:
    """A program compiled once for the interpreter and `arches`, run on many inputs.

        s = Session(obj, prog, ["x86_64", "arm32"])
        for frame in frames:
            ref, divergences = s.diff(Inputs(packet=frame))   # maps carried frame to frame
        s.maps()                                              # the interpreter's final maps

    helpers, cpu, harden, options: as for `jit.driver.run` (`Inputs.helpers` of a
    run is not consulted: the session's helper set is fixed when it is made).
    Backends are compiled on their first run, in the order they are first used.
    """

    def __init__(self, obj: Object, prog: Program, arches: list[str] | tuple = (), *,
                 helpers: str | dict | None = None, cpu: str | None = None,
                 harden: bool = False, options: dict | None = None) -> None:
        self.obj, self.prog = obj, prog
        self.hs = driver.helper_set(helpers, prog)
        self.facts = driver.analyse(prog, self.hs)
        self.cpu, self.harden, self.options = cpu, harden, options
        self.arches = list(arches)
        self.engines: dict[str, Engine] = {}

    def engine(self, arch: str = INTERP) -> Engine:
        eng = self.engines.get(arch)
        if eng is None:
            eng = self.engines[arch] = Engine(self, arch)
        return eng

    def run(self, inputs: Inputs | None = None, *, engine: str = INTERP, carry: bool = True,
            count_insns: bool = False):
        """Run one input on one engine (the interpreter by default); a `Result`."""
        return self.engine(engine).run(inputs, carry=carry, count_insns=count_insns)

    def diff(self, inputs: Inputs | None = None, *, carry: bool = True):
        """Run one input on the interpreter and every arch of the session;
        (reference Result, [Divergence]) as `jit.driver.diff` returns them."""
        ref_result = self.run(inputs, carry=carry)
        ref = driver.comparable(ref_result)
        divergences = []
        for arch in self.arches:
            eng = self.engine(arch).prepared()
            got = eng.run(inputs, carry=carry)
            d = driver.first_difference(ref, driver.comparable(got))
            if d is not None:
                what, exp, val = d
                pc = getattr(got.fault, "pc", None) or getattr(ref_result.fault, "pc", None)
                image = eng.images[0]
                divergences.append(driver.Divergence(image.arch, what, exp, val, pc,
                                                     driver._listing_near(image, pc)))
        return ref_result, divergences

    def maps(self, engine: str = INTERP) -> dict:
        """The maps an engine's last run left, as `Result.maps` ({} before any run)."""
        eng = self.engines.get(engine)
        return {} if eng is None or eng.maps is None else eng.maps.dump()

    def reset(self) -> None:
        """Every engine's next run starts from fresh maps."""
        for eng in self.engines.values():
            eng.reset()


# ------------------------------------------------------------------ packet captures

class FrameRun:
    """One frame of a capture as a session ran it."""
    __slots__ = ("number", "frame", "result", "refused", "divergences")

    def __init__(self, number: int, frame: bytes, result=None, refused: str | None = None,
                 divergences: list | None = None) -> None:
        self.number = number            # 1-based, as Wireshark and tcpdump number frames
        self.frame = frame
        self.result = result            # the Result (the interpreter's for a diff); None if refused
        self.refused = refused          # why the kernel's test run would refuse the frame
        self.divergences = divergences or []


def read_capture(path: str) -> list[bytes]:
    """The frames of a pcap or pcapng file (read by dpkt), in order.  The link type
    must be Ethernet: XDP and tc programs see frames from the Ethernet header on."""
    import io
    import struct

    import dpkt
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BpfjitError(f"cannot read: {e.strerror}", file=path) from None
    try:
        if data[:4] == PCAPNG_MAGIC:
            reader = dpkt.pcapng.Reader(io.BytesIO(data))
        else:
            reader = dpkt.pcap.Reader(io.BytesIO(data))
        link = reader.datalink()
        frames = [bytes(buf) for _ts, buf in reader]
    except (ValueError, struct.error, dpkt.Error) as e:
        raise BpfjitError(f"not a pcap or pcapng capture ({e})", file=path) from None
    if link != dpkt.pcap.DLT_EN10MB:
        raise BpfjitError(f"link type {link} is not Ethernet (DLT_EN10MB, 1)", file=path)
    return frames


PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"      # a section header block


def _frame_inputs(template: Inputs, frame: bytes, first: bool) -> Inputs:
    """The template's inputs with this frame as the packet; map seeds before the first only."""
    return dataclasses.replace(template, packet=frame, mem=None,
                               map_seeds=template.map_seeds if first else {})


def run_capture(session: Session, frames: list[bytes], engine: str = INTERP,
                template: Inputs | None = None) -> list[FrameRun]:
    """Run every frame in order on one engine, maps carried from frame to frame (as
    the kernel keeps them between packets).  A frame the kernel's test run would
    refuse is not run (FrameRun.refused says why)."""
    from jit.contexts import InputRefused  # local: start-up (only captures need it)
    template = template or Inputs()
    out = []
    for i, frame in enumerate(frames):
        try:
            result = session.run(_frame_inputs(template, frame, not out), engine=engine)
        except InputRefused as e:
            out.append(FrameRun(i + 1, frame, refused=e.msg))
            continue
        out.append(FrameRun(i + 1, frame, result))
    return out


def diff_capture(session: Session, frames: list[bytes],
                 template: Inputs | None = None) -> list[FrameRun]:
    """Diff every frame in order (each engine carrying its own maps), up to and
    including the first frame where any backend differs from the interpreter:
    after it the engines no longer start from the same maps."""
    from jit.contexts import InputRefused  # local: start-up (only captures need it)
    template = template or Inputs()
    out = []
    for i, frame in enumerate(frames):
        try:
            ref, divergences = session.diff(_frame_inputs(template, frame, not out))
        except InputRefused as e:
            out.append(FrameRun(i + 1, frame, refused=e.msg))
            continue
        out.append(FrameRun(i + 1, frame, ref, divergences=divergences))
        if divergences:
            break
    return out
