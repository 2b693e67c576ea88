"""Smoke runs of the benchmark scripts (bench/), tiny sizes, no timing assertions.

What is checked is behaviour: the committed corpus objects compute what
their C says (expected values computed here from the algorithms' definitions,
with zlib as the CRC oracle), the clang anchor's code run under Unicorn and
the kernel's JIT agree with those values, and the scripts write the reports
they promise.  Performance itself is only ever reported, never asserted.
"""
from __future__ import annotations

import json
import struct
import zlib

import pytest

import backends

from bench import anchors, compile_speed, corpus
from bench import run as bench_run

PACKET = corpus.PACKET
FMT = {"little": "<", "big": ">"}

# one registered target of each byte order (the first of each): the smoke run stays short
ONE_PER_ORDER = tuple({t.byteorder: t.name for t in reversed(backends.targets())}.values())


# ---------------------------------------------------------------- expected values, from the spec

def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def inet_csum(data: bytes, order: str) -> int:
    """RFC 1071 over 16-bit words as the machine loads them (so in `order`)."""
    s = sum(struct.unpack(f"{FMT[order]}{len(data) // 2}H", data[:len(data) & ~1]))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def primes_below(n: int) -> int:
    return sum(1 for k in range(2, n) if all(k % d for d in range(2, int(k ** 0.5) + 1)))


def weighted_popcount(data: bytes, order: str) -> int:
    words = struct.unpack(f"{FMT[order]}{len(data) // 4}I", data[:len(data) & ~3])
    return sum(bin(w).count("1") << (i & 3) for i, w in enumerate(words))


def expected(kernel: str, order: str) -> int:
    return {
        "fnv1a": lambda: fnv1a(PACKET[:128]),
        "crc32": lambda: zlib.crc32(PACKET[:64]),
        "csum": lambda: inet_csum(PACKET[:128], order),
        "sieve": lambda: primes_below(64 + (PACKET[0] & 63)),
        "popcount": lambda: weighted_popcount(PACKET[:128], order),
    }[kernel]()


def stored(value: int, order: str) -> str:
    """The 4 result bytes the programs store at the start of the frame."""
    return value.to_bytes(4, order).hex()


CHECKED = ("fnv1a", "crc32", "csum", "sieve", "popcount")


# ---------------------------------------------------------------- the corpus

@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("kernel", CHECKED)
def test_compute_objects_compute_what_their_c_says(kernel, order):
    item = next(i for i in corpus.compute_items() if i.name == kernel)
    data, file = item.source(order)
    s = corpus.compile_staged(data, file, item.program, order, None)
    r = corpus.execute(s.obj, s.prog, None, s.facts)
    assert r.fault is None
    assert r.r0 == 2                                   # XDP_PASS
    assert corpus.packet_result(r) == stored(expected(kernel, order), order)
    assert r.insns_executed > len(s.prog.insns)       # the loops ran


def test_bench_packet_is_a_valid_ipv4_udp_frame():
    assert len(PACKET) == 128
    assert PACKET[12:14] == b"\x08\x00"
    ip = PACKET[14:34]
    assert inet_csum(ip, "big") == 0                  # a correct header sums to 0xffff
    assert struct.unpack("!H", ip[2:4])[0] == 128 - 14


def test_kernel_variant_of_generated_program():
    from bench import genprog
    insns = genprog.generate(500, 1)
    assert any(i.opcode in (0x64, 0x74, 0xC4) and i.imm >= 32 for i in insns)   # what needs masking
    v = compile_speed.kernel_variant(insns)
    assert len(v) == len(insns) + 13                   # 4 x (call, mov) + 5 moves again
    for i in v:
        if i.opcode & 0x07 == 0x04 and i.opcode & 0x08 == 0 and i.opcode & 0xF0 in (0x60, 0x70,
                                                                                     0xC0):
            assert 0 <= i.imm < 32                     # ALU32 shift by K: the kernel's rule


# ---------------------------------------------------------------- anchors

@pytest.mark.skipif(anchors.tools_missing() is not None,
                    reason=f"clang anchor tools: {anchors.tools_missing()}")
def test_clang_anchor_runs_the_same_c_and_gets_the_same_results():
    a = anchors.clang_anchors(PACKET)
    assert "error" not in a, a.get("error")
    for arch in anchors.CLANG_TARGETS:
        order = anchors.anchor_order(arch)
        for kernel in CHECKED:
            st = a["static"][arch][kernel]
            assert st["bytes"] > 0 and st["insns"] > 0
            ex = a["executed"][arch][kernel]
            assert ex.get("result") == stored(expected(kernel, order), order), (arch, kernel, ex)
            assert ex["insns_executed"] > 100


def test_kernel_jit_anchor_loads_a_compute_program():
    ok, why = anchors.kernel_available()
    if not ok:
        pytest.skip(f"kernel: {why}")
    item = next(i for i in corpus.compute_items() if i.name == "fnv1a")
    data, file = item.source("little")
    s = corpus.compile_staged(data, file, item.program, "little", None)
    ans = anchors.kernel_jited([anchors.kernel_request(s.prog, PACKET)])[0]
    if "refused" in ans:
        pytest.skip(f"the kernel refused: {ans['refused']}")
    assert ans["jited_prog_len"] > 0
    assert ans["retval"] == 2
    assert ans["data_out"][:8] == stored(fnv1a(PACKET), "little")


# ---------------------------------------------------------------- the scripts end to end

def test_run_quick_writes_the_reports(tmp_path):
    args = ["--quick", "--only", "fnv1a,csum", "--targets", ",".join(ONE_PER_ORDER), "--no-kernel",
            "--no-compile-speed", "--no-clang", "--out", str(tmp_path)]   # clang: tested above
    assert bench_run.main(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    text = (tmp_path / "RESULTS.md").read_text()
    assert "## Checks against the issue's targets" in text
    assert "## Compute programs: code size (bytes)" in text
    interp = results["interp"]["items"]
    assert set(interp) == {"fnv1a", "csum"}
    assert interp["fnv1a"]["result"] == stored(fnv1a(PACKET), "little")
    assert interp["csum"]["result"] == stored(inet_csum(PACKET, "little"), "little")
    for label in ONE_PER_ORDER:
        t = results["targets"][label]
        if "skipped" in t:                              # backend not there yet: a note, no numbers
            assert label in text and "skipped" in text
            continue
        row = t["items"]["fnv1a"]
        if "error" in row:
            continue                                    # reported in the table; not this test's job
        assert row["code_bytes"] > 0
        assert set(row["times"]) == set(corpus.STAGES)
    for png in results["plots"]:
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compile_speed_measures_a_small_program():
    result = compile_speed.measure([300], [ONE_PER_ORDER[0]], kernel=False, fixtures=False)
    (row,) = result["rows"]
    assert "error" not in row, row
    with open(compile_speed.gen_path(300, "little"), "rb") as f:
        assert row["insns"] == len(f.read()) // 8         # genprog makes "about" 300
    assert {"load", "analyse"} <= set(row["times"])
    assert row["rss_peak_kib"] >= row["rss_before_kib"] > 0
    text = compile_speed.markdown(result)
    assert "| 300 |" in text
