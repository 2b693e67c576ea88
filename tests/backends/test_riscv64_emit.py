"""Emission units of the RISC-V 64 backend: listings, frames, branch forms, constants.

Golden listings are small LIR programs compiled and disassembled by capstone,
written by hand from the RISC-V manual and the backend's documented register
map (regs.py: r0=a5, r1-r5=a0-a4, r6-r9=s1-s4, r10=s5).  The constant
sequences and the long branch forms are checked by running them under
Unicorn, an independent RV64GC implementation.
"""
from __future__ import annotations

import capstone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
from backends.riscv64 import enc as E
from backends.riscv64.emit import Asm, branch_forms, jump_forms
from backends.riscv64.enc import Gpr
from backends.riscv64.regs import HOMES, ROTATION_RING, TEMPS, regmap
from jit.lir import (Alu, Branch, CallHelper, CallLocal, Cond, Exit, Imm, Jump, Label,
                     LirFunc, LirProgram, Load, Op, Store, Symbol, SymKind, Zext)

BASE = 0x6000_0000
HELPER_BASE = 0x5000_0000


def disasm(code: bytes, base: int = BASE) -> list[str]:
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    out = [f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(code, base)]
    assert sum(len(i.bytes) for i in md.disasm(code, base)) == len(code)
    return out


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


def compile_funcs(funcs, n_labels=8, **options):
    prog = LirProgram(name="t", funcs=list(funcs), byteorder="little", map_count=0,
                      tail_calls=False, n_labels=n_labels)
    return backends.get("riscv64", **options).compile(prog, link=link, base=BASE)


def listing(ops, **kw) -> list[str]:
    cpu = kw.pop("cpu", None)
    return disasm(compile_funcs([func(ops, **kw)], cpu=cpu).code)


# ---------------------------------------------------------------- golden listings
def test_leaf_without_saved_registers_has_no_frame():
    assert listing([Alu(Op.ADD, 64, 0, 1, 0), Exit(1)]) == [
        "c.add a5, a0",
        "c.mv a0, a5",             # r0 -> a0
        "c.jr ra",
    ]


def test_rv64g_emits_no_compressed_instruction():
    assert listing([Alu(Op.ADD, 64, 0, 1, 0), Exit(1)], cpu="rv64g") == [
        "add a5, a5, a0", "mv a0, a5", "ret"]


def test_prologue_saves_only_ra_and_the_callee_saved_registers_used():
    code = listing([Alu(Op.MOV, 64, 6, 1, 0), CallHelper(1, 1), Alu(Op.ADD, 64, 0, 6, 2),
                    Exit(3)], calls=True)
    assert code[:3] == ["c.addi16sp sp, -0x10", "c.sdsp ra, 8(sp)", "c.sdsp s1, 0(sp)"]
    assert code[-5:] == ["c.mv a0, a5", "c.ldsp ra, 8(sp)", "c.ldsp s1, 0(sp)",
                         "c.addi16sp sp, 0x10", "c.jr ra"]


def test_helper_call_is_auipc_jalr_then_the_result_into_a5():
    code = listing([CallHelper(2, 0), Exit(1)], calls=True)
    # 0x50000020 - 0x60000006: auipc ra, -0x10000; jalr ra, 0x1a(ra) (lo = 0x1a after the
    # prologue's 6 bytes moved the auipc to 0x60000006)
    i = code.index("c.mv a5, a0")
    assert code[i - 2].startswith("auipc ra, ") and code[i - 1].startswith("jalr ra, ")


def test_local_call_lowers_r10_by_the_callers_depth_around_the_call():
    main = func([CallLocal(1, 0), Exit(1)], depth=16, calls=True)
    sub = func([Load(8, 0, 10, -8, False, 0), Exit(1)], index=1, name="g", depth=8)
    code = disasm(compile_funcs([main, sub]).code)
    i = next(i for i, t in enumerate(code) if t.startswith("jal "))     # jal ra (capstone: jal)
    assert code[i - 1] == "c.addi s5, -0x10" and code[i + 1] == "c.addi s5, 0x10"
    assert "ld a5, -8(s5)" in code          # g reads its own frame through r10


def test_jump32_sign_extends_each_operand_once_unless_known():
    code = listing([Label(0), Branch(Cond.LT, 32, 1, 2, 0, 0), Exit(1)])
    assert code[:3] == ["sext.w t1, a0", "sext.w t2, a1", "bltu t1, t2, -8"]
    # an addw result is sign-extended already: no sext.w of it
    code = listing([Label(0), Alu(Op.ADD, 32, 1, 2, 0), Branch(Cond.SGT, 32, 1, Imm(5), 0, 1),
                    Exit(2)])
    assert code[:3] == ["c.addw a0, a1", "c.li t2, 5", "blt t2, a0, -4"]


def test_zext_is_two_compressed_shifts():
    assert listing([Alu(Op.ADD, 32, 1, 2, 0), Zext(1, 0), Alu(Op.MOV, 64, 0, 1, 1), Exit(2)])[:3] \
        == ["c.addw a0, a1", "c.slli a0, 0x20", "c.srli a0, 0x20"]


def test_frames_hold_only_saved_registers_and_r10_is_never_saved():
    for f in (func([Store(8, 10, -8, 6, 0), Exit(1)], depth=8),):
        code = disasm(compile_funcs([f]).code)
        assert "c.sdsp s1, 8(sp)" in code and not any("s5" in t and "sdsp" in t for t in code)


# ---------------------------------------------------------------- rotation
def test_rotation_moves_every_home_and_never_onto_a_temporary():
    seen = set()
    for k in range(len(ROTATION_RING)):
        m = regmap(k)
        assert len(set(m[:10])) == 10 and not set(m) & TEMPS
        seen |= set(m[:10])
    assert seen == set(ROTATION_RING)
    assert regmap(0)[:10] == HOMES


# ---------------------------------------------------------------- constants under Unicorn
def _run(code: bytes, regs: dict | None = None) -> dict:
    from unicorn import Uc, UC_ARCH_RISCV, UC_MODE_RISCV64
    from unicorn.riscv_const import UC_RISCV_REG_X0
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map(0x10000, 0x100000)
    uc.mem_write(0x10000, code)
    for r, v in (regs or {}).items():
        uc.reg_write(UC_RISCV_REG_X0 + r, v)
    uc.emu_start(0x10000, 0x10000 + len(code))
    return {r: uc.reg_read(UC_RISCV_REG_X0 + r) for r in range(32)}


EDGES = [0, 1, -1, 31, 32, -32, 2047, 2048, -2048, -2049, 0x7FFFF7FF, 0x7FFFF800, 0x7FFFFFFF,
         -0x80000000, 0x80000000, 0xFFFFFFFF, 0x1_0000_0000, 0x123456789ABCDEF0,
         -0x123456789ABCDEF0, (1 << 63) - 1, -(1 << 63), 0xFFFF_FFFF_0000_0000, 0x8000_0800]


@pytest.mark.parametrize("rvc", [True, False])
def test_li_edges_run(rvc):
    a = Asm(rvc)
    for v in EDGES:
        got = _run(E.to_bytes(a.li(Gpr.A0, v)))[Gpr.A0]
        assert got == v & (1 << 64) - 1, hex(v)


@settings(max_examples=150, deadline=None)
@given(st.integers(-(1 << 63), (1 << 64) - 1))
def test_li_runs(v):
    a = Asm(True)
    seq = a.li(Gpr.S3, v)
    assert len(seq) <= 8
    assert _run(E.to_bytes(seq))[Gpr.S3] == v & (1 << 64) - 1


@pytest.mark.parametrize("form", range(4))
@pytest.mark.parametrize("taken", [True, False])
def test_every_branch_form_lands(form, taken):
    """beqz a0 in each of its forms (c.beqz, beq, inverted beq + jal, + auipc/jalr): the
    taken path sets a1 = 1 at the target, the fall-through a1 = 2."""
    forms = branch_forms(E.BEQ, Gpr.A0, Gpr.ZERO, True)
    f = forms[form]
    disp = {0: 100, 1: 2000, 2: 100_000, 3: 100_000}[form]
    code = f.encode(disp, 0x10000)
    fall = code + E.to_bytes([E.addi(Gpr.A1, 0, 2)])
    pad = disp - len(fall)
    code = fall + bytes(pad) if pad >= 0 else None
    assert code is not None
    # the fall-through path stops before the padding; the taken one runs the target
    target = E.to_bytes([E.addi(Gpr.A1, 0, 1)])
    prog = code + target
    from unicorn import Uc, UC_ARCH_RISCV, UC_MODE_RISCV64
    from unicorn.riscv_const import UC_RISCV_REG_A0, UC_RISCV_REG_A1, UC_RISCV_REG_PC
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map(0x10000, 0x100000)
    uc.mem_write(0x10000, prog)
    uc.reg_write(UC_RISCV_REG_A0, 0 if taken else 5)
    end = 0x10000 + disp + 4 if taken else 0x10000 + len(fall)
    uc.emu_start(0x10000, end, count=4)
    assert uc.reg_read(UC_RISCV_REG_A1) == (1 if taken else 2)
    assert uc.reg_read(UC_RISCV_REG_PC) == end


def test_branch_forms_are_chosen_by_distance():
    assert [f.size for f in branch_forms(E.BEQ, Gpr.A0, Gpr.ZERO, True)] == [2, 4, 8, 12]
    assert [f.size for f in branch_forms(E.BLT, Gpr.A0, Gpr.A1, True)] == [4, 8, 12]
    assert [f.size for f in jump_forms(True)] == [2, 4, 8]
    assert [f.size for f in jump_forms(False)] == [4, 8]


def test_a_far_branch_relaxes_to_the_jal_form():
    ops = [Branch(Cond.EQ, 64, 1, Imm(0), 1, 0)]
    ops += [Alu(Op.ADD, 64, 1, Imm(1000), 1)] * 1200       # 4 bytes each: beyond +-4 KiB
    ops += [Label(1), Exit(2)]
    code = disasm(compile_funcs([func(ops)]).code)
    assert code[0].startswith("bnez a0") and code[1].startswith("j ")
