"""Tests for backends/x86_64/enc.py, cheapest first.

1. Golden rows: (call, bytes, capstone text) for representative forms and the
   addressing corner cases (rsp/r12 need a SIB, rbp/r13 need a disp8, disp8
   and disp32 boundaries, byte registers that need an empty REX).
2. Hypothesis properties decoded by capstone in detail mode: mnemonic,
   operands (register names, immediates, memory base/disp/size) and length.
3. Byte-for-byte sweeps over all 16 registers against GNU as, llvm-mc-19 and
   keystone, one assembler run per form family.
4. Operands that do not fit raise EncodingError naming the field.
"""
from __future__ import annotations

from collections.abc import Callable

import capstone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.x86_64 import enc
from backends.x86_64.enc import Alu, Cond, Gpr, Mem, Shift
from jit.errors import EncodingError
from tests import oracles

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = Gpr.RAX, Gpr.RCX, Gpr.RDX, Gpr.RBX, Gpr.RSP, Gpr.RBP, Gpr.RSI, Gpr.RDI
R8, R9, R10, R11, R12, R13, R14, R15 = Gpr.R8, Gpr.R9, Gpr.R10, Gpr.R11, Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15

# Register names as the assemblers and capstone spell them, by operand width.
NAMES = {
    64: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + [f"r{i}" for i in range(8, 16)],
    32: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + [f"r{i}d" for i in range(8, 16)],
    16: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + [f"r{i}w" for i in range(8, 16)],
    8: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + [f"r{i}b" for i in range(8, 16)],
}
PTR = {8: "byte", 16: "word", 32: "dword", 64: "qword"}

BASE = 0x10000  # load address for decoding, so jump targets print as small positive numbers

_CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
_CS.detail = True


def decode_one(code: bytes) -> capstone.CsInsn:
    """The single instruction `code` must be, decoded in detail mode."""
    insns = list(_CS.disasm(code, BASE))
    assert len(insns) == 1, f"{code.hex(' ')} decodes as {[(i.mnemonic, i.op_str) for i in insns]}"
    assert insns[0].size == len(code), f"{code.hex(' ')}: capstone length {insns[0].size}"
    return insns[0]


# ---------------------------------------------------------------------------
# 1. Golden rows.

GOLDEN: list[tuple[Callable[[], bytes], str, str]] = [
    # register moves and constants
    (lambda: enc.mov_rr(RAX, RBX, bits=64), "48 89 d8", "mov rax, rbx"),
    (lambda: enc.mov_rr(R15, R8, bits=32), "45 89 c7", "mov r15d, r8d"),
    (lambda: enc.mov_r32_imm(RDI, 0xFFFFFFFF), "bf ff ff ff ff", "mov edi, 0xffffffff"),
    (lambda: enc.mov_r32_imm(R9, 1), "41 b9 01 00 00 00", "mov r9d, 1"),
    (lambda: enc.mov_r64_simm32(RAX, -1), "48 c7 c0 ff ff ff ff", "mov rax, 0xffffffffffffffff"),
    (lambda: enc.movabs(R11, 0x1122334455667788), "49 bb 88 77 66 55 44 33 22 11",
     "movabs r11, 0x1122334455667788"),
    (lambda: enc.alu_rr(Alu.XOR, RAX, RAX, bits=32), "31 c0", "xor eax, eax"),
    # byte registers: 4-7 without REX are ah/ch/dh/bh
    (lambda: enc.movzx_rr(RAX, RSI, src_bits=8), "40 0f b6 c6", "movzx eax, sil"),
    (lambda: enc.movzx_rr(RAX, RBX, src_bits=8), "0f b6 c3", "movzx eax, bl"),
    (lambda: enc.movzx_rr(R8, RDI, src_bits=16), "44 0f b7 c7", "movzx r8d, di"),
    (lambda: enc.movsx_rr(RAX, RBP, bits=64, src_bits=8), "48 0f be c5", "movsx rax, bpl"),
    (lambda: enc.movsx_rr(RCX, RDX, bits=64, src_bits=32), "48 63 ca", "movsxd rcx, edx"),
    (lambda: enc.setcc(Cond.E, RDI), "40 0f 94 c7", "sete dil"),
    (lambda: enc.mov_store(Mem(RAX, 0), RDX, bits=8), "88 10", "mov byte ptr [rax], dl"),
    (lambda: enc.mov_load(RSP, Mem(RAX, 0), bits=8), "40 8a 20", "mov spl, byte ptr [rax]"),
    # addressing: rsp/r12 need a SIB, rbp/r13 an explicit disp8 of 0
    (lambda: enc.mov_load(RAX, Mem(RSP, 0), bits=64), "48 8b 04 24", "mov rax, qword ptr [rsp]"),
    (lambda: enc.mov_load(RAX, Mem(R12, 0), bits=64), "49 8b 04 24", "mov rax, qword ptr [r12]"),
    (lambda: enc.mov_load(RAX, Mem(RBP, 0), bits=64), "48 8b 45 00", "mov rax, qword ptr [rbp]"),
    (lambda: enc.mov_load(RAX, Mem(R13, 0), bits=64), "49 8b 45 00", "mov rax, qword ptr [r13]"),
    (lambda: enc.mov_load(RAX, Mem(RSP, 8), bits=32), "8b 44 24 08", "mov eax, dword ptr [rsp + 8]"),
    (lambda: enc.mov_load(R12, Mem(R13, -8), bits=64), "4d 8b 65 f8", "mov r12, qword ptr [r13 - 8]"),
    # disp8 / disp32 boundaries
    (lambda: enc.mov_store(Mem(RBP, 127), RAX, bits=64), "48 89 45 7f", "mov qword ptr [rbp + 0x7f], rax"),
    (lambda: enc.mov_store(Mem(RBP, -128), RAX, bits=64), "48 89 45 80", "mov qword ptr [rbp - 0x80], rax"),
    (lambda: enc.mov_store(Mem(RBP, 128), RAX, bits=64), "48 89 85 80 00 00 00",
     "mov qword ptr [rbp + 0x80], rax"),
    (lambda: enc.mov_store(Mem(RBP, -129), RAX, bits=64), "48 89 85 7f ff ff ff",
     "mov qword ptr [rbp - 0x81], rax"),
    (lambda: enc.mov_store(Mem(R12, -129), R9, bits=32), "45 89 8c 24 7f ff ff ff",
     "mov dword ptr [r12 - 0x81], r9d"),
    (lambda: enc.lea(RAX, Mem(RSP, 128), bits=64), "48 8d 84 24 80 00 00 00", "lea rax, [rsp + 0x80]"),
    # loads, stores with every width
    (lambda: enc.mov_load(RCX, Mem(RDI, 2), bits=16), "66 8b 4f 02", "mov cx, word ptr [rdi + 2]"),
    (lambda: enc.movzx_load(RAX, Mem(RDI, 1), src_bits=8), "0f b6 47 01", "movzx eax, byte ptr [rdi + 1]"),
    (lambda: enc.movzx_load(R10, Mem(RSI, 0), src_bits=16), "44 0f b7 16", "movzx r10d, word ptr [rsi]"),
    (lambda: enc.movsx_load(RAX, Mem(RBX, -4), bits=64, src_bits=32), "48 63 43 fc",
     "movsxd rax, dword ptr [rbx - 4]"),
    (lambda: enc.movsx_load(RAX, Mem(RBX, 0), bits=64, src_bits=8), "48 0f be 03",
     "movsx rax, byte ptr [rbx]"),
    (lambda: enc.mov_store(Mem(RDI, 0), RSI, bits=16), "66 89 37", "mov word ptr [rdi], si"),
    (lambda: enc.mov_store_imm(Mem(RAX, 0), 0xFF, bits=8), "c6 00 ff", "mov byte ptr [rax], 0xff"),
    (lambda: enc.mov_store_imm(Mem(RAX, 0), 0x1234, bits=16), "66 c7 00 34 12",
     "mov word ptr [rax], 0x1234"),
    (lambda: enc.mov_store_imm(Mem(RSP, 16), -1, bits=64), "48 c7 44 24 10 ff ff ff ff",
     "mov qword ptr [rsp + 0x10], 0xffffffffffffffff"),
    # ALU: imm8 when it fits, the short rax form, imm32 otherwise
    (lambda: enc.alu_ri(Alu.ADD, RAX, 127, bits=64), "48 83 c0 7f", "add rax, 0x7f"),
    (lambda: enc.alu_ri(Alu.ADD, RAX, 128, bits=64), "48 05 80 00 00 00", "add rax, 0x80"),
    (lambda: enc.alu_ri(Alu.SUB, RSP, 128, bits=64), "48 81 ec 80 00 00 00", "sub rsp, 0x80"),
    (lambda: enc.alu_ri(Alu.AND, R9, -129, bits=32), "41 81 e1 7f ff ff ff", "and r9d, 0xffffff7f"),
    (lambda: enc.alu_ri(Alu.CMP, RCX, 0xFFFFFFFF, bits=32), "83 f9 ff", "cmp ecx, -1"),
    (lambda: enc.alu_rr(Alu.SBB, R8, RAX, bits=64), "49 19 c0", "sbb r8, rax"),
    (lambda: enc.test_rr(RAX, RCX, bits=64), "48 85 c8", "test rax, rcx"),
    (lambda: enc.test_ri(RAX, 1, bits=32), "a9 01 00 00 00", "test eax, 1"),
    (lambda: enc.test_ri(R8, -1, bits=64), "49 f7 c0 ff ff ff ff", "test r8, -1"),
    (lambda: enc.imul_rr(RAX, R10, bits=64), "49 0f af c2", "imul rax, r10"),
    (lambda: enc.imul_rri(RAX, RBX, 3, bits=32), "6b c3 03", "imul eax, ebx, 3"),
    (lambda: enc.imul_rri(RAX, RBX, 1000, bits=64), "48 69 c3 e8 03 00 00", "imul rax, rbx, 0x3e8"),
    (lambda: enc.div(RCX, bits=64), "48 f7 f1", "div rcx"),
    (lambda: enc.idiv(R11, bits=32), "41 f7 fb", "idiv r11d"),
    (lambda: enc.mul(RSI, bits=64), "48 f7 e6", "mul rsi"),
    (lambda: enc.neg(RDX, bits=32), "f7 da", "neg edx"),
    (lambda: enc.not_(R15, bits=64), "49 f7 d7", "not r15"),
    (lambda: enc.cdq(), "99", "cdq"),
    (lambda: enc.cqo(), "48 99", "cqo"),
    # shifts: D1 for a count of 1, 66 for the 16-bit rotate used by byte swaps
    (lambda: enc.shift_ri(Shift.SHL, RAX, 1, bits=64), "48 d1 e0", "shl rax, 1"),
    (lambda: enc.shift_ri(Shift.SAR, R9, 63, bits=64), "49 c1 f9 3f", "sar r9, 0x3f"),
    (lambda: enc.shift_ri(Shift.ROR, RCX, 8, bits=16), "66 c1 c9 08", "ror cx, 8"),
    (lambda: enc.shift_ri(Shift.ROR, R8, 8, bits=16), "66 41 c1 c8 08", "ror r8w, 8"),
    (lambda: enc.shift_cl(Shift.SHR, RDX, bits=32), "d3 ea", "shr edx, cl"),
    (lambda: enc.bswap(RAX, bits=32), "0f c8", "bswap eax"),
    (lambda: enc.bswap(R12, bits=64), "49 0f cc", "bswap r12"),
    (lambda: enc.cmov(Cond.L, RAX, R14, bits=64), "49 0f 4c c6", "cmovl rax, r14"),
    # atomics
    (lambda: enc.lock_alu(Alu.ADD, Mem(RDI, 8), RAX, bits=64), "f0 48 01 47 08",
     "lock add qword ptr [rdi + 8], rax"),
    (lambda: enc.lock_alu(Alu.XOR, Mem(R12, 0), RSI, bits=32), "f0 41 31 34 24",
     "lock xor dword ptr [r12], esi"),
    (lambda: enc.lock_xadd(Mem(RBP, -8), R10, bits=64), "f0 4c 0f c1 55 f8",
     "lock xadd qword ptr [rbp - 8], r10"),
    (lambda: enc.xchg(Mem(R13, 0), RAX, bits=32), "41 87 45 00", "xchg dword ptr [r13], eax"),
    (lambda: enc.lock_cmpxchg(Mem(RSI, 4), RDX, bits=64), "f0 48 0f b1 56 04",
     "lock cmpxchg qword ptr [rsi + 4], rdx"),
    # stack and control flow
    (lambda: enc.push(RBP), "55", "push rbp"),
    (lambda: enc.push(R12), "41 54", "push r12"),
    (lambda: enc.pop(R15), "41 5f", "pop r15"),
    (lambda: enc.call_rel32(0x100), "e8 00 01 00 00", "call 0x10105"),
    (lambda: enc.call_r(RAX), "ff d0", "call rax"),
    (lambda: enc.call_r(R11), "41 ff d3", "call r11"),
    (lambda: enc.jmp_r(R8), "41 ff e0", "jmp r8"),
    (lambda: enc.jmp_rel8(-2), "eb fe", "jmp 0x10000"),
    (lambda: enc.jmp_rel8(127), "eb 7f", "jmp 0x10081"),
    (lambda: enc.jmp_rel32(-5), "e9 fb ff ff ff", "jmp 0x10000"),
    (lambda: enc.jcc_rel8(Cond.NE, -128), "75 80", "jne 0xff82"),
    (lambda: enc.jcc_rel32(Cond.G, 128), "0f 8f 80 00 00 00", "jg 0x10086"),
    (lambda: enc.ret(), "c3", "ret"),
    (lambda: enc.leave(), "c9", "leave"),
    # ALU on memory (the tail-call checks): imm8 when it fits
    (lambda: enc.alu_mr(Alu.CMP, Mem(RSI, 12), R11, bits=32), "44 39 5e 0c",
     "cmp dword ptr [rsi + 0xc], r11d"),
    (lambda: enc.alu_mi(Alu.CMP, Mem(R9, 0), 33, bits=32), "41 83 39 21", "cmp dword ptr [r9], 0x21"),
    (lambda: enc.alu_mi(Alu.ADD, Mem(R9, 0), 1, bits=32), "41 83 01 01", "add dword ptr [r9], 1"),
    (lambda: enc.alu_mi(Alu.ADD, Mem(RSP, 8), 128, bits=64), "48 81 44 24 08 80 00 00 00",
     "add qword ptr [rsp + 8], 0x80"),
    (lambda: enc.int3(), "cc", "int3"),
    (lambda: enc.nop(), "90", "nop"),
]


@pytest.mark.parametrize("call, hexbytes, text", GOLDEN, ids=[row[2] for row in GOLDEN])
def test_golden(call: Callable[[], bytes], hexbytes: str, text: str) -> None:
    code = call()
    assert code.hex(" ") == hexbytes
    insn = decode_one(code)
    assert f"{insn.mnemonic} {insn.op_str}".strip() == text


def test_stx_b_from_sil_dil_bpl_needs_rex() -> None:
    """Pins the Linux x86 eBPF JIT bug: `STX B` from sil/dil/bpl stored dh/bh/ch without a REX."""
    for src, name in ((RSI, "sil"), (RDI, "dil"), (RBP, "bpl"), (RSP, "spl")):
        insn = decode_one(enc.mov_store(Mem(RAX, 0), src, bits=8))
        assert insn.reg_name(insn.operands[1].reg) == name
    for src in (RAX, RCX, RDX, RBX):  # legacy byte registers: no REX needed, none emitted
        assert len(enc.mov_store(Mem(RAX, 0), src, bits=8)) == 2


def test_branch_sizes_match_encodings() -> None:
    assert len(enc.jmp_rel8(0)) == enc.JMP_REL8_SIZE
    assert len(enc.jmp_rel32(0)) == enc.JMP_REL32_SIZE
    assert len(enc.jcc_rel8(Cond.E, 0)) == enc.JCC_REL8_SIZE
    assert len(enc.jcc_rel32(Cond.E, 0)) == enc.JCC_REL32_SIZE
    assert len(enc.call_rel32(0)) == enc.CALL_REL32_SIZE


# ---------------------------------------------------------------------------
# 2. Properties decoded by capstone in detail mode.

regs = st.sampled_from(list(Gpr))
w3264 = st.sampled_from([32, 64])
conds = st.sampled_from(list(Cond))
EDGES = [0, 1, -1, 127, -128, 128, -129, 0x7FFF, -0x8000, 0x7FFFFFFF, -0x80000000]
simm32 = st.one_of(st.sampled_from(EDGES), st.integers(-(1 << 31), (1 << 31) - 1))
disps = simm32
mems = st.builds(Mem, regs, disps)
PROP = settings(max_examples=60, deadline=None)


def reg(r: int, bits: int) -> tuple:
    return ("reg", NAMES[bits][r])


def imm(value: int, bits: int) -> tuple:
    return ("imm", value, bits)


def mem(m: Mem, bits: int | None) -> tuple:
    return ("mem", NAMES[64][m.base], m.disp, bits)


def check(code: bytes, mnemonic: str, *expected: tuple, prefix: int = 0) -> None:
    """`code` decodes to one instruction of its own length with this mnemonic and these operands."""
    insn = decode_one(code)
    assert insn.mnemonic == mnemonic, (code.hex(" "), insn.mnemonic, insn.op_str)  # "lock add" with F0
    assert insn.prefix[0] == prefix, (code.hex(" "), insn.prefix)
    assert len(insn.operands) == len(expected), (code.hex(" "), insn.op_str)
    for op, exp in zip(insn.operands, expected):
        where = f"{code.hex(' ')} = {insn.mnemonic} {insn.op_str}: expected {exp}"
        match exp:
            case ("reg", name):
                assert op.type == capstone.x86.X86_OP_REG and insn.reg_name(op.reg) == name, where
            case ("imm", value, bits):
                # capstone prints some immediates signed, some unsigned: compare the bits
                assert op.type == capstone.x86.X86_OP_IMM, where
                assert (op.imm - value) % (1 << bits) == 0, where
            case ("target", address):
                assert op.type == capstone.x86.X86_OP_IMM and op.imm % (1 << 64) == address, where
            case ("mem", base, disp, bits):
                assert op.type == capstone.x86.X86_OP_MEM, where
                assert insn.reg_name(op.mem.base) == base and op.mem.disp == disp, where
                assert op.mem.index == 0 and op.mem.segment == 0, where
                assert bits is None or op.size * 8 == bits, where
            case _:
                raise AssertionError(exp)


@PROP
@given(regs, regs, w3264)
def test_mov_rr(d: Gpr, s: Gpr, bits: int) -> None:
    check(enc.mov_rr(d, s, bits=bits), "mov", reg(d, bits), reg(s, bits))


@PROP
@given(regs, st.integers(-(1 << 31), (1 << 32) - 1))
def test_mov_r32_imm(d: Gpr, value: int) -> None:
    check(enc.mov_r32_imm(d, value), "mov", reg(d, 32), imm(value, 32))


@PROP
@given(regs, simm32)
def test_mov_r64_simm32(d: Gpr, value: int) -> None:
    check(enc.mov_r64_simm32(d, value), "mov", reg(d, 64), imm(value, 64))


@PROP
@given(regs, st.integers(-(1 << 63), (1 << 64) - 1))
def test_movabs(d: Gpr, value: int) -> None:
    check(enc.movabs(d, value), "movabs", reg(d, 64), imm(value, 64))


@PROP
@given(st.sampled_from(list(Alu)), regs, regs, w3264)
def test_alu_rr(op: Alu, d: Gpr, s: Gpr, bits: int) -> None:
    check(enc.alu_rr(op, d, s, bits=bits), op.name.lower(), reg(d, bits), reg(s, bits))


@PROP
@given(st.sampled_from(list(Alu)), regs, simm32, w3264)
def test_alu_ri_picks_shortest_immediate(op: Alu, d: Gpr, value: int, bits: int) -> None:
    code = enc.alu_ri(op, d, value, bits=bits)
    check(code, op.name.lower(), reg(d, bits), imm(value, bits))
    rex = int(bits == 64 or d >= 8)
    if -128 <= value < 128:
        assert len(code) == rex + 3
    else:
        assert len(code) == rex + (5 if d == RAX else 6)


@PROP
@given(regs, regs, w3264)
def test_test_rr(a: Gpr, b: Gpr, bits: int) -> None:
    check(enc.test_rr(a, b, bits=bits), "test", reg(a, bits), reg(b, bits))


@PROP
@given(regs, simm32, w3264)
def test_test_ri(a: Gpr, value: int, bits: int) -> None:
    check(enc.test_ri(a, value, bits=bits), "test", reg(a, bits), imm(value, bits))


@PROP
@given(regs, regs, w3264)
def test_imul_rr(d: Gpr, s: Gpr, bits: int) -> None:
    check(enc.imul_rr(d, s, bits=bits), "imul", reg(d, bits), reg(s, bits))


@PROP
@given(regs, regs, simm32, w3264)
def test_imul_rri(d: Gpr, s: Gpr, value: int, bits: int) -> None:
    code = enc.imul_rri(d, s, value, bits=bits)
    check(code, "imul", reg(d, bits), reg(s, bits), imm(value, bits))
    assert code[-1 if -128 <= value < 128 else -4] == value.to_bytes(4, "little", signed=True)[0]


@PROP
@given(st.sampled_from([(enc.neg, "neg"), (enc.not_, "not"), (enc.mul, "mul"), (enc.div, "div"),
                        (enc.idiv, "idiv")]), regs, w3264)
def test_group3(form: tuple, r: Gpr, bits: int) -> None:
    fn, mnemonic = form
    check(fn(r, bits=bits), mnemonic, reg(r, bits))


@PROP
@given(st.sampled_from(list(Shift)), regs, st.data(), st.sampled_from([16, 32, 64]))
def test_shift_ri(op: Shift, r: Gpr, data: st.DataObject, bits: int) -> None:
    count = data.draw(st.integers(0, 63 if bits == 64 else 31))
    code = enc.shift_ri(op, r, count, bits=bits)
    check(code, op.name.lower(), reg(r, bits), imm(count, 8))
    assert (code[-2] if count == 1 else code[-3]) == (enc.OPC_GRP2_Ev1 if count == 1 else enc.OPC_GRP2_EvIb)


@PROP
@given(st.sampled_from(list(Shift)), regs, st.sampled_from([16, 32, 64]))
def test_shift_cl(op: Shift, r: Gpr, bits: int) -> None:
    check(enc.shift_cl(op, r, bits=bits), op.name.lower(), reg(r, bits), ("reg", "cl"))


@PROP
@given(regs, w3264)
def test_bswap(r: Gpr, bits: int) -> None:
    check(enc.bswap(r, bits=bits), "bswap", reg(r, bits))


@PROP
@given(regs, regs, st.sampled_from([8, 16]))
def test_movzx_rr(d: Gpr, s: Gpr, src_bits: int) -> None:
    check(enc.movzx_rr(d, s, src_bits=src_bits), "movzx", reg(d, 32), reg(s, src_bits))


@PROP
@given(regs, regs, st.sampled_from([(32, 8), (32, 16), (64, 8), (64, 16), (64, 32)]))
def test_movsx_rr(d: Gpr, s: Gpr, widths: tuple[int, int]) -> None:
    bits, src_bits = widths
    check(enc.movsx_rr(d, s, bits=bits, src_bits=src_bits), "movsxd" if src_bits == 32 else "movsx",
          reg(d, bits), reg(s, src_bits))


@PROP
@given(conds, regs, regs, w3264)
def test_cmov(c: Cond, d: Gpr, s: Gpr, bits: int) -> None:
    check(enc.cmov(c, d, s, bits=bits), "cmov" + c.name.lower(), reg(d, bits), reg(s, bits))


@PROP
@given(conds, regs)
def test_setcc(c: Cond, d: Gpr) -> None:
    check(enc.setcc(c, d), "set" + c.name.lower(), reg(d, 8))


@PROP
@given(regs, mems, st.sampled_from([8, 16, 32, 64]))
def test_mov_load(d: Gpr, m: Mem, bits: int) -> None:
    check(enc.mov_load(d, m, bits=bits), "mov", reg(d, bits), mem(m, bits))


@PROP
@given(regs, mems, st.sampled_from([8, 16]))
def test_movzx_load(d: Gpr, m: Mem, src_bits: int) -> None:
    check(enc.movzx_load(d, m, src_bits=src_bits), "movzx", reg(d, 32), mem(m, src_bits))


@PROP
@given(regs, mems, st.sampled_from([(32, 8), (32, 16), (64, 8), (64, 16), (64, 32)]))
def test_movsx_load(d: Gpr, m: Mem, widths: tuple[int, int]) -> None:
    bits, src_bits = widths
    check(enc.movsx_load(d, m, bits=bits, src_bits=src_bits), "movsxd" if src_bits == 32 else "movsx",
          reg(d, bits), mem(m, src_bits))


@PROP
@given(mems, regs, st.sampled_from([8, 16, 32, 64]))
def test_mov_store(m: Mem, s: Gpr, bits: int) -> None:
    check(enc.mov_store(m, s, bits=bits), "mov", mem(m, bits), reg(s, bits))


@PROP
@given(mems, st.sampled_from([8, 16, 32, 64]), st.data())
def test_mov_store_imm(m: Mem, bits: int, data: st.DataObject) -> None:
    # either reading of an 8/16/32-bit field; the 64-bit store sign-extends an imm32
    lo = -(1 << (min(bits, 32) - 1))
    hi = (1 << 31) - 1 if bits == 64 else (1 << bits) - 1
    value = data.draw(st.integers(lo, hi))
    check(enc.mov_store_imm(m, value, bits=bits), "mov", mem(m, bits), imm(value, bits))


@PROP
@given(regs, mems, w3264)
def test_lea(d: Gpr, m: Mem, bits: int) -> None:
    check(enc.lea(d, m, bits=bits), "lea", reg(d, bits), mem(m, None))


@PROP
@given(st.sampled_from([op for op in Alu if op != Alu.CMP]), mems, regs, w3264)
def test_lock_alu(op: Alu, m: Mem, s: Gpr, bits: int) -> None:
    check(enc.lock_alu(op, m, s, bits=bits), "lock " + op.name.lower(), mem(m, bits), reg(s, bits),
          prefix=enc.PREFIX_LOCK)


@PROP
@given(st.sampled_from(list(Alu)), mems, regs, w3264)
def test_alu_mr(op: Alu, m: Mem, s: Gpr, bits: int) -> None:
    check(enc.alu_mr(op, m, s, bits=bits), op.name.lower(), mem(m, bits), reg(s, bits))


@PROP
@given(st.sampled_from(list(Alu)), mems, simm32, w3264)
def test_alu_mi_picks_shortest_immediate(op: Alu, m: Mem, value: int, bits: int) -> None:
    code = enc.alu_mi(op, m, value, bits=bits)
    check(code, op.name.lower(), mem(m, bits), imm(value, bits))
    short = enc.alu_mi(op, m, 0, bits=bits)             # same operands with an imm8
    assert len(code) == len(short) + (0 if -128 <= value < 128 else 3)


@PROP
@given(st.sampled_from([(enc.lock_xadd, "xadd", enc.PREFIX_LOCK), (enc.xchg, "xchg", 0),
                        (enc.lock_cmpxchg, "cmpxchg", enc.PREFIX_LOCK)]), mems, regs, w3264)
def test_atomic_mr(form: tuple, m: Mem, s: Gpr, bits: int) -> None:
    fn, mnemonic, prefix = form
    check(fn(m, s, bits=bits), ("lock " if prefix else "") + mnemonic, mem(m, bits), reg(s, bits), prefix=prefix)


@PROP
@given(st.sampled_from([(enc.push, "push"), (enc.pop, "pop"), (enc.call_r, "call"), (enc.jmp_r, "jmp")]),
       regs)
def test_one_register(form: tuple, r: Gpr) -> None:
    fn, mnemonic = form
    check(fn(r), mnemonic, reg(r, 64))


@PROP
@given(st.data())
def test_relative_branches(data: st.DataObject) -> None:
    rel8 = data.draw(st.integers(-128, 127))
    rel32 = data.draw(st.integers(-(1 << 31), (1 << 31) - 1))
    c = data.draw(conds)
    for code, mnemonic, disp in ((enc.jmp_rel8(rel8), "jmp", rel8), (enc.jmp_rel32(rel32), "jmp", rel32),
                                 (enc.jcc_rel8(c, rel8), "j" + c.name.lower(), rel8),
                                 (enc.jcc_rel32(c, rel32), "j" + c.name.lower(), rel32),
                                 (enc.call_rel32(rel32), "call", rel32)):
        check(code, mnemonic, ("target", (BASE + len(code) + disp) % (1 << 64)))


# ---------------------------------------------------------------------------
# 3. Byte-for-byte against GNU as, llvm-mc-19 and keystone, all 16 registers per form.
#
# Each family is one assembler run.  Immediates are written signed in the text
# so that neither assembler has to guess the width of a hex constant.  The
# assemblers agree with every form we emit, including the choices that are
# ours to make: imm8 when it fits, the rax short forms (05+op, A9), D1 for a
# shift by 1, disp0/disp8/disp32 by value.  Jumps use the {disp8}/{disp32}
# pseudo-prefixes, since left alone both assemblers relax to the short form.

GPRS = list(Gpr)
DISP_EDGES = [0, 1, -1, 127, -128, 128, -129, 0x7FFFFFFF, -0x80000000]


def m_text(m: Mem, bits: int | None) -> str:
    ptr = f"{PTR[bits]} ptr " if bits else ""
    return f"{ptr}[{NAMES[64][m.base]}{m.disp:+d}]"


def mem_sweep() -> list[tuple[Gpr, Mem]]:
    """Every (register, base) pair, each base meeting every displacement edge."""
    return [(r, Mem(b, DISP_EDGES[(r + b) % len(DISP_EDGES)])) for r in GPRS for b in GPRS]


def _alu_rr() -> list[tuple[str, bytes]]:
    return [(f"{op.name.lower()} {NAMES[w][d]}, {NAMES[w][s]}", enc.alu_rr(op, d, s, bits=w))
            for op in Alu for w in (32, 64) for d in GPRS for s in GPRS]


def _alu_ri() -> list[tuple[str, bytes]]:
    return [(f"{op.name.lower()} {NAMES[w][d]}, {v}", enc.alu_ri(op, d, v, bits=w))
            for op in Alu for w in (32, 64) for d in GPRS for v in EDGES]


def _moves() -> list[tuple[str, bytes]]:
    rows = [(f"mov {NAMES[w][d]}, {NAMES[w][s]}", enc.mov_rr(d, s, bits=w))
            for w in (32, 64) for d in GPRS for s in GPRS]
    for d in GPRS:
        for v in EDGES:
            rows.append((f"mov {NAMES[32][d]}, {v}", enc.mov_r32_imm(d, v)))
            rows.append((f"mov {NAMES[64][d]}, {v}", enc.mov_r64_simm32(d, v)))
        for v in (0, -1, 1 << 32, -(1 << 63), (1 << 63) - 1):
            rows.append((f"movabs {NAMES[64][d]}, {v}", enc.movabs(d, v)))
    return rows


def _extend_rr() -> list[tuple[str, bytes]]:
    rows = []
    for d in GPRS:
        for s in GPRS:
            for sb in (8, 16):
                rows.append((f"movzx {NAMES[32][d]}, {NAMES[sb][s]}", enc.movzx_rr(d, s, src_bits=sb)))
            for w, sb in ((32, 8), (32, 16), (64, 8), (64, 16), (64, 32)):
                mnemonic = "movsxd" if sb == 32 else "movsx"
                rows.append((f"{mnemonic} {NAMES[w][d]}, {NAMES[sb][s]}",
                             enc.movsx_rr(d, s, bits=w, src_bits=sb)))
    return rows


def _mul_test_cmov() -> list[tuple[str, bytes]]:
    rows = []
    for w in (32, 64):
        for d in GPRS:
            for s in GPRS:
                rows.append((f"test {NAMES[w][d]}, {NAMES[w][s]}", enc.test_rr(d, s, bits=w)))
                rows.append((f"imul {NAMES[w][d]}, {NAMES[w][s]}", enc.imul_rr(d, s, bits=w)))
                v = EDGES[(d + s) % len(EDGES)]
                rows.append((f"imul {NAMES[w][d]}, {NAMES[w][s]}, {v}", enc.imul_rri(d, s, v, bits=w)))
                c = Cond((d + s) % 16)
                rows.append((f"cmov{c.name.lower()} {NAMES[w][d]}, {NAMES[w][s]}", enc.cmov(c, d, s, bits=w)))
            for v in EDGES:
                rows.append((f"test {NAMES[w][d]}, {v}", enc.test_ri(d, v, bits=w)))
    return rows


def _unary() -> list[tuple[str, bytes]]:
    rows = []
    for d in GPRS:
        for w in (32, 64):
            for fn, name in ((enc.neg, "neg"), (enc.not_, "not"), (enc.mul, "mul"), (enc.div, "div"),
                             (enc.idiv, "idiv")):
                rows.append((f"{name} {NAMES[w][d]}", fn(d, bits=w)))
            rows.append((f"bswap {NAMES[w][d]}", enc.bswap(d, bits=w)))
        for c in Cond:
            rows.append((f"set{c.name.lower()} {NAMES[8][d]}", enc.setcc(c, d)))
        for fn, name in ((enc.push, "push"), (enc.pop, "pop"), (enc.call_r, "call"), (enc.jmp_r, "jmp")):
            rows.append((f"{name} {NAMES[64][d]}", fn(d)))
    rows += [("cdq", enc.cdq()), ("cqo", enc.cqo()), ("ret", enc.ret()), ("int3", enc.int3()), ("nop", enc.nop())]
    return rows


def _shifts() -> list[tuple[str, bytes]]:
    rows = []
    for op in Shift:
        for w in (16, 32, 64):
            for d in GPRS:
                rows.append((f"{op.name.lower()} {NAMES[w][d]}, cl", enc.shift_cl(op, d, bits=w)))
                for n in (0, 1, 2, 8, 31) + ((32, 63) if w == 64 else ()):
                    rows.append((f"{op.name.lower()} {NAMES[w][d]}, {n}", enc.shift_ri(op, d, n, bits=w)))
    return rows


def _loads() -> list[tuple[str, bytes]]:
    rows = []
    for d, m in mem_sweep():
        for w in (8, 16, 32, 64):
            rows.append((f"mov {NAMES[w][d]}, {m_text(m, w)}", enc.mov_load(d, m, bits=w)))
        for sb in (8, 16):
            rows.append((f"movzx {NAMES[32][d]}, {m_text(m, sb)}", enc.movzx_load(d, m, src_bits=sb)))
        for w, sb in ((32, 8), (32, 16), (64, 8), (64, 16), (64, 32)):
            mnemonic = "movsxd" if sb == 32 else "movsx"
            rows.append((f"{mnemonic} {NAMES[w][d]}, {m_text(m, sb)}", enc.movsx_load(d, m, bits=w, src_bits=sb)))
        for w in (32, 64):
            rows.append((f"lea {NAMES[w][d]}, {m_text(m, None)}", enc.lea(d, m, bits=w)))
    return rows


def _stores() -> list[tuple[str, bytes]]:
    rows = []
    for s, m in mem_sweep():
        for w in (8, 16, 32, 64):
            rows.append((f"mov {m_text(m, w)}, {NAMES[w][s]}", enc.mov_store(m, s, bits=w)))
        v = EDGES[(s + m.base) % len(EDGES)]
        for w, value in ((8, v % 256 - 128), (16, v % 65536 - 32768), (32, v), (64, v)):
            rows.append((f"mov {m_text(m, w)}, {value}", enc.mov_store_imm(m, value, bits=w)))
    return rows


def _atomics() -> list[tuple[str, bytes]]:
    rows = []
    for s, m in mem_sweep():
        for w in (32, 64):
            for op in (Alu.ADD, Alu.AND, Alu.OR, Alu.XOR):
                rows.append((f"lock {op.name.lower()} {m_text(m, w)}, {NAMES[w][s]}",
                             enc.lock_alu(op, m, s, bits=w)))
            rows.append((f"lock xadd {m_text(m, w)}, {NAMES[w][s]}", enc.lock_xadd(m, s, bits=w)))
            rows.append((f"xchg {m_text(m, w)}, {NAMES[w][s]}", enc.xchg(m, s, bits=w)))
            rows.append((f"lock cmpxchg {m_text(m, w)}, {NAMES[w][s]}", enc.lock_cmpxchg(m, s, bits=w)))
    return rows


def _alu_mem() -> list[tuple[str, bytes]]:
    rows = []
    for s, m in mem_sweep():
        v = EDGES[(s + m.base) % len(EDGES)]
        for w in (32, 64):
            for op in (Alu.CMP, Alu.ADD, Alu.SUB, Alu.AND):
                rows.append((f"{op.name.lower()} {m_text(m, w)}, {NAMES[w][s]}",
                             enc.alu_mr(op, m, s, bits=w)))
                rows.append((f"{op.name.lower()} {m_text(m, w)}, {v}", enc.alu_mi(op, m, v, bits=w)))
    return rows


def _branches() -> list[tuple[str, bytes]]:
    # Each row gets its own label at the start of the instruction, so the target
    # is label + size + disp (llvm-mc's Intel syntax has no `.` for "here").
    rows = []
    for d8 in (-128, -1, 0, 1, 127):
        rows.append(("{disp8} jmp", enc.JMP_REL8_SIZE + d8, enc.jmp_rel8(d8)))
        for c in Cond:
            rows.append((f"{{disp8}} j{c.name.lower()}", enc.JCC_REL8_SIZE + d8, enc.jcc_rel8(c, d8)))
    for d32 in (-(1 << 31) + 0x1000, -129, 0, 128, (1 << 31) - 6):
        rows.append(("{disp32} jmp", enc.JMP_REL32_SIZE + d32, enc.jmp_rel32(d32)))
        rows.append(("call", enc.CALL_REL32_SIZE + d32, enc.call_rel32(d32)))
        for c in Cond:
            rows.append((f"{{disp32}} j{c.name.lower()}", enc.JCC_REL32_SIZE + d32, enc.jcc_rel32(c, d32)))
    return [(f"B{i}: {insn} B{i}{delta:+d}", code) for i, (insn, delta, code) in enumerate(rows)]


FAMILIES = {
    "alu_rr": _alu_rr, "alu_ri": _alu_ri, "moves": _moves, "extend_rr": _extend_rr,
    "mul_test_cmov": _mul_test_cmov, "unary": _unary, "shifts": _shifts, "loads": _loads,
    "stores": _stores, "atomics": _atomics, "alu_mem": _alu_mem, "branches": _branches,
}
TOOLS = {"gnu_as": oracles.gnu_as, "llvm_mc": oracles.llvm_mc, "keystone": oracles.keystone}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("family", FAMILIES)
def test_against_assembler(family: str, tool: str) -> None:
    if tool == "keystone" and family == "branches":
        pytest.skip("keystone 0.9.2 has no {disp8}/{disp32} pseudo-prefixes to pin a branch form")
    rows = FAMILIES[family]()
    out = TOOLS[tool]("x86_64", "\n".join(text for text, _ in rows))
    if out is None:
        pytest.skip(f"{tool} for x86_64 is not installed")
    pos = 0
    for text, ours in rows:
        theirs = out[pos:pos + len(ours)]
        assert theirs == ours, f"{text}: ours {ours.hex(' ')}, {tool} {out[pos:pos + 15].hex(' ')}"
        pos += len(ours)
    assert pos == len(out), f"{tool} emitted {len(out) - pos} bytes more than we did"


# ---------------------------------------------------------------------------
# 4. Operands that do not fit.

BAD = [
    (lambda: enc.mov_load(RAX, Mem(RBX, 1 << 31), bits=64), "disp"),
    (lambda: enc.mov_store(Mem(RBX, -(1 << 31) - 1), RAX, bits=64), "disp"),
    (lambda: enc.mov_r32_imm(RAX, 1 << 32), "imm"),
    (lambda: enc.mov_r32_imm(RAX, -(1 << 31) - 1), "imm"),
    (lambda: enc.mov_r64_simm32(RAX, 0xFFFFFFFF), "imm"),
    (lambda: enc.movabs(RAX, 1 << 64), "imm"),
    (lambda: enc.alu_ri(Alu.AND, RAX, 0xFFFFFFFF, bits=64), "imm"),
    (lambda: enc.alu_ri(Alu.ADD, RCX, 1 << 32, bits=32), "imm"),
    (lambda: enc.test_ri(RCX, 1 << 31, bits=64), "imm"),
    (lambda: enc.imul_rri(RAX, RCX, 1 << 31, bits=64), "imm"),
    (lambda: enc.mov_store_imm(Mem(RAX), 256, bits=8), "imm"),
    (lambda: enc.mov_store_imm(Mem(RAX), -129, bits=8), "imm"),
    (lambda: enc.mov_store_imm(Mem(RAX), 1 << 16, bits=16), "imm"),
    (lambda: enc.mov_store_imm(Mem(RAX), 1 << 31, bits=64), "imm"),
    (lambda: enc.shift_ri(Shift.SHL, RAX, 32, bits=32), "count"),
    (lambda: enc.shift_ri(Shift.SHL, RAX, 64, bits=64), "count"),
    (lambda: enc.shift_ri(Shift.SHL, RAX, -1, bits=64), "count"),
    (lambda: enc.jmp_rel8(128), "rel8"),
    (lambda: enc.jcc_rel8(Cond.E, -129), "rel8"),
    (lambda: enc.jmp_rel32(1 << 31), "rel32"),
    (lambda: enc.call_rel32(-(1 << 31) - 1), "rel32"),
    (lambda: enc.jcc_rel32(16, 0), "cond"),
    (lambda: enc.mov_rr(16, RAX, bits=64), "rm"),
    (lambda: enc.push(-1), "reg"),
    (lambda: enc.mov_rr(RAX, RBX, bits=16), "bits"),
    (lambda: enc.movsx_rr(RAX, RBX, bits=32, src_bits=32), "bits"),
    (lambda: enc.lock_alu(Alu.CMP, Mem(RAX), RBX, bits=64), "op"),
    (lambda: enc.mov_load(RAX, RBX, bits=64), "memory operand"),
    (lambda: enc.rex(2, 0, 0, 0), "REX.W"),
    (lambda: enc.modrm(4, 0, 0), "ModRM.mod"),
    (lambda: enc.sib(0, 8, 0), "SIB.index"),
]


@pytest.mark.parametrize("call, field", BAD, ids=[f"{i}-{row[1]}" for i, row in enumerate(BAD)])
def test_out_of_range_raises(call: Callable[[], bytes], field: str) -> None:
    with pytest.raises(EncodingError) as info:
        call()
    assert str(info.value).startswith(field), str(info.value)
