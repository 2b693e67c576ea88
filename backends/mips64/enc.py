"""MIPS64 Release 2 instruction encoders: operands in, one 32-bit word out.

This module owns the bit layout of every MIPS64r2 instruction the backend
emits and the limits of each field (immediate widths, shift amounts, bit-field
positions, branch and jump reach).  It knows nothing of eBPF, of LIR, of
labels or of byte order: the code buffer decides whether a word is stored
big- or little-endian, and relaxes branches using the range constants below.

Arguments follow the assembler's operand order (`addiu rt, rs, imm` is
`addiu(rt, rs, imm)`, `ld rt, off(base)` is `ld(rt, off, base)`,
`dext rt, rs, pos, size` is `dext(rt, rs, pos, size)`), so an encoder call
reads like the line of assembly it produces.  Shift wrappers take the
assembler's `sa` field (`dsll32(rd, rt, 5)` shifts by 37); the `*_any`
helpers take the full 0..63 amount and pick the form.

A value that does not fit its field raises `EncodingError` naming the field.
Nothing is masked silently: a wrong operand is a bug upstream, and a word
that quietly means something else is the worst way to find it.
"""
from __future__ import annotations

from enum import IntEnum

from jit.errors import EncodingError


class Gpr(IntEnum):
    """General-purpose registers, n64 ABI names."""
    ZERO = 0
    AT = 1
    V0 = 2
    V1 = 3
    A0 = 4
    A1 = 5
    A2 = 6
    A3 = 7
    A4 = 8
    A5 = 9
    A6 = 10
    A7 = 11
    T0 = 12
    T1 = 13
    T2 = 14
    T3 = 15
    S0 = 16
    S1 = 17
    S2 = 18
    S3 = 19
    S4 = 20
    S5 = 21
    S6 = 22
    S7 = 23
    T8 = 24
    T9 = 25
    K0 = 26
    K1 = 27
    GP = 28
    SP = 29
    FP = 30
    S8 = 30  # alias of FP
    RA = 31


# Field limits, for callers that choose between a short and a long form.
SIMM16_MIN = -(1 << 15)        # addiu/daddiu/slti/sltiu, load/store displacement
SIMM16_MAX = (1 << 15) - 1
UIMM16_MAX = (1 << 16) - 1     # andi/ori/xori/lui
BRANCH_MIN = -(1 << 17)        # byte offset from the delay slot (branch address + 4)
BRANCH_MAX = (1 << 17) - 4
JUMP_REGION = 1 << 28          # j/jal reach: the 256 MiB region holding the delay slot

# Major opcodes (bits 31..26).
SPECIAL, REGIMM, J, JAL = 0o00, 0o01, 0o02, 0o03
BEQ, BNE, BLEZ, BGTZ = 0o04, 0o05, 0o06, 0o07
ADDIU, SLTI, SLTIU, ANDI, ORI, XORI, LUI = 0o11, 0o12, 0o13, 0o14, 0o15, 0o16, 0o17
DADDIU = 0o31
SPECIAL2, SPECIAL3 = 0o34, 0o37
LB, LH, LW, LBU, LHU, LWU = 0o40, 0o41, 0o43, 0o44, 0o45, 0o47
SB, SH, SW = 0o50, 0o51, 0o53
LWL, LWR, LDL, LDR = 0o42, 0o46, 0o32, 0o33         # unaligned halves
SWL, SWR, SDL, SDR = 0o52, 0o56, 0o54, 0o55
LL, LLD, LD, SC, SCD, SD = 0o60, 0o64, 0o67, 0o70, 0o74, 0o77

BEQL, BNEL, BLEZL, BGTZL = 0o24, 0o25, 0o26, 0o27

# REGIMM rt field.
BLTZ_RT, BGEZ_RT, BLTZAL_RT, BGEZAL_RT = 0o00, 0o01, 0o20, 0o21
BLTZL_RT, BGEZL_RT = 0o02, 0o03

# SPECIAL3 functions and the BSHFL / DBSHFL selectors carried in the sa field.
EXT, DEXTM, DEXTU, DEXT, INS, DINSM, DINSU, DINS = 0, 1, 2, 3, 4, 5, 6, 7
BSHFL, DBSHFL = 0o40, 0o44
WSBH_OP, SEB_OP, SEH_OP = 0o02, 0o20, 0o30
DSBH_OP, DSHD_OP = 0o02, 0o05


def _field(value: int, bits: int, name: str) -> int:
    """`value` as an unsigned field of `bits` bits, or EncodingError naming the field."""
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise EncodingError(f"{name} {value} does not fit an unsigned {bits}-bit field")
    return value


def _signed(value: int, bits: int, name: str) -> int:
    """`value` as a two's-complement field of `bits` bits, or EncodingError naming the field."""
    if type(value) is int and -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        return value & ((1 << bits) - 1)                   # fits: the common case
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise EncodingError(f"{name} {value} does not fit a signed {bits}-bit field")
    return value & ((1 << bits) - 1)


def _range(value: int, lo: int, hi: int, name: str) -> int:
    """`value` checked against an inclusive range that is not a plain field width."""
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise EncodingError(f"{name} {value} is outside {lo}..{hi}")
    return value


def _branch_offset(off: int) -> int:
    """The 16-bit word offset field for a byte offset relative to the delay slot."""
    if not isinstance(off, int):
        raise TypeError(f"offset must be an int, not {type(off).__name__}")
    if off % 4:
        raise EncodingError(f"offset {off} is not a multiple of 4")
    if not BRANCH_MIN <= off <= BRANCH_MAX:
        raise EncodingError(f"offset {off} is outside the branch range {BRANCH_MIN}..{BRANCH_MAX}")
    return (off >> 2) & 0xFFFF


def branch_fits(off: int) -> bool:
    """True when a conditional branch can reach `off` bytes from its delay slot."""
    return off % 4 == 0 and BRANCH_MIN <= off <= BRANCH_MAX


def jump_fits(target: int, slot: int) -> bool:
    """True when j/jal in a delay slot at `slot` can reach the absolute `target`."""
    return (target % 4 == 0 and 0 <= target < 1 << 64
            and target // JUMP_REGION == slot // JUMP_REGION)


# ---------------------------------------------------------------- formats

#  31     26 25   21 20   16 15   11 10    6 5      0
# | SPECIAL |  rs   |  rt   |  rd   |  sa   | funct  |
def r_type(rs: int, rt: int, rd: int, sa: int, funct: int) -> int:
    if not ((rs | rt | rd | sa) >> 5 or funct >> 6):      # every field fits: the common case
        return rs << 21 | rt << 16 | rd << 11 | sa << 6 | funct
    return (_field(rs, 5, "rs") << 21 | _field(rt, 5, "rt") << 16
            | _field(rd, 5, "rd") << 11 | _field(sa, 5, "sa") << 6 | _field(funct, 6, "funct"))


#  31     26 25   21 20   16 15                      0
# | opcode  |  rs   |  rt   |        immediate        |
def i_type(op: int, rs: int, rt: int, imm: int) -> int:
    """`imm` is the raw 16-bit field; wrappers check signed or unsigned range first."""
    if not (op >> 6 or (rs | rt) >> 5 or imm >> 16):
        return op << 26 | rs << 21 | rt << 16 | imm
    return (_field(op, 6, "opcode") << 26 | _field(rs, 5, "rs") << 21
            | _field(rt, 5, "rt") << 16 | _field(imm, 16, "imm"))


#  31     26 25                                      0
# | opcode  |              instr_index               |
def j_type(op: int, index: int) -> int:
    return _field(op, 6, "opcode") << 26 | _field(index, 26, "instr_index")


#  31     26 25   21 20   16 15                      0
# | REGIMM  |  rs   |  rt   |         offset          |
def regimm(rs: int, rt: int, offset: int) -> int:
    """`rt` selects the operation; `offset` is the raw 16-bit word-offset field."""
    return i_type(REGIMM, rs, rt, offset)


#  31     26 25   21 20   16 15   11 10    6 5      0
# | SPECIAL2|  rs   |  rt   |  rd   |   0   | funct  |
def special2(rs: int, rt: int, rd: int, funct: int) -> int:
    if not ((rs | rt | rd) >> 5 or funct >> 6):
        return SPECIAL2 << 26 | rs << 21 | rt << 16 | rd << 11 | funct
    return (SPECIAL2 << 26 | _field(rs, 5, "rs") << 21 | _field(rt, 5, "rt") << 16
            | _field(rd, 5, "rd") << 11 | _field(funct, 6, "funct"))


#  31     26 25   21 20   16 15   11 10    6 5      0
# | SPECIAL3|  rs   |  rt   |  msb  |  lsb  | funct  |
def special3(rs: int, rt: int, msb: int, lsb: int, funct: int) -> int:
    """The ext/ins family: `msb` and `lsb` are the raw fields (msbd, msbminus32, ...)."""
    if not ((rs | rt | msb | lsb) >> 5 or funct >> 6):
        return SPECIAL3 << 26 | rs << 21 | rt << 16 | msb << 11 | lsb << 6 | funct
    return (SPECIAL3 << 26 | _field(rs, 5, "rs") << 21 | _field(rt, 5, "rt") << 16
            | _field(msb, 5, "msb") << 11 | _field(lsb, 5, "lsb") << 6 | _field(funct, 6, "funct"))


#  31     26 25   21 20   16 15   11 10    6 5      0
# | SPECIAL3|   0   |  rt   |  rd   |  op   | BSHFL  |
def bshfl(funct: int, op: int, rd: int, rt: int) -> int:
    """Byte shuffles: `funct` is BSHFL (32-bit) or DBSHFL (64-bit), `op` selects which."""
    return (SPECIAL3 << 26 | _field(rt, 5, "rt") << 16 | _field(rd, 5, "rd") << 11
            | _field(op, 5, "op") << 6 | _field(funct, 6, "funct"))


#  31     26 25   21 20   16 15           6 5      0
# | SPECIAL |  rs   |  rt   |     code     | funct  |
def code_type(rs: int, rt: int, code: int, funct: int) -> int:
    """Traps (code is 10 bits) and break (rs:rt:code together form one 20-bit code)."""
    return (_field(rs, 5, "rs") << 21 | _field(rt, 5, "rt") << 16
            | _field(code, 10, "code") << 6 | _field(funct, 6, "funct"))


# ---------------------------------------------------------------- three-register ALU

def addu(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = sext32(rs + rt) (32-bit, no trap)."""
    return r_type(rs, rt, rd, 0, 0o41)


def daddu(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = rs + rt (64-bit, no trap)."""
    return r_type(rs, rt, rd, 0, 0o55)


def subu(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = sext32(rs - rt) (32-bit, no trap)."""
    return r_type(rs, rt, rd, 0, 0o43)


def dsubu(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = rs - rt (64-bit, no trap)."""
    return r_type(rs, rt, rd, 0, 0o57)


def and_(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = rs & rt."""
    return r_type(rs, rt, rd, 0, 0o44)


def or_(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = rs | rt."""
    return r_type(rs, rt, rd, 0, 0o45)


def xor(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = rs ^ rt."""
    return r_type(rs, rt, rd, 0, 0o46)


def nor(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = ~(rs | rt)."""
    return r_type(rs, rt, rd, 0, 0o47)


def slt(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = 1 if rs < rt (signed 64-bit) else 0."""
    return r_type(rs, rt, rd, 0, 0o52)


def sltu(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = 1 if rs < rt (unsigned 64-bit) else 0."""
    return r_type(rs, rt, rd, 0, 0o53)


def movz(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """if rt == 0: rd = rs."""
    return r_type(rs, rt, rd, 0, 0o12)


def movn(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """if rt != 0: rd = rs."""
    return r_type(rs, rt, rd, 0, 0o13)


# ---------------------------------------------------------------- immediate ALU

def addiu(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = sext32(rs + sext(imm16)) (32-bit, no trap)."""
    return i_type(ADDIU, rs, rt, _signed(imm, 16, "imm"))


def daddiu(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = rs + sext(imm16) (64-bit, no trap)."""
    return i_type(DADDIU, rs, rt, _signed(imm, 16, "imm"))


def slti(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = 1 if rs < sext(imm16) (signed) else 0."""
    return i_type(SLTI, rs, rt, _signed(imm, 16, "imm"))


def sltiu(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = 1 if rs < sext(imm16) (compared unsigned) else 0."""
    return i_type(SLTIU, rs, rt, _signed(imm, 16, "imm"))


def andi(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = rs & zext(imm16)."""
    return i_type(ANDI, rs, rt, _field(imm, 16, "imm"))


def ori(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = rs | zext(imm16)."""
    return i_type(ORI, rs, rt, _field(imm, 16, "imm"))


def xori(rt: Gpr, rs: Gpr, imm: int) -> int:
    """rt = rs ^ zext(imm16)."""
    return i_type(XORI, rs, rt, _field(imm, 16, "imm"))


def lui(rt: Gpr, imm: int) -> int:
    """rt = sext32(imm16 << 16)."""
    return i_type(LUI, 0, rt, _field(imm, 16, "imm"))


# ---------------------------------------------------------------- shifts and rotates

def sll(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = sext32(rt << sa), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o00)


def srl(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = sext32(rt[31:0] >> sa) (logical), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o02)


def sra(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = sext32(rt[31:0] >> sa) (arithmetic), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o03)


def rotr(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = sext32(rt[31:0] rotated right by sa), sa 0..31."""
    return r_type(1, rt, rd, sa, 0o02)


def sllv(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = sext32(rt << (rs & 31))."""
    return r_type(rs, rt, rd, 0, 0o04)


def srlv(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = sext32(rt[31:0] >> (rs & 31)) (logical)."""
    return r_type(rs, rt, rd, 0, 0o06)


def srav(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = sext32(rt[31:0] >> (rs & 31)) (arithmetic)."""
    return r_type(rs, rt, rd, 0, 0o07)


def rotrv(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = sext32(rt[31:0] rotated right by rs & 31)."""
    return r_type(rs, rt, rd, 1, 0o06)


def dsll(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt << sa, sa 0..31."""
    return r_type(0, rt, rd, sa, 0o70)


def dsrl(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt >> sa (logical), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o72)


def dsra(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt >> sa (arithmetic), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o73)


def drotr(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt rotated right by sa, sa 0..31."""
    return r_type(1, rt, rd, sa, 0o72)


def dsll32(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt << (sa + 32), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o74)


def dsrl32(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt >> (sa + 32) (logical), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o76)


def dsra32(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt >> (sa + 32) (arithmetic), sa 0..31."""
    return r_type(0, rt, rd, sa, 0o77)


def drotr32(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt rotated right by sa + 32, sa 0..31."""
    return r_type(1, rt, rd, sa, 0o76)


def dsllv(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = rt << (rs & 63)."""
    return r_type(rs, rt, rd, 0, 0o24)


def dsrlv(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = rt >> (rs & 63) (logical)."""
    return r_type(rs, rt, rd, 0, 0o26)


def dsrav(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = rt >> (rs & 63) (arithmetic)."""
    return r_type(rs, rt, rd, 0, 0o27)


def drotrv(rd: Gpr, rt: Gpr, rs: Gpr) -> int:
    """rd = rt rotated right by rs & 63."""
    return r_type(rs, rt, rd, 1, 0o26)


def _shift_any(short, long_, rd: Gpr, rt: Gpr, sa: int) -> int:
    # The 64-bit shifts split the 6-bit amount across two opcodes.
    _range(sa, 0, 63, "sa")
    return short(rd, rt, sa) if sa < 32 else long_(rd, rt, sa - 32)


def dsll_any(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt << sa, sa 0..63 (dsll or dsll32)."""
    return _shift_any(dsll, dsll32, rd, rt, sa)


def dsrl_any(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt >> sa (logical), sa 0..63 (dsrl or dsrl32)."""
    return _shift_any(dsrl, dsrl32, rd, rt, sa)


def dsra_any(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt >> sa (arithmetic), sa 0..63 (dsra or dsra32)."""
    return _shift_any(dsra, dsra32, rd, rt, sa)


def drotr_any(rd: Gpr, rt: Gpr, sa: int) -> int:
    """rd = rt rotated right by sa, sa 0..63 (drotr or drotr32)."""
    return _shift_any(drotr, drotr32, rd, rt, sa)


# ---------------------------------------------------------------- multiply and divide

def mult(rs: Gpr, rt: Gpr) -> int:
    """hi:lo = sext32 halves of rs[31:0] * rt[31:0] (signed)."""
    return r_type(rs, rt, 0, 0, 0o30)


def multu(rs: Gpr, rt: Gpr) -> int:
    """hi:lo = sext32 halves of rs[31:0] * rt[31:0] (unsigned)."""
    return r_type(rs, rt, 0, 0, 0o31)


def div(rs: Gpr, rt: Gpr) -> int:
    """lo = rs[31:0] / rt[31:0], hi = remainder (signed; rt == 0 leaves them unpredictable)."""
    return r_type(rs, rt, 0, 0, 0o32)


def divu(rs: Gpr, rt: Gpr) -> int:
    """lo = rs[31:0] / rt[31:0], hi = remainder (unsigned; rt == 0 leaves them unpredictable)."""
    return r_type(rs, rt, 0, 0, 0o33)


def dmult(rs: Gpr, rt: Gpr) -> int:
    """hi:lo = rs * rt (signed 128-bit product)."""
    return r_type(rs, rt, 0, 0, 0o34)


def dmultu(rs: Gpr, rt: Gpr) -> int:
    """hi:lo = rs * rt (unsigned 128-bit product)."""
    return r_type(rs, rt, 0, 0, 0o35)


def ddiv(rs: Gpr, rt: Gpr) -> int:
    """lo = rs / rt, hi = rs % rt (signed 64-bit; rt == 0 leaves them unpredictable)."""
    return r_type(rs, rt, 0, 0, 0o36)


def ddivu(rs: Gpr, rt: Gpr) -> int:
    """lo = rs / rt, hi = rs % rt (unsigned 64-bit; rt == 0 leaves them unpredictable)."""
    return r_type(rs, rt, 0, 0, 0o37)


def mfhi(rd: Gpr) -> int:
    """rd = hi."""
    return r_type(0, 0, rd, 0, 0o20)


def mflo(rd: Gpr) -> int:
    """rd = lo."""
    return r_type(0, 0, rd, 0, 0o22)


def mthi(rs: Gpr) -> int:
    """hi = rs."""
    return r_type(rs, 0, 0, 0, 0o21)


def mtlo(rs: Gpr) -> int:
    """lo = rs."""
    return r_type(rs, 0, 0, 0, 0o23)


def mul(rd: Gpr, rs: Gpr, rt: Gpr) -> int:
    """rd = sext32(rs[31:0] * rt[31:0]) (hi/lo unpredictable afterwards)."""
    return special2(rs, rt, rd, 0o02)


# ---------------------------------------------------------------- bit fields (SPECIAL3)

def _pos_size(pos: int, size: int, pos_lo: int, pos_hi: int, size_lo: int, size_hi: int,
              end_lo: int, end_hi: int) -> None:
    # The manual's per-instruction constraints on pos, size and pos + size.
    if pos_lo <= pos <= pos_hi and size_lo <= size <= size_hi and end_lo <= pos + size <= end_hi:
        return                                               # all hold: the common case
    _range(pos, pos_lo, pos_hi, "pos")
    _range(size, size_lo, size_hi, "size")
    _range(pos + size, end_lo, end_hi, "pos+size")


def ext(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt = sext32(zext(rs[pos+size-1:pos])), pos 0..31, size 1..32, pos+size <= 32."""
    _pos_size(pos, size, 0, 31, 1, 32, 1, 32)
    return special3(rs, rt, size - 1, pos, EXT)


def ins(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt[pos+size-1:pos] = rs[size-1:0], result sign-extended from bit 31; pos+size <= 32."""
    _pos_size(pos, size, 0, 31, 1, 32, 1, 32)
    return special3(rs, rt, pos + size - 1, pos, INS)


def dext(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt = zext(rs[pos+size-1:pos]), pos 0..31, size 1..32."""
    _pos_size(pos, size, 0, 31, 1, 32, 1, 63)
    return special3(rs, rt, size - 1, pos, DEXT)


def dextm(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt = zext(rs[pos+size-1:pos]), pos 0..31, size 33..64, pos+size <= 64."""
    _pos_size(pos, size, 0, 31, 33, 64, 33, 64)
    return special3(rs, rt, size - 33, pos, DEXTM)


def dextu(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt = zext(rs[pos+size-1:pos]), pos 32..63, size 1..32, pos+size <= 64."""
    _pos_size(pos, size, 32, 63, 1, 32, 33, 64)
    return special3(rs, rt, size - 1, pos - 32, DEXTU)


def dins(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt[pos+size-1:pos] = rs[size-1:0], pos 0..31, pos+size <= 32."""
    _pos_size(pos, size, 0, 31, 1, 32, 1, 32)
    return special3(rs, rt, pos + size - 1, pos, DINS)


def dinsm(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt[pos+size-1:pos] = rs[size-1:0], pos 0..31, size 2..64, 32 < pos+size <= 64."""
    _pos_size(pos, size, 0, 31, 2, 64, 33, 64)
    return special3(rs, rt, pos + size - 33, pos, DINSM)


def dinsu(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt[pos+size-1:pos] = rs[size-1:0], pos 32..63, size 1..32, pos+size <= 64."""
    _pos_size(pos, size, 32, 63, 1, 32, 33, 64)
    return special3(rs, rt, pos + size - 33, pos - 32, DINSU)


def dext_any(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt = zext(rs[pos+size-1:pos]), pos 0..63, size 1..64, pos+size <= 64 (dext/dextm/dextu)."""
    _pos_size(pos, size, 0, 63, 1, 64, 1, 64)
    if pos >= 32:
        return dextu(rt, rs, pos, size)
    return dext(rt, rs, pos, size) if size <= 32 else dextm(rt, rs, pos, size)


def dins_any(rt: Gpr, rs: Gpr, pos: int, size: int) -> int:
    """rt[pos+size-1:pos] = rs[size-1:0], pos 0..63, pos+size <= 64 (dins/dinsm/dinsu)."""
    _pos_size(pos, size, 0, 63, 1, 64, 1, 64)
    if pos >= 32:
        return dinsu(rt, rs, pos, size)
    return dins(rt, rs, pos, size) if pos + size <= 32 else dinsm(rt, rs, pos, size)


def seb(rd: Gpr, rt: Gpr) -> int:
    """rd = sext(rt[7:0])."""
    return bshfl(BSHFL, SEB_OP, rd, rt)


def seh(rd: Gpr, rt: Gpr) -> int:
    """rd = sext(rt[15:0])."""
    return bshfl(BSHFL, SEH_OP, rd, rt)


def wsbh(rd: Gpr, rt: Gpr) -> int:
    """rd = sext32(rt[31:0] with the bytes of each halfword swapped)."""
    return bshfl(BSHFL, WSBH_OP, rd, rt)


def dsbh(rd: Gpr, rt: Gpr) -> int:
    """rd = rt with the bytes of each of its four halfwords swapped."""
    return bshfl(DBSHFL, DSBH_OP, rd, rt)


def dshd(rd: Gpr, rt: Gpr) -> int:
    """rd = rt with its four halfwords in reverse order."""
    return bshfl(DBSHFL, DSHD_OP, rd, rt)


# ---------------------------------------------------------------- loads and stores

def _mem(op: int, rt: Gpr, off: int, base: Gpr) -> int:
    return i_type(op, base, rt, _signed(off, 16, "offset"))


def lb(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = sext(mem8[base + off])."""
    return _mem(LB, rt, off, base)


def lbu(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = zext(mem8[base + off])."""
    return _mem(LBU, rt, off, base)


def lh(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = sext(mem16[base + off])."""
    return _mem(LH, rt, off, base)


def lhu(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = zext(mem16[base + off])."""
    return _mem(LHU, rt, off, base)


def lw(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = sext(mem32[base + off])."""
    return _mem(LW, rt, off, base)


def lwu(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = zext(mem32[base + off])."""
    return _mem(LWU, rt, off, base)


def ld(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = mem64[base + off]."""
    return _mem(LD, rt, off, base)


def sb(rt: Gpr, off: int, base: Gpr) -> int:
    """mem8[base + off] = rt[7:0]."""
    return _mem(SB, rt, off, base)


def sh(rt: Gpr, off: int, base: Gpr) -> int:
    """mem16[base + off] = rt[15:0]."""
    return _mem(SH, rt, off, base)


def sw(rt: Gpr, off: int, base: Gpr) -> int:
    """mem32[base + off] = rt[31:0]."""
    return _mem(SW, rt, off, base)


def sd(rt: Gpr, off: int, base: Gpr) -> int:
    """mem64[base + off] = rt."""
    return _mem(SD, rt, off, base)


# The unaligned pairs: each loads or stores the part of an unaligned word
# (doubleword) that lies in one aligned word; which instruction takes the
# lowest address depends on the byte order (big-endian: lwl at addr, lwr at
# addr + 3; little-endian the other way round).  Executing both, in either
# order, leaves a sign-extended word (the whole doubleword).

def lwl(rt: Gpr, off: int, base: Gpr) -> int:
    """Merge the most-significant part of an unaligned word at base + off into rt."""
    return _mem(LWL, rt, off, base)


def lwr(rt: Gpr, off: int, base: Gpr) -> int:
    """Merge the least-significant part of an unaligned word at base + off into rt."""
    return _mem(LWR, rt, off, base)


def ldl(rt: Gpr, off: int, base: Gpr) -> int:
    """Merge the most-significant part of an unaligned doubleword at base + off into rt."""
    return _mem(LDL, rt, off, base)


def ldr(rt: Gpr, off: int, base: Gpr) -> int:
    """Merge the least-significant part of an unaligned doubleword at base + off into rt."""
    return _mem(LDR, rt, off, base)


def swl(rt: Gpr, off: int, base: Gpr) -> int:
    """Store the most-significant part of rt[31:0] to an unaligned word at base + off."""
    return _mem(SWL, rt, off, base)


def swr(rt: Gpr, off: int, base: Gpr) -> int:
    """Store the least-significant part of rt[31:0] to an unaligned word at base + off."""
    return _mem(SWR, rt, off, base)


def sdl(rt: Gpr, off: int, base: Gpr) -> int:
    """Store the most-significant part of rt to an unaligned doubleword at base + off."""
    return _mem(SDL, rt, off, base)


def sdr(rt: Gpr, off: int, base: Gpr) -> int:
    """Store the least-significant part of rt to an unaligned doubleword at base + off."""
    return _mem(SDR, rt, off, base)


def ll(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = sext(mem32[base + off]) and open a link on the address."""
    return _mem(LL, rt, off, base)


def lld(rt: Gpr, off: int, base: Gpr) -> int:
    """rt = mem64[base + off] and open a link on the address."""
    return _mem(LLD, rt, off, base)


def sc(rt: Gpr, off: int, base: Gpr) -> int:
    """if linked: mem32[base + off] = rt[31:0]; rt = 1 if stored else 0."""
    return _mem(SC, rt, off, base)


def scd(rt: Gpr, off: int, base: Gpr) -> int:
    """if linked: mem64[base + off] = rt; rt = 1 if stored else 0."""
    return _mem(SCD, rt, off, base)


def sync(stype: int = 0) -> int:
    """Order memory accesses (stype 0: full barrier)."""
    return r_type(0, 0, 0, stype, 0o17)


# ---------------------------------------------------------------- branches and jumps
#
# Branch offsets are byte offsets from the delay slot (branch address + 4),
# as the hardware computes them; the code buffer subtracts addresses, the
# encoder only checks alignment and reach.  Every branch and jump here has a
# delay slot: the instruction after it always runs.

def beq(rs: Gpr, rt: Gpr, off: int) -> int:
    """if rs == rt: pc = slot + off."""
    return i_type(BEQ, rs, rt, _branch_offset(off))


def bne(rs: Gpr, rt: Gpr, off: int) -> int:
    """if rs != rt: pc = slot + off."""
    return i_type(BNE, rs, rt, _branch_offset(off))


def blez(rs: Gpr, off: int) -> int:
    """if rs <= 0 (signed): pc = slot + off."""
    return i_type(BLEZ, rs, 0, _branch_offset(off))


def bgtz(rs: Gpr, off: int) -> int:
    """if rs > 0 (signed): pc = slot + off."""
    return i_type(BGTZ, rs, 0, _branch_offset(off))


def bltz(rs: Gpr, off: int) -> int:
    """if rs < 0 (signed): pc = slot + off."""
    return regimm(rs, BLTZ_RT, _branch_offset(off))


def bgez(rs: Gpr, off: int) -> int:
    """if rs >= 0 (signed): pc = slot + off."""
    return regimm(rs, BGEZ_RT, _branch_offset(off))


# Branch-likely (deprecated in Release 2, removed in Release 6, still part of
# MIPS64r2): the delay slot runs only when the branch is taken.

def beql(rs: Gpr, rt: Gpr, off: int) -> int:
    """if rs == rt: pc = slot + off (else the delay slot is annulled)."""
    return i_type(BEQL, rs, rt, _branch_offset(off))


def bnel(rs: Gpr, rt: Gpr, off: int) -> int:
    """if rs != rt: pc = slot + off (else the delay slot is annulled)."""
    return i_type(BNEL, rs, rt, _branch_offset(off))


def blezl(rs: Gpr, off: int) -> int:
    """if rs <= 0 (signed): pc = slot + off (else the delay slot is annulled)."""
    return i_type(BLEZL, rs, 0, _branch_offset(off))


def bgtzl(rs: Gpr, off: int) -> int:
    """if rs > 0 (signed): pc = slot + off (else the delay slot is annulled)."""
    return i_type(BGTZL, rs, 0, _branch_offset(off))


def bltzl(rs: Gpr, off: int) -> int:
    """if rs < 0 (signed): pc = slot + off (else the delay slot is annulled)."""
    return regimm(rs, BLTZL_RT, _branch_offset(off))


def bgezl(rs: Gpr, off: int) -> int:
    """if rs >= 0 (signed): pc = slot + off (else the delay slot is annulled)."""
    return regimm(rs, BGEZL_RT, _branch_offset(off))


def _not_ra(rs: Gpr, name: str) -> None:
    # The linking branches write ra before reading rs: the manual makes rs = ra
    # unpredictable (it would not be restartable from the delay slot).
    if rs == Gpr.RA:
        raise EncodingError(f"{name} must not be ra")


def bltzal(rs: Gpr, off: int) -> int:
    """ra = slot + 4; if rs < 0 (signed): pc = slot + off.  rs must not be ra."""
    _not_ra(rs, "rs")
    return regimm(rs, BLTZAL_RT, _branch_offset(off))


def bgezal(rs: Gpr, off: int) -> int:
    """ra = slot + 4; if rs >= 0 (signed): pc = slot + off.  rs must not be ra."""
    _not_ra(rs, "rs")
    return regimm(rs, BGEZAL_RT, _branch_offset(off))


def b(off: int) -> int:
    """pc = slot + off (beq zero, zero)."""
    return beq(Gpr.ZERO, Gpr.ZERO, off)


def bal(off: int) -> int:
    """ra = slot + 4; pc = slot + off (bgezal zero)."""
    return bgezal(Gpr.ZERO, off)


def _jump_index(target: int, slot: int) -> int:
    for name, addr in (("target", target), ("slot", slot)):
        if not isinstance(addr, int):
            raise TypeError(f"{name} must be an int, not {type(addr).__name__}")
        if not 0 <= addr < 1 << 64:
            raise EncodingError(f"{name} 0x{addr:x} is not a 64-bit address")
    if target % 4:
        raise EncodingError(f"target 0x{target:x} is not a multiple of 4")
    if target // JUMP_REGION != slot // JUMP_REGION:
        raise EncodingError(f"target 0x{target:x} is outside the 256 MiB region "
                            f"of the delay slot at 0x{slot:x}")
    return target % JUMP_REGION >> 2


def j(target: int, slot: int) -> int:
    """pc = target, which must lie in the 256 MiB region of the delay slot at `slot`."""
    return j_type(J, _jump_index(target, slot))


def jal(target: int, slot: int) -> int:
    """ra = slot + 4; pc = target (same 256 MiB region as the delay slot at `slot`)."""
    return j_type(JAL, _jump_index(target, slot))


def jr(rs: Gpr) -> int:
    """pc = rs."""
    return r_type(rs, 0, 0, 0, 0o10)


def jalr(rs: Gpr, rd: Gpr = Gpr.RA) -> int:
    """rd = slot + 4; pc = rs (rd defaults to ra, must differ from rs; asm: `jalr rd, rs`)."""
    if rd == rs:
        raise EncodingError(f"rd {int(rd)} must differ from rs for jalr")
    return r_type(rs, 0, rd, 0, 0o11)


# ---------------------------------------------------------------- misc

def nop() -> int:
    """Do nothing (sll zero, zero, 0)."""
    return sll(Gpr.ZERO, Gpr.ZERO, 0)


def move(rd: Gpr, rs: Gpr) -> int:
    """rd = rs (or rd, rs, zero: what GNU as emits for `move`)."""
    return or_(rd, rs, Gpr.ZERO)


def break_(code: int = 0, code2: int = 0) -> int:
    """Breakpoint exception; `code`, `code2` are the assembler's `break code, code2` operands."""
    # The assembler's first code occupies the rs:rt bits, the second the code field.
    _field(code, 10, "code")
    return code_type(code >> 5, code & 0o37, _field(code2, 10, "code2"), 0o15)


def teq(rs: Gpr, rt: Gpr, code: int = 0) -> int:
    """Trap if rs == rt (64-bit compare); `code` is for the handler."""
    return code_type(rs, rt, _field(code, 10, "code"), 0o64)
