"""ARMv7-A A32 instruction encoders (ARM state).

Owns: one pure function per instruction form, operands in and a 32-bit word
out, plus the range constants a code buffer needs for branch relaxation and
offset checks.  Every field is checked; a value that does not fit raises
`EncodingError` naming the field, and so does a register choice the ARM ARM
calls UNPREDICTABLE (pc in a multiply, writeback onto the transfer register,
an odd first register of a pair), because such a word would run differently
on different cores instead of failing here.

Does not own: byte order (the code buffer writes the word little-endian),
the register map (regs.py), which sequence an eBPF op becomes (emit.py), or
choosing between forms (movw/movt versus a rotated immediate, a plain mov
versus `lsr #0`): callers ask `encode_imm12` and the range constants first.

Layout: enums and constants, field checks, format helpers (each under the
bit diagram of its encoding class, names as in the ARM ARM), then mnemonic
wrappers grouped as the ARM ARM groups them.  Wrappers are named by operand
form, as the ARM ARM titles them: `add_imm` (ADD immediate), `add_reg`
(register, optionally shifted by a constant), `add_rsr` (register-shifted
register); `lsl_imm`/`lsl_reg` shift by a constant or by a register.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from jit.errors import EncodingError


class Reg(IntEnum):
    """A32 core registers; the value is the 4-bit register field."""
    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10
    R11 = 11
    R12 = 12
    SP = 13
    LR = 14
    PC = 15


class Cond(IntEnum):
    """Condition codes (bits 31:28); every conditional wrapper defaults to AL."""
    EQ = 0x0  # Z
    NE = 0x1  # !Z
    CS = 0x2  # C (unsigned >=)
    CC = 0x3  # !C (unsigned <)
    MI = 0x4  # N
    PL = 0x5  # !N
    VS = 0x6  # V
    VC = 0x7  # !V
    HI = 0x8  # C && !Z (unsigned >)
    LS = 0x9  # !C || Z (unsigned <=)
    GE = 0xA  # N == V
    LT = 0xB  # N != V
    GT = 0xC  # !Z && N == V
    LE = 0xD  # Z || N != V
    AL = 0xE  # always
    HS = 0x2  # alias of CS
    LO = 0x3  # alias of CC


class Shift(IntEnum):
    """Shift applied to a register operand; the value is the 2-bit `type` field."""
    LSL = 0
    LSR = 1
    ASR = 2
    ROR = 3
    RRX = 4  # rotate right by one through C: encoded as ROR with amount 0


class DpOp(IntEnum):
    """The 4-bit opcode of the data-processing instructions."""
    AND = 0x0
    EOR = 0x1
    SUB = 0x2
    RSB = 0x3
    ADD = 0x4
    ADC = 0x5
    SBC = 0x6
    RSC = 0x7
    TST = 0x8
    TEQ = 0x9
    CMP = 0xA
    CMN = 0xB
    ORR = 0xC
    MOV = 0xD
    BIC = 0xE
    MVN = 0xF


class Index(IntEnum):
    """Addressing mode of a load/store with an immediate offset."""
    OFFSET = 0  # [rn, #off]      address = rn + off, rn unchanged
    PRE = 1     # [rn, #off]!     address = rn + off, rn = address
    POST = 2    # [rn], #off      address = rn, then rn = rn + off


class Barrier(IntEnum):
    """The 4-bit option field of DMB."""
    SY = 0xF
    ST = 0xE
    ISH = 0xB
    ISHST = 0xA


# A32 reads pc as the address of the current instruction plus 8.  The offset
# given to `b`/`bl` is target - (address of the branch + PC_BIAS).
PC_BIAS = 8
# b/bl: a signed 24-bit word offset, so that argument must lie in
# B_MIN..B_MAX and be a multiple of 4 (a code buffer relaxes or rejects
# branches outside it).
B_MIN = -(1 << 25)
B_MAX = (1 << 25) - 4
B_RANGE = (B_MIN, B_MAX)
# The same reach measured from the branch itself (target - branch address),
# as jit.buffer's BranchForm.fits receives it.
B_REACH = (B_MIN + PC_BIAS, B_MAX + PC_BIAS)
# ldr/str/ldrb/strb: 12-bit magnitude with a separate add/subtract bit.
LDR_IMM_MAX = 4095
LDR_IMM_RANGE = (-LDR_IMM_MAX, LDR_IMM_MAX)
# ldrh/strh/ldrsb/ldrsh/ldrd/strd: 8-bit magnitude split over two nibbles.
LDRH_IMM_MAX = 255
LDRH_IMM_RANGE = (-LDRH_IMM_MAX, LDRH_IMM_MAX)
# movw/movt
IMM16_MAX = 0xFFFF


# ---------------------------------------------------------------- field checks

def _field(value: int, bits: int, name: str) -> int:
    if not 0 <= value < (1 << bits):
        raise EncodingError(f"{name}: {value} does not fit in {bits} unsigned bits")
    return int(value)


def _bit(flag: bool | int, name: str) -> int:
    return _field(int(flag), 1, name)


def _cond(cond: Cond) -> int:
    # 0b1111 is not a condition: it selects the unconditional instruction space.
    if not 0 <= cond <= Cond.AL:
        raise EncodingError(f"cond: {cond} is not a condition code (0..14)")
    return int(cond)


def _reg(r: Reg, name: str) -> int:
    return _field(r, 4, name)


def _not_pc(r: Reg, name: str) -> None:
    if r == Reg.PC:
        raise EncodingError(f"{name}: pc is UNPREDICTABLE here")


def _no_pc(**regs: Reg) -> None:
    for name, r in regs.items():
        _not_pc(r, name)


def _distinct(a: Reg, a_name: str, b: Reg, b_name: str) -> None:
    if a == b:
        raise EncodingError(f"{a_name}: must differ from {b_name} (both r{int(a)}): UNPREDICTABLE")


def _pair(rt: Reg, rt2: Reg) -> None:
    """ldrd/strd/ldrexd/strexd move an even/odd pair rt, rt+1 (never lr, pc)."""
    if rt % 2 or rt == Reg.LR:
        raise EncodingError(f"rt: r{int(rt)} must be an even register below lr")
    if rt2 != rt + 1:
        raise EncodingError(f"rt2: r{int(rt2)} must be r{int(rt) + 1}, the register after rt")


def encode_imm12(value: int) -> int | None:
    """The 12-bit rot:imm8 field for `value` (imm8 rotated right by 2*rot), or None.

    `value` is a 32-bit pattern; negative values are taken as two's complement
    (-2^31 <= value < 2^32).  Of several encodings the smallest rotation is
    chosen, as GNU as and LLVM do.
    """
    if not -(1 << 31) <= value < (1 << 32):
        return None
    v = value & 0xFFFFFFFF
    for rot in range(16):
        # imm8 ror 2*rot == v  <=>  v rol 2*rot fits in 8 bits
        imm8 = ((v << 2 * rot) | (v >> (32 - 2 * rot))) & 0xFFFFFFFF
        if imm8 <= 0xFF:
            return rot << 8 | imm8
    return None


def decode_imm12(imm12: int) -> int:
    """The 32-bit value of a rot:imm8 field (the inverse of `encode_imm12`)."""
    _field(imm12, 12, "imm12")
    rot, imm8 = 2 * (imm12 >> 8), imm12 & 0xFF
    return ((imm8 >> rot) | (imm8 << (32 - rot))) & 0xFFFFFFFF


def _modified_imm(value: int) -> int:
    imm12 = encode_imm12(value)
    if imm12 is None:
        shown = f"{value:#x}" if value >= 0 else str(value)
        raise EncodingError(f"imm: {shown} is not an ARM modified immediate"
                            " (8 bits rotated right by an even amount)")
    return imm12


def _shift_imm(shift: Shift, amount: int) -> tuple[int, int]:
    """(imm5, type) for a shift by a constant.

    LSR and ASR encode an amount of 32 as imm5 = 0, so `lsr #0` cannot be
    encoded: it would silently become `lsr #32`.  (The kernel's ARM32 JIT once
    emitted exactly that for a 64-bit RSH/ARSH by 0.)  Callers emit a plain
    mov for a zero shift.
    """
    match shift:
        case Shift.LSL:
            if not 0 <= amount <= 31:
                raise EncodingError(f"amount: lsl #{amount} is outside 0..31")
            return amount, Shift.LSL
        case Shift.LSR | Shift.ASR:
            if not 1 <= amount <= 32:
                raise EncodingError(f"amount: {Shift(shift).name.lower()} #{amount} is outside 1..32"
                                    " (imm5 = 0 means 32; emit a plain mov for 0)")
            return amount % 32, shift
        case Shift.ROR:
            if not 1 <= amount <= 31:
                raise EncodingError(f"amount: ror #{amount} is outside 1..31 (ror #0 is rrx)")
            return amount, Shift.ROR
        case Shift.RRX:
            if amount != 0:
                raise EncodingError(f"amount: rrx takes no amount, got {amount}")
            return 0, Shift.ROR
    raise EncodingError(f"shift: {shift!r} is not a shift type")


def _offset(off: int, limit: int, name: str) -> tuple[int, int]:
    """(U, magnitude) for a signed load/store offset: U = 1 adds, U = 0 subtracts."""
    if not -limit <= off <= limit:
        raise EncodingError(f"{name}: {off} is outside -{limit}..{limit}")
    return (1, off) if off >= 0 else (0, -off)


def _index(index: Index, rt: Reg, rn: Reg) -> tuple[int, int]:
    """(P, W) for an addressing mode; writeback onto pc or onto rt is UNPREDICTABLE."""
    match index:
        case Index.OFFSET:
            return 1, 0
        case Index.PRE | Index.POST:
            _not_pc(rn, "rn")
            _distinct(rn, "rn", rt, "rt")
            # P = 0, W = 1 would be the unprivileged ldrt/strt, never wanted here.
            return (1, 1) if index == Index.PRE else (0, 0)
    raise EncodingError(f"index: {index!r} is not an addressing mode")


def _reglist(regs: Iterable[Reg]) -> int:
    mask = 0
    for r in regs:
        bit = 1 << _reg(r, "regs")
        if mask & bit:
            raise EncodingError(f"regs: r{int(r)} listed twice")
        mask |= bit
    if mask == 0:
        raise EncodingError("regs: empty register list")
    return mask


# -------------------------------------------------------------- format helpers

#  31  28 27 26 25 24    21 20 19  16 15  12 11    8 7          0
# | cond | 0  0 | 1| opcode | S|  Rn  |  Rd  |  rot  |    imm8    |
def dp_imm(cond: Cond, op: DpOp, s: int, rn: Reg, rd: Reg, imm12: int) -> int:
    return (_cond(cond) << 28 | 1 << 25 | _field(op, 4, "op") << 21 | _bit(s, "s") << 20
            | _reg(rn, "rn") << 16 | _reg(rd, "rd") << 12 | _field(imm12, 12, "imm12"))


#  31  28 27 26 25 24    21 20 19  16 15  12 11     7 6  5 4 3   0
# | cond | 0  0 | 0| opcode | S|  Rn  |  Rd  |  imm5  | type|0|  Rm |
def dp_reg(cond: Cond, op: DpOp, s: int, rn: Reg, rd: Reg, imm5: int, type_: int,
           rm: Reg) -> int:
    return (_cond(cond) << 28 | _field(op, 4, "op") << 21 | _bit(s, "s") << 20
            | _reg(rn, "rn") << 16 | _reg(rd, "rd") << 12 | _field(imm5, 5, "imm5") << 7
            | _field(type_, 2, "type") << 5 | _reg(rm, "rm"))


#  31  28 27 26 25 24    21 20 19  16 15  12 11   8 7 6  5 4 3   0
# | cond | 0  0 | 0| opcode | S|  Rn  |  Rd  |  Rs  |0| type|1|  Rm |
def dp_rsr(cond: Cond, op: DpOp, s: int, rn: Reg, rd: Reg, rs: Reg, type_: int,
           rm: Reg) -> int:
    return (_cond(cond) << 28 | _field(op, 4, "op") << 21 | _bit(s, "s") << 20
            | _reg(rn, "rn") << 16 | _reg(rd, "rd") << 12 | _reg(rs, "rs") << 8
            | _field(type_, 2, "type") << 5 | 1 << 4 | _reg(rm, "rm"))


#  31  28 27     24 23  20 19  16 15             0
# | cond | 0 0 1 1 |0 H 0 0| imm4 |  Rd  |  imm12  |      H = 0 movw, 1 movt
def mov16(cond: Cond, top: int, rd: Reg, imm16: int) -> int:
    _field(imm16, 16, "imm16")
    return (_cond(cond) << 28 | 0b0011 << 24 | _bit(top, "top") << 22 | (imm16 >> 12) << 16
            | _reg(rd, "rd") << 12 | imm16 & 0xFFF)


#  31  28 27    24 23 21 20 19  16 15  12 11   8 7    4 3   0
# | cond | 0 0 0 0 |  op | S|  Rd  |  Ra  |  Rm  | 1001 |  Rn |
#                           (RdHi)  (RdLo)               long multiplies
def multiply(cond: Cond, op: int, s: int, rd: Reg, ra: Reg, rm: Reg, rn: Reg) -> int:
    return (_cond(cond) << 28 | _field(op, 3, "op") << 21 | _bit(s, "s") << 20
            | _reg(rd, "rd") << 16 | _reg(ra, "ra") << 12 | _reg(rm, "rm") << 8
            | 0b1001 << 4 | _reg(rn, "rn"))


#  31  28 27    23 22 20 19  16 15  12 11   8 7    4 3   0
# | cond | 0 1 1 1 0|  op | Rd   | 1111 |  Rm  | 0001 |  Rn |    op = 001 sdiv, 011 udiv
def divide(cond: Cond, op: int, rd: Reg, rm: Reg, rn: Reg) -> int:
    return (_cond(cond) << 28 | 0b01110 << 23 | _field(op, 3, "op") << 20
            | _reg(rd, "rd") << 16 | 0xF << 12 | _reg(rm, "rm") << 8 | 0b0001 << 4
            | _reg(rn, "rn"))


#  31  28 27     23 22 21 20 19  16 15  12 11   8 7    4 3   0
# | cond | 0 0 0 1 0| op  | 0| 1111 |  Rd  | 1111 |  op2 |  Rm |    bx, blx, clz
def misc(cond: Cond, op: int, rd: Reg, op2: int, rm: Reg) -> int:
    return (_cond(cond) << 28 | 0b00010 << 23 | _field(op, 2, "op") << 21 | 0xF << 16
            | _reg(rd, "rd") << 12 | 0xF << 8 | _field(op2, 4, "op2") << 4 | _reg(rm, "rm"))


#  31  28 27    23 22 20 19  16 15  12 11   8 7  5 4 3   0
# | cond | 0 1 1 0 1| op1 |  Rn  |  Rd  |  mid | op2 |1|  Rm |
#   rev/rev16/revsh: Rn = mid = 1111; uxt*/sxt*: Rn = 1111, mid = rotate:00
def media(cond: Cond, op1: int, rn: Reg, rd: Reg, mid: int, op2: int, rm: Reg) -> int:
    return (_cond(cond) << 28 | 0b01101 << 23 | _field(op1, 3, "op1") << 20
            | _reg(rn, "rn") << 16 | _reg(rd, "rd") << 12 | _field(mid, 4, "mid") << 8
            | _field(op2, 3, "op2") << 5 | 1 << 4 | _reg(rm, "rm"))


#  31  28 27 25 24 23 22 21 20 19  16 15  12 11             0
# | cond | 010 | P| U| B| W| L|  Rn  |  Rt  |     imm12     |
def ls_imm(cond: Cond, p: int, u: int, b: int, w: int, l: int, rn: Reg, rt: Reg,
           imm12: int) -> int:
    return (_cond(cond) << 28 | 0b010 << 25 | _bit(p, "p") << 24 | _bit(u, "u") << 23
            | _bit(b, "b") << 22 | _bit(w, "w") << 21 | _bit(l, "l") << 20
            | _reg(rn, "rn") << 16 | _reg(rt, "rt") << 12 | _field(imm12, 12, "imm12"))


#  31  28 27 25 24 23 22 21 20 19  16 15  12 11     7 6  5 4 3   0
# | cond | 011 | P| U| B| W| L|  Rn  |  Rt  |  imm5  | type|0|  Rm |
def ls_reg(cond: Cond, p: int, u: int, b: int, w: int, l: int, rn: Reg, rt: Reg, imm5: int,
           type_: int, rm: Reg) -> int:
    return (_cond(cond) << 28 | 0b011 << 25 | _bit(p, "p") << 24 | _bit(u, "u") << 23
            | _bit(b, "b") << 22 | _bit(w, "w") << 21 | _bit(l, "l") << 20
            | _reg(rn, "rn") << 16 | _reg(rt, "rt") << 12 | _field(imm5, 5, "imm5") << 7
            | _field(type_, 2, "type") << 5 | _reg(rm, "rm"))


#  31  28 27 25 24 23 22 21 20 19  16 15  12 11   8 7 6  5 4 3   0
# | cond | 000 | P| U| 1| W| L|  Rn  |  Rt  | imm4H|1| op2 |1|imm4L|
#   op2 (with L): 01 strh/ldrh, 10 ldrd/ldrsb, 11 strd/ldrsh
def ls_extra_imm(cond: Cond, p: int, u: int, w: int, l: int, rn: Reg, rt: Reg, imm8: int,
                 op2: int) -> int:
    _field(imm8, 8, "imm8")
    return (_cond(cond) << 28 | _bit(p, "p") << 24 | _bit(u, "u") << 23 | 1 << 22
            | _bit(w, "w") << 21 | _bit(l, "l") << 20 | _reg(rn, "rn") << 16
            | _reg(rt, "rt") << 12 | (imm8 >> 4) << 8 | 1 << 7 | _field(op2, 2, "op2") << 5
            | 1 << 4 | imm8 & 0xF)


#  31  28 27 25 24 23 22 21 20 19  16 15  12 11   8 7 6  5 4 3   0
# | cond | 000 | P| U| 0| W| L|  Rn  |  Rt  | 0000 |1| op2 |1|  Rm |
def ls_extra_reg(cond: Cond, p: int, u: int, w: int, l: int, rn: Reg, rt: Reg, op2: int,
                 rm: Reg) -> int:
    return (_cond(cond) << 28 | _bit(p, "p") << 24 | _bit(u, "u") << 23 | _bit(w, "w") << 21
            | _bit(l, "l") << 20 | _reg(rn, "rn") << 16 | _reg(rt, "rt") << 12 | 1 << 7
            | _field(op2, 2, "op2") << 5 | 1 << 4 | _reg(rm, "rm"))


#  31  28 27     23 22 21 20 19  16 15  12 11   8 7    4 3   0
# | cond | 0 0 0 1 1|  op | L|  Rn  |  Rd  | 1111 | 1001 |  Rt |
#   op = 00 word, 01 doubleword; loads put the loaded Rt in bits 15:12 and
#   1111 in bits 3:0; stores put the status result Rd in bits 15:12.
def exclusive(cond: Cond, op: int, l: int, rn: Reg, rd: Reg, rt: Reg) -> int:
    return (_cond(cond) << 28 | 0b00011 << 23 | _field(op, 2, "op") << 21 | _bit(l, "l") << 20
            | _reg(rn, "rn") << 16 | _reg(rd, "rd") << 12 | 0xF << 8 | 0b1001 << 4
            | _reg(rt, "rt"))


#  31  28 27 25 24 23 22 21 20 19  16 15                  0
# | cond | 100 | P| U| 0| W| L|  Rn  |    register_list    |
def block(cond: Cond, p: int, u: int, w: int, l: int, rn: Reg, reglist: int) -> int:
    return (_cond(cond) << 28 | 0b100 << 25 | _bit(p, "p") << 24 | _bit(u, "u") << 23
            | _bit(w, "w") << 21 | _bit(l, "l") << 20 | _reg(rn, "rn") << 16
            | _field(reglist, 16, "register_list"))


#  31  28 27 25 24 23                                    0
# | cond | 101 | L|               imm24                   |    target = pc + 8 + 4*imm24
def branch(cond: Cond, link: int, imm24: int) -> int:
    return _cond(cond) << 28 | 0b101 << 25 | _bit(link, "link") << 24 | _field(imm24, 24, "imm24")


#  31  28 27                 20 19  16 15  12 11   8 7            0
# | cond | 0 0 1 1 0 0 1 0 | 0000 | 1111 | 0000 |     op8      |    nop = op8 0
def hint(cond: Cond, op8: int) -> int:
    return _cond(cond) << 28 | 0x320F000 | _field(op8, 8, "op8")


# ------------------------------------------------------ data-processing wrappers

def _dp_imm(op: DpOp, s: int, rd: Reg, rn: Reg, value: int, cond: Cond) -> int:
    return dp_imm(cond, op, s, rn, rd, _modified_imm(value))


def _dp_reg(op: DpOp, s: int, rd: Reg, rn: Reg, rm: Reg, shift: Shift, amount: int,
            cond: Cond) -> int:
    imm5, type_ = _shift_imm(shift, amount)
    return dp_reg(cond, op, s, rn, rd, imm5, type_, rm)


def _dp_rsr(op: DpOp, s: int, rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg,
            cond: Cond) -> int:
    # mov/mvn leave Rn as 0000 and compares leave Rd as 0000, so r0 there is never pc.
    _no_pc(rd=rd, rn=rn, rm=rm, rs=rs)
    if shift not in (Shift.LSL, Shift.LSR, Shift.ASR, Shift.ROR):
        raise EncodingError(f"shift: {shift!r} cannot take its amount from a register")
    return dp_rsr(cond, op, s, rn, rd, rs, shift, rm)


def and_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn & imm."""
    return _dp_imm(DpOp.AND, 0, rd, rn, imm, cond)


def and_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn & (rm <shift> #amount)."""
    return _dp_reg(DpOp.AND, 0, rd, rn, rm, shift, amount, cond)


def and_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn & (rm <shift> rs)."""
    return _dp_rsr(DpOp.AND, 0, rd, rn, rm, shift, rs, cond)


def ands_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn & imm, setting N, Z and the shifter's C."""
    return _dp_imm(DpOp.AND, 1, rd, rn, imm, cond)


def ands_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn & (rm <shift> #amount), setting N, Z and the shifter's C."""
    return _dp_reg(DpOp.AND, 1, rd, rn, rm, shift, amount, cond)


def ands_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn & (rm <shift> rs), setting N, Z and the shifter's C."""
    return _dp_rsr(DpOp.AND, 1, rd, rn, rm, shift, rs, cond)


def eor_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn ^ imm."""
    return _dp_imm(DpOp.EOR, 0, rd, rn, imm, cond)


def eor_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn ^ (rm <shift> #amount)."""
    return _dp_reg(DpOp.EOR, 0, rd, rn, rm, shift, amount, cond)


def eor_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn ^ (rm <shift> rs)."""
    return _dp_rsr(DpOp.EOR, 0, rd, rn, rm, shift, rs, cond)


def eors_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn ^ imm, setting N, Z and the shifter's C."""
    return _dp_imm(DpOp.EOR, 1, rd, rn, imm, cond)


def eors_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn ^ (rm <shift> #amount), setting N, Z and the shifter's C."""
    return _dp_reg(DpOp.EOR, 1, rd, rn, rm, shift, amount, cond)


def eors_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn ^ (rm <shift> rs), setting N, Z and the shifter's C."""
    return _dp_rsr(DpOp.EOR, 1, rd, rn, rm, shift, rs, cond)


def sub_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn - imm."""
    return _dp_imm(DpOp.SUB, 0, rd, rn, imm, cond)


def sub_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> #amount)."""
    return _dp_reg(DpOp.SUB, 0, rd, rn, rm, shift, amount, cond)


def sub_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> rs)."""
    return _dp_rsr(DpOp.SUB, 0, rd, rn, rm, shift, rs, cond)


def subs_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn - imm, setting NZCV."""
    return _dp_imm(DpOp.SUB, 1, rd, rn, imm, cond)


def subs_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> #amount), setting NZCV."""
    return _dp_reg(DpOp.SUB, 1, rd, rn, rm, shift, amount, cond)


def subs_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> rs), setting NZCV."""
    return _dp_rsr(DpOp.SUB, 1, rd, rn, rm, shift, rs, cond)


def rsb_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = imm - rn."""
    return _dp_imm(DpOp.RSB, 0, rd, rn, imm, cond)


def rsb_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> #amount) - rn."""
    return _dp_reg(DpOp.RSB, 0, rd, rn, rm, shift, amount, cond)


def rsb_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> rs) - rn."""
    return _dp_rsr(DpOp.RSB, 0, rd, rn, rm, shift, rs, cond)


def rsbs_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = imm - rn, setting NZCV."""
    return _dp_imm(DpOp.RSB, 1, rd, rn, imm, cond)


def rsbs_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> #amount) - rn, setting NZCV."""
    return _dp_reg(DpOp.RSB, 1, rd, rn, rm, shift, amount, cond)


def rsbs_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> rs) - rn, setting NZCV."""
    return _dp_rsr(DpOp.RSB, 1, rd, rn, rm, shift, rs, cond)


def add_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn + imm."""
    return _dp_imm(DpOp.ADD, 0, rd, rn, imm, cond)


def add_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> #amount)."""
    return _dp_reg(DpOp.ADD, 0, rd, rn, rm, shift, amount, cond)


def add_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> rs)."""
    return _dp_rsr(DpOp.ADD, 0, rd, rn, rm, shift, rs, cond)


def adds_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn + imm, setting NZCV."""
    return _dp_imm(DpOp.ADD, 1, rd, rn, imm, cond)


def adds_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> #amount), setting NZCV."""
    return _dp_reg(DpOp.ADD, 1, rd, rn, rm, shift, amount, cond)


def adds_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> rs), setting NZCV."""
    return _dp_rsr(DpOp.ADD, 1, rd, rn, rm, shift, rs, cond)


def adc_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn + imm + C."""
    return _dp_imm(DpOp.ADC, 0, rd, rn, imm, cond)


def adc_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> #amount) + C."""
    return _dp_reg(DpOp.ADC, 0, rd, rn, rm, shift, amount, cond)


def adc_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> rs) + C."""
    return _dp_rsr(DpOp.ADC, 0, rd, rn, rm, shift, rs, cond)


def adcs_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn + imm + C, setting NZCV."""
    return _dp_imm(DpOp.ADC, 1, rd, rn, imm, cond)


def adcs_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> #amount) + C, setting NZCV."""
    return _dp_reg(DpOp.ADC, 1, rd, rn, rm, shift, amount, cond)


def adcs_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn + (rm <shift> rs) + C, setting NZCV."""
    return _dp_rsr(DpOp.ADC, 1, rd, rn, rm, shift, rs, cond)


def sbc_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn - imm - !C."""
    return _dp_imm(DpOp.SBC, 0, rd, rn, imm, cond)


def sbc_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> #amount) - !C."""
    return _dp_reg(DpOp.SBC, 0, rd, rn, rm, shift, amount, cond)


def sbc_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> rs) - !C."""
    return _dp_rsr(DpOp.SBC, 0, rd, rn, rm, shift, rs, cond)


def sbcs_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn - imm - !C, setting NZCV."""
    return _dp_imm(DpOp.SBC, 1, rd, rn, imm, cond)


def sbcs_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> #amount) - !C, setting NZCV."""
    return _dp_reg(DpOp.SBC, 1, rd, rn, rm, shift, amount, cond)


def sbcs_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn - (rm <shift> rs) - !C, setting NZCV."""
    return _dp_rsr(DpOp.SBC, 1, rd, rn, rm, shift, rs, cond)


def rsc_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = imm - rn - !C."""
    return _dp_imm(DpOp.RSC, 0, rd, rn, imm, cond)


def rsc_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> #amount) - rn - !C."""
    return _dp_reg(DpOp.RSC, 0, rd, rn, rm, shift, amount, cond)


def rsc_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> rs) - rn - !C."""
    return _dp_rsr(DpOp.RSC, 0, rd, rn, rm, shift, rs, cond)


def rscs_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = imm - rn - !C, setting NZCV."""
    return _dp_imm(DpOp.RSC, 1, rd, rn, imm, cond)


def rscs_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> #amount) - rn - !C, setting NZCV."""
    return _dp_reg(DpOp.RSC, 1, rd, rn, rm, shift, amount, cond)


def rscs_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (rm <shift> rs) - rn - !C, setting NZCV."""
    return _dp_rsr(DpOp.RSC, 1, rd, rn, rm, shift, rs, cond)


def orr_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn | imm."""
    return _dp_imm(DpOp.ORR, 0, rd, rn, imm, cond)


def orr_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn | (rm <shift> #amount)."""
    return _dp_reg(DpOp.ORR, 0, rd, rn, rm, shift, amount, cond)


def orr_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn | (rm <shift> rs)."""
    return _dp_rsr(DpOp.ORR, 0, rd, rn, rm, shift, rs, cond)


def orrs_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn | imm, setting N, Z and the shifter's C."""
    return _dp_imm(DpOp.ORR, 1, rd, rn, imm, cond)


def orrs_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn | (rm <shift> #amount), setting N, Z and the shifter's C."""
    return _dp_reg(DpOp.ORR, 1, rd, rn, rm, shift, amount, cond)


def orrs_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn | (rm <shift> rs), setting N, Z and the shifter's C."""
    return _dp_rsr(DpOp.ORR, 1, rd, rn, rm, shift, rs, cond)


def bic_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn & ~imm."""
    return _dp_imm(DpOp.BIC, 0, rd, rn, imm, cond)


def bic_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rn & ~(rm <shift> #amount)."""
    return _dp_reg(DpOp.BIC, 0, rd, rn, rm, shift, amount, cond)


def bic_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn & ~(rm <shift> rs)."""
    return _dp_rsr(DpOp.BIC, 0, rd, rn, rm, shift, rs, cond)


def bics_imm(rd: Reg, rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = rn & ~imm, setting N, Z and the shifter's C."""
    return _dp_imm(DpOp.BIC, 1, rd, rn, imm, cond)


def bics_reg(rd: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rn & ~(rm <shift> #amount), setting N, Z and the shifter's C."""
    return _dp_reg(DpOp.BIC, 1, rd, rn, rm, shift, amount, cond)


def bics_rsr(rd: Reg, rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn & ~(rm <shift> rs), setting N, Z and the shifter's C."""
    return _dp_rsr(DpOp.BIC, 1, rd, rn, rm, shift, rs, cond)


# mov and mvn take no Rn (the field is 0000).

def mov_imm(rd: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = imm (an ARM modified immediate; see encode_imm12)."""
    return _dp_imm(DpOp.MOV, 0, rd, Reg.R0, imm, cond)


def mov_reg(rd: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = rm <shift> #amount."""
    return _dp_reg(DpOp.MOV, 0, rd, Reg.R0, rm, shift, amount, cond)


def mov_rsr(rd: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm <shift> rs (amount = low byte of rs)."""
    return _dp_rsr(DpOp.MOV, 0, rd, Reg.R0, rm, shift, rs, cond)


def movs_imm(rd: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = imm, setting N, Z and the shifter's C."""
    return _dp_imm(DpOp.MOV, 1, rd, Reg.R0, imm, cond)


def movs_reg(rd: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = rm <shift> #amount, setting N, Z and the shifter's C."""
    return _dp_reg(DpOp.MOV, 1, rd, Reg.R0, rm, shift, amount, cond)


def movs_rsr(rd: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm <shift> rs, setting N, Z and the shifter's C."""
    return _dp_rsr(DpOp.MOV, 1, rd, Reg.R0, rm, shift, rs, cond)


def mvn_imm(rd: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = ~imm."""
    return _dp_imm(DpOp.MVN, 0, rd, Reg.R0, imm, cond)


def mvn_reg(rd: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """rd = ~(rm <shift> #amount)."""
    return _dp_reg(DpOp.MVN, 0, rd, Reg.R0, rm, shift, amount, cond)


def mvn_rsr(rd: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = ~(rm <shift> rs)."""
    return _dp_rsr(DpOp.MVN, 0, rd, Reg.R0, rm, shift, rs, cond)


def mvns_imm(rd: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """rd = ~imm, setting N, Z and the shifter's C."""
    return _dp_imm(DpOp.MVN, 1, rd, Reg.R0, imm, cond)


def mvns_reg(rd: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             cond: Cond = Cond.AL) -> int:
    """rd = ~(rm <shift> #amount), setting N, Z and the shifter's C."""
    return _dp_reg(DpOp.MVN, 1, rd, Reg.R0, rm, shift, amount, cond)


def mvns_rsr(rd: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = ~(rm <shift> rs), setting N, Z and the shifter's C."""
    return _dp_rsr(DpOp.MVN, 1, rd, Reg.R0, rm, shift, rs, cond)


# Shifts are mov with a shifted operand; the assemblers print them as lsl/lsr/asr/ror.

def lsl_imm(rd: Reg, rm: Reg, amount: int, cond: Cond = Cond.AL) -> int:
    """rd = rm << amount (0..31; 0 is a plain mov)."""
    return mov_reg(rd, rm, Shift.LSL, amount, cond)


def lsr_imm(rd: Reg, rm: Reg, amount: int, cond: Cond = Cond.AL) -> int:
    """rd = rm >> amount, logical (1..32; 32 gives 0).  0 raises: emit mov_reg instead."""
    return mov_reg(rd, rm, Shift.LSR, amount, cond)


def asr_imm(rd: Reg, rm: Reg, amount: int, cond: Cond = Cond.AL) -> int:
    """rd = rm >> amount, arithmetic (1..32; 32 fills with the sign).  0 raises."""
    return mov_reg(rd, rm, Shift.ASR, amount, cond)


def ror_imm(rd: Reg, rm: Reg, amount: int, cond: Cond = Cond.AL) -> int:
    """rd = rm rotated right by amount (1..31)."""
    return mov_reg(rd, rm, Shift.ROR, amount, cond)


def rrx(rd: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = C:rm >> 1 (rotate right by one through the carry flag)."""
    return mov_reg(rd, rm, Shift.RRX, 0, cond)


def lsl_reg(rd: Reg, rm: Reg, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm << (rs & 0xff); amounts of 32 and more give 0."""
    return mov_rsr(rd, rm, Shift.LSL, rs, cond)


def lsr_reg(rd: Reg, rm: Reg, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm >> (rs & 0xff), logical; amounts of 32 and more give 0."""
    return mov_rsr(rd, rm, Shift.LSR, rs, cond)


def asr_reg(rd: Reg, rm: Reg, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm >> (rs & 0xff), arithmetic; amounts of 32 and more fill with the sign."""
    return mov_rsr(rd, rm, Shift.ASR, rs, cond)


def ror_reg(rd: Reg, rm: Reg, rs: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm rotated right by (rs & 0x1f)."""
    return mov_rsr(rd, rm, Shift.ROR, rs, cond)


# Compares set NZCV (tst/teq: N, Z and the shifter's C) and write no register: Rd is 0000.

def cmp_imm(rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """flags = rn - imm."""
    return _dp_imm(DpOp.CMP, 1, Reg.R0, rn, imm, cond)


def cmp_reg(rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """flags = rn - (rm <shift> #amount)."""
    return _dp_reg(DpOp.CMP, 1, Reg.R0, rn, rm, shift, amount, cond)


def cmp_rsr(rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """flags = rn - (rm <shift> rs)."""
    return _dp_rsr(DpOp.CMP, 1, Reg.R0, rn, rm, shift, rs, cond)


def cmn_imm(rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """flags = rn + imm."""
    return _dp_imm(DpOp.CMN, 1, Reg.R0, rn, imm, cond)


def cmn_reg(rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """flags = rn + (rm <shift> #amount)."""
    return _dp_reg(DpOp.CMN, 1, Reg.R0, rn, rm, shift, amount, cond)


def cmn_rsr(rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """flags = rn + (rm <shift> rs)."""
    return _dp_rsr(DpOp.CMN, 1, Reg.R0, rn, rm, shift, rs, cond)


def tst_imm(rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """flags = rn & imm."""
    return _dp_imm(DpOp.TST, 1, Reg.R0, rn, imm, cond)


def tst_reg(rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """flags = rn & (rm <shift> #amount)."""
    return _dp_reg(DpOp.TST, 1, Reg.R0, rn, rm, shift, amount, cond)


def tst_rsr(rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """flags = rn & (rm <shift> rs)."""
    return _dp_rsr(DpOp.TST, 1, Reg.R0, rn, rm, shift, rs, cond)


def teq_imm(rn: Reg, imm: int, cond: Cond = Cond.AL) -> int:
    """flags = rn ^ imm."""
    return _dp_imm(DpOp.TEQ, 1, Reg.R0, rn, imm, cond)


def teq_reg(rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            cond: Cond = Cond.AL) -> int:
    """flags = rn ^ (rm <shift> #amount)."""
    return _dp_reg(DpOp.TEQ, 1, Reg.R0, rn, rm, shift, amount, cond)


def teq_rsr(rn: Reg, rm: Reg, shift: Shift, rs: Reg, cond: Cond = Cond.AL) -> int:
    """flags = rn ^ (rm <shift> rs)."""
    return _dp_rsr(DpOp.TEQ, 1, Reg.R0, rn, rm, shift, rs, cond)


# ------------------------------------------------------------- 16-bit immediates

def movw(rd: Reg, imm16: int, cond: Cond = Cond.AL) -> int:
    """rd = imm16 (upper half cleared)."""
    _not_pc(rd, "rd")
    return mov16(cond, 0, rd, imm16)


def movt(rd: Reg, imm16: int, cond: Cond = Cond.AL) -> int:
    """rd[31:16] = imm16 (lower half kept)."""
    _not_pc(rd, "rd")
    return mov16(cond, 1, rd, imm16)


# ---------------------------------------------------------- multiply and divide
# pc is UNPREDICTABLE in every operand of these.

def mul(rd: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (rn * rm)[31:0]."""
    _no_pc(rd=rd, rn=rn, rm=rm)
    return multiply(cond, 0b000, 0, rd, Reg.R0, rm, rn)


def mla(rd: Reg, rn: Reg, rm: Reg, ra: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (rn * rm + ra)[31:0]."""
    _no_pc(rd=rd, rn=rn, rm=rm, ra=ra)
    return multiply(cond, 0b001, 0, rd, ra, rm, rn)


def mls(rd: Reg, rn: Reg, rm: Reg, ra: Reg, cond: Cond = Cond.AL) -> int:
    """rd = (ra - rn * rm)[31:0]."""
    _no_pc(rd=rd, rn=rn, rm=rm, ra=ra)
    return multiply(cond, 0b011, 0, rd, ra, rm, rn)


def _long_mul(op: int, rdlo: Reg, rdhi: Reg, rn: Reg, rm: Reg, cond: Cond) -> int:
    _no_pc(rdlo=rdlo, rdhi=rdhi, rn=rn, rm=rm)
    _distinct(rdhi, "rdhi", rdlo, "rdlo")
    return multiply(cond, op, 0, rdhi, rdlo, rm, rn)


def umull(rdlo: Reg, rdhi: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rdhi:rdlo = rn * rm, unsigned 64-bit product."""
    return _long_mul(0b100, rdlo, rdhi, rn, rm, cond)


def umlal(rdlo: Reg, rdhi: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rdhi:rdlo += rn * rm, unsigned 64-bit."""
    return _long_mul(0b101, rdlo, rdhi, rn, rm, cond)


def smull(rdlo: Reg, rdhi: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rdhi:rdlo = rn * rm, signed 64-bit product."""
    return _long_mul(0b110, rdlo, rdhi, rn, rm, cond)


def smlal(rdlo: Reg, rdhi: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rdhi:rdlo += rn * rm, signed 64-bit."""
    return _long_mul(0b111, rdlo, rdhi, rn, rm, cond)


def sdiv(rd: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn / rm, signed, rounding toward zero; rm = 0 gives 0 (ARMv7VE/hwdiv-arm only)."""
    _no_pc(rd=rd, rn=rn, rm=rm)
    return divide(cond, 0b001, rd, rm, rn)


def udiv(rd: Reg, rn: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rn / rm, unsigned; rm = 0 gives 0 (ARMv7VE/hwdiv-arm only)."""
    _no_pc(rd=rd, rn=rn, rm=rm)
    return divide(cond, 0b011, rd, rm, rn)


def clz(rd: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = number of leading zero bits of rm (32 for 0)."""
    _no_pc(rd=rd, rm=rm)
    return misc(cond, 0b11, rd, 0b0001, rm)


# ------------------------------------------------------ byte reverse and extend

def rev(rd: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm with its 4 bytes reversed."""
    _no_pc(rd=rd, rm=rm)
    return media(cond, 0b011, Reg.PC, rd, 0xF, 0b001, rm)


def rev16(rd: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = rm with the bytes of each halfword swapped."""
    _no_pc(rd=rd, rm=rm)
    return media(cond, 0b011, Reg.PC, rd, 0xF, 0b101, rm)


def revsh(rd: Reg, rm: Reg, cond: Cond = Cond.AL) -> int:
    """rd = sign-extend(rm[7:0]:rm[15:8])."""
    _no_pc(rd=rd, rm=rm)
    return media(cond, 0b111, Reg.PC, rd, 0xF, 0b101, rm)


def _extend(op1: int, rd: Reg, rm: Reg, rot: int, cond: Cond) -> int:
    _no_pc(rd=rd, rm=rm)
    if rot not in (0, 8, 16, 24):
        raise EncodingError(f"rot: {rot} is not one of 0, 8, 16, 24")
    # Rn = 1111 selects the plain extend rather than extend-and-add.
    return media(cond, op1, Reg.PC, rd, (rot // 8) << 2, 0b011, rm)


def uxtb(rd: Reg, rm: Reg, rot: int = 0, cond: Cond = Cond.AL) -> int:
    """rd = zero-extend((rm ror rot)[7:0])."""
    return _extend(0b110, rd, rm, rot, cond)


def uxth(rd: Reg, rm: Reg, rot: int = 0, cond: Cond = Cond.AL) -> int:
    """rd = zero-extend((rm ror rot)[15:0])."""
    return _extend(0b111, rd, rm, rot, cond)


def sxtb(rd: Reg, rm: Reg, rot: int = 0, cond: Cond = Cond.AL) -> int:
    """rd = sign-extend((rm ror rot)[7:0])."""
    return _extend(0b010, rd, rm, rot, cond)


def sxth(rd: Reg, rm: Reg, rot: int = 0, cond: Cond = Cond.AL) -> int:
    """rd = sign-extend((rm ror rot)[15:0])."""
    return _extend(0b011, rd, rm, rot, cond)


# ------------------------------------------------- word and byte loads/stores

def _ls_imm(b: int, l: int, rt: Reg, rn: Reg, off: int, index: Index, cond: Cond) -> int:
    if b:
        _not_pc(rt, "rt")
    u, imm12 = _offset(off, LDR_IMM_MAX, "offset")
    p, w = _index(index, rt, rn)
    return ls_imm(cond, p, u, b, w, l, rn, rt, imm12)


def _ls_reg(b: int, l: int, rt: Reg, rn: Reg, rm: Reg, shift: Shift, amount: int,
            subtract: bool, cond: Cond) -> int:
    if b:
        _not_pc(rt, "rt")
    _not_pc(rm, "rm")
    imm5, type_ = _shift_imm(shift, amount)
    return ls_reg(cond, 1, int(not subtract), b, 0, l, rn, rt, imm5, type_, rm)


def ldr_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
            cond: Cond = Cond.AL) -> int:
    """rt = mem32[rn + off] (off -4095..4095; index selects offset/pre/post)."""
    return _ls_imm(0, 1, rt, rn, off, index, cond)


def str_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
            cond: Cond = Cond.AL) -> int:
    """mem32[rn + off] = rt (off -4095..4095)."""
    return _ls_imm(0, 0, rt, rn, off, index, cond)


def ldrb_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
             cond: Cond = Cond.AL) -> int:
    """rt = zero-extend(mem8[rn + off]) (off -4095..4095)."""
    return _ls_imm(1, 1, rt, rn, off, index, cond)


def strb_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
             cond: Cond = Cond.AL) -> int:
    """mem8[rn + off] = rt[7:0] (off -4095..4095)."""
    return _ls_imm(1, 0, rt, rn, off, index, cond)


def ldr_reg(rt: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """rt = mem32[rn ± (rm <shift> #amount)]."""
    return _ls_reg(0, 1, rt, rn, rm, shift, amount, subtract, cond)


def str_reg(rt: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
            subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """mem32[rn ± (rm <shift> #amount)] = rt."""
    return _ls_reg(0, 0, rt, rn, rm, shift, amount, subtract, cond)


def ldrb_reg(rt: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """rt = zero-extend(mem8[rn ± (rm <shift> #amount)])."""
    return _ls_reg(1, 1, rt, rn, rm, shift, amount, subtract, cond)


def strb_reg(rt: Reg, rn: Reg, rm: Reg, shift: Shift = Shift.LSL, amount: int = 0,
             subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """mem8[rn ± (rm <shift> #amount)] = rt[7:0]."""
    return _ls_reg(1, 0, rt, rn, rm, shift, amount, subtract, cond)


# -------------------------------- halfword, signed byte and doubleword loads/stores

_OP2_H = 0b01    # strh / ldrh
_OP2_D_SB = 0b10  # ldrd (L = 0) / ldrsb (L = 1)
_OP2_D_SH = 0b11  # strd (L = 0) / ldrsh (L = 1)


def _ls_extra_imm(l: int, op2: int, rt: Reg, rn: Reg, off: int, index: Index,
                  cond: Cond) -> int:
    u, imm8 = _offset(off, LDRH_IMM_MAX, "offset")
    p, w = _index(index, rt, rn)
    return ls_extra_imm(cond, p, u, w, l, rn, rt, imm8, op2)


def _ls_extra_reg(l: int, op2: int, rt: Reg, rn: Reg, rm: Reg, subtract: bool,
                  cond: Cond) -> int:
    _not_pc(rm, "rm")
    return ls_extra_reg(cond, 1, int(not subtract), 0, l, rn, rt, op2, rm)


def ldrh_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
             cond: Cond = Cond.AL) -> int:
    """rt = zero-extend(mem16[rn + off]) (off -255..255)."""
    _not_pc(rt, "rt")
    return _ls_extra_imm(1, _OP2_H, rt, rn, off, index, cond)


def strh_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
             cond: Cond = Cond.AL) -> int:
    """mem16[rn + off] = rt[15:0] (off -255..255)."""
    _not_pc(rt, "rt")
    return _ls_extra_imm(0, _OP2_H, rt, rn, off, index, cond)


def ldrsb_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
              cond: Cond = Cond.AL) -> int:
    """rt = sign-extend(mem8[rn + off]) (off -255..255)."""
    _not_pc(rt, "rt")
    return _ls_extra_imm(1, _OP2_D_SB, rt, rn, off, index, cond)


def ldrsh_imm(rt: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
              cond: Cond = Cond.AL) -> int:
    """rt = sign-extend(mem16[rn + off]) (off -255..255)."""
    _not_pc(rt, "rt")
    return _ls_extra_imm(1, _OP2_D_SH, rt, rn, off, index, cond)


def ldrd_imm(rt: Reg, rt2: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
             cond: Cond = Cond.AL) -> int:
    """rt = mem32[rn + off]; rt2 = mem32[rn + off + 4] (rt even, rt2 = rt + 1, off -255..255)."""
    _pair(rt, rt2)
    if index != Index.OFFSET:
        _distinct(rn, "rn", rt2, "rt2")
    return _ls_extra_imm(0, _OP2_D_SB, rt, rn, off, index, cond)


def strd_imm(rt: Reg, rt2: Reg, rn: Reg, off: int = 0, index: Index = Index.OFFSET,
             cond: Cond = Cond.AL) -> int:
    """mem32[rn + off] = rt; mem32[rn + off + 4] = rt2 (rt even, rt2 = rt + 1, off -255..255)."""
    _pair(rt, rt2)
    if index != Index.OFFSET:
        _distinct(rn, "rn", rt2, "rt2")
    return _ls_extra_imm(0, _OP2_D_SH, rt, rn, off, index, cond)


def ldrh_reg(rt: Reg, rn: Reg, rm: Reg, subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """rt = zero-extend(mem16[rn ± rm])."""
    _not_pc(rt, "rt")
    return _ls_extra_reg(1, _OP2_H, rt, rn, rm, subtract, cond)


def strh_reg(rt: Reg, rn: Reg, rm: Reg, subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """mem16[rn ± rm] = rt[15:0]."""
    _not_pc(rt, "rt")
    return _ls_extra_reg(0, _OP2_H, rt, rn, rm, subtract, cond)


def ldrsb_reg(rt: Reg, rn: Reg, rm: Reg, subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """rt = sign-extend(mem8[rn ± rm])."""
    _not_pc(rt, "rt")
    return _ls_extra_reg(1, _OP2_D_SB, rt, rn, rm, subtract, cond)


def ldrsh_reg(rt: Reg, rn: Reg, rm: Reg, subtract: bool = False, cond: Cond = Cond.AL) -> int:
    """rt = sign-extend(mem16[rn ± rm])."""
    _not_pc(rt, "rt")
    return _ls_extra_reg(1, _OP2_D_SH, rt, rn, rm, subtract, cond)


def ldrd_reg(rt: Reg, rt2: Reg, rn: Reg, rm: Reg, subtract: bool = False,
             cond: Cond = Cond.AL) -> int:
    """rt = mem32[rn ± rm]; rt2 = mem32[rn ± rm + 4] (rt even, rt2 = rt + 1)."""
    _pair(rt, rt2)
    # The index must survive loading the first word.
    _distinct(rm, "rm", rt, "rt")
    _distinct(rm, "rm", rt2, "rt2")
    return _ls_extra_reg(0, _OP2_D_SB, rt, rn, rm, subtract, cond)


def strd_reg(rt: Reg, rt2: Reg, rn: Reg, rm: Reg, subtract: bool = False,
             cond: Cond = Cond.AL) -> int:
    """mem32[rn ± rm] = rt; mem32[rn ± rm + 4] = rt2 (rt even, rt2 = rt + 1)."""
    _pair(rt, rt2)
    return _ls_extra_reg(0, _OP2_D_SH, rt, rn, rm, subtract, cond)


# ------------------------------------------------------------ exclusive access
# pc is UNPREDICTABLE everywhere here; a store's status register must differ
# from the registers it stores and from the address.

def ldrex(rt: Reg, rn: Reg, cond: Cond = Cond.AL) -> int:
    """rt = mem32[rn], marking the address for exclusive access."""
    _no_pc(rt=rt, rn=rn)
    return exclusive(cond, 0b00, 1, rn, rt, Reg.PC)


def strex(rd: Reg, rt: Reg, rn: Reg, cond: Cond = Cond.AL) -> int:
    """if still exclusive: mem32[rn] = rt, rd = 0; else rd = 1."""
    _no_pc(rd=rd, rt=rt, rn=rn)
    _distinct(rd, "rd", rt, "rt")
    _distinct(rd, "rd", rn, "rn")
    return exclusive(cond, 0b00, 0, rn, rd, rt)


def ldrexd(rt: Reg, rt2: Reg, rn: Reg, cond: Cond = Cond.AL) -> int:
    """rt = mem32[rn]; rt2 = mem32[rn + 4], single-copy atomic and marked exclusive."""
    _pair(rt, rt2)
    _not_pc(rn, "rn")
    return exclusive(cond, 0b01, 1, rn, rt, Reg.PC)


def strexd(rd: Reg, rt: Reg, rt2: Reg, rn: Reg, cond: Cond = Cond.AL) -> int:
    """if still exclusive: mem64[rn] = rt2:rt, rd = 0; else rd = 1."""
    _pair(rt, rt2)
    _no_pc(rd=rd, rn=rn)
    _distinct(rd, "rd", rt, "rt")
    _distinct(rd, "rd", rt2, "rt2")
    _distinct(rd, "rd", rn, "rn")
    return exclusive(cond, 0b01, 0, rn, rd, rt)


# -------------------------------------------------------------------- branches

def _branch_imm24(offset: int) -> int:
    if offset % 4:
        raise EncodingError(f"offset: {offset} is not a multiple of 4")
    if not B_MIN <= offset <= B_MAX:
        raise EncodingError(f"offset: {offset} is outside the branch range {B_MIN}..{B_MAX}")
    return (offset >> 2) & 0xFFFFFF  # two's complement of a value just checked to fit


def b(offset: int, cond: Cond = Cond.AL) -> int:
    """pc = this address + 8 + offset (offset = target - this address - PC_BIAS)."""
    return branch(cond, 0, _branch_imm24(offset))


def bl(offset: int, cond: Cond = Cond.AL) -> int:
    """lr = address of the next instruction; pc = this address + 8 + offset."""
    return branch(cond, 1, _branch_imm24(offset))


def bx(rm: Reg, cond: Cond = Cond.AL) -> int:
    """pc = rm & ~1, switching to Thumb if rm[0] is set."""
    return misc(cond, 0b01, Reg.PC, 0b0001, rm)


def blx_reg(rm: Reg, cond: Cond = Cond.AL) -> int:
    """lr = address of the next instruction; pc = rm & ~1, Thumb if rm[0] is set."""
    _not_pc(rm, "rm")
    return misc(cond, 0b01, Reg.PC, 0b0011, rm)


# --------------------------------------------------------------- block transfer
# With writeback, a base register that is also in the list is UNPREDICTABLE
# (loads) or stores an UNKNOWN value (stores): refused either way.

def _block(p: int, u: int, l: int, rn: Reg, regs: Iterable[Reg], wback: bool,
           cond: Cond) -> int:
    _not_pc(rn, "rn")
    mask = _reglist(regs)
    if wback and mask & (1 << rn):
        raise EncodingError(f"regs: r{int(rn)} is the written-back base register rn")
    return block(cond, p, u, int(wback), l, rn, mask)


def ldmia(rn: Reg, regs: Iterable[Reg], wback: bool = False, cond: Cond = Cond.AL) -> int:
    """Load regs (lowest first) from rn, rn + 4, ...; with wback, rn += 4 * len(regs)."""
    return _block(0, 1, 1, rn, regs, wback, cond)


def ldmdb(rn: Reg, regs: Iterable[Reg], wback: bool = False, cond: Cond = Cond.AL) -> int:
    """Load regs from rn - 4 * len(regs) upward; with wback, rn -= 4 * len(regs)."""
    return _block(1, 0, 1, rn, regs, wback, cond)


def stmia(rn: Reg, regs: Iterable[Reg], wback: bool = False, cond: Cond = Cond.AL) -> int:
    """Store regs (lowest first) to rn, rn + 4, ...; with wback, rn += 4 * len(regs)."""
    return _block(0, 1, 0, rn, regs, wback, cond)


def stmdb(rn: Reg, regs: Iterable[Reg], wback: bool = False, cond: Cond = Cond.AL) -> int:
    """Store regs to rn - 4 * len(regs) upward; with wback, rn -= 4 * len(regs)."""
    return _block(1, 0, 0, rn, regs, wback, cond)


def push(regs: Iterable[Reg], cond: Cond = Cond.AL) -> int:
    """Store regs below sp, lowest register at the lowest address; sp -= 4 * len(regs).

    One register is `str rt, [sp, #-4]!`, as GNU as and LLVM assemble `push {rt}`.
    """
    regs = list(regs)
    if len(regs) == 1:
        return str_imm(regs[0], Reg.SP, -4, Index.PRE, cond)
    return stmdb(Reg.SP, regs, True, cond)


def pop(regs: Iterable[Reg], cond: Cond = Cond.AL) -> int:
    """Load regs from sp upward, lowest register from the lowest address; sp += 4 * len(regs).

    One register is `ldr rt, [sp], #4`, as GNU as and LLVM assemble `pop {rt}`.
    """
    regs = list(regs)
    if len(regs) == 1:
        return ldr_imm(regs[0], Reg.SP, 4, Index.POST, cond)
    return ldmia(Reg.SP, regs, True, cond)


# ------------------------------------------------------------------------ misc

def nop(cond: Cond = Cond.AL) -> int:
    """No operation (the ARMv7 hint, not `mov r0, r0`)."""
    return hint(cond, 0)


#  31  28 27      20 19          8 7    4 3    0
# | 1110 | 01111111 |    imm12    | 1111 | imm4 |    imm16 = imm12:imm4
def udf(imm16: int = 0) -> int:
    """Permanently undefined: raises an undefined-instruction exception.  Unconditional."""
    _field(imm16, 16, "imm16")
    return 0xE7F000F0 | (imm16 >> 4) << 8 | imm16 & 0xF


#  31  28 27      20 19  16 15  12 11   8 7    4 3      0
# | 1111 | 01010111 | 1111 | 1111 | 0000 | 0101 | option |
def dmb(option: Barrier = Barrier.ISH) -> int:
    """Data memory barrier over the given domain (default: inner shareable).  Unconditional."""
    return 0xF57FF050 | _field(option, 4, "option")
