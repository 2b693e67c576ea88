"""Control-flow graphs of loaded programs as Graphviz DOT, in the manner of
`bpftool prog dump xlated visual`.

This module owns how a CFG is drawn, not how it is found: the basic blocks,
their successors and the back edges are `jit.analysis`'s (`FuncFacts.blocks`,
`FuncFacts.back_edges`), the instruction text is `jit.asm`'s (llvm-objdump's
syntax).  It computes only what the picture needs on top of those: which
successor of a block is the jump taken and which the fall-through, and where
local calls go.

The drawing, per program, one cluster per function (`subgraph "cluster_…"`):

    ENTRY  -> the first block                       (shape=Mdiamond, as bpftool)
    block  -> the next block it falls through to    color=black
    block  -> the target of its conditional jump    color=forestgreen, label="taken"
    block  -> the target of its goto/gotol          color=blue, label="goto"
    any edge that closes a loop                     color=red, label adds "back",
                                                    constraint=false
    block  -> EXIT when it ends in `exit`
    block  -> the entry of a function it calls      style=dashed, label="call"

Each block is a box whose label lists its instructions, one line each
(`12: if r1 > 0x3 goto +0x1`, left-aligned by DOT's `\\l`).  Node names are
`p<P>_f<F>_b<slot>` (program P, function F, the block's first slot), so tests
and scripts can find a block by its slot.
"""
from __future__ import annotations

import shutil
import subprocess
from typing import Iterable, Mapping

from jit.analysis import FuncFacts, facts_unchecked
from jit.asm import disasm, has_alu32
from jit.errors import BpfjitError, IsaError
from jit.isa import Insn
from jit.program import Program

# edge kind -> DOT attributes
EDGE_STYLE: dict[str, dict[str, str]] = {
    "fallthrough": {"style": '"solid,bold"', "color": "black", "weight": "10"},
    "taken": {"style": '"solid,bold"', "color": "forestgreen", "label": '"taken"'},
    "goto": {"style": '"solid,bold"', "color": "blue", "label": '"goto"'},
    "call": {"style": "dashed", "color": "gray40", "label": '"call"', "constraint": "false"},
}


def _edge_attrs(kind: str, back: bool = False) -> str:
    """A loop-closing edge is red, says "back", and does not pull the layout upwards."""
    attrs = dict(EDGE_STYLE[kind])
    if back:
        label = attrs.get("label", '""').strip('"')
        attrs.update(color="red", label=f'"{label + ", " if label else ""}back"',
                     constraint="false")
        attrs.pop("weight", None)
    return ", ".join(f"{k}={v}" for k, v in attrs.items())

# what `dot -T` is asked for, by the output file's extension
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def _quote(text: str) -> str:
    """A DOT string's body: backslashes and quotes escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _insn_text(insn: Insn, alu32: bool) -> str:
    try:
        return disasm(insn, alu32=alu32).replace("\t", " ")    # ld_pseudo's tab
    except IsaError:
        return "<invalid>"


def block_edges(prog: Program, facts: FuncFacts) -> list[tuple[int, int, str, bool]]:
    """(from block start, to block start, kind, is back edge) for one function.

    kind is "fallthrough", "taken" (a conditional jump's target) or "goto"; a
    conditional jump whose target is the next instruction has one edge, taken.
    """
    index = {pc: i for i, pc in enumerate(prog.pcs)}
    edges = []
    for block in facts.blocks:
        last_i = index.get(block.end, len(prog.insns)) - 1
        last_pc, last = prog.pcs[last_i], prog.insns[last_i]
        target = last.jump_target(last_pc) if (last.is_cond_jump or last.is_ja) else None
        for succ in dict.fromkeys(block.succs):
            if succ == target:
                kind = "taken" if last.is_cond_jump else "goto"
            else:
                kind = "fallthrough"
            edges.append((block.start, succ, kind, (last_pc, succ) in facts.back_edges))
    return edges


def program_dot(prog: Program, pi: int = 0, *, helpers: Mapping | None = None,
                mcpu: str | None = None) -> list[str]:
    """The clusters and edges of one program (lines inside a digraph)."""
    facts = facts_unchecked(prog, helpers=helpers)
    alu32 = has_alu32(mcpu)
    index = {pc: i for i, pc in enumerate(prog.pcs)}
    fn_of = {f.start: fi for fi, f in enumerate(facts.functions)}
    lines: list[str] = []
    calls: list[str] = []
    for fi, f in enumerate(facts.functions):
        node = f"p{pi}_f{fi}"
        label = f.name if f.name == prog.name else f"{prog.name}: {f.name}"
        lines += [f'  subgraph "cluster_{node}" {{', '    style="dashed";', '    color="black";',
                  f'    label="{_quote(label)}";',
                  f'    {node}_entry [shape=Mdiamond, style=filled, label="ENTRY"];',
                  f'    {node}_exit [shape=Mdiamond, style=filled, label="EXIT"];']
        exits = []
        for block in f.blocks:
            text = []
            for pc in prog.pcs[index[block.start]:]:
                if pc >= block.end:
                    break
                insn = prog.insns[index[pc]]
                text.append(f"{pc}: {_insn_text(insn, alu32)}")
                if insn.is_exit:
                    exits.append(block.start)
                if insn.is_local_call:
                    callee = fn_of.get(pc + 1 + insn.imm)
                    if callee is not None:
                        calls.append(f"  {node}_b{block.start} -> p{pi}_f{callee}_b"
                                     f"{facts.functions[callee].start} [{_edge_attrs('call')}];")
            body = "".join(_quote(t) + "\\l" for t in text)
            lines.append(f'    {node}_b{block.start} [shape=box, fontname="monospace", '
                         f'label="{body}"];')
        if f.blocks:
            lines.append(f"    {node}_entry -> {node}_b{f.blocks[0].start} "
                         f"[{_edge_attrs('fallthrough')}];")
        for src, dst, kind, back in block_edges(prog, f):
            lines.append(f"    {node}_b{src} -> {node}_b{dst} [{_edge_attrs(kind, back)}];")
        for start in exits:
            lines.append(f"    {node}_b{start} -> {node}_exit [{_edge_attrs('fallthrough')}];")
        lines.append("  }")
    return lines + list(dict.fromkeys(calls))      # one edge for several calls in a block


def to_dot(programs: Iterable[Program], *, helpers: Mapping | None = None,
           mcpu: str | None = None, name: str = "bpfjit CFG") -> str:
    """One DOT digraph with every program's functions as clusters."""
    lines = [f'digraph "{_quote(name)}" {{', '  node [fontsize=10];', '  edge [fontsize=9];']
    for pi, prog in enumerate(programs):
        lines += program_dot(prog, pi, helpers=helpers, mcpu=mcpu)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, path: str) -> None:
    """Write `dot` to `path`: as is for .dot/.gv, through Graphviz's `dot` for
    .svg/.png/.pdf.  BpfjitError (one line) when `dot` is missing or fails."""
    ext = path[path.rfind("."):].lower() if "." in path else ""
    if ext in ("", ".dot", ".gv"):
        try:
            with open(path, "w") as f:
                f.write(dot)
        except OSError as e:
            raise BpfjitError(f"cannot write {path}: {e.strerror}") from None
        return
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise BpfjitError(f"cannot write {path}: unknown graph format {ext!r} "
                          f"(.dot, .gv, {', '.join(FORMATS)})")
    tool = shutil.which("dot")
    if tool is None:
        raise BpfjitError(f"cannot write {path}: Graphviz's `dot` is not installed "
                          f"(apt install graphviz), or write a .dot file")
    try:
        done = subprocess.run([tool, f"-T{fmt}", "-o", path], input=dot.encode(),
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BpfjitError(f"cannot write {path}: dot failed: {e}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise BpfjitError(f"cannot write {path}: dot failed: {why[0] if why else done.returncode}")
