"""The fuzz targets (jit/testing/fuzz_targets.py), bounded: each runs a few hundred
inputs through the plain random-input driver and, where Atheris is installed, a
short coverage-guided run.  BPFJIT_FUZZ_RUNS=N runs N inputs per target instead
(the long runs; `python -m jit.testing.fuzz_targets TARGET --runs 0` runs forever)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from jit.testing import fuzz_targets as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = int(os.environ.get("BPFJIT_FUZZ_RUNS", "0"))
RUNS = {"loader": LONG or 300, "differential": LONG or 200}


@pytest.mark.parametrize("target", sorted(T.TARGETS))
def test_target_survives_random_inputs(target, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # where a crash input would be saved
    assert T.run_plain(target, RUNS[target], seed=2026, quiet=True) == RUNS[target]


def test_loader_inputs_reach_the_compiler():
    """The mutated seed objects are not all refused at the door: some load and compile."""
    from jit import driver
    from jit.errors import BpfjitError
    loaded = 0
    for _, data in zip(range(60), T.plain_inputs("loader", 7)):
        try:
            driver.load(data, file="<fuzz>")
            loaded += 1
        except BpfjitError:
            pass
    assert loaded >= 10, loaded


def test_differential_target_reports_a_divergence(monkeypatch):
    """A backend that answers differently is a Divergence naming the generator seed."""
    from jit import driver
    from jit.testing import fuzz
    monkeypatch.setattr(fuzz, "diff_case", lambda case, arch, **kw: driver.Divergence(
        arch, "r0", 1, 2, 0))
    with pytest.raises(T.Divergence, match=r"gen.generate\(\d+"):
        T.differential(bytes(10))


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (pip install -e '.[fuzz]')")
@pytest.mark.parametrize("target,runs", [("loader", 100), ("differential", 20)])
def test_target_under_atheris(target, runs, tmp_path):
    runs = LONG or runs
    (tmp_path / "corpus").mkdir()
    p = subprocess.run([sys.executable, "-m", "jit.testing.fuzz_targets", target, "--atheris",
                        f"-runs={runs}", "-rss_limit_mb=4096",
                        f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus")],
                       cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0 and "Done" in p.stderr, p.stderr[-3000:]


def test_fuzz_jobs_default_to_every_core(monkeypatch):
    """`bpfjit fuzz` without --jobs runs one worker per core it may use (issue #20)."""
    from jit import cli
    from jit.testing import fuzz
    seen = {}

    def campaign(count, seed, arches, *, jobs, **kw):
        seen["jobs"] = jobs
        return fuzz.Summary(programs=count)
    monkeypatch.setattr(fuzz, "campaign", campaign)
    monkeypatch.setattr(fuzz, "default_jobs", lambda: 3)
    assert cli.main(["fuzz", "--arch", "x86_64", "--count", "10"]) == 0
    assert seen["jobs"] == 3
    assert cli.main(["fuzz", "--arch", "x86_64", "--count", "10", "--jobs", "1"]) == 0
    assert seen["jobs"] == 1
    assert cli.main(["fuzz", "--arch", "x86_64", "--count", "2"]) == 0
    assert seen["jobs"] == 2                     # never more workers than programs
