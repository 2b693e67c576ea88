"""Frame planner: aligned, areas in order and disjoint, inside the frame."""
from hypothesis import given, strategies as st

from jit.frame import plan


@given(nsaved=st.integers(0, 10), word=st.sampled_from([4, 8]),
       align=st.sampled_from([8, 16]), incoming=st.sampled_from([0, 8]),
       scratch=st.integers(0, 64), outgoing=st.sampled_from([0, 12, 16, 24]))
def test_frame_properties(nsaved, word, align, incoming, scratch, outgoing):
    f = plan([f"s{i}" for i in range(nsaved)], word=word, align=align,
             incoming=incoming, scratch=scratch, outgoing=outgoing)
    assert (f.size + incoming) % align == 0                       # aligned at calls
    # areas in order, disjoint: outgoing < scratch < saved registers
    areas = [(0, f.outgoing), (f.scratch_off, f.scratch_off + f.scratch)]
    areas += [(off, off + word) for _, off in f.saved]
    areas.sort()
    for (a0, a1), (b0, b1) in zip(areas, areas[1:]):
        assert a1 <= b0
    assert all(0 <= a0 and a1 <= f.size for a0, a1 in areas)
    assert f.scratch >= scratch and f.outgoing >= outgoing
    assert f.size < f.outgoing + f.scratch + word * nsaved + align  # no more than padding


def test_a_leaf_that_saves_nothing_has_no_frame():
    """The eBPF stack is not in the native frame: nothing to save, nothing to allocate."""
    assert plan([], word=8, align=16, incoming=8).size == 8
    assert plan([], word=8, align=8, incoming=8).size == 0
    assert plan(["rbx"], word=8, align=16, incoming=8).size == 8
