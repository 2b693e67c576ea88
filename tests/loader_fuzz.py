"""Mutation fuzzing of the loaders and decoders, through the real CLI entry point.

Each input is a fixture object or a raw program with a few bytes flipped,
truncated, duplicated or spliced.  It goes through `bpfjit check`, `compile`
for every architecture and `run`, in-process (`jit.cli.main`), and must end
either in success or in exactly one line on stderr naming the file, with exit
status 2: never a traceback, never an "internal error", never a hang.

    python -m tests.loader_fuzz --count 100000 --seed 1     # the long campaign
    tests/test_robustness.py runs a bounded one in CI

Findings are saved to tests/fuzz_seeds/loader-<seed>-<n>.bin with the command
that failed, so they can become regression tests.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS_DIR = os.path.join(HERE, "fuzz_seeds")
ARCHES = ("x86_64", "arm32", "mips")


def corpus() -> list[tuple[str, bytes]]:
    """Fixture objects and the raw bytecode of their programs' .text."""
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "progs", "build", "*.o")))[:40]:
        with open(path, "rb") as f:
            out.append((os.path.basename(path), f.read()))
    for path in sorted(glob.glob(os.path.join(HERE, "asm", "*.o"))):
        with open(path, "rb") as f:
            out.append((os.path.basename(path), f.read()))
    # a small raw program: r0 = r1 + 1; *(u64 *)(r10 - 8) = r0; exit
    out.append(("raw.bin", bytes.fromhex("bf100000000000000700000001000000"
                                         "7b0af8ff00000000" "9500000000000000")))
    return out


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        k = rnd.random()
        if not b:
            b += bytes(rnd.randrange(256) for _ in range(8))
        elif k < 0.45:                                   # flip bytes
            for _ in range(rnd.randint(1, 8)):
                i = rnd.randrange(len(b))
                b[i] = rnd.choice([0, 0xFF, 0x7F, 0x80, rnd.randrange(256), b[i] ^ 1 << rnd.randrange(8)])
        elif k < 0.6:                                    # truncate
            del b[rnd.randrange(len(b)):]
        elif k < 0.7:                                    # splice a chunk elsewhere
            i, j = sorted(rnd.randrange(len(b) + 1) for _ in range(2))
            chunk = b[i:j][:64]
            at = rnd.randrange(len(b) + 1)
            b[at:at] = chunk
        elif k < 0.85:                                   # overwrite a 4/8-byte field
            i = rnd.randrange(len(b))
            n = rnd.choice([4, 8])
            val = rnd.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, rnd.getrandbits(32),
                              len(data) + rnd.randrange(-16, 16)])
            b[i:i + n] = val.to_bytes(8, "little")[:n]
        else:                                            # zero a run
            i = rnd.randrange(len(b))
            b[i:i + rnd.randint(1, 32)] = bytes(min(32, len(b) - i))
    return bytes(b)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def run_cli(argv: list[str], timeout: int = 20) -> tuple[int, str, str]:
    from jit.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:       # argparse
                code = e.code if isinstance(e.code, int) else 2
    except Hang:
        code = -1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue()


def verdict(code: int, err: str, path: str) -> str | None:
    """None when the outcome is acceptable, else what was wrong."""
    if code == -1:
        return "hang"
    if code == 0:
        return None
    if code != 2:
        return f"exit status {code}"
    lines = [l for l in err.splitlines() if l.strip()]
    if not lines:
        return "exit 2 with nothing on stderr"
    if "Traceback" in err:
        return "traceback"
    if "internal error" in err:
        return lines[0]
    if any(path not in l for l in lines if l.startswith("bpfjit:")):
        return f"message does not name the file: {lines[0]}"
    return None


def commands(path: str, raw: bool) -> list[list[str]]:
    cmds = [["check", path]]
    cmds += [["compile", path, "--arch", a, "--format", "bin", "-o", os.devnull] for a in ARCHES]
    cmds.append(["run", path, "--max-insns", "20000"] if raw else ["run", path, "--max-insns", "20000",
                                                                  "--packet", "00" * 64])
    return cmds


def campaign(count: int, seed: int, *, save: bool = True, log=print) -> dict:
    rnd = random.Random(seed)
    base = corpus()
    stats = {"inputs": 0, "commands": 0, "ok": 0, "rejected": 0, "findings": []}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        for n in range(count):
            name, data = rnd.choice(base)
            blob = mutate(data, rnd)
            raw = not blob.startswith(b"\x7fELF")
            path = os.path.join(d, f"m{n}{'.bin' if raw else '.o'}")
            with open(path, "wb") as f:
                f.write(blob)
            stats["inputs"] += 1
            for argv in commands(path, raw):
                stats["commands"] += 1
                code, _, err = run_cli(argv)
                bad = verdict(code, err, path)
                if bad is None:
                    stats["ok" if code == 0 else "rejected"] += 1
                    if code == 2:
                        break       # a rejected input gets the same answer from every command
                    continue
                finding = {"seed": seed, "n": n, "from": name, "argv": argv[0:1] + argv[2:],
                           "problem": bad}
                stats["findings"].append(finding)
                if save:
                    os.makedirs(SEEDS_DIR, exist_ok=True)
                    out = os.path.join(SEEDS_DIR, f"loader-{seed}-{n}.bin")
                    with open(out, "wb") as f:
                        f.write(blob)
                    with open(out + ".txt", "w") as f:
                        f.write(f"{finding}\n")
                log(f"finding: {finding}")
                break
            if (n + 1) % 500 == 0:
                log(f"{n + 1}/{count} inputs, {len(stats['findings'])} findings, "
                    f"{time.time() - t0:.0f}s")
    stats["seconds"] = round(time.time() - t0, 1)
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    stats = campaign(a.count, a.seed, log=lambda s: print(s, file=sys.stderr))
    print({k: v if k != "findings" else len(v) for k, v in stats.items()})
    return 1 if stats["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
