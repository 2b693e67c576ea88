"""Issue #19, the tool as an eBPF engineer uses it: `compile` covers every program of an
object (each under its own header, --program/--section select), `run --json` reports the
frame and skb fields the program left (packet_out, ctx_out), and a faulting `run --json`
still prints a document with the fault and exits 2."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from jit import cli, driver

ROOT = Path(__file__).resolve().parent
MULTI = ROOT / "asm" / "objdump" / "multi.el.o"
TC_NAT = ROOT / "progs" / "build" / "tc_nat.el3.o"
MULTI_NAMES = ["xdp_pass", "xdp_drop", "xdp_len", "xdp_count", "xdp_branch"]
FRAME = "00112233445566778899aabb0800450000140000000040060000c0a80001c0a80002"


def _cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- compile: every program

def test_compile_lists_every_program_under_its_own_header(capsys):
    rc, out, _ = _cli(capsys, "compile", MULTI)
    assert rc == 0
    headers = [line for line in out.splitlines() if line.startswith("; program ")]
    assert headers == [f"; program {n} (section xdp)" for n in MULTI_NAMES]
    for name in MULTI_NAMES:                       # each program's own listing follows
        assert f"\n{name}:\n" in "\n" + out


def test_compile_program_selects_one_without_header(capsys):
    rc, out, _ = _cli(capsys, "compile", MULTI, "--program", "xdp_drop")
    assert rc == 0
    assert "; program " not in out
    assert out.startswith("xdp_drop:")


def test_compile_json_has_every_program(capsys):
    rc, out, _ = _cli(capsys, "compile", MULTI, "--json")
    assert rc == 0
    doc = json.loads(out)
    assert [p["program"] for p in doc["programs"]] == MULTI_NAMES
    assert all(p["section"] == "xdp" for p in doc["programs"])


def test_compile_bin_of_many_programs_asks_for_one(capsys):
    rc, _, err = _cli(capsys, "compile", MULTI, "--format", "bin", "-o", "/dev/null")
    assert rc == 2
    assert "--program" in err and "xdp_branch" in err


def test_compile_same_code_as_one_program_at_a_time(capsys):
    obj, _ = driver.load(str(MULTI))
    rc, out, _ = _cli(capsys, "compile", MULTI, "--json")
    doc = json.loads(out)
    one = {}
    for prog in obj.programs:
        rc, o, _ = _cli(capsys, "compile", MULTI, "--program", prog.name, "--json")
        one[prog.name] = json.loads(o)
    for p in doc["programs"]:
        single = dict(one[p["program"]])
        assert {k: v for k, v in p.items() if k in single} == single


# ---------------------------------------------------------------- run --json outputs

def test_run_json_packet_out_is_the_frame_xdp(capsys):
    rc, out, _ = _cli(capsys, "run", MULTI, "--program", "xdp_pass", "--packet", FRAME, "--json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["packet_out"] == FRAME            # unchanged: data..data_end, no headroom
    assert doc["ctx_out"] is None


def test_run_json_packet_out_equals_frame_after_program(capsys):
    rc, out, _ = _cli(capsys, "run", MULTI, "--program", "xdp_pass", "--packet", FRAME, "--json")
    doc = json.loads(out)
    obj, prog = driver.load(str(MULTI), program="xdp_pass")
    from jit import contexts
    res = driver.run(obj, prog, driver.INTERP, driver.Inputs(packet=bytes.fromhex(FRAME)))
    assert bytes.fromhex(doc["packet_out"]) == contexts.outcome(prog, res).packet


@pytest.mark.skipif(not TC_NAT.exists(), reason="tests/progs not built")
def test_run_json_ctx_out_skb(capsys):
    rc, out, _ = _cli(capsys, "run", TC_NAT, "--packet", FRAME, "--json")
    assert rc == 0
    doc = json.loads(out)
    assert set(doc["ctx_out"]) == {"mark", "priority", "cb"}
    assert len(doc["ctx_out"]["cb"]) == 5
    assert doc["packet_out"] == FRAME


def test_run_json_fault_is_a_document_and_exit_2(capsys, tmp_path):
    raw = tmp_path / "fault.bin"
    # r1 = 0; r0 = *(u64 *)(r1 + 0); exit
    raw.write_bytes(b"".join(struct.pack("<BBhi", *i)
                             for i in [(0xb7, 0x01, 0, 0), (0x79, 0x10, 0, 0), (0x95, 0, 0, 0)]))
    rc, out, _ = _cli(capsys, "run", raw, "--json")
    assert rc == 2
    fault = json.loads(out)["fault"]
    assert fault["kind"] == "read" and fault["pc"] == 1 and fault["address"] == 0
    rc, out, err = _cli(capsys, "run", raw)          # without --json: the one-line error
    assert rc == 2 and out == "" and "pc 1: read fault at 0x0" in err
