"""The eBPF instruction set (RFC 9669): opcodes, the `Insn` record, decode and encode.

This module owns the bit layout of eBPF instructions in both byte orders and the
rules for which field combinations are valid.  It knows nothing of ELF, of
programs or of any machine.  `Insn` is one instruction; a wide LDDW is one Insn
with a 64-bit `imm` that occupies two 8-byte slots.

Slot layout (bpfel; bpfeb stores off/imm big-endian and swaps the nibbles):

    byte 0      byte 1           bytes 2-3   bytes 4-7
    opcode      src:4 | dst:4    off (s16)   imm (s32)
"""
from __future__ import annotations

import struct
import sys
from array import array
from enum import IntEnum
from itertools import compress, count, repeat
from operator import eq, itemgetter
from typing import NamedTuple

from jit.errors import IsaError

SLOT = 8


class Cls(IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Src(IntEnum):
    K = 0x00
    X = 0x08


class Alu(IntEnum):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class Jmp(IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class Size(IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


SIZE_BYTES = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}
BYTES_SIZE = {v: k for k, v in SIZE_BYTES.items()}


class Mode(IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class Atomic(IntEnum):
    """The imm field of a BPF_ATOMIC store."""
    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH = 0x01
    XCHG = 0xE0 | 0x01
    CMPXCHG = 0xF0 | 0x01


ATOMIC_IMMS = frozenset({0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1})


class Pseudo(IntEnum):
    """src field of LDDW (kernel uapi BPF_PSEUDO_*)."""
    IMM = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class CallKind(IntEnum):
    """src field of CALL."""
    HELPER = 0
    LOCAL = 1
    KFUNC = 2


# Opcode bytes people write by name.
LDDW = Cls.LD | Mode.IMM | Size.DW          # 0x18
CALL = Cls.JMP | Jmp.CALL                   # 0x85
EXIT = Cls.JMP | Jmp.EXIT                   # 0x95
JA = Cls.JMP | Jmp.JA                       # 0x05
GOTOL = Cls.JMP32 | Jmp.JA                  # 0x06

MAX_REG = 10
AX = 11  # hidden scratch register used by lowering (the kernel's BPF_REG_AX)

_COND_JMPS = frozenset(j for j in Jmp if j not in (Jmp.JA, Jmp.CALL, Jmp.EXIT))


class Insn(NamedTuple):
    """One eBPF instruction.  `off` is s16, `imm` is s32 except for LDDW (u64, two slots)."""
    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def slots(self) -> int:
        return 2 if self.opcode == LDDW else 1

    @property
    def code(self) -> int:
        """The operation bits: Alu/Jmp value for ALU and JMP classes, Mode for memory classes."""
        return self.opcode & 0xF0

    @property
    def source(self) -> int:
        return self.opcode & 0x08

    @property
    def size(self) -> int:
        return self.opcode & 0x18

    @property
    def mode(self) -> int:
        return self.opcode & 0xE0

    @property
    def is_alu(self) -> bool:
        return self.cls in (Cls.ALU, Cls.ALU64)

    @property
    def is_jmp(self) -> bool:
        return self.cls in (Cls.JMP, Cls.JMP32)

    @property
    def is_cond_jump(self) -> bool:
        return self.is_jmp and self.code in _COND_JMPS

    @property
    def is_lddw(self) -> bool:
        return self.opcode == LDDW

    @property
    def is_exit(self) -> bool:
        return self.opcode == EXIT

    @property
    def is_call(self) -> bool:
        return self.opcode == CALL

    @property
    def is_local_call(self) -> bool:
        return self.opcode == CALL and self.src == CallKind.LOCAL

    @property
    def is_helper_call(self) -> bool:
        return self.opcode == CALL and self.src == CallKind.HELPER

    @property
    def is_gotol(self) -> bool:
        return self.opcode == GOTOL

    @property
    def is_ja(self) -> bool:
        return self.opcode in (JA, GOTOL)

    @property
    def is_ldabs(self) -> bool:
        return self.cls == Cls.LD and self.mode in (Mode.ABS, Mode.IND)

    def jump_offset(self) -> int:
        """Slots from the next instruction to the target of a jump."""
        return self.imm if self.opcode == GOTOL else self.off

    def jump_target(self, pc: int) -> int:
        return pc + 1 + self.jump_offset()


# --------------------------------------------------------------------- validation

def _s16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


def _s32(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


def check(insn: Insn, slot: int = 0) -> None:
    """Raise IsaError if `insn` is not a valid RFC 9669 instruction."""
    def bad(msg: str) -> IsaError:
        return IsaError(f"{msg} (opcode 0x{insn.opcode:02x})", pc=slot)

    op, dst, src, off, imm = insn
    if not 0 <= op <= 0xFF or not 0 <= dst <= 0xF or not 0 <= src <= 0xF:
        raise bad("field out of range")
    if not -0x8000 <= off <= 0x7FFF:
        raise bad(f"offset {off} does not fit 16 bits")
    if op == LDDW:
        if not 0 <= imm < 1 << 64:
            raise bad("LDDW immediate is not an unsigned 64-bit value")
    elif not -0x8000_0000 <= imm <= 0x7FFF_FFFF:
        raise bad(f"immediate {imm} does not fit signed 32 bits")
    if dst > MAX_REG:
        raise bad(f"invalid destination register r{dst}")
    cls = op & 7
    if cls in (Cls.ALU, Cls.ALU64):
        _check_alu(insn, bad)
    elif cls in (Cls.JMP, Cls.JMP32):
        _check_jmp(insn, bad)
    elif cls == Cls.LD:
        _check_ld(insn, bad)
    elif cls == Cls.LDX:
        if insn.mode == Mode.MEM:
            pass
        elif insn.mode == Mode.MEMSX:
            if insn.size == Size.DW:
                raise bad("unknown opcode")
        else:
            raise bad("unknown opcode")
        if src > MAX_REG:
            raise bad(f"invalid source register r{src}")
        if imm != 0:
            raise bad("reserved field imm is not zero")
    elif cls == Cls.ST:
        if insn.mode != Mode.MEM:
            raise bad("unknown opcode")
        if src != 0:
            raise bad("reserved field src is not zero")
    else:  # STX
        if src > MAX_REG:
            raise bad(f"invalid source register r{src}")
        if insn.mode == Mode.MEM:
            if imm != 0:
                raise bad("reserved field imm is not zero")
        elif insn.mode == Mode.ATOMIC:
            if insn.size not in (Size.W, Size.DW):
                raise bad("atomic operation needs size W or DW")
            if imm not in ATOMIC_IMMS:
                raise bad(f"unknown atomic operation 0x{imm & 0xffffffff:x}")
        else:
            raise bad("unknown opcode")


def _check_alu(insn: Insn, bad) -> None:
    op, dst, src, off, imm = insn
    code = insn.code
    is64 = insn.cls == Cls.ALU64
    x = insn.source == Src.X
    if code > Alu.END:
        raise bad("unknown opcode")
    if code == Alu.END:
        if is64 and x:
            raise bad("unknown opcode")
        if imm not in (16, 32, 64):
            raise bad(f"byte swap width {imm} is not 16, 32 or 64")
        if src != 0 or off != 0:
            raise bad("reserved field is not zero")
        return
    if code == Alu.NEG:
        if x or src != 0 or imm != 0 or off != 0:
            raise bad("reserved field is not zero")
        return
    if x:
        if src > MAX_REG:
            raise bad(f"invalid source register r{src}")
        if imm != 0:
            raise bad("reserved field imm is not zero")
    elif src != 0:
        raise bad("reserved field src is not zero")
    if code in (Alu.DIV, Alu.MOD):
        if off not in (0, 1):
            raise bad(f"invalid offset {off} for division (0 or 1)")
    elif code == Alu.MOV and x:
        allowed = (0, 8, 16, 32) if is64 else (0, 8, 16)
        if off not in allowed:
            raise bad(f"invalid sign-extension width {off}")
    elif off != 0:
        raise bad("reserved field off is not zero")


def _check_jmp(insn: Insn, bad) -> None:
    op, dst, src, off, imm = insn
    code = insn.code
    is32 = insn.cls == Cls.JMP32
    if code > Jmp.JSLE:
        raise bad("unknown opcode")
    if code == Jmp.JA:
        if insn.source or dst or src:
            raise bad("reserved field is not zero")
        if is32 and off != 0:
            raise bad("reserved field off is not zero")
        if not is32 and imm != 0:
            raise bad("reserved field imm is not zero")
        return
    if code == Jmp.CALL:
        if is32 or insn.source:
            raise bad("unknown opcode")
        if dst or off:
            raise bad("reserved field is not zero")
        if src not in (CallKind.HELPER, CallKind.LOCAL, CallKind.KFUNC):
            raise bad(f"invalid call kind src={src}")
        return
    if code == Jmp.EXIT:
        if is32 or insn.source:
            raise bad("unknown opcode")
        if dst or src or off or imm:
            raise bad("reserved field is not zero")
        return
    if insn.source == Src.X:
        if src > MAX_REG:
            raise bad(f"invalid source register r{src}")
        if imm != 0:
            raise bad("reserved field imm is not zero")
    elif src != 0:
        raise bad("reserved field src is not zero")


def _check_ld(insn: Insn, bad) -> None:
    op, dst, src, off, imm = insn
    mode = insn.mode
    if mode == Mode.IMM:
        if insn.size != Size.DW:
            raise bad("unknown opcode")
        if src > Pseudo.MAP_IDX_VALUE:
            raise bad(f"invalid LDDW source {src}")
        if off != 0:
            raise bad("reserved field off is not zero")
        return
    if mode not in (Mode.ABS, Mode.IND) or insn.size == Size.DW:
        raise bad("unknown opcode")
    if off != 0 or dst != 0:
        raise bad("reserved field is not zero")
    if mode == Mode.ABS and src != 0:
        raise bad("reserved field src is not zero")
    if mode == Mode.IND and src > MAX_REG:
        raise bad(f"invalid source register r{src}")


# --------------------------------------------------------------------- decode/encode

def _split_regs(b: int, order: str) -> tuple[int, int]:
    """(dst, src) from byte 1."""
    if order == "little":
        return b & 0xF, b >> 4
    return b >> 4, b & 0xF


def _join_regs(dst: int, src: int, order: str) -> int:
    return (src << 4 | dst) if order == "little" else (dst << 4 | src)


def decode(data: bytes, order: str = "little", *, validate: bool = True) -> list[Insn]:
    """Decode a whole buffer of slots; LDDW pairs become one Insn.

    `order` is "little" (bpfel) or "big" (bpfeb).  Raises IsaError naming the
    slot on a truncated buffer, a truncated LDDW or an invalid instruction.

    Real programs repeat the same few thousand slots over and over, so each
    distinct 8-byte slot is decoded and checked once (`_decode_distinct`) and
    identical slots share one Insn.  Whenever that finds anything wrong, the
    buffer is decoded again slot by slot (`_decode_each`), which raises the
    error of the first bad slot with the precise message.
    """
    if len(data) % SLOT:
        raise IsaError(f"bytecode length {len(data)} is not a multiple of 8", pc=len(data) // SLOT)
    out = _decode_distinct(data, order, validate)
    return out if out is not None else _decode_each(data, order, validate)


def _decode_distinct(data: bytes, order: str, validate: bool) -> list[Insn] | None:
    """`decode` for a buffer with nothing wrong in it; None if anything is."""
    n = len(data) // SLOT
    # each slot as one integer (the host's order: it only has to tell slots apart)
    keys = array("Q", data) if _Q_IS_8_BYTES else struct.unpack(f"={n}Q", data)
    # a valid program has an LDDW exactly where an opcode byte is 0x18, its second slot after it
    ops = data[::SLOT]
    lddws = []
    p = ops.find(_LDDW_BYTE)
    while p >= 0:
        lddws.append(p)
        p = ops.find(_LDDW_BYTE, p + 2)
    pieces = []                         # runs of ordinary slots between the LDDWs
    a = 0
    for p in lddws:
        pieces.append(keys[a:p])
        a = p + 2
    pieces.append(keys[a:] if a else keys)
    unpack = struct.Struct("<BBhi" if order == "little" else ">BBhi").unpack
    split = _SPLIT_LE if order == "little" else _SPLIT_BE
    rules = _rules() if validate else None
    table: dict[int, Insn] = {}
    for piece in pieces:
        table.update(dict.fromkeys(piece))
    for key in table:
        op, regs, off, imm = unpack(key.to_bytes(SLOT, _HOST))
        dst, src = split[regs]
        if rules is not None:
            r = rules[op]
            if (r is None or dst > r[0] or src not in r[1]
                    or (r[2] is not None and off not in r[2])
                    or (r[3] is not None and imm not in r[3])):
                return None
        table[key] = Insn(op, dst, src, off, imm)
    get = table.__getitem__
    if not lddws:
        return list(map(get, keys))
    out: list[Insn] = []
    for piece, p in zip(pieces, lddws):
        out += map(get, piece)
        if p + 1 >= n:
            return None                 # truncated
        op, regs, off, imm = unpack(data[p * SLOT:p * SLOT + SLOT])
        op2, regs2, off2, hi = unpack(data[p * SLOT + SLOT:p * SLOT + 2 * SLOT])
        if op2 or regs2 or off2:
            return None
        dst, src = split[regs]
        insn = Insn(op, dst, src, off, ((hi & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF))
        if validate:
            try:
                check(insn)
            except IsaError:
                return None
        out.append(insn)
    out += map(get, pieces[-1])
    return out


def _decode_each(data: bytes, order: str, validate: bool) -> list[Insn]:
    """`decode` slot by slot: raises the error of the first bad slot."""
    slots = list(struct.iter_unpack("<BBhi" if order == "little" else ">BBhi", data))
    n = len(slots)
    split = _SPLIT_LE if order == "little" else _SPLIT_BE
    rules = _rules() if validate else None
    out: list[Insn] = []
    append = out.append
    slot = 0
    while slot < n:
        op, regs, off, imm = slots[slot]
        dst, src = split[regs]
        if op == LDDW:
            if slot + 1 >= n:
                raise IsaError("truncated LDDW: the second slot is missing", pc=slot)
            op2, regs2, off2, hi = slots[slot + 1]
            if op2 or regs2 or off2:
                raise IsaError("LDDW second slot has reserved fields set", pc=slot + 1)
            insn = Insn(op, dst, src, off, ((hi & 0xFFFFFFFF) << 32) | (imm & 0xFFFFFFFF))
            if validate:
                check(insn, slot)
            append(insn)
            slot += 2
            continue
        if rules is not None:
            r = rules[op]
            if (r is None or dst > r[0] or src not in r[1]
                    or (r[2] is not None and off not in r[2])
                    or (r[3] is not None and imm not in r[3])):
                check(Insn(op, dst, src, off, imm), slot)   # raises with the reason
        append(Insn(op, dst, src, off, imm))
        slot += 1
    return out


_HOST = sys.byteorder
_Q_IS_8_BYTES = array("Q").itemsize == SLOT
_LDDW_BYTE = bytes([LDDW])
_SPLIT_LE = [(b & 0xF, b >> 4) for b in range(256)]
_SPLIT_BE = [(b >> 4, b & 0xF) for b in range(256)]
_REGS = frozenset(range(MAX_REG + 1))
_ZERO = frozenset({0})


class _Rules(dict):
    """Opcode -> its `_rule`, worked out the first time a program uses the opcode
    (all 256 up front would cost a one-shot compile tens of milliseconds)."""

    def __missing__(self, op: int):
        rule = self[op] = _rule(op)
        return rule


_RULES = _Rules()


def _rules() -> _Rules:
    return _RULES


def _rule(op: int) -> tuple | None:
    """(max dst, allowed src, allowed off or None=any, allowed imm or None=any) of `op`.

    None for an opcode that is never valid (and for LDDW, which is checked whole).
    Derived from `check` itself, so the two cannot disagree: tests/test_isa.py
    also compares them on random input.
    """
    if op == LDDW:
        return None
    offs = (0, 1, 8, 16, 32, -1, 2, 0x7FFF, -0x8000)
    imms = (0, 1, 16, 32, 64, -1, 2, 0x7FFFFFFF, -0x80000000, 0x01, 0x40, 0x41, 0x50, 0x51,
            0xA0, 0xA1, 0xE1, 0xF1, 12345)
    base = None
    for cand in _probe_insns(op):
        try:
            check(cand)
        except IsaError:
            continue
        base = cand
        break
    if base is None:
        return None

    def ok(**kw) -> bool:
        try:
            check(base._replace(**kw))
            return True
        except IsaError:
            return False
    max_dst = max(d for d in range(16) if ok(dst=d)) if ok(dst=0) else 0
    srcs = frozenset(s for s in range(16) if ok(src=s))
    off_ok = [o for o in offs if ok(off=o)]
    imm_ok = [i for i in imms if ok(imm=i)]
    off_set = None if len(off_ok) == len(offs) else frozenset(off_ok)
    imm_set = None if len(imm_ok) == len(imms) else frozenset(imm_ok)
    return (max_dst, srcs, off_set, imm_set)


def encode(insns: list[Insn] | tuple[Insn, ...], order: str = "little") -> bytes:
    """Encode instructions back into slots (inverse of `decode`)."""
    out = bytearray()
    for insn in insns:
        op, dst, src, off, imm = insn
        out.append(op & 0xFF)
        out.append(_join_regs(dst, src, order))
        out += (off & 0xFFFF).to_bytes(2, order)
        if op == LDDW:
            out += (imm & 0xFFFFFFFF).to_bytes(4, order)
            out += bytes(4)
            out += ((imm >> 32) & 0xFFFFFFFF).to_bytes(4, order)
        else:
            out += (imm & 0xFFFFFFFF).to_bytes(4, order)
    return bytes(out)


def slot_pcs(insns: list[Insn] | tuple[Insn, ...]) -> list[int]:
    """The slot number (eBPF pc) of each instruction."""
    # runs of consecutive pcs between the LDDWs, each added as one range (no
    # Python-level loop over every instruction: this runs for every program)
    lddws = compress(count(), map(eq, map(itemgetter(0), insns), repeat(LDDW)))
    pcs: list[int] = []
    a = k = 0
    for k, i in enumerate(lddws, 1):
        pcs += range(a + k - 1, i + k)          # insns a..i sit k - 1 slots past their index
        a = i + 1
    pcs += range(a + k, len(insns) + k)
    return pcs


def slot_table(insns: list[Insn] | tuple[Insn, ...]) -> list[Insn | None]:
    """A list indexed by slot: the instruction starting there, None for an LDDW's second slot."""
    table: list[Insn | None] = []
    for insn in insns:
        table.append(insn)
        if insn.opcode == LDDW:
            table.append(None)
    return table


def all_opcodes() -> list[int]:
    """Every opcode byte that some valid instruction uses (for tests and fuzzers)."""
    ops = []
    for op in range(256):
        for cand in _probe_insns(op):
            try:
                check(cand)
            except IsaError:
                continue
            ops.append(op)
            break
    return ops


def _probe_insns(op: int) -> list[Insn]:
    return [Insn(op, 1, 2, off, imm) for off in (0, 1, 8) for imm in (0, 16, 1, 0x41)] + \
           [Insn(op, 1, 0, off, imm) for off in (0, 1, 8) for imm in (0, 16, 1)] + \
           [Insn(op, 0, src, 0, 0) for src in (0, 1, 2)] + [Insn(op, 0, 0, 0, 1)]


def s32(v: int) -> int:
    """The signed 32-bit value of the low 32 bits of v."""
    return _s32(v & 0xFFFFFFFF)


def s16(v: int) -> int:
    return _s16(v & 0xFFFF)
