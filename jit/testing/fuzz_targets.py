"""Coverage-guided fuzz targets: the loader and the differential check, one input at a time.

Two targets take arbitrary bytes, the shape libFuzzer-style engines want:

  loader        the bytes as a file a user hands bpfjit: load (ELF object or raw
                bytecode), check, compile for every byte order's backends.  A
                BpfjitError is a correct answer ("bad input"); any other exception
                is a bug (the CLI would print "internal error").
  differential  the bytes choose a generated program (generator seed, size, byte
                order); the interpreter and every backend of that order run it and
                must agree.  A divergence raises `Divergence` naming the seed, which
                `bpfjit fuzz`'s generator regenerates (jit.testing.gen.generate).

Engines:
  - Atheris (`pip install -e '.[fuzz]'`), coverage-guided: every jit/ and backends/
    module is instrumented; the seed corpus is the committed objects.
        python -m jit.testing.fuzz_targets loader --atheris -runs=100000 [CORPUS_DIR]
  - a plain random-input driver, no dependency: random bytes, and the committed
    objects mutated (bytes flipped, cut, spliced, fields set to edge values).
        python -m jit.testing.fuzz_targets differential --runs 500 --seed 1
`--runs 0` runs until interrupted.  tests/test_fuzz_targets.py runs each target for
a few hundred inputs; BPFJIT_FUZZ_RUNS=N makes that run longer.

This module owns the targets and the plain driver; `bpfjit fuzz` (jit.testing.fuzz)
owns campaigns, minimizing and reproducer files.
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_PROGRAMS = 4              # per loaded object: enough for coverage, bounded per input
DIFF_SIZES = (8, 16, 32, 64)  # instructions per generated program


class Divergence(AssertionError):
    """A backend disagreed with the interpreter on a generated program."""


# ------------------------------------------------------------------ the targets

def loader(data: bytes) -> None:
    """Load, check and compile `data` as bpfjit would a user's file."""
    from jit import driver  # local: Atheris instruments what is imported after it starts
    from jit.errors import BpfjitError  # local: Atheris instruments what is imported after it starts
    data = bytes(data)
    order = "big" if data[:1] == b"\x01" else "little"      # raw bytecode: either order
    try:
        obj, _ = driver.load(data, file="<fuzz>", byteorder=order)
    except BpfjitError:
        return
    for prog in obj.programs[:MAX_PROGRAMS]:
        try:
            facts = driver.analyse(prog)
        except BpfjitError:
            continue
        for arch in _arches(prog.byteorder):
            try:
                driver.compile_program(prog, arch, facts=facts)
            except BpfjitError:
                pass


def differential(data: bytes) -> None:
    """The generated program `data` selects runs the same on the interpreter and every
    backend of its byte order; raises Divergence otherwise."""
    from jit.testing import fuzz, gen  # local: Atheris instruments what is imported after it starts
    data = bytes(data)
    head = data[:10].ljust(10, b"\0")
    seed = int.from_bytes(head[:8], "little")
    size = DIFF_SIZES[head[8] % len(DIFF_SIZES)]
    order = "big" if head[9] & 1 else "little"
    arches = _arches(order)
    if not arches:
        return
    case = gen.generate(seed, gen.GenConfig(byteorder=order, size=size))
    if gen.validate(case):
        raise AssertionError(f"generator seed {seed} ({order}, size {size}): "
                             f"{gen.validate(case)[0]}")
    session = fuzz.session_for(case, arches)
    ref = session.run(case.inputs(1_000_000), carry=False)
    for arch in arches:
        d = fuzz.diff_case(case, arch, ref=ref, session=session)
        if d is not None:
            raise Divergence(f"{arch}: {d.what}: interpreter {d.expected!r}, got {d.got!r} "
                             f"(pc {d.pc}); regenerate with jit.testing.gen.generate({seed}, "
                             f"GenConfig(byteorder={order!r}, size={size}))")


TARGETS = {"loader": loader, "differential": differential}

_ARCHES: dict[str, list[str]] = {}


def _arches(order: str) -> list[str]:
    """The canonical backends of byte order `order` that load (asked once per process)."""
    if order not in _ARCHES:
        import backends  # local: Atheris instruments what is imported after it starts
        from jit.testing import fuzz  # local: Atheris instruments what is imported after it starts
        _ARCHES[order] = [a for a in backends.ALL if backends.TARGET_ORDER[a] == order
                          and fuzz.available(a) is None]
    return _ARCHES[order]


# ------------------------------------------------------------------ inputs

def seed_files() -> list[str]:
    """The committed objects: the loader's seed corpus."""
    pats = ("examples/*.o", "tests/progs/build/*.o", "tests/conformance/*.o")
    return sorted(f for p in pats for f in glob.glob(os.path.join(ROOT, p)))


_EDGES = (b"\0", b"\xff", b"\x7f", b"\x80", b"\0\0\0\0", b"\xff\xff\xff\xff", b"\0\0\0\x80")


def mutate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """One to four random edits: flip a bit, set bytes to an edge value, cut, splice, repeat."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            b += rng.randbytes(8)
        i = rng.randrange(len(b))
        kind = rng.randrange(6)
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            e = rng.choice(_EDGES)
            b[i:i + len(e)] = e
        elif kind == 2:
            del b[i:]                                   # truncated
        elif kind == 3 and other:
            j = rng.randrange(len(other))
            b[i:i + 64] = other[j:j + 64]               # spliced from another input
        elif kind == 4:
            b[i:i] = b[i:i + rng.randint(1, 32)]        # repeated
        else:
            b[i] = rng.randrange(256)
    return bytes(b)


def plain_inputs(target: str, seed: int):
    """Endless inputs for the plain driver: mutated seed files for the loader, random
    bytes (and now and then raw bytecode or a seed file as it is) otherwise."""
    rng = random.Random(seed)
    seeds = []
    if target == "loader":
        for path in seed_files():
            with open(path, "rb") as f:
                seeds.append(f.read())
    while True:
        if seeds and rng.random() < 0.9:
            yield mutate(rng, rng.choice(seeds), rng.choice(seeds))
        else:
            yield rng.randbytes(rng.choice((8, 10, 16, 64, 256)))


def run_plain(target: str, runs: int, seed: int, *, quiet: bool = False) -> int:
    """Run `target` on `runs` inputs (0: until interrupted); the first crash is raised
    with the input saved to crash-<target>-<seed>-<n>.bin."""
    fn = TARGETS[target]
    t0 = time.monotonic()
    n = 0
    for data in plain_inputs(target, seed):
        if runs and n >= runs:
            break
        try:
            fn(data)
        except Exception:
            path = f"crash-{target}-{seed}-{n}.bin"
            with open(path, "wb") as f:
                f.write(data)
            print(f"fuzz_targets: {target} failed on input {n} (saved to {path})",
                  file=sys.stderr)
            raise
        n += 1
        if not quiet and n % 100 == 0:
            print(f"fuzz_targets: {target}: {n} inputs, {n / (time.monotonic() - t0):.1f}/s",
                  file=sys.stderr, flush=True)
    return n


def run_atheris(target: str, argv: list[str]) -> None:
    """Hand `target` to Atheris (libFuzzer flags in `argv`); the jit and backends
    modules are instrumented for coverage.  Does not return."""
    import atheris
    with atheris.instrument_imports(include=["jit", "backends"]):
        import backends  # noqa: F401 # local: Atheris instruments what is imported after it starts
        from jit import analysis, driver, elf, interp, lower, runner  # noqa: F401 # local: Atheris instruments what is imported after it starts
        from jit.testing import fuzz, gen  # noqa: F401 # local: Atheris instruments what is imported after it starts
    args = [sys.argv[0]] + argv
    dirs = [a for a in argv if not a.startswith("-")]
    if target == "loader" and not any(os.listdir(d) for d in dirs if os.path.isdir(d)):
        # an empty (or no) corpus starts from the committed objects
        import tempfile
        corpus = dirs[0] if dirs else tempfile.mkdtemp(prefix="bpfjit-corpus-")
        os.makedirs(corpus, exist_ok=True)
        for path in seed_files():
            with open(path, "rb") as src, \
                    open(os.path.join(corpus, os.path.basename(path)), "wb") as dst:
                dst.write(src.read())
        if not dirs:
            args.append(corpus)
    atheris.Setup(args, TARGETS[target])
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jit.testing.fuzz_targets",
                                 description="run a fuzz target (see the module docstring)")
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--atheris", action="store_true",
                    help="coverage-guided, through Atheris; other arguments go to libFuzzer")
    ap.add_argument("--runs", type=int, default=1000, help="plain driver: inputs (0: forever)")
    ap.add_argument("--seed", type=int, default=0, help="plain driver: random seed")
    args, rest = ap.parse_known_args(argv)
    if args.atheris:
        run_atheris(args.target, rest)
        return 0
    if rest:
        ap.error(f"unknown arguments {rest} (libFuzzer flags need --atheris)")
    t0 = time.monotonic()
    n = run_plain(args.target, args.runs, args.seed)
    print(f"fuzz_targets: {args.target}: {n} inputs in {time.monotonic() - t0:.1f} s, no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
