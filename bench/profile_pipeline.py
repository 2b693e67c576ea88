"""Where the compile pipeline spends its time: per stage, per backend, on one core.

    python -m bench.profile_pipeline                        # 100k and 1M, every backend
    python -m bench.profile_pipeline --sizes 100000 --arches <target>
    python -m bench.profile_pipeline --profile emit --arches <target> --sizes 100000
                                                            # + cProfile of one stage

For each size, bench/genprog.py's program (seed 1, in the target's byte order,
cached in bench/out/) is compiled in a fresh child process pinned to one CPU: load
(`driver.load`), analyse, lower and emit (the backend's `compile`, code
buffer included), called one by one as `jit.driver.compile_program` chains
them, with the cyclic GC off as the driver has it.  Times are CPU time
(`time.process_time`), so other work on the machine inflates them less than
wall time; each figure is the best of `--reps` runs.  The child reports its
peak RSS (ru_maxrss), which includes the interpreter and the modules
(printed separately as "before").

What issue #16 asks of these numbers (reported, never asserted): at least
500,000 eBPF instructions per second end to end on the 100k program for the
host's target (x86-64 here) and 300,000 on every other backend, and the 1M
program in at most 3 s and 300 MiB on every backend.

It owns nothing else; bench/compile_speed.py is the sweep the report uses.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

if __package__ in (None, ""):           # `python bench/profile_pipeline.py` as well as `-m`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
def _arches() -> tuple[str, ...]:
    """Every registered target (the one of each by-order pair in its name's first order)."""
    import backends
    return backends.names()


ARCHES = _arches()
SIZES = (100_000, 1_000_000)
STAGES = ("load", "analyse", "lower", "emit")
TARGETS = {"insns_per_s_100k_host": 500_000, "insns_per_s_100k": 300_000, "seconds_1M": 3.0,
           "peak_rss_1M": 300 << 20}


def _is_host(arch: str) -> bool:
    import platform

    import backends
    t = backends.target(arch)
    return bool(t.tools) and platform.machine() in t.tools.host


def size_name(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def program_path(n: int, order: str) -> str:
    """bench/genprog.py's program of n instructions (seed 1), generated once per byte order."""
    path = os.path.join(OUT, f"gen-{size_name(n)}.seed1.{order}.bin")
    if not os.path.exists(path):
        from bench import genprog
        os.makedirs(OUT, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(genprog.generate_bytes(n, 1, order))
        os.replace(tmp, path)
    return path


def target_order(arch: str) -> str:
    """The byte order of the programs `arch` compiles (little if it is unknown: it will fail)."""
    try:
        import backends
        return backends.target(arch, "little").byteorder
    except Exception:       # noqa: BLE001 - an unknown arch is reported by its child
        return "little"


# ---------------------------------------------------------------- in the child

def _stages(data: bytes, order: str, arch: str, times: dict, profile: str | None = None):
    """One compile, stage by stage as jit.driver._compile does it; records each stage's CPU time."""
    from jit import driver, memory
    from jit.lower import lower
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()

    def timed(stage, fn, *args, **kw):
        if prof is not None and stage == profile:
            prof.enable()
        t = time.process_time()
        out = fn(*args, **kw)
        times[stage] = time.process_time() - t
        if prof is not None:
            prof.disable()
        return out

    obj, prog = timed("load", driver.load, data, byteorder=order)
    backend = driver.backend_for(arch, prog)
    facts = timed("analyse", driver.analyse, prog)
    lir = timed("lower", lower, prog, alu32_zext=backend.caps.alu32_zext, depths=facts.depths,
                zext_needed=facts.zext_needed)
    link = driver.linker(prog)
    compiled = timed("emit", backend.compile, lir, link=link, base=memory.CODE_BASE)
    return len(prog.insns), len(compiled.code), prof


def child(path: str, order: str, arch: str, reps: int, profile: str | None) -> dict:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})               # one core, the same one each time
    with open(path, "rb") as f:
        data = f.read()
    # lazy imports and first-call tables (decode rules, encoder caches) on a small program
    from bench import genprog
    _stages(genprog.generate_bytes(300, 2, order), order, arch, {})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gc.disable()                                       # as jit.driver does around each stage
    best: dict[str, float] = {}
    prof = None
    for rep in range(reps):
        gc.collect()                                   # the last run's cycles, untimed
        times: dict[str, float] = {}
        n, code, p = _stages(data, order, arch, times, profile if rep == 0 else None)
        prof = prof or p
        times["total"] = sum(times[s] for s in STAGES)
        for k, v in times.items():
            best[k] = min(best.get(k, v), v)
    out = {"arch": arch, "insns": n, "code_bytes": code, "times": best, "reps": reps,
           "rss_before_kib": rss_before,
           "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           "loadavg": round(os.getloadavg()[0], 2)}
    if prof is not None:
        import io
        import pstats
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(30)
        out["profile"] = s.getvalue()
    return out


# ---------------------------------------------------------------- in the parent

def run_child(path: str, order: str, arch: str, reps: int, profile: str | None,
              timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "bench.profile_pipeline", "--child", path, order, arch,
           str(reps)]
    if profile:
        cmd.append(profile)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=env)
    except subprocess.TimeoutExpired:
        return {"arch": arch, "error": f"did not finish within {timeout:.0f} s"}
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"arch": arch, "error": last[0][:200]}
    return json.loads(proc.stdout)


def verdict(n: int, r: dict) -> str:
    t = r["times"]["total"]
    if n == 100_000:
        rate = r["insns"] / t
        want = TARGETS["insns_per_s_100k_host" if _is_host(r["arch"]) else "insns_per_s_100k"]
        return "ok" if rate >= want else f"below {want // 1000}k insns/s"
    if n == 1_000_000:
        slow = t > TARGETS["seconds_1M"]
        big = r["rss_peak_kib"] * 1024 > TARGETS["peak_rss_1M"]
        return "ok" if not (slow or big) else ", ".join(
            w for w, bad in (("over 3 s", slow), ("over 300 MiB", big)) if bad)
    return ""


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        path, order, arch, reps = argv[1], argv[2], argv[3], int(argv[4])
        print(json.dumps(child(path, order, arch, reps, argv[5] if len(argv) > 5 else None)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="comma-separated instruction counts (default 100000,1000000)")
    ap.add_argument("--arches", default=",".join(ARCHES),
                    help="comma-separated backends (a big-endian target gets the big-endian "
                    "program)")
    ap.add_argument("--reps", type=int, default=3, help="runs per measurement (best is kept)")
    ap.add_argument("--reps-1m", type=int, default=1, help="runs for sizes of 1M and more")
    ap.add_argument("--profile", choices=STAGES, help="print a cProfile of this stage")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per child")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    arches = [a.strip() for a in args.arches.split(",") if a.strip()]
    rows = []
    if not args.json:
        print(f"{'size':>5} {'arch':<9}" + "".join(f"{s:>9}" for s in STAGES)
              + f"{'total':>9} {'insns/s':>9} {'peak RSS':>9} {'before':>7}  target")
    for n in sizes:
        for arch in arches:
            order = target_order(arch)
            reps = args.reps_1m if n >= 1_000_000 else args.reps
            r = run_child(program_path(n, order), order, arch, reps, args.profile, args.timeout)
            r["size"] = n
            rows.append(r)
            if args.json:
                continue
            if "error" in r:
                print(f"{size_name(n):>5} {arch:<9} skipped: {r['error']}")
                continue
            t = r["times"]
            print(f"{size_name(n):>5} {arch:<9}" + "".join(f"{t[s]:>8.3f}s" for s in STAGES)
                  + f"{t['total']:>8.3f}s {r['insns'] / t['total']:>9,.0f}"
                  + f" {r['rss_peak_kib'] / 1024:>7.0f}MB {r['rss_before_kib'] / 1024:>5.0f}MB"
                  + f"  {verdict(n, r)}", flush=True)
            if r.get("profile"):
                print(r["profile"])
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
