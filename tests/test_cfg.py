"""`bpfjit cfg`: the DOT graph of a small known program, read back as a graph.

The program below has a loop, a conditional branch, a goto and a local call;
its blocks and edges are worked out by hand here.  The DOT text is parsed by
a small reader in this file and, where Graphviz is installed, by `dot -Tjson`
too (an independent parser: the file must be valid DOT and say the same).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from jit import cli
from jit.asm import assemble
from jit.cfg import render, to_dot
from jit.isa import encode
from jit.program import from_bytecode

SOURCE = """
    r0 = 0              # 0
    r1 = 10             # 1
loop:
    r0 += r1            # 2
    r1 += -1            # 3
    if r1 != 0 goto loop    # 4: back edge to 2
    if r0 > 100 goto big    # 5: a branch
    r1 = r0             # 6
    call sub            # 7: a local call
    goto out            # 8
big:
    r0 = 100            # 9
out:
    exit                # 10
sub:
    r0 = r1             # 11
    exit                # 12
"""

# block first slot -> its instructions' slots; main is function 0, sub function 1
BLOCKS = {"p0_f0_b0": [0, 1], "p0_f0_b2": [2, 3, 4], "p0_f0_b5": [5],
          "p0_f0_b6": [6, 7, 8], "p0_f0_b9": [9], "p0_f0_b10": [10], "p0_f1_b11": [11, 12]}
# (from, to) -> what the edge is
EDGES = {
    ("p0_f0_entry", "p0_f0_b0"): "fallthrough",
    ("p0_f0_b0", "p0_f0_b2"): "fallthrough",
    ("p0_f0_b2", "p0_f0_b2"): "taken, back",
    ("p0_f0_b2", "p0_f0_b5"): "fallthrough",
    ("p0_f0_b5", "p0_f0_b6"): "fallthrough",
    ("p0_f0_b5", "p0_f0_b9"): "taken",
    ("p0_f0_b6", "p0_f0_b10"): "goto",
    ("p0_f0_b9", "p0_f0_b10"): "fallthrough",
    ("p0_f0_b10", "p0_f0_exit"): "fallthrough",
    ("p0_f1_entry", "p0_f1_b11"): "fallthrough",
    ("p0_f1_b11", "p0_f1_exit"): "fallthrough",
    ("p0_f0_b6", "p0_f1_b11"): "call",
}


def _program(tmp_path=None):
    code = encode(assemble(SOURCE))
    if tmp_path is not None:
        path = tmp_path / "loop.bin"
        path.write_bytes(code)
        return path
    return from_bytecode(code, file="loop.bin", name="main")


_NODE = re.compile(r'^\s*(\w+) \[(.*)\];$')
_EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[(.*)\];$')
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]+)')


def _attrs(text: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(text)}


def _edge_kind(attrs: dict[str, str]) -> str:
    return attrs.get("label", "fallthrough")


def parse(dot: str) -> tuple[dict, dict, dict]:
    """(nodes name -> attrs, edges (from, to) -> attrs, clusters name -> node names)."""
    nodes, edges, clusters = {}, {}, {}
    cluster = None
    for line in dot.splitlines():
        if m := re.match(r'\s*subgraph "(cluster_\w+)" \{', line):
            cluster = m.group(1)
            clusters[cluster] = []
        elif line.strip() == "}":
            cluster = None
        elif m := _EDGE.match(line):
            edges[m.group(1), m.group(2)] = _attrs(m.group(3))
        elif m := _NODE.match(line):
            nodes[m.group(1)] = _attrs(m.group(2))
            if cluster:
                clusters[cluster].append(m.group(1))
    return nodes, edges, clusters


def _slots(label: str) -> list[int]:
    return [int(line.split(":")[0]) for line in label.split("\\l") if line]


def test_blocks_hold_their_instructions_in_llvm_text():
    nodes, _, _ = parse(to_dot([_program()]))
    blocks = {n: _slots(a["label"]) for n, a in nodes.items() if a.get("shape") == "box"}
    assert blocks == BLOCKS
    assert nodes["p0_f0_b2"]["label"] == ("2: r0 += r1\\l3: r1 += -0x1\\l"
                                          "4: if r1 != 0x0 goto -0x3\\l")
    assert nodes["p0_f0_b6"]["label"].split("\\l")[1] == "7: call 0x3"


def test_edges_say_taken_fallthrough_goto_back_and_call():
    _, edges, _ = parse(to_dot([_program()]))
    assert {k: _edge_kind(a) for k, a in edges.items()} == EDGES
    back = edges["p0_f0_b2", "p0_f0_b2"]
    assert back["color"] == "red" and back["constraint"] == "false"
    assert edges["p0_f0_b5", "p0_f0_b9"]["color"] == "forestgreen"
    assert edges["p0_f0_b5", "p0_f0_b6"]["color"] == "black"
    assert edges["p0_f0_b6", "p0_f1_b11"]["style"] == "dashed"


def test_one_cluster_per_function_with_entry_and_exit():
    nodes, _, clusters = parse(to_dot([_program()]))
    assert set(clusters) == {"cluster_p0_f0", "cluster_p0_f1"}
    assert clusters["cluster_p0_f1"] == ["p0_f1_entry", "p0_f1_exit", "p0_f1_b11"]
    assert {n for n in clusters["cluster_p0_f0"] if "_b" in n} == {
        n for n in BLOCKS if n.startswith("p0_f0")}
    assert nodes["p0_f0_entry"]["label"] == "ENTRY" and nodes["p0_f0_exit"]["label"] == "EXIT"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_reads_the_same_graph():
    dot = to_dot([_program()])
    done = subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    graph = json.loads(done.stdout)
    names = {o["_gvid"]: o["name"] for o in graph["objects"]}
    got = {(names[e["tail"]], names[e["head"]]): e.get("label") or "fallthrough"
           for e in graph["edges"]}
    assert got == EDGES
    subgraphs = {o["name"]: {names[n] for n in o.get("nodes", [])}
                 for o in graph["objects"] if o["name"].startswith("cluster")}
    assert subgraphs["cluster_p0_f1"] == {"p0_f1_entry", "p0_f1_exit", "p0_f1_b11"}


def test_cfg_command_writes_dot_and_svg(tmp_path, capsys):
    path = _program(tmp_path)
    assert cli.main(["cfg", str(path)]) == 0
    out = capsys.readouterr().out
    assert parse(out)[1].keys() == EDGES.keys()
    dot_file = tmp_path / "g.dot"
    assert cli.main(["cfg", str(path), "-o", str(dot_file)]) == 0
    assert dot_file.read_text() == out
    if shutil.which("dot"):
        svg = tmp_path / "g.svg"
        assert cli.main(["cfg", str(path), "-o", str(svg)]) == 0
        text = svg.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text and "p0_f0_b2" in text


def test_missing_graphviz_is_one_line_naming_the_tool(tmp_path, capsys, monkeypatch):
    path = _program(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli.main(["cfg", str(path), "-o", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`dot`" in err and "Graphviz" in err
    assert not (tmp_path / "g.png").exists()


def test_unknown_image_format_is_refused(tmp_path):
    with pytest.raises(Exception, match="unknown graph format"):
        render("digraph {}", str(tmp_path / "g.jpg"))


def test_every_program_of_an_object_by_default(capsys):
    """tests/asm/objdump/multi.el.o has five XDP programs in one section."""
    assert cli.main(["cfg", "tests/asm/objdump/multi.el.o"]) == 0
    _, edges, clusters = parse(capsys.readouterr().out)
    labels = [c for c in clusters]
    assert labels == ["cluster_p0_f0", "cluster_p1_f0", "cluster_p2_f0", "cluster_p2_f1",
                      "cluster_p3_f0", "cluster_p3_f1", "cluster_p4_f0"]
    # xdp_count (program 3) loops: one back edge; xdp_len (2) calls clamp
    assert [k for k, a in edges.items() if "back" in a.get("label", "")] == [
        ("p3_f0_b2", "p3_f0_b2")]
    assert edges["p2_f0_b0", "p2_f1_b6"]["label"] == "call"
    assert cli.main(["cfg", "tests/asm/objdump/multi.el.o", "--program", "xdp_pass"]) == 0
    assert list(parse(capsys.readouterr().out)[2]) == ["cluster_p0_f0"]
