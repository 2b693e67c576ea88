"""RISC-V (RV64GC) instruction encoders: pure functions, operands in, an instruction out.

This module owns the bit layout of every instruction the backend emits: the
six base formats (R, I, S, B, U, J) for 32-bit instructions, the A
extension's AMO/LR/SC form, Zba/Zbb's few R/I forms, and the compressed (RVC)
formats (CR, CI, CSS, CL, CS, CA, CB, CJ).  It knows no eBPF and no LIR.

An encoder returns an int: a 32-bit instruction has its two low bits set
(0b11), a compressed one is < 0x10000 with its low bits 00, 01 or 10, so
`to_bytes` can tell the size from the value alone.  Byte order is the
buffer's (RISC-V code is always little-endian).  A field that does not fit
raises `EncodingError` naming it; nothing is masked silently.  Offsets of
branches and jumps are in bytes, relative to the instruction itself.
"""
from __future__ import annotations

from enum import IntEnum

from jit.errors import EncodingError


class Gpr(IntEnum):
    ZERO = 0
    RA = 1
    SP = 2
    GP = 3
    TP = 4
    T0 = 5
    T1 = 6
    T2 = 7
    S0 = 8
    S1 = 9
    A0 = 10
    A1 = 11
    A2 = 12
    A3 = 13
    A4 = 14
    A5 = 15
    A6 = 16
    A7 = 17
    S2 = 18
    S3 = 19
    S4 = 20
    S5 = 21
    S6 = 22
    S7 = 23
    S8 = 24
    S9 = 25
    S10 = 26
    S11 = 27
    T3 = 28
    T4 = 29
    T5 = 30
    T6 = 31


def name(r: int) -> str:
    return Gpr(r).name.lower()


def is_compressed(insn: int) -> bool:
    return insn & 3 != 3


def to_bytes(insns) -> bytes:
    """Instructions as little-endian bytes, 2 or 4 each by their low bits."""
    out = bytearray()
    for i in insns:
        out += i.to_bytes(2 if i & 3 != 3 else 4, "little")
    return bytes(out)


# ------------------------------------------------------------------ field checks

def _reg(r: int, what: str) -> int:
    if not 0 <= r < 32:
        raise EncodingError(f"register {what}={r} out of range")
    return int(r)


def _creg(r: int, what: str) -> int:
    """A compressed 3-bit register field: x8..x15 only."""
    if not 8 <= r <= 15:
        raise EncodingError(f"register {what}={r} is not one of x8-x15 (RVC rd'/rs')")
    return int(r) - 8


def _simm(v: int, bits: int, what: str) -> int:
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise EncodingError(f"{what}={v} does not fit {bits} signed bits")
    return v & ((1 << bits) - 1)


def _uimm(v: int, bits: int, what: str) -> int:
    if not 0 <= v < (1 << bits):
        raise EncodingError(f"{what}={v} does not fit {bits} unsigned bits")
    return v


def _even(v: int, scale: int, what: str) -> int:
    if v % scale:
        raise EncodingError(f"{what}={v} is not a multiple of {scale}")
    return v


def fits_simm(v: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


def is_creg(r: int) -> bool:
    return 8 <= r <= 15


# ------------------------------------------------------------------ base formats

#  31     25 24   20 19   15 14  12 11    7 6      0
# | funct7  |  rs2  |  rs1  |funct3|  rd   | opcode |
def r_type(opcode: int, funct3: int, funct7: int, rd: int, rs1: int, rs2: int) -> int:
    return (funct7 << 25 | _reg(rs2, "rs2") << 20 | _reg(rs1, "rs1") << 15 | funct3 << 12
            | _reg(rd, "rd") << 7 | opcode)


#  31          20 19   15 14  12 11    7 6      0
# |  imm[11:0]   |  rs1  |funct3|  rd   | opcode |
def i_type(opcode: int, funct3: int, rd: int, rs1: int, imm: int) -> int:
    return (_simm(imm, 12, "imm12") << 20 | _reg(rs1, "rs1") << 15 | funct3 << 12
            | _reg(rd, "rd") << 7 | opcode)


#  31     25 24   20 19   15 14  12 11    7 6      0
# |imm[11:5]|  rs2  |  rs1  |funct3|imm[4:0]| opcode |
def s_type(opcode: int, funct3: int, rs1: int, rs2: int, imm: int) -> int:
    v = _simm(imm, 12, "imm12")
    return ((v >> 5) << 25 | _reg(rs2, "rs2") << 20 | _reg(rs1, "rs1") << 15 | funct3 << 12
            | (v & 0x1F) << 7 | opcode)


#  31      30    25 24  20 19  15 14  12 11    8    7     6      0
# |imm[12]|imm[10:5]| rs2 | rs1 |funct3|imm[4:1]|imm[11]| opcode |
def b_type(funct3: int, rs1: int, rs2: int, off: int) -> int:
    v = _simm(_even(off, 2, "branch offset"), 13, "branch offset")
    return ((v >> 12 & 1) << 31 | (v >> 5 & 0x3F) << 25 | _reg(rs2, "rs2") << 20
            | _reg(rs1, "rs1") << 15 | funct3 << 12 | (v >> 1 & 0xF) << 8
            | (v >> 11 & 1) << 7 | 0x63)


#  31                 12 11    7 6      0
# |     imm[31:12]      |  rd   | opcode |
def u_type(opcode: int, rd: int, imm20: int) -> int:
    return _uimm(imm20, 20, "imm20") << 12 | _reg(rd, "rd") << 7 | opcode


#  31      30       21     20     19      12 11    7 6      0
# |imm[20]| imm[10:1] |imm[11]| imm[19:12] |  rd   | opcode |
def j_type(rd: int, off: int) -> int:
    v = _simm(_even(off, 2, "jump offset"), 21, "jump offset")
    return ((v >> 20 & 1) << 31 | (v >> 1 & 0x3FF) << 21 | (v >> 11 & 1) << 20
            | (v >> 12 & 0xFF) << 12 | _reg(rd, "rd") << 7 | 0x6F)


#  31   27 26 25 24  20 19  15 14  12 11  7 6       0
# | funct5|aq|rl| rs2 | rs1 |funct3| rd  | 0101111 |
def amo_type(funct5: int, width: int, rd: int, rs1: int, rs2: int, aq: int, rl: int) -> int:
    funct3 = {4: 2, 8: 3}[width]
    return r_type(0x2F, funct3, funct5 << 2 | aq << 1 | rl, rd, rs1, rs2)


OP, OP_32, OP_IMM, OP_IMM_32, LOAD, STORE, LUI, AUIPC, JALR = (
    0x33, 0x3B, 0x13, 0x1B, 0x03, 0x23, 0x37, 0x17, 0x67)


def _shift_imm(opcode: int, funct3: int, hi6: int, rd: int, rs1: int, sh: int, bits: int) -> int:
    _uimm(sh, bits, "shamt")
    return i_type(opcode, funct3, rd, rs1, 0) | (hi6 << 26 | sh << 20)


# ------------------------------------------------------------------ RV64I
def lui(rd, imm20):
    """rd = sext32(imm20 << 12)."""
    return u_type(LUI, rd, imm20)


def auipc(rd, imm20):
    """rd = pc + sext32(imm20 << 12)."""
    return u_type(AUIPC, rd, imm20)


def jal(rd, off):
    """rd = pc + 4; pc += off (+-1 MiB)."""
    return j_type(rd, off)


def jalr(rd, rs1, imm):
    """t = rs1 + imm; rd = pc + 4; pc = t & ~1."""
    return i_type(JALR, 0, rd, rs1, imm)


BEQ, BNE, BLT, BGE, BLTU, BGEU = 0, 1, 4, 5, 6, 7


def branch(funct3, rs1, rs2, off):
    """if rs1 <funct3> rs2: pc += off (+-4 KiB); beq/bne/blt/bge/bltu/bgeu by funct3."""
    return b_type(funct3, rs1, rs2, off)


def beq(rs1, rs2, off):
    """if rs1 == rs2: pc += off."""
    return b_type(BEQ, rs1, rs2, off)


def bne(rs1, rs2, off):
    """if rs1 != rs2: pc += off."""
    return b_type(BNE, rs1, rs2, off)


def addi(rd, rs1, imm):
    """rd = rs1 + sext(imm12)."""
    return i_type(OP_IMM, 0, rd, rs1, imm)


def slti(rd, rs1, imm):
    """rd = rs1 <s sext(imm12)."""
    return i_type(OP_IMM, 2, rd, rs1, imm)


def sltiu(rd, rs1, imm):
    """rd = rs1 <u sext(imm12)."""
    return i_type(OP_IMM, 3, rd, rs1, imm)


def xori(rd, rs1, imm):
    """rd = rs1 ^ sext(imm12)."""
    return i_type(OP_IMM, 4, rd, rs1, imm)


def ori(rd, rs1, imm):
    """rd = rs1 | sext(imm12)."""
    return i_type(OP_IMM, 6, rd, rs1, imm)


def andi(rd, rs1, imm):
    """rd = rs1 & sext(imm12)."""
    return i_type(OP_IMM, 7, rd, rs1, imm)


def slli(rd, rs1, sh):
    """rd = rs1 << sh (0..63)."""
    return _shift_imm(OP_IMM, 1, 0, rd, rs1, sh, 6)


def srli(rd, rs1, sh):
    """rd = rs1 >>u sh (0..63)."""
    return _shift_imm(OP_IMM, 5, 0, rd, rs1, sh, 6)


def srai(rd, rs1, sh):
    """rd = rs1 >>s sh (0..63)."""
    return _shift_imm(OP_IMM, 5, 0x10, rd, rs1, sh, 6)


def addiw(rd, rs1, imm):
    """rd = sext32(rs1 + sext(imm12)); addiw rd, rs, 0 is sext.w."""
    return i_type(OP_IMM_32, 0, rd, rs1, imm)


def slliw(rd, rs1, sh):
    """rd = sext32(rs1 << sh) (0..31)."""
    return _shift_imm(OP_IMM_32, 1, 0, rd, rs1, sh, 5)


def srliw(rd, rs1, sh):
    """rd = sext32(low32(rs1) >>u sh) (0..31)."""
    return _shift_imm(OP_IMM_32, 5, 0, rd, rs1, sh, 5)


def sraiw(rd, rs1, sh):
    """rd = sext32(low32(rs1) >>s sh) (0..31)."""
    return _shift_imm(OP_IMM_32, 5, 0x10, rd, rs1, sh, 5)


def _op(funct3, funct7, opcode=OP):
    return lambda rd, rs1, rs2: r_type(opcode, funct3, funct7, rd, rs1, rs2)


add = _op(0, 0);        add.__doc__ = "rd = rs1 + rs2."
sub = _op(0, 0x20);     sub.__doc__ = "rd = rs1 - rs2."
sll = _op(1, 0);        sll.__doc__ = "rd = rs1 << (rs2 & 63)."
slt = _op(2, 0);        slt.__doc__ = "rd = rs1 <s rs2."
sltu = _op(3, 0);       sltu.__doc__ = "rd = rs1 <u rs2."
xor = _op(4, 0);        xor.__doc__ = "rd = rs1 ^ rs2."
srl = _op(5, 0);        srl.__doc__ = "rd = rs1 >>u (rs2 & 63)."
sra = _op(5, 0x20);     sra.__doc__ = "rd = rs1 >>s (rs2 & 63)."
or_ = _op(6, 0);        or_.__doc__ = "rd = rs1 | rs2."
and_ = _op(7, 0);       and_.__doc__ = "rd = rs1 & rs2."
addw = _op(0, 0, OP_32);     addw.__doc__ = "rd = sext32(rs1 + rs2)."
subw = _op(0, 0x20, OP_32);  subw.__doc__ = "rd = sext32(rs1 - rs2)."
sllw = _op(1, 0, OP_32);     sllw.__doc__ = "rd = sext32(rs1 << (rs2 & 31))."
srlw = _op(5, 0, OP_32);     srlw.__doc__ = "rd = sext32(low32(rs1) >>u (rs2 & 31))."
sraw = _op(5, 0x20, OP_32);  sraw.__doc__ = "rd = sext32(low32(rs1) >>s (rs2 & 31))."
# M
mul = _op(0, 1);        mul.__doc__ = "rd = low64(rs1 * rs2)."
div = _op(4, 1);        div.__doc__ = "rd = rs1 /s rs2 (x/0 = -1, MIN/-1 = MIN)."
divu = _op(5, 1);       divu.__doc__ = "rd = rs1 /u rs2 (x/0 = all ones)."
rem = _op(6, 1);        rem.__doc__ = "rd = rs1 %s rs2 (x%0 = x, MIN%-1 = 0)."
remu = _op(7, 1);       remu.__doc__ = "rd = rs1 %u rs2 (x%0 = x)."
mulw = _op(0, 1, OP_32);   mulw.__doc__ = "rd = sext32(rs1 * rs2)."
divw = _op(4, 1, OP_32);   divw.__doc__ = "rd = sext32(low32(rs1) /s low32(rs2))."
divuw = _op(5, 1, OP_32);  divuw.__doc__ = "rd = sext32(low32(rs1) /u low32(rs2))."
remw = _op(6, 1, OP_32);   remw.__doc__ = "rd = sext32(low32(rs1) %s low32(rs2))."
remuw = _op(7, 1, OP_32);  remuw.__doc__ = "rd = sext32(low32(rs1) %u low32(rs2))."
# Zba / Zbb (not run under Unicorn: its QEMU knows neither)
sh1add = _op(2, 0x10);  sh1add.__doc__ = "rd = (rs1 << 1) + rs2 (Zba)."
sh2add = _op(4, 0x10);  sh2add.__doc__ = "rd = (rs1 << 2) + rs2 (Zba)."
sh3add = _op(6, 0x10);  sh3add.__doc__ = "rd = (rs1 << 3) + rs2 (Zba)."
add_uw = _op(0, 0x04, OP_32);  add_uw.__doc__ = "rd = zext32(rs1) + rs2 (Zba; rs2=zero: zext.w)."
andn = _op(7, 0x20);    andn.__doc__ = "rd = rs1 & ~rs2 (Zbb)."
ror = _op(5, 0x30);     ror.__doc__ = "rd = rs1 rotated right by rs2 & 63 (Zbb)."
rol = _op(1, 0x30);     rol.__doc__ = "rd = rs1 rotated left by rs2 & 63 (Zbb)."


def rori(rd, rs1, sh):
    """rd = rs1 rotated right by sh (0..63) (Zbb)."""
    return _shift_imm(OP_IMM, 5, 0x18, rd, rs1, sh, 6)


def rev8(rd, rs1):
    """rd = rs1 with its 8 bytes reversed (Zbb)."""
    return i_type(OP_IMM, 5, rd, rs1, 0x6B8)


def sext_b(rd, rs1):
    """rd = sext8(rs1) (Zbb)."""
    return i_type(OP_IMM, 1, rd, rs1, 0x604)


def sext_h(rd, rs1):
    """rd = sext16(rs1) (Zbb)."""
    return i_type(OP_IMM, 1, rd, rs1, 0x605)


def zext_h(rd, rs1):
    """rd = zext16(rs1) (Zbb)."""
    return r_type(OP_32, 4, 0x04, rd, rs1, 0)


# loads and stores: by size in bytes (and signedness for loads)
_LOAD_F3 = {(1, True): 0, (2, True): 1, (4, True): 2, (8, True): 3,
            (1, False): 4, (2, False): 5, (4, False): 6, (8, False): 3}
_STORE_F3 = {1: 0, 2: 1, 4: 2, 8: 3}


def load(size, signed, rd, rs1, off):
    """rd = *(size *)(rs1 + off), sign- or zero-extended (lb lh lw ld lbu lhu lwu)."""
    return i_type(LOAD, _LOAD_F3[size, signed], rd, rs1, off)


def store(size, rs2, rs1, off):
    """*(size *)(rs1 + off) = low bytes of rs2 (sb sh sw sd)."""
    return s_type(STORE, _STORE_F3[size], rs1, rs2, off)


def ld(rd, rs1, off):
    """rd = *(u64 *)(rs1 + off)."""
    return load(8, True, rd, rs1, off)


def sd(rs2, rs1, off):
    """*(u64 *)(rs1 + off) = rs2."""
    return store(8, rs2, rs1, off)


# A: AMO, LR, SC (aq/rl both set: sequentially consistent, as the kernel's JIT emits them)
AMO = {"add": 0x00, "swap": 0x01, "xor": 0x04, "or": 0x08, "and": 0x0C}


def amo(op, width, rd, rs2, rs1, aqrl=1):
    """rd = *rs1; *rs1 = rd <op> rs2 atomically (amoadd/amoswap/amoxor/amoor/amoand .w/.d)."""
    return amo_type(AMO[op], width, rd, rs1, rs2, aqrl, aqrl)


def lr(width, rd, rs1, aqrl=1):
    """rd = *rs1 and reserve it (.w sign-extends)."""
    return amo_type(0x02, width, rd, rs1, 0, aqrl, aqrl)


def sc(width, rd, rs2, rs1, aqrl=1):
    """*rs1 = rs2 if still reserved; rd = 0 on success, nonzero on failure."""
    return amo_type(0x03, width, rd, rs1, rs2, aqrl, aqrl)


def nop():
    """addi zero, zero, 0."""
    return addi(0, 0, 0)


# ------------------------------------------------------------------ RVC formats

#  15  12 11      7 6       2 1 0
# |funct4| rd/rs1  |   rs2   | op |     CR
def cr(funct4: int, rd: int, rs2: int, op: int) -> int:
    return funct4 << 12 | _reg(rd, "rd") << 7 | _reg(rs2, "rs2") << 2 | op


#  15  13   12   11     7 6        2 1 0
# |funct3|imm[5]| rd/rs1 | imm[4:0] | op |   CI
def ci(funct3: int, rd: int, imm6: int, op: int) -> int:
    return funct3 << 13 | (imm6 >> 5 & 1) << 12 | _reg(rd, "rd") << 7 | (imm6 & 0x1F) << 2 | op


#  15  13 12  10 9   7 6   5 4   2 1 0
# |funct3| imm  | rs1'| imm | rd' | op |     CL / CS (rd' is rs2' for CS)
def cl(funct3: int, rd: int, rs1: int, hi3: int, lo2: int, op: int) -> int:
    return (funct3 << 13 | hi3 << 10 | _creg(rs1, "rs1'") << 7 | lo2 << 5
            | _creg(rd, "rd'/rs2'") << 2 | op)


#  15     10 9      7 6    5 4    2 1 0
# | funct6  | rd'/rs1'|funct2| rs2' | op |     CA
def ca(funct6: int, rd: int, funct2: int, rs2: int) -> int:
    return funct6 << 10 | _creg(rd, "rd'") << 7 | funct2 << 5 | _creg(rs2, "rs2'") << 2 | 1


def c_addi(rd, imm):
    """rd += sext(imm6) (rd != 0, imm != 0)."""
    if rd == 0 or imm == 0:
        raise EncodingError("c.addi needs rd != zero and imm != 0")
    return ci(0, rd, _simm(imm, 6, "imm6"), 1)


def c_addiw(rd, imm):
    """rd = sext32(rd + sext(imm6)) (rd != 0)."""
    if rd == 0:
        raise EncodingError("c.addiw needs rd != zero")
    return ci(1, rd, _simm(imm, 6, "imm6"), 1)


def c_li(rd, imm):
    """rd = sext(imm6) (rd != 0)."""
    if rd == 0:
        raise EncodingError("c.li needs rd != zero")
    return ci(2, rd, _simm(imm, 6, "imm6"), 1)


def c_lui(rd, imm6):
    """rd = sext(imm6 << 12) (rd not zero/sp, imm != 0); imm6 is the signed upper part."""
    if rd in (0, 2) or imm6 == 0:
        raise EncodingError("c.lui needs rd not zero/sp and imm != 0")
    return ci(3, rd, _simm(imm6, 6, "imm6"), 1)


def c_addi16sp(imm):
    """sp += imm (a nonzero multiple of 16 in [-512, 496])."""
    v = _simm(_even(imm, 16, "imm"), 10, "imm")
    if imm == 0:
        raise EncodingError("c.addi16sp needs imm != 0")
    return (3 << 13 | (v >> 9 & 1) << 12 | 2 << 7 | (v >> 4 & 1) << 6 | (v >> 6 & 1) << 5
            | (v >> 7 & 3) << 3 | (v >> 5 & 1) << 2 | 1)


def c_slli(rd, sh):
    """rd <<= sh (1..63, rd != 0)."""
    if rd == 0 or sh == 0:
        raise EncodingError("c.slli needs rd != zero and shamt != 0")
    return ci(0, rd, _uimm(sh, 6, "shamt"), 2)


def _cb_shift(funct2: int, rd: int, sh: int) -> int:
    if sh == 0:
        raise EncodingError("shamt must be nonzero")
    _uimm(sh, 6, "shamt")
    return 4 << 13 | (sh >> 5) << 12 | funct2 << 10 | _creg(rd, "rd'") << 7 | (sh & 0x1F) << 2 | 1


def c_srli(rd, sh):
    """rd >>u= sh (1..63, rd in x8-x15)."""
    return _cb_shift(0, rd, sh)


def c_srai(rd, sh):
    """rd >>s= sh (1..63, rd in x8-x15)."""
    return _cb_shift(1, rd, sh)


def c_andi(rd, imm):
    """rd &= sext(imm6) (rd in x8-x15)."""
    v = _simm(imm, 6, "imm6")
    return 4 << 13 | (v >> 5) << 12 | 2 << 10 | _creg(rd, "rd'") << 7 | (v & 0x1F) << 2 | 1


def c_sub(rd, rs2):
    """rd -= rs2 (both in x8-x15)."""
    return ca(0x23, rd, 0, rs2)


def c_xor(rd, rs2):
    """rd ^= rs2 (both in x8-x15)."""
    return ca(0x23, rd, 1, rs2)


def c_or(rd, rs2):
    """rd |= rs2 (both in x8-x15)."""
    return ca(0x23, rd, 2, rs2)


def c_and(rd, rs2):
    """rd &= rs2 (both in x8-x15)."""
    return ca(0x23, rd, 3, rs2)


def c_subw(rd, rs2):
    """rd = sext32(rd - rs2) (both in x8-x15)."""
    return ca(0x27, rd, 0, rs2)


def c_addw(rd, rs2):
    """rd = sext32(rd + rs2) (both in x8-x15)."""
    return ca(0x27, rd, 1, rs2)


def c_mv(rd, rs2):
    """rd = rs2 (neither zero)."""
    if rd == 0 or rs2 == 0:
        raise EncodingError("c.mv needs rd and rs2 != zero")
    return cr(8, rd, rs2, 2)


def c_add(rd, rs2):
    """rd += rs2 (neither zero)."""
    if rd == 0 or rs2 == 0:
        raise EncodingError("c.add needs rd and rs2 != zero")
    return cr(9, rd, rs2, 2)


def c_jr(rs1):
    """pc = rs1 (rs1 != zero)."""
    if rs1 == 0:
        raise EncodingError("c.jr needs rs1 != zero")
    return cr(8, rs1, 0, 2)


def c_jalr(rs1):
    """ra = pc + 2; pc = rs1 (rs1 != zero)."""
    if rs1 == 0:
        raise EncodingError("c.jalr needs rs1 != zero")
    return cr(9, rs1, 0, 2)


def c_lw(rd, rs1, off):
    """rd = sext32(*(u32 *)(rs1 + off)), off in 0..124 step 4 (x8-x15)."""
    v = _uimm(_even(off, 4, "offset"), 7, "offset")
    return cl(2, rd, rs1, v >> 3 & 7, (v >> 2 & 1) << 1 | v >> 6, 0)


def c_ld(rd, rs1, off):
    """rd = *(u64 *)(rs1 + off), off in 0..248 step 8 (x8-x15)."""
    v = _uimm(_even(off, 8, "offset"), 8, "offset")
    return cl(3, rd, rs1, v >> 3 & 7, v >> 6, 0)


def c_sw(rs2, rs1, off):
    """*(u32 *)(rs1 + off) = rs2, off in 0..124 step 4 (x8-x15)."""
    v = _uimm(_even(off, 4, "offset"), 7, "offset")
    return cl(6, rs2, rs1, v >> 3 & 7, (v >> 2 & 1) << 1 | v >> 6, 0)


def c_sd(rs2, rs1, off):
    """*(u64 *)(rs1 + off) = rs2, off in 0..248 step 8 (x8-x15)."""
    v = _uimm(_even(off, 8, "offset"), 8, "offset")
    return cl(7, rs2, rs1, v >> 3 & 7, v >> 6, 0)


def c_ldsp(rd, off):
    """rd = *(u64 *)(sp + off), off in 0..504 step 8 (rd != 0)."""
    if rd == 0:
        raise EncodingError("c.ldsp needs rd != zero")
    v = _uimm(_even(off, 8, "offset"), 9, "offset")
    return 3 << 13 | (v >> 5 & 1) << 12 | _reg(rd, "rd") << 7 | (v >> 3 & 3) << 5 | (v >> 6) << 2 | 2


def c_sdsp(rs2, off):
    """*(u64 *)(sp + off) = rs2, off in 0..504 step 8."""
    v = _uimm(_even(off, 8, "offset"), 9, "offset")
    return 7 << 13 | (v >> 3 & 7) << 10 | (v >> 6) << 7 | _reg(rs2, "rs2") << 2 | 2


#  15  13 12                                   2 1 0
# |funct3| off[11|4|9:8|10|6|7|3:1|5]          | 01 |     CJ
def c_j(off):
    """pc += off (+-2 KiB)."""
    v = _simm(_even(off, 2, "jump offset"), 12, "jump offset")
    bits = ((v >> 11 & 1) << 10 | (v >> 4 & 1) << 9 | (v >> 8 & 3) << 7 | (v >> 10 & 1) << 6
            | (v >> 6 & 1) << 5 | (v >> 7 & 1) << 4 | (v >> 1 & 7) << 1 | (v >> 5 & 1))
    return 5 << 13 | bits << 2 | 1


#  15  13 12      10 9    7 6             2 1 0
# |funct3|off[8|4:3]| rs1' |off[7:6|2:1|5] | 01 |     CB
def _cb_branch(funct3: int, rs1: int, off: int) -> int:
    v = _simm(_even(off, 2, "branch offset"), 9, "branch offset")
    return (funct3 << 13 | (v >> 8 & 1) << 12 | (v >> 3 & 3) << 10 | _creg(rs1, "rs1'") << 7
            | (v >> 6 & 3) << 5 | (v >> 1 & 3) << 3 | (v >> 5 & 1) << 2 | 1)


def c_beqz(rs1, off):
    """if rs1 == 0: pc += off (+-256 B, rs1 in x8-x15)."""
    return _cb_branch(6, rs1, off)


def c_bnez(rs1, off):
    """if rs1 != 0: pc += off (+-256 B, rs1 in x8-x15)."""
    return _cb_branch(7, rs1, off)


def c_nop():
    """c.addi zero, 0."""
    return 1


def c_ebreak():
    """Breakpoint."""
    return 0x9002
