"""Frame planner: aligned, no overlap, the deepest eBPF access inside the frame."""
from hypothesis import given, strategies as st

from jit.frame import plan


@given(depth=st.integers(0, 512), nsaved=st.integers(0, 10), word=st.sampled_from([4, 8]),
       align=st.sampled_from([8, 16]), incoming=st.sampled_from([0, 8]),
       scratch=st.integers(0, 64), outgoing=st.sampled_from([0, 12, 16, 24]))
def test_frame_properties(depth, nsaved, word, align, incoming, scratch, outgoing):
    f = plan(depth, [f"s{i}" for i in range(nsaved)], word=word, align=align,
             incoming=incoming, scratch=scratch, outgoing=outgoing)
    assert (f.size + incoming) % align == 0                       # aligned at calls
    assert f.fp_off % 8 == 0                                       # r10 8-byte aligned
    # areas in order, disjoint: outgoing < scratch < bpf stack < saved registers
    areas = [(0, f.outgoing), (f.scratch_off, f.scratch_off + f.scratch),
             (f.fp_off - f.depth, f.fp_off)]
    areas += [(off, off + word) for _, off in f.saved]
    areas.sort()
    for (a0, a1), (b0, b1) in zip(areas, areas[1:]):
        assert a1 <= b0
    assert all(0 <= a0 and a1 <= f.size for a0, a1 in areas)
    assert f.depth >= depth and f.fp_off - f.depth >= 0           # r10 - depth is inside
    assert f.scratch >= scratch and f.outgoing >= outgoing


def test_small_depth_gives_small_frame():
    """Frames follow the function's real stack use, not a fixed 512."""
    f = plan(16, ["rbx"], word=8, align=16, incoming=8)
    assert f.size == 24 and f.fp_off == 16
    assert plan(0, [], word=8, align=16, incoming=8).size == 8
