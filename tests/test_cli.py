"""The command line as people and scripts meet it.

- `--help` for every subcommand, with an example.
- Exit codes, as the README's table says: 0 ok, 1 divergence, 2 bad input with
  one line on stderr naming the file (`check`: one line per reason), never a
  traceback — for every subcommand.
- `--json` on compile, run, info and diff: one JSON document with the
  documented keys and no markup, on a terminal too.
- rich tables and colour on a terminal (a real pty through `script`, or a
  patched isatty), plain text when piped or with NO_COLOR.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import backends

from jit import cli

ROOT = Path(__file__).resolve().parent.parent
FIREWALL = str(ROOT / "tests" / "progs" / "build" / "xdp_firewall.el3.o")
SUBCOMMANDS = ("run", "disasm", "compile", "check", "info", "diff", "fuzz", "conformance")
ANSI = re.compile(r"\x1b\[")
BOX = re.compile(r"[┏┃━│─┡└]")
# an IPv4 Ethernet frame (xdp_firewall passes it on to its IPv4 checks)
PACKET = "ffffffffffff" "000000000001" "0800" + "00" * 50


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One eBPF instruction, little-endian (RFC 9669 layout)."""
    return struct.pack("<BBhi", op, src << 4 | dst, off, imm)


MOV64_IMM, MOV64_REG, LDXDW, STXDW, CALL, EXIT = 0xB7, 0xBF, 0x79, 0x7B, 0x85, 0x95


@pytest.fixture
def progs(tmp_path: Path) -> dict[str, str]:
    """Raw bytecode files: good ones and each kind of bad input."""
    files = {
        "ok": insn(MOV64_IMM, 0, imm=7) + insn(EXIT),                  # r0 = 7
        "seven_bytes": b"abcdefg",                                       # not eBPF at all
        "unknown_opcode": insn(0xFF) + insn(EXIT),
        "uninit": insn(MOV64_REG, 0, 3) + insn(EXIT),                  # r3 never written
        # two independent failed checks: a store below the 512-byte stack, an unknown helper
        "two_problems": insn(STXDW, 10, 1, off=-600) + insn(CALL, imm=99999)
        + insn(MOV64_IMM, 0) + insn(EXIT),
        "faults": insn(MOV64_IMM, 0) + insn(LDXDW, 0, 0) + insn(EXIT),  # reads address 0
    }
    out = {}
    for name, data in files.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(data)
        out[name] = str(path)
    truncated = tmp_path / "truncated.o"
    truncated.write_bytes(Path(FIREWALL).read_bytes()[:200])
    out["truncated"] = str(truncated)
    out["missing"] = str(tmp_path / "missing.o")
    return out


def bpfjit(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_naming(err: str, path: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"bpfjit: {path}: "), err


# ------------------------------------------------------------------ --help

@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_every_subcommand_has_help_with_an_example(capsys, cmd):
    with pytest.raises(SystemExit) as e:
        cli.main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bpfjit {cmd}")
    example = out.split("example:", 1)[1]
    assert f"bpfjit {cmd}" in example


def test_top_level_help_lists_subcommands_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in SUBCOMMANDS:
        assert cmd in out
    assert "0 ok, 1 divergence, 2 bad input" in out


# ------------------------------------------------------------------ exit codes

# any registered target will do; the names come from the registry
ARCH = backends.names()[0]
LITTLE = [t.name for t in backends.targets() if t.byteorder == "little"]
BY_ORDER = next(iter(backends.order_aliases()), ARCH)     # a name chosen by byte order

PROG_COMMANDS = {           # subcommand -> extra arguments for a run on a good program
    "run": [], "disasm": [], "compile": ["--arch", ARCH], "check": [], "info": [],
    "diff": ["--arch", ARCH],
}


@pytest.mark.parametrize("cmd", PROG_COMMANDS)
def test_exit_0_on_a_good_program(capsys, progs, cmd):
    code, out, err = bpfjit(capsys, cmd, progs["ok"], *PROG_COMMANDS[cmd])
    assert code == 0, err
    assert out and err == ""


@pytest.mark.parametrize("cmd", PROG_COMMANDS)
@pytest.mark.parametrize("bad", ["seven_bytes", "truncated", "unknown_opcode", "missing"])
def test_exit_2_and_one_line_naming_the_file_on_bad_input(capsys, progs, cmd, bad):
    code, out, err = bpfjit(capsys, cmd, progs[bad], *PROG_COMMANDS[cmd])
    assert code == 2
    assert out == ""
    assert_one_line_naming(err, progs[bad])


@pytest.mark.parametrize("cmd", ["run", "compile", "check", "diff"])
def test_failed_check_exits_2_naming_file_function_and_pc(capsys, progs, cmd):
    code, out, err = bpfjit(capsys, cmd, progs["uninit"], *PROG_COMMANDS[cmd])
    assert code == 2
    assert_one_line_naming(err, progs["uninit"])
    assert f"{progs['uninit']}: main: pc 0: " in err and "r3" in err


def test_check_exits_2_with_one_line_per_reason(capsys, progs):
    code, out, err = bpfjit(capsys, "check", progs["two_problems"])
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"bpfjit: {progs['two_problems']}: main: pc 0: ")
    assert lines[1].startswith(f"bpfjit: {progs['two_problems']}: main: pc 1: ")
    assert "99999" in lines[1]


def test_check_exits_0_and_says_ok(capsys, progs):
    code, out, err = bpfjit(capsys, "check", FIREWALL)
    assert (code, err) == (0, "")
    assert out == f"{FIREWALL}: xdp_firewall: ok\n"


@pytest.mark.parametrize("arch", ["interp", ARCH])
def test_run_that_faults_exits_2_naming_the_pc(capsys, progs, arch):
    code, out, err = bpfjit(capsys, "run", progs["faults"], "--arch", arch)
    assert code == 2
    assert_one_line_naming(err, progs["faults"])
    assert "main: pc 1: read fault at 0x0" in err


def test_unknown_arch_exits_2_naming_the_file(capsys, progs):
    code, out, err = bpfjit(capsys, "compile", progs["ok"], "--arch", "sparc")
    assert code == 2
    assert_one_line_naming(err, progs["ok"])
    assert "sparc" in err


def test_diff_exits_1_on_a_divergence(capsys, progs, monkeypatch):
    """The CLI's mapping of a divergence to status 1 (the backends agree on every real
    program, so the divergence is made up here)."""
    from jit import driver
    real = driver.diff

    def diverging(obj, prog, arches, inputs=None, **kw):
        ref, _ = real(obj, prog, arches, inputs, **kw)
        return ref, [driver.Divergence(ARCH, "r0", 7, 8, 1, "")]
    monkeypatch.setattr(driver, "diff", diverging)
    code, out, err = bpfjit(capsys, "diff", progs["ok"], "--arch", ARCH)
    assert code == 1
    assert "x86_64: r0 differs: interpreter 0x7, x86_64 0x8 (pc 1)" in out
    code, out, err = bpfjit(capsys, "diff", progs["ok"], "--arch", ARCH, "--json")
    assert code == 1
    assert json.loads(out)["divergences"][0]["arch"] == ARCH


def test_conformance_exit_codes(capsys, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "mov.data").write_text("-- asm\nmov %r0, 5\nexit\n-- result\n0x5\n")
    assert bpfjit(capsys, "conformance", str(good))[0] == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "mov.data").write_text("-- asm\nmov %r0, 5\nexit\n-- result\n0x6\n")  # wrong on purpose
    assert bpfjit(capsys, "conformance", str(bad))[0] == 1
    code, out, err = bpfjit(capsys, "conformance", str(tmp_path / "empty"))
    assert code == 2
    assert_one_line_naming(err, str(tmp_path / "empty"))


def test_fuzz_exit_codes(capsys, tmp_path):
    code, out, err = bpfjit(capsys, "fuzz", "--count", "2", "--arch", ARCH,
                            "--out", str(tmp_path / "findings"))
    assert code == 0, out + err
    code, out, err = bpfjit(capsys, "fuzz", "--count", "-1")
    assert code == 2
    assert len(err.splitlines()) == 1 and "--count" in err and "Traceback" not in err


def test_bad_input_through_the_installed_entry_point_has_no_traceback(progs):
    """The same, end to end in a fresh interpreter (what a shell sees)."""
    out = subprocess.run([sys.executable, "-m", "jit.cli", "compile", progs["truncated"],
                          "--arch", BY_ORDER], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert_one_line_naming(out.stderr, progs["truncated"])


# ------------------------------------------------------------------ --json

def test_run_json(capsys):
    code, out, err = bpfjit(capsys, "run", FIREWALL, "--arch", LITTLE[-1], "--packet", PACKET,
                            "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {"program", "section", "retval", "fault", "helper_calls", "trace", "regions", "maps",
            "insns_executed"} <= set(doc)
    assert (doc["program"], doc["section"], doc["fault"]) == ("xdp_firewall", "xdp", None)
    assert doc["retval"] == 1                      # XDP_DROP: the firewall's verdict map is empty
    assert doc["helper_calls"][0]["name"] == "map_lookup_elem"
    assert bytes.fromhex(PACKET) in bytes.fromhex(doc["regions"]["packet"])    # after headroom
    assert set(doc["maps"]) == {"blocked_src", "blocked_ports", "verdicts"}


def test_info_json(capsys):
    code, out, err = bpfjit(capsys, "info", FIREWALL, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert isinstance(doc, list) and len(doc) == 1
    prog = doc[0]
    assert {"name", "type", "section", "file", "byteorder", "license", "insns", "slots",
            "stack", "helpers", "maps", "functions", "problems"} <= set(prog)
    assert (prog["name"], prog["type"], prog["insns"], prog["slots"]) == \
        ("xdp_firewall", "xdp", 120, 130)            # llvm-objdump: 130 slots, 10 of them LDDW
    fn = prog["functions"][0]
    assert {"name", "start", "end", "insns", "stack_depth", "callees", "helpers", "maps"} <= set(fn)


def test_diff_json(capsys):
    code, out, err = bpfjit(capsys, "diff", FIREWALL, "--arch", f"{ARCH},{BY_ORDER}",
                            "--packet", PACKET, "--json")
    doc = json.loads(out)
    assert {"reference", "arches", "divergences"} <= set(doc)
    assert doc["arches"] == [ARCH, backends.canonical(BY_ORDER, "little")]
    assert doc["reference"]["retval"] == 1
    assert code == (1 if doc["divergences"] else 0)


def test_json_stays_plain_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    for argv in (["info", FIREWALL, "--json"], ["diff", FIREWALL, "--arch", ARCH, "--json"],
                 ["compile", FIREWALL, "--json"], ["run", FIREWALL, "--json"]):
        code, out, err = bpfjit(capsys, *argv)
        assert not ANSI.search(out) and not BOX.search(out)
        assert not re.search(r"\[/?(bold|dim|red|green)\]", out)
        json.loads(out)


# ------------------------------------------------------------------ terminal vs pipe

@pytest.mark.parametrize("argv", [["info", FIREWALL], ["diff", FIREWALL, "--arch", ARCH]])
def test_plain_text_when_piped(capsys, argv):
    code, out, err = bpfjit(capsys, *argv)
    assert code == 0
    assert not ANSI.search(out) and not BOX.search(out)
    assert "xdp_firewall" in out


@pytest.mark.parametrize("argv", [["info", FIREWALL], ["diff", FIREWALL, "--arch", ARCH]])
def test_tables_on_a_terminal(capsys, monkeypatch, argv):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, err = bpfjit(capsys, *argv)
    assert code == 0
    assert BOX.search(out), out
    assert not re.search(r"\[/?(bold|dim|red|green)\]", out)     # markup rendered, not shown
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, err = bpfjit(capsys, *argv)
    assert not BOX.search(out) and not ANSI.search(out)


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux script is not installed")
def test_colour_on_a_real_terminal():
    """Under a pty (script -qc), info prints a rich table in colour; piped, plain text."""
    cmd = f"{sys.executable} -m jit.cli info {FIREWALL}"
    env = {"TERM": "xterm-256color", "PATH": "/usr/bin:/bin", "COLUMNS": "120"}
    tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, env=env)
    assert tty.returncode == 0, tty.stderr
    assert ANSI.search(tty.stdout) and BOX.search(tty.stdout)
    piped = subprocess.run(cmd.split(), capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert piped.returncode == 0
    assert not ANSI.search(piped.stdout) and not BOX.search(piped.stdout)
    assert "func xdp_firewall" in piped.stdout


def test_compile_listing_is_plain_and_names_helpers(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, err = bpfjit(capsys, "compile", FIREWALL, "--arch", LITTLE[-1], "--linum")
    assert code == 0
    assert not ANSI.search(out)
    assert out.startswith("xdp_firewall:\n")
    assert "<bpf_map_lookup_elem>" in out and "<verdicts>" in out
    assert "[file:./xdp_firewall.c line_num:" in out


@pytest.mark.parametrize("fmt", ["bin", "hex"])
def test_compile_bin_and_hex(capsys, tmp_path, fmt):
    out_path = tmp_path / f"out.{fmt}"
    code, out, err = bpfjit(capsys, "compile", FIREWALL, "--arch", BY_ORDER, "--format", fmt,
                            "-o", str(out_path))
    assert (code, out, err) == (0, "", "")
    from jit import compile_program, load
    code_bytes = compile_program(load(FIREWALL)[1], BY_ORDER).code
    if fmt == "bin":
        assert out_path.read_bytes() == code_bytes
    else:
        rows = out_path.read_text().splitlines()
        assert rows[0].startswith("00000000: ")
        assert bytes.fromhex("".join(r.split(": ", 1)[1] for r in rows)) == code_bytes
