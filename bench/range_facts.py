"""What value ranges save (issue #18): code bytes and executed native instructions
per backend, lowering without and with the facts of jit/ranges.py.

    python -m bench.range_facts                  # every target, compute + fixture programs
    python -m bench.range_facts --targets x86_64

`Facts.safe_divs` (register divisions whose divisor is never 0, nor -1 when
signed: no guard) and `Facts.decided` (conditional jumps with one outcome:
folded) reach `jit.lower.lower` as keyword arguments.  jit.driver does not pass
them yet, so for the "with" column this script wraps `jit.lower.lower` to pass
them from the facts of the program being compiled.  Every "with" run is
compared with the interpreter (r0, memory, helper calls) and a divergence is
printed.  Programs run on bench.corpus's packet, little-endian objects only.
"""
from __future__ import annotations

import argparse
import sys

from bench import corpus as C
from jit import driver
from jit import lower as L

_plain = L.lower


def _with_facts(facts):
    def lower(prog, **kw):
        return _plain(prog, safe_divs=facts.safe_divs, decided=facts.decided, **kw)
    return lower


def measure(item: C.Item, t: C.Target) -> tuple[int, int, int, int, bool, int, int] | None:
    data, file = item.source("little")
    obj, prog = driver.load(data, program=item.program, byteorder="little", file=file)
    facts = driver.analyse(prog, driver.helper_set("kernel", prog)) \
        if hasattr(driver, "analyse") else None
    if facts is None:
        from jit import analysis
        facts = analysis.analyse(prog, helpers=driver.helper_set("kernel", prog))
    out = []
    for patched in (False, True):
        L.lower = _with_facts(facts) if patched else _plain
        try:
            img = driver.compile_program(prog, t.arch, cpu=t.cpu, facts=facts)
            got = C.execute(obj, prog, t, facts)
        finally:
            L.lower = _plain
        out.append((len(img.code), got.native_insns or 0, got))
    ref = C.execute(obj, prog, None, facts)
    agree = driver.first_difference(driver.comparable(ref), driver.comparable(out[1][2])) is None
    return (out[0][0], out[1][0], out[0][1], out[1][1], agree, len(facts.safe_divs),
            len(facts.decided))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="*", help="target labels (default: every one)")
    args = ap.parse_args(argv)
    targets = [C.target(x) for x in args.targets] if args.targets else \
        [t for t in C.TARGETS if t.order == "little" and C.backend_status(t) is None]
    items = C.compute_items() + C.fixture_items()
    print(f"{'target':<14} {'bytes before':>12} {'after':>8} {'executed before':>16} "
          f"{'after':>8}  programs changed")
    bad = 0
    for t in targets:
        tot = [0, 0, 0, 0]
        changed = []
        for it in items:
            try:
                r = measure(it, t)
            except Exception as e:      # noqa: BLE001 - one program's failure is reported
                print(f"  {t.label} {it.name}: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            b0, b1, n0, n1, agree, divs, dec = r
            tot = [tot[0] + b0, tot[1] + b1, tot[2] + n0, tot[3] + n1]
            if (b0, n0) != (b1, n1):
                changed.append(f"{it.name} ({b0}->{b1} B, {n0}->{n1} insns; "
                               f"{divs} div guards, {dec} branches)")
            if not agree:
                bad += 1
                print(f"  DIVERGES: {t.label} {it.name}", file=sys.stderr)
        print(f"{t.label:<14} {tot[0]:>12} {tot[1]:>8} {tot[2]:>16} {tot[3]:>8}  {len(changed)}")
        for c in changed:
            print(f"    {c}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
