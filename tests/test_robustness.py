"""Robustness of everything that reads input: no traceback, no "internal error", no hang.

Four layers, cheapest first:

- the fuzzer's own oracle (`loader_fuzz.verdict`) on outcomes written by hand, so
  a broken oracle cannot pass everything;
- every fixture object, unmutated, through every command on every backend
  (a bug here hits every user, not just a corrupted file);
- the regressions the long campaign found: tests/fuzz_seeds/loader-*.bin, each
  replayed with the command that failed (the .json beside it), plus minimal
  hand-written versions of the same bugs;
- a bounded mutation campaign (a few hundred inputs, under a minute).

The long campaign is `python -m tests.loader_fuzz --count 50000 --seed N`, one
process per core; see tests/loader_fuzz.py.
"""
from __future__ import annotations

import glob
import os
import struct

import pytest

import backends

from tests import loader_fuzz as F
from tests.loader_fuzz import covered_arches, run_cli, verdict

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sorted(glob.glob(os.path.join(HERE, "progs", "build", "*.o")) +
                  glob.glob(os.path.join(HERE, "asm", "*.o")))
SEEDS = sorted(glob.glob(os.path.join(F.SEEDS_DIR, "loader-*.bin")))
PACKET = "00" * 64


def slot(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One bpfel instruction slot (RFC 9669 section 3)."""
    return struct.pack("<BBhi", op, src << 4 | dst, off, imm)


# --------------------------------------------------------------------- the oracle

@pytest.mark.parametrize("code,err,cmd,bad", [
    (0, "", "run", False),
    (2, "bpfjit: F: main: pc 3: unknown opcode (opcode 0xff)\n", "run", False),
    (2, "bpfjit: F: pc 1: a\nbpfjit: F: pc 2: b\n", "check", False),      # one line per problem
    (2, "bpfjit: F: pc 1: a\nbpfjit: F: pc 2: b\n", "compile", True),    # others: one line
    (2, "bpfjit: G: main: pc 3: unknown opcode\n", "run", True),          # not naming F
    (2, "bpfjit: F: internal error: KeyError: 3 (set BPFJIT_DEBUG=1 for a traceback)\n",
     "run", True),
    (2, "Traceback (most recent call last):\n  ...\nbpfjit: F: x\n", "run", True),
    (2, "", "run", True),
    (1, "bpfjit: F: x\n", "run", True),
    (-1, "", "run", True),                                               # a hang
    (2, "warning: F\n", "run", True),
])
def test_verdict(code, err, cmd, bad):
    assert (verdict(code, err, "F", cmd) is not None) == bad


def test_mutations_keep_raw_bytecode_whole_slots_mostly():
    """The structured mutations keep raw inputs decodable often enough to reach the backends."""
    import random
    rnd = random.Random(7)
    raw = slot(0xB7, 0, 0, 0, 1) + slot(0x07, 0, 0, 0, 2) + slot(0x95)
    whole = sum(len(F.mutate(raw, rnd)) % 8 == 0 for _ in range(400))
    assert whole > 300


# --------------------------------------------------------------------- fixtures as they are

def _fixture_commands(path: str) -> list[list[str]]:
    from jit import driver
    from jit.errors import BpfjitError
    cmds = [["check", path], ["info", path], ["disasm", path]]
    try:
        obj, _ = driver.load(path)
    except BpfjitError:          # tests/asm/*.o hold only .text: refused, cleanly
        return cmds + [["run", path]] + [["compile", path, "--arch", a, "-o", os.devnull]
                                         for a in covered_arches()]
    for prog in obj.programs:
        p = ["--program", prog.name]
        cmds.append(["run", path, *p, "--packet", PACKET])
        for arch in covered_arches(prog.byteorder):
            cmds.append(["compile", path, *p, "--arch", arch, "--format", "elf", "-o", os.devnull])
            cmds.append(["run", path, *p, "--arch", arch, "--packet", PACKET])
    return cmds


@pytest.mark.skipif(not FIXTURES, reason="fixture objects not built")
@pytest.mark.parametrize("path", FIXTURES, ids=[os.path.basename(p) for p in FIXTURES])
def test_fixture_through_every_command(path):
    """Every program of every fixture: each command succeeds or refuses in one clean line."""
    problems = []
    for argv in _fixture_commands(path):
        code, _, err = run_cli(argv)
        bad = verdict(code, err, path, argv[0])
        if bad is not None:
            problems.append(f"{' '.join(argv[:1] + argv[2:])}: {bad}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------- regressions

@pytest.mark.parametrize("seed_file", SEEDS, ids=[os.path.basename(p) for p in SEEDS])
def test_fuzz_seed(seed_file):
    """A saved campaign finding: its command must now succeed or refuse cleanly."""
    bad, argv = F.replay(seed_file)
    assert bad is None, f"{' '.join(argv)}: {bad}"


def test_info_with_a_map_index_the_program_lacks(tmp_path):
    """Bug pinned (found by the campaign): `bpfjit info` on raw bytecode whose LDDW src=1
    names map 0 (the program has none) died in jit/cli.py format_info with
    "internal error: TypeError: sequence item 0: expected str instance, NoneType found"."""
    path = str(tmp_path / "mapref.bin")
    with open(path, "wb") as f:
        f.write(slot(0x18, 1, 1, 0, 0) + slot(0) + slot(0xB7) + slot(0x95))
    code, out, err = run_cli(["info", path])
    assert verdict(code, err, path, "info") is None, err
    assert code == 0 and "map" in out


def test_info_with_an_unknown_helper(tmp_path):
    """Bug pinned: the same crash for a helper id with no name (`call 9999`)."""
    path = str(tmp_path / "helper.bin")
    with open(path, "wb") as f:
        f.write(slot(0x85, 0, 0, 0, 9999) + slot(0x95))
    code, out, err = run_cli(["info", path])
    assert verdict(code, err, path, "info") is None, err
    assert code == 0 and "9999" in out


TAIL_CALLS = os.path.join(HERE, "progs", "build", "tail_calls.el3.o")


@pytest.mark.skipif(not os.path.exists(TAIL_CALLS), reason="fixture objects not built")
@pytest.mark.parametrize("arch", [t.name for t in backends.targets() if t.byteorder == "little"])
def test_run_an_object_with_a_prog_array(arch):
    """Bug pinned (found by the campaign): running any program of an object with a prog
    array on a backend died with "internal error: UcError: Invalid memory mapping
    (UC_ERR_MAP)": jit/driver.compile_for_run lists the entry program's image twice
    (once as images[0], once as its own tail-call target) and jit/runner.run maps
    every image's code at its base, the same base twice."""
    if arch not in covered_arches():
        pytest.skip(f"{arch} backend not there yet")
    code, out, err = run_cli(["run", TAIL_CALLS, "--program", "dispatch", "--arch", arch,
                              "--packet", PACKET])
    assert (code, err) == (0, ""), err


def test_huge_map_is_refused_cleanly():
    """Bug pinned (found by the campaign: a legacy `maps` section with a corrupted
    value_size, 3,244,294,621 bytes x 8 entries): jit/maps.py Maps._allocate asks for a
    bytearray of the whole values region and dies with MemoryError ("internal error"),
    or for a size that does fit in RAM allocates it before Region refuses a region past
    4 GiB.  A map whose values cannot fit the maps area must be refused as bad input
    (BpfjitError) before anything is allocated.  The sizes here are far beyond any
    machine, so the bug fails fast instead of eating memory."""
    from jit import driver
    from jit.errors import BpfjitError
    from jit.program import MapDef, Object, from_bytecode
    prog = from_bytecode(slot(0xB7) + slot(0x95))
    prog.maps = [MapDef("huge", 2, 4, 0x7FFF_FFF8, 0xFFFF_FFFF)]
    obj = Object(file="huge.bin", programs=[prog], maps=prog.maps)
    with pytest.raises(BpfjitError):
        driver.run(obj, prog, "interp", driver.Inputs())
    for arch in covered_arches("little"):
        with pytest.raises(BpfjitError):
            driver.compile_program(prog, arch)


# --------------------------------------------------------------------- a bounded campaign

def test_bounded_campaign():
    """300 mutated inputs through every command (about 20 s): the CI slice of the campaign."""
    covered_arches()                         # fails if a backend seen working broke
    arches, missing = F.available_arches()
    stats = F.campaign(300, seed=20260101, save=False, arches=arches, log=lambda s: None)
    assert stats["inputs"] == 300
    assert stats["ok"] > 0 and stats["rejected"] > 0
    kinds = "\n".join(f"{n}x {k}" for k, n in stats["kinds"].items())
    example = stats["findings"][0] if stats["findings"] else None
    assert not stats["findings"], f"{kinds}\nfirst: {example}"
