"""x86-64 instruction encoders: operands in, machine-code bytes out.

This module owns the byte-level form of every x86-64 instruction the JIT
emits: legacy prefixes, REX, ModRM, SIB, displacements and immediates.  It
knows no eBPF, no LIR and no register map (regs.py maps BPF registers onto
`Gpr`); choosing which instruction to emit is emit.py's job.

Conventions:
- Operands are in Intel order (destination first).  Memory operands are
  `Mem(base, disp)`; the JIT never needs an index register.
- `bits` (keyword-only) is the operand width where an instruction has more
  than one: 32-bit forms write the low half and zero the upper half of the
  destination register, as the hardware does.
- An immediate for an N-bit field may be given in either reading of those N
  bits (-1 and 0xffffffff are the same imm32); an immediate that the CPU
  sign-extends to 64 bits must be a signed 32-bit value.  Anything else raises
  `EncodingError` naming the field: nothing is masked.
- Jumps and calls take the displacement from the END of the instruction; the
  caller (the code buffer) computes it, using the `*_SIZE` constants to relax
  branches between their short and long forms.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from jit.errors import EncodingError


class Gpr(IntEnum):
    """The sixteen 64-bit general-purpose registers, numbered as the encoding numbers them."""
    RAX = 0
    RCX = 1
    RDX = 2
    RBX = 3
    RSP = 4
    RBP = 5
    RSI = 6
    RDI = 7
    R8 = 8
    R9 = 9
    R10 = 10
    R11 = 11
    R12 = 12
    R13 = 13
    R14 = 14
    R15 = 15


class Cond(IntEnum):
    """Condition codes: the low nibble of Jcc / SETcc / CMOVcc."""
    O = 0    # overflow
    NO = 1
    B = 2    # unsigned <
    AE = 3   # unsigned >=
    E = 4    # equal / zero
    NE = 5
    BE = 6   # unsigned <=
    A = 7    # unsigned >
    S = 8    # sign
    NS = 9
    P = 10   # parity
    NP = 11
    L = 12   # signed <
    GE = 13  # signed >=
    LE = 14  # signed <=
    G = 15   # signed >


class Alu(IntEnum):
    """Group-1 operations: the /digit of 80/81/83 and bits 5:3 of the r,r opcodes."""
    ADD = 0
    OR = 1
    ADC = 2
    SBB = 3
    AND = 4
    SUB = 5
    XOR = 6
    CMP = 7


class Shift(IntEnum):
    """Group-2 operations: the /digit of C1/D1/D3."""
    ROL = 0
    ROR = 1
    SHL = 4
    SHR = 5
    SAR = 7


@dataclass(frozen=True)
class Mem:
    """The memory operand [base + disp]; disp is a signed 32-bit byte offset."""
    base: Gpr
    disp: int = 0


# ---------------------------------------------------------------------------
# Opcodes.  Names say the operand form in Intel-manual notation (E = ModRM.rm,
# G = ModRM.reg, I = immediate, J = pc-relative; b/w/d/v/z = 8/16/32/operand-
# size/imm-at-most-32).  Two-byte opcodes are written 0x0Fxx.

PREFIX_OPSIZE = 0x66      # 16-bit operand size
PREFIX_LOCK = 0xF0

OPC_ALU_EvGv = 0x01       # | Alu << 3: ADD 01, OR 09, ..., CMP 39
OPC_ALU_rAX_Iz = 0x05     # | Alu << 3: the 1-byte-shorter eax/rax form of 81 /op
OPC_PUSH_r = 0x50         # + reg
OPC_POP_r = 0x58          # + reg
OPC_MOVSXD_GvEd = 0x63
OPC_IMUL_GvEvIz = 0x69
OPC_IMUL_GvEvIb = 0x6B
OPC_JCC_Jb = 0x70         # + Cond
OPC_GRP1_EvIz = 0x81      # /Alu
OPC_GRP1_EvIb = 0x83      # /Alu, imm8 sign-extended
OPC_TEST_EvGv = 0x85
OPC_XCHG_EvGv = 0x87
OPC_MOV_EbGb = 0x88
OPC_MOV_EvGv = 0x89
OPC_MOV_GbEb = 0x8A
OPC_MOV_GvEv = 0x8B
OPC_LEA_GvM = 0x8D
OPC_NOP = 0x90
OPC_CDQ = 0x99            # with REX.W: CQO
OPC_TEST_rAX_Iz = 0xA9
OPC_MOV_rIv = 0xB8        # + reg; imm32, or imm64 with REX.W (movabs)
OPC_GRP2_EvIb = 0xC1      # /Shift
OPC_RET = 0xC3
OPC_LEAVE = 0xC9
OPC_MOV_EbIb = 0xC6       # /0
OPC_MOV_EvIz = 0xC7       # /0
OPC_INT3 = 0xCC
OPC_GRP2_Ev1 = 0xD1       # /Shift, count 1
OPC_GRP2_EvCL = 0xD3      # /Shift, count in cl
OPC_CALL_Jz = 0xE8
OPC_JMP_Jz = 0xE9
OPC_JMP_Jb = 0xEB
OPC_GRP3_Ev = 0xF7        # /0 TEST Iz, /2 NOT, /3 NEG, /4 MUL, /6 DIV, /7 IDIV
OPC_GRP5_Ev = 0xFF        # /2 CALL, /4 JMP (near, absolute indirect)

OPC_CMOVCC_GvEv = 0x0F40  # + Cond
OPC_JCC_Jz = 0x0F80       # + Cond
OPC_SETCC_Eb = 0x0F90     # + Cond, /0
OPC_IMUL_GvEv = 0x0FAF
OPC_CMPXCHG_EvGv = 0x0FB1
OPC_MOVZX_GvEb = 0x0FB6
OPC_MOVZX_GvEw = 0x0FB7
OPC_MOVSX_GvEb = 0x0FBE
OPC_MOVSX_GvEw = 0x0FBF
OPC_XADD_EvGv = 0x0FC1
OPC_BSWAP_r = 0x0FC8      # + reg

# ModRM.reg extensions (/digit) for the grouped opcodes.
EXT3_TEST = 0
EXT3_NOT = 2
EXT3_NEG = 3
EXT3_MUL = 4
EXT3_DIV = 6
EXT3_IDIV = 7
EXT5_CALL = 2
EXT5_JMP = 4

# ModRM.mod values.
MOD_DISP0 = 0b00
MOD_DISP8 = 0b01
MOD_DISP32 = 0b10
MOD_REG = 0b11

RM_SIB = 0b100            # ModRM.rm: a SIB byte follows (so rsp/r12 as a base need one)
RM_DISP32 = 0b101         # ModRM.rm with mod 00: rip+disp32 (so rbp/r13 as a base need disp8 0)
SIB_NO_INDEX = 0b100

# Encoded sizes of the pc-relative forms, for the code buffer's branch relaxation.
JMP_REL8_SIZE = 2
JMP_REL32_SIZE = 5
JCC_REL8_SIZE = 2
JCC_REL32_SIZE = 6
CALL_REL32_SIZE = 5


# ---------------------------------------------------------------------------
# Field checks.  Each names the field it guards in the error.

def _field(value: int, bits: int, name: str) -> int:
    """`value` as an unsigned `bits`-wide field, or EncodingError."""
    if not 0 <= value < 1 << bits:
        raise EncodingError(f"{name} = {value} does not fit an unsigned {bits}-bit field")
    return value


def _simm(value: int, bits: int, name: str) -> bytes:
    """Little-endian bytes of a signed `bits`-wide immediate, or EncodingError."""
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise EncodingError(f"{name} = {value} does not fit a signed {bits}-bit field")
    return value.to_bytes(bits // 8, "little", signed=True)


def _imm(value: int, bits: int, name: str) -> bytes:
    """Little-endian bytes of a `bits`-wide immediate given signed or unsigned, or EncodingError."""
    if not -(1 << (bits - 1)) <= value < 1 << bits:
        raise EncodingError(f"{name} = {value} does not fit a {bits}-bit field")
    return (value & ((1 << bits) - 1)).to_bytes(bits // 8, "little")


def _sext(value: int, bits: int) -> int:
    """The signed reading of the low `bits` bits of an in-range `value`."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _fits_s8(value: int) -> bool:
    return -128 <= value < 128


def _gpr(reg: int, name: str) -> int:
    if type(reg) is Gpr:                 # the common case, checked cheaply (the JIT's hot path)
        return reg._value_
    if isinstance(reg, bool) or not isinstance(reg, int) or not 0 <= reg < 16:
        raise EncodingError(f"{name} = {reg!r} is not a general-purpose register")
    return int(reg)


def _alu(op: int) -> Alu:
    """op as an Alu (an Alu passes through without the enum's lookup)."""
    return op if type(op) is Alu else Alu(op)


def _shift(op: int) -> Shift:
    """op as a Shift (a Shift passes through without the enum's lookup)."""
    return op if type(op) is Shift else Shift(op)


# read once: an enum member read costs ~150 ns on CPython 3.11, on the hot path
_RAX = Gpr.RAX


def _width(bits: int, allowed: tuple[int, ...]) -> int:
    if bits not in allowed:
        raise EncodingError(f"bits = {bits} is not one of {allowed} for this instruction")
    return bits


def _simm_for(value: int, bits: int, name: str) -> bytes:
    """The imm32 of an op of width `bits`: either reading when 32-bit, signed when sign-extended to 64."""
    return _simm(value, 32, name) if bits == 64 else _imm(value, 32, name)


# ---------------------------------------------------------------------------
# Format helpers.  An instruction is, in this order:
#
#   [66 / F0] [REX] opcode (1-2) [ModRM] [SIB] [disp 0/1/4] [imm 0/1/2/4/8]

#   7   6   5   4   3   2   1   0
# | 0   1   0   0 | W | R | X | B |
#   W: 64-bit operand size; R, X, B: bit 3 of ModRM.reg, SIB.index,
#   ModRM.rm / SIB.base / the register in the opcode.
def rex(w: int, r: int, x: int, b: int) -> int:
    """The REX prefix byte with the given W, R, X, B bits."""
    return (0x40 | _field(w, 1, "REX.W") << 3 | _field(r, 1, "REX.R") << 2
            | _field(x, 1, "REX.X") << 1 | _field(b, 1, "REX.B"))


#   7   6   5   4   3   2   1   0
# |  mod  |    reg    |    rm     |
def modrm(mod: int, reg: int, rm: int) -> int:
    """The ModRM byte (reg and rm are the low three bits of the register numbers)."""
    return _field(mod, 2, "ModRM.mod") << 6 | _field(reg, 3, "ModRM.reg") << 3 | _field(rm, 3, "ModRM.rm")


#   7   6   5   4   3   2   1   0
# | scale |   index   |   base    |
def sib(scale: int, index: int, base: int) -> int:
    """The SIB byte (index and base are the low three bits of the register numbers)."""
    return _field(scale, 2, "SIB.scale") << 6 | _field(index, 3, "SIB.index") << 3 | _field(base, 3, "SIB.base")


def _opcode(opc: int) -> bytes:
    """One opcode byte, or two for the 0x0Fxx escape map."""
    return opc.to_bytes(2 if opc > 0xFF else 1, "big")


def _rm_tail(reg: int, rm: int | Mem) -> bytes:
    """ModRM (+ SIB, displacement) for ModRM.reg = reg and ModRM.rm = a register or [base+disp].

    The shortest displacement is chosen: none, disp8, then disp32.  Two rows of
    the ModRM table are escapes, so a base whose low bits name them is special:
    rm=100 means "SIB follows" (rsp, r12 need a SIB with no index) and mod=00
    rm=101 means rip+disp32 (rbp, r13 need an explicit disp8 of 0).
    `reg` and a register `rm` are already checked register numbers (0-15).
    """
    if type(rm) is not Mem:
        return bytes((MOD_REG << 6 | (reg & 7) << 3 | (rm & 7),))
    base = _gpr(rm.base, "base") & 7
    d = rm.disp
    if d == 0 and base != RM_DISP32:
        mod, disp = MOD_DISP0, b""
    elif -128 <= d < 128:
        mod, disp = MOD_DISP8, (d & 0xFF).to_bytes(1, "little")
    else:
        mod, disp = MOD_DISP32, _simm(d, 32, "disp")
    if base == RM_SIB:
        return bytes((mod << 6 | (reg & 7) << 3 | RM_SIB, SIB_NO_INDEX << 3 | base)) + disp
    return bytes((mod << 6 | (reg & 7) << 3 | base,)) + disp


def _insn(opc: int, reg: int, rm: int | Mem, *, w: bool = False, prefix: bytes = b"",
          byte_regs: tuple[int, ...] = ()) -> bytes:
    """prefix, REX if needed, opcode, ModRM (+ SIB, disp) for an instruction with a ModRM byte.

    `reg` is a register or a /digit.  `byte_regs` lists the registers the
    instruction reads or writes as their low byte: without a REX prefix the
    numbers 4-7 mean ah/ch/dh/bh, so spl/bpl/sil/dil need an (otherwise empty)
    REX.  The Linux x86 eBPF JIT once stored dh/bh instead of sil/dil for `STX B`.
    """
    if type(rm) is Mem:
        base = _gpr(rm.base, "base")
    else:
        base = rm = _gpr(rm, "rm")
    reg = _gpr(reg, "reg")
    if w or reg > 7 or base > 7 or (byte_regs and any(4 <= r <= 7 for r in byte_regs)):
        # REX = 0100 W R X B (see `rex`); W, R and B are single bits by construction here
        prefix = prefix + bytes((0x40 | (8 if w else 0) | (reg >> 3) << 2 | base >> 3,))
    return prefix + _opcode(opc) + _rm_tail(reg, rm)


def _rex_w(bits: int) -> bytes:
    """REX.W alone for a 64-bit instruction with no register fields; nothing for 32-bit."""
    return bytes([rex(1, 0, 0, 0)]) if bits == 64 else b""


def _insn_r(opc: int, reg: int, *, w: bool = False) -> bytes:
    """REX if needed and an opcode with the register in its low three bits (push, bswap, mov r,imm)."""
    reg = _gpr(reg, "reg")
    rex_byte = bytes([rex(int(w), 0, 0, reg >> 3)]) if w or reg > 7 else b""
    return rex_byte + _opcode(opc + (reg & 7))


def _mem(m: Mem) -> Mem:
    if not isinstance(m, Mem):
        raise EncodingError(f"memory operand {m!r} is not a Mem")
    return m


# ---------------------------------------------------------------------------
# Moves between registers and constants.

def mov_rr(dst: Gpr, src: Gpr, *, bits: int) -> bytes:
    """dst = src (32-bit: upper half of dst zeroed)."""
    _width(bits, (32, 64))
    return _insn(OPC_MOV_EvGv, src, dst, w=bits == 64)


def mov_r32_imm(dst: Gpr, imm: int) -> bytes:
    """dst = imm32 zero-extended to 64 bits."""
    return _insn_r(OPC_MOV_rIv, dst) + _imm(imm, 32, "imm")


def mov_r64_simm32(dst: Gpr, imm: int) -> bytes:
    """dst = imm32 sign-extended to 64 bits."""
    return _insn(OPC_MOV_EvIz, 0, dst, w=True) + _simm(imm, 32, "imm")


def movabs(dst: Gpr, imm: int) -> bytes:
    """dst = imm64."""
    return _insn_r(OPC_MOV_rIv, dst, w=True) + _imm(imm, 64, "imm")


def movzx_rr(dst: Gpr, src: Gpr, *, src_bits: int) -> bytes:
    """dst = src's low 8 or 16 bits zero-extended to 64."""
    opc = {8: OPC_MOVZX_GvEb, 16: OPC_MOVZX_GvEw}[_width(src_bits, (8, 16))]
    return _insn(opc, dst, src, byte_regs=(src,) if src_bits == 8 else ())


def movsx_rr(dst: Gpr, src: Gpr, *, bits: int, src_bits: int) -> bytes:
    """dst = src's low 8/16/32 bits sign-extended to `bits` (32-bit: upper half zeroed)."""
    _width(bits, (32, 64))
    _width(src_bits, (8, 16, 32) if bits == 64 else (8, 16))
    opc = {8: OPC_MOVSX_GvEb, 16: OPC_MOVSX_GvEw, 32: OPC_MOVSXD_GvEd}[src_bits]
    return _insn(opc, dst, src, w=bits == 64, byte_regs=(src,) if src_bits == 8 else ())


def cmov(cond: Cond, dst: Gpr, src: Gpr, *, bits: int) -> bytes:
    """if cond: dst = src (32-bit: upper half of dst zeroed even when cond is false)."""
    _width(bits, (32, 64))
    return _insn(OPC_CMOVCC_GvEv + _field(cond, 4, "cond"), dst, src, w=bits == 64)


def setcc(cond: Cond, dst: Gpr) -> bytes:
    """dst's low byte = 1 if cond else 0 (upper bits kept)."""
    return _insn(OPC_SETCC_Eb + _field(cond, 4, "cond"), 0, dst, byte_regs=(dst,))


# ---------------------------------------------------------------------------
# Arithmetic and logic.

def alu_rr(op: Alu, dst: Gpr, src: Gpr, *, bits: int) -> bytes:
    """dst = dst <op> src, flags set (CMP: flags only; 32-bit: upper half zeroed)."""
    _width(bits, (32, 64))
    return _insn(OPC_ALU_EvGv | _alu(op) << 3, src, dst, w=bits == 64)


def alu_ri(op: Alu, dst: Gpr, imm: int, *, bits: int) -> bytes:
    """dst = dst <op> imm (imm8 form when the value fits, imm32 otherwise; 64-bit: imm sign-extended)."""
    _width(bits, (32, 64))
    op = _alu(op)
    imm32 = _simm_for(imm, bits, "imm")
    value = _sext(imm, 32)
    if _fits_s8(value):
        return _insn(OPC_GRP1_EvIb, op, dst, w=bits == 64) + imm32[:1]
    if _gpr(dst, "dst") == _RAX:
        return _rex_w(bits) + _opcode(OPC_ALU_rAX_Iz | op << 3) + imm32
    return _insn(OPC_GRP1_EvIz, op, dst, w=bits == 64) + imm32


def alu_mr(op: Alu, m: Mem, src: Gpr, *, bits: int) -> bytes:
    """[m] = [m] <op> src, flags set (CMP: flags of [m] - src only); not locked."""
    _width(bits, (32, 64))
    return _insn(OPC_ALU_EvGv | _alu(op) << 3, src, _mem(m), w=bits == 64)


def alu_mi(op: Alu, m: Mem, imm: int, *, bits: int) -> bytes:
    """[m] = [m] <op> imm, flags set (imm8 form when it fits; 64-bit: imm sign-extended)."""
    _width(bits, (32, 64))
    op = _alu(op)
    imm32 = _simm_for(imm, bits, "imm")
    if _fits_s8(_sext(imm, 32)):
        return _insn(OPC_GRP1_EvIb, op, _mem(m), w=bits == 64) + imm32[:1]
    return _insn(OPC_GRP1_EvIz, op, _mem(m), w=bits == 64) + imm32


def test_rr(a: Gpr, b: Gpr, *, bits: int) -> bytes:
    """flags = a & b."""
    _width(bits, (32, 64))
    return _insn(OPC_TEST_EvGv, b, a, w=bits == 64)


def test_ri(a: Gpr, imm: int, *, bits: int) -> bytes:
    """flags = a & imm32 (64-bit: imm sign-extended)."""
    _width(bits, (32, 64))
    imm32 = _simm_for(imm, bits, "imm")
    if _gpr(a, "a") == _RAX:
        return _rex_w(bits) + _opcode(OPC_TEST_rAX_Iz) + imm32
    return _insn(OPC_GRP3_Ev, EXT3_TEST, a, w=bits == 64) + imm32


def imul_rr(dst: Gpr, src: Gpr, *, bits: int) -> bytes:
    """dst = dst * src (low half of the product)."""
    _width(bits, (32, 64))
    return _insn(OPC_IMUL_GvEv, dst, src, w=bits == 64)


def imul_rri(dst: Gpr, src: Gpr, imm: int, *, bits: int) -> bytes:
    """dst = src * imm (imm8 form when it fits; 64-bit: imm sign-extended)."""
    _width(bits, (32, 64))
    imm32 = _simm_for(imm, bits, "imm")
    if _fits_s8(_sext(imm, 32)):
        return _insn(OPC_IMUL_GvEvIb, dst, src, w=bits == 64) + imm32[:1]
    return _insn(OPC_IMUL_GvEvIz, dst, src, w=bits == 64) + imm32


def _grp3(ext: int, reg: Gpr, bits: int) -> bytes:
    _width(bits, (32, 64))
    return _insn(OPC_GRP3_Ev, ext, reg, w=bits == 64)


def neg(reg: Gpr, *, bits: int) -> bytes:
    """reg = -reg."""
    return _grp3(EXT3_NEG, reg, bits)


def not_(reg: Gpr, *, bits: int) -> bytes:
    """reg = ~reg."""
    return _grp3(EXT3_NOT, reg, bits)


def mul(src: Gpr, *, bits: int) -> bytes:
    """rdx:rax = rax * src, unsigned (edx:eax for 32-bit)."""
    return _grp3(EXT3_MUL, src, bits)


def div(src: Gpr, *, bits: int) -> bytes:
    """rax = rdx:rax / src, rdx = remainder, unsigned (edx:eax for 32-bit); #DE on 0 or overflow."""
    return _grp3(EXT3_DIV, src, bits)


def idiv(src: Gpr, *, bits: int) -> bytes:
    """rax = rdx:rax / src, rdx = remainder, signed (edx:eax for 32-bit); #DE on 0 or overflow."""
    return _grp3(EXT3_IDIV, src, bits)


def cdq() -> bytes:
    """edx = sign of eax (every bit)."""
    return _opcode(OPC_CDQ)


def cqo() -> bytes:
    """rdx = sign of rax (every bit)."""
    return _rex_w(64) + _opcode(OPC_CDQ)


def shift_ri(op: Shift, dst: Gpr, count: int, *, bits: int) -> bytes:
    """dst = dst <op> count (D1 form for 1; bits=16 with ROR 8 swaps the low two bytes)."""
    _width(bits, (16, 32, 64))
    op = _shift(op)
    _field(count, 6 if bits == 64 else 5, "count")
    prefix = bytes([PREFIX_OPSIZE]) if bits == 16 else b""
    if count == 1:
        return _insn(OPC_GRP2_Ev1, op, dst, w=bits == 64, prefix=prefix)
    return _insn(OPC_GRP2_EvIb, op, dst, w=bits == 64, prefix=prefix) + bytes([count])


def shift_cl(op: Shift, dst: Gpr, *, bits: int) -> bytes:
    """dst = dst <op> (cl masked to 5 or 6 bits by the CPU)."""
    _width(bits, (16, 32, 64))
    prefix = bytes([PREFIX_OPSIZE]) if bits == 16 else b""
    return _insn(OPC_GRP2_EvCL, _shift(op), dst, w=bits == 64, prefix=prefix)


def bswap(reg: Gpr, *, bits: int) -> bytes:
    """reg = reg with its 4 or 8 bytes reversed (32-bit: upper half zeroed)."""
    _width(bits, (32, 64))
    return _insn_r(OPC_BSWAP_r, reg, w=bits == 64)


# ---------------------------------------------------------------------------
# Memory.

def lea(dst: Gpr, m: Mem, *, bits: int) -> bytes:
    """dst = base + disp (no memory access, flags kept)."""
    _width(bits, (32, 64))
    return _insn(OPC_LEA_GvM, dst, _mem(m), w=bits == 64)


def mov_load(dst: Gpr, m: Mem, *, bits: int) -> bytes:
    """dst's low `bits` = [m] (8/16: upper bits kept; 32: upper half zeroed)."""
    _width(bits, (8, 16, 32, 64))
    m = _mem(m)
    if bits == 8:
        return _insn(OPC_MOV_GbEb, dst, m, byte_regs=(dst,))
    prefix = bytes([PREFIX_OPSIZE]) if bits == 16 else b""
    return _insn(OPC_MOV_GvEv, dst, m, w=bits == 64, prefix=prefix)


def movzx_load(dst: Gpr, m: Mem, *, src_bits: int) -> bytes:
    """dst = the 8- or 16-bit [m] zero-extended to 64."""
    opc = {8: OPC_MOVZX_GvEb, 16: OPC_MOVZX_GvEw}[_width(src_bits, (8, 16))]
    return _insn(opc, dst, _mem(m))


def movsx_load(dst: Gpr, m: Mem, *, bits: int, src_bits: int) -> bytes:
    """dst = the 8/16/32-bit [m] sign-extended to `bits` (32-bit: upper half zeroed)."""
    _width(bits, (32, 64))
    _width(src_bits, (8, 16, 32) if bits == 64 else (8, 16))
    opc = {8: OPC_MOVSX_GvEb, 16: OPC_MOVSX_GvEw, 32: OPC_MOVSXD_GvEd}[src_bits]
    return _insn(opc, dst, _mem(m), w=bits == 64)


def mov_store(m: Mem, src: Gpr, *, bits: int) -> bytes:
    """[m] = src's low `bits`."""
    _width(bits, (8, 16, 32, 64))
    m = _mem(m)
    if bits == 8:
        return _insn(OPC_MOV_EbGb, src, m, byte_regs=(src,))
    prefix = bytes([PREFIX_OPSIZE]) if bits == 16 else b""
    return _insn(OPC_MOV_EvGv, src, m, w=bits == 64, prefix=prefix)


def mov_store_imm(m: Mem, imm: int, *, bits: int) -> bytes:
    """[m] = imm (`bits` wide; 64-bit: a signed imm32 sign-extended)."""
    _width(bits, (8, 16, 32, 64))
    m = _mem(m)
    if bits == 8:
        return _insn(OPC_MOV_EbIb, 0, m) + _imm(imm, 8, "imm")
    if bits == 16:
        return _insn(OPC_MOV_EvIz, 0, m, prefix=bytes([PREFIX_OPSIZE])) + _imm(imm, 16, "imm")
    return _insn(OPC_MOV_EvIz, 0, m, w=bits == 64) + _simm_for(imm, bits, "imm")


def lock_alu(op: Alu, m: Mem, src: Gpr, *, bits: int) -> bytes:
    """atomically [m] = [m] <op> src (CMP cannot be locked)."""
    _width(bits, (32, 64))
    if _alu(op) == Alu.CMP:
        raise EncodingError("op = CMP cannot take a LOCK prefix")
    return _insn(OPC_ALU_EvGv | _alu(op) << 3, src, _mem(m), w=bits == 64, prefix=bytes([PREFIX_LOCK]))


def lock_xadd(m: Mem, src: Gpr, *, bits: int) -> bytes:
    """atomically (src, [m]) = ([m], [m] + src)."""
    _width(bits, (32, 64))
    return _insn(OPC_XADD_EvGv, src, _mem(m), w=bits == 64, prefix=bytes([PREFIX_LOCK]))


def xchg(m: Mem, src: Gpr, *, bits: int) -> bytes:
    """atomically (src, [m]) = ([m], src) (xchg with memory is always locked)."""
    _width(bits, (32, 64))
    return _insn(OPC_XCHG_EvGv, src, _mem(m), w=bits == 64)


def lock_cmpxchg(m: Mem, src: Gpr, *, bits: int) -> bytes:
    """atomically: if [m] == rax: [m] = src else rax = [m] (32-bit: eax; rax is only written on failure)."""
    _width(bits, (32, 64))
    return _insn(OPC_CMPXCHG_EvGv, src, _mem(m), w=bits == 64, prefix=bytes([PREFIX_LOCK]))


# ---------------------------------------------------------------------------
# Stack and control flow.

def push(reg: Gpr) -> bytes:
    """rsp -= 8; [rsp] = reg."""
    return _insn_r(OPC_PUSH_r, reg)


def pop(reg: Gpr) -> bytes:
    """reg = [rsp]; rsp += 8."""
    return _insn_r(OPC_POP_r, reg)


def call_rel32(disp: int) -> bytes:
    """push the return address; jump to end-of-instruction + disp."""
    return _opcode(OPC_CALL_Jz) + _simm(disp, 32, "rel32")


def call_r(reg: Gpr) -> bytes:
    """push the return address; jump to the address in reg."""
    return _insn(OPC_GRP5_Ev, EXT5_CALL, reg)


def jmp_rel8(disp: int) -> bytes:
    """jump to end-of-instruction + disp (-128..127)."""
    return _opcode(OPC_JMP_Jb) + _simm(disp, 8, "rel8")


def jmp_rel32(disp: int) -> bytes:
    """jump to end-of-instruction + disp."""
    return _opcode(OPC_JMP_Jz) + _simm(disp, 32, "rel32")


def jmp_r(reg: Gpr) -> bytes:
    """jump to the address in reg."""
    return _insn(OPC_GRP5_Ev, EXT5_JMP, reg)


def jcc_rel8(cond: Cond, disp: int) -> bytes:
    """if cond: jump to end-of-instruction + disp (-128..127)."""
    return _opcode(OPC_JCC_Jb + _field(cond, 4, "cond")) + _simm(disp, 8, "rel8")


def jcc_rel32(cond: Cond, disp: int) -> bytes:
    """if cond: jump to end-of-instruction + disp."""
    return _opcode(OPC_JCC_Jz + _field(cond, 4, "cond")) + _simm(disp, 32, "rel32")


def ret() -> bytes:
    """pop the return address and jump to it."""
    return _opcode(OPC_RET)


def leave() -> bytes:
    """rsp = rbp; pop rbp (tears down a frame whose rbp points at the saved rbp)."""
    return _opcode(OPC_LEAVE)


def int3() -> bytes:
    """breakpoint trap."""
    return _opcode(OPC_INT3)


def nop() -> bytes:
    """do nothing (one byte)."""
    return _opcode(OPC_NOP)
