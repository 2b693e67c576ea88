"""Emission units of the MIPS64 backend: listings, frames, branch forms, constants.

Golden listings are small LIR programs compiled and disassembled by capstone
(register names rewritten from capstone's o32 spelling to n64's), written by
hand from the MIPS64 manual and the backend's documented register map.  The
branch forms of branches.py and the constant sequences are checked by running
them under Unicorn, an independent MIPS64r2 implementation.
"""
from __future__ import annotations

import re

import capstone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
from backends.mips64 import abi, branches
from backends.mips64 import enc as E
from backends.mips64.emit import li_words
from backends.mips64.enc import Gpr
from backends.mips64.regs import HOMES, ROTATION_RING, regmap
from jit import lir
from jit.lir import (Alu, Branch, CallHelper, CallLocal, Cond, Exit, Imm, Label, LirFunc,
                     LirProgram, Load, Op, Store, Symbol, SymKind, Zext)

BASE = 0x6000_0000
HELPER_BASE = 0x5000_0000

# capstone spells registers 8..15 the o32 way (t0..t7); n64 calls them a4..a7, t0..t3
_N64 = {"$t0": "$a4", "$t1": "$a5", "$t2": "$a6", "$t3": "$a7",
        "$t4": "$t0", "$t5": "$t1", "$t6": "$t2", "$t7": "$t3"}


def n64(text: str) -> str:
    return re.sub(r"\$t[0-7]\b", lambda m: _N64[m.group(0)], text)


def disasm(code: bytes, order: str = "big", base: int = BASE) -> list[str]:
    mode = capstone.CS_MODE_MIPS64 | (capstone.CS_MODE_BIG_ENDIAN if order == "big"
                                      else capstone.CS_MODE_LITTLE_ENDIAN)
    md = capstone.Cs(capstone.CS_ARCH_MIPS, mode)
    return [n64(f"{i.mnemonic} {i.op_str}".strip()) for i in md.disasm(code, base)]


def link(sym: Symbol) -> int:
    if sym.kind == SymKind.HELPER:
        return HELPER_BASE + 16 * sym.index
    if sym.kind == SymKind.TAIL_COUNT:
        return 0x7000_0000
    return 0x4000_0000 + 32 * sym.index


def func(ops, *, depth=0, index=0, name="f", calls=False) -> LirFunc:
    regs: set = set()
    for op in ops:
        for field in ("dst", "src", "base", "a", "b"):
            v = getattr(op, field, None)
            if type(v) is int:
                regs.add(v)
        if isinstance(op, (CallHelper, CallLocal)):
            regs |= {0, 1, 2, 3, 4, 5}
        if isinstance(op, Exit):
            regs.add(0)
    return LirFunc(name=name, index=index, start_pc=0, ops=list(ops), stack_depth=depth,
                   regs_used=frozenset(regs), calls=calls, tail_calls=False, n_labels=0)


def compile_funcs(funcs, order="big", n_labels=8, **options):
    prog = LirProgram(name="t", funcs=list(funcs), byteorder=order, map_count=0,
                      tail_calls=False, n_labels=n_labels)
    return backends.get("mips", byteorder=order, **options).compile(prog, link=link, base=BASE)


def listing(ops, order="big", **kw) -> list[str]:
    return disasm(compile_funcs([func(ops, **kw)], order).code, order)


# ---------------------------------------------------------------- golden listings

def test_leaf_return_fills_its_delay_slot():
    """No frame, no saves: the result move rides in `jr ra`'s delay slot."""
    assert listing([Alu(Op.MOV, 64, 0, Imm(1), 0), Exit(1)]) == [
        "jr $ra",
        "daddiu $v0, $zero, 1",
    ]


def test_alu32_uses_64_bit_forms_unless_inputs_are_sign_extended():
    """w1 += w2 on unknown inputs is daddu (same low half); a Zext is one dext.  Once
    both are sign-extended (w = imm is), addu keeps the result sign-extended."""
    ops = [Alu(Op.ADD, 32, 1, 2, 0), Zext(1, 0),
           Alu(Op.MOV, 32, 3, Imm(-5), 1), Alu(Op.MOV, 32, 4, Imm(9), 2),
           Alu(Op.ADD, 32, 3, 4, 3), Alu(Op.RSH, 32, 3, 4, 4),
           Alu(Op.MOV, 64, 0, 3, 5), Exit(6)]
    assert listing(ops) == [
        "daddu $a0, $a0, $a1",
        "dext $a0, $a0, 0, 0x20",
        "daddiu $a2, $zero, -5",
        "daddiu $a3, $zero, 9",
        "addu $a2, $a2, $a3",
        "srlv $a2, $a2, $a3",         # input known sign-extended: no sll first
        "jr $ra",
        "move $v0, $a2",
    ]


def test_32_bit_shift_right_by_constant_is_one_dext():
    ops = [Alu(Op.RSH, 32, 1, Imm(5), 0), Zext(1, 0), Alu(Op.MOV, 64, 0, 1, 1), Exit(2)]
    assert listing(ops) == [
        "dext $a0, $a0, 5, 0x1b",     # bits 5..31, already zero-extended: no Zext word
        "jr $ra",
        "move $v0, $a0",
    ]


def test_mov_then_op_is_one_three_operand_instruction():
    ops = [Alu(Op.MOV, 64, 0, 6, 0), Alu(Op.ADD, 64, 0, Imm(8), 1),
           Alu(Op.MOV, 64, 3, 1, 2), Alu(Op.SUB, 64, 3, 3, 3),     # r3 = r1; r3 -= r3
           Exit(4)]
    assert listing(ops) == [
        "daddiu $sp, $sp, -0x10",
        "sd $s0, 8($sp)",
        "daddiu $v0, $s0, 8",
        "ld $s0, 8($sp)",
        "daddiu $sp, $sp, 0x10",       # the frame is popped first so that
        "jr $ra",
        "dsubu $a2, $a0, $a0",         # the independent last word fills the slot
    ]


def test_branch_takes_an_independent_instruction_into_its_delay_slot():
    ops = [Alu(Op.MOV, 64, 4, Imm(3), 0),
           Branch(Cond.GT, 64, 1, 2, 0, 1),                # r4 = 3 is independent: moved
           Alu(Op.ADD, 64, 1, Imm(1), 2),
           Branch(Cond.EQ, 64, 1, Imm(0), 0, 3),           # r1 += 1 feeds it: stays
           Label(0, 4), Alu(Op.MOV, 64, 0, 4, 4), Exit(5)]
    assert listing(ops) == [
        "sltu $t0, $a1, $a0",
        "bnez $t0, 0x60000018",
        "daddiu $a3, $zero, 3",
        "daddiu $a0, $a0, 1",
        "beqz $a0, 0x60000018",
        "nop",
        "jr $ra",
        "move $v0, $a3",
    ]


def test_jump32_compares_sign_extended_low_halves():
    """A 32-bit compare of registers with unknown upper halves sign-extends copies
    (the registers keep their 64-bit values); unsigned and signed alike."""
    ops = [Branch(Cond.LT, 32, 1, 2, 0, 0), Label(0, 1), Alu(Op.MOV, 64, 0, 1, 1), Exit(2)]
    assert listing(ops) == [
        "sll $t2, $a0, 0",
        "sll $t1, $a1, 0",
        "sltu $t0, $t2, $t1",
        "bnez $t0, 0x60000014",
        "nop",
        "jr $ra",
        "move $v0, $a0",
    ]


def test_helper_call_loads_t9_and_fills_the_jalr_slot():
    c = compile_funcs([func([Alu(Op.MOV, 64, 1, Imm(7), 0), CallHelper(5, 1), Exit(2)],
                            calls=True)])
    assert disasm(c.code) == [
        "daddiu $sp, $sp, -0x10",
        "sd $ra, 8($sp)",
        "lui $t9, 0x5000",
        "daddiu $t9, $t9, 0x50",
        "jalr $t9",
        "daddiu $a0, $zero, 7",          # r1 = 7 runs in the delay slot, before the helper
        "ld $ra, 8($sp)",
        "jr $ra",
        "daddiu $sp, $sp, 0x10",
    ]
    sym = Symbol(SymKind.HELPER, 5, "helper#5")
    assert [(r.offset, r.kind, r.sym) for r in c.relocs] == [(8, "hi16", sym), (12, "lo16", sym)]


def test_loads_use_unaligned_forms_only_without_known_alignment():
    """r1 on entry and r10 are aligned: plain lwu and ld.  A pointer loaded from memory
    is not known aligned: lwl/lwr into a temporary, then dext to zero-extend; which
    of the pair takes the lower address depends on the byte order.  The eBPF stack is
    not in the native frame: a leaf using it has none."""
    ops = [Load(4, 2, 1, 8, False, 0), Load(8, 3, 10, -8, False, 1),
           Load(4, 4, 3, 0, False, 2), Alu(Op.MOV, 64, 0, 4, 3), Exit(4)]
    assert listing(ops, depth=8) == [
        "lwu $a1, 8($a0)",
        "ld $a2, -8($fp)",             # r10 - 8
        "lwl $t0, ($a2)",
        "lwr $t0, 3($a2)",
        "dext $a3, $t0, 0, 0x20",
        "jr $ra",
        "move $v0, $a3",
    ]
    assert listing(ops, order="little", depth=8)[2:4] == ["lwl $t0, 3($a2)", "lwr $t0, ($a2)"]


def test_facts_survive_a_loop_back_edge():
    """w2 is sign-extended at the loop head on every path (w2 = 0 before, addiu in the
    loop), so the signed 32-bit compare needs no sll in the loop.  The back edge has
    nothing of its own for the delay slot: branch-likely runs the loop head's first
    word there (only when taken) and lands after it."""
    ops = [Alu(Op.MOV, 32, 2, Imm(0), 0), Label(0, 1),
           Alu(Op.ADD, 32, 2, Imm(3), 1),
           Branch(Cond.SLT, 32, 2, Imm(100), 0, 2),
           Alu(Op.MOV, 64, 0, Imm(0), 3), Exit(4)]
    assert listing(ops) == [
        "daddiu $a1, $zero, 0",
        "addiu $a1, $a1, 3",           # the loop head, 0x60000004
        "slti $t0, $a1, 0x64",
        "bnel $t0, $zero, 0x60000008",
        "addiu $a1, $a1, 3",
        "jr $ra",
        "daddiu $v0, $zero, 0",
    ]


def test_loop_constants_live_in_registers():
    """A constant a loop needs is loaded once, before the loop, into a spare register."""
    ops = [Alu(Op.MOV, 64, 2, Imm(0), 0), Label(0, 1),
           Alu(Op.XOR, 64, 2, Imm(0x1234_5678), 1),
           Alu(Op.ADD, 64, 1, Imm(-1), 2),
           Branch(Cond.NE, 64, 1, Imm(0), 0, 3),
           Alu(Op.MOV, 64, 0, 2, 4), Exit(5)]
    words = listing(ops)
    assert words[:2] == ["lui $t8, 0x1234", "ori $t8, $t8, 0x5678"]
    assert "xor $a1, $a1, $t8" in words and words.count("lui $t8, 0x1234") == 1


# ---------------------------------------------------------------- frames

def frame_words(depth, uses, calls=False):
    ops = [Store(8, 10, -depth, r, 0) for r in uses] if depth else \
          [Alu(Op.MOV, 64, r, Imm(1), 0) for r in uses]
    return listing(ops + [Alu(Op.MOV, 64, 0, Imm(0), 1), Exit(2)], depth=depth)


def test_prologue_saves_only_the_callee_saved_registers_used():
    words = frame_words(0, [7, 9])                           # r7 = s1, r9 = s3
    saves = [w for w in words if w.startswith("sd ")]
    assert saves == ["sd $s1, 8($sp)", "sd $s3, ($sp)"]
    assert frame_words(0, [1, 2, 3]) == ["daddiu $a0, $zero, 1", "daddiu $a1, $zero, 1",
                                         "daddiu $a2, $zero, 1", "jr $ra",
                                         "daddiu $v0, $zero, 0"]


@pytest.mark.parametrize("depth,disp", [(8, "-8"), (16, "-0x10"), (24, "-0x18"),
                                        (512, "-0x200")])
def test_the_ebpf_stack_is_fp_relative_and_outside_the_native_frame(depth, disp):
    """The eBPF stack is the STACK region below r10 (fp): no native frame for it."""
    words = frame_words(depth, [1])
    assert words == [f"sd $a0, {disp}($fp)", "jr $ra", "daddiu $v0, $zero, 0"]


def test_frames_hold_only_saved_registers():
    """ra and the s-registers used, 16-byte aligned; never fp (r10), which every
    function gives back as it got it."""
    f = abi.frame_for({Gpr.S0, Gpr.S2, Gpr.FP}, calls=True)
    offs = dict(f.saved)
    assert list(offs) == [Gpr.RA, Gpr.S0, Gpr.S2]
    assert f.size == 32 and sorted(offs.values()) == [8, 16, 24]


def test_local_call_lowers_r10_by_the_callers_depth_around_the_call():
    """The callee's r10 is the caller's less the caller's stack depth: fp goes down in
    the `bal` delay slot and back up before r10 is read as a value, so no function
    saves fp.  A stack pointer for a helper is one daddiu from fp."""
    main = func([Store(8, 10, -8, 6, 0), CallLocal(1, 1),
                 Alu(Op.MOV, 64, 1, 10, 2), Alu(Op.ADD, 64, 1, Imm(-16), 2),
                 CallHelper(1, 3), Exit(4)], depth=16, calls=True)
    sub = func([Load(8, 0, 10, -8, False, 0), Exit(1)], depth=8, index=1, name="g")
    assert disasm(compile_funcs([main, sub]).code) == [
        "daddiu $sp, $sp, -0x10",
        "sd $ra, 8($sp)",
        "sd $s0, ($sp)",
        "sd $s0, -8($fp)",
        "bal 0x6000003c",
        "daddiu $fp, $fp, -0x10",      # (delay slot) the callee's r10
        "daddiu $fp, $fp, 0x10",       # ours again: r1 = r10 - 16 reads it
        "lui $t9, 0x5000",
        "daddiu $t9, $t9, 0x10",
        "jalr $t9",
        "daddiu $a0, $fp, -0x10",      # r1 = r10 - 16, in the helper call's delay slot
        "ld $ra, 8($sp)",
        "ld $s0, ($sp)",
        "jr $ra",
        "daddiu $sp, $sp, 0x10",
        "ld $v0, -8($fp)",             # g: its own frame, below main's
        "jr $ra",
        "nop",
    ]


def test_back_to_back_calls_lower_r10_once():
    """Between two calls only a stack access: fp stays at the callee's r10 and the
    access's displacement absorbs the difference; fp is r10 again in the return's
    delay slot."""
    main = func([Store(8, 10, -8, 6, 0), CallLocal(1, 1), Load(8, 1, 10, -8, False, 2),
                 CallLocal(1, 3), Alu(Op.ADD, 64, 0, Imm(1), 4), Exit(5)],
                depth=16, calls=True)
    sub = func([Load(8, 0, 10, -8, False, 0), Exit(1)], depth=8, index=1, name="g")
    assert disasm(compile_funcs([main, sub]).code)[3:15] == [
        "sd $s0, -8($fp)",
        "bal 0x6000003c",
        "daddiu $fp, $fp, -0x10",      # (delay slot) fp = r10 - 16
        "ld $a0, 8($fp)",              # r10 - 8
        "bal 0x6000003c",
        "nop",
        "daddiu $v0, $v0, 1",
        "ld $ra, 8($sp)",
        "ld $s0, ($sp)",
        "daddiu $sp, $sp, 0x10",
        "jr $ra",
        "daddiu $fp, $fp, 0x10",       # (delay slot) fp = r10 for our caller
    ]


def test_rotation_moves_every_home_and_never_onto_a_temporary():
    for k in range(len(ROTATION_RING)):
        homes = regmap(k)[:10]
        assert len(set(homes)) == 10
        assert (homes == HOMES) == (k == 0)


def test_rotation_is_ignored_when_the_program_calls():
    ops = [Alu(Op.MOV, 64, 1, Imm(2), 0), CallHelper(1, 1), Exit(2)]
    plain = compile_funcs([func(ops, calls=True)])
    rotated = compile_funcs([func(ops, calls=True)], rotate=5)
    assert plain.code == rotated.code


# ---------------------------------------------------------------- branch forms under Unicorn

def _uc(order):
    from unicorn import UC_ARCH_MIPS, UC_MODE_BIG_ENDIAN, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS64, Uc
    from unicorn.mips_const import UC_CPU_MIPS64_MIPS64R2_GENERIC
    uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS64 | (UC_MODE_BIG_ENDIAN if order == "big"
                                            else UC_MODE_LITTLE_ENDIAN))
    uc.ctl_set_cpu_model(UC_CPU_MIPS64_MIPS64R2_GENERIC)
    uc.mem_map(BASE, 0x100_0000)
    return uc


def _reg(r):
    from unicorn.mips_const import UC_MIPS_REG_0
    return UC_MIPS_REG_0 + int(r)


def _words(ws, order):
    return b"".join(w.to_bytes(4, order) for w in ws)


@pytest.mark.parametrize("order", ["big", "little"])
@pytest.mark.parametrize("disp", [-0x30_0000, -0x2_0008, 0x2_0000, 0x40_0000])
@pytest.mark.parametrize("taken", [True, False])
def test_long_conditional_branch_lands_and_runs_its_slot_once(order, disp, taken):
    """The long form reaches far targets both ways, runs the delay-slot word exactly
    once on both paths, and leaves ra as it was."""
    at = BASE + 0x40_0000
    slot = E.daddiu(Gpr.S0, Gpr.S0, 1)
    form = branches.cond_forms("bne", Gpr.A0, Gpr.ZERO, slot, order)[1]
    code = form.encode(disp, at)
    assert len(code) == form.size
    uc = _uc(order)
    uc.mem_write(at, code)
    after = at + form.size
    target = at + disp
    for place in (after, target):
        uc.mem_write(place, _words([E.daddiu(Gpr.V0, Gpr.ZERO, 1 if place == target else 2),
                                    E.nop()], order))
    uc.reg_write(_reg(Gpr.A0), 1 if taken else 0)
    uc.reg_write(_reg(Gpr.RA), 0x1234)
    uc.reg_write(_reg(Gpr.S0), 0)
    uc.emu_start(at, (target if taken else after) + 4)
    assert uc.reg_read(_reg(Gpr.V0)) == (1 if taken else 2)
    assert uc.reg_read(_reg(Gpr.S0)) == 1
    assert uc.reg_read(_reg(Gpr.RA)) == 0x1234


@pytest.mark.parametrize("order", ["big", "little"])
@pytest.mark.parametrize("disp", [-0x30_0000, 0x40_0000])
def test_long_jump_and_call(order, disp):
    at = BASE + 0x40_0000
    slot = E.daddiu(Gpr.S0, Gpr.S0, 1)
    for kind in ("jump", "call"):
        forms = (branches.jump_forms if kind == "jump" else branches.call_forms)(slot, order)
        code = forms[1].encode(disp, at)
        uc = _uc(order)
        uc.mem_write(at, code)
        uc.mem_write(at + disp, _words([E.daddiu(Gpr.V0, Gpr.ZERO, 5), E.nop()], order))
        uc.reg_write(_reg(Gpr.RA), 0x1234)
        uc.reg_write(_reg(Gpr.S0), 0)
        uc.emu_start(at, at + disp + 4)
        assert uc.reg_read(_reg(Gpr.V0)) == 5 and uc.reg_read(_reg(Gpr.S0)) == 1
        want_ra = 0x1234 if kind == "jump" else at + forms[1].size
        assert uc.reg_read(_reg(Gpr.RA)) == want_ra


def test_short_forms_reach_exactly_128_kib():
    short = branches.cond_forms("beq", Gpr.A0, Gpr.A1, E.nop(), "big")[0]
    assert short.fits(4 + (1 << 17) - 4) and not short.fits(4 + (1 << 17))
    assert short.fits(4 - (1 << 17)) and not short.fits(4 - (1 << 17) - 4)


# ---------------------------------------------------------------- constants under Unicorn

@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-(1 << 63), (1 << 64) - 1),
                          st.sampled_from([0, 1, -1, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000,
                                           0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                                           1 << 32, 1 << 47, 1 << 48, (1 << 63) - 1,
                                           1 << 63, 0xFFFF_0000_0000_0000])),
                min_size=1, max_size=20))
def test_li_words_materialise_any_constant(values):
    order = "big"
    code = []
    for i, v in enumerate(values):
        ws = li_words(Gpr.T0, v)
        assert 1 <= len(ws) <= 6
        code += ws + [E.sd(Gpr.T0, 8 * i, Gpr.A0)]
    uc = _uc(order)
    data = BASE + 0x20_0000
    uc.mem_write(BASE, _words(code, order))
    uc.reg_write(_reg(Gpr.A0), data)
    uc.emu_start(BASE, BASE + 4 * len(code))
    got = uc.mem_read(data, 8 * len(values))
    for i, v in enumerate(values):
        assert int.from_bytes(got[8 * i:8 * i + 8], order) == v & ((1 << 64) - 1), hex(v)


def test_li_words_are_short_for_common_constants():
    assert len(li_words(Gpr.T0, 5)) == 1
    assert len(li_words(Gpr.T0, 0xFFFF)) == 1
    assert len(li_words(Gpr.T0, -0x12345678)) == 2
    assert len(li_words(Gpr.T0, 0xFFFF_FFFF)) == 2              # daddiu -1; dext
    assert len(li_words(Gpr.T0, 0xFFFF_FFFF_FFFF)) == 2          # daddiu -1; dsrl 16
    assert len(li_words(Gpr.T0, 1 << 40)) == 2                   # ori 1; dsll 40


def test_tail_entry_skips_only_the_count_store():
    """The entry of a tail-calling program zeroes the count, then its tail_entry is
    the ordinary prologue."""
    ops = [lir.TailCall(0), Alu(Op.MOV, 64, 0, Imm(1), 1), Exit(2)]
    f = func(ops, calls=True)._replace(tail_calls=True)
    prog = LirProgram(name="t", funcs=[f], byteorder="big", map_count=1, tail_calls=True,
                      n_labels=0)
    c = backends.get("mips", byteorder="big").compile(prog, link=link, base=BASE)
    words = disasm(c.code)
    assert words[:2] == ["lui $at, 0x7000", "sw $zero, ($at)"]
    assert c.funcs[0].tail_entry == 8 and c.funcs[0].offset == 0


@pytest.mark.parametrize("addr", [0x4000_0000, 0x4000_8000, 0x7FFF_7FFF, 0x7FFF_8000,
                                  0x8000_0000, 0xFFFF_FFFF, 0x1234_5678_9ABC_DEF0,
                                  0xFFFF_FFFF_FFFF_8000, 0x8000_8000_8000_8000])
def test_address_sequences_load_the_address(addr):
    """lui/daddiu (R_MIPS_HI16/LO16) below 2 GiB, the 6-word %highest.. form above;
    the signed low parts carry into the higher ones."""
    seq = abi.addr_words(Gpr.V0, addr)
    assert len(seq) == (2 if addr < 0x7FFF_8000 else 6)
    kinds = [k for _, k in seq if k]
    assert kinds == (["hi16", "lo16"] if len(seq) == 2 else ["highest", "higher", "hi16", "lo16"])
    uc = _uc("little")
    uc.mem_write(BASE, _words([w for w, _ in seq], "little"))
    uc.emu_start(BASE, BASE + 4 * len(seq))
    assert uc.reg_read(_reg(Gpr.V0)) == addr
