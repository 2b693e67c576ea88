"""The benchmark run: every target, the anchors, the compile-speed sweep, one report.

    python -m bench.run            # the full run (several minutes)
    python -m bench.run --quick    # smaller corpus, fewer repetitions, sizes up to 10k

Per registered target (and each of its other CPU models, as "arch/cpu"),
each in a child process (so its peak RSS is its own), over the corpus of
bench/corpus.py:

  compile throughput  eBPF instructions per second per stage (load, analyse,
                      lower, emit), each stage called on its own as
                      jit.driver.compile_program chains them, best of repeats
  peak memory         the child's ru_maxrss, and tracemalloc's peak per stage
                      on the largest program of the corpus
  static code size    bytes and native instructions per eBPF instruction
  executed            native instructions executed per eBPF instruction
                      executed, same inputs (the bench packet), deterministic;
                      the native run must agree with the interpreter
  interpreter         eBPF instructions per second (its own child)

and the anchors (bench/anchors.py): the running kernel's JIT size for the same
objects (the host's architecture), and clang-19 -O2's native code for the compute programs
(size, and instructions executed under Unicorn).  A backend that cannot be
made yet is skipped with a note.  Writes bench/RESULTS.md, bench/results.json
and bench/plots/*.png (or the --out directory).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):           # `python bench/run.py` as well as `-m bench.run`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import corpus as C

# what the issues ask of each target (reported against, never asserted): bench/goals.json
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "goals.json")) as _f:
    GOALS = json.load(_f)


def exec_goal(arch: str) -> float:
    return GOALS["exec"].get(arch, GOALS["default_exec"])


def clang_size_goal(arch: str) -> float:
    return GOALS["clang_size"].get(arch, GOALS["default_clang_size"])


def host_target() -> str | None:
    """The registered target this machine runs natively (its kernel JIT is the anchor)."""
    import platform

    import backends
    return next((t.name for t in backends.targets() if t.tools and platform.machine()
                 in t.tools.host), None)


def anchors() -> list[str]:
    """The clang anchors, one per registered target."""
    import backends
    return list(backends.names())


def families(labels: list[str]) -> list[tuple[str, list[str]]]:
    """(anchor, the bench labels read against it): one per target with a label."""
    out = [(a, [lb for lb in labels if lb.split("/")[0] == a]) for a in anchors()]
    return [(a, lbs) for a, lbs in out if lbs]
THROUGHPUT_TARGET = 200_000


# ---------------------------------------------------------------- the child processes

def worker(label: str, only: set[str] | None, quick: bool, gen_sizes) -> None:
    """Measure one target ("interp" for the interpreter) and print JSON lines:
    {"tick": name} after each program, then {"result": ...}."""
    t = None if label == "interp" else C.target(label)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    items = C.corpus(gen_sizes=gen_sizes, only=only)
    out: dict = {"label": label, "items": {}}
    if t is not None:
        why = C.backend_status(t)
        if why:
            out["skipped"] = why
            _emit({"result": out})
            return
    min_time, max_reps = (0.005, 5) if quick else (0.05, 50)
    order = "little" if t is None else t.order
    if items:       # warm up (lazy imports, first-call caches), untimed
        _measure_item(items[0], t, order, 0.0, 1)
    for item in items:
        out["items"][item.name] = _measure_item(item, t, order, min_time, max_reps)
        _emit({"tick": item.name})
    if items:
        biggest = max(items, key=lambda i: i.gen_size or 0)
        data, file = biggest.source(order)
        try:
            out["stage_memory"] = {"program": biggest.name,
                                   "peak_bytes": C.stage_memory(data, file, biggest.program,
                                                                order, t)}
        except Exception as e:      # noqa: BLE001
            out["stage_memory"] = {"program": biggest.name, "error": _err(e)}
    out["rss_start_kib"] = rss_start
    out["rss_peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _emit({"result": out})


def _measure_item(item: C.Item, t: C.Target | None, order: str, min_time: float,
                  max_reps: int) -> dict:
    from jit import driver
    row: dict = {"group": item.group}
    try:
        data, file = item.source(order)
        staged = C.compile_staged(data, file, item.program, order, t, min_time=min_time,
                                  max_reps=max_reps)
    except Exception as e:          # noqa: BLE001 - recorded per program, the run goes on
        row["error"] = _err(e)
        return row
    prog = staged.prog
    row.update(insns=len(prog.insns), slots=prog.n_slots, times=staged.times, wall=staged.wall,
               reps=staged.reps)
    if staged.image is not None:
        row["code_bytes"] = len(staged.image.code)
        try:
            row["native_static"] = staged.image.native_count()
        except Exception as e:      # noqa: BLE001
            row["native_static_error"] = _err(e)
    try:
        ref = C.execute(staged.obj, prog, None, staged.facts)
    except Exception as e:          # noqa: BLE001
        row["run_error"] = _err(e)
        return row
    row["ebpf_executed"] = ref.insns_executed
    row["result"] = C.packet_result(ref)
    row["r0"] = ref.r0
    if ref.fault is not None:
        row["fault"] = str(ref.fault)
    if t is None:
        best = ref.run_seconds
        runs, spent = 1, ref.run_seconds
        while runs < max_reps and spent < min_time * 4:
            r = C.execute(staged.obj, prog, None, staged.facts)
            best = min(best, r.run_seconds)
            spent += r.run_seconds
            runs += 1
        row["interp_seconds"] = best
        return row
    try:
        got = C.execute(staged.obj, prog, t, staged.facts)
    except Exception as e:          # noqa: BLE001
        row["native_error"] = _err(e)
        return row
    row["native_executed"] = getattr(got, "native_insns", None)
    d = driver.first_difference(driver.comparable(ref), driver.comparable(got))
    row["agree"] = d is None
    if d is not None:
        row["diff"] = f"{d[0]}: interpreter {d[1]!r:.60}, native {d[2]!r:.60}"
    return row


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:200]


def run_worker(label: str, args, on_tick) -> dict:
    """Start a worker child, feed its ticks to `on_tick`, return its result."""
    cmd = [sys.executable, "-m", "bench.run", "--worker", label]
    if args.quick:
        cmd.append("--quick")
    if args.only:
        cmd += ["--only", args.only]
    cmd += ["--gen-sizes", ",".join(map(str, args.gen_sizes))]
    env = dict(os.environ)
    env["PYTHONPATH"] = C.ROOT + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=C.ROOT,
                                env=env)
        result = None
        for line in proc.stdout:
            msg = json.loads(line)
            if "tick" in msg:
                on_tick(msg["tick"])
            elif "result" in msg:
                result = msg["result"]
        proc.wait()
        if result is None:
            err.seek(0)
            tail = err.read().strip().splitlines()[-3:]
            return {"label": label, "items": {}, "error": f"worker failed (exit "
                    f"{proc.returncode}): {' / '.join(tail)}"}
    return result


# ---------------------------------------------------------------- summarising

def summarise(res: dict) -> dict:
    """Totals and ratios over one target's items (only the items that worked)."""
    items = res.get("items", {})
    s: dict = {}
    ok = {n: r for n, r in items.items() if "times" in r}
    stages = [st for st in C.STAGES if any(st in r["times"] for r in ok.values())]
    insns = sum(r["insns"] for r in ok.values())
    for st in stages:
        total = sum(r["times"][st] for r in ok.values() if st in r["times"])
        s[f"{st}_ips"] = insns / total if total else None
    total = sum(sum(r["times"].values()) for r in ok.values())
    s["pipeline_ips"] = insns / total if total else None
    s["compiled"] = len(ok)
    s["failed"] = {n: r["error"] for n, r in items.items() if "error" in r}
    for group in ("compute", "fixture", "generated", "all"):
        g = {n: r for n, r in ok.items() if group in ("all", r["group"])}
        sized = [r for r in g.values() if "code_bytes" in r]
        if sized:
            n = sum(r["insns"] for r in sized)
            s[f"{group}_bytes_per_insn"] = sum(r["code_bytes"] for r in sized) / n
            st = [r for r in sized if "native_static" in r]
            if st:
                s[f"{group}_native_per_insn"] = (sum(r["native_static"] for r in st) /
                                                 sum(r["insns"] for r in st))
        # only runs that agree with the interpreter: a run that faulted early says nothing
        ran = [r for r in g.values() if r.get("native_executed") and r.get("ebpf_executed")
               and r.get("agree")]
        if ran:
            s[f"{group}_exec_ratio"] = (sum(r["native_executed"] for r in ran) /
                                        sum(r["ebpf_executed"] for r in ran))
        timed = [r for r in g.values() if r.get("interp_seconds") and r.get("ebpf_executed")]
        if timed:
            s[f"{group}_interp_ips"] = (sum(r["ebpf_executed"] for r in timed) /
                                        sum(r["interp_seconds"] for r in timed))
    s["disagree"] = {n: r.get("diff", "") for n, r in items.items() if r.get("agree") is False}
    s["run_failed"] = {n: r.get("native_error") or r.get("run_error")
                       for n, r in items.items() if "native_error" in r or "run_error" in r}
    if "rss_peak_kib" in res:
        s["rss_peak_mib"] = res["rss_peak_kib"] / 1024
    return s


def geomean(xs) -> float | None:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def anchor_ratios(results: dict) -> dict:
    """Per target: bpfjit against clang (size, executed) and against the kernel JIT (size)."""
    from bench.anchors import anchor_for
    clang = results["anchors"].get("clang", {})
    kernel = results["anchors"].get("kernel", {})
    out = {}
    for label, res in results["targets"].items():
        items = res.get("items", {})
        a = anchor_for(label)
        size, ex = {}, {}
        for k in C.COMPUTE:
            r = items.get(k, {})
            cs = clang.get("static", {}).get(a, {}).get(k)
            ce = clang.get("executed", {}).get(a, {}).get(k, {})
            if r.get("code_bytes") and cs:
                size[k] = r["code_bytes"] / cs["bytes"]
            if r.get("native_executed") and ce.get("insns_executed"):
                ex[k] = r["native_executed"] / ce["insns_executed"]
        kj = {}
        if label == host_target():
            for name, r in items.items():
                j = kernel.get(name, {}).get("jited_prog_len")
                if r.get("code_bytes") and j:
                    kj[name] = r["code_bytes"] / j
        out[label] = {"clang_size": size, "clang_size_geomean": geomean(size.values()),
                      "clang_size_max": max(size.values()) if size else None,
                      "clang_exec": ex, "clang_exec_geomean": geomean(ex.values()),
                      "kernel_size": kj, "kernel_size_geomean": geomean(kj.values()),
                      "kernel_size_max": max(kj.values()) if kj else None}
    return out


def check_targets(results: dict) -> list[dict]:
    """The issue's targets, each PASS / FAIL / not measured, with the figure."""
    rows = []
    cs = results.get("compile_speed") or {}
    from bench import compile_speed as CS
    speed = CS.summary_rows(cs) if cs.get("rows") else []

    def add(what, value, ok, note=""):
        rows.append({"target": what, "value": value,
                     "verdict": "not measured" if ok is None else ("PASS" if ok else "FAIL"),
                     "note": note})

    def per_target(size: int, value, ok) -> None:
        """One row for `size`: every target's figure, FAIL if any target misses (or timed out)."""
        rows_ = [r for r in speed if r["size"] == size]
        cells, verdicts = [], []
        for r in rows_:
            if "error" in r:
                cells.append(f"{r['target']}: {CS.cell(r['error'])}")
                verdicts.append(False)
            elif r["end_to_end"]:
                cells.append(f"{r['target']} {value(r)}")
                verdicts.append(ok(r))
            else:
                cells.append(f"front end only {value(r)}")
        verdict = None if not verdicts else all(verdicts)
        return "; ".join(cells) or "-", verdict, "" if rows_ else "size not measured"

    v, ok, note = per_target(100_000, lambda r: f"{r['ips'] / 1e3:.0f}k/s",
                             lambda r: r["ips"] >= THROUGHPUT_TARGET)
    add(">= 200,000 eBPF insns/s end to end on the 100k program", v, ok, note)
    v, ok, note = per_target(1_000_000, lambda r: f"{r['seconds']:.1f} s CPU "
                             f"({r['wall_seconds']:.0f} s wall)", lambda r: r["seconds"] < 10)
    add("1,000,000-insn program compiles in < 10 s", v, ok, note)
    v, ok, note = per_target(1_000_000, lambda r: f"{r['rss_peak_mib']:.0f} MiB",
                             lambda r: r["rss_peak_mib"] < 1024)
    add("... with < 1 GiB peak (RSS of the compiling process)", v, ok, note)
    ratios = results.get("anchor_ratios", {})
    host = host_target()
    hr = ratios.get(host, {}) if host else {}
    if hr.get("kernel_size"):
        worst = max(hr["kernel_size"].items(), key=lambda kv: kv[1])
        add(f"{host} code no larger than the kernel's JIT",
            f"geomean {hr['kernel_size_geomean']:.2f}x, worst {worst[1]:.2f}x ({worst[0]})",
            worst[1] <= 1.0)
    else:
        add("host code no larger than the kernel's JIT", "-", None,
            "no backend for this host, or no kernel")
    for label, res in results["targets"].items():
        s = res.get("summary", {})
        limit = exec_goal(label.split("/")[0])
        v = s.get("compute_exec_ratio")
        items = res.get("items", {})
        agreeing = sum(1 for k in C.COMPUTE if items.get(k, {}).get("agree"))
        note = "backend not available" if "skipped" in res else \
            f"{agreeing} of {len(C.COMPUTE)} programs agree with the interpreter and are counted"
        add(f"{label}: <= {limit} native insns executed per eBPF insn (compute programs)",
            f"{v:.2f}" if v else "-", None if v is None else v <= limit, note)
    for label, r in ratios.items():
        v, worst = r.get("clang_size_geomean"), r.get("clang_size_max")
        goal = clang_size_goal(label.split("/")[0])
        add(f"{label}: within {goal}x of clang -O2 code size (compute programs)",
            f"geomean {v:.2f}x, worst {worst:.2f}x" if v else "-",
            None if v is None else worst <= goal)
    return rows


# ---------------------------------------------------------------- the report

def _f(v, fmt="{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _ips(v) -> str:
    if v is None:
        return "-"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k"


def markdown(results: dict) -> str:
    from bench import compile_speed as CS
    m = results["meta"]
    L = ["# bpfjit benchmark results", "",
         f"Generated by `{m['command']}` on {m['date']} (commit {m['commit']}); "
         f"{m['machine']}, Python {m['python']}, kernel {m['kernel']}. "
         f"Run time {m['seconds']:.0f} s; load average {m.get('loadavg_start', '?')} at the "
         f"start, {m.get('loadavg_end', '?')} at the end (times are CPU time of the measuring "
         "process, so a busy machine slows them less than it slows wall time).", "",
         "How to read this: bench/README.md. Every figure below comes from this run; "
         "`-` means not measured (the reason is given).", ""]

    # ---- targets
    L += ["## Checks against the issue's targets", "",
          "| target | measured | verdict | note |", "|---|---|---|---|"]
    L += [f"| {r['target']} | {r['value']} | {r['verdict']} | {r['note']} |"
          for r in results["targets_check"]]

    # ---- per target summary
    L += ["", "## Per target", "",
          "| target | status | load | analyse | lower | emit | pipeline | peak RSS | "
          "bytes/insn | native insns/insn (static) | executed native/eBPF (compute) | "
          "(fixtures) | vs clang size | vs kernel JIT size |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = results["anchor_ratios"]
    for label, res in results["targets"].items():
        s = res.get("summary", {})
        status = "skipped: " + res["skipped"] if "skipped" in res else \
            res.get("error", f"ok ({s.get('compiled', 0)} programs)")
        if s.get("failed"):
            status += f", {len(s['failed'])} failed"
        if s.get("disagree"):
            status += f", **{len(s['disagree'])} disagree with the interpreter**"
        r = ratios.get(label, {})
        L.append(f"| {label} | {CS.cell(status)} | " + " | ".join(_ips(s.get(f"{st}_ips"))
                                                        for st in C.STAGES) +
                 f" | {_ips(s.get('pipeline_ips'))} | {_f(s.get('rss_peak_mib'), '{:.0f} MiB')} | "
                 f"{_f(s.get('all_bytes_per_insn'))} | {_f(s.get('all_native_per_insn'))} | "
                 f"{_f(s.get('compute_exec_ratio'))} | {_f(s.get('fixture_exec_ratio'))} | "
                 f"{_f(r.get('clang_size_geomean'), '{:.2f}x')} | "
                 f"{_f(r.get('kernel_size_geomean'), '{:.2f}x')} |")
    it = results["interp"].get("summary", {})
    L += ["", f"Interpreter: {_ips(it.get('compute_interp_ips'))} eBPF insns/s executed on "
          f"the compute programs, {_ips(it.get('fixture_interp_ips'))} on the fixtures (short "
          "runs: its per-run setup weighs more); front end "
          f"load {_ips(it.get('load_ips'))}, analyse {_ips(it.get('analyse_ips'))} insns/s; "
          f"peak RSS {_f(it.get('rss_peak_mib'), '{:.0f} MiB')}.", "",
          "Stage columns: eBPF instructions per second over the whole corpus (sum of "
          "instructions / sum of the best time of each program), one core; on these small "
          "objects load is mostly ELF parsing.  Executed native/eBPF: sums over the programs "
          "whose native run agrees with the interpreter.  "
          "vs clang / vs kernel: geometric mean of bpfjit bytes / anchor bytes per program "
          "(compute programs / every program the kernel loaded)."]
    mem_rows = [(label, res["stage_memory"]) for label, res in results["targets"].items()
                if "stage_memory" in res and "peak_bytes" in res["stage_memory"]]
    if mem_rows:
        L += ["", "Peak Python allocation per stage (tracemalloc) on "
              f"{mem_rows[0][1]['program']}:", "",
              "| target | " + " | ".join(C.STAGES) + " |", "|---|" + "---:|" * len(C.STAGES)]
        for label, sm in mem_rows:
            peaks = sm["peak_bytes"]
            L.append(f"| {label} | " + " | ".join(
                f"{peaks[st] / 1024:.0f} KiB" if st in peaks else "-" for st in C.STAGES) + " |")

    # ---- compute programs: code size
    clang = results["anchors"].get("clang", {})
    kernel = results["anchors"].get("kernel", {})
    labels = list(results["targets"])
    L += ["", "## Compute programs: code size (bytes)", ""]
    if "error" in clang:
        L.append(f"clang anchor not measured: {CS.cell(clang['error'])}")
    head = ["program", "eBPF insns", f"kernel JIT ({host_target() or 'host'})"]
    for a in anchors():
        head.append(f"clang {a}")
    head += [f"bpfjit {lb}" for lb in labels]
    L += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    interp_items = results["interp"].get("items", {})
    for k in C.COMPUTE:
        row = [k, str(interp_items.get(k, {}).get("insns", "-")),
               str(kernel.get(k, {}).get("jited_prog_len", "-"))]
        for a in anchors():
            cs = clang.get("static", {}).get(a, {}).get(k)
            row.append(f"{cs['bytes']} ({cs['insns']} insns)" if cs else "-")
        for lb in labels:
            r = results["targets"][lb].get("items", {}).get(k, {})
            if "code_bytes" in r:
                ratio = ratios[lb]["clang_size"].get(k)
                row.append(f"{r['code_bytes']} ({r.get('native_static', '?')} insns"
                           + (f", {ratio:.2f}x clang)" if ratio else ")"))
            else:
                row.append(CS.cell(r.get("error", "-")[:50]) if r else "-")
        L.append("| " + " | ".join(row) + " |")

    # ---- compute programs: executed
    L += ["", "## Compute programs: instructions executed on the bench packet", "",
          "Native instructions executed per eBPF instruction executed (same input; "
          "clang's code runs the same C under Unicorn).", ""]
    head = ["program", "eBPF executed", "interp insns/s"]
    head += [f"clang {a}" for a in anchors()]
    head += [f"bpfjit {lb}" for lb in labels]
    L += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for k in C.COMPUTE:
        ir = interp_items.get(k, {})
        n = ir.get("ebpf_executed")
        row = [k, str(n or "-"),
               _ips(n / ir["interp_seconds"]) if n and ir.get("interp_seconds") else "-"]
        for a in anchors():
            ce = clang.get("executed", {}).get(a, {}).get(k, {})
            if ce.get("insns_executed") and n:
                mark = "" if ce.get("result") == _order_result(results, k, a) else " (result differs!)"
                row.append(f"{ce['insns_executed']} ({ce['insns_executed'] / n:.2f}){mark}")
            else:
                row.append(CS.cell(ce.get("error", "-")[:40]) if ce else "-")
        for lb in labels:
            r = results["targets"][lb].get("items", {}).get(k, {})
            if r.get("native_executed") and r.get("ebpf_executed"):
                agree = "" if r.get("agree") else " **differs**"
                row.append(f"{r['native_executed']} ({r['native_executed'] / r['ebpf_executed']:.2f})"
                           f"{agree}")
            else:
                row.append(CS.cell((r.get("native_error") or r.get("error") or "-")[:50]))
        L.append("| " + " | ".join(row) + " |")
    L += ["", "Kernel agreement: the running kernel's BPF_PROG_TEST_RUN of each compute "
          "program left " + _kernel_agreement(results) + "."]

    # ---- fixtures and generated
    L += ["", "## Fixtures and generated programs", "",
          "Bytes of native code per eBPF instruction (and executed native / executed eBPF).", ""]
    head = ["program", "eBPF insns", "eBPF executed", "kernel x86 JIT"] + labels
    L += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, ir in interp_items.items():
        if ir.get("group") == "compute":
            continue
        kj = kernel.get(name, {})
        kcell = f"{kj['jited_prog_len']} ({kj['jited_prog_len'] / ir['insns']:.2f})" \
            if kj.get("jited_prog_len") and ir.get("insns") else \
            ("refused" if "refused" in kj else "-")
        row = [name, str(ir.get("insns", "-")), str(ir.get("ebpf_executed", "-")), kcell]
        for lb in labels:
            r = results["targets"][lb].get("items", {}).get(name, {})
            if "code_bytes" in r:
                cell = f"{r['code_bytes'] / r['insns']:.2f}"
                if r.get("native_executed") and r.get("ebpf_executed"):
                    cell += f" ({r['native_executed'] / r['ebpf_executed']:.2f})"
                if r.get("agree") is False:
                    cell += " **differs**"
                row.append(cell)
            elif r:
                row.append(CS.cell((r.get("error") or r.get("native_error") or "-")[:40]))
            else:
                row.append("-")
        L.append("| " + " | ".join(row) + " |")
    refused = {n: v for n, v in kernel.items() if "refused" in v}
    if refused:
        L += ["", "The kernel refused: " + "; ".join(
            f"{n} ({v['refused']}{': ' + v['log'][:80] if v.get('log') else ''})"
            for n, v in refused.items()) + "."]

    # ---- problems
    problems = []
    for label, res in results["targets"].items():
        s = res.get("summary", {})
        for n, e in s.get("failed", {}).items():
            problems.append(f"- {label} `{n}`: compile failed: {e}")
        for n, e in s.get("run_failed", {}).items():
            problems.append(f"- {label} `{n}`: run failed: {e}")
        for n, e in s.get("disagree", {}).items():
            problems.append(f"- {label} `{n}`: differs from the interpreter: {e}")
    if problems:
        L += ["", "## Problems found while measuring", ""] + problems

    # ---- compile speed
    cs = results.get("compile_speed")
    if cs:
        L += ["", "## Compile speed (generated programs)", "", CS.markdown(cs)]
    if results.get("plots"):
        L += ["", "## Plots", ""] + [f"![{os.path.basename(p)}](plots/{os.path.basename(p)})"
                                     for p in results["plots"]]
    return "\n".join(L) + "\n"


def _order_result(results: dict, kernel: str, anchor: str) -> str | None:
    """The interpreter's result for `kernel` in the anchor's byte order."""
    from bench.anchors import anchor_order
    if anchor_order(anchor) == "little":
        return results["interp"].get("items", {}).get(kernel, {}).get("result")
    return results.get("interp_big", {}).get(kernel)


def _kernel_agreement(results: dict) -> str:
    kernel = results["anchors"].get("kernel", {})
    if not kernel:
        return "nothing (kernel anchor not measured)"
    agree, differ = [], []
    for k in C.COMPUTE:
        kj = kernel.get(k, {})
        mine = results["interp"].get("items", {}).get(k, {}).get("result")
        if "data_out" in kj and mine:
            (agree if kj["data_out"][:8] == mine else differ).append(k)
    text = f"the same result as the interpreter for {len(agree)} of {len(C.COMPUTE)}"
    return text + (f" (differs: {', '.join(differ)})" if differ else "")


# ---------------------------------------------------------------- plots

def plots(results: dict, outdir: str) -> list[str]:
    """Code size and executed instructions against the anchors; compile speed by size."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results["meta"]["plots"] = "matplotlib not installed (pip install -e .[bench])"
        return []
    os.makedirs(outdir, exist_ok=True)
    written = []
    clang = results["anchors"].get("clang", {})
    kernel = results["anchors"].get("kernel", {})
    labels = list(results["targets"])
    progs = list(C.COMPUTE)
    x = range(len(progs))

    # code size: one panel per target (its labels against its clang anchor)
    fams = families(labels)
    fig, axes = plt.subplots(1, len(fams), figsize=(5.4 * len(fams), 5), sharey=False,
                             squeeze=False)
    axes = axes[0]
    for ax, (anchor, lbs) in zip(axes, fams):
        series = [(f"clang -O2 {anchor}",
                   [clang.get("static", {}).get(anchor, {}).get(k, {}).get("bytes", 0)
                    for k in progs])]
        if anchor == host_target():
            series.append(("kernel JIT", [kernel.get(k, {}).get("jited_prog_len", 0)
                                          for k in progs]))
        for lb in lbs:
            if lb in results["targets"]:
                series.append((f"bpfjit {lb}", [results["targets"][lb].get("items", {})
                                                .get(k, {}).get("code_bytes", 0) for k in progs]))
        width = 0.8 / len(series)
        for i, (name, ys) in enumerate(series):
            ax.bar([j + i * width for j in x], ys, width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in x], progs, rotation=30)
        ax.set_title(f"{anchor}: code size (bytes)")
        ax.set_ylim(0, max([max(ys) for _, ys in series] + [1]) * 1.35)   # room for the legend
        ax.legend(fontsize=7, loc="upper left")
        missing = [lb for lb in lbs if "skipped" in results["targets"].get(lb, {})]
        if missing:
            ax.text(0.02, 0.95, "not measured: " + ", ".join(missing), transform=ax.transAxes,
                    fontsize=7, va="top")
    fig.tight_layout()
    path = os.path.join(outdir, "code_size.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    # executed native instructions per eBPF instruction
    fig, axes = plt.subplots(1, len(fams), figsize=(5.4 * len(fams), 5), squeeze=False)
    axes = axes[0]
    interp_items = results["interp"].get("items", {})
    for ax, (anchor, lbs) in zip(axes, fams):
        series = []
        n = [interp_items.get(k, {}).get("ebpf_executed") or 0 for k in progs]
        ce = clang.get("executed", {}).get(anchor, {})
        series.append((f"clang -O2 {anchor}",
                       [ce.get(k, {}).get("insns_executed", 0) / m if m else 0
                        for k, m in zip(progs, n)]))
        for lb in lbs:
            items = results["targets"].get(lb, {}).get("items", {})
            series.append((f"bpfjit {lb}", [
                (items.get(k, {}).get("native_executed") or 0) /
                (items.get(k, {}).get("ebpf_executed") or 1) for k in progs]))
        width = 0.8 / len(series)
        for i, (name, ys) in enumerate(series):
            ax.bar([j + i * width for j in x], ys, width, label=name)
        limit = exec_goal(anchor)
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"target {limit}")
        ax.axhline(1.0, color="grey", linewidth=0.5)
        ax.set_xticks([j + 0.4 - width / 2 for j in x], progs, rotation=30)
        ax.set_title(f"{anchor}: native insns executed per eBPF insn executed")
        ax.set_ylim(0, max([max(ys) for _, ys in series] + [limit]) * 1.35)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    path = os.path.join(outdir, "executed.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    # compile speed by program size
    cs = results.get("compile_speed")
    if cs and cs.get("rows"):
        from bench import compile_speed as CS
        rows = [r for r in CS.summary_rows(cs) if "ips" in r]
        fig, ax = plt.subplots(figsize=(10, 5))
        for tgt in sorted({r["target"] for r in rows}):
            rs = sorted((r for r in rows if r["target"] == tgt), key=lambda r: r["size"])
            ax.plot([r["size"] for r in rs], [r["ips"] for r in rs], marker="o",
                    label=f"{tgt} end to end" if rs[0]["end_to_end"] else f"{tgt} front end")
        front = sorted((r for r in rows if r["target"] == rows[0]["target"]),
                       key=lambda r: r["size"])
        for st in C.STAGES:
            ys = [r.get(f"{st}_ips") for r in front]
            if all(ys):
                ax.plot([r["size"] for r in front], ys, linestyle=":", label=f"{st} ({front[0]['target']})")
        ax.axhline(THROUGHPUT_TARGET, color="red", linestyle="--", linewidth=1,
                   label="target 200k/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("eBPF instructions")
        ax.set_ylabel("eBPF instructions per second")
        ax.set_title("compile throughput (eBPF insns per CPU second, one core)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path = os.path.join(outdir, "compile_speed.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# ---------------------------------------------------------------- main

def _meta(argv: list[str], seconds: float) -> dict:
    def git(*a):
        try:
            return subprocess.run(["git", *a], capture_output=True, text=True, cwd=C.ROOT,
                                  timeout=10).stdout.strip()
        except Exception:       # noqa: BLE001
            return "?"
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    return {"command": "python -m bench.run" + ("" if not argv else " " + " ".join(argv)),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "commit": git("rev-parse", "--short", "HEAD") + (" + uncommitted changes"
                                                               if git("status", "--porcelain")
                                                               else ""),
            "machine": f"{cpu}, {os.cpu_count()} CPUs", "python": platform.python_version(),
            "kernel": platform.release(), "seconds": seconds,
            "loadavg_end": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(prog="python -m bench.run",
                                 description="bpfjit's benchmark run (see bench/README.md)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions, generated programs of 1k only, compile speed "
                         "up to 10k")
    ap.add_argument("--targets", help="comma-separated target labels (default: all): "
                    + ", ".join(t.label for t in C.TARGETS))
    ap.add_argument("--only", help="comma-separated program names or groups "
                    "(compute, fixture, generated)")
    ap.add_argument("--gen-sizes", help="generated programs in the corpus (default 1000,10000; "
                    "--quick 1000)")
    ap.add_argument("--speed-sizes", help="compile-speed sizes (default 1000,10000,100000,"
                    "1000000; --quick 1000,10000)")
    ap.add_argument("--no-kernel", action="store_true", help="skip the kernel JIT anchor")
    ap.add_argument("--no-clang", action="store_true", help="skip the clang anchor")
    ap.add_argument("--no-compile-speed", action="store_true", help="skip the compile-speed sweep")
    ap.add_argument("--no-profile", action="store_true",
                    help="skip the cProfile of the 100k program")
    ap.add_argument("--child-timeout", type=float, default=None,
                    help="wall seconds one compile-speed compile may take (default 900)")
    ap.add_argument("--out", default=C.BENCH,
                    help="where RESULTS.md, results.json and plots/ go (default bench/)")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: rewrite RESULTS.md and the plots from the "
                         "results.json in --out")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.gen_sizes:
        args.gen_sizes = [int(s) for s in args.gen_sizes.split(",") if s]
    else:
        args.gen_sizes = [1000] if args.quick else [1000, 10_000]
    only = set(args.only.split(",")) if args.only else None
    if args.worker:
        worker(args.worker, only, args.quick, args.gen_sizes)
        return 0
    if args.render:
        with open(os.path.join(args.out, "results.json")) as f:
            results = json.load(f)
        write_reports(results, args.out)
        return 0

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)
    from bench import anchors as A
    from bench import compile_speed as CS
    started = time.perf_counter()
    loadavg_start = round(os.getloadavg()[0], 2)
    labels = [C.target(s.strip()).label for s in args.targets.split(",")] if args.targets \
        else [t.label for t in C.TARGETS]
    speed_sizes = [int(s) for s in args.speed_sizes.split(",")] if args.speed_sizes else \
        ([1000, 10_000] if args.quick else list(CS.SIZES))
    items = C.corpus(gen_sizes=args.gen_sizes, only=only)
    console = Console(stderr=True)
    results: dict = {"targets": {}, "anchors": {}}
    with Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        def phase(name: str, total: int):
            task = bar.add_task(name, total=total)
            return lambda *_: bar.advance(task)

        tick = phase("interpreter", len(items))
        results["interp"] = run_worker("interp", args, tick)
        results["interp"]["summary"] = summarise(results["interp"])
        # the interpreter's results on the big-endian objects, for the mips64 clang anchor
        results["interp_big"] = _big_endian_results(only)
        for label in labels:
            tick = phase(label, len(items))
            res = run_worker(label, args, tick)
            res["summary"] = summarise(res)
            results["targets"][label] = res
        if not args.no_clang:
            tick = phase("clang anchor", 1)
            results["anchors"]["clang"] = A.clang_anchors(C.PACKET)
            tick()
        if not args.no_kernel:
            ok, why = A.kernel_available()
            tick = phase("kernel JIT anchor", len(items) if ok else 1)
            if ok:
                reqs, names = [], []
                from jit import driver
                for item in items:
                    try:
                        data, file = item.source("little")
                        _, prog = driver.load(data, program=item.program, file=file)
                    except Exception:       # noqa: BLE001 - the interpreter row says why
                        tick()
                        continue
                    reqs.append(A.kernel_request(prog, C.PACKET))
                    names.append(item.name)
                answers = A.kernel_jited(reqs, on_done=tick)
                results["anchors"]["kernel"] = dict(zip(names, answers))
            else:
                results["anchors"]["kernel_unavailable"] = why
                tick()
        if not args.no_compile_speed:
            profile = None if args.no_profile or args.quick else 100_000
            total = CS.work_units(speed_sizes, labels, kernel=not args.no_kernel, fixtures=True,
                                  profile=profile)
            task = bar.add_task("compile speed", total=total)
            results["compile_speed"] = CS.measure(
                speed_sizes, labels, kernel=not args.no_kernel, fixtures=True, profile=profile,
                timeout=args.child_timeout or CS.CHILD_TIMEOUT,
                progress=lambda d, a: bar.update(task, advance=a, description=d[:34]))
    results["meta"] = _meta(argv, time.perf_counter() - started)
    results["meta"]["loadavg_start"] = loadavg_start
    text = write_reports(results, args.out)
    print(text)
    console.print(f"wrote {os.path.join(args.out, 'RESULTS.md')}, results.json, "
                  f"{len(results['plots'])} plots")
    return 0


def write_reports(results: dict, out: str) -> str:
    """Derive the ratios and verdicts, write results.json, RESULTS.md and the plots."""
    _canonical_order(results)
    results["anchor_ratios"] = anchor_ratios(results)
    results["targets_check"] = check_targets(results)
    os.makedirs(out, exist_ok=True)
    results["plots"] = [os.path.relpath(p, out) for p in plots(results, os.path.join(out, "plots"))]
    text = markdown(results)
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return text


def _canonical_order(results: dict) -> None:
    """Targets in TARGETS order, programs compute / fixture / generated (by size), stages in
    pipeline order: the report reads the same whether results came from a run or a file."""
    rank = {t.label: i for i, t in enumerate(C.TARGETS)}
    results["targets"] = dict(sorted(results["targets"].items(),
                                     key=lambda kv: rank.get(kv[0], len(rank))))
    groups = {"compute": 0, "fixture": 1, "generated": 2}
    compute = {k: i for i, k in enumerate(C.COMPUTE)}

    def key(kv):
        name, row = kv
        size = int(name[4:-1]) * (1000 if name.endswith("k") else 1_000_000) \
            if row.get("group") == "generated" and name[4:-1].isdigit() else 0
        return groups.get(row.get("group"), 3), compute.get(name, 0), size, name
    for res in [results["interp"], *results["targets"].values()]:
        res["items"] = dict(sorted(res.get("items", {}).items(), key=key))
    prof = (results.get("compile_speed") or {}).get("profile")
    if prof:
        prof["stages"] = {st: prof["stages"][st] for st in C.STAGES if st in prof["stages"]}
        prof["emit"] = dict(sorted(prof["emit"].items(), key=lambda kv: rank.get(kv[0], 99)))


def _big_endian_results(only) -> dict:
    """kernel -> the interpreter's packet result on the bpfeb object (checks the mips64 anchor)."""
    out = {}
    for item in C.compute_items():
        if only and item.name not in only and "compute" not in only:
            continue
        try:
            data, file = item.source("big")
            s = C.compile_staged(data, file, item.program, "big", None)
            out[item.name] = C.packet_result(C.execute(s.obj, s.prog, None, s.facts))
        except Exception:           # noqa: BLE001
            continue
    return out


if __name__ == "__main__":
    sys.exit(main())
