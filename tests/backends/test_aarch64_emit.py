"""Emission units of the AArch64 backend: listings, frames, constants, branch forms.

Golden listings are small LIR programs compiled and disassembled by capstone,
written by hand from the A64 manual and the documented register map (r0 x7,
r1-r5 x0-x4, r6-r9 x19-x22, r10 x25).  Constant sequences and the long branch
forms run under Unicorn, an independent AArch64 implementation.
"""
from __future__ import annotations

import capstone
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
from backends.aarch64 import enc as E
from backends.aarch64.emit import mov_imm
from jit.lir import (Alu, Branch, Cond, Exit, Imm, Label, LirFunc, LirProgram, Op, Symbol,
                     SymKind)

BASE = 0x6000_0000


def link(sym: Symbol) -> int:
    return 0x5000_0000 + 16 * sym.index if sym.kind == SymKind.HELPER else 0x4000_0000


def compile_ops(ops, n_labels=4, cpu=None):
    regs = set()
    for op in ops:
        for name in ("dst", "src", "a", "b"):
            v = getattr(op, name, None)
            if type(v) is int:
                regs.add(v)
    f = LirFunc("f", 0, 0, list(ops), 0, frozenset(regs | {0}), False, False, n_labels)
    prog = LirProgram("t", [f], "little", 0, False, n_labels)
    return backends.get("aarch64", cpu=cpu).compile(prog, link=link, base=BASE)


def listing(ops, **kw) -> list[str]:
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    return [f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(compile_ops(ops, **kw).code,
                                                                  BASE)]


def test_alu32_needs_no_zero_extension_and_exit_moves_r0_to_x0():
    assert listing([Alu(Op.ADD, 32, 1, 2, 0), Alu(Op.MOV, 64, 0, 1, 1), Exit(2)]) == [
        "add w0, w0, w1", "mov x7, x0", "mov x0, x7", "ret"]


def test_mov_then_op_is_one_three_operand_instruction():
    assert listing([Alu(Op.MOV, 64, 0, 1, 0), Alu(Op.ADD, 64, 0, Imm(8), 1), Exit(2)]) == [
        "add x7, x0, #8", "mov x0, x7", "ret"]


def test_rotation_idiom_is_one_ror():
    """t = a >> 28; d = a << 4; d |= t (t dead after) is `ror d, a, #28`."""
    ops = [Alu(Op.MOV, 32, 5, 1, 0), Alu(Op.RSH, 32, 5, Imm(28), 1),
           Alu(Op.MOV, 32, 0, 1, 2), Alu(Op.LSH, 32, 0, Imm(4), 3),
           Alu(Op.OR, 32, 0, 5, 4), Alu(Op.MOV, 64, 5, Imm(0), 5), Exit(6)]
    assert listing(ops) == ["ror w7, w0, #0x1c", "mov w4, #0", "mov x0, x7", "ret"]


def test_logical_immediate_and_register_fallback():
    ops = [Alu(Op.AND, 64, 0, Imm(0xFF), 0), Alu(Op.XOR, 32, 0, Imm(0x12345), 1), Exit(2)]
    assert listing(ops) == ["and x7, x7, #0xff", "mov w11, #0x2345", "movk w11, #1, lsl #16",
                            "eor w7, w7, w11", "mov x0, x7", "ret"]


def test_compare_with_zero_is_cbz_and_sign_test_is_tbnz():
    ops = [Branch(Cond.EQ, 64, 1, Imm(0), 0, 0), Branch(Cond.SLT, 32, 1, Imm(0), 0, 1),
           Label(0), Exit(2)]
    got = listing(ops)
    assert got[0].startswith("cbz x0,") and got[1].startswith("tbnz w0, #0x1f,")


def test_far_branch_takes_the_long_form():
    """A b.cond beyond +-1 MiB becomes the inverse condition over a `b`."""
    pad = [Alu(Op.ADD, 64, 2, 3, 1)] * ((1 << 18) + 8)
    ops = [Branch(Cond.GT, 64, 1, 2, 0, 0)] + pad + [Label(0), Exit(2)]
    code = compile_ops(ops).code
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    first = [f"{i.mnemonic}" for i in md.disasm(code[:12], BASE)]
    assert first == ["cmp", "b.ls", "b"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, (1 << 64) - 1), st.sampled_from((32, 64)))
def test_mov_imm_loads_the_value_under_unicorn(value, bits):
    from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc
    from unicorn.arm64_const import UC_ARM64_REG_X3
    words = mov_imm(E.Gpr.X3, value, bits)
    assert len(words) <= (2 if bits == 32 else 4)
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(0x1000, 0x1000)
    code = b"".join(w.to_bytes(4, "little") for w in words)
    uc.mem_write(0x1000, code)
    uc.reg_write(UC_ARM64_REG_X3, 0xDEAD_BEEF_DEAD_BEEF)
    uc.emu_start(0x1000, 0x1000 + len(code))
    assert uc.reg_read(UC_ARM64_REG_X3) == value & ((1 << bits) - 1)
