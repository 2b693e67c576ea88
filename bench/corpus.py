"""What the benchmarks measure and how one measurement is taken.

This module owns the benchmark corpus (the compute programs of bench/progs,
the test fixtures of tests/progs/build, generated programs from
bench/genprog.py), the list of targets (architecture, cpu, byte order), the
packet every program runs on, and the two primitives both bench/run.py and
bench/compile_speed.py are built from:

  compile_staged   load, analyse, lower and emit called one by one, exactly as
                   `jit.driver.compile_program` chains them, each stage timed
  execute          one run on the interpreter or a backend, from the same
                   prepared memory, counting native instructions

It does not run subprocesses, write reports or know about anchors.
"""
from __future__ import annotations

import glob
import os
import struct
import time
from typing import Any, NamedTuple

from jit import analysis, driver, interp
from jit import memory as M
from jit.image import Image
from jit.lower import lower

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PROGS_BUILD = os.path.join(BENCH, "progs", "build")
FIXTURES_BUILD = os.path.join(ROOT, "tests", "progs", "build")
OUT = os.path.join(BENCH, "out")            # scratch (git-ignored): generated programs, objects

COMPUTE = ("fnv1a", "jhash", "crc32", "sieve", "popcount", "fsm", "csum")
STAGES = ("load", "analyse", "lower", "emit")
ORDER_TAG = {"little": "el3", "big": "eb3"}
MAX_INSNS = 1_000_000                       # instruction budget of one run


# ---------------------------------------------------------------- targets

class Target(NamedTuple):
    label: str              # how reports name it: "arch", or "arch/cpu" for each CPU model
    arch: str               # backends registry name
    cpu: str | None         # the CPU model, for targets that have several
    order: str              # byte order of the objects it compiles


def _targets() -> tuple[Target, ...]:
    """Every registered target; one per CPU model where a target has several."""
    import backends
    out = []
    for t in backends.targets():
        if len(t.cpus) > 1:
            out += [Target(f"{t.name}/{c.name}", t.name, c.name, t.byteorder) for c in t.cpus]
        else:
            out.append(Target(t.name, t.name, None, t.byteorder))
    return tuple(out)


TARGETS = _targets()
BY_LABEL = {t.label: t for t in TARGETS}


def target(label: str) -> Target:
    """A target by label; a bare arch name of a target with CPU models means its default."""
    if label not in BY_LABEL:
        label = next((t.label for t in TARGETS if t.arch == label), label)
    if label not in BY_LABEL:
        raise SystemExit(f"unknown target {label!r} (known: {', '.join(BY_LABEL)})")
    return BY_LABEL[label]


def backend_status(t: Target) -> str | None:
    """None when the backend can be made, else why not (the bench skips it with this note)."""
    try:
        import backends
        backends.get(t.arch, **({"cpu": t.cpu} if t.cpu else {}))
    except Exception as e:      # noqa: BLE001 - any failure means "not there yet"
        return f"{type(e).__name__}: {e}".splitlines()[0][:160]
    return None


# ---------------------------------------------------------------- the packet

def bench_packet() -> bytes:
    """128 bytes: Ethernet, IPv4, UDP and a text payload with words and numbers.

    The first byte (0x3e) makes the sieve run to 64 + 62; the payload gives
    the lexer state machine words, decimal and hex numbers and UTF-8 bytes.
    """
    payload = (b"GET /api/v1/items/12345?id=0x1F&n=42 HTTP/1.1\r\n"
               b"Host: 10.0.0.1\r\nX-Tag: \xc3\xa9t\xc3\xa9 0xBEEF 777\r\n\r\n")
    eth = bytes.fromhex("3e0000000001" "020000000002" "0800")
    total = 128 - len(eth)
    udp_len = total - 20
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0x1234, 0x4000, 64, 17, 0,
                               bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    struct.pack_into("!H", ip, 10, ~s & 0xFFFF)
    udp = struct.pack("!HHHH", 40000, 80, udp_len, 0)
    frame = eth + bytes(ip) + udp + payload
    return frame.ljust(128, b"\0")[:128]


PACKET = bench_packet()


# ---------------------------------------------------------------- the corpus

class Item(NamedTuple):
    """One program of the corpus, in both byte orders."""
    name: str               # report name: kernel name, fixture "file:program", "gen-10k"
    group: str              # "compute", "fixture" or "generated"
    paths: dict             # byte order -> object file (None for generated programs)
    program: str | None     # program name inside the object
    gen_size: int = 0       # generated programs: instruction count asked of genprog

    def source(self, order: str) -> tuple[bytes, str]:
        """(bytes, file name) of this program for `order`."""
        if self.group == "generated":
            from bench import genprog
            return genprog.generate_bytes(self.gen_size, 1, order), f"<{self.name}.{order}>"
        path = self.paths[order]
        with open(path, "rb") as f:
            return f.read(), os.path.relpath(path, ROOT)


def compute_items() -> list[Item]:
    return [Item(k, "compute", {o: os.path.join(PROGS_BUILD, f"{k}.{tag}.o")
                                for o, tag in ORDER_TAG.items()}, f"bench_{k}")
            for k in COMPUTE]


def fixture_items() -> list[Item]:
    """Every program of every fixture object that exists in both byte orders."""
    items = []
    for el in sorted(glob.glob(os.path.join(FIXTURES_BUILD, "*.el3.o"))):
        base = os.path.basename(el)[:-len(".el3.o")]
        eb = os.path.join(FIXTURES_BUILD, f"{base}.eb3.o")
        if not os.path.exists(eb):
            continue
        try:
            obj, _ = driver.load(el)
        except Exception:       # noqa: BLE001 - a fixture the loader cannot read yet is left out
            continue
        for p in obj.programs:
            items.append(Item(f"{base}:{p.name}", "fixture", {"little": el, "big": eb}, p.name))
    return items


def generated_items(sizes) -> list[Item]:
    return [Item(f"gen-{size_name(n)}", "generated", {}, None, n) for n in sizes]


def size_name(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def corpus(*, gen_sizes=(1000, 10_000), only: set[str] | None = None,
           groups=("compute", "fixture", "generated")) -> list[Item]:
    items = []
    if "compute" in groups:
        items += compute_items()
    if "fixture" in groups:
        items += fixture_items()
    if "generated" in groups:
        items += generated_items(gen_sizes)
    if only:
        items = [i for i in items if i.name in only or i.name.split(":")[0] in only
                 or i.group in only]
    return items


# ---------------------------------------------------------------- compiling, stage by stage

class Staged(NamedTuple):
    times: dict             # stage -> best CPU seconds over the repetitions
    wall: dict              # stage -> best wall-clock seconds
    reps: int
    obj: Any
    prog: Any
    facts: Any
    image: Image | None     # None when no backend was asked for


def _now() -> tuple[float, float]:
    """(wall, CPU) seconds.  CPU time is what the throughputs are computed from:
    the bench machine may be shared, and wall time then counts other processes."""
    return time.perf_counter(), time.process_time()


def compile_staged(data: bytes, file: str, program: str | None, order: str, t: Target | None,
                   *, min_time: float = 0.0, max_reps: int = 1) -> Staged:
    """Load, analyse, lower, emit; each stage timed on its own (best of the repetitions).

    Repeats the whole chain until `min_time` CPU seconds have passed or
    `max_reps` chains ran, so the short programs get several samples.  Every
    repetition starts from the bytes, so no stage sees an object a previous
    one mutated.  With `t` None only load and analyse run (the interpreter
    needs no more).
    """
    hs = None
    backend = None
    stages = STAGES if t is not None else STAGES[:2]
    best = {s: float("inf") for s in stages}
    wall = {s: float("inf") for s in stages}
    reps = 0
    spent = 0.0
    while True:
        marks = {}
        marks["load"] = _now()
        obj, prog = driver.load(data, program=program, byteorder=order, file=file)
        end_load = _now()
        if hs is None:          # set up once, outside every stage's time
            hs = driver.helper_set("kernel", prog)
            if t is not None:
                backend = driver.backend_for(t.arch, prog, cpu=t.cpu)
        marks["analyse"] = _now()
        facts = analysis.analyse(prog, helpers=hs)
        image = None
        if backend is not None:
            # the chain of jit.driver.compile_program, one stage at a time
            marks["lower"] = _now()
            lir = lower(prog, alu32_zext=backend.caps.alu32_zext, depths=facts.depths,
                        zext_needed=facts.zext_needed)
            marks["emit"] = _now()
            compiled = backend.compile(lir, link=driver.linker(prog), base=M.CODE_BASE)
            image = Image(arch=backend.name, code=compiled.code, base=M.CODE_BASE,
                          funcs=compiled.funcs, pc_map=compiled.pc_map, program=prog,
                          backend=backend, relocs=compiled.relocs, runtime=compiled.runtime,
                          passes=compiled.passes)
        done = _now()
        ends = {"load": end_load, "analyse": marks.get("lower", done),
                "lower": marks.get("emit"), "emit": done}
        for st in stages:
            (w0, c0), (w1, c1) = marks[st], ends[st]
            wall[st] = min(wall[st], w1 - w0)
            best[st] = min(best[st], c1 - c0)
            spent += c1 - c0
        reps += 1
        if reps >= max_reps or (min_time > 0 and spent >= min_time):
            break
    return Staged(best, wall, reps, obj, prog, facts, image)


def stage_memory(data: bytes, file: str, program: str | None, order: str,
                 t: Target | None) -> dict:
    """Peak bytes Python allocated during each stage (tracemalloc, one chain, not timed)."""
    import tracemalloc
    peaks = {}
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        obj, prog = driver.load(data, program=program, byteorder=order, file=file)
        peaks["load"] = tracemalloc.get_traced_memory()[1] - base
        hs = driver.helper_set("kernel", prog)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        facts = analysis.analyse(prog, helpers=hs)
        peaks["analyse"] = tracemalloc.get_traced_memory()[1] - base
        if t is not None:
            backend = driver.backend_for(t.arch, prog, cpu=t.cpu)
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            lir = lower(prog, alu32_zext=backend.caps.alu32_zext, depths=facts.depths,
                        zext_needed=facts.zext_needed)
            peaks["lower"] = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            backend.compile(lir, link=driver.linker(prog), base=M.CODE_BASE)
            peaks["emit"] = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peaks


# ---------------------------------------------------------------- running

def execute(obj, prog, t: Target | None, facts, packet: bytes = PACKET):
    """One run of `prog` on the interpreter (t None) or t's backend; a jit.interp.Result.

    Native runs go through jit.driver.run with count_insns, so
    `result.native_insns` is the native instruction count.  Interpreter runs
    are jit.driver.run's interpreter branch spelled out, so that
    `result.run_seconds` is the CPU time of interp.run alone (no memory setup).
    """
    inputs = driver.Inputs(packet=packet, max_insns=MAX_INSNS)
    if t is not None:
        return driver.run(obj, prog, t.arch, inputs, cpu=t.cpu, count_insns=True, facts=facts)
    env, r1, r2, hs = driver.prepare(obj, prog, inputs)
    t0 = time.process_time()
    result = interp.run(prog, env=env, r1=r1, r2=r2, helpers=hs, max_insns=MAX_INSNS,
                        stack_depths=facts.depths, programs=obj.programs)
    result.run_seconds = time.process_time() - t0
    return result


def packet_result(result) -> str | None:
    """The first 4 bytes of the frame after the run (where the compute programs store theirs)."""
    data = result.regions.get("packet")
    if data is None or len(data) < M.PACKET_HEADROOM + 4:
        return None
    return bytes(data[M.PACKET_HEADROOM:M.PACKET_HEADROOM + 4]).hex()
