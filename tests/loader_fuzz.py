"""Mutation fuzzing of the loaders and decoders, through the real CLI entry point.

Each input is a fixture object (tests/progs/build/*.o, tests/asm/*.o) or the
raw bytecode of a fixture program (either byte order), mutated a few times:
mostly aimed (one field of one instruction, whole slots moved, bytes inside a
section's contents, one section header field) so that inputs get past the ELF
header into the checks, lowering and backends; some blind (bytes flipped,
truncated, spliced, zeroed).  It goes through `bpfjit check`,
`info`, `disasm`, `compile` for every architecture and `run` (interpreter and
one backend), in-process (`jit.cli.main`), and must end either in success or
in lines on stderr that each name the file, with exit status 2: never a
traceback, never an "internal error", never a hang.  Only `check` may print
more than one line (one per problem it found); every other rejection is one.

    python -m tests.loader_fuzz --count 1000 --seed 1         # estimate first
    python -m tests.loader_fuzz --count 50000 --seed 2 &      # the long campaign,
    python -m tests.loader_fuzz --count 50000 --seed 3 &      # one process per core
    tests/test_robustness.py runs a bounded one in CI and replays tests/fuzz_seeds/

A finding is saved as tests/fuzz_seeds/loader-<seed>-<n>.bin (the input) and
.json (the command, with "{path}" for the file, and what was wrong), at most
one per distinct problem, so the replay in test_robustness.py pins it.  The
input being run is also written to the work folder first, so a crash of the
whole process (Unicorn is C) still leaves the reproducer behind.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import json
import os
import random
import re
import signal
import struct
import sys
import tempfile
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS_DIR = os.path.join(HERE, "fuzz_seeds")
# Every target, with the names chosen by byte order ("mips") in place of the targets they
# choose between: so every object has a target of its order, and the little-endian-only
# targets refuse big-endian objects (a clean rejection, exercised too).
def _arches() -> tuple[str, ...]:
    import backends
    by_order = backends.order_aliases()
    chosen = {name for names in by_order.values() for name in names.values()}
    return tuple(t.name for t in backends.targets() if t.name not in chosen) + tuple(by_order)


ARCHES = _arches()


def _registered() -> tuple[str, ...]:
    import backends
    return backends.names()
FORMATS = ("bin", "listing", "hex", "elf")
TIMEOUT = 20                     # seconds per command before it counts as a hang
MAX_INSNS = "20000"              # budget for runs: mutated loops must stop quickly


def available_arches(arches=ARCHES) -> tuple[list[str], dict[str, str]]:
    """(the arches whose backend can be made, {arch: why not} for the others)."""
    import backends
    ok, missing = [], {}
    for arch in arches:
        try:
            backends.get(arch, byteorder="little")
            ok.append(arch)
        except Exception as e:   # noqa: BLE001 - a backend still being written
            missing[arch] = f"{type(e).__name__}: {e}"
    return ok, missing


# Every registered backend must load: a test that cannot make one fails instead of
# skipping it (a broken backend must not look like a missing one).
SEEN_WORKING = _registered()


def covered_arches(order: str | None = None) -> list[str]:
    """The canonical backends the tests cover (those for byte order `order` if given): every
    backend that loads, and never fewer than SEEN_WORKING (pytest.fail names the one that
    broke)."""
    import backends
    out = []
    for arch in backends.ALL:
        if order is not None and backends.TARGET_ORDER[arch] != order:
            continue
        try:
            backends.get(arch)
        except Exception as e:   # noqa: BLE001
            if arch in SEEN_WORKING:
                import pytest
                pytest.fail(f"backend {arch} no longer loads: {type(e).__name__}: {e}")
            continue
        out.append(arch)
    return out


# ------------------------------------------------------------------ inputs

class Seed(NamedTuple):
    """One corpus entry; `bpfeb` says raw bytecode is big-endian (ELF says its own)."""
    name: str
    data: bytes
    bpfeb: bool = False


def corpus() -> list[Seed]:
    """Fixture objects, and the raw bytecode of their programs in the object's byte order."""
    from jit import driver, isa
    out = []
    paths = sorted(glob.glob(os.path.join(HERE, "progs", "build", "*.o")))
    paths += sorted(glob.glob(os.path.join(HERE, "asm", "*.o")))
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        out.append(Seed(os.path.basename(path), data))
        try:
            obj, _ = driver.load(data, file=path)
        except Exception:        # noqa: BLE001 - the loader's own tests say why
            continue
        for prog in obj.programs[:2]:
            raw = isa.encode(prog.insns, prog.byteorder)
            out.append(Seed(f"{os.path.basename(path)}:{prog.name}.bin", raw,
                            prog.byteorder == "big"))
    # a small raw program: r0 = r1 + 1; *(u64 *)(r10 - 8) = r0; exit
    out.append(Seed("raw.bin", bytes.fromhex("bf100000000000000700000001000000"
                                             "7b0af8ff00000000" "9500000000000000")))
    return out


def elf_sections(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """(header offset, sh_type, sh_flags, sh_offset, sh_size) of each section of an ELF64.

    Read with struct alone (not the loader under test); [] when the headers are
    not where an ELF64 header says.
    """
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2:
        return []
    e = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(e + "Q", data, 0x28)
    shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
    if shentsize != 64 or shoff + shnum * 64 > len(data):
        return []
    out = []
    for i in range(shnum):
        at = shoff + i * 64
        _, typ, flags, _, off, size = struct.unpack_from(e + "IIQQQQ", data, at)
        out.append((at, typ, flags, off, size))
    return out


SHF_EXECINSTR = 0x4
SHT_NOBITS = 8
OFFS = (0, 1, -1, 2, -2, 0x7FFF, -0x8000, 0x100, -0x100)
IMMS = (0, 1, -1, 2, 8, 12, 16, 24, 32, 64, 0x7FFF_FFFF, -0x8000_0000, 0xFFFF, -512, 511, 1000)


def _slot_ranges(data: bytes, bpfeb: bool) -> tuple[list[tuple[int, int]], str]:
    """The byte ranges that hold instructions, and their byte order."""
    secs = elf_sections(data)
    if secs:
        order = "little" if data[5] == 1 else "big"
        return [(off, off + size - size % 8) for _, typ, flags, off, size in secs
                if flags & SHF_EXECINSTR and typ != SHT_NOBITS and size >= 8
                and off + size <= len(data)], order
    if data[:4] == b"\x7fELF":
        return [], "little"
    return [(0, len(data) - len(data) % 8)], "big" if bpfeb else "little"


def mutate_insn(b: bytearray, bpfeb: bool, rnd: random.Random) -> None:
    """Change one field of one instruction, or move whole slots, in the instruction bytes."""
    ranges, order = _slot_ranges(bytes(b), bpfeb)
    ranges = [r for r in ranges if r[1] > r[0]]
    if not ranges:
        return
    lo, hi = rnd.choice(ranges)
    n = (hi - lo) // 8
    at = lo + 8 * rnd.randrange(n)
    e = "<" if order == "little" else ">"
    k = rnd.random()
    if k < 0.25:                                        # opcode
        from jit import isa
        b[at] = rnd.choice(isa.all_opcodes()) if rnd.random() < 0.8 else rnd.randrange(256)
    elif k < 0.4:                                       # registers (0-15: r11+ are invalid)
        dst, src = rnd.randrange(16) if rnd.random() < 0.3 else rnd.randrange(11), rnd.randrange(16)
        b[at + 1] = (src << 4 | dst) if order == "little" else (dst << 4 | src)
    elif k < 0.6:                                       # off
        cur, = struct.unpack_from(e + "h", b, at + 2)
        v = rnd.choice(OFFS) if rnd.random() < 0.6 else cur + rnd.randrange(-4, 5)
        struct.pack_into(e + "h", b, at + 2, max(-0x8000, min(0x7FFF, v)))
    elif k < 0.8:                                       # imm
        cur, = struct.unpack_from(e + "i", b, at + 4)
        v = rnd.choice(IMMS) if rnd.random() < 0.6 else cur + rnd.randrange(-4, 5)
        struct.pack_into(e + "i", b, at + 4, max(-0x8000_0000, min(0x7FFF_FFFF, v)))
    elif k < 0.9:                                       # copy a slot over another
        frm = lo + 8 * rnd.randrange(n)
        b[at:at + 8] = b[frm:frm + 8]
    else:                                               # swap two slots
        other = lo + 8 * rnd.randrange(n)
        b[at:at + 8], b[other:other + 8] = b[other:other + 8], b[at:at + 8]


def mutate_raw_slots(b: bytearray, rnd: random.Random) -> None:
    """Raw bytecode: delete, duplicate or truncate at whole slots (the length stays valid)."""
    n = len(b) // 8
    if n == 0:
        return
    i = 8 * rnd.randrange(n)
    k = rnd.random()
    if k < 0.4:
        del b[i:i + 8]
    elif k < 0.8:
        b[i:i] = b[i:i + 8]
    else:
        del b[max(8, i):]


def mutate_section(b: bytearray, rnd: random.Random) -> None:
    """Flip bytes inside one section's contents (symbols, relocations, BTF, maps, data)."""
    secs = [(off, size) for _, typ, _, off, size in elf_sections(bytes(b))
            if typ != SHT_NOBITS and size and off + size <= len(b)]
    if not secs:
        return
    off, size = rnd.choice(secs)
    for _ in range(rnd.randint(1, 4)):
        i = off + rnd.randrange(size)
        if rnd.random() < 0.5:
            b[i] = rnd.choice([0, 0xFF, 0x7F, 0x80, 1, rnd.randrange(256)])
        else:
            n = min(4, off + size - i)
            b[i:i + n] = rnd.getrandbits(32).to_bytes(4, "little")[:n]


def mutate_header(b: bytearray, rnd: random.Random) -> None:
    """Set one field of one section header (type, flags, offset, size, link, info, entsize)."""
    secs = elf_sections(bytes(b))
    if not secs:
        return
    at = rnd.choice(secs)[0]
    e = "<" if b[5] == 1 else ">"
    field, fmt = rnd.choice([(4, "I"), (8, "Q"), (24, "Q"), (32, "Q"), (40, "I"), (44, "I"),
                             (56, "Q")])
    cur, = struct.unpack_from(e + fmt, b, at + field)
    top = (1 << (8 * struct.calcsize(fmt))) - 1
    v = rnd.choice([0, 1, 2, 8, 24, cur + 1, cur - 1, cur + 8, cur * 2, top, len(b)]) & top
    struct.pack_into(e + fmt, b, at + field, v)


def mutate(data: bytes, rnd: random.Random, bpfeb: bool = False) -> bytes:
    """A few mutations: mostly aimed at instructions and section contents (so that inputs
    get past the ELF header and reach the checks and backends), some blind."""
    b = bytearray(data)
    elf = data[:4] == b"\x7fELF"
    for _ in range(rnd.randint(1, 3)):
        k = rnd.random()
        if k < 0.45:
            mutate_insn(b, bpfeb, rnd)
        elif k < 0.6:
            if elf:
                mutate_section(b, rnd)
            else:
                mutate_raw_slots(b, rnd)
        elif k < 0.7 and elf:
            mutate_header(b, rnd)
        elif k >= 0.7:
            mutate_bytes(b, len(data), rnd)
    return bytes(b)


def mutate_bytes(b: bytearray, size0: int, rnd: random.Random) -> None:
    """Blind byte-level damage anywhere: flips, truncation, splices, fields, zeroed runs."""
    k = rnd.random()
    if not b:
        b += bytes(rnd.randrange(256) for _ in range(8))
    elif k < 0.45:                                   # flip bytes
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] = rnd.choice([0, 0xFF, 0x7F, 0x80, rnd.randrange(256),
                               b[i] ^ 1 << rnd.randrange(8)])
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
                          size0 + rnd.randrange(-16, 16)])
        b[i:i + n] = val.to_bytes(8, "little")[:n]
    else:                                            # zero a run
        i = rnd.randrange(len(b))
        b[i:i + rnd.randint(1, 32)] = bytes(min(32, len(b) - i))


# ------------------------------------------------------------------ running one command

class Hang(BaseException):
    """Raised by SIGALRM; a BaseException so that the CLI's catch-all does not turn it
    into an "internal error" line."""


def _alarm(signum, frame):
    raise Hang()


MEMORY_HEADROOM = 3 << 30        # bytes of address space one command may add


@contextlib.contextmanager
def memory_cap(extra: int = MEMORY_HEADROOM):
    """Limit the process's address space to what it uses now plus `extra` (RLIMIT_AS):
    an input that makes bpfjit allocate gigabytes fails fast with MemoryError (a
    finding) instead of paging the machine to death."""
    import resource
    old = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        yield
        return
    cap = vm + extra
    if old[1] != resource.RLIM_INFINITY:
        cap = min(cap, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def run_cli(argv: list[str], timeout: int = TIMEOUT) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `bpfjit argv` in this process; -1 for a hang.

    Under a time limit (SIGALRM) and a memory limit (`memory_cap`)."""
    from jit.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with memory_cap(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
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


def verdict(code: int, err: str, path: str, cmd: str = "") -> str | None:
    """None when the outcome is acceptable, else what was wrong."""
    if code == -1:
        return "hang"
    if code == 0:
        return None
    if code != 2:
        return f"exit status {code}"
    lines = [line for line in err.splitlines() if line.strip()]
    if not lines:
        return "exit 2 with nothing on stderr"
    if "Traceback" in err:
        return "traceback"
    if "internal error" in err:
        return lines[0]
    for line in lines:
        if not line.startswith("bpfjit: "):
            return f"not a bpfjit message: {line}"
        if path not in line:
            return f"message does not name the file: {line}"
    if len(lines) > 1 and cmd != "check":
        return f"{len(lines)} lines on stderr: {lines[0]}"
    return None


def commands(path: str, bpfeb: bool, rnd: random.Random, arches: list[str]) -> list[list[str]]:
    """What one input goes through: every command, the run on the interpreter and one backend."""
    raw = not path.endswith(".o")
    order = ["--bpfeb"] if bpfeb else []
    cmds = [["check", path, *order], ["info", path, *order], ["disasm", path, *order]]
    for a in arches:
        c = ["compile", path, *order, "--arch", a, "--format", rnd.choice(FORMATS),
             "-o", os.devnull]
        if rnd.random() < 0.25:
            c.append("--harden")
        cmds.append(c)
    run = ["run", path, *order, "--max-insns", MAX_INSNS]
    if not raw:
        run += ["--packet", "00" * 64]
    cmds.append(run)
    if arches:
        cmds.append(run + ["--arch", rnd.choice(arches)])
    return cmds


def signature(argv: list[str], problem: str) -> str:
    """A finding's kind: the command and the problem with paths and numbers taken out."""
    text = re.sub(r"\S*/m\d+\.(?:o|bin)", "FILE", problem)
    text = re.sub(r"0x[0-9a-f]+|\d+", "N", text)
    arch = argv[argv.index("--arch") + 1] if "--arch" in argv else ""
    return f"{argv[0]} {arch}: {text}"


def save_finding(blob: bytes, seed: int, n: int, finding: dict) -> str:
    os.makedirs(SEEDS_DIR, exist_ok=True)
    out = os.path.join(SEEDS_DIR, f"loader-{seed}-{n}")
    with open(out + ".bin", "wb") as f:
        f.write(blob)
    with open(out + ".json", "w") as f:
        json.dump(finding, f, indent=1)
        f.write("\n")
    return out + ".bin"


# ------------------------------------------------------------------ the campaign

def campaign(count: int, seed: int, *, save: bool = True, log=print,
             arches: list[str] | None = None, start: int = 0, workdir: str | None = None) -> dict:
    """Fuzz `count` inputs from `seed`; inputs before `start` are generated but not run."""
    if arches is None:
        arches, missing = available_arches()
        if missing:
            log(f"backends not available, not compiled: {missing}")
    rnd = random.Random(seed)
    base = corpus()
    stats = {"inputs": 0, "commands": 0, "ok": 0, "rejected": 0, "findings": [],
             "kinds": {}, "arches": list(arches)}
    t0 = time.time()
    with contextlib.ExitStack() as stack:
        d = workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="loader_fuzz-"))
        log(f"work folder {d} (the input being run is there if the process dies)")
        for n in range(count):
            name, data, bpfeb = rnd.choice(base)
            blob = mutate(data, rnd, bpfeb)
            raw = not blob.startswith(b"\x7fELF")
            # the same random draws whether or not this input is run, so --start replays
            path = os.path.join(d, f"m{n}{'.bin' if raw else '.o'}")
            cmds = commands(path, bpfeb, rnd, arches)
            if n < start:
                continue
            with open(path, "wb") as f:
                f.write(blob)
            stats["inputs"] += 1
            pending = list(cmds)
            first = True
            while pending:
                argv = pending.pop(0)
                stats["commands"] += 1
                code, _, err = run_cli(argv)
                if first and code == 2:
                    # `check` refused it: every command loads and checks the same way, so
                    # two more (a compile and a run, drawn by the input's own generator so
                    # that --start replays the same inputs) are enough
                    pick = random.Random(seed * 1_000_003 + n)
                    pending = [pick.choice([c for c in pending if c[0] == c0] or pending[:1])
                               for c0 in ("compile", "run")]
                first = False
                bad = verdict(code, err, path, argv[0])
                if bad is None:
                    stats["ok" if code == 0 else "rejected"] += 1
                    continue
                kind = signature(argv, bad)
                finding = {"seed": seed, "n": n, "from": name,
                           "argv": [a if a != path else "{path}" for a in argv],
                           "problem": bad.replace(path, "{path}"), "kind": kind}
                stats["findings"].append(finding)
                new_kind = kind not in stats["kinds"]
                stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
                if save and new_kind:
                    finding["saved"] = save_finding(blob, seed, n, finding)
                if new_kind:
                    log(f"finding: {finding}")
                # go on: the other commands may find something else in the same input
            os.unlink(path)
            if (n + 1) % 500 == 0:
                log(f"{n + 1}/{count} inputs, {stats['commands']} commands, "
                    f"{len(stats['findings'])} findings ({len(stats['kinds'])} kinds), "
                    f"{time.time() - t0:.0f}s")
    stats["seconds"] = round(time.time() - t0, 1)
    return stats


def replay(seed_file: str) -> tuple[str | None, list[str]]:
    """Re-run a saved finding's command; (verdict, argv)."""
    with open(seed_file[:-4] + ".json") as f:
        finding = json.load(f)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "input" + (".o" if _is_elf(seed_file) else ".bin"))
        with open(seed_file, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        argv = [path if a == "{path}" else a for a in finding["argv"]]
        code, _, err = run_cli(argv)
        return verdict(code, err, path, argv[0]), argv


def _is_elf(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="skip the first N inputs (resume)")
    ap.add_argument("--arch", help="comma-separated (default: every backend that loads)")
    ap.add_argument("--no-save", action="store_true", help="do not write tests/fuzz_seeds/")
    a = ap.parse_args()
    arches = a.arch.split(",") if a.arch else None
    stats = campaign(a.count, a.seed, save=not a.no_save, arches=arches, start=a.start,
                     log=lambda s: print(s, file=sys.stderr, flush=True))
    summary = {k: v for k, v in stats.items() if k != "findings"}
    summary["findings"] = len(stats["findings"])
    print(json.dumps(summary, indent=1))
    return 1 if stats["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
