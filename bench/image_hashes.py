"""Hash every image the project can build: the proof that a refactor changed no output.

For every program of every fixture object (tests/progs/build, examples, bench/progs/build),
every conformance-corpus program (tests/conformance/*.data) and a few compile options
(hardening, the CPU models a target declares), compile on every registered target whose
byte order fits, and print one line per image:

    <sha256 of the code, first 16 hex>  <bytes>  <target>[/<cpu>][+harden]  <source>[:<program>]

Run it before and after a change and diff the two files:

    python -m bench.image_hashes > /tmp/before.txt
    ... change ...
    python -m bench.image_hashes > /tmp/after.txt
    python -m bench.image_hashes --compare /tmp/before.txt /tmp/after.txt

`--compare` prints the images whose hash changed with their sizes before and after, and
a total, so a change that is meant to alter code (a new rewrite) reports bytes per image.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _objects() -> list[str]:
    pats = ["tests/progs/build/*.o", "examples/*.o", "bench/progs/build/*.o"]
    return sorted(p for pat in pats for p in glob.glob(os.path.join(ROOT, pat)))


def _variants(target) -> list[tuple[str, dict]]:
    """(label suffix, compile keyword arguments) for one target."""
    out = [("", {})]
    for cpu in target.cpus[1:]:
        out.append((f"/{cpu.name}", {"cpu": cpu.name}))
    out.append(("+harden", {"harden": True, "seed": 1}))
    return out


def hashes() -> list[str]:
    import backends
    from jit import driver
    from jit.errors import BpfjitError
    from jit.testing import conformance as C

    lines = []

    def one(prog, label: str) -> None:
        for name in backends.ALL:
            target = backends.target(name)
            if target.byteorder != prog.byteorder:
                continue
            for suffix, kw in _variants(target):
                try:
                    img = driver.compile_program(prog, name, **kw)
                    digest = hashlib.sha256(img.code).hexdigest()[:16]
                    size = len(img.code)
                except BpfjitError as e:
                    digest, size = "error:" + str(e).split(":")[-1].strip()[:40].replace(" ", "_"), 0
                lines.append(f"{digest}  {size}  {name}{suffix}  {label}")

    for path in _objects():
        rel = os.path.relpath(path, ROOT)
        try:
            obj, _ = driver.load(path)
        except BpfjitError:
            continue
        for prog in obj.programs:
            one(prog, f"{rel}:{prog.name}")
    for path in C.data_files(os.path.join(ROOT, "tests", "conformance")):
        case = C.parse_file(path)
        try:
            prog = C.load_program(C.program_bytes(case))
            C.facts_for(prog)
        except BpfjitError:
            continue
        rel = os.path.relpath(str(path), ROOT)
        for order in ("little", "big"):
            one(C.for_order(prog, order), f"{rel}@{order}")
    return lines


def compare(before: str, after: str) -> int:
    def read(p):
        out = {}
        with open(p) as f:
            for line in f:
                digest, size, arch, label = line.split(None, 3)
                out[(arch, label.strip())] = (digest, int(size))
        return out
    a, b = read(before), read(after)
    changed = [(k, a[k], b[k]) for k in sorted(a) if k in b and a[k][0] != b[k][0]]
    missing = sorted(set(a) - set(b))
    added = sorted(set(b) - set(a))
    for (arch, label), (_, s0), (_, s1) in changed:
        print(f"{arch:16} {label:70} {s0:7} -> {s1:7} ({s1 - s0:+d})")
    t0 = sum(x[1][1] for x in changed)
    t1 = sum(x[2][1] for x in changed)
    print(f"{len(a)} images before, {len(b)} after; {len(changed)} changed "
          f"({t0} -> {t1} bytes, {t1 - t0:+d}); {len(missing)} missing; {len(added)} new")
    return 1 if changed or missing else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    for line in hashes():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
