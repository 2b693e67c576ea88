"""`bpfjit fuzz` as a user runs it: a campaign, its exit status, reproducers, --replay.

The commands run in a subprocess (`python -m jit.cli ...`), as the installed
`bpfjit` script would run them.  To get a reproducer without waiting for a real
backend bug, one subprocess breaks an x86-64 encoder first (a wrong jcc
condition) and then runs the campaign: it must exit 1, save a minimized
reproducer, and that file must replay as a divergence with the broken encoder
and as agreement without it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from jit.testing import fuzz, gen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run the CLI with x86-64's jcc_rel8/jcc_rel32 swapping `ja` and `jae`.
BROKEN_X86 = """
import sys
from backends.x86_64 import enc
swap = {enc.Cond.A: enc.Cond.AE, enc.Cond.AE: enc.Cond.A}
j8, j32 = enc.jcc_rel8, enc.jcc_rel32
enc.jcc_rel8 = lambda cc, d: j8(swap.get(cc, cc), d)
enc.jcc_rel32 = lambda cc, d: j32(swap.get(cc, cc), d)
from jit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def bpfjit(*args: str, broken: bool = False, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", BROKEN_X86, *args] if broken else \
        [sys.executable, "-m", "jit.cli", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _ready(arch: str) -> None:
    why = fuzz.available(arch) or fuzz.smoke(arch)
    if why is not None:
        pytest.skip(f"backend {arch} is not ready: {why}")


def test_campaign_on_every_backend_exits_0(tmp_path):
    arches, skipped = fuzz.choose_arches("all")
    if not arches:
        pytest.skip(f"no backend is ready: {skipped}")
    p = bpfjit("fuzz", "--count", "20", "--seed", "1", "--arch", "all", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "fuzz: 20 programs from seed 1" in p.stdout
    for a in arches:
        line = next(ln for ln in p.stdout.splitlines() if ln.split()[:1] == [a])
        assert "20 runs" in line and " 0 divergences" in line, line
    assert "divergences: 0" in p.stdout
    assert "Traceback" not in p.stderr
    assert not list(tmp_path.iterdir())          # nothing to save


def test_campaign_with_jobs_runs_every_program(tmp_path):
    _ready("x86_64")
    p = bpfjit("fuzz", "--count", "6", "--seed", "3", "--arch", "x86_64", "--jobs", "2",
               "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^  x86_64 +6 runs +0 divergences$", p.stdout, re.M), p.stdout


def test_a_divergence_exits_1_and_its_reproducer_replays(tmp_path):
    _ready("x86_64")
    # --jobs 1: the broken encoder is patched into this process, not into spawned workers
    # (12 programs: value ranges fold some of the generator's branches, so 6 may not reach
    # a broken jcc)
    p = bpfjit("fuzz", "--count", "12", "--seed", "1", "--arch", "x86_64", "--jobs", "1",
               "--out", str(tmp_path), broken=True)
    assert p.returncode == 1, p.stdout + p.stderr
    files = sorted(tmp_path.glob("*.json"))
    assert files, p.stdout
    assert f"divergences: {len(files)}" in p.stdout
    data = json.loads(files[0].read_text())
    assert data["format"] == "bpfjit-repro/1" and data["arch"] == "x86_64"
    assert data["divergence"]["what"]
    # minimized: far smaller than what the generator makes, and still a valid program
    case, _ = fuzz.load(str(files[0]))
    assert not gen.validate(case)
    assert case.n_insns < 30, data["listing"]
    # with the broken encoder the divergence is still there ...
    p = bpfjit("fuzz", "--replay", str(files[0]), broken=True)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "x86_64 diverges" in p.stdout
    # ... and the real backend agrees
    p = bpfjit("fuzz", "--replay", str(files[0]))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "x86_64 agrees with the interpreter" in p.stdout


def test_reproducer_file_round_trips(tmp_path):
    case = gen.generate(11, gen.GenConfig(byteorder="big"))
    path = fuzz.save(str(tmp_path / "r.json"), case, "mips64", None)
    back, meta = fuzz.load(path)
    assert meta["arch"] == "mips64" and back.byteorder == "big"
    assert [p.insns for p in back.programs] == [p.insns for p in case.programs]
    assert [p.name for p in back.programs] == [p.name for p in case.programs]
    assert back.mem == case.mem
    assert back.map_seeds == case.map_seeds
    assert [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.prog_slots)
            for m in back.maps] == \
        [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.prog_slots)
         for m in case.maps]
    ref_a, ref_b = fuzz.reference(case), fuzz.reference(back)
    assert (ref_a.r0, ref_a.regions, ref_a.fault) == (ref_b.r0, ref_b.regions, ref_b.fault)


def test_bad_reproducer_is_one_line_and_exit_2(tmp_path):
    for content in ("not json", json.dumps({"format": "something else"}),
                    json.dumps({"format": "bpfjit-repro/1", "programs": []})):
        path = tmp_path / "bad.json"
        path.write_text(content)
        p = bpfjit("fuzz", "--replay", str(path))
        assert p.returncode == 2, p.stdout + p.stderr
        assert "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and str(path) in p.stderr
    p = bpfjit("fuzz", "--replay", str(tmp_path / "missing.json"))
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_unknown_arch_is_exit_2():
    p = bpfjit("fuzz", "--count", "1", "--arch", "sparc")
    assert p.returncode == 2
    assert "unknown architecture 'sparc'" in p.stderr and "Traceback" not in p.stderr
