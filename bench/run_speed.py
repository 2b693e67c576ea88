"""Run-time speed: per-packet CPU time, interpreter throughput, diff cost per case.

    python -m bench.run_speed                      # this tree: the table (about a minute)
    python -m bench.run_speed --quick              # fewer packets and repetitions
    git archive <commit> | tar -x -C /tmp/before   # an older tree to compare with, then
    python -m bench.run_speed --baseline /tmp/before --rounds 3
    python -m bench.run_speed --profile x86_64     # cProfile of one engine's session runs

Everything is CPU time (`time.process_time`).  With `--baseline`, the older tree
and this one are measured by the same code in child processes, alternately,
`--rounds` times each, and the best of the rounds is kept for every figure:
on a shared machine that is the one least disturbed by the others.

* **per packet**: one program, many packets.  "one-shot" is what `jit.driver.run`
  costs for one packet (fresh memory and, on a backend, a fresh emulator: the
  images compiled beforehand, so no compile time); "session" is one
  `jit.session.Session` running every packet on one instance per engine, maps
  carried from packet to packet (as `--pcap` runs) or fresh for each.
* **interpreter**: eBPF instructions executed per CPU second on the compute
  corpus (bench/progs): `interp.run` (a fresh interpreter every run, as the
  one-shot `jit.driver.run` uses it), `Interpreter.run` (one interpreter for
  every run; memory set up outside the timing in both) and the whole
  `Session.run` (memory set up included).
* **diff per case**: `jit.driver.diff` once per input (it compiles every backend
  for every input) against one Session diffing every input (compiles once).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time

if __package__ in (None, ""):           # a script: the tree to measure is BPFJIT_ROOT or ours
    sys.path.insert(0, os.environ.get("BPFJIT_ROOT")
                    or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import corpus                       # noqa: E402
from jit import driver, interp                 # noqa: E402

try:
    from jit import session as S               # noqa: E402
except ImportError:                            # a tree from before jit.session
    S = None
if S is not None and os.path.dirname(S.__file__) != os.path.dirname(interp.__file__):
    S = None                                   # found by an editable install of another tree

ROOT = corpus.ROOT
PACKET_PROGS = ("examples/xdp_firewall.o", "tests/progs/build/xdp_counters.el3.o",
                "bench/progs/build/fnv1a.el3.o", "bench/progs/build/crc32.el3.o")
DIFF_PROGS = PACKET_PROGS[:2]


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

def per_packet(path: str, n: int) -> dict:
    """engine -> {"one_shot", "carried", "fresh"} in ms per packet (None: no Session)."""
    obj, prog = driver.load(os.path.join(ROOT, path))
    pkts = packets(n)
    hs = driver.helper_set(None, prog)
    facts = driver.analyse(prog, hs)
    rows = {}
    for arch in [driver.INTERP] + arches_of(prog):
        images = None if arch == driver.INTERP else driver.compile_for_run(obj, prog, arch, hs,
                                                                            facts=facts)

        def one_shot():
            for p in pkts:
                driver.run(obj, prog, arch, driver.Inputs(packet=p), facts=facts, images=images)
        row = {"one_shot": cpu(one_shot) / n * 1e3, "carried": None, "fresh": None}
        if S is not None:
            sess = S.Session(obj, prog, arches=[] if arch == driver.INTERP else [arch])

            def session(carry):
                for p in pkts:
                    sess.run(driver.Inputs(packet=p), engine=arch, carry=carry)
            sess.run(driver.Inputs(packet=pkts[0]), engine=arch)    # compiled outside the timing
            row["carried"] = cpu(session, True) / n * 1e3
            row["fresh"] = cpu(session, False) / n * 1e3
        rows[arch] = row
    return rows


# ---------------------------------------------------------------- interpreter

def interp_speed(reps: int) -> dict:
    """Instructions executed and the CPU seconds of interp.run, Interpreter.run and
    Session.run over the compute corpus (memory set up outside the first two)."""
    total = 0
    out = {"one_shot": 0.0, "compiled_once": None, "session": None}
    if S is not None:
        out["compiled_once"] = out["session"] = 0.0
    for name in corpus.COMPUTE:
        obj, prog = driver.load(os.path.join(corpus.PROGS_BUILD, f"{name}.el3.o"))
        hs = driver.helper_set(None, prog)
        facts = driver.analyse(prog, hs)
        inputs = driver.Inputs(packet=corpus.PACKET)
        if S is not None:
            sess = S.Session(obj, prog, arches=[])
            ready = interp.Interpreter(prog, helpers=hs, stack_depths=facts.depths,
                                       programs=obj.programs)
        for _ in range(reps):
            env, r1, r2, hs = driver.prepare(obj, prog, inputs)
            t0 = time.process_time()
            res = interp.run(prog, env=env, r1=r1, r2=r2, helpers=hs,
                             stack_depths=facts.depths, programs=obj.programs)
            out["one_shot"] += time.process_time() - t0
            total += res.insns_executed
            if S is not None:
                env, r1, r2, hs = driver.prepare(obj, prog, inputs)
                t0 = time.process_time()
                ready.run(env, r1, r2)
                out["compiled_once"] += time.process_time() - t0
                t0 = time.process_time()
                sess.run(inputs, carry=False)
                out["session"] += time.process_time() - t0
    out["insns"] = total
    return out


# ---------------------------------------------------------------- diff

def diff_cost(path: str, n: int) -> dict:
    """ms per case: one driver.diff per case, and one Session diffing all of them."""
    obj, prog = driver.load(os.path.join(ROOT, path))
    arches = arches_of(prog)
    pkts = packets(n)

    def per_case():
        for p in pkts:
            driver.diff(obj, prog, arches, driver.Inputs(packet=p))
    out = {"cases": n, "driver_diff": cpu(per_case) / n * 1e3, "session_diff": None}
    if S is not None:
        def session():
            sess = S.Session(obj, prog, arches=arches)
            for p in pkts:
                sess.diff(driver.Inputs(packet=p), carry=False)
        out["session_diff"] = cpu(session) / n * 1e3
    return out


def measure(quick: bool) -> dict:
    n = 20 if quick else 100
    return {"session": S is not None, "packets": n,
            "per_packet": {p: per_packet(p, n) for p in PACKET_PROGS},
            "interp": interp_speed(1 if quick else 5),
            "diff": {p: diff_cost(p, 5 if quick else 20) for p in DIFF_PROGS}}


# ---------------------------------------------------------------- side by side

def _child(tree: str, quick: bool) -> dict:
    env = {**os.environ, "BPFJIT_ROOT": tree, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure"]
                         + (["--quick"] if quick else []), env=env, cwd=tree,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _best(a, b):
    """The smaller of two figures (times), recursively through dicts."""
    if isinstance(a, dict):
        return {k: _best(a[k], b[k]) if k in b else a[k] for k in a}
    if isinstance(a, float) and isinstance(b, float):
        return min(a, b)
    return a


def _ms(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def report(now: dict, before: dict | None) -> None:
    b = before or {}
    print(f"# run speed: CPU ms, best of the rounds ({now['packets']} packets a program)\n")
    print("## per packet (ms)\n")
    cols = ["before: one-shot"] if before else []
    cols += ["one-shot driver.run", "session, maps carried", "session, fresh maps"]
    print("| program | engine | " + " | ".join(cols) + " |")
    print("|---|---|" + "---:|" * len(cols))
    for path, rows in now["per_packet"].items():
        for arch, row in rows.items():
            old = b["per_packet"][path].get(arch) if before else None   # a target added since
            cells = [_ms(old and old["one_shot"])] if before else []
            cells += [_ms(row["one_shot"]), _ms(row["carried"]), _ms(row["fresh"])]
            print(f"| {os.path.basename(path)} | {arch} | " + " | ".join(cells) + " |")

    print("\n## interpreter (M eBPF instructions per CPU second, compute corpus)\n")
    it = now["interp"]
    rate = lambda d, k: "-" if d[k] is None else f"{d['insns'] / d[k] / 1e6:.3f}"  # noqa: E731
    cols = (["before: interp.run"] if before else []) + [
        "interp.run (fresh interpreter)", "Interpreter.run (one for all runs)", "Session.run"]
    print("| instructions | " + " | ".join(cols) + " |")
    print("|---:|" + "---:|" * len(cols))
    cells = [rate(b["interp"], "one_shot")] if before else []
    cells += [rate(it, "one_shot"), rate(it, "compiled_once"), rate(it, "session")]
    print(f"| {it['insns']} | " + " | ".join(cells) + " |")

    print("\n## diff per case (ms)\n")
    cols = (["before: driver.diff"] if before else []) + ["driver.diff", "Session.diff"]
    print("| program | cases | " + " | ".join(cols) + " |")
    print("|---|---:|" + "---:|" * len(cols))
    for path, d in now["diff"].items():
        cells = [_ms(b["diff"][path]["driver_diff"])] if before else []
        cells += [_ms(d["driver_diff"]), _ms(d["session_diff"])]
        print(f"| {os.path.basename(path)} | {d['cases']} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer packets and repetitions")
    ap.add_argument("--baseline", metavar="DIR",
                    help="another tree (e.g. from git archive) to measure side by side")
    ap.add_argument("--rounds", type=int, default=1, help="with --baseline: rounds of each")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)   # child: JSON
    ap.add_argument("--profile", metavar="ENGINE",
                    help="print a cProfile of the session runs of one engine (interp or an arch)")
    args = ap.parse_args(argv)

    if args.measure:
        print(json.dumps(measure(args.quick)))
        return 0
    if args.profile:
        obj, prog = driver.load(os.path.join(ROOT, PACKET_PROGS[0]))
        pkts = packets(100)
        sess = S.Session(obj, prog, arches=[] if args.profile == "interp" else [args.profile])
        pr = cProfile.Profile()
        pr.runcall(lambda: [sess.run(driver.Inputs(packet=p), engine=args.profile)
                            for p in pkts])
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)
        return 0

    load = os.getloadavg()[0]
    if args.baseline is None:
        report(measure(args.quick), None)
    else:
        ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        now = before = None
        for _ in range(max(1, args.rounds)):
            b = _child(os.path.abspath(args.baseline), args.quick)
            n = _child(ours, args.quick)
            before = b if before is None else _best(before, b)
            now = n if now is None else _best(now, n)
        print(f"before: {os.path.abspath(args.baseline)}\n")
        report(now, before)
    print(f"\nload average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
          "(2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
