"""Run-time speed: per-packet CPU time, interpreter throughput, diff cost per case.

    python -m bench.run_speed            # the table (about a minute)
    python -m bench.run_speed --quick    # fewer repetitions
    python -m bench.run_speed --profile interp|x86_64|...   # cProfile of one engine's runs

Everything is CPU time (`time.process_time`), measured side by side in one
process, so the numbers compare with each other even on a shared machine.

* **per packet**: one program, many packets.  "one-shot" is what `jit.driver.run`
  costs for one packet (fresh memory and, on a backend, a fresh emulator: the
  images compiled beforehand, so no compile time); "session" is one
  `jit.session.Session` running every packet on one instance per engine, maps
  carried from packet to packet (as `--pcap` runs) or fresh for each.
* **interpreter**: eBPF instructions executed per CPU second on the compute
  corpus (bench/progs): `interp.run` (compiles the instruction table every run,
  as before sessions), `Interpreter.run` (compiled once; memory set up outside
  the timing in both) and the whole `Session.run` (memory set up included).
* **diff per case**: `jit.driver.diff` once per input (it compiles every backend
  for every input) against one Session diffing every input (compiles once).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

if __package__ in (None, ""):           # `python bench/run_speed.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import corpus                       # noqa: E402
from jit import driver, interp                 # noqa: E402

try:
    from jit import session as S               # noqa: E402
except ImportError:                            # measuring the code before jit.session
    S = None

ROOT = corpus.ROOT
PACKET_PROGS = (("examples/xdp_firewall.o", None),
                ("tests/progs/build/xdp_counters.el3.o", None))


def packets(n: int) -> list[bytes]:
    """n different frames: the bench packet with the source port and a payload byte varied."""
    base = bytearray(corpus.PACKET)
    out = []
    for i in range(n):
        p = bytearray(base)
        p[34:36] = (40000 + i).to_bytes(2, "big")
        p[60] = i & 0xFF
        if i % 5 == 4:
            p[23] = 6               # some TCP frames: other paths through the firewall
        out.append(bytes(p))
    return out


def cpu(fn, *args) -> float:
    t0 = time.process_time()
    fn(*args)
    return time.process_time() - t0


def arches_of(prog) -> list[str]:
    return driver.arches_for("all", prog)


# ---------------------------------------------------------------- per packet

def per_packet(path: str, program: str | None, n: int) -> list[tuple]:
    """[(engine, one-shot, session carrying maps, session with fresh maps)] in ms/packet."""
    obj, prog = driver.load(os.path.join(ROOT, path), program=program)
    pkts = packets(n)
    hs = driver.helper_set(None, prog)
    facts = driver.analyse(prog, hs)
    rows = []
    for arch in [driver.INTERP] + arches_of(prog):
        images = None if arch == driver.INTERP else driver.compile_for_run(obj, prog, arch, hs,
                                                                            facts=facts)

        def one_shot():
            for p in pkts:
                driver.run(obj, prog, arch, driver.Inputs(packet=p), facts=facts, images=images)
        old = cpu(one_shot) / n * 1e3
        carried = fresh = None
        if S is not None:
            sess = S.Session(obj, prog, arches=[] if arch == driver.INTERP else [arch])

            def session(carry):
                for p in pkts:
                    sess.run(driver.Inputs(packet=p), engine=arch, carry=carry)
            sess.run(driver.Inputs(packet=pkts[0]), engine=arch)    # compiled outside the timing
            carried = cpu(session, True) / n * 1e3
            fresh = cpu(session, False) / n * 1e3
        rows.append((arch, old, carried, fresh))
    return rows


# ---------------------------------------------------------------- interpreter

def interp_speed(reps: int) -> tuple[int, float, float | None, float | None]:
    """(instructions executed, seconds of interp.run (compiles its table every run),
    seconds of Interpreter.run (table compiled once), seconds of Session.run (with
    memory set up)) over the compute corpus, memory set up outside the first two."""
    total = 0
    bare = 0.0
    once = 0.0 if S is not None else None
    whole = 0.0 if S is not None else None
    for name in corpus.COMPUTE:
        obj, prog = driver.load(os.path.join(corpus.PROGS_BUILD, f"{name}.el3.o"))
        hs = driver.helper_set(None, prog)
        facts = driver.analyse(prog, hs)
        inputs = driver.Inputs(packet=corpus.PACKET)
        sess = S.Session(obj, prog, arches=[]) if S is not None else None
        ready = (interp.Interpreter(prog, helpers=hs, stack_depths=facts.depths,
                                    programs=obj.programs) if S is not None else None)
        for _ in range(reps):
            env, r1, r2, hs = driver.prepare(obj, prog, inputs)
            t0 = time.process_time()
            res = interp.run(prog, env=env, r1=r1, r2=r2, helpers=hs,
                             stack_depths=facts.depths, programs=obj.programs)
            bare += time.process_time() - t0
            total += res.insns_executed
            if sess is not None:
                env, r1, r2, hs = driver.prepare(obj, prog, inputs)
                t0 = time.process_time()
                ready.run(env, r1, r2)
                once += time.process_time() - t0
                t0 = time.process_time()
                sess.run(inputs, carry=False)
                whole += time.process_time() - t0
    return total, bare, once, whole


# ---------------------------------------------------------------- diff

def diff_cost(path: str, program: str | None, n: int) -> tuple[int, float, float | None]:
    """(cases, ms per case one diff per case, ms per case one Session for all)."""
    obj, prog = driver.load(os.path.join(ROOT, path), program=program)
    arches = arches_of(prog)
    pkts = packets(n)

    def per_case():
        for p in pkts:
            driver.diff(obj, prog, arches, driver.Inputs(packet=p))
    old = cpu(per_case) / n * 1e3
    new = None
    if S is not None:
        def session():
            sess = S.Session(obj, prog, arches=arches)
            for p in pkts:
                sess.diff(driver.Inputs(packet=p), carry=False)
        new = cpu(session) / n * 1e3
    return n, old, new


# ---------------------------------------------------------------- report

def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:8.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer packets and repetitions")
    ap.add_argument("--profile", metavar="ENGINE",
                    help="print a cProfile of the session runs of one engine (interp or an arch)")
    args = ap.parse_args(argv)
    n = 20 if args.quick else 100
    reps = 1 if args.quick else 3

    if args.profile:
        obj, prog = driver.load(os.path.join(ROOT, PACKET_PROGS[0][0]))
        pkts = packets(n)
        if S is None:
            fn = lambda: [driver.run(obj, prog, args.profile, driver.Inputs(packet=p))  # noqa: E731
                          for p in pkts]
        else:
            sess = S.Session(obj, prog, arches=[] if args.profile == "interp" else [args.profile])
            fn = lambda: [sess.run(driver.Inputs(packet=p), engine=args.profile,  # noqa: E731
                                   carry=False) for p in pkts]
        pr = cProfile.Profile()
        pr.runcall(fn)
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)
        return 0

    load = os.getloadavg()[0]
    print(f"# run speed (CPU ms; load average {load:.2f}; {n} packets; "
          f"jit.session {'present' if S else 'absent'})\n")
    print("## per packet\n")
    print("| program | engine | one-shot driver.run | session, maps carried | "
          "session, fresh maps |")
    print("|---|---|---:|---:|---:|")
    for path, program in PACKET_PROGS:
        for arch, old, carried, fresh in per_packet(path, program, n):
            print(f"| {os.path.basename(path)} | {arch} | {_ms(old)} | {_ms(carried)} | "
                  f"{_ms(fresh)} |")

    print("\n## interpreter (M eBPF instructions per CPU second)\n")
    total, bare, once, whole = interp_speed(reps)
    print(f"compute corpus x{reps}: {total} instructions executed\n")
    print("| interp.run (compiles per run) | Interpreter.run (compiled once) | Session.run |")
    print("|---:|---:|---:|")
    rate = lambda t: "-" if t is None else f"{total / t / 1e6:.3f}"   # noqa: E731
    print(f"| {rate(bare)} | {rate(once)} | {rate(whole)} |")

    print("\n## diff per case\n")
    print("| program | cases | driver.diff per case ms | Session.diff per case ms |")
    print("|---|---:|---:|---:|")
    for path, program in PACKET_PROGS:
        cases, old, new = diff_cost(path, program, max(5, n // 5))
        print(f"| {os.path.basename(path)} | {cases} | {_ms(old)} | {_ms(new)} |")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
