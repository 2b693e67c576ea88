"""jit.analysis: CFG, stack depth, zero-extension facts and the checks.

Programs are built from `Insn`s with the small builders below (the kernel's
BPF_* macros, spelled out), so these tests depend on nothing but jit.isa and
jit.program.  Every expected value is worked out by hand from RFC 9669 and the
kernel's verifier rules, never by asking the code under test.  Each check has
a program that trips it and a near miss that passes.

The last section compares our per-function stack depths with the running
kernel's verifier on every fixture in tests/progs/build (loaded in a child
process; skipped where the kernel or the fixtures are not there).
"""
from __future__ import annotations

import glob
import os

import pytest

from jit.errors import CheckError
from jit.isa import Insn
from jit.program import Function, MapDef, Program, functions_from_calls
from jit.analysis import analyse, check, describe, facts_unchecked

# --------------------------------------------------------------------- builders

SZ = {"w": 0x00, "h": 0x08, "b": 0x10, "dw": 0x18}


def mov(d, imm):                 # rd = imm
    return Insn(0xB7, d, 0, 0, imm)


def mov32(d, imm):               # wd = imm
    return Insn(0xB4, d, 0, 0, imm)


def movr(d, s):                  # rd = rs
    return Insn(0xBF, d, s)


def mov32r(d, s):                # wd = ws
    return Insn(0xBC, d, s)


def movsx(d, s, bits):           # rd = (s<bits>) rs
    return Insn(0xBF, d, s, bits)


def add(d, imm):                 # rd += imm
    return Insn(0x07, d, 0, 0, imm)


def addr(d, s):                  # rd += rs
    return Insn(0x0F, d, s)


def add32(d, imm):               # wd += imm
    return Insn(0x04, d, 0, 0, imm)


def add32r(d, s):                # wd += ws
    return Insn(0x0C, d, s)


def lsh(d, imm):                 # rd <<= imm
    return Insn(0x67, d, 0, 0, imm)


def lshr(d, s):                  # rd <<= rs
    return Insn(0x6F, d, s)


def and64(d, imm):               # rd &= imm
    return Insn(0x57, d, 0, 0, imm)


def ldx(size, d, s, off):        # rd = *(size *)(rs + off)
    return Insn(0x61 | SZ[size], d, s, off)


def stx(size, d, off, s):        # *(size *)(rd + off) = rs
    return Insn(0x63 | SZ[size], d, s, off)


def st(size, d, off, imm):       # *(size *)(rd + off) = imm
    return Insn(0x62 | SZ[size], d, 0, off, imm)


def jeq(d, imm, off):            # if rd == imm goto +off
    return Insn(0x15, d, 0, off, imm)


def jne(d, imm, off):
    return Insn(0x55, d, 0, off, imm)


def jgt32(d, imm, off):          # if wd > imm goto +off
    return Insn(0x26, d, 0, off, imm)


def jgt(d, imm, off):            # if rd > imm goto +off
    return Insn(0x25, d, 0, off, imm)


def ja(off):
    return Insn(0x05, 0, 0, off)


def gotol(imm):
    return Insn(0x06, 0, 0, 0, imm)


def call(helper):
    return Insn(0x85, 0, 0, 0, helper)


def callpc(off):                 # local call: target = pc + 1 + off
    return Insn(0x85, 0, 1, 0, off)


def lddw(d, imm, src=0):
    return Insn(0x18, d, src, 0, imm)


EXIT = Insn(0x95)


class Call:
    """A local call to a function by name, resolved by `build`."""
    def __init__(self, name):
        self.name = name


class Ref:
    """LDDW rX = &function (a callback), resolved by `build`."""
    def __init__(self, reg, name):
        self.reg = reg
        self.name = name


def prog(*insns, maps=()):
    """One function (or functions split at local-call targets) named main."""
    insns = list(insns)
    return Program("main", insns, functions_from_calls(insns), maps=list(maps), file="t.o",
                   prog_type="xdp")


def build(**bodies):
    """Functions in the given order; Call/Ref placeholders become relative offsets."""
    starts, pc = {}, 0
    for name, body in bodies.items():
        starts[name] = pc
        pc += sum(2 if not isinstance(x, (Insn, Call)) or (isinstance(x, Insn) and x.opcode == 0x18)
                  else 1 for x in body)
    insns, funcs, pc = [], [], 0
    for name, body in bodies.items():
        first = pc
        for x in body:
            if isinstance(x, Call):
                x = callpc(starts[x.name] - pc - 1)
            elif isinstance(x, Ref):
                x = lddw(x.reg, (starts[x.name] - pc - 1) & 0xFFFFFFFF, src=4)
            insns.append(x)
            pc += x.slots
        funcs.append(Function(name, first, pc))
    return Program(next(iter(bodies)), insns, funcs, file="t.o", prog_type="xdp")


def msgs(p, **kw):
    return [(e.pc, e.func, e.msg) for e in check(p, **kw)]


def one_problem(p, pc, words, **kw):
    """The program fails with exactly one problem, at `pc`, whose message has `words`."""
    found = check(p, **kw)
    assert len(found) == 1, [str(e) for e in found]
    e = found[0]
    assert isinstance(e, CheckError)
    assert e.pc == pc, str(e)
    assert e.file == "t.o"
    for w in words:
        assert w in e.msg, str(e)
    with pytest.raises(CheckError) as ei:
        analyse(p, **kw)
    assert ei.value.pc == pc
    return e


def clean(p, **kw):
    found = check(p, **kw)
    assert found == [], [str(e) for e in found]
    return analyse(p, **kw)


# --------------------------------------------------------------------- CFG

def test_straight_line_is_one_block_without_successors():
    f = clean(prog(mov(0, 1), add(0, 2), EXIT)).functions[0]
    assert [tuple(b) for b in f.blocks] == [(0, 3, ())]
    assert f.back_edges == frozenset()
    assert f.n_insns == 3


def test_diamond_blocks_and_successors():
    # 0: if r1 == 0 goto 3 | 1: r0 = 1 | 2: goto 4 | 3: r0 = 2 | 4: exit
    p = prog(jeq(1, 0, 2), mov(0, 1), ja(1), mov(0, 2), EXIT)
    f = clean(p).functions[0]
    assert [tuple(b) for b in f.blocks] == [
        (0, 1, (1, 3)),      # fall through first, then the target
        (1, 3, (4,)),
        (3, 4, (4,)),
        (4, 5, ()),
    ]
    assert f.back_edges == frozenset()


def test_loop_records_its_back_edge():
    # 0: r0 = 0 | 1: r0 += 1 | 2: if r0 != 10 goto 1 | 3: exit
    p = prog(mov(0, 0), add(0, 1), jne(0, 10, -2), EXIT)
    f = clean(p).functions[0]
    assert [tuple(b) for b in f.blocks] == [(0, 1, (1,)), (1, 3, (3, 1)), (3, 4, ())]
    assert f.back_edges == frozenset({(2, 1)})
    assert f.has_loops


def test_slots_not_instructions_count_for_blocks_after_lddw():
    # 0-1: r0 = lddw | 2: if r0 == 0 goto 4 | 3: r0 = 1 | 4: exit
    p = prog(lddw(0, 1 << 40), jeq(0, 0, 1), mov(0, 1), EXIT)
    f = clean(p).functions[0]
    assert [(b.start, b.end) for b in f.blocks] == [(0, 3), (3, 4), (4, 5)]


def test_gotol_target_comes_from_imm():
    # 0: gotol +1 | 1: r0 = 1 (dead) | 2: r0 = 2 | 3: exit
    p = prog(gotol(1), mov(0, 1), mov(0, 2), EXIT)
    f = clean(p).functions[0]
    assert f.blocks[0].succs == (2,)


def test_unreachable_code_is_not_checked_for_uninitialised_reads():
    # 1: reads r5 but nothing jumps there
    p = prog(mov(0, 0), EXIT, movr(0, 5), EXIT)
    clean(p)


# --------------------------------------------------------------------- checks: control flow

def test_jump_out_of_the_function():
    p = build(main=[mov(1, 0), Call("f"), jeq(0, 0, 3), EXIT],
              f=[mov(0, 0), EXIT])
    # pc 2 + 1 + 3 = 6: past main (0..3), inside nothing
    one_problem(p, 2, ["jump to pc 6", "leaves function main"])


def test_jump_into_another_function():
    p = build(main=[mov(1, 0), Call("f"), jeq(0, 0, 1), EXIT],
              f=[mov(0, 0), EXIT])
    # target 4 is f's first instruction: still outside main
    one_problem(p, 2, ["jump to pc 4", "leaves function main"])


def test_jump_to_the_last_instruction_is_fine():
    clean(prog(mov(0, 0), jeq(1, 0, 0), EXIT))
    clean(prog(mov(0, 0), jeq(1, 0, -2), EXIT))   # back to pc 0: a loop


def test_jump_into_the_second_half_of_lddw():
    # 0: if r1 == 0 goto 2 | 1-2: lddw | 3: exit
    one_problem(prog(jeq(1, 0, 1), lddw(0, 7), EXIT), 0, ["second half of an LDDW"])


def test_jump_onto_lddw_is_fine():
    clean(prog(mov(0, 0), jeq(1, 0, 0), lddw(0, 7), EXIT))


def test_falling_off_the_end():
    one_problem(prog(mov(0, 0)), 0, ["falls off the end"])
    # a conditional jump at the end can fall through too
    one_problem(prog(mov(0, 0), jeq(0, 0, -2)), 1, ["falls off the end"])


def test_ending_in_a_jump_is_fine():
    # the kernel's rule: the last instruction is an exit or an unconditional jump
    # 0: r0 = 0 | 1: exit | 2: r0 += 1 | 3: goto 2 (unreachable, but it does not fall off)
    clean(prog(mov(0, 0), EXIT, add(0, 1), ja(-2)))


def test_subprogram_falling_off_its_end_names_it():
    p = build(main=[mov(1, 0), Call("f"), EXIT], f=[mov(0, 0)])
    e = one_problem(p, 3, ["falls off the end of function f"])
    assert e.func == "f"


# --------------------------------------------------------------------- checks: r10

@pytest.mark.parametrize("insn,what", [
    (movr(10, 1), "mov r10 = r1"),
    (add(10, -8), "r10 += -8"),
    (mov32(10, 0), "w10 = 0"),
    (ldx("dw", 10, 1, 0), "r10 = *(u64 *)(r1 + 0)"),
    (lddw(10, 5), "r10 = lddw"),
    (movsx(10, 1, 8), "r10 = (s8) r1"),
    (Insn(0xDB, 1, 10, 0, 0xE1), "r10 = xchg(r1 + 0, r10)"),          # atomic fetch into src
    (Insn(0xDB, 1, 10, 0, 0x01), "r10 = atomic_fetch_add(r1 + 0, r10)"),
    (Insn(0xC3, 1, 10, 0, 0xA1), "w10 = atomic_fetch_xor((u32 *)(r1 + 0), w10)"),
])
def test_writing_r10_is_refused(insn, what):
    p = prog(mov(0, 0), insn, EXIT)
    one_problem(p, 1, ["r10", "read-only"])


@pytest.mark.parametrize("insn", [
    stx("dw", 10, -8, 1),                  # r10 is a base, not written
    st("w", 10, -4, 0),
    Insn(0xDB, 10, 1, -8, 0x00),          # lock *(u64 *)(r10 - 8) += r1: no fetch
    Insn(0xDB, 10, 1, -8, 0xF1),          # cmpxchg writes r0, not r10
    Insn(0xDB, 1, 10, 0, 0xF1),           # ... even with r10 as its source
    movr(1, 10),                           # reading r10 is fine
    jeq(10, 0, 0),
])
def test_using_r10_without_writing_it_is_fine(insn):
    clean(prog(mov(0, 0), stx("dw", 10, -8, 1), insn, EXIT))


# --------------------------------------------------------------------- checks: uninitialised reads

def test_reading_a_register_never_written():
    one_problem(prog(movr(0, 2), EXIT), 0, ["r2", "before it is written"])


def test_r0_must_be_set_before_exit():
    one_problem(prog(EXIT), 0, ["r0"])


def test_main_starts_with_r1_and_r10():
    clean(prog(movr(0, 1), addr(0, 10), EXIT))


def test_subprogram_starts_with_r1_to_r5():
    p = build(main=[mov(1, 0), mov(2, 0), Call("f"), EXIT],
              f=[movr(0, 1), addr(0, 2), addr(0, 3), addr(0, 4), addr(0, 5), EXIT])
    clean(p)
    p = build(main=[mov(1, 0), Call("f"), EXIT], f=[movr(0, 6), EXIT])
    one_problem(p, 3, ["r6"])


def test_written_on_one_path_only():
    # 0: if r1 == 0 goto 2 | 1: r2 = 1 | 2: r0 = r2 | 3: exit
    one_problem(prog(jeq(1, 0, 1), mov(2, 1), movr(0, 2), EXIT), 2, ["r2", "some path"])


def test_written_on_both_paths_is_fine():
    clean(prog(jeq(1, 0, 2), mov(2, 1), ja(1), mov(2, 2), movr(0, 2), EXIT))


def test_call_clobbers_r1_to_r5_and_sets_r0():
    one_problem(prog(mov(1, 0), call(7), movr(0, 1), EXIT), 2, ["r1"])
    clean(prog(mov(6, 3), call(7), addr(0, 6), EXIT))        # r6 survives, r0 is set


def test_loop_reaching_a_read_before_the_write():
    # 0: r0 = 0 | 1: if r0 > 3 goto 5 | 2: r0 += r3 | 3: r3 = 1 | 4: goto 1 | 5: exit
    one_problem(prog(mov(0, 0), jgt(0, 3, 3), addr(0, 3), mov(3, 1), ja(-4), EXIT),
                2, ["r3"])


def test_ld_abs_clobbers_r1_to_r5_and_sets_r0():
    ldabs = Insn(0x28, 0, 0, 0, 12)              # r0 = ntohs(*(u16 *)skb[12])
    one_problem(prog(movr(6, 1), ldabs, movr(0, 2), EXIT), 2, ["r2"])
    clean(prog(movr(6, 1), ldabs, EXIT))
    one_problem(prog(ldabs, EXIT), 0, ["r6"])    # the implicit skb is r6


def test_helper_arguments_checked_when_the_helper_set_knows_nargs():
    class H:
        def __init__(self, nargs):
            self.nargs = nargs
    two = {1: H(2)}
    one_problem(prog(mov(1, 0), call(1), EXIT), 1, ["r2"], helpers=two)
    clean(prog(mov(1, 0), mov(2, 0), call(1), EXIT), helpers=two)
    clean(prog(mov(1, 0), call(1), EXIT), helpers={1: H(1)})
    clean(prog(mov(1, 0), call(1), EXIT), helpers={1})     # a plain set: ids only


# --------------------------------------------------------------------- checks: helpers, division

def test_unknown_helper_id():
    one_problem(prog(call(99), EXIT), 0, ["unknown helper 99"], helpers={1, 2})
    clean(prog(call(2), EXIT), helpers={1, 2})
    clean(prog(call(99), EXIT))                 # None: not checked


@pytest.mark.parametrize("op", [0x37, 0x97, 0x34, 0x94])     # div64, mod64, div32, mod32 K
@pytest.mark.parametrize("signed", [0, 1])
def test_division_by_constant_zero(op, signed):
    one_problem(prog(mov(0, 1), Insn(op, 0, 0, signed, 0), EXIT), 1, ["division by constant zero"])
    clean(prog(mov(0, 1), Insn(op, 0, 0, signed, 1), EXIT))
    # by a register that may be zero: the runtime rule (x/0 = 0) applies, not a check
    clean(prog(mov(0, 1), mov(2, 0), Insn(op | 0x08, 0, 2, signed, 0), EXIT))


def test_unknown_opcode_in_a_hand_built_program():
    one_problem(prog(mov(0, 0), Insn(0xFF), EXIT), 1, ["unknown opcode 0xff"])


# --------------------------------------------------------------------- checks: calls

def test_local_call_into_the_middle_of_a_function():
    p = build(main=[mov(1, 0), callpc(2), EXIT], f=[mov(0, 0), EXIT])
    # target 1 + 1 + 2 = 4: f's second instruction
    one_problem(p, 1, ["call target pc 4", "not the start of a function"])


def test_callback_reference_must_name_a_function_start():
    p = build(main=[Ref(2, "f"), mov(0, 0), EXIT], f=[mov(0, 0), EXIT])
    clean(p)
    bad = build(main=[lddw(2, 2, src=4), mov(0, 0), EXIT], f=[mov(0, 0), mov(0, 1), EXIT])
    # 0 + 1 + 2 = 3: inside main (it is 0..3)
    one_problem(bad, 0, ["callback target pc 3"])


def test_recursion():
    p = build(main=[mov(1, 0), Call("f"), EXIT],
              f=[Call("f"), EXIT])
    e = one_problem(p, 3, ["recursive call", "f -> f"])
    assert e.func == "f"


def test_mutual_recursion():
    p = build(main=[mov(1, 0), Call("f"), EXIT],
              f=[Call("g"), EXIT],
              g=[Call("f"), EXIT])
    one_problem(p, 5, ["recursive call", "f -> g -> f"])


def test_two_callers_of_one_function_is_not_recursion():
    p = build(main=[mov(1, 0), Call("f"), Call("g"), Call("h"), EXIT],
              f=[Call("h"), EXIT], g=[Call("h"), EXIT], h=[mov(0, 0), EXIT])
    facts = clean(p)
    assert facts.function("main").callees == (5, 7, 9)
    assert facts.max_frames == 3


def test_loops_are_allowed():
    clean(prog(mov(0, 0), add(0, 1), jne(0, 100, -2), EXIT))


# --------------------------------------------------------------------- stack depth

def depth(p, name="main", **kw):
    return facts_unchecked(p, **kw).function(name)


def test_store_through_r10():
    f = depth(prog(stx("dw", 10, -8, 1), mov(0, 0), EXIT))
    assert (f.stack_bytes, f.stack_depth, f.depth_reason) == (8, 8, None)


def test_a_4_byte_slot_counts_as_8_like_the_kernel():
    f = depth(prog(st("w", 10, -4, 0), mov(0, 0), EXIT))
    assert (f.stack_bytes, f.stack_depth) == (4, 8)
    f = depth(prog(st("b", 10, -9, 0), mov(0, 0), EXIT))
    assert (f.stack_bytes, f.stack_depth) == (9, 16)


def test_no_stack():
    f = depth(prog(mov(0, 0), EXIT))
    assert (f.stack_bytes, f.stack_depth) == (0, 0)


def test_helper_argument_counts_up_to_r10():
    # r2 = r10; r2 += -16; call map_lookup: the key lies in [r10-16, r10)
    f = depth(prog(lddw(1, 0, src=1), movr(2, 10), add(2, -16), call(1), mov(0, 0), EXIT,
                   maps=[MapDef("m", 1, 4, 8, 1)]))
    assert f.stack_depth == 16
    assert f.maps == frozenset({0})
    assert f.helpers == frozenset({1})


def test_pointer_through_moves_and_adds():
    # r3 = r10; r4 = r3; r4 += -40; *(u8 *)(r4 + 2) = 0  -> touches r10-38 .. r10-37
    f = depth(prog(movr(3, 10), movr(4, 3), add(4, -40), st("b", 4, 2, 0), mov(0, 0), EXIT))
    assert (f.stack_bytes, f.stack_depth) == (38, 40)


def test_constant_offset_in_a_register():
    # r5 = -24; r6 = r10; r6 += r5; *(u64 *)(r6 + 0) = r1
    f = depth(prog(mov(5, -24), movr(6, 10), addr(6, 5), stx("dw", 6, 0, 1), mov(0, 0), EXIT))
    assert f.stack_depth == 24
    # the other way round: r5 = -24; r5 += r10
    f = depth(prog(mov(5, -24), addr(5, 10), stx("dw", 5, 0, 1), mov(0, 0), EXIT))
    assert f.stack_depth == 24
    # built from constants: r5 = 3; r5 <<= 3; r5 = -r5 ... kept simple: (-3) * 8 via shifts
    f = depth(prog(mov(5, -3), lsh(5, 3), addr(5, 10), st("dw", 5, 0, 0), mov(0, 0), EXIT))
    assert f.stack_depth == 24


def test_variable_offset_falls_back_to_512_with_the_reason():
    # r6 = *(u32 *)(r1 + 0); r2 = r10; r2 += r6; *(u8 *)(r2 - 1) = 0
    p = prog(ldx("w", 6, 1, 0), movr(2, 10), addr(2, 6), st("b", 2, -1, 0), mov(0, 0), EXIT)
    f = depth(p)
    assert f.stack_depth == 512
    assert "pc 3" in f.depth_reason and "r2 at pc 2" in f.depth_reason
    assert f.stack_bytes == 0            # nothing proven
    assert check(p) == []                # a fallback is not an error


def test_variable_offset_that_is_never_used_costs_nothing():
    p = prog(ldx("w", 6, 1, 0), movr(2, 10), addr(2, 6), st("dw", 10, -8, 0), mov(0, 0), EXIT)
    f = depth(p)
    assert (f.stack_depth, f.depth_reason) == (8, None)


def test_pointer_moving_around_a_loop_falls_back():
    # r2 = r10 - 64; loop: *(u64 *)(r2 + 0) = 0; r2 += 8; if r2 != r10 goto loop
    p = prog(movr(2, 10), add(2, -64), st("dw", 2, 0, 0), add(2, 8), Insn(0x5D, 2, 10, -3),
             mov(0, 0), EXIT)
    f = depth(p)
    assert f.stack_depth == 512
    assert "loop" in f.depth_reason
    assert f.stack_bytes == 64            # the first iteration is proven


def test_pointer_on_two_paths_counts_the_deeper():
    # if r1 == 0: r2 = r10 - 16 else r2 = r10 - 48; *(u64 *)(r2 + 0) = 0
    p = prog(jeq(1, 0, 3), movr(2, 10), add(2, -16), ja(2), movr(2, 10), add(2, -48),
             st("dw", 2, 0, 0), mov(0, 0), EXIT)
    assert depth(p).stack_depth == 48


def test_many_paths_merging_is_not_mistaken_for_a_loop():
    # Bug: widening counted every join into a block, so seven paths meeting in a function
    # that has a loop elsewhere were taken for a loop and fell back to 512.
    # 0-2: a loop | 3-4: r2 = r10 - 32 | six cases: if r1 != k skip; r2 = r10 - 8k; goto merge
    insns = [mov(0, 0), add(0, 1), jne(0, 3, -2), movr(2, 10), add(2, -32)]
    jumps = []
    for k in range(1, 7):
        insns += [jne(1, k, 3), movr(2, 10), add(2, -8 * k), None]
        jumps.append(len(insns) - 1)
    merge = len(insns)
    for at in jumps:
        insns[at] = ja(merge - at - 1)
    insns += [st("dw", 2, 0, 0), EXIT]
    f = depth(prog(*insns))
    assert (f.stack_depth, f.depth_reason) == (48, None)


def test_spilled_pointer_is_followed_through_the_stack():
    # r2 = r10 - 64; *(u64 *)(r10 - 8) = r2; r3 = *(u64 *)(r10 - 8); *(u8 *)(r3 + 0) = 1
    p = prog(movr(2, 10), add(2, -64), stx("dw", 10, -8, 2), ldx("dw", 3, 10, -8),
             st("b", 3, 0, 1), mov(0, 0), EXIT)
    f = depth(p)
    assert (f.stack_bytes, f.depth_reason) == (64, None)


def test_spilled_pointer_counts_its_object_even_if_the_reload_is_out_of_sight():
    # struct { char *buf; } c = { b } at r10-8, b at r10-72; f(&c) may write through c.buf
    p = build(main=[movr(2, 10), add(2, -72), stx("dw", 10, -8, 2), movr(1, 10), add(1, -8),
                    Call("f"), EXIT],
              f=[ldx("dw", 2, 1, 0), st("dw", 2, 0, 0), mov(0, 0), EXIT])
    assert depth(p).stack_depth == 72


def test_spill_overwritten_by_a_scalar_is_forgotten():
    # r2 = r10-16 is spilled to r10-8, then the slot is overwritten with 0: the reload is a
    # scalar, so the store through it at -100 is not a stack access (it would be r10-116)
    p = prog(movr(2, 10), add(2, -16), stx("dw", 10, -8, 2), st("dw", 10, -8, 0),
             ldx("dw", 3, 10, -8), st("dw", 3, -100, 0), mov(0, 0), EXIT)
    assert depth(p).stack_bytes == 16
    # without the overwrite it is
    p = prog(movr(2, 10), add(2, -16), stx("dw", 10, -8, 2),
             ldx("dw", 3, 10, -8), st("dw", 3, -100, 0), mov(0, 0), EXIT)
    assert depth(p).stack_bytes == 116


def test_stack_pointer_stored_outside_the_stack_is_not_a_fallback():
    # *(u64 *)(r0 + 0) = r2 with r0 from a map lookup: it reloads as a scalar
    p = prog(lddw(1, 0, src=1), movr(2, 10), add(2, -8), st("dw", 2, 0, 0), call(1),
             jeq(0, 0, 3), movr(2, 10), add(2, -32), stx("dw", 0, 0, 2), mov(0, 0), EXIT,
             maps=[MapDef("m", 2, 4, 8, 1)])
    f = clean(p).functions[0]
    assert (f.stack_depth, f.depth_reason) == (8, None)


def test_pointer_passed_to_a_callee_counts_where_the_callee_reaches():
    # main passes r10-32 in r1; f writes *(u32 *)(r1 + 4): main's frame reaches r10-28
    p = build(main=[movr(1, 10), add(1, -32), Call("f"), EXIT],
              f=[st("w", 1, 4, 7), mov(0, 0), EXIT])
    facts = clean(p)
    assert facts.function("main").stack_bytes == 28
    assert facts.function("main").stack_depth == 32
    assert facts.function("f").stack_depth == 0
    assert dict(facts.function("f").arg_reach) == {1: 4}


def test_callee_reaching_below_the_pointer_it_was_given():
    p = build(main=[movr(1, 10), add(1, -32), Call("f"), EXIT],
              f=[st("dw", 1, -8, 7), mov(0, 0), EXIT])
    assert depth(p).stack_depth == 40


def test_callee_passing_the_pointer_on():
    # main -> f(r1 = r10-16) -> g(r2 = r1 + 8) -> *(u64 *)(r2 - 16): r10-24 in main's frame
    p = build(main=[movr(1, 10), add(1, -16), Call("f"), EXIT],
              f=[movr(2, 1), add(2, 8), Call("g"), EXIT],
              g=[st("dw", 2, -16, 0), mov(0, 0), EXIT])
    assert depth(p).stack_depth == 24


def test_callee_handing_the_pointer_to_a_helper():
    p = build(main=[movr(1, 10), add(1, -48), Call("f"), EXIT],
              f=[movr(3, 1), mov(1, 0), mov(2, 0), call(4), EXIT])
    assert depth(p).stack_depth == 48


def test_callee_using_the_pointer_at_a_variable_offset():
    # r2 comes from the context: no range bounds it (a constant would: see test_ranges)
    p = build(main=[ldx("dw", 2, 1, 0), movr(1, 10), add(1, -16), Call("f"), EXIT],
              f=[addr(1, 2), st("b", 1, 0, 0), mov(0, 0), EXIT])
    f = depth(p)
    assert f.stack_depth == 512
    assert "r1 passes a stack pointer" in f.depth_reason


def test_scalar_argument_used_oddly_by_a_callee_is_harmless():
    # f treats its r1 as a number; main passes a number: no fallback anywhere
    p = build(main=[mov(1, 5), Call("f"), EXIT],
              f=[addr(1, 2), st("b", 10, -1, 0), movr(0, 1), EXIT])
    facts = clean(p)
    assert [x.stack_depth for x in facts.functions] == [0, 8]


def test_helper_nargs_limit_which_registers_are_arguments():
    class H:
        def __init__(self, nargs):
            self.nargs = nargs
    # r3 still holds r10-64 from earlier, but ktime_get_ns (5) takes no arguments
    body = [movr(3, 10), add(3, -64), call(5), EXIT]
    assert depth(prog(*body)).stack_depth == 64                      # r1-r5 assumed
    assert depth(prog(*body), helpers={5: H(0)}).stack_depth == 0


# --------------------------------------------------------------------- stack: bounds and chains

def test_access_below_r10_minus_512():
    one_problem(prog(st("dw", 10, -520, 0), mov(0, 0), EXIT), 0, ["r10-520", "below r10-512"])
    clean(prog(st("dw", 10, -512, 0), mov(0, 0), EXIT))
    # through a pointer
    one_problem(prog(movr(2, 10), add(2, -512), st("b", 2, -1, 0), mov(0, 0), EXIT), 2,
                ["r10-513"])
    clean(prog(movr(2, 10), add(2, -512), st("b", 2, 0, 0), mov(0, 0), EXIT))


def test_access_at_or_above_r10():
    one_problem(prog(st("dw", 10, -4, 0), mov(0, 0), EXIT), 0, ["at or above r10"])
    one_problem(prog(ldx("b", 0, 10, 0), EXIT), 0, ["at or above r10"])
    clean(prog(st("w", 10, -4, 0), mov(0, 0), EXIT))


def test_helper_argument_below_the_frame():
    one_problem(prog(movr(1, 10), add(1, -600), call(7), EXIT), 2, ["r10-600", "below"])


def test_call_chain_frames_are_rounded_to_16_and_summed():
    # main 24 -> 32, f 40 -> 48, g 8 -> 16 : 96
    p = build(main=[st("dw", 10, -24, 0), mov(1, 0), Call("f"), EXIT],
              f=[st("dw", 10, -40, 0), Call("g"), EXIT],
              g=[st("dw", 10, -8, 0), mov(0, 0), EXIT])
    facts = clean(p)
    assert [x.stack_depth for x in facts.functions] == [24, 40, 8]
    assert facts.stack_total == 96
    assert facts.deepest_chain == (0, 4, 7)
    assert facts.depths == {0: 24, 4: 40, 7: 8}


def test_deepest_chain_is_the_heaviest_not_the_longest():
    # main -> a (256) ; main -> b -> c (8 + 8)
    p = build(main=[mov(1, 0), Call("a"), Call("b"), EXIT],
              a=[st("dw", 10, -256, 0), mov(0, 0), EXIT],
              b=[st("dw", 10, -8, 0), Call("c"), EXIT],
              c=[st("dw", 10, -8, 0), mov(0, 0), EXIT])
    facts = clean(p)
    assert facts.stack_total == 256
    assert [facts.function(s).name for s in facts.deepest_chain] == ["main", "a"]
    assert facts.max_frames == 3


def test_combined_stack_over_512():
    # 256 + 272 = 528
    p = build(main=[st("dw", 10, -256, 0), mov(1, 0), Call("f"), EXIT],
              f=[st("dw", 10, -272, 0), mov(0, 0), EXIT])
    e = one_problem(p, 2, ["528 bytes", "exceeds 512"])
    assert e.func == "main"                    # the call that pushes it over


def test_combined_stack_of_exactly_512_is_fine():
    p = build(main=[st("dw", 10, -256, 0), mov(1, 0), Call("f"), EXIT],
              f=[st("dw", 10, -256, 0), mov(0, 0), EXIT])
    assert clean(p).stack_total == 512


def test_rounding_to_16_is_what_goes_over():
    # raw 8 + 504 = 512, but frames are 16 + 512 = 528 (the kernel's round_up(depth, 16))
    p = build(main=[st("dw", 10, -8, 0), mov(1, 0), Call("f"), EXIT],
              f=[st("dw", 10, -504, 0), mov(0, 0), EXIT])
    one_problem(p, 2, ["528 bytes"])


def _chain(n):
    bodies = {"main": [mov(1, 0), Call("f1"), EXIT]}
    for k in range(1, n):
        nxt = f"f{k + 1}"
        bodies[f"f{k}"] = [Call(nxt), EXIT] if k + 1 < n else [mov(0, 0), EXIT]
    return build(**bodies)


def test_eight_frames_is_the_limit():
    assert clean(_chain(8)).max_frames == 8
    p = _chain(9)
    # f7's first instruction calls f8, the ninth frame
    e = one_problem(p, p.functions[7].start, ["9 frames", "at most 8"])
    assert e.func == "f7"


def test_tail_call_from_a_subprogram_under_deep_callers():
    # main uses 256: f may not tail-call
    tail = [mov(1, 0), lddw(2, 0, src=1), mov(3, 0), call(12), mov(0, 0), EXIT]
    p = build(main=[st("dw", 10, -256, 0), mov(1, 0), Call("f"), EXIT], f=tail)
    p.maps.append(MapDef("jt", 3, 4, 4, 4))
    e = one_problem(p, p.functions[1].start + 4, ["tail call", "256 bytes"])
    assert e.func == "f"


def test_tail_call_under_240_bytes_of_callers_is_fine():
    tail = [mov(1, 0), lddw(2, 0, src=1), mov(3, 0), call(12), mov(0, 0), EXIT]
    p = build(main=[st("dw", 10, -240, 0), mov(1, 0), Call("f"), EXIT], f=tail)
    p.maps.append(MapDef("jt", 3, 4, 4, 4))
    facts = clean(p)
    assert facts.function("f").tail_call_pcs == (p.functions[1].start + 4,)


def test_tail_call_rule_sums_all_callers():
    # main 128 + f 128 = 256 before g, which tail-calls
    tail = [mov(1, 0), lddw(2, 0, src=1), mov(3, 0), call(12), mov(0, 0), EXIT]
    p = build(main=[st("dw", 10, -128, 0), mov(1, 0), Call("f"), EXIT],
              f=[st("dw", 10, -128, 0), Call("g"), EXIT], g=tail)
    p.maps.append(MapDef("jt", 3, 4, 4, 4))
    one_problem(p, p.functions[2].start + 4, ["256 bytes"])


def test_tail_call_in_main_has_no_stack_rule():
    p = prog(st("dw", 10, -500, 0), mov(1, 0), lddw(2, 0, src=1), mov(3, 0), call(12),
             mov(0, 0), EXIT, maps=[MapDef("jt", 3, 4, 4, 4)])
    clean(p)


def test_callback_counts_as_a_frame_in_the_chain():
    # bpf_loop(4, cb, NULL, 0): the kernel counts cb's frame under main's
    p = build(main=[st("dw", 10, -256, 0), mov(1, 4), Ref(2, "cb"), mov(3, 0), mov(4, 0),
                    call(181), EXIT],
              cb=[st("dw", 10, -264, 0), mov(0, 0), EXIT])
    one_problem(p, 2, ["528 bytes"])           # 256 + round_up(264, 16)


# --------------------------------------------------------------------- zero extension

def zext(*insns, funcs=None):
    p = build(**funcs) if funcs else prog(*insns)
    return set(facts_unchecked(p).zext_needed)


def test_alu32_result_returned_needs_zext():
    assert zext(mov32(0, 1), EXIT) == {0}


def test_alu32_result_read_only_as_32_bits_does_not():
    # w1 = 1; w0 = w1; exit: pc 0 feeds a 32-bit move, pc 1 is returned
    assert zext(mov32(1, 1), mov32r(0, 1), EXIT) == {1}


def test_64_bit_move_reads_the_upper_half():
    assert zext(mov32(1, 1), movr(0, 1), EXIT) == {0}


def test_jmp32_versus_jmp():
    assert zext(mov32(1, 7), jgt32(1, 3, 0), mov(0, 0), EXIT) == set()
    assert zext(mov32(1, 7), jgt(1, 3, 0), mov(0, 0), EXIT) == {0}


def test_narrow_loads_and_stores():
    # r2 = *(u32 *)(r1 + 0) zero-extends; storing W reads 32 bits, DW reads 64
    assert zext(ldx("w", 2, 1, 0), stx("w", 10, -4, 2), mov(0, 0), EXIT) == set()
    assert zext(ldx("w", 2, 1, 0), stx("dw", 10, -8, 2), mov(0, 0), EXIT) == {0}
    assert zext(ldx("b", 2, 1, 0), addr(2, 1), mov(0, 0), EXIT) == {0}
    assert zext(ldx("dw", 2, 1, 0), addr(2, 1), mov(0, 0), EXIT) == set()   # not a 32-bit def


def test_a_memory_base_is_a_64_bit_use():
    # pc 0 is the base of pc 1's load; pc 1's byte, zero-extended, is returned
    assert zext(ldx("w", 2, 1, 0), ldx("b", 0, 2, 0), EXIT) == {0, 1}
    assert zext(ldx("w", 2, 1, 0), ldx("dw", 0, 2, 0), EXIT) == {0}


def test_redefinition_kills():
    assert zext(mov32(1, 1), mov(1, 5), movr(0, 1), EXIT) == set()


def test_shift_count_uses_only_the_low_bits():
    assert zext(mov32(2, 3), mov(0, 1), lshr(0, 2), EXIT) == set()
    # but the shifted value is a full use
    assert zext(mov32(0, 3), mov(2, 1), lshr(0, 2), EXIT) == {0}


def test_sign_extending_move_reads_the_low_bits():
    assert zext(mov32(1, -1), movsx(0, 1, 32), EXIT) == set()


def test_live_on_one_path_is_live():
    # 0: w1 = 1 | 1: if w1 == 0 goto 4 | 2: r0 = r1 | 3: exit | 4: w0 = 0 | 5: exit
    jeq32 = Insn(0x16, 1, 0, 2, 0)
    assert zext(mov32(1, 1), jeq32, movr(0, 1), EXIT, mov32(0, 0), EXIT) == {0, 4}
    # the same with the 64-bit read only on the jumped-to path
    assert zext(mov32(1, 1), jeq32, mov32(0, 0), EXIT, movr(0, 1), EXIT) == {0, 2}


def test_live_around_a_loop():
    # 0: w1 = 0 | 1: r0 = r1 | 2: w1 += 1 | 3: if w1 < 10 goto 1 | 4: exit
    # pc 2's result reaches pc 1 (a 64-bit read) through the back edge
    jlt32 = Insn(0xA6, 1, 0, -3, 10)
    assert zext(mov32(1, 0), movr(0, 1), add32(1, 1), jlt32, EXIT) == {0, 2}


def test_helper_arguments_and_callee_saved_registers():
    assert zext(mov32(1, 1), call(7), EXIT) == {0}                   # r1 is an argument
    assert zext(mov32(6, 1), call(7), movr(0, 6), EXIT) == {0}       # r6 survives the call
    assert zext(mov32(6, 1), call(7), EXIT) == set()                 # r0 from the call


def test_local_call_arguments_and_subprogram_exit():
    facts = facts_unchecked(build(
        main=[mov32(1, 1), Call("f"), EXIT],
        f=[mov32(6, 1), mov32(0, 2), EXIT]))
    # main: w1 is an argument (pc 0); f: only r0 is live at its exit (pc 4), not r6 (pc 3)
    assert facts.zext_needed == {0, 4}


def test_ld_abs_is_a_32_bit_def_of_r0():
    ldabs = Insn(0x28, 0, 0, 0, 12)
    assert zext(movr(6, 1), ldabs, EXIT) == {1}
    assert zext(movr(6, 1), ldabs, Insn(0x54, 0, 0, 0, 1), EXIT) == {2}   # w0 &= 1


def test_byte_swaps():
    be16 = Insn(0xDC, 1, 0, 0, 16)          # r1 = be16 r1: 32-bit def
    be64 = Insn(0xDC, 1, 0, 0, 64)
    bswap16 = Insn(0xD7, 1, 0, 0, 16)       # ALU64 bswap16: still a 32-bit def
    assert zext(mov(1, 1), be16, movr(0, 1), EXIT) == {1}
    assert zext(mov(1, 1), be64, movr(0, 1), EXIT) == set()
    assert zext(mov(1, 1), bswap16, movr(0, 1), EXIT) == {1}
    assert zext(mov(1, 1), bswap16, mov32r(0, 1), EXIT) == {2}


def test_atomic_fetch_of_a_word():
    fetch_add_w = Insn(0xC3, 10, 1, -8, 0x01)     # w1 = atomic_fetch_add((u32 *)(r10 - 8), w1)
    fetch_add_dw = Insn(0xDB, 10, 1, -8, 0x01)
    pre = [st("dw", 10, -8, 0), mov(1, 1)]
    assert zext(*pre, fetch_add_w, movr(0, 1), EXIT) == {2}
    assert zext(*pre, fetch_add_dw, movr(0, 1), EXIT) == set()
    cmpxchg_w = Insn(0xC3, 10, 1, -8, 0xF1)       # w0 = cmpxchg((u32 *)(r10 - 8), w0, w1)
    assert zext(*pre, mov(0, 0), cmpxchg_w, EXIT) == {3}


# --------------------------------------------------------------------- facts and describe

def test_registers_read_and_written():
    f = clean(prog(movr(6, 1), ldx("w", 7, 6, 0), add32r(7, 7), mov(0, 0), EXIT)).functions[0]
    assert f.regs_read == frozenset({0, 1, 6, 7})
    assert f.regs_written == frozenset({0, 6, 7})
    f = clean(prog(mov(1, 0), call(7), EXIT)).functions[0]
    assert f.regs_written == frozenset({0, 1, 2, 3, 4, 5})   # a call changes r0-r5


def test_maps_from_map_value_lddw():
    p = Program("main", [lddw(1, (16 << 32) | 1, src=2), ldx("w", 0, 1, 0), EXIT],
                [Function("main", 0, 4)],
                maps=[MapDef("a", 2, 4, 4, 1), MapDef("b.data", 2, 4, 32, 1)], file="t.o")
    assert clean(p).functions[0].maps == frozenset({1})


def test_describe_summarises_like_bpftool():
    p = build(main=[lddw(1, 0, src=1), movr(2, 10), add(2, -8), st("dw", 2, 0, 0), call(1),
                    mov(1, 0), Call("f"), EXIT],
              f=[st("dw", 10, -16, 0), mov(0, 0), EXIT])
    p.maps.append(MapDef("counts", 2, 4, 8, 4))
    p.prog_type = "xdp"
    info = describe(p, analyse(p))
    assert info["name"] == "main" and info["type"] == "xdp"
    assert info["insns"] == 11 and info["slots"] == 12        # 8 + 3 insns, one LDDW
    assert info["maps"] == [{"index": 0, "name": "counts", "type": 2}]
    assert info["helpers"][0]["id"] == 1
    assert info["stack"] == {"total": 32, "chain": ["main", "f"]}
    main, f = info["functions"]
    assert (main["name"], main["stack_depth"], main["callees"]) == ("main", 8, ["f"])
    assert (f["name"], f["stack_depth"], f["stack_reason"]) == ("f", 16, None)
    try:
        import jit.helpers                  # written separately; describe works without it
    except ImportError:
        assert info["helpers"][0]["name"] is None
    else:
        if 1 in getattr(jit.helpers, "KERNEL", {}):
            assert info["helpers"][0]["name"] == "map_lookup_elem"


def test_describe_gives_the_fallback_reason():
    p = prog(ldx("w", 6, 1, 0), movr(2, 10), addr(2, 6), st("b", 2, -1, 0), mov(0, 0), EXIT)
    fn = describe(p, analyse(p))["functions"][0]
    assert fn["stack_depth"] == 512 and "pc 3" in fn["stack_reason"]


def test_all_problems_are_collected_in_pc_order():
    p = prog(movr(0, 3), Insn(0x37, 0, 0, 0, 0), movr(10, 0), call(99), mov(0, 0))
    found = check(p, helpers={1})
    assert [e.pc for e in found] == [0, 1, 2, 3, 4]
    assert all(e.func == "main" and e.file == "t.o" for e in found)
    assert str(found[0]).startswith("t.o: main: pc 0: ")


def test_a_long_program_is_analysed_without_recursion_trouble():
    # 30,000 blocks in a chain of forward branches: no Python recursion anywhere
    body = []
    for k in range(30_000):
        body += [jeq(1, k, 1), add32(0, 1)]
    p = prog(mov32(0, 0), *body, EXIT)
    facts = clean(p)
    assert len(facts.functions[0].blocks) == 60_001
    assert facts.zext_needed == frozenset(range(0, 60_001, 2))


# --------------------------------------------------------------------- against the kernel

BUILD = os.path.join(os.path.dirname(__file__), "progs", "build")
FIXTURES = sorted(glob.glob(os.path.join(BUILD, "*.el[34].o")))

# programs the kernel cannot take from our raw loader, and why
NEEDS_BTF = {"xdp_callbacks": "the kernel wants BTF func_info for callback subprograms, "
                              "which a load without BTF does not give"}


def _fixture_programs():
    try:
        from jit.elf import load
    except ImportError:
        return []
    out = []
    for path in FIXTURES:
        for p in load(path).programs:
            out.append(pytest.param(p, id=f"{os.path.basename(path)}:{p.name}"))
    return out


@pytest.fixture(scope="module")
def kernel_depths():
    try:
        from jit.testing import kernel
    except ImportError:
        pytest.skip("jit.testing.kernel is not there yet")
    ok, why = kernel.available()
    if not ok:
        pytest.skip(why)
    from tests.check_progs.kernel_depth import request, stack_depths
    progs = [param.values[0] for param in _fixture_programs()]
    answers = stack_depths([request(p) for p in progs])
    return {(p.file, p.name): a for p, a in zip(progs, answers)}


_PROGRAMS = _fixture_programs()


@pytest.mark.skipif(not _PROGRAMS, reason="no fixture objects (tests/progs/build) or no jit.elf")
@pytest.mark.parametrize("p", _PROGRAMS)
def test_stack_depths_equal_the_kernel_verifiers(p, kernel_depths):
    facts = analyse(p)
    ours = [f.stack_depth for f in sorted(facts.functions, key=lambda f: f.start)]
    theirs = kernel_depths[(p.file, p.name)]
    if isinstance(theirs, str):
        pytest.skip(f"the kernel refused {p.name}: {NEEDS_BTF.get(p.name, theirs)}")
    assert ours == theirs
    assert all(f.depth_reason is None for f in facts.functions)


def test_raw_programs_receive_r1_and_r2():
    """Raw bytecode runs with r1 = memory block and r2 = its length (uBPF, bpf_conformance)."""
    from jit import isa
    from jit.analysis import check
    from jit.isa import Insn
    from jit.program import from_bytecode
    code = [Insn(isa.Cls.ALU64 | isa.Alu.MOV | isa.Src.X, 0, 2), Insn(isa.EXIT)]
    raw = from_bytecode(isa.encode(code))
    assert check(raw) == []
    raw.prog_type = "xdp"
    assert any("r2" in p.msg for p in check(raw))
