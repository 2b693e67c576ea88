"""Pure A64 (ARMv8-A, AArch64) instruction encoders: operands in, one 32-bit word out.

This module owns the bit layout of every instruction form the AArch64 backend
emits, range-checks every field (a value that does not fit raises
EncodingError naming the field; nothing is masked silently), and knows no eBPF
and no LIR.  Byte order is the code buffer's: an encoder returns an int.

Layout: the register type, then one format helper per encoding class, each
under its bit diagram (from the Arm ARM, "A64 instruction set encoding"), then
the mnemonic wrappers, one semantics line each.  `bits` selects the 32-bit
(W registers, sf=0) or 64-bit (X registers, sf=1) form; a write to a W
register zero-extends into the X register, which is why the backend declares
caps.alu32_zext.

Register number 31 is the zero register (xzr/wzr) in most operand positions
and the stack pointer in the base of loads/stores, add/sub immediate and the
pair loads/stores: `ZR` and `SP` name the same number, the form decides.

Branch displacements are byte offsets from the branch itself (multiples of 4).
The logical-immediate ("bitmask") encoder `bitmask` returns the (N, immr, imms)
triple for a value or None when it is not one of the 5,334 patterns
(64-bit) that AND/ORR/EOR/ANDS immediate can express.
"""
from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

from jit.errors import EncodingError


class Gpr(IntEnum):
    X0 = 0
    X1 = 1
    X2 = 2
    X3 = 3
    X4 = 4
    X5 = 5
    X6 = 6
    X7 = 7
    X8 = 8
    X9 = 9
    X10 = 10
    X11 = 11
    X12 = 12
    X13 = 13
    X14 = 14
    X15 = 15
    X16 = 16     # ip0
    X17 = 17     # ip1
    X18 = 18     # platform register
    X19 = 19
    X20 = 20
    X21 = 21
    X22 = 22
    X23 = 23
    X24 = 24
    X25 = 25
    X26 = 26
    X27 = 27
    X28 = 28
    X29 = 29     # fp (frame record)
    X30 = 30     # lr
    ZR = 31      # xzr/wzr, or sp where the form reads 31 as the stack pointer


SP = Gpr.ZR
ZR = Gpr.ZR
LR = Gpr.X30


class Cond(IntEnum):
    """Condition codes of b.cond (after cmp a, b: the named relation of a to b)."""
    EQ = 0
    NE = 1
    HS = 2      # unsigned >=
    LO = 3      # unsigned <
    MI = 4
    PL = 5
    VS = 6
    VC = 7
    HI = 8      # unsigned >
    LS = 9      # unsigned <=
    GE = 10     # signed >=
    LT = 11
    GT = 12
    LE = 13
    AL = 14


class Shift(IntEnum):
    LSL = 0
    LSR = 1
    ASR = 2
    ROR = 3     # logical (shifted register) forms only


def invert(c: Cond) -> Cond:
    """The opposite condition (flip the low bit)."""
    return Cond(c ^ 1)


def _field(v: int, bits: int, name: str) -> int:
    if not 0 <= v < (1 << bits):
        raise EncodingError(f"{name}={v} does not fit {bits} bits")
    return v


def _sfield(v: int, bits: int, name: str) -> int:
    """A signed field in two's complement."""
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise EncodingError(f"{name}={v} does not fit a signed {bits}-bit field")
    return v & ((1 << bits) - 1)


def _sf(bits: int) -> int:
    if bits == 64:
        return 1
    if bits == 32:
        return 0
    raise EncodingError(f"bits={bits} is not 32 or 64")


def _scaled(disp: int, bits: int, name: str) -> int:
    """A branch displacement as a signed count of words."""
    if disp % 4:
        raise EncodingError(f"{name}={disp} is not a multiple of 4")
    return _sfield(disp >> 2, bits, name)


# ---------------------------------------------------------------- format helpers

#  31 30 29 28      23 22 21         10 9    5 4    0
# | sf| op| S| 100010 | sh|   imm12     |  Rn  |  Rd  |
def add_sub_imm(sf: int, op: int, s: int, sh: int, imm12: int, rn: int, rd: int) -> int:
    return (sf << 31 | op << 30 | s << 29 | 0b100010 << 23 | _field(sh, 1, "sh") << 22
            | _field(imm12, 12, "imm12") << 10 | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28   24 23 22 21 20  16 15    10 9    5 4    0
# | sf| op| S| 01011 |shift| 0|  Rm  |  imm6  |  Rn  |  Rd  |
def add_sub_reg(sf: int, op: int, s: int, shift: int, rm: int, imm6: int, rn: int,
                rd: int) -> int:
    if shift == Shift.ROR:
        raise EncodingError("shift=ROR is reserved for add/sub")
    return (sf << 31 | op << 30 | s << 29 | 0b01011 << 24 | _field(shift, 2, "shift") << 22
            | _field(rm, 5, "rm") << 16 | _field(imm6, 5 + sf, "imm6") << 10
            | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28   24 23 22 21 20  16 15    10 9    5 4    0
# | sf| opc | 01010 |shift| N|  Rm  |  imm6  |  Rn  |  Rd  |
def logic_reg(sf: int, opc: int, n: int, shift: int, rm: int, imm6: int, rn: int,
              rd: int) -> int:
    return (sf << 31 | opc << 29 | 0b01010 << 24 | _field(shift, 2, "shift") << 22 | n << 21
            | _field(rm, 5, "rm") << 16 | _field(imm6, 5 + sf, "imm6") << 10
            | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28    23 22 21    16 15    10 9    5 4    0
# | sf| opc | 100100 | N|  immr  |  imms  |  Rn  |  Rd  |
def logic_imm(sf: int, opc: int, n: int, immr: int, imms: int, rn: int, rd: int) -> int:
    return (sf << 31 | opc << 29 | 0b100100 << 23 | n << 22 | _field(immr, 6, "immr") << 16
            | _field(imms, 6, "imms") << 10 | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28    23 22 21 20          5 4    0
# | sf| opc | 100101 |  hw |    imm16     |  Rd  |
def move_wide(sf: int, opc: int, hw: int, imm16: int, rd: int) -> int:
    if hw > 1 + 2 * sf:
        raise EncodingError(f"hw={hw} is out of range for a {32 << sf}-bit move")
    return (sf << 31 | opc << 29 | 0b100101 << 23 | _field(hw, 2, "hw") << 21
            | _field(imm16, 16, "imm16") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28    23 22 21    16 15    10 9    5 4    0
# | sf| opc | 100110 | N|  immr  |  imms  |  Rn  |  Rd  |     N == sf
def bitfield(sf: int, opc: int, immr: int, imms: int, rn: int, rd: int) -> int:
    w = 5 + sf
    return (sf << 31 | opc << 29 | 0b100110 << 23 | sf << 22 | _field(immr, w, "immr") << 16
            | _field(imms, w, "imms") << 10 | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28    23 22 21 20  16 15    10 9    5 4    0
# | sf| 00  | 100111 | N| 0|  Rm  |  imms  |  Rn  |  Rd  |     N == sf
def extract(sf: int, rm: int, imms: int, rn: int, rd: int) -> int:
    return (sf << 31 | 0b100111 << 23 | sf << 22 | _field(rm, 5, "rm") << 16
            | _field(imms, 5 + sf, "imms") << 10 | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28      21 20  16 15     10 9    5 4    0
# | sf| 0| 0| 11010110 |  Rm  | opcode  |  Rn  |  Rd  |
def dp2(sf: int, opcode: int, rm: int, rn: int, rd: int) -> int:
    return (sf << 31 | 0b11010110 << 21 | _field(rm, 5, "rm") << 16 | opcode << 10
            | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28      21 20  16 15     10 9    5 4    0
# | sf| 1| 0| 11010110 | 00000 | opcode |  Rn  |  Rd  |
def dp1(sf: int, opcode: int, rn: int, rd: int) -> int:
    return (sf << 31 | 1 << 30 | 0b11010110 << 21 | opcode << 10
            | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 28   24 23 21 20  16 15 14   10 9    5 4    0
# | sf| 00  | 11011 | 000 |  Rm  | o0|  Ra  |  Rn  |  Rd  |
def dp3(sf: int, o0: int, rm: int, ra: int, rn: int, rd: int) -> int:
    return (sf << 31 | 0b11011 << 24 | _field(rm, 5, "rm") << 16 | o0 << 15
            | _field(ra, 5, "ra") << 10 | _field(rn, 5, "rn") << 5 | _field(rd, 5, "rd"))


#  31 30 29 27 26 25 24 23 22 21          10 9    5 4    0
# | size | 111| 0| 01  | opc |    imm12     |  Rn  |  Rt  |
def ldst_uimm(size: int, opc: int, imm12: int, rn: int, rt: int) -> int:
    return (size << 30 | 0b111001 << 24 | opc << 22 | _field(imm12, 12, "imm12") << 10
            | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt"))


#  31 30 29 27 26 25 24 23 22 21 20     12 11 10 9    5 4    0
# | size | 111| 0| 00  | opc | 0|  imm9   | 0  0|  Rn  |  Rt  |
def ldst_unscaled(size: int, opc: int, imm9: int, rn: int, rt: int) -> int:
    return (size << 30 | 0b111000 << 24 | opc << 22 | _sfield(imm9, 9, "imm9") << 12
            | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt"))


#  31 30 29 27 26 25 24 23 22 21 20  16 15  13 12 11 10 9    5 4    0
# | size | 111| 0| 00  | opc | 1|  Rm  |option| S| 1  0|  Rn  |  Rt  |
def ldst_regoff(size: int, opc: int, rm: int, option: int, s: int, rn: int, rt: int) -> int:
    return (size << 30 | 0b111000 << 24 | opc << 22 | 1 << 21 | _field(rm, 5, "rm") << 16
            | _field(option, 3, "option") << 13 | _field(s, 1, "S") << 12 | 0b10 << 10
            | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt"))


#  31 30 29 27 26 25 23 22 21    15 14   10 9    5 4    0
# | opc  | 101| 0| mode | L|  imm7  |  Rt2  |  Rn  |  Rt  |
def ldst_pair(opc: int, mode: int, l: int, imm7: int, rt2: int, rn: int, rt: int) -> int:
    return (opc << 30 | 0b101 << 27 | mode << 23 | l << 22 | _sfield(imm7, 7, "imm7") << 15
            | _field(rt2, 5, "rt2") << 10 | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt"))


#  31 30 29    24 23 22 21 20  16 15 14   10 9    5 4    0
# | size | 001000| o2| L| o1|  Rs  | o0|  Rt2 |  Rn  |  Rt  |
def ldst_excl(size: int, o2: int, l: int, o1: int, rs: int, o0: int, rt2: int, rn: int,
              rt: int) -> int:
    return (size << 30 | 0b001000 << 24 | o2 << 23 | l << 22 | o1 << 21
            | _field(rs, 5, "rs") << 16 | o0 << 15 | _field(rt2, 5, "rt2") << 10
            | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt"))


#  31 30 29 27 26 25 24 23 22 21 20  16 15 14  12 11 10 9    5 4    0
# | size | 111| 0| 00  | A| R| 1|  Rs  | o3| opc | 0  0|  Rn  |  Rt  |
def lse(size: int, a: int, r: int, rs: int, o3: int, opc: int, rn: int, rt: int) -> int:
    return (size << 30 | 0b111000 << 24 | a << 23 | r << 22 | 1 << 21
            | _field(rs, 5, "rs") << 16 | o3 << 15 | opc << 12
            | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt"))


#  31      25 24 23             5 4 3    0
# | 0101010  | 0|     imm19       | 0| cond |
def b_cond_fmt(imm19: int, cond: int) -> int:
    return 0b0101010 << 25 | imm19 << 5 | _field(cond, 4, "cond")


#  31 30     25 24 23            5 4    0
# | sf| 011010 | op|    imm19     |  Rt  |
def cmp_branch(sf: int, op: int, imm19: int, rt: int) -> int:
    return sf << 31 | 0b011010 << 25 | op << 24 | imm19 << 5 | _field(rt, 5, "rt")


#  31 30     25 24 23  19 18        5 4    0
# | b5| 011011 | op| b40 |   imm14   |  Rt  |
def test_branch(b5: int, op: int, b40: int, imm14: int, rt: int) -> int:
    return b5 << 31 | 0b011011 << 25 | op << 24 | b40 << 19 | imm14 << 5 | _field(rt, 5, "rt")


#  31 30   26 25                        0
# | op| 00101 |          imm26           |
def b_imm(op: int, imm26: int) -> int:
    return op << 31 | 0b00101 << 26 | imm26


#  31      25 24 21 20   16 15   10 9    5 4    0
# | 1101011  | opc | 11111 | 000000|  Rn  | 00000|
def b_reg(opc: int, rn: int) -> int:
    return 0b1101011 << 25 | opc << 21 | 0b11111 << 16 | _field(rn, 5, "rn") << 5


# ---------------------------------------------------------------- logical immediates

def _ror(v: int, r: int, e: int) -> int:
    m = (1 << e) - 1
    return ((v >> r) | (v << (e - r))) & m if r else v & m


@lru_cache(maxsize=8192)
def bitmask(value: int, bits: int) -> tuple[int, int, int] | None:
    """(N, immr, imms) of a logical immediate equal to `value` in `bits` bits, or None.

    A logical immediate is an element of e in {2, 4, ..., bits} bits, replicated,
    each element a run of 1..e-1 ones rotated right by immr: all-zeros and
    all-ones are not encodable."""
    mask = (1 << bits) - 1
    value &= mask
    if value == 0 or value == mask:
        return None
    e = bits
    while e > 2:                        # the smallest element the value repeats
        half = e // 2
        lo = value & ((1 << half) - 1)
        if (value >> half) & ((1 << half) - 1) != lo:
            break
        if any((value >> (k * half)) & ((1 << half) - 1) != lo for k in range(bits // half)):
            break
        e = half
    elt = value & ((1 << e) - 1)
    ones = bin(elt).count("1")
    run = (1 << ones) - 1
    for r in range(e):
        if _ror(run, r, e) == elt:
            n = 1 if e == 64 else 0
            imms = (~(2 * e - 1) & 0x3F) | (ones - 1)
            return n, r, imms
    return None


# ---------------------------------------------------------------- add / sub

def _imm12(imm: int, name: str) -> tuple[int, int]:
    """(sh, imm12) of an add/sub immediate: 0..4095, or a multiple of 4096 up to 0xfff000."""
    if 0 <= imm <= 0xFFF:
        return 0, imm
    if imm & 0xFFF == 0 and 0 <= imm >> 12 <= 0xFFF:
        return 1, imm >> 12
    raise EncodingError(f"{name}={imm} is not an add/sub immediate (uimm12, optionally << 12)")


def add_imm(rd: Gpr, rn: Gpr, imm: int, bits: int = 64) -> int:
    """rd = rn + imm (imm12, or imm12 << 12; rd/rn 31 is sp)."""
    sh, v = _imm12(imm, "imm")
    return add_sub_imm(_sf(bits), 0, 0, sh, v, rn, rd)


def sub_imm(rd: Gpr, rn: Gpr, imm: int, bits: int = 64) -> int:
    """rd = rn - imm (rd/rn 31 is sp)."""
    sh, v = _imm12(imm, "imm")
    return add_sub_imm(_sf(bits), 1, 0, sh, v, rn, rd)


def cmp_imm(rn: Gpr, imm: int, bits: int = 64) -> int:
    """flags = rn - imm (subs zr, rn, #imm)."""
    sh, v = _imm12(imm, "imm")
    return add_sub_imm(_sf(bits), 1, 1, sh, v, rn, ZR)


def cmn_imm(rn: Gpr, imm: int, bits: int = 64) -> int:
    """flags = rn + imm (adds zr, rn, #imm)."""
    sh, v = _imm12(imm, "imm")
    return add_sub_imm(_sf(bits), 0, 1, sh, v, rn, ZR)


def add_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64, shift: Shift = Shift.LSL,
            amount: int = 0) -> int:
    """rd = rn + (rm <shift> amount)."""
    return add_sub_reg(_sf(bits), 0, 0, shift, rm, amount, rn, rd)


def sub_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64, shift: Shift = Shift.LSL,
            amount: int = 0) -> int:
    """rd = rn - (rm <shift> amount)."""
    return add_sub_reg(_sf(bits), 1, 0, shift, rm, amount, rn, rd)


def cmp_reg(rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """flags = rn - rm (subs zr, rn, rm)."""
    return add_sub_reg(_sf(bits), 1, 1, Shift.LSL, rm, 0, rn, ZR)


def neg(rd: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = -rm (sub rd, zr, rm)."""
    return add_sub_reg(_sf(bits), 1, 0, Shift.LSL, rm, 0, ZR, rd)


# ---------------------------------------------------------------- logical

LOGIC_OPC = {"and": 0, "orr": 1, "eor": 2, "ands": 3}


def _logic_reg(opc: int, n: int, rd: Gpr, rn: Gpr, rm: Gpr, bits: int, shift: Shift,
               amount: int) -> int:
    return logic_reg(_sf(bits), opc, n, shift, rm, amount, rn, rd)


def and_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64, shift: Shift = Shift.LSL,
            amount: int = 0) -> int:
    """rd = rn & (rm <shift> amount)."""
    return _logic_reg(0, 0, rd, rn, rm, bits, shift, amount)


def orr_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64, shift: Shift = Shift.LSL,
            amount: int = 0) -> int:
    """rd = rn | (rm <shift> amount)."""
    return _logic_reg(1, 0, rd, rn, rm, bits, shift, amount)


def eor_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64, shift: Shift = Shift.LSL,
            amount: int = 0) -> int:
    """rd = rn ^ (rm <shift> amount)."""
    return _logic_reg(2, 0, rd, rn, rm, bits, shift, amount)


def ands_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn & rm, setting N and Z."""
    return _logic_reg(3, 0, rd, rn, rm, bits, Shift.LSL, 0)


def tst_reg(rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """flags = rn & rm (ands zr, rn, rm)."""
    return _logic_reg(3, 0, ZR, rn, rm, bits, Shift.LSL, 0)


def bic_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn & ~rm."""
    return _logic_reg(0, 1, rd, rn, rm, bits, Shift.LSL, 0)


def orn_reg(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn | ~rm."""
    return _logic_reg(1, 1, rd, rn, rm, bits, Shift.LSL, 0)


def mov_reg(rd: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rm (orr rd, zr, rm; the 32-bit form zero-extends)."""
    return _logic_reg(1, 0, rd, ZR, rm, bits, Shift.LSL, 0)


def mvn(rd: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = ~rm (orn rd, zr, rm)."""
    return _logic_reg(1, 1, rd, ZR, rm, bits, Shift.LSL, 0)


def _logic_imm(opc: int, rd: Gpr, rn: Gpr, value: int, bits: int) -> int:
    enc = bitmask(value, bits)
    if enc is None:
        raise EncodingError(f"imm={value:#x} is not a {bits}-bit logical immediate")
    n, immr, imms = enc
    return logic_imm(_sf(bits), opc, n, immr, imms, rn, rd)


def and_imm(rd: Gpr, rn: Gpr, value: int, bits: int = 64) -> int:
    """rd = rn & value (a logical immediate; rd 31 is sp)."""
    return _logic_imm(0, rd, rn, value, bits)


def orr_imm(rd: Gpr, rn: Gpr, value: int, bits: int = 64) -> int:
    """rd = rn | value (a logical immediate; rd 31 is sp)."""
    return _logic_imm(1, rd, rn, value, bits)


def eor_imm(rd: Gpr, rn: Gpr, value: int, bits: int = 64) -> int:
    """rd = rn ^ value (a logical immediate; rd 31 is sp)."""
    return _logic_imm(2, rd, rn, value, bits)


def tst_imm(rn: Gpr, value: int, bits: int = 64) -> int:
    """flags = rn & value (ands zr, rn, #value)."""
    return _logic_imm(3, ZR, rn, value, bits)


# ---------------------------------------------------------------- moves

def _hw(shift: int) -> int:
    if shift % 16:
        raise EncodingError(f"shift={shift} is not a multiple of 16")
    return shift // 16


def movz(rd: Gpr, imm16: int, shift: int = 0, bits: int = 64) -> int:
    """rd = imm16 << shift (the rest zero)."""
    return move_wide(_sf(bits), 0b10, _hw(shift), imm16, rd)


def movn(rd: Gpr, imm16: int, shift: int = 0, bits: int = 64) -> int:
    """rd = ~(imm16 << shift)."""
    return move_wide(_sf(bits), 0b00, _hw(shift), imm16, rd)


def movk(rd: Gpr, imm16: int, shift: int = 0, bits: int = 64) -> int:
    """rd[shift+15:shift] = imm16, the other bits kept."""
    return move_wide(_sf(bits), 0b11, _hw(shift), imm16, rd)


# ---------------------------------------------------------------- bitfield moves

def sbfm(rd: Gpr, rn: Gpr, immr: int, imms: int, bits: int = 64) -> int:
    """Signed bitfield move (asr/sxt* are its aliases)."""
    return bitfield(_sf(bits), 0b00, immr, imms, rn, rd)


def ubfm(rd: Gpr, rn: Gpr, immr: int, imms: int, bits: int = 64) -> int:
    """Unsigned bitfield move (lsl/lsr/uxt*/ubfx are its aliases)."""
    return bitfield(_sf(bits), 0b10, immr, imms, rn, rd)


def _shift_amount(n: int, bits: int) -> int:
    if not 0 <= n < bits:
        raise EncodingError(f"shift={n} is out of range for {bits} bits")
    return n


def lsl_imm(rd: Gpr, rn: Gpr, n: int, bits: int = 64) -> int:
    """rd = rn << n."""
    n = _shift_amount(n, bits)
    return ubfm(rd, rn, (-n) % bits, bits - 1 - n, bits)


def lsr_imm(rd: Gpr, rn: Gpr, n: int, bits: int = 64) -> int:
    """rd = rn >> n (logical)."""
    return ubfm(rd, rn, _shift_amount(n, bits), bits - 1, bits)


def asr_imm(rd: Gpr, rn: Gpr, n: int, bits: int = 64) -> int:
    """rd = rn >> n (arithmetic)."""
    return sbfm(rd, rn, _shift_amount(n, bits), bits - 1, bits)


def extr(rd: Gpr, rn: Gpr, rm: Gpr, lsb: int, bits: int = 64) -> int:
    """rd = (rn:rm >> lsb), the low `bits` of the concatenation."""
    return extract(_sf(bits), rm, _shift_amount(lsb, bits), rn, rd)


def ror_imm(rd: Gpr, rn: Gpr, n: int, bits: int = 64) -> int:
    """rd = rn rotated right by n (extr rd, rn, rn, #n)."""
    return extr(rd, rn, rn, n, bits)


def ubfx(rd: Gpr, rn: Gpr, lsb: int, width: int, bits: int = 64) -> int:
    """rd = (rn >> lsb) & ((1 << width) - 1)."""
    if not (0 <= lsb < bits and 1 <= width <= bits - lsb):
        raise EncodingError(f"lsb={lsb} width={width} is not a field of {bits} bits")
    return ubfm(rd, rn, lsb, lsb + width - 1, bits)


def sxtb(rd: Gpr, rn: Gpr, bits: int = 64) -> int:
    """rd = sign-extend(rn[7:0])."""
    return sbfm(rd, rn, 0, 7, bits)


def sxth(rd: Gpr, rn: Gpr, bits: int = 64) -> int:
    """rd = sign-extend(rn[15:0])."""
    return sbfm(rd, rn, 0, 15, bits)


def sxtw(rd: Gpr, rn: Gpr) -> int:
    """rd = sign-extend(rn[31:0]) (64-bit only)."""
    return sbfm(rd, rn, 0, 31, 64)


def uxtb(rd: Gpr, rn: Gpr) -> int:
    """rd = rn[7:0] (the W form: zero-extends to 64)."""
    return ubfm(rd, rn, 0, 7, 32)


def uxth(rd: Gpr, rn: Gpr) -> int:
    """rd = rn[15:0] (the W form: zero-extends to 64)."""
    return ubfm(rd, rn, 0, 15, 32)


# ---------------------------------------------------------------- multiply, divide, shifts

def madd(rd: Gpr, rn: Gpr, rm: Gpr, ra: Gpr, bits: int = 64) -> int:
    """rd = ra + rn * rm."""
    return dp3(_sf(bits), 0, rm, ra, rn, rd)


def msub(rd: Gpr, rn: Gpr, rm: Gpr, ra: Gpr, bits: int = 64) -> int:
    """rd = ra - rn * rm."""
    return dp3(_sf(bits), 1, rm, ra, rn, rd)


def mul(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn * rm (madd with zr)."""
    return dp3(_sf(bits), 0, rm, ZR, rn, rd)


def udiv(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn / rm, unsigned (x / 0 == 0)."""
    return dp2(_sf(bits), 0b000010, rm, rn, rd)


def sdiv(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn / rm, signed, truncated (x / 0 == 0, INT_MIN / -1 == INT_MIN)."""
    return dp2(_sf(bits), 0b000011, rm, rn, rd)


def lslv(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn << (rm mod bits)."""
    return dp2(_sf(bits), 0b001000, rm, rn, rd)


def lsrv(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn >> (rm mod bits), logical."""
    return dp2(_sf(bits), 0b001001, rm, rn, rd)


def asrv(rd: Gpr, rn: Gpr, rm: Gpr, bits: int = 64) -> int:
    """rd = rn >> (rm mod bits), arithmetic."""
    return dp2(_sf(bits), 0b001010, rm, rn, rd)


def rev(rd: Gpr, rn: Gpr, bits: int = 64) -> int:
    """rd = rn with its bytes reversed (all 4 or 8)."""
    return dp1(_sf(bits), 0b000011 if bits == 64 else 0b000010, rn, rd)


def rev16(rd: Gpr, rn: Gpr, bits: int = 64) -> int:
    """rd = rn with the bytes of each halfword swapped."""
    return dp1(_sf(bits), 0b000001, rn, rd)


def rev32(rd: Gpr, rn: Gpr) -> int:
    """rd = rn with the bytes of each word reversed (64-bit only)."""
    return dp1(1, 0b000010, rn, rd)


# ---------------------------------------------------------------- loads and stores

# mnemonic -> (size, opc, bytes accessed).  ldrs* load into an X register (opc 10).
LDST = {
    "strb": (0, 0b00, 1), "ldrb": (0, 0b01, 1), "ldrsb": (0, 0b10, 1),
    "strh": (1, 0b00, 2), "ldrh": (1, 0b01, 2), "ldrsh": (1, 0b10, 2),
    "str_w": (2, 0b00, 4), "ldr_w": (2, 0b01, 4), "ldrsw": (2, 0b10, 4),
    "str_x": (3, 0b00, 8), "ldr_x": (3, 0b01, 8),
}


def ldst_fits_uimm(name: str, off: int) -> bool:
    """`off` is a scaled unsigned 12-bit offset of this access."""
    n = LDST[name][2]
    return 0 <= off <= 0xFFF * n and off % n == 0


def ldst_imm(name: str, rt: Gpr, rn: Gpr, off: int) -> int:
    """rt <-> [rn + off], off a multiple of the size, 0..4095 * size (rn 31 is sp).

    `name`: strb/ldrb/ldrsb, strh/ldrh/ldrsh, str_w/ldr_w/ldrsw, str_x/ldr_x."""
    size, opc, n = LDST[name]
    if off % n:
        raise EncodingError(f"off={off} is not a multiple of {n}")
    return ldst_uimm(size, opc, off // n, rn, rt)


def ldst_unscaled_imm(name: str, rt: Gpr, rn: Gpr, off: int) -> int:
    """rt <-> [rn + off], off -256..255 (ldur/stur and friends)."""
    size, opc, _ = LDST[name]
    return ldst_unscaled(size, opc, off, rn, rt)


def ldst_reg(name: str, rt: Gpr, rn: Gpr, rm: Gpr, scaled: bool = False) -> int:
    """rt <-> [rn + (rm << (scaled ? log2(size) : 0))] (rm a 64-bit register)."""
    size, opc, _ = LDST[name]
    return ldst_regoff(size, opc, rm, 0b011, int(scaled), rn, rt)


PAIR_MODE = {"post": 0b001, "offset": 0b010, "pre": 0b011}


def stp(rt: Gpr, rt2: Gpr, rn: Gpr, off: int, mode: str = "offset") -> int:
    """[rn + off] = rt, [rn + off + 8] = rt2 (64-bit; pre: rn += off first; post: after)."""
    if off % 8:
        raise EncodingError(f"off={off} is not a multiple of 8")
    return ldst_pair(0b10, PAIR_MODE[mode], 0, off // 8, rt2, rn, rt)


def ldp(rt: Gpr, rt2: Gpr, rn: Gpr, off: int, mode: str = "offset") -> int:
    """rt = [rn + off], rt2 = [rn + off + 8] (64-bit; pre/post as stp)."""
    if off % 8:
        raise EncodingError(f"off={off} is not a multiple of 8")
    return ldst_pair(0b10, PAIR_MODE[mode], 1, off // 8, rt2, rn, rt)


def str_pre(rt: Gpr, rn: Gpr, off: int) -> int:
    """rn += off; [rn] = rt (64-bit, off -256..255)."""
    return 0b11 << 30 | 0b111000 << 24 | _sfield(off, 9, "imm9") << 12 | 0b11 << 10 \
        | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt")


def ldr_post(rt: Gpr, rn: Gpr, off: int) -> int:
    """rt = [rn]; rn += off (64-bit, off -256..255)."""
    return 0b11 << 30 | 0b111000 << 24 | 0b01 << 22 | _sfield(off, 9, "imm9") << 12 \
        | 0b01 << 10 | _field(rn, 5, "rn") << 5 | _field(rt, 5, "rt")


# ---------------------------------------------------------------- exclusives and atomics

def _size(bits: int) -> int:
    return 3 if _sf(bits) else 2


def ldxr(rt: Gpr, rn: Gpr, bits: int = 64) -> int:
    """rt = [rn], marking the address for exclusive access."""
    return ldst_excl(_size(bits), 0, 1, 0, 31, 0, 31, rn, rt)


def ldaxr(rt: Gpr, rn: Gpr, bits: int = 64) -> int:
    """ldxr with acquire ordering."""
    return ldst_excl(_size(bits), 0, 1, 0, 31, 1, 31, rn, rt)


def stxr(rs: Gpr, rt: Gpr, rn: Gpr, bits: int = 64) -> int:
    """[rn] = rt if still exclusive; ws = 0 on success, 1 on failure."""
    return ldst_excl(_size(bits), 0, 0, 0, rs, 0, 31, rn, rt)


def stlxr(rs: Gpr, rt: Gpr, rn: Gpr, bits: int = 64) -> int:
    """stxr with release ordering."""
    return ldst_excl(_size(bits), 0, 0, 0, rs, 1, 31, rn, rt)


# ARMv8.1 LSE: mnemonic -> (o3, opc).  rt = old [rn]; [rn] = old <op> rs.
LSE_OPS = {"ldadd": (0, 0b000), "ldclr": (0, 0b001), "ldeor": (0, 0b010),
           "ldset": (0, 0b011), "swp": (1, 0b000)}


def lse_op(name: str, rs: Gpr, rt: Gpr, rn: Gpr, bits: int = 64, acquire: bool = False,
           release: bool = False) -> int:
    """rt = [rn]; [rn] = rt_old <op> rs, atomically (ldadd: +, ldclr: & ~, ldeor: ^,
    ldset: |, swp: rs).  acquire/release give the a/l/al suffixes; rt = zr is st<op>."""
    o3, opc = LSE_OPS[name]
    return lse(_size(bits), int(acquire), int(release), rs, o3, opc, rn, rt)


def cas(rs: Gpr, rt: Gpr, rn: Gpr, bits: int = 64, acquire: bool = False,
        release: bool = False) -> int:
    """old = [rn]; if old == rs: [rn] = rt; rs = old (atomically)."""
    return ldst_excl(_size(bits), 1, int(acquire), 1, rs, int(release), 31, rn, rt)


# ---------------------------------------------------------------- branches and system

def b_cond(cond: Cond, disp: int) -> int:
    """if cond: pc += disp (+-1 MiB)."""
    return b_cond_fmt(_scaled(disp, 19, "disp"), cond)


def cbz(rt: Gpr, disp: int, bits: int = 64) -> int:
    """if rt == 0: pc += disp (+-1 MiB)."""
    return cmp_branch(_sf(bits), 0, _scaled(disp, 19, "disp"), rt)


def cbnz(rt: Gpr, disp: int, bits: int = 64) -> int:
    """if rt != 0: pc += disp (+-1 MiB)."""
    return cmp_branch(_sf(bits), 1, _scaled(disp, 19, "disp"), rt)


def tbz(rt: Gpr, bit: int, disp: int) -> int:
    """if rt[bit] == 0: pc += disp (+-32 KiB)."""
    _field(bit, 6, "bit")
    return test_branch(bit >> 5, 0, bit & 31, _scaled(disp, 14, "disp"), rt)


def tbnz(rt: Gpr, bit: int, disp: int) -> int:
    """if rt[bit] == 1: pc += disp (+-32 KiB)."""
    _field(bit, 6, "bit")
    return test_branch(bit >> 5, 1, bit & 31, _scaled(disp, 14, "disp"), rt)


def b(disp: int) -> int:
    """pc += disp (+-128 MiB)."""
    return b_imm(0, _scaled(disp, 26, "disp"))


def bl(disp: int) -> int:
    """lr = pc + 4; pc += disp (+-128 MiB)."""
    return b_imm(1, _scaled(disp, 26, "disp"))


def br(rn: Gpr) -> int:
    """pc = rn."""
    return b_reg(0b0000, rn)


def blr(rn: Gpr) -> int:
    """lr = pc + 4; pc = rn."""
    return b_reg(0b0001, rn)


def ret(rn: Gpr = LR) -> int:
    """pc = rn (lr by default)."""
    return b_reg(0b0010, rn)


def nop() -> int:
    """Nothing."""
    return 0xD503201F


def brk(imm16: int) -> int:
    """Breakpoint exception with a 16-bit comment."""
    return 0xD4200000 | _field(imm16, 16, "imm16") << 5


def dmb_ish() -> int:
    """Data memory barrier, inner shareable, all accesses."""
    return 0xD5033BBF


B_REACH = 1 << 27           # b/bl: +-128 MiB
BCOND_REACH = 1 << 20       # b.cond, cbz/cbnz: +-1 MiB
TB_REACH = 1 << 15          # tbz/tbnz: +-32 KiB


def fits_b(disp: int) -> bool:
    return -B_REACH <= disp < B_REACH


def fits_bcond(disp: int) -> bool:
    return -BCOND_REACH <= disp < BCOND_REACH
