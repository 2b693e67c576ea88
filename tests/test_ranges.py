"""Value ranges (jit/ranges.py, issue #18): the domain, stack depths through
variable offsets, and the range checks `bpfjit check` makes with them.

The depths of the clang-built fixtures against the running kernel are in
tests/test_analysis.py (test_stack_depths_equal_the_kernel_verifiers); the
fixture written for this issue is tests/progs/stack_arrays.c.
"""
from __future__ import annotations

from jit import ranges
from jit.analysis import check, facts_unchecked
from jit.program import MapDef
from jit.ranges import M64, Sc, const, from_urange, refine
from tests.test_analysis import (EXIT, Insn, add, addr, and64, jne, ldx, lddw, lsh, mov, movr,
                                 prog, st)


def depth(p):
    return facts_unchecked(p).function("main")


# --------------------------------------------------------------------- the domain

def test_and_with_a_mask_bounds_the_value():
    v = ranges.alu(0x50, ranges.UNKNOWN, const(0x3F))
    assert (v.umin, v.umax, v.smin, v.smax) == (0, 0x3F, 0, 0x3F)
    assert (v.tv, v.tm) == (0, 0x3F)


def test_shift_keeps_bounds_and_known_bits():
    v = ranges.alu(0x60, from_urange(0, 0x3F), const(2))
    assert (v.umin, v.umax, v.tm) == (0, 0xFC, 0xFC)


def test_jne_on_a_bound_moves_it_like_the_kernel():
    # i in [1, 48], taken side of `if i != 48`: [1, 47]
    a, _ = refine(0x50, from_urange(1, 48), const(48), True)
    assert (a.umin, a.umax) == (1, 47)


def test_both_sides_of_an_unsigned_compare_are_refined():
    a = ranges.UNKNOWN
    taken, _ = refine(0xA0, a, const(100), True)           # a < 100
    fall, _ = refine(0xA0, a, const(100), False)           # a >= 100
    assert (taken.umin, taken.umax) == (0, 99)
    assert (fall.umin, fall.umax) == (100, M64)


def test_an_impossible_side_is_none():
    assert refine(0x20, from_urange(0, 5), const(10), True) == (None, None)


def test_signed_bounds_follow_unsigned_within_one_half():
    v = ranges.sync(0, M64, 3, 9, ranges.S64_MIN, ranges.S64_MAX)
    assert (v.smin, v.smax) == (3, 9)


def test_alu32_wraps_and_zero_extends():
    v = ranges.alu32(0x00, const(0xFFFF_FFFF), const(1))
    assert v == const(0)


# --------------------------------------------------------------------- stack depths

def test_array_indexed_by_a_loop_counter_gets_the_kernels_depth():
    # for (i = 0; i != 8; i++) ((u64 *)(r10 - 64))[i] = 0   -- as clang rotates it
    p = prog(mov(1, 0),
             movr(2, 10), add(2, -64), movr(3, 1), lsh(3, 3), addr(2, 3),
             st("dw", 2, 0, 0), add(1, 1), jne(1, 8, -8),
             mov(0, 0), EXIT)
    f = depth(p)
    assert (f.stack_depth, f.depth_reason) == (64, None)


def test_masked_index_bounds_the_offset():
    p = prog(ldx("w", 1, 1, 0), and64(1, 15), movr(2, 10), add(2, -32), addr(2, 1),
             st("b", 2, 0, 0), mov(0, 0), EXIT)
    f = depth(p)
    assert (f.stack_depth, f.depth_reason) == (32, None)


def test_constant_in_a_register_passed_to_a_callee():
    # the callee adds r2 = 3 to the pointer it gets: r10-16+3, one byte: 13 -> 16
    from tests.test_analysis import Call, build, st as st_
    p = build(main=[movr(1, 10), add(1, -16), mov(2, 3), Call("f"), EXIT],
              f=[addr(1, 2), st_("b", 1, 0, 0), mov(0, 0), EXIT])
    p.prog_type = "xdp"
    f = depth(p)
    assert (f.stack_bytes, f.stack_depth, f.depth_reason) == (13, 16, None)


def test_an_unbounded_offset_still_falls_back_with_the_reason():
    p = prog(ldx("dw", 1, 1, 0), movr(2, 10), add(2, -32), addr(2, 1),
             st("b", 2, 0, 0), mov(0, 0), EXIT)
    f = depth(p)
    assert f.stack_depth == 512 and "pc 4" in f.depth_reason


def test_a_loop_without_a_bound_terminates_by_widening():
    # r1 = ctx word; loop: r1 += 1; if r1 != 0 goto loop   -- no constant trip count
    p = prog(ldx("w", 1, 1, 0), add(1, 1), jne(1, 0, -2), mov(0, 0), EXIT)
    r = ranges.analyse(p)
    assert r.complete and r.problems == []


# --------------------------------------------------------------------- checks

def test_an_index_that_can_leave_the_frame_is_rejected_with_pc_and_range():
    # (ctx & 63) added to r10-32: one byte at r10-32 .. r10+31
    p = prog(ldx("w", 1, 1, 0), and64(1, 63), movr(2, 10), add(2, -32), addr(2, 1),
             st("b", 2, 0, 0), mov(0, 0), EXIT)
    found = check(p)
    assert [e.pc for e in found] == [5]
    assert "invalid stack off=[-32,31] size=1" in str(found[0])


def test_loop_running_past_the_array_is_rejected():
    # for (i = 0; i != 9; i++) ((u64 *)(r10 - 64))[i] = 0: the last store is at r10+0
    p = prog(mov(1, 0),
             movr(2, 10), add(2, -64), movr(3, 1), lsh(3, 3), addr(2, 3),
             st("dw", 2, 0, 0), add(1, 1), jne(1, 9, -8),
             mov(0, 0), EXIT)
    found = check(p)
    assert found and found[0].pc == 6 and "off=0 size=8" in str(found[0])


def test_dereferencing_a_constant_is_rejected():
    p = prog(mov(1, 0x1000), ldx("dw", 0, 1, 0), EXIT)
    found = check(p)
    assert [e.pc for e in found] == [1]
    assert "0x1000" in str(found[0]) and "not a pointer" in str(found[0])


def test_dereferencing_computed_number_names_its_range():
    # a word of a map value is a number; masked, then used as an address
    p = prog(lddw(1, 0, src=2), ldx("w", 2, 1, 0), and64(2, 0xFF), st("b", 2, 0, 0),
             mov(0, 0), EXIT, maps=[MapDef("t.data", 2, 4, 16, 1)])
    found = check(p)
    assert [e.pc for e in found] == [4]
    assert "umax=0xff" in str(found[0])


def test_map_value_access_past_its_size_is_rejected():
    # a .data map of 16 bytes, read as a u64 at offset 12
    p = prog(lddw(1, 0, src=2), ldx("dw", 0, 1, 12), EXIT,
             maps=[MapDef("t.data", 2, 4, 16, 1)])
    found = check(p)
    assert [e.pc for e in found] == [2]
    assert "map value at off=[12,12] size=8" in str(found[0])


def test_raw_programs_may_load_from_a_number_and_fault_at_run_time():
    """The conformance corpus (err-load-null) expects the fault from the run."""
    p = prog(mov(2, 0), ldx("dw", 0, 2, 0), EXIT)
    p.prog_type = "raw"
    assert check(p) == []


def test_a_branch_decided_by_ranges_is_recorded():
    p = prog(lddw(1, 0, src=2), ldx("b", 1, 1, 0), Insn(0x25, 1, 0, 1, 255), mov(0, 1),
             mov(0, 0), EXIT, maps=[MapDef("t.data", 2, 4, 16, 1)])
    r = ranges.analyse(p)
    assert r.decided == {3: False}              # a byte is never > 255


# --------------------------------------------------------------------- lowering

def _lir_ops(p, facts):
    from jit.lower import lower
    lir = lower(p, alu32_zext=True, depths=facts.depths, zext_needed=facts.zext_needed,
                safe_divs=facts.safe_divs, decided=facts.decided)
    return [type(o).__name__ for o in lir.funcs[0].ops]


def test_a_divisor_that_cannot_be_zero_needs_no_guard():
    # r1 = ctx word | 1 (never 0, never -1 as u64): r0 = 100 / r1 unguarded
    divide = Insn(0x3F, 0, 1)                                   # r0 /= r1
    p = prog(ldx("w", 1, 1, 0), Insn(0x47, 1, 0, 0, 1), mov(0, 100), divide, EXIT)
    facts = facts_unchecked(p)
    assert facts.safe_divs == frozenset({3})
    assert "Branch" not in _lir_ops(p, facts)


def test_a_divisor_that_may_be_zero_keeps_its_guard():
    p = prog(ldx("w", 1, 1, 0), mov(0, 100), Insn(0x3F, 0, 1), EXIT)
    facts = facts_unchecked(p)
    assert facts.safe_divs == frozenset()
    assert "Branch" in _lir_ops(p, facts)


def test_a_signed_divisor_that_may_be_minus_one_keeps_its_guard():
    # r1 = ctx word | 1 may be 0xffffffff: as a 32-bit signed divisor that is -1
    sdiv32 = Insn(0x3C, 0, 1, 1)                                # w0 s/= w1
    p = prog(ldx("w", 1, 1, 0), Insn(0x47, 1, 0, 0, 1), mov(0, 100), sdiv32, EXIT)
    assert facts_unchecked(p).safe_divs == frozenset()


def test_a_decided_branch_is_folded():
    p = prog(lddw(1, 0, src=2), ldx("b", 1, 1, 0), Insn(0x25, 1, 0, 1, 255), mov(0, 1),
             mov(0, 0), EXIT, maps=[MapDef("t.data", 2, 4, 16, 1)])
    facts = facts_unchecked(p)
    assert facts.decided == {3: False}
    assert "Branch" not in _lir_ops(p, facts)


def test_generated_programs_agree_when_lowering_uses_ranges():
    """jit/testing/gen.py's programs with guards dropped and branches folded (the driver
    passes the range facts to the lowering) agree with the interpreter on x86-64."""
    from jit.testing import fuzz, gen
    for seed in range(40):
        case = gen.generate(1800 + seed)
        assert fuzz.diff_case(case, "x86_64") is None, f"seed {1800 + seed}"


def test_the_driver_folds_decided_branches_unless_asked_not_to():
    """compile_program uses the facts; the option no_range_facts (the matrix's) keeps the
    branch, so the encoders are still tested on it."""
    from jit import driver
    p = prog(lddw(1, 0, src=2), ldx("b", 1, 1, 0), Insn(0x25, 1, 0, 1, 255), mov(0, 1),
             mov(0, 0), EXIT, maps=[MapDef("t.data", 2, 4, 16, 1)])
    arch = __import__("backends").names()[0]
    folded = driver.compile_program(p, arch)
    kept = driver.compile_program(p, arch, options={"no_range_facts": True})
    assert len(folded.code) < len(kept.code)


def test_context_access_past_its_end_is_rejected():
    # struct xdp_md has 24 bytes: a u32 at 24 is outside
    p = prog(ldx("w", 0, 1, 24), EXIT)
    found = check(p)
    assert [e.pc for e in found] == [0]
    assert "invalid context access off=[24,24] size=4" in str(found[0])
    assert "xdp context has 24 bytes" in str(found[0])


def test_context_sizes_are_the_ones_the_runner_lays_out():
    from jit import contexts
    assert ranges.CTX_SIZES["xdp"] == contexts.XDP_MD_SIZE
    assert {ranges.CTX_SIZES[t] for t in contexts.CONTEXTS if t != "xdp"} == \
        {contexts.SK_BUFF_SIZE}


def test_narrow_reload_of_a_spill_reads_the_low_end_in_either_byte_order():
    """A bug caught in review: a big-endian u8 load at the spill's offset reads the high byte."""
    from jit.ranges import _slot_get
    slots = ((-8, 8, const(5)),)
    assert _slot_get(slots, -8, 1, little=True) == const(5)
    assert _slot_get(slots, -8, 1, little=False) is ranges.TOP
    assert _slot_get(slots, -1, 1, little=False) == const(5)


def test_signed_division_is_not_folded_as_unsigned():
    """A bug caught in review: -6 s/ 2 is -3, not (2^64 - 6) // 2."""
    p = prog(mov(0, -6), Insn(0x37, 0, 0, 1, 2), Insn(0x15, 0, 0, 1, -3), mov(0, 0),
             EXIT)                       # r0 s/= 2; if r0 == -3 goto +1
    r = ranges.analyse(p)
    assert r.decided.get(2) is not False


def test_a_stack_pointer_widened_past_r10_has_no_bound():
    """A bug caught in review: widening clamped a growing offset at r10 for good."""
    a = ranges.Ptr(ranges.STACK, 0, -16, -8)
    assert ranges.join_value(a, a._replace(hi=8), [0]).lo is None
    assert ranges.join_value(a, a._replace(hi=-4), [0]) == a._replace(hi=0)


def test_jmp32_on_a_register_with_an_unknown_upper_half_bounds_its_low_bits():
    # r1 = a u64 of a map value; if w1 < 10 (JMP32): w1's low bits fit 0..15 after it
    r1 = ranges.UNKNOWN
    a = ranges._with_low(r1, from_urange(0, 9))
    assert ranges.low32(a).umax == 15 and a.umax > ranges.M32
    assert ranges._with_low(const(0x1_0000_0020), from_urange(0, 9)) is None
