"""How fast bpfjit compiles, and how much memory and code it makes, as programs grow.

    python -m bench.compile_speed                       # 1k, 10k, 100k, 1M instructions
    python -m bench.compile_speed --sizes 1000,10000    # smaller
    python -m bench.compile_speed --profile 100000      # + where each stage spends its time

For each size, bench/genprog.py's program (seed 1, both byte orders, cached
in bench/out/) goes through load, analyse, lower and emit for every target,
each stage timed on its own, in a fresh child process pinned to one CPU; the
child reports its peak RSS (ru_maxrss) and its RSS before loading, so the
pipeline's own footprint is the difference.  When no backend can be made,
the front end (load, analyse) is still measured, as target "-".

x86-64 code size per eBPF instruction is set against the running kernel's
JIT (jited_prog_len) on the fixtures and on the generated programs.  The
kernel refuses genprog's programs as they are (ALU32 shifts by 32..62), so
the comparison uses a variant with those shift counts masked to 31 and
compiles that same variant with bpfjit.

It owns the numbers of the "compile speed" section of bench/RESULTS.md; it
does not write reports itself (bench/run.py does), it prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

if __package__ in (None, ""):           # `python bench/compile_speed.py` as well as `-m`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import corpus as C

SIZES = (1000, 10_000, 100_000, 1_000_000)
CHILD_TIMEOUT = 900.0
TARGETS_NOTE = {                          # what the issue asks of these numbers (reported, not asserted)
    "throughput_100k": 200_000,           # eBPF insns/s end to end on the 100k program
    "seconds_1M": 10.0,
    "peak_rss_1M": 1 << 30,
}


# ---------------------------------------------------------------- generated programs on disk

def gen_path(n: int, order: str) -> str:
    os.makedirs(C.OUT, exist_ok=True)
    path = os.path.join(C.OUT, f"gen-{C.size_name(n)}.seed1.{order}.bin")
    if not os.path.exists(path):
        from bench import genprog
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(genprog.generate_bytes(n, 1, order))
        os.replace(tmp, path)
    return path


def kernel_variant(insns):
    """genprog's program made loadable by the kernel, with less of it provably dead.

    The kernel refuses ALU32 shifts by an immediate of 32 or more, so those
    counts are masked to 31.  Every register of genprog's program starts as a
    constant, so the verifier resolves most branches and removes the code it
    proves unreachable; after genprog's ten initial moves, r6..r9 are set
    from get_prandom_u32 (and r1..r5 set again, as the call clobbers them) so
    more of the program survives.  The comparison is per instruction the
    kernel kept (xlated_prog_len / 8), and bpfjit compiles this same variant.
    """
    from jit import isa
    from jit.isa import Insn
    shifts = {isa.Alu.LSH, isa.Alu.RSH, isa.Alu.ARSH}
    body = []
    for i in insns:
        if i.opcode & 0x07 == isa.Cls.ALU and i.opcode & 0x08 == 0 and (i.opcode & 0xF0) in shifts:
            i = Insn(i.opcode, i.dst, i.src, i.off, i.imm & 31)
        body.append(i)
    unknown = []
    for r in (6, 7, 8, 9):
        unknown += [Insn(isa.CALL, 0, 0, 0, 7),                                  # r0 = prandom
                    Insn(isa.Cls.ALU64 | isa.Alu.MOV | isa.Src.X, r, 0, 0, 0)]   # rN = r0
    return body[:10] + unknown + body[1:6] + body[10:]


# ---------------------------------------------------------------- one measurement, in a child

def child(path: str, order: str, label: str, variant: bool = False) -> dict:
    """Compile one generated program for one target; stage times, RSS, code size."""
    from jit import isa
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})               # one core, the same one each time
    t = None if label == "-" else C.target(label)
    with open(path, "rb") as f:
        data = f.read()
    if variant:
        data = isa.encode(kernel_variant(isa.decode(data, order)), order)
    n = len(data) // 8
    reps = 3 if n <= 10_000 else 1
    # warm up (lazy imports, first-call caches) on a small program, untimed
    from bench import genprog
    C.compile_staged(genprog.generate_bytes(200, 2, order), "<warm-up>", None, order, t)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    staged = C.compile_staged(data, os.path.basename(path), None, order, t, max_reps=reps)
    wall = time.perf_counter() - t0
    out = {"insns": len(staged.prog.insns), "times": staged.times, "wall_times": staged.wall,
           "reps": staged.reps, "wall": wall, "rss_before_kib": rss_before,
           "loadavg": round(os.getloadavg()[0], 2),
           "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if staged.image is not None:
        out["code_bytes"] = len(staged.image.code)
    return out


def _run_child(args: list[str], timeout: float = CHILD_TIMEOUT) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = C.ROOT + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.compile_speed", "--child", *args],
                              capture_output=True, text=True, timeout=timeout, cwd=C.ROOT,
                              env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s (wall)"}
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"error": last[0][:200]}
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- the whole measurement

def measure(sizes=SIZES, labels=None, *, kernel: bool = True, fixtures: bool = True,
            profile: int | None = None, progress=None, timeout: float = CHILD_TIMEOUT) -> dict:
    """Everything compile_speed reports, as a JSON-able dict.

    `progress(description, advance)` is called as work finishes (for a bar).
    """
    labels = [t.label for t in C.TARGETS] if labels is None else list(labels)
    status = {lb: C.backend_status(C.target(lb)) for lb in labels}
    ready = [lb for lb in labels if status[lb] is None]
    runs = ready or ["-"]
    tick = progress or (lambda *_: None)
    rows = []
    for n in sizes:
        paths = {o: gen_path(n, o) for o in ("little", "big")}
        for lb in runs:
            order = "little" if lb == "-" else C.target(lb).order
            r = _run_child([paths[order], order, lb], timeout)
            r.update(size=n, target=lb)
            rows.append(r)
            tick(f"compile {C.size_name(n)} {lb}", 1)
    result = {"sizes": list(sizes), "status": status, "rows": rows,
              "timeout": timeout,
              "x86_vs_kernel": x86_vs_kernel(sizes, kernel=kernel, fixtures=fixtures,
                                             x86_ready=host_label() in ready, tick=tick,
                                             timeout=timeout)}
    if profile:
        # targets that share a by-order name emit the same code in the other byte order:
        # one profile of them is enough
        result["profile"] = profile_stages(profile, one_per_family(ready))
        tick("profile", 1)
    return result


def host_label() -> str:
    """The bench label of the target this machine runs natively (its kernel JIT is the
    anchor; the "x86" keys of the results name it)."""
    from bench.run import host_target
    return host_target() or C.TARGETS[0].label


def one_per_family(labels: list[str]) -> list[str]:
    """Labels without the later targets of a by-order name (mips64el after mips64)."""
    import backends
    seen, out = set(), []
    for lb in labels:
        t = backends.target(C.target(lb).arch)
        key = t.order_alias or t.name
        if (key, C.target(lb).cpu) not in seen:
            seen.add((key, C.target(lb).cpu))
            out.append(lb)
    return out


def work_units(sizes, labels, *, kernel: bool, fixtures: bool, profile) -> int:
    """How many `progress` ticks `measure` will make (for the bar's total)."""
    labels = [t.label for t in C.TARGETS] if labels is None else list(labels)
    ready = [lb for lb in labels if C.backend_status(C.target(lb)) is None]
    n = len(sizes) * max(1, len(ready)) + len(sizes)
    if fixtures:
        n += len(C.fixture_items())
    return n + (1 if profile else 0)


def x86_vs_kernel(sizes, *, kernel: bool, fixtures: bool, x86_ready: bool, tick,
                  timeout: float = CHILD_TIMEOUT) -> dict:
    """Bytes of x86-64 per eBPF instruction, bpfjit against the kernel's JIT."""
    from bench import anchors
    from jit import driver
    ok, why = anchors.kernel_available() if kernel else (False, "not asked (--no-kernel)")
    rows = []
    if fixtures:
        for item in C.fixture_items():
            data, file = item.source("little")
            obj, prog = driver.load(data, program=item.program, file=file)
            row = {"name": item.name, "group": "fixture", "insns": len(prog.insns)}
            if x86_ready:
                row.update(_x86_bytes(prog))
            if ok:
                row["kernel"] = anchors.kernel_jited([anchors.kernel_request(prog, None)])[0]
            rows.append(row)
            tick(f"x86 vs kernel {item.name}", 1)
    for n in sizes:
        from jit import isa
        with open(gen_path(n, "little"), "rb") as f:
            insns = kernel_variant(isa.decode(f.read(), "little"))
        obj, prog = driver.load(isa.encode(insns, "little"), file=f"<gen-{C.size_name(n)}>")
        row = {"name": f"gen-{C.size_name(n)} (kernel variant)", "group": "generated",
               "insns": len(prog.insns)}
        if x86_ready:
            if n <= 100_000:
                row.update(_x86_bytes(prog))
            else:   # the big one in a child, like every other big compile
                r = _run_child([gen_path(n, "little"), "little", host_label(), "--variant"],
                               timeout)
                row.update({"x86_bytes": r["code_bytes"]} if "code_bytes" in r else
                           {"x86_error": r.get("error")})
        if ok and n <= 100_000:          # the verifier's limit is 1M processed instructions
            row["kernel"] = anchors.kernel_jited([anchors.kernel_request(prog, None)],
                                                 timeout=120.0)[0]
        elif ok:
            row["kernel"] = {"refused": "not tried: larger than the verifier's 1M-instruction limit"}
        rows.append(row)
        tick(f"x86 vs kernel gen-{C.size_name(n)}", 1)
    return {"kernel": "available" if ok else why, "rows": rows}


def _x86_bytes(prog) -> dict:
    from jit import driver
    try:
        return {"x86_bytes": len(driver.compile_program(prog, host_label()).code)}
    except Exception as e:      # noqa: BLE001 - a program the backend cannot do yet
        return {"x86_error": f"{type(e).__name__}: {e}"[:200]}


# ---------------------------------------------------------------- where the time goes

def profile_stages(n: int, labels: list[str], top: int = 12) -> dict:
    """cProfile each stage on the n-instruction program; the top functions by own time.

    Load, analyse and lower once (lower for the first target: it differs
    between targets only in where it zero-extends); emit once per target.
    """
    import cProfile
    import pstats
    from jit import analysis, driver
    from jit import memory as M
    from jit.lower import lower

    def profiled(fn) -> tuple[dict, object]:
        prof = cProfile.Profile()
        prof.enable()
        value = fn()
        prof.disable()
        stats = pstats.Stats(prof)
        rows = []
        for (file, line, func), (_, nc, tt, ct, _) in sorted(stats.stats.items(),
                                                             key=lambda kv: -kv[1][2])[:top]:
            where = os.path.relpath(file, C.ROOT) if file.startswith(C.ROOT) else \
                os.path.basename(file)
            rows.append({"function": f"{where}:{line}({func})", "calls": nc,
                         "tottime": round(tt, 4), "cumtime": round(ct, 4)})
        return {"total": round(stats.total_tt, 4), "top": rows}, value

    def front(order: str):
        with open(gen_path(n, order), "rb") as f:
            data = f.read()
        return driver.load(data, byteorder=order, file=f"<gen-{C.size_name(n)}>")[1]

    out: dict = {"size": n, "stages": {}, "emit": {}}
    out["stages"]["load"], prog = profiled(lambda: front("little"))
    hs = driver.helper_set("kernel", prog)
    out["stages"]["analyse"], facts = profiled(lambda: analysis.analyse(prog, helpers=hs))
    for i, label in enumerate(labels):
        t = C.target(label)
        if t.order != "little":
            prog = front(t.order)
            facts = analysis.analyse(prog, helpers=hs)
        be = driver.backend_for(t.arch, prog, cpu=t.cpu)

        def lowered():
            return lower(prog, alu32_zext=be.caps.alu32_zext, depths=facts.depths,
                         zext_needed=facts.zext_needed)
        if i == 0:
            out["stages"]["lower"], lir = profiled(lowered)
            out["lower_target"] = label
        else:
            lir = lowered()
        out["emit"][label], _ = profiled(
            lambda: be.compile(lir, link=driver.linker(prog), base=M.CODE_BASE))
    return out


# ---------------------------------------------------------------- reporting

def summary_rows(result: dict) -> list[dict]:
    """One row per (size, target) with throughputs (eBPF insns/s) and memory."""
    rows = []
    for r in result["rows"]:
        row = {"size": r["size"], "target": r["target"]}
        if "error" in r:
            row["error"] = r["error"]
            rows.append(row)
            continue
        times = r["times"]
        total = sum(times.values())
        row.update({f"{s}_ips": r["insns"] / v for s, v in times.items() if v > 0})
        row.update(insns=r["insns"], seconds=total, ips=r["insns"] / total if total else 0.0,
                   wall_seconds=sum(r.get("wall_times", times).values()),
                   loadavg=r.get("loadavg"),
                   rss_peak_mib=r["rss_peak_kib"] / 1024,
                   rss_growth_mib=(r["rss_peak_kib"] - r["rss_before_kib"]) / 1024,
                   end_to_end=set(times) == set(C.STAGES))
        if "code_bytes" in r:
            row["bytes_per_insn"] = r["code_bytes"] / r["insns"]
        rows.append(row)
    return rows


def markdown(result: dict) -> str:
    """The compile-speed tables, as markdown."""
    lines = []
    skipped = {lb: why for lb, why in result["status"].items() if why}
    if skipped:
        lines.append("Backends not measured (not available yet): " +
                     "; ".join(f"`{lb}` ({why})" for lb, why in skipped.items()) + ".")
        lines.append("")
    lines += ["| size | target | load | analyse | lower | emit | end to end | CPU s | wall s "
              "| peak RSS | RSS growth | code bytes per insn |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary_rows(result):
        head = f"| {C.size_name(r['size'])} | {r['target']} |"
        if "error" in r:
            lines.append(f"{head} {cell(r['error'])} | | | | | | | | | |")
            continue
        cells = " | ".join(_ips(r.get(f"{s}_ips")) for s in C.STAGES)
        e2e = _ips(r["ips"]) + ("" if r["end_to_end"] else " (front end only)")
        per = f"{r['bytes_per_insn']:.2f}" if "bytes_per_insn" in r else "-"
        lines.append(f"{head} {cells} | {e2e} | {r['seconds']:.2f} | {r['wall_seconds']:.2f} | "
                     f"{r['rss_peak_mib']:.0f} MiB | {r['rss_growth_mib']:.0f} MiB | {per} |")
    lines.append("")
    lines.append("Stage columns are eBPF instructions per CPU second (one process pinned to one "
                 "core; best of 3 up to 10k instructions, one run above); CPU s and wall s are "
                 "the four stages' sum; RSS growth is peak RSS minus the RSS of the child "
                 "before loading (imports included in both).")
    xk = result["x86_vs_kernel"]
    lines += ["", f"x86-64 code size against the kernel's JIT (kernel: {xk['kernel']}):", "",
              "| program | eBPF insns | bpfjit x86-64 bytes | per insn | kernel jited_prog_len "
              "| kernel kept insns | per kept insn | bpfjit / kernel |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in xk["rows"]:
        v = kernel_compare(r)
        ours = f"{v['ours']} | {v['ours_per']:.2f}" if v["ours"] else \
            f"{cell(r.get('x86_error', '-')[:60])} | -"
        if v["kernel"]:
            kern = f"{v['kernel']} | {v['kept']} | {v['kernel_per']:.2f}"
        else:
            kr = r.get("kernel") or {}
            why = cell(f"refused: {kr['refused'][:50]} {kr.get('log', '')[:60]}") \
                if "refused" in kr else "-"
            kern = f"{why} | - | -"
        ratio = f"{v['ratio']:.2f}" if v["ratio"] else "-"
        lines.append(f"| {r['name']} | {r['insns']} | {ours} | {kern} | {ratio} |")
    lines += ["", "Kernel kept insns: xlated_prog_len / 8, what the verifier left after "
              "removing dead code and rewriting context accesses (LDDW counts 2). "
              "bpfjit / kernel: total bytes over total bytes for the fixtures; for the "
              "generated programs, whose code the verifier mostly deletes as dead, per "
              "instruction: (bpfjit bytes / eBPF insns) / (kernel bytes / kept insns)."]
    if "profile" in result:
        lines += ["", profile_markdown(result["profile"])]
    return "\n".join(lines)


def profile_markdown(p: dict) -> str:
    lines = [f"Where the time goes on the {C.size_name(p['size'])} program (cProfile; top "
             "functions by own time; the profiler inflates times several-fold, so read the "
             "shares, not the totals):", ""]
    sections = [(f"**{st}**" + (f" ({p['lower_target']})" if st == "lower" else ""), s)
                for st, s in p["stages"].items()]
    sections += [(f"**emit, {label}**", s) for label, s in p["emit"].items()]
    for title, s in sections:
        lines += [f"{title}: {s['total']:.2f} s under the profiler", "",
                  "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
        lines += [f"| `{r['function']}` | {r['calls']} | {r['tottime']:.3f} | {r['cumtime']:.3f} |"
                  for r in s["top"]]
        lines.append("")
    return "\n".join(lines)


def kernel_compare(r: dict) -> dict:
    """bpfjit's x86-64 code against the kernel's JIT of the same program.

    Fixtures: total bytes against total bytes (the kernel's rewrites of
    context accesses are its own cost).  Generated programs: per instruction,
    bpfjit's over all instructions against the kernel's over the instructions
    its verifier kept, as it deletes most of genprog's code as dead.
    """
    kr = r.get("kernel") or {}
    ours, k, n = r.get("x86_bytes"), kr.get("jited_prog_len"), r["insns"]
    kept = kr.get("xlated_prog_len", 0) // 8
    v = {"ours": ours, "kernel": k, "kept": kept, "ours_per": ours / n if ours else None,
         "kernel_per": k / kept if k and kept else None, "ratio": None}
    if ours and k:
        v["ratio"] = v["ours_per"] / v["kernel_per"] if r["group"] == "generated" else ours / k
    return v


def cell(text: str) -> str:
    """Free text (an error, a verifier log) made safe for a markdown table cell."""
    return str(text).replace("|", "/").replace("\n", " ")


def _ips(v) -> str:
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    return f"{v / 1e3:.0f}k"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.compile_speed", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="comma-separated instruction counts (default %(default)s)")
    ap.add_argument("--targets", default=None,
                    help="comma-separated target labels (default: all)")
    ap.add_argument("--profile", type=int, nargs="?", const=100_000, default=None,
                    help="cProfile each stage on a program of this size (default 100000)")
    ap.add_argument("--child-timeout", type=float, default=CHILD_TIMEOUT,
                    help="wall seconds one compile may take (default %(default)s)")
    ap.add_argument("--no-kernel", action="store_true", help="skip the kernel JIT comparison")
    ap.add_argument("--no-fixtures", action="store_true", help="skip the fixtures' x86 sizes")
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--variant", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        path, order, label = args.child
        sys.stdout.write(json.dumps(child(path, order, label, variant=args.variant)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    labels = [C.target(s.strip()).label for s in args.targets.split(",")] if args.targets else None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console(stderr=True)
    total = work_units(sizes, labels, kernel=not args.no_kernel, fixtures=not args.no_fixtures,
                       profile=args.profile)
    with Progress(TextColumn("{task.description:<40}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("compile speed", total=total)
        result = measure(sizes, labels, kernel=not args.no_kernel, fixtures=not args.no_fixtures,
                         profile=args.profile, timeout=args.child_timeout,
                         progress=lambda d, a: bar.update(task, advance=a, description=d))
    print(markdown(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
