"""The conformance corpus (tests/conformance/*.data) and the bpf_conformance plugin.

Every corpus file must pass on the interpreter; its expected values were
computed from RFC 9669 when the corpus was written, not by running bpfjit.
The parser is checked against the suite's format rules, and the plugin end to
end through a subprocess speaking the suite runner's protocol.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import backends

from jit.testing import conformance as C
from jit.isa import decode

CORPUS = Path(__file__).parent / "conformance"
FILES = sorted(CORPUS.glob("*.data"))


# --------------------------------------------------------------------- the corpus

def test_corpus_is_there():
    assert len(FILES) >= 150


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file_passes_on_interpreter(path):
    case = C.parse_file(path)
    assert case.result is not None or case.error is not None
    outcome = C.run_case(case, "interp")
    verdict, detail = C.judge(case, outcome)
    assert verdict is C.Verdict.PASS, detail


def _rfc9669_opcodes() -> set[int]:
    """Every opcode byte RFC 9669 defines (tables in sections 3-5), written out here."""
    ops = set()
    for cls in (0x04, 0x07):                                    # ALU, ALU64
        for code in (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xB0, 0xC0):
            ops |= {cls | code, cls | 0x08 | code}
        ops.add(cls | 0x80)                                     # NEG
    ops |= {0xD4, 0xDC, 0xD7}                                   # END to-le, to-be, BSWAP
    for cls in (0x05, 0x06):                                    # JMP, JMP32
        for code in (0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0):
            ops |= {cls | code, cls | 0x08 | code}
    ops |= {0x05, 0x06, 0x85, 0x95}                             # JA, JA32 (gotol), CALL, EXIT
    ops |= {0x61, 0x69, 0x71, 0x79}                             # LDX MEM W H B DW
    ops |= {0x81, 0x89, 0x91}                                   # LDX MEMSX W H B
    ops |= {0x62, 0x6A, 0x72, 0x7A, 0x63, 0x6B, 0x73, 0x7B}     # ST, STX
    ops |= {0xC3, 0xDB}                                         # atomic W, DW
    ops.add(0x18)                                               # LDDW
    ops |= {0x20, 0x28, 0x30, 0x40, 0x48, 0x50}                 # legacy LD_ABS, LD_IND
    return ops


def _corpus_insns():
    for p in FILES:
        case = C.parse_file(p)
        if case.error is None:
            yield from decode(C.program_bytes(case), "little")


def test_corpus_covers_every_rfc9669_opcode():
    used = {i.opcode for i in _corpus_insns()}
    missing = sorted(_rfc9669_opcodes() - used)
    assert not missing, [hex(m) for m in missing]


def test_corpus_covers_signed_division_sign_extension_and_atomics():
    insns = list(_corpus_insns())
    sdiv_smod = {(i.opcode, i.off) for i in insns if i.opcode & 0x07 in (0x04, 0x07)
                 and i.opcode & 0xF0 in (0x30, 0x90) and i.off == 1}
    assert len(sdiv_smod) == 8                  # SDIV/SMOD x ALU/ALU64 x K/X
    movsx = {(i.opcode, i.off) for i in insns if i.opcode in (0xBC, 0xBF) and i.off}
    assert movsx == {(0xBC, 8), (0xBC, 16), (0xBF, 8), (0xBF, 16), (0xBF, 32)}
    atomics = {(i.opcode, i.imm) for i in insns if i.opcode in (0xC3, 0xDB)}
    every = {0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1}
    assert atomics == {(op, imm) for op in (0xC3, 0xDB) for imm in every}
    swaps = {(i.opcode, i.imm) for i in insns if i.opcode in (0xD4, 0xDC, 0xD7)}
    assert swaps == {(op, w) for op in (0xD4, 0xDC, 0xD7) for w in (16, 32, 64)}
    calls = {i.src for i in insns if i.opcode == 0x85}
    helpers = {i.imm for i in insns if i.opcode == 0x85 and i.src == 0}
    assert calls == {0, 1} and helpers == {0, 1, 2, 3, 4, 5}


# --------------------------------------------------------------------- the format

def test_parse_sections_comments_and_numbers():
    case = C.parse(
        "# lines before the first section are ignored, even `mov %r0, 9`\n"
        "-- asm\n"
        "mov %r0, 1 # a comment\n"
        "\n"
        "exit\n"
        "-- mem\n"
        "00 ff 0x10\n"
        "a0  b1\n"
        "-- result\n"
        "0x1\n"
        "0xFfFfFfFfFfFfFfFf\n", "t.data")
    assert case.asm.split("\n") == ["mov %r0, 1 ", "exit"]
    assert case.mem == bytes([0x00, 0xFF, 0x10, 0xA0, 0xB1])
    assert case.result == 0xFFFF_FFFF_FFFF_FFFF        # the last line of the section wins
    assert case.error is None and case.raw is None and case.name == "t.data"


def test_parse_decimal_result_and_negative_wraps():
    assert C.parse("-- asm\nexit\n-- result\n42\n").result == 42
    assert C.parse("-- asm\nexit\n-- result\n-1\n").result == 2**64 - 1


def test_parse_error_section_and_crlf():
    case = C.parse("-- asm\r\nexit\r\n-- error\r\nFailed to load\r\n")
    assert case.error == "Failed to load" and case.result is None
    assert case.asm == "exit"


def test_parse_ignored_sections():
    # `-- c` (C source) and `-- no register offset` hold text that is not ours to read.
    case = C.parse("-- asm\nexit\n-- c\nint main() { return 0; }\n"
                   "-- result\n0x2\n-- no register offset\ncall instruction\n")
    assert case.result == 2 and case.asm == "exit"


def test_parse_unknown_section_is_an_error():
    with pytest.raises(C.FormatError, match="unknown section"):
        C.parse("-- asm\nexit\n-- bogus\n")


def test_parse_raw_slots_are_little_endian_host_words():
    case = C.parse("-- raw\n0x00000001000000b7 149\n-- result\n0x1\n")
    assert case.raw == (0x00000001000000B7, 0x95)
    # mov r0, 1 ; exit -- bytes as RFC 9669 section 3 lays them out
    assert C.program_bytes(case) == bytes([0xB7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])


def test_program_bytes_from_asm():
    case = C.parse("-- asm\nstxdw [%r10-8], %r1\nlddw %r2, 0x1122334455667788\nexit\n"
                   "-- result\n0x0\n")
    assert C.program_bytes(case) == bytes(
        [0x7B, 0x1A, 0xF8, 0xFF, 0, 0, 0, 0,                       # stxdw: dst 10, src 1, off -8
         0x18, 0x02, 0, 0, 0x88, 0x77, 0x66, 0x55,                 # lddw low word
         0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11,                       # lddw high word
         0x95, 0, 0, 0, 0, 0, 0, 0])


def test_bad_mem_byte():
    with pytest.raises(C.FormatError, match="hex byte"):
        C.parse("-- asm\nexit\n-- mem\n0g\n-- result\n0\n")


# --------------------------------------------------------------------- judging and running

def test_error_matches():
    msg = "x.data: main: pc 0: unknown opcode (opcode 0xff)"
    assert C.error_matches(msg, msg)
    assert C.error_matches("unknown opcode", msg)
    assert C.error_matches("opcode 0x[0-9a-f]+", msg)
    assert C.error_matches("(bad regex", "(bad regex here")
    assert not C.error_matches("budget", msg)


def test_judge():
    ok = C.parse("-- asm\nexit\n-- result\n0x5\n")
    err = C.parse("-- asm\nexit\n-- error\nfault\n")
    none = C.parse("-- asm\nexit\n")
    assert C.judge(ok, C.Outcome(5))[0] is C.Verdict.PASS
    assert C.judge(ok, C.Outcome(6))[0] is C.Verdict.FAIL
    assert C.judge(ok, C.Outcome(None, "read fault"))[0] is C.Verdict.FAIL
    assert C.judge(err, C.Outcome(None, "read fault at 0x0"))[0] is C.Verdict.PASS
    assert C.judge(err, C.Outcome(0))[0] is C.Verdict.FAIL
    assert C.judge(none, C.Outcome(0))[0] is C.Verdict.SKIP


def test_run_case_memory_block_and_length():
    case = C.parse("-- asm\nldxb %r0, [%r1+2]\nmul %r0, %r2\nexit\n"
                   "-- mem\n01 02 03\n-- result\n9\n")
    assert C.run_case(case) == C.Outcome(9)


def test_run_case_asm_errors_are_outcomes():
    out = C.run_case(C.parse("-- asm\nfrobnicate %r0\n-- error\nx\n"))
    assert out.r0 is None and "frobnicate" in out.error


def test_pluggable_runner_and_table(tmp_path):
    (tmp_path / "good.data").write_text("-- asm\nmov %r0, 7\nexit\n-- result\n0x7\n")
    (tmp_path / "bad.data").write_text("-- asm\nmov %r0, 7\nexit\n-- result\n0x8\n")
    (tmp_path / "skipped.data").write_text("-- asm\nexit\n")
    seen = []

    def fake(prog, mem, arch):
        seen.append((arch, len(prog.insns), mem))
        return 7, None

    report = C.run_dir(tmp_path, "interp,fake", runner=fake)
    assert ("fake", 2, b"") in seen
    verdicts = {(r.file, r.arch): r.verdict for r in report.rows}
    assert verdicts[("good.data", "fake")] is C.Verdict.PASS
    assert verdicts[("bad.data", "interp")] is C.Verdict.FAIL
    assert verdicts[("skipped.data", "interp")] is C.Verdict.SKIP
    text = C.format_report(report)
    assert "bad.data [interp]: r0 = 0x7, expected 0x8" in text
    assert "interp: 1 passed, 1 failed, 0 errors, 1 skipped" in text


def test_main_conformance_exit_codes(tmp_path, capsys):
    (tmp_path / "a.data").write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n")
    assert C.main_conformance(tmp_path, "interp") == 0
    (tmp_path / "b.data").write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n")
    assert C.main_conformance(tmp_path, "interp") == 1
    out = capsys.readouterr().out
    assert "a.data" in out and "FAIL" in out


def test_main_conformance_bad_input(tmp_path):
    from jit.errors import BpfjitError
    (tmp_path / "a.data").write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n")
    with pytest.raises(BpfjitError, match="unknown architecture"):
        C.main_conformance(tmp_path, "vax")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BpfjitError, match="no .data files"):
        C.main_conformance(tmp_path / "empty", "interp")
    with pytest.raises(BpfjitError, match="no such file"):
        C.main_conformance(tmp_path / "missing", "interp")


def test_unreadable_data_file_is_an_error_row(tmp_path):
    (tmp_path / "x.data").write_text("-- asm\nexit\n-- what is this\n")
    report = C.run_dir(tmp_path, "interp")
    assert [r.verdict for r in report.rows] == [C.Verdict.ERROR]
    assert not report.ok


def test_expand_arches():
    assert C.expand_arches("interp") == ["interp"]
    first = backends.names()[0]
    assert C.expand_arches(f"interp, {first},interp") == ["interp", first]
    assert C.expand_arches("all") == ["interp", *backends.names()]


# --------------------------------------------------------------------- the plugin, end to end

def _runner_hex(data: bytes) -> str:
    """Hex exactly as the suite's runner writes it: two digits and two spaces per byte."""
    return "".join(f"{b:02x}  " for b in data)


def _plugin(args: list[str], stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jit.testing.conformance", *args], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)


def test_plugin_memory_argument_and_r0_in_hex():
    prog = C.program_bytes(C.parse("-- asm\nldxdw %r0, [%r1+0]\nexit\n"))
    p = _plugin([_runner_hex(bytes(range(0xF1, 0xF9)))], _runner_hex(prog) + "\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "f8f7f6f5f4f3f2f1\n"


def test_plugin_without_memory_options_in_one_argument():
    # Older runners pass --plugin_options as a single argument (and an empty memory).
    prog = C.program_bytes(C.parse("-- asm\nmov %r0, %r1\nadd %r0, -1\nexit\n"))
    for args in (["--arch interp"], ["", "--arch interp"], ["--arch", "interp"], []):
        p = _plugin(args, _runner_hex(prog))
        assert (p.returncode, p.stdout) == (0, "ffffffffffffffff\n"), (args, p.stderr)


def test_plugin_program_option():
    prog = C.program_bytes(C.parse("-- asm\nmov %r0, 0x2a\nexit\n"))
    p = _plugin(["--program", prog.hex()], "")
    assert (p.returncode, p.stdout) == (0, "2a\n")


def test_plugin_reports_a_failing_program():
    p = _plugin([], _runner_hex(bytes([0xFF, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])))
    assert p.returncode == 1
    assert "unknown opcode" in p.stdout                 # what the runner compares
    assert "unknown opcode" in p.stderr


def test_plugin_runtime_fault():
    prog = C.program_bytes(C.parse("-- asm\nmov %r2, 0\nldxw %r0, [%r2+0]\nexit\n"))
    p = _plugin([], _runner_hex(prog))
    assert p.returncode == 1 and "fault" in p.stdout


def test_plugin_instruction_budget_option():
    prog = C.program_bytes(C.parse("-- asm\nmov %r0, 0\nadd %r0, 1\nja -2\nexit\n"))
    p = _plugin(["--max-insns", "1000"], _runner_hex(prog))
    assert p.returncode == 1 and "budget" in p.stdout


def test_plugin_misuse_is_exit_2():
    p = _plugin(["--frobnicate"], "95 00 00 00 00 00 00 00")
    assert p.returncode == 2 and "unexpected argument" in p.stderr and p.stdout == ""


@pytest.mark.parametrize("name", ["helper-memfrob", "call-local-own-r10", "sweep-smod32",
                                  "atomic-cmpxchg32-failure-zero-extends-r0", "ldabsh",
                                  "err-unknown-helper"])
def test_plugin_runs_corpus_files(name):
    case = C.parse_file(CORPUS / f"{name}.data")
    args = [_runner_hex(case.mem)] if case.mem else []
    p = _plugin(args, _runner_hex(C.program_bytes(case)) + "\n")
    if case.error is not None:
        assert p.returncode == 1 and C.error_matches(case.error, p.stdout.strip())
    else:
        assert p.returncode == 0, p.stdout + p.stderr
        assert int(p.stdout, 16) == case.result


def _xdp_prolog(size: int) -> bytes:
    """The prolog the suite's runner puts in front of a program for --xdp_prolog
    (src/bpf_conformance.cc): r1 = ctx->data, r2 = size, after a bounds check."""
    def ins(op, dst=0, src=0, off=0, imm=0):
        return struct.pack("<BBhi", op, dst | src << 4, off, imm)
    return (ins(0xB7, imm=-1) + ins(0xBF, 6, 1) + ins(0x61, 1, 6, 0) + ins(0x61, 2, 6, 4)
            + ins(0xBF, 3, 1) + ins(0x07, 3, imm=size) + ins(0xBD, 3, 2, 1) + ins(0x95)
            + ins(0xB7, 2, imm=size))


def test_plugin_xdp_prolog_mode():
    case = C.parse_file(CORPUS / "helper-memfrob.data")
    prog = _xdp_prolog(len(case.mem)) + C.program_bytes(case)
    p = _plugin([_runner_hex(case.mem), "--xdp"], _runner_hex(prog))
    assert p.returncode == 0, p.stdout + p.stderr
    assert int(p.stdout, 16) == case.result


LLVM_MC = shutil.which("llvm-mc-19") or shutil.which("llvm-mc")


@pytest.mark.skipif(LLVM_MC is None, reason="llvm-mc is not installed")
def test_plugin_elf_input(tmp_path):
    # What `--elf` runners send: an object whose `.text` holds the function `main`.
    src = tmp_path / "p.s"
    src.write_text("\t.text\n\t.globl main\n\t.type main,@function\nmain:\n"
                   "\tr0 = *(u32 *)(r1 + 4)\n\tr0 += 1\n\texit\n"
                   ".Lend:\n\t.size main, .Lend-main\n")
    obj = tmp_path / "p.o"
    subprocess.run([LLVM_MC, "-triple", "bpfel", "-filetype=obj", "-o", str(obj), str(src)],
                   check=True)
    p = _plugin([_runner_hex(bytes([0, 0, 0, 0, 0x10, 0x20, 0x30, 0x40])), "--elf"],
                _runner_hex(obj.read_bytes()))
    assert (p.returncode, p.stdout) == (0, "40302011\n"), p.stderr


def test_plugin_main_in_process(capsys, monkeypatch):
    import io
    prog = C.program_bytes(C.parse("-- asm\nmov %r0, 3\nexit\n"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(_runner_hex(prog)))
    assert C.plugin_main(["--arch", "interp"]) == 0
    assert capsys.readouterr().out == "3\n"


# --------------------------------------------------------------------- big-endian targets

# a big-endian target from the registry (the tests below stand the interpreter in for it)
BIG = next((t.name for t in backends.targets() if t.byteorder == "big"), "big-endian")


def _big_endian_interp(prog, mem, arch):
    """A stand-in for a big-endian backend: the interpreter on the Program it is handed."""
    from jit import interp
    assert prog.byteorder == "big" and arch == BIG
    env, r1, r2 = interp.setup(prog, mem=mem or None, helpers="conformance")
    res = interp.run(prog, env=env, r1=r1, r2=r2)
    return (res.r0, None) if res.fault is None else (None, str(res.fault))


def test_big_endian_arch_byte_order_dependent_case():
    # 01..08 read by LDXDW on a big-endian machine is 0x0102030405060708, not the
    # little-endian result the file expects.
    case = C.parse_file(CORPUS / "memory-is-little-endian.data")
    verdict, detail = C.evaluate(case, BIG, runner=_big_endian_interp)
    assert verdict is C.Verdict.PASS and "byte-order dependent" in detail

    def little_endian_answer(prog, mem, arch):
        return 0x0807060504030201, None
    verdict, detail = C.evaluate(case, BIG, runner=little_endian_answer)
    assert verdict is C.Verdict.FAIL and "0x102030405060708" in detail


def test_big_endian_arch_byte_order_neutral_case():
    case = C.parse_file(CORPUS / "sweep-add64.data")
    assert C.evaluate(case, BIG, runner=_big_endian_interp) == (C.Verdict.PASS, "")

    def wrong(prog, mem, arch):
        return 3, None
    assert C.evaluate(case, BIG, runner=wrong)[0] is C.Verdict.FAIL


def test_internal_errors_never_match_an_expected_error():
    case = C.parse("-- asm\nmov %r0, 0\nexit\n-- error\nerror\n")

    def broken(prog, mem, arch):
        raise AttributeError("no backend")
    out = C.run_case(case, backends.names()[0], runner=broken)
    assert out.internal and "AttributeError" in out.error
    assert C.judge(case, out)[0] is C.Verdict.FAIL
