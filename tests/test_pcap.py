"""`run --pcap` and `diff --pcap`: every frame of a capture on one program instance.

Captures are written here with dpkt, in both formats (pcap and pcapng), over the
xdp_counters fixture (a per-protocol packet counter: its map shows whether maps
were carried from frame to frame) and the firewall example.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import dpkt
import pytest

from jit import cli, driver, session
from jit.session import Session

ROOT = Path(__file__).resolve().parent.parent
COUNTERS = str(ROOT / "tests" / "progs" / "build" / "xdp_counters.el3.o")
FIREWALL = str(ROOT / "examples" / "xdp_firewall.o")


def frame(i: int, proto: int = 17) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 60, i, 0, 64, proto, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return (bytes.fromhex("020000000002" "020000000001" "0800") + ip
            + struct.pack("!HH", 1000 + i, 80) + bytes(36))


FRAMES = [frame(0), frame(1, 6), frame(2), frame(3), frame(4, 6)]


def write_capture(path: Path, frames: list[bytes], fmt: str, linktype: int = 1) -> str:
    with open(path, "wb") as f:
        if fmt == "pcap":
            w = dpkt.pcap.Writer(f, linktype=linktype)
        else:
            w = dpkt.pcapng.Writer(f, linktype=linktype)
        for i, data in enumerate(frames):
            w.writepkt(data, ts=1700000000 + i)
    return str(path)


@pytest.fixture(params=["pcap", "pcapng"])
def capture(request, tmp_path) -> str:
    return write_capture(tmp_path / f"frames.{request.param}", FRAMES, request.param)


def counts(maps_json: dict) -> int:
    """Packets counted by xdp_counters over every protocol (a u64 at the value's start)."""
    return sum(int.from_bytes(bytes.fromhex(e["value"])[:8], "little")
               for e in maps_json["proto_stats"])


def test_read_capture_gives_every_frame_in_order(capture):
    assert session.read_capture(capture) == FRAMES


@pytest.mark.parametrize("arch", ["interp", "x86_64"])
def test_run_pcap_json_carries_maps_frame_to_frame(capture, arch, capsys):
    assert cli.main(["run", COUNTERS, "--pcap", capture, "--arch", arch, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["frame"] for f in doc["frames"]] == [1, 2, 3, 4, 5]
    assert all(f["verdict"] == "XDP_PASS" and f["fault"] is None for f in doc["frames"])
    assert counts(doc["maps"]) == len(FRAMES)
    # the same as running the frames one after another on a Session
    obj, prog = driver.load(COUNTERS)
    s = Session(obj, prog, [] if arch == "interp" else [arch])
    for data, row in zip(FRAMES, doc["frames"]):
        assert s.run(driver.Inputs(packet=data), engine=arch).r0 == row["retval"]


def test_run_pcap_table_and_final_maps(capture, capsys):
    assert cli.main(["run", COUNTERS, "--pcap", capture]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["frame", "bytes", "r0", "verdict"]
    rows = out[1:6]
    assert [r.split()[0] for r in rows] == ["1", "2", "3", "4", "5"]
    assert all(r.split()[1:] == [str(len(FRAMES[0])), "0x2", "XDP_PASS"] for r in rows)
    assert out[6] == "maps after 5 frames:"
    assert out[7] == "map proto_stats: 2 entries"       # UDP and TCP


def test_diff_pcap_agrees_on_every_frame(capture, capsys):
    assert cli.main(["diff", FIREWALL, "--pcap", capture]) == 0
    out = capsys.readouterr().out
    assert "agree with the interpreter on all 5 frames" in out
    assert cli.main(["diff", COUNTERS, "--pcap", capture, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["first_divergence"] is None and len(doc["frames"]) == 5
    assert all(f["divergences"] == [] for f in doc["frames"])
    assert counts(doc["maps"]) == 5


def test_diff_pcap_names_the_first_differing_frame(capture, capsys, monkeypatch):
    # a backend that goes wrong from the third frame on: its r0 is off by one
    real = session.Engine.run
    seen = {"n": 0}

    def wrong_from_third(self, inputs=None, **kw):
        result = real(self, inputs, **kw)
        if self.arch == "arm32":
            seen["n"] += 1
            if seen["n"] >= 3:
                result.r0 += 1
        return result
    monkeypatch.setattr(session.Engine, "run", wrong_from_third)
    assert cli.main(["diff", COUNTERS, "--pcap", capture, "--arch", "x86_64,arm32",
                     "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["first_divergence"] == 3
    assert len(doc["frames"]) == 3                   # nothing after the first difference
    assert [d["arch"] for d in doc["frames"][2]["divergences"]] == ["arm32"]
    assert doc["frames"][2]["divergences"][0]["what"] == "r0"
    seen["n"] = 0
    assert cli.main(["diff", COUNTERS, "--pcap", capture, "--arch", "x86_64,arm32"]) == 1
    out = capsys.readouterr().out
    assert "frame 3 is the first where a backend differs" in out
    assert "frame 3: arm32: r0 differs: interpreter 0x2, arm32 0x3" in out


def test_frames_the_kernel_refuses_are_reported_not_run(tmp_path, capsys):
    path = write_capture(tmp_path / "short.pcap", [FRAMES[0], b"\x02" * 10, FRAMES[1]], "pcap")
    assert cli.main(["run", COUNTERS, "--pcap", path, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["refused"] is not None for f in doc["frames"]] == [False, True, False]
    assert counts(doc["maps"]) == 2


@pytest.mark.parametrize("content, message", [
    (b"not a capture at all", "not a pcap or pcapng capture"),
    (b"", "not a pcap or pcapng capture"),
])
def test_bad_capture_is_one_line_and_status_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    assert cli.main(["run", COUNTERS, "--pcap", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "bad.pcap" in err[0]


def test_non_ethernet_capture_is_refused(tmp_path, capsys):
    path = write_capture(tmp_path / "raw.pcap", FRAMES[:1], "pcap", linktype=101)
    assert cli.main(["diff", COUNTERS, "--pcap", path]) == 2
    assert "is not Ethernet" in capsys.readouterr().err


def test_pcap_with_packet_is_refused(capture, capsys):
    assert cli.main(["run", COUNTERS, "--pcap", capture, "--packet", "00" * 60]) == 2
    assert "--pcap gives the frames" in capsys.readouterr().err
