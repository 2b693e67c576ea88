"""CodeBuffer: labels, fixups and branch relaxation converge (staggered jumps included)."""
from hypothesis import given, settings, strategies as st
import pytest

from jit.buffer import BranchForm, CodeBuffer
from jit.errors import EncodingError


def rel8_rel32():
    """An x86-like jump: 2 bytes with a signed 8-bit displacement from the end, else 5 bytes."""
    def fits8(d):
        return -128 <= d - 2 <= 127

    def enc8(d, at):
        return bytes([0xEB, (d - 2) & 0xFF])

    def enc32(d, at):
        return bytes([0xE9]) + ((d - 5) & 0xFFFFFFFF).to_bytes(4, "little")
    return [BranchForm(2, fits8, enc8), BranchForm(5, lambda d: True, enc32)]


def decode_jumps(code: bytes) -> dict[int, int]:
    """offset -> target of each jump in a buffer made of nops (0x90) and jumps."""
    out = {}
    i = 0
    while i < len(code):
        if code[i] == 0xEB:
            d = code[i + 1] - 256 if code[i + 1] > 127 else code[i + 1]
            out[i] = i + 2 + d
            i += 2
        elif code[i] == 0xE9:
            d = int.from_bytes(code[i + 1:i + 5], "little", signed=True)
            out[i] = i + 5 + d
            i += 5
        else:
            assert code[i] == 0x90
            i += 1
    return out


def build(plan):
    """plan: list of ("nop", n) | ("jmp", label) | ("bind", label)."""
    buf = CodeBuffer()
    first = buf.reserve_labels(max([x[1] for x in plan if x[0] != "nop"], default=0) + 1)
    expected = []
    for kind, arg in plan:
        if kind == "nop":
            buf.emit(b"\x90" * arg)
        elif kind == "jmp":
            buf.mark(len(expected))
            expected.append(first + arg)
            buf.branch(first + arg, rel8_rel32())
        else:
            buf.bind(first + arg)
    return buf, expected


def test_short_and_long_forms():
    buf = CodeBuffer()
    near, far = buf.new_label(), buf.new_label()
    buf.branch(near, rel8_rel32())
    buf.emit(b"\x90" * 10)
    buf.bind(near)
    buf.branch(far, rel8_rel32())
    buf.emit(b"\x90" * 200)
    buf.bind(far)
    out = buf.finish()
    assert out.code[0] == 0xEB and out.code[12] == 0xE9
    assert decode_jumps(out.code) == {0: out.labels[near], 12: out.labels[far]}


def test_boundary_127_128():
    """A forward rel8 reaches exactly 127 bytes past its end; 128 needs rel32."""
    for gap, short in ((127, True), (128, False)):
        buf = CodeBuffer()
        lab = buf.new_label()
        buf.branch(lab, rel8_rel32())
        buf.emit(b"\x90" * gap)
        buf.bind(lab)
        out = buf.finish()
        assert (out.code[0] == 0xEB) == short


def test_staggered_jumps_converge():
    """Each jump's growth pushes the next over the edge: the classic oscillation trap."""
    plan = []
    n = 60
    for i in range(n):
        plan.append(("jmp", i))
        plan.append(("nop", 60))
    for i in range(n):
        plan.append(("bind", i))
        plan.append(("nop", 1))
    buf, _ = build(plan)
    out = buf.finish()
    jumps = decode_jumps(out.code)
    assert len(jumps) == n
    for off, tgt in jumps.items():
        assert tgt in out.labels.values()
    assert out.passes < CodeBuffer.MAX_PASSES


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["nop", "jmp", "bind"]), st.integers(0, 150)),
                min_size=1, max_size=60), st.integers(0, 9))
def test_random_layouts_resolve_every_jump(steps, _):
    labels = 8
    plan = []
    for kind, v in steps:
        if kind == "nop":
            plan.append(("nop", v))
        elif kind == "jmp":
            plan.append(("jmp", v % labels))
    for lab in range(labels):         # bind every label once, at scattered places
        plan.insert((lab * 7919) % (len(plan) + 1), ("bind", lab))
    buf, expected = build(plan)
    out = buf.finish()
    jumps = decode_jumps(out.code)
    assert sorted(jumps.values()) == sorted(out.labels[t] for t in expected)
    # every jump uses the short form when its displacement allows it
    for off, tgt in jumps.items():
        if out.code[off] == 0xE9:
            assert not -128 <= tgt - (off + 2) <= 127


def test_out_of_range_raises():
    buf = CodeBuffer()
    lab = buf.new_label()
    buf.branch(lab, [BranchForm(2, lambda d: -128 <= d <= 127, lambda d, at: b"\xeb\x00")])
    buf.emit(b"\x90" * 300)
    buf.bind(lab)
    with pytest.raises(EncodingError, match="out of range"):
        buf.finish()


def test_fixed_holes_get_label_addresses():
    buf = CodeBuffer()
    lab = buf.new_label()
    buf.fixed(8, lambda addr_of, at: addr_of(lab).to_bytes(8, "little"))
    buf.emit(b"\x90" * 3)
    buf.bind(lab)
    out = buf.finish(base=0x1000)
    assert int.from_bytes(out.code[:8], "little") == 0x1000 + 11


def test_pc_map_offsets():
    buf = CodeBuffer()
    buf.mark(0)
    buf.emit(b"\x90\x90")
    lab = buf.new_label()
    buf.mark(1)
    buf.branch(lab, rel8_rel32())
    buf.mark(2)
    buf.emit(b"\x90")
    buf.bind(lab)
    out = buf.finish()
    assert out.pc_map == [(0, 0), (2, 1), (4, 2)]


def test_refs_follow_relaxation():
    """A reference recorded before a branch grows still points at its instruction."""
    buf = CodeBuffer()
    lab = buf.new_label()
    buf.branch(lab, rel8_rel32())
    buf.ref("abs32", "sym")
    buf.emit(b"\x90" * 200)
    buf.bind(lab)
    out = buf.finish()
    assert out.refs == [(5, "abs32", "sym")]


def test_offset_hint_counts_shortest_forms():
    buf = CodeBuffer()
    lab = buf.new_label()
    buf.emit(b"\x90" * 3)
    buf.branch(lab, rel8_rel32())
    buf.fixed(8, lambda addr_of, at: bytes(8))
    buf.emit(b"\x90")
    assert buf.offset_hint() == 3 + 2 + 8 + 1
