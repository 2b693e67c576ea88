"""Nanoseconds per packet: native bpfjit code against the kernel's JIT and the interpreter.

    python -m bench.native                  # every compute program and fixture; writes
                                            #   bench/native.json, bench/NATIVE.md and
                                            #   bench/plots/native.png (matplotlib: '.[bench]')
    python -m bench.native --only compute   # or fixture, or program names (fnv1a,xdp_lb)
    python -m bench.native --no-kernel      # skip the kernel's JIT

For each program of the corpus (bench/corpus.py: the compute programs of
bench/progs and the fixtures of tests/progs/build, little-endian objects: the
host's target) on the bench packet:

  native   the host's target (the registry target `jit.native` can run here)
           compiled by bpfjit and run by jit.native in one child process: one
           run checked against the interpreter (r0, packet, maps), then the
           entry called in a machine-code loop (backends/<arch>/host.py
           `repeat_thunk`) in batches of at least 20 ms of the child's CPU time, best
           batch of seven (time preempted is not counted, as the kernel stops its
           timer while it reschedules),
           on the state the first run left.  No Python runs between calls
           unless the program calls helpers (those are Python, timed as they are).
  kernel   BPF_PROG_TEST_RUN with `repeat` on the same bytecode and packet in a
           child process (`python -m bench.native --kernel-child`; a dead child
           means the kernel refused), repeat grown until a test run lasts 20 ms;
           the kernel's own average duration per run, best of three.  Needs root
           and bpf(); skipped with the reason elsewhere.
  interp   jit.interp on the same prepared memory, best of up to five runs
           (CPU time).

The headline figure is the geometric mean over the compute programs of native
/ kernel (the issue's goal: at most 1.5).  Per-run overheads differ: the
kernel's loop runs its XDP test harness per packet, ours a call through the
thunk; both are in the figures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

from bench import corpus
from bench.corpus import PACKET, ROOT
from jit import driver, interp

OUT_JSON = os.path.join(ROOT, "bench", "native.json")
OUT_MD = os.path.join(ROOT, "bench", "NATIVE.md")
OUT_PLOT = os.path.join(ROOT, "bench", "plots", "native.png")
BATCH_NS = 20_000_000           # a timed batch lasts at least this long
GOAL = 1.5                      # native / kernel on the compute programs (the goal)


# ---------------------------------------------------------------- the host's target

def host_target() -> tuple[str | None, str]:
    """(registry name of a target that runs natively here, "") or (None, why not)."""
    import backends
    from jit import native
    whys = []
    for t in backends.targets():
        why = native.why_not(backends.get(t.name))
        if why is None:
            return t.name, ""
        whys.append(why)
    return None, whys[0] if whys else "no targets registered"


# ---------------------------------------------------------------- one program, three ways

def time_native(obj, prog, arch: str, facts) -> dict:
    from jit import native
    inputs = driver.Inputs(packet=PACKET, max_insns=corpus.MAX_INSNS)
    ref = driver.run(obj, prog, driver.INTERP, inputs, facts=facts)
    env, r1, r2, hs = driver.prepare(obj, prog, inputs)
    images = driver.compile_for_run(obj, prog, arch, hs, facts=facts)
    restore = driver._point_prog_arrays(env, obj, images)
    try:
        res = native.run(images, env, r1, r2, helpers=hs, max_insns=corpus.MAX_INSNS,
                         repeat_ns=BATCH_NS)
    finally:
        restore()
    res.regions = env.memory.snapshot()
    d = driver.first_difference(driver.comparable(ref), driver.comparable(res))
    out = {"code_bytes": len(images[0].code),
           "agrees": d is None, "r0": res.r0}
    if d is not None:
        out["difference"] = f"{d[0]}: expected {d[1]!r}, got {d[2]!r}"
    if res.fault is not None:
        out["fault"] = str(res.fault)
    if res.native_ns is not None:
        out["ns"] = round(res.native_ns, 2)
    return out


def time_interp(obj, prog, facts, budget_s: float = 1.0) -> dict:
    inputs = driver.Inputs(packet=PACKET, max_insns=corpus.MAX_INSNS)
    best, spent, runs, insns = math.inf, 0.0, 0, 0
    while runs < 5 and (runs == 0 or spent < budget_s):
        env, r1, r2, hs = driver.prepare(obj, prog, inputs)
        t0 = time.process_time()
        res = interp.run(prog, env=env, r1=r1, r2=r2, helpers=hs, max_insns=corpus.MAX_INSNS,
                         stack_depths=facts.depths, programs=obj.programs)
        dt = time.process_time() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
        insns = res.insns_executed
    return {"ns": round(best * 1e9, 1), "insns_executed": insns}


def time_kernel(prog) -> dict:
    from bench import anchors
    req = anchors.kernel_request(prog, PACKET)
    if not req.get("data_in"):
        return {"skipped": f"program type {req['prog_type']} has no BPF_PROG_TEST_RUN here"}
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "bench.native", "--kernel-child"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
    try:
        out, _ = proc.communicate(json.dumps(req), timeout=anchors.KERNEL_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"refused": "the loading process did not answer"}
    if proc.returncode != 0 or not out.strip():
        return {"refused": f"the loading process died (status {proc.returncode})"}
    return json.loads(out)


def kernel_child(req: dict) -> dict:
    """Maps, load, then BPF_PROG_TEST_RUN with a growing repeat; runs in the child only."""
    from bench import anchors
    from jit.testing import kernel as K
    fds: list[int] = []
    try:
        for m in req["maps"]:
            inner = anchors._map_create(m["inner"]) if m.get("inner") else 0
            fds.append(anchors._map_create(m, inner))
            if inner:
                os.close(inner)
            if m.get("initial"):
                K.map_update(fds[-1], bytes(4), bytes.fromhex(m["initial"]))
        code = K.patch_maps(bytes.fromhex(req["insns"]), fds)
        fd, _ = K.prog_load(code, req["prog_type"], license=req["license"], log_level=0,
                            name=req["name"])
        try:
            data = bytes.fromhex(req["data_in"])
            first = K.prog_test_run(fd, data)
            repeat = 1000
            while True:
                t0 = time.perf_counter_ns()
                r = K.prog_test_run(fd, data, repeat=repeat)
                if time.perf_counter_ns() - t0 >= BATCH_NS or repeat >= 1 << 24:
                    break
                repeat *= 2
            best = r.duration_ns
            for _ in range(2):
                best = min(best, K.prog_test_run(fd, data, repeat=repeat).duration_ns)
            return {"ns": best, "repeat": repeat, "retval": first.retval,
                    "jited_prog_len": K.prog_info(fd).jited_prog_len}
        finally:
            os.close(fd)
    except K.KernelError as e:
        return {"refused": str(e)}
    finally:
        for fd in fds:
            os.close(fd)


# ---------------------------------------------------------------- the whole run

def measure(only: set[str] | None, with_kernel: bool) -> dict:
    arch, why = host_target()
    doc: dict = {"packet_bytes": len(PACKET), "batch_ns": BATCH_NS, "goal": GOAL,
                 "host": os.uname().machine, "kernel_release": os.uname().release,
                 "arch": arch, "native_skipped": why or None, "programs": []}
    kernel_why = None
    if with_kernel:
        from bench import anchors
        ok, kernel_why = anchors.kernel_available()
        kernel_why = None if ok else kernel_why
    else:
        kernel_why = "--no-kernel"
    doc["kernel_skipped"] = kernel_why
    items = corpus.compute_items() + corpus.fixture_items()
    for item in items:
        if only and item.name not in only and item.group not in only \
                and item.name.split(":")[-1] not in only:
            continue
        path = item.paths["little"]
        obj, prog = driver.load(path, program=item.program)
        facts = driver.analyse(prog)
        row = {"name": item.name, "group": item.group, "insns": len(prog.insns)}
        row["interp"] = time_interp(obj, prog, facts)
        if arch is not None:
            try:
                row["native"] = time_native(obj, prog, arch, facts)
            except Exception as e:      # noqa: BLE001 - reported, the run goes on
                row["native"] = {"error": f"{type(e).__name__}: {e}"}
        if kernel_why is None:
            row["kernel"] = time_kernel(prog)
        doc["programs"].append(row)
        print(_line(row), flush=True)
    doc["headline"] = headline(doc)
    return doc


def _ns(cell: dict | None) -> float | None:
    return cell.get("ns") if isinstance(cell, dict) else None


def headline(doc: dict) -> dict:
    """Geometric means of native/kernel and interp/native per group."""
    out = {}
    for group in ("compute", "fixture"):
        rows = [r for r in doc["programs"] if r["group"] == group]
        ratios = [_ns(r.get("native")) / _ns(r.get("kernel")) for r in rows
                  if _ns(r.get("native")) and _ns(r.get("kernel"))]
        speedups = [_ns(r["interp"]) / _ns(r.get("native")) for r in rows
                    if _ns(r.get("native")) and _ns(r["interp"])]
        out[group] = {
            "native_over_kernel_geomean": _geomean(ratios), "programs_with_kernel": len(ratios),
            "interp_over_native_geomean": _geomean(speedups),
        }
    return out


def _geomean(xs: list[float]) -> float | None:
    return round(math.exp(sum(math.log(x) for x in xs) / len(xs)), 3) if xs else None


def _fmt(cell) -> str:
    ns = _ns(cell)
    if ns is not None:
        return f"{ns:,.1f}"
    if isinstance(cell, dict):
        why = cell.get("skipped") or cell.get("refused") or cell.get("error") or "-"
        return "n/a (" + why.split(":")[0][:40] + ")"
    return "-"


def _line(row: dict) -> str:
    n, k = _ns(row.get("native")), _ns(row.get("kernel"))
    ratio = f"{n / k:.2f}x" if n and k else "-"
    agrees = row.get("native", {}).get("agrees")
    return (f"{row['name']:<32} native {_fmt(row.get('native')):>14}  kernel "
            f"{_fmt(row.get('kernel')):>14}  interp {_fmt(row['interp']):>14}  "
            f"native/kernel {ratio:>6}  agrees {agrees}")


def report(doc: dict) -> str:
    h = doc["headline"]
    lines = ["# Native execution: nanoseconds per packet", "",
             "`python -m bench.native` (bench/native.py says how each column is measured).",
             f"Host {doc['host']}, kernel {doc['kernel_release']}, target {doc['arch']}, "
             f"{doc['packet_bytes']}-byte bench packet.", ""]
    if doc["native_skipped"]:
        lines += [f"Native runs skipped: {doc['native_skipped']}.", ""]
    if doc["kernel_skipped"]:
        lines += [f"Kernel JIT skipped: {doc['kernel_skipped']}.", ""]
    c = h["compute"]
    if c["native_over_kernel_geomean"] is not None:
        verdict = "meets" if c["native_over_kernel_geomean"] <= GOAL else "misses"
        lines += [f"**Headline: on the compute programs native bpfjit code takes "
                  f"{c['native_over_kernel_geomean']:.2f}x the kernel JIT's time per packet "
                  f"(geometric mean over {c['programs_with_kernel']} programs; goal <= {GOAL}x: "
                  f"{verdict} it), and runs {c['interp_over_native_geomean']:,.0f}x faster than "
                  f"the interpreter.**", ""]
    f = h["fixture"]
    if f["native_over_kernel_geomean"] is not None:
        lines += [f"Fixtures: {f['native_over_kernel_geomean']:.2f}x the kernel's time "
                  f"(geometric mean over {f['programs_with_kernel']}; helper calls are Python "
                  "callbacks in native runs, in-kernel C in the kernel's).", ""]
    lines += ["| program | group | eBPF insns | native ns | kernel JIT ns | interp ns | "
              "native / kernel | agrees with interp |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in doc["programs"]:
        n, k = _ns(r.get("native")), _ns(r.get("kernel"))
        lines.append(f"| {r['name']} | {r['group']} | {r['insns']} | {_fmt(r.get('native'))} | "
                     f"{_fmt(r.get('kernel'))} | {_fmt(r['interp'])} | "
                     f"{f'{n / k:.2f}' if n and k else '-'} | "
                     f"{r.get('native', {}).get('agrees', '-')} |")
    return "\n".join(lines) + "\n"


def plot(doc: dict, path: str) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    rows = [r for r in doc["programs"] if _ns(r.get("native"))]
    if not rows:
        return "no native timings"
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(rows)), 5))
    width = 0.28
    xs = range(len(rows))
    for i, (key, label) in enumerate((("native", f"bpfjit native ({doc['arch']})"),
                                      ("kernel", "kernel JIT (BPF_PROG_TEST_RUN)"),
                                      ("interp", "bpfjit interpreter"))):
        vals = [_ns(r.get(key)) or 0 for r in rows]
        ax.bar([x + (i - 1) * width for x in xs], vals, width, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("ns per packet (log)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_title("Time per packet: native bpfjit vs the kernel's JIT vs the interpreter")
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--kernel-child"]:
        sys.stdout.write(json.dumps(kernel_child(json.loads(sys.stdin.read()))))
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench.native", description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma list of program names or groups (compute, fixture)")
    ap.add_argument("--no-kernel", action="store_true", help="skip the kernel's JIT")
    ap.add_argument("--json", default=OUT_JSON, help="where the JSON goes")
    ap.add_argument("--md", default=OUT_MD, help="where the table goes")
    ap.add_argument("--plot", default=OUT_PLOT, help="where the plot goes")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    doc = measure(only, not args.no_kernel)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    text = report(doc)
    with open(args.md, "w") as f:
        f.write(text)
    why = plot(doc, args.plot)
    print()
    print(text)
    print(f"wrote {os.path.relpath(args.json, ROOT)}, {os.path.relpath(args.md, ROOT)}"
          + (f", {os.path.relpath(args.plot, ROOT)}" if why is None else f" (no plot: {why})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
