"""Issue #20: what a new user met.  Every file option gets one line naming the file
and the reason, exit status 2, never "internal error"; `check` refuses the maps
that `compile` refuses."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest

from jit import cli, driver

HERE = os.path.dirname(os.path.abspath(__file__))
OBJ = os.path.join(HERE, "..", "examples", "xdp_firewall.o")


def _bad_paths(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    binary = tmp_path / "binary"
    binary.write_bytes(bytes(range(256)))
    return str(folder), str(binary), str(tmp_path / "no-such-folder" / "out")


def _cases(tmp_path):
    folder, binary, missing = _bad_paths(tmp_path)
    return [
        (["run", OBJ, "--packet", folder], folder),
        (["run", OBJ, "--mem", folder], folder),
        (["run", OBJ, "--ctx", folder], folder),
        (["diff", OBJ, "--arch", "x86_64", "--packet", folder], folder),
        (["run", OBJ, "--map", f"verdicts={folder}"], folder),
        (["run", OBJ, "--map", f"verdicts={binary}"], binary),
        (["compile", OBJ, "-o", folder], folder),
        (["compile", OBJ, "-o", missing], missing),
        (["compile", OBJ, "--format", "bin", "-o", folder], folder),
        (["compile", folder], folder),
        (["fuzz", "--replay", folder], folder),
        (["fuzz", "--count", "1", "--arch", "x86_64", "--out", binary], binary),
    ]


def test_every_file_option_fails_with_one_line(tmp_path, capsys):
    problems = []
    for argv, path in _cases(tmp_path):
        rc = cli.main(argv)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        if rc != 2 or len(lines) != 1 or path not in err or "internal error" in err:
            problems.append(f"{' '.join(argv[:1] + argv[2:])}: exit {rc}: {err!r}")
    assert not problems, "\n".join(problems)


def _huge_maps(monkeypatch):
    """xdp_firewall with max_entries 2^32-1 on its first map (issue #20: check passed it)."""
    real = driver.load

    def load(*a, **kw):
        obj, prog = real(*a, **kw)
        prog.maps = [replace(prog.maps[0], max_entries=2**32 - 1)] + prog.maps[1:]
        return obj, prog
    monkeypatch.setattr(driver, "load", load)


def test_check_applies_the_map_limits_compile_applies(monkeypatch, capsys):
    assert cli.main(["check", OBJ]) == 0
    capsys.readouterr()
    _huge_maps(monkeypatch)
    assert cli.main(["compile", OBJ, "--arch", "x86_64"]) == 2
    compile_err = capsys.readouterr().err
    assert cli.main(["check", OBJ]) == 2
    check_err = capsys.readouterr().err
    assert "4294967295 entries" in compile_err and "4294967295 entries" in check_err
    assert "internal error" not in check_err


@pytest.mark.parametrize("limit", [1, 1024])
def test_check_passes_maps_compile_takes(limit):
    obj, prog = driver.load(OBJ)
    prog.maps = [replace(m, max_entries=limit) for m in prog.maps]
    assert driver.map_problems(prog) == []
