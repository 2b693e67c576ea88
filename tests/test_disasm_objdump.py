"""`bpfjit disasm` against llvm-objdump-19, byte for byte, over every fixture object.

The oracle is llvm-objdump-19 itself: where it is installed, each fixture object
(tests/progs/build, examples, bench/progs/build, tests/asm and the hand-written
tests/asm/objdump/{multi,edges}.s objects, both byte orders) is disassembled by
it and by `jit.asm.objdump` with the same options, and the two texts must be
equal.  Its output is also committed (tests/asm/objdump/golden, rebuilt by
tests/asm/objdump/build.sh), so the same comparison runs without LLVM.

Also here: the command line around it (every program by default, --program,
--section, --xlated, check and info over every program, helper names).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jit import cli
from jit.asm import CPUS, objdump
from jit.helper_names import HELPER_NAMES, helper_name

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "asm" / "objdump" / "golden"
OBJDUMP = "llvm-objdump-19"
HAVE_LLVM = shutil.which(OBJDUMP) is not None
needs_llvm = pytest.mark.skipif(not HAVE_LLVM, reason=f"{OBJDUMP} is not installed")

OBJECT_GLOBS = ("tests/progs/build/*.o", "examples/*.o", "bench/progs/build/*.o",
                "tests/asm/*.o", "tests/asm/objdump/*.o")
OBJECTS = sorted(str(p.relative_to(ROOT)) for g in OBJECT_GLOBS for p in ROOT.glob(g))
MULTI = "tests/asm/objdump/multi.el.o"
MULTI_PROGRAMS = ["xdp_pass", "xdp_drop", "xdp_len", "xdp_count", "xdp_branch"]

# golden suffix -> objdump() keywords (the llvm-objdump flags are in build.sh)
VARIANTS = {"d-r": {"relocs": True}, "v4": {"relocs": True, "mcpu": "v4"}}


def _llvm(*args: str) -> str:
    done = subprocess.run([OBJDUMP, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _ours(path: str, **kw) -> str:
    return objdump((ROOT / path).read_bytes(), path, **kw)


def _goldens() -> list[tuple[str, str]]:
    out = []
    for g in sorted(GOLDEN.glob("*.txt")):
        stem, variant, _ = g.name.rsplit(".", 2)
        out.append((stem.replace("__", "/"), variant))
    return out


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --------------------------------------------------------------------- the oracle

def test_every_kind_of_fixture_is_covered():
    assert len(OBJECTS) >= 80
    for glob in OBJECT_GLOBS:
        assert any(Path(o).match(glob) for o in OBJECTS), glob
    # both byte orders of every hand-written object
    for name in ("multi", "edges"):
        assert {f"tests/asm/objdump/{name}.el.o", f"tests/asm/objdump/{name}.eb.o"} <= set(OBJECTS)


@pytest.mark.parametrize("path,variant", _goldens(),
                         ids=[f"{p}:{v}" for p, v in _goldens()])
def test_matches_committed_llvm_objdump_output(path, variant):
    if not (ROOT / path).exists():
        pytest.skip(f"{path} is gone; rerun tests/asm/objdump/build.sh")
    want = (GOLDEN / f"{path.replace('/', '__')}.{variant}.txt").read_text()
    got = _ours(path, **VARIANTS[variant])
    assert got == want, (f"{path} differs from the committed llvm-objdump output (if the object "
                         f"was rebuilt, rerun tests/asm/objdump/build.sh)")


def test_goldens_cover_every_fixture_object():
    """Every hand-written and example object has its golden; fixture objects added
    later are checked against llvm-objdump-19 only until build.sh is rerun."""
    have = {p for p, v in _goldens() if v == "d-r"}
    assert {o for o in OBJECTS if o.startswith(("tests/asm", "examples"))} <= have
    assert len(have) >= 80


@needs_llvm
@pytest.mark.parametrize("path", OBJECTS)
def test_matches_llvm_objdump_with_every_cpu_and_relocations(path):
    """Default, -r, --mcpu and --no-show-raw-insn, as llvm-objdump-19 prints them now.

    Every CPU name on the objects that hold every opcode (tests/asm), v1 and v4
    on the compiled fixtures (llvm's decoder knows two tables: with and without
    alu32)."""
    cpus = CPUS if path.startswith("tests/asm") else ("v1", "v4")
    cases = [((), {}), (("-r",), {"relocs": True})]
    cases += [((f"--mcpu={cpu}", "-r"), {"mcpu": cpu, "relocs": True}) for cpu in cpus]
    cases += [(("--no-show-raw-insn", "--mcpu=v4"), {"show_bytes": False, "mcpu": "v4"})]
    for flags, kw in cases:
        want = _llvm("-d", *flags, path)
        assert _ours(path, **kw) == want, f"llvm-objdump-19 -d {' '.join(flags)} {path}"


@needs_llvm
@pytest.mark.parametrize("kw,flags", [
    ({"sections": ["xdp"]}, ["-j", "xdp"]),
    ({"sections": [".text"], "relocs": True}, ["-j", ".text", "-r"]),
    ({"symbols": ["second"]}, ["--disassemble-symbols=second"]),
    ({"symbols": ["second", "second_alias", "odd"], "relocs": True},
     ["--disassemble-symbols=second,second_alias,odd", "-r"]),
    ({"symbols": ["inner"], "relocs": True}, ["--disassemble-symbols=inner", "-r"]),
])
@pytest.mark.parametrize("order", ["el", "eb"])
def test_section_and_symbol_selection_match_llvm(kw, flags, order):
    path = f"tests/asm/objdump/edges.{order}.o"
    assert _ours(path, **kw) == _llvm("-d", *flags, path)


# --------------------------------------------------------------------- llvm's rules, pinned

def test_edge_object_layout_without_llvm():
    """The rules edges.s exercises, spelled out (the goldens hold the whole text)."""
    text = _ours("tests/asm/objdump/edges.el.o", relocs=True)
    assert text.startswith("\ntests/asm/objdump/edges.el.o:\tfile format elf64-bpf\n")
    # no symbol at the start of xdp: the block is named after the section
    assert "\n0000000000000000 <xdp>:\n" in text
    # two symbols at one address: the last in name order names the block
    assert "<second_alias>:" in text and "<second>:" not in text
    # branch notes: nearest symbol at or before the target; before the section start it wraps
    assert "goto +0x1 <first>\n" in text
    assert "goto -0x64 <inner+0xfffffffffffffd10>\n" in text
    assert "gotol +0x3e8 <inner+0x1f78>\n" in text
    # relocations: a global, an undefined symbol, a section symbol
    assert "\t\t0000000000000030:  R_BPF_64_64\tcounter\n" in text
    assert "\t\t0000000000000050:  R_BPF_64_64\textern_thing\n" in text
    assert "\t\t0000000000000060:  R_BPF_64_32\t.text\n" in text
    # zero runs, encodings that do not decode, a truncated tail
    assert text.count("\t\t...\n") == 2
    assert "       5:\tb7 01 01 00 05 00 00 00\t<unknown>\n" in text
    assert "r1 = 0x100000005 ll\n" in text
    assert text.endswith("      11:\t95\t<unknown>\n      11:\t00\t<unknown>\n"
                         "      11:\t00\t<unknown>\n")
    # an empty code section prints nothing
    assert "sec_empty" not in text


def test_default_cpu_names_64_bit_registers_for_narrow_loads_and_stores():
    """llvm-objdump without --mcpu has no alu32: `*(u32 *)(...) = r1`; v3/v4 say w1."""
    path = "tests/progs/build/calls_deep.el3.o"
    default, v4 = _ours(path), _ours(path, mcpu="v4")
    assert "*(u32 *)(r10 - 0x14) = r2" in default
    assert "*(u32 *)(r10 - 0x14) = w2" in v4
    assert _ours(path, mcpu="v1") == _ours(path, mcpu="generic") == default
    assert _ours(path, mcpu="v3") == v4
    # of the 32-bit atomics only add decodes without alu32
    atomics = _ours("tests/asm/all_ops.el.o")
    assert "lock *(u32 *)(r1 + 0x0) += r2\n" in atomics
    assert "c3 21 00 00 40 00 00 00\t<unknown>\n" in atomics


def test_committed_v4_listing_of_all_ops_is_objdump_output():
    """tests/asm/*.objdump (test_asm's oracle, --mcpu=v4) are whole llvm-objdump outputs;
    objdump() reproduces them once the path in the file line is the one they were made with."""
    for tag in ("el", "eb"):
        committed = (ROOT / f"tests/asm/all_ops.{tag}.objdump").read_text()
        first = committed.splitlines()[1]
        shown = first.split(":\tfile format")[0]
        got = objdump((ROOT / f"tests/asm/all_ops.{tag}.o").read_bytes(), shown, mcpu="v4")
        assert got == committed


# --------------------------------------------------------------------- the command line

def test_disasm_prints_every_program_like_llvm(capsys):
    rc, out, _ = _cli(capsys, "disasm", MULTI)
    assert rc == 0
    golden = (GOLDEN / f"{MULTI.replace('/', '__')}.d-r.txt").read_text()
    assert out == re.sub(r"\t\t[0-9a-f]{16}:  R_BPF\S+\t\S+\n", "", golden)
    for name in MULTI_PROGRAMS + ["clamp"]:
        assert len(re.findall(rf"^[0-9a-f]{{16}} <{name}>:$", out, re.M)) == 1, name


def test_disasm_reloc_and_cpu_options_reach_objdump(capsys):
    _, out, _ = _cli(capsys, "disasm", MULTI, "-r", "--mcpu", "v4")
    assert out == (GOLDEN / f"{MULTI.replace('/', '__')}.v4.txt").read_text()
    _, out, _ = _cli(capsys, "disasm", MULTI, "--no-show-raw-insn")
    assert "       0:\tr0 = r1\n" in out


def test_disasm_program_shows_it_and_its_subprograms(capsys):
    _, out, _ = _cli(capsys, "disasm", MULTI, "--program", "xdp_count", "-r")
    headers = re.findall(r"^[0-9a-f]{16} <(\w+)>:$", out, re.M)
    assert headers == ["clamp", "xdp_count"]        # section order, as llvm-objdump
    if HAVE_LLVM:
        assert out == _llvm("-d", "-r", "--disassemble-symbols=xdp_count,clamp", MULTI)


def test_disasm_section_selects_one_section(capsys):
    _, out, _ = _cli(capsys, "disasm", MULTI, "--section", "xdp")
    assert "Disassembly of section .text" not in out
    assert re.findall(r"<(\w+)>:$", out, re.M) == MULTI_PROGRAMS
    if HAVE_LLVM:
        assert out == _llvm("-d", "-j", "xdp", MULTI)


def test_disasm_unknown_section_or_program_is_one_line_and_status_2(capsys):
    rc, out, err = _cli(capsys, "disasm", MULTI, "--section", "nope")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "nope" in err and "xdp" in err
    rc, _, err = _cli(capsys, "disasm", MULTI, "--program", "nope")
    assert rc == 2 and err.count("\n") == 1 and "xdp_branch" in err


def test_disasm_xlated_shows_the_loaded_program(capsys):
    """--xlated: map and global data references as ld_pseudo, subprograms appended."""
    rc, out, _ = _cli(capsys, "disasm", MULTI, "--xlated", "--program", "xdp_len")
    assert rc == 0
    assert out.startswith("\nDisassembly of program xdp_len (section xdp):\n")
    assert re.findall(r"^[0-9a-f]{16} <(\w+)>:$", out, re.M) == ["xdp_len", "clamp"]
    # the call is relocated to the appended copy of clamp: slot 4 + 1 + 1 = 6
    assert "       4:\t85 10 00 00 01 00 00 00\tcall 0x1\n" in out
    assert "0000000000000030 <clamp>:\n       6:\t" in out
    _, out, _ = _cli(capsys, "disasm", "tests/progs/build/global_data.el3.o", "--xlated")
    assert "ld_pseudo\tr1, 0x2, 0x2" in out           # .data: map 2, offset 0
    _, out, _ = _cli(capsys, "disasm", "tests/progs/build/calls_deep.el3.o", "--xlated")
    assert re.findall(r"^Disassembly of program (\w+)", out, re.M) == ["xdp_calls", "tc_calls"]


def test_check_covers_every_program(capsys):
    rc, out, _ = _cli(capsys, "check", MULTI)
    assert rc == 0
    assert out.splitlines() == [f"{MULTI}: {p}: ok" for p in MULTI_PROGRAMS]
    rc, out, _ = _cli(capsys, "check", MULTI, "--program", "xdp_len")
    assert out.splitlines() == [f"{MULTI}: xdp_len: ok"]


def test_info_covers_every_program_and_honours_the_selection(capsys):
    _, out, _ = _cli(capsys, "info", MULTI, "--json")
    assert [i["name"] for i in json.loads(out)] == MULTI_PROGRAMS
    _, out, _ = _cli(capsys, "info", MULTI, "--json", "--program", "xdp_count")
    (info,) = json.loads(out)
    assert info["name"] == "xdp_count"
    assert [f["name"] for f in info["functions"]] == ["xdp_count", "clamp"]


# --------------------------------------------------------------------- helper names

UAPI_HEADER = Path("/usr/include/linux/bpf.h")


def test_every_uapi_helper_id_has_a_name():
    assert sorted(HELPER_NAMES) == list(range(212))
    # spot checks against include/uapi/linux/bpf.h (___BPF_FUNC_MAPPER)
    assert helper_name(1) == "map_lookup_elem"
    assert helper_name(9) == "skb_store_bytes"
    assert helper_name(10) == "l3_csum_replace"
    assert helper_name(12) == "tail_call"
    assert helper_name(181) == "loop"
    assert helper_name(189) == "xdp_load_bytes"
    assert helper_name(211) == "cgrp_storage_delete"
    assert helper_name(212) is None and helper_name(-1) is None


@pytest.mark.skipif(not UAPI_HEADER.exists(), reason="no installed uapi linux/bpf.h")
def test_helper_names_agree_with_the_installed_uapi_header():
    text = UAPI_HEADER.read_text()
    m = re.search(r"#define ___?BPF_FUNC_MAPPER\((?:FN|FN, ctx\.\.\.)\)(.*?)/\* \*/", text, re.S)
    assert m, "no BPF_FUNC_MAPPER in the header"
    entries = re.findall(r"FN\((\w+)(?:,\s*(\d+))?", m.group(1))
    assert len(entries) > 150
    for i, (name, num) in enumerate(entries):
        assert HELPER_NAMES[int(num) if num else i] == name


def test_info_names_helpers_bpfjit_does_not_implement(tmp_path, capsys):
    """Helpers 9, 10 and 189 had null names in `info`: every uapi id is named now."""
    from jit.asm import assemble
    from jit.isa import encode
    prog = tmp_path / "calls.bin"
    prog.write_bytes(encode(assemble("r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall 9\n"
                                     "call 10\ncall 189\nr0 = 0\nexit\n")))
    _, out, _ = _cli(capsys, "info", str(prog), "--json")
    (info,) = json.loads(out)
    assert {h["id"]: h["name"] for h in info["helpers"]} == {
        9: "skb_store_bytes", 10: "l3_csum_replace", 189: "xdp_load_bytes"}


def test_the_kernel_helper_set_stubs_every_uapi_helper_by_its_name():
    """jit.contexts stubs the helpers it does not implement from jit.helper_names' table
    (one table, no copy to drift): every uapi id is in the kernel set, and each stub
    carries that name."""
    from jit import contexts
    hs = contexts.kernel_helpers()
    assert set(HELPER_NAMES) - {0} <= set(hs)
    implemented = {**contexts.KERNEL, **contexts.NET_HELPERS}
    for hid, name in HELPER_NAMES.items():
        if hid and hid not in implemented:
            assert hs[hid].name == name, hid


def test_compile_listing_names_helpers_bpfjit_does_not_implement(tmp_path, capsys):
    from jit.asm import assemble
    from jit.isa import encode
    args = "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\n"
    prog = tmp_path / "calls.bin"
    prog.write_bytes(encode(assemble(args + "call 9\n" + args + "call 189\nr0 = 0\nexit\n")))
    import backends
    arch = backends.targets()[0].name
    assert cli.main(["compile", str(prog), "--arch", arch]) == 0
    out = capsys.readouterr().out
    assert "<bpf_skb_store_bytes>" in out and "<bpf_xdp_load_bytes>" in out


# --------------------------------------------------------------------- objects bpfjit cannot load

def test_disasm_shows_an_object_the_loader_refuses(capsys):
    """disasm reads the object as llvm-objdump does, so it works where loading fails."""
    path = "tests/asm/objdump/edges.eb.o"
    rc, _, err = _cli(capsys, "check", path)
    assert rc == 2 and err.count("\n") == 1
    rc, out, _ = _cli(capsys, "disasm", path, "-r")
    assert rc == 0
    assert out == (GOLDEN / f"{path.replace('/', '__')}.d-r.txt").read_text()


def test_disasm_of_raw_bytecode_lays_out_the_loaded_program(tmp_path, capsys):
    from jit.asm import assemble
    from jit.isa import encode
    prog = tmp_path / "raw.bin"
    prog.write_bytes(encode(assemble("r1 = 1\ncall f\nexit\nf:\nr0 = r1\nexit\n"), "big"))
    rc, out, _ = _cli(capsys, "disasm", str(prog), "--bpfeb")
    assert rc == 0
    assert out == ("\nDisassembly of program main (section -):\n"
                   "\n0000000000000000 <main>:\n"
                   "       0:\tb7 10 00 00 00 00 00 01\tr1 = 0x1\n"
                   "       1:\t85 01 00 00 00 00 00 01\tcall 0x1\n"
                   "       2:\t95 00 00 00 00 00 00 00\texit\n"
                   "\n0000000000000018 <func_3>:\n"
                   "       3:\tbf 01 00 00 00 00 00 00\tr0 = r1\n"
                   "       4:\t95 00 00 00 00 00 00 00\texit\n")


# --------------------------------------------------------------------- version, completion

def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert re.fullmatch(r"bpfjit \S+\n", capsys.readouterr().out)


def test_python_dash_m_jit_is_the_cli():
    done = subprocess.run([sys.executable, "-m", "jit", "--version"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("bpfjit ")
    done = subprocess.run([sys.executable, "-m", "jit", "check", MULTI], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.count(": ok\n") == 5


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_scripts_know_every_command_and_option(shell, capsys):
    pytest.importorskip("shtab")
    rc, out, _ = _cli(capsys, "completion", shell)
    assert rc == 0
    for word in ("disasm", "compile", "cfg", "completion", "--xlated", "--mcpu", "--program"):
        # tcsh lists long options without their dashes
        assert (word if shell != "tcsh" else word.lstrip("-")) in out, word
    if shell == "bash" and shutil.which("bash"):
        # the script is valid bash and completes subcommands
        script = out + '\nCOMP_WORDS=(bpfjit di); COMP_CWORD=1; _shtab_bpfjit; ' \
                       'printf "%s\\n" "${COMPREPLY[@]}"\n'
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert sorted(done.stdout.split()) == ["diff", "disasm"]


def test_map_file_format_is_documented_in_run_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert "KEYHEX VALUEHEX" in out and "--map NAME=FILE" in out


def test_map_file_as_documented_seeds_the_map(tmp_path):
    """The example format of `run --help` is what _read_map_seed reads."""
    seed = tmp_path / "verdicts.txt"
    seed.write_text("# verdicts: 10.0.0.1 -> drop\n0a000001 0100000000000000\n\n"
                    "0a:00:00:02 02:00:00:00:00:00:00:00  # colons too\n")
    assert cli._read_map_seed(str(seed)) == [
        (bytes.fromhex("0a000001"), bytes.fromhex("0100000000000000")),
        (bytes.fromhex("0a000002"), bytes.fromhex("0200000000000000"))]
