"""The MIPS64 backend against the interpreter, in both byte orders.

bpfeb programs run on mips64 (big-endian memory) and bpfel programs on
mips64el.  Every check goes through the whole pipeline (`tests.difftest`:
analysis, lowering, emission, Unicorn) and compares r0, the memory block,
helper calls and faults with the reference interpreter.

To stay fast, checks are batched: one program per (operation, width) runs an
operation over every edge value of tests/edge.py and stores each result to
the memory block, which the harness compares byte for byte.  The matrix:

  ALU/ALU32     every op, register and immediate forms, over REGS x REGS and
                REGS x (IMMS + operand magnitudes +-2^n around the encoder's
                immediate limits); each 32-bit op both with its upper half read
                (a Zext follows) and unread (a W store; inputs whose upper half
                is free), and as `dst = a; dst op= b` (the three-operand fusion)
  pairs         every op over all 10x10 register pairs (aliasing included), and
                the fused form over (dst, a, b) triples; every conditional jump
                over all pairs
  JMP/JMP32     every condition, register and immediate forms, over the edge values
  others        NEG, MOVSX, END/BSWAP, LDDW magnitudes, LDX/LDSX/ST/STX at aligned
                and unaligned addresses (known and unknown base alignment),
                atomics over register pairs, JA/gotol, LD_ABS/LD_IND
  calls         bpf-to-bpf calls with stack in every frame, helpers with five
                arguments, tail calls (limit 33, empty slot, index out of range)
  layout        a staggered-jump program of more than 128 KiB of code (long
                branches, relaxation converging), the `rotate` option, the
                lowering's poisoned upper halves
  fixtures      every program of tests/progs/build x the fixture packet set
"""
from __future__ import annotations

from functools import lru_cache

import pytest

from jit import isa
from jit.isa import Alu, Cls, Insn, Jmp, Mode, Size, Src
from jit.program import MapDef, Object
from tests import edge
from tests.difftest import check_program, program

M64 = edge.M64
M32 = edge.M32

TARGETS = [pytest.param("mips64", "big", id="mips64"),
           pytest.param("mips64el", "little", id="mips64el")]

# the encoder's immediate limits (backends.mips64.IMM_LIMITS, restated): simm16,
# uimm16, lui's signed 32 bits; an eBPF immediate is s32, so 2^31 is its edge too
IMM_EDGES = (15, 16, 31)
LDDW_EDGES = (15, 16, 31, 32, 47, 48, 63)


def magnitudes(edges, bits: int) -> list[int]:
    """+-2^n and +-2^n +- 1 for each n, kept within a signed `bits`-bit value."""
    out = []
    for n in edges:
        for v in (1 << n, -(1 << n)):
            for d in (-1, 0, 1):
                x = v + d
                if -(1 << (bits - 1)) <= x < (1 << (bits - 1)) and x not in out:
                    out.append(x)
    return out


IMM_MAGS = magnitudes(IMM_EDGES, 32)

# ---------------------------------------------------------------- building programs


def lddw(dst: int, value: int) -> Insn:
    return Insn(isa.LDDW, dst, 0, 0, value & M64)


def alu(op: int, width: int, dst: int, src: int | None = None, imm: int = 0,
        off: int = 0) -> Insn:
    """ALU/ALU64 with a register source, or the immediate form when src is None."""
    cls = Cls.ALU64 if width == 64 else Cls.ALU
    if src is None:
        return Insn(cls | op | Src.K, dst, 0, off, imm)
    return Insn(cls | op | Src.X, dst, src, off, 0)


def jmp(op: int, width: int, dst: int, src: int | None = None, imm: int = 0,
        off: int = 0) -> Insn:
    cls = Cls.JMP if width == 64 else Cls.JMP32
    if src is None:
        return Insn(cls | op | Src.K, dst, 0, off, imm)
    return Insn(cls | op | Src.X, dst, src, off, 0)


def ldx(size: int, dst: int, src: int, off: int, signed: bool = False) -> Insn:
    mode = Mode.MEMSX if signed else Mode.MEM
    return Insn(Cls.LDX | mode | isa.BYTES_SIZE[size], dst, src, off, 0)


def stx(size: int, dst: int, off: int, src: int) -> Insn:
    return Insn(Cls.STX | Mode.MEM | isa.BYTES_SIZE[size], dst, src, off, 0)


def st(size: int, dst: int, off: int, imm: int) -> Insn:
    return Insn(Cls.ST | Mode.MEM | isa.BYTES_SIZE[size], dst, 0, off, imm)


def atomic(size: int, dst: int, off: int, src: int, imm: int) -> Insn:
    return Insn(Cls.STX | Mode.ATOMIC | isa.BYTES_SIZE[size], dst, src, off, imm)


def mov(dst: int, src: int | None = None, imm: int = 0) -> Insn:
    return alu(Alu.MOV, 64, dst, src, imm)


def call_helper(hid: int) -> Insn:
    return Insn(isa.CALL, 0, 0, 0, hid)


def call_local(imm: int) -> Insn:
    return Insn(isa.CALL, 0, 1, 0, imm)


EXIT = Insn(isa.EXIT)
RET0 = [mov(0, imm=0), EXIT]

# ALU ops: name -> (code, off)  (off=1 makes DIV/MOD signed)
ALU_OPS = {"add": (Alu.ADD, 0), "sub": (Alu.SUB, 0), "mul": (Alu.MUL, 0),
           "div": (Alu.DIV, 0), "sdiv": (Alu.DIV, 1), "or": (Alu.OR, 0), "and": (Alu.AND, 0),
           "lsh": (Alu.LSH, 0), "rsh": (Alu.RSH, 0), "mod": (Alu.MOD, 0), "smod": (Alu.MOD, 1),
           "xor": (Alu.XOR, 0), "mov": (Alu.MOV, 0), "arsh": (Alu.ARSH, 0)}
SHIFT_OPS = ("lsh", "rsh", "arsh")
DIV_OPS = ("div", "sdiv", "mod", "smod")
CONDS = {"jeq": Jmp.JEQ, "jne": Jmp.JNE, "jgt": Jmp.JGT, "jge": Jmp.JGE, "jlt": Jmp.JLT,
         "jle": Jmp.JLE, "jsgt": Jmp.JSGT, "jsge": Jmp.JSGE, "jslt": Jmp.JSLT,
         "jsle": Jmp.JSLE, "jset": Jmp.JSET}


class Out:
    """Result slots in the memory block: r9 is the cursor (r9 = r1 on entry).

    Every `put` stores a register at the next 8-byte slot; the cursor moves on
    every 4000 slots so displacements stay inside s16."""

    def __init__(self, base_reg: int = 9) -> None:
        self.reg = base_reg
        self.slot = 0
        self.total = 0
        self.insns: list[Insn] = [mov(base_reg, 1)]

    def put(self, src: int, size: int = 8) -> list[Insn]:
        out = []
        if self.slot == 4000:
            out.append(alu(Alu.ADD, 64, self.reg, imm=4000 * 8))
            self.slot = 0
        out.append(stx(size, self.reg, self.slot * 8, src))
        self.slot += 1
        self.total += 1
        return out

    @property
    def mem(self) -> bytes:
        return bytes(self.total * 8 + 8)


def run(insns: list[Insn], arch: str, order: str, *, mem: bytes | None = None, **kw):
    return check_program(program(insns, order=order), arch, mem=mem, **kw)


def shift_counts(width: int) -> list[int]:
    return [c for c in (0, 1, 7, 31, 32, 33, 63) if c < width]


def operands(name: str, width: int, imm: bool) -> tuple[list[int], list[int]]:
    """(first operands, second operands) for the value matrix of one op."""
    if name in SHIFT_OPS:
        return list(edge.REGS), (shift_counts(width) if imm else list(edge.SHIFTS))
    if name in DIV_OPS:
        if imm:                                              # the checks refuse x / 0 (K)
            return list(edge.DIVIDENDS), [v for v in list(edge.IMMS) + IMM_MAGS if v]
        return list(edge.DIVIDENDS), list(edge.DIVISORS)
    if imm:
        return list(edge.REGS), list(edge.IMMS) + IMM_MAGS
    return list(edge.REGS), list(edge.REGS)


# ---------------------------------------------------------------- ALU: values

@lru_cache(maxsize=None)
def alu_value_program(name: str, width: int) -> tuple[tuple, bytes]:
    """Every (a, b) through `name`, register and immediate forms, in three shapes:
    the result stored as u64 (its upper half read), as u32 (32-bit ops only: the
    upper half unread, inputs whose upper half is free), and fused
    (`r3 = r5; r3 op= b`, the three-operand form)."""
    code, off = ALU_OPS[name]
    out = Out()
    body = out.insns
    firsts, seconds = operands(name, width, imm=False)
    for a in firsts:
        for b in seconds:
            op = alu(code, width, 3, 4, off=off)
            body += [lddw(3, a), lddw(4, b), op] + out.put(3)
            if width == 32:
                body += [lddw(3, a), lddw(4, b), alu(Alu.MOV, 32, 3, 3),
                         alu(Alu.MOV, 32, 4, 4), op] + out.put(3, 4)
            body += [lddw(5, a), lddw(4, b), alu(Alu.MOV, width, 3, 5), op] + out.put(3)
    firsts, seconds = operands(name, width, imm=True)
    for a in firsts[:: 1 if len(firsts) < 15 else 2]:
        for b in seconds:
            op = alu(code, width, 3, imm=b, off=off)
            body += [lddw(3, a), op] + out.put(3)
            if width == 32:
                body += [lddw(3, a), alu(Alu.MOV, 32, 3, 3), op] + out.put(3, 4)
            body += [lddw(5, a), alu(Alu.MOV, width, 3, 5), op] + out.put(3)
    return tuple(body + RET0), out.mem


@pytest.mark.parametrize("width", [64, 32])
@pytest.mark.parametrize("name", list(ALU_OPS))
@pytest.mark.parametrize("arch,order", TARGETS)
def test_alu_values(arch, order, name, width):
    insns, mem = alu_value_program(name, width)
    run(insns, arch, order, mem=mem)


# ---------------------------------------------------------------- ALU: register pairs

PAIR_VALUES = ((0xDEAD_BEEF_8765_4321, 0x1_0000_0003), (0x8000_0000, M64 - 6))


def save_result(reg: int, size: int, slot: int) -> list[Insn]:
    """Store `reg` through the stack to result slot `slot` (every register may be in
    use by the case, so the block pointer waits at r10 - 16)."""
    return [stx(size, 10, -8, reg), ldx(8, 1, 10, -16), ldx(size, 2, 10, -8),
            stx(size, 1, slot * 8, 2)]


@lru_cache(maxsize=None)
def alu_pair_program(name: str, width: int) -> tuple[tuple, bytes]:
    code, off = ALU_OPS[name]
    body = [stx(8, 10, -16, 1)]
    slot = 0
    for d in range(10):
        for s in range(10):
            for i, (a, b) in enumerate(PAIR_VALUES):
                if name in SHIFT_OPS:
                    b = 35 + i
                size = 4 if width == 32 and i else 8         # u32: the upper half unread
                body += [lddw(s, b), lddw(d, a), alu(code, width, d, s, off=off)]
                body += save_result(d, size, slot)
                slot += 1
            # fused: d = a; d op= s  (a may be s, s may be d)
            a_reg = (d + 1 + s) % 10 if (d + 1 + s) % 10 != d else (d + 2) % 10
            va, vb = PAIR_VALUES[0]
            if name in SHIFT_OPS:
                vb = 37
            body += [lddw(s, vb), lddw(a_reg, va), alu(Alu.MOV, width, d, a_reg),
                     alu(code, width, d, s, off=off)] + save_result(d, 8, slot)
            slot += 1
        # immediate forms on every destination register
        for imm in ((1, 7, 31) if name in SHIFT_OPS else (1, -2, 0x1234_5678, 31)):
            body += [lddw(d, PAIR_VALUES[0][0]), alu(code, width, d, imm=imm, off=off)]
            body += save_result(d, 8, slot)
            slot += 1
    return tuple(body + RET0), bytes(slot * 8 + 8)


@pytest.mark.parametrize("width", [64, 32])
@pytest.mark.parametrize("name", list(ALU_OPS))
@pytest.mark.parametrize("arch,order", TARGETS)
def test_alu_register_pairs(arch, order, name, width):
    insns, mem = alu_pair_program(name, width)
    run(insns, arch, order, mem=mem)


# ---------------------------------------------------------------- NEG, MOVSX, END, LDDW

@lru_cache(maxsize=None)
def unary_program() -> tuple[tuple, bytes]:
    out = Out()
    body = out.insns
    for d in range(9):                                       # r9 is the cursor
        for v in edge.REGS[d::3]:
            for width in (64, 32):
                body += [lddw(d, v), alu(Alu.NEG, width, d)] + out.put(d)
                body += [lddw(d, v), alu(Alu.NEG, width, d)] + out.put(d, 4)
                for bits in (8, 16, 32):
                    if width == 32 and bits == 32:
                        continue
                    s = (d + 3) % 9
                    body += [lddw(s, v), alu(Alu.MOV, width, d, s, off=bits)] + out.put(d)
                    body += [lddw(d, v), alu(Alu.MOV, width, d, d, off=bits)] + out.put(d)
            for bits in (16, 32, 64):
                for opcode in (Cls.ALU | Alu.END | Src.K, Cls.ALU | Alu.END | Src.X,
                               Cls.ALU64 | Alu.END | Src.K):
                    body += [lddw(d, v), Insn(opcode, d, 0, 0, bits)] + out.put(d)
    return tuple(body + RET0), out.mem


@pytest.mark.parametrize("arch,order", TARGETS)
def test_neg_movsx_end(arch, order):
    insns, mem = unary_program()
    run(insns, arch, order, mem=mem)


@pytest.mark.parametrize("arch,order", TARGETS)
def test_lddw_magnitudes(arch, order):
    """Constants around every width where the materialisation changes, in every register."""
    out = Out()
    body = out.insns
    values = magnitudes(LDDW_EDGES, 65) + [0, 1, -1, 0x1234_5678_9ABC_DEF0, 0xFFFF_0000_0000_FFFF,
                                          0x0000_FFFF_FFFF_0000, 0x8000_0000_0000_0001,
                                          0x7FFF_FFFF_0000_0000, 0xFFFF_FFFF]
    for i, v in enumerate(values):
        d = i % 9
        body += [lddw(d, v)] + out.put(d)
    run(body + RET0, arch, order, mem=out.mem)


# ---------------------------------------------------------------- jumps

@lru_cache(maxsize=None)
def jump_value_program(name: str, width: int) -> tuple[tuple, bytes]:
    """r5 = 1; if a <cond> b goto +1; r5 = 0; store r5 -- over every (a, b)."""
    code = CONDS[name]
    out = Out()
    body = out.insns
    cases = [(a, b, False) for a in edge.REGS for b in edge.REGS]
    cases += [(a, b, True) for a in edge.REGS[::2] for b in list(edge.IMMS) + IMM_MAGS]
    for a, b, imm in cases:
        test = jmp(code, width, 3, imm=b, off=1) if imm else jmp(code, width, 3, 4, off=1)
        setup = [lddw(3, a)] if imm else [lddw(3, a), lddw(4, b)]
        body += setup + [mov(5, imm=1), test, mov(5, imm=0)] + out.put(5, 1)
    if width == 32:                                          # operands with a free upper half
        for a in edge.REGS[::2]:
            for b in edge.REGS[1::2]:
                body += [lddw(3, a), lddw(4, b), alu(Alu.MOV, 32, 3, 3), alu(Alu.MOV, 32, 4, 4),
                         mov(5, imm=1), jmp(code, 32, 3, 4, off=1), mov(5, imm=0)]
                body += out.put(5, 1)
    return tuple(body + RET0), out.mem


@pytest.mark.parametrize("width", [64, 32])
@pytest.mark.parametrize("name", list(CONDS))
@pytest.mark.parametrize("arch,order", TARGETS)
def test_jump_values(arch, order, name, width):
    insns, mem = jump_value_program(name, width)
    run(insns, arch, order, mem=mem)


@lru_cache(maxsize=None)
def jump_pair_program(width: int) -> tuple[tuple, bytes]:
    body = [stx(8, 10, -16, 1)]
    slot = 0
    for name, code in CONDS.items():
        for d in range(10):
            for s in range(10):
                a, b = (0x1_8000_0000, 0x2_7FFF_FFFF) if (d + s) % 2 else (5, M64 - 3)
                flag = [st(1, 10, -8, 1), jmp(code, width, d, s, off=1), st(1, 10, -8, 0)]
                body += [lddw(s, b), lddw(d, a)] + flag
                body += [ldx(8, 1, 10, -16), ldx(1, 2, 10, -8), stx(1, 1, slot, 2)]
                slot += 1
    return tuple(body + RET0), bytes(slot + 8)


@pytest.mark.parametrize("width", [64, 32])
@pytest.mark.parametrize("arch,order", TARGETS)
def test_jump_register_pairs(arch, order, width):
    insns, mem = jump_pair_program(width)
    run(insns, arch, order, mem=mem)


@pytest.mark.parametrize("arch,order", TARGETS)
def test_ja_and_gotol(arch, order):
    insns = [mov(0, imm=1), Insn(isa.JA, 0, 0, 2, 0),        # 0, 1: goto 4
             alu(Alu.ADD, 64, 0, imm=10), EXIT,              # 2, 3
             alu(Alu.LSH, 64, 0, imm=4),                     # 4
             Insn(isa.GOTOL, 0, 0, 0, -4)]                   # 5: gotol 2
    ref = run(insns, arch, order)
    assert ref.r0 == 26


# ---------------------------------------------------------------- memory

PATTERN = bytes(range(0x81, 0xC1))                           # 64 distinct bytes


@lru_cache(maxsize=None)
def memory_program() -> tuple[tuple, bytes]:
    """Loads and stores of every size at every offset 0..15 (so aligned and not), with
    the base alignment known (r1 on entry) and unknown (a pointer loaded from memory),
    every base register, destination == base, and the stack at every alignment."""
    mem = bytearray(PATTERN + bytes(12 * 1024))
    res = len(PATTERN)                                       # results after the pattern
    body = [stx(8, 10, -8, 1), mov(9, 1)]
    slot = 0

    def result(reg, size=8):
        nonlocal slot
        r = [stx(size, 9, res + 8 * slot, reg)]
        slot += 1
        return r

    for size in (1, 2, 4, 8):
        for signed in ((False, True) if size < 8 else (False,)):
            for o in range(0, 16):
                body += [ldx(size, 3, 1, o, signed)] + result(3)   # base known aligned
                body += [ldx(8, 4, 10, -8), ldx(size, 5, 4, o, signed)] + result(5)
                body += [ldx(8, 6, 10, -8), ldx(size, 6, 6, o, signed)] + result(6)
    # loaded values feed ops that care how they were extended (32-bit signed compare,
    # arithmetic shift); the pattern's bytes all have their top bit set
    for size in (2, 4):
        for o in (0, 2, 4):
            body += [ldx(size, 3, 1, o), ldx(size, 4, 1, o + 8), mov(5, imm=1),
                     jmp(Jmp.JSLT, 32, 3, 4, off=1), mov(5, imm=0), alu(Alu.ARSH, 32, 3, imm=1),
                     alu(Alu.ADD, 64, 3, 5)] + result(3)
    # pointers derived by arithmetic: the alignment the backend infers must be right
    for k in range(8):
        for o in (0, 1, 2, 4, 6):
            body += [mov(3, 1), alu(Alu.ADD, 64, 3, imm=k), ldx(4, 5, 3, o)] + result(5)
            body += [mov(4, imm=k), mov(3, 1), alu(Alu.ADD, 64, 3, 4), ldx(8, 5, 3, o)]
            body += result(5)
            body += [mov(4, imm=k), alu(Alu.LSH, 64, 4, imm=1), mov(3, 1),
                     alu(Alu.ADD, 64, 3, 4), alu(Alu.AND, 64, 3, imm=-4), ldx(8, 5, 3, o)]
            body += result(5)
            body += [ldx(8, 3, 10, -8), alu(Alu.AND, 64, 3, imm=0xFFFF), mov(4, 1),
                     alu(Alu.AND, 64, 4, imm=-0x10000), alu(Alu.OR, 64, 3, 4),
                     alu(Alu.ADD, 64, 3, imm=k), ldx(2, 5, 3, o)] + result(5)
    # every base register (r0..r8) and destination register, unaligned and aligned
    for b in range(9):
        for d in range(9):
            o = (b * 3 + d) % 12
            body += [ldx(8, b, 10, -8), ldx(4, d, b, o)] + result(d)
            body += [ldx(8, b, 10, -8), ldx(2, d, b, o + 1, True)] + result(d)
    # stores: register and immediate sources, every size, offsets 0..15 into a scratch area
    area = res + 8 * 1200
    body += [ldx(8, 1, 10, -8)]                             # the pairs clobbered r1
    for size in (1, 2, 4, 8):
        for o in range(0, 16):
            base_off = area + o + 32 * (size.bit_length())
            body += [lddw(3, 0x1122_3344_5566_7788 + o)]
            body += [stx(size, 1, base_off, 3)]
            body += [ldx(8, 4, 10, -8), stx(size, 4, base_off + 128, 3)]
            body += [st(size, 1, base_off + 256, -0x1234_5678 + o)]
            body += [ldx(8, 4, 10, -8), st(size, 4, base_off + 384, 0x7E)]
    # the stack at every alignment, then copied out
    for size in (1, 2, 4, 8):
        for o in range(-16 - size, -8 - size + 1):
            body += [lddw(3, 0xA1B2_C3D4_E5F6_0718), stx(size, 10, o, 3), ldx(size, 4, 10, o)]
            body += result(4)
    assert area + 4 * 512 + 16 < len(mem) and res + 8 * slot < area
    return tuple(body + RET0), bytes(mem)


@pytest.mark.parametrize("arch,order", TARGETS)
def test_loads_and_stores(arch, order):
    insns, mem = memory_program()
    run(insns, arch, order, mem=mem)


@pytest.mark.parametrize("size", [2, 4, 8])
@pytest.mark.parametrize("known", [True, False], ids=["aligned-base", "unknown-base"])
@pytest.mark.parametrize("arch,order", TARGETS)
def test_access_running_off_the_block_faults_at_its_pc(arch, order, size, known):
    """A load or store that starts inside the block (one page) and ends past it
    faults at its pc, and a store writes nothing first (bug: an unaligned store
    pair could write its first half before the second faulted)."""
    n = 4096
    for off in (n - size + 1, n - 1):
        for kind in ("load", "store"):
            base = [] if known else [stx(8, 10, -8, 1), ldx(8, 1, 10, -8)]
            op = ldx(size, 0, 1, off) if kind == "load" else stx(size, 1, off, 1)
            ref = run(base + [mov(0, imm=3), op] + RET0, arch, order, mem=bytes(n))
            assert ref.fault is not None


@pytest.mark.parametrize("arch,order", TARGETS)
def test_displacements_at_the_s16_limits(arch, order):
    """eBPF offsets of +-32767: with the stack's frame offset, or the last byte of an
    unaligned access, they leave MIPS's 16-bit displacement."""
    body = [stx(8, 10, -8, 1)]
    body += [mov(3, 1), alu(Alu.ADD, 64, 3, imm=-32000)]
    for size in (1, 2, 4, 8):
        body += [lddw(4, 0x0102_0304_0506_0708 * size)]
        body += [stx(size, 3, 32767 - 16 * size, 4), ldx(size, 5, 3, 32767 - 16 * size)]
        body += [stx(8, 1, 8 * size, 5)]
    body += [mov(3, 1), alu(Alu.ADD, 64, 3, imm=40000)]
    body += [stx(4, 3, -32768 + 8, 1), ldx(4, 6, 3, -32768 + 9), stx(8, 1, 0, 6)]
    body += [st(8, 10, -512, 77), ldx(8, 0, 10, -512), EXIT]
    run(body, arch, order, mem=bytes(48 * 1024))


# ---------------------------------------------------------------- atomics

ATOMICS = {"add": isa.Atomic.ADD, "or": isa.Atomic.OR, "and": isa.Atomic.AND,
           "xor": isa.Atomic.XOR, "fetch_add": 0x01, "fetch_or": 0x41, "fetch_and": 0x51,
           "fetch_xor": 0xA1, "xchg": isa.Atomic.XCHG, "cmpxchg": isa.Atomic.CMPXCHG}


@lru_cache(maxsize=None)
def atomic_program(size: int) -> tuple[tuple, bytes]:
    """Every atomic op over (base, src) register pairs, r0 included (CMPXCHG's
    implicit operand), aliasing included; memory, src and r0 stored after each."""
    init = 0x8000_0001_FFFF_FFF0 if size == 8 else 0xFFFF_FFF0_8000_0001
    body = [stx(8, 10, -16, 1), mov(0, imm=0)]
    slot = 0
    cell = 0
    cells = 16384
    for name, imm in ATOMICS.items():
        for b in range(10):
            for s in range(10):
                if (b + s + len(name)) % 3 and b != s and 0 not in (b, s):
                    continue                                 # a third of the plain pairs
                addr_off = 8 * cell
                cell += 1
                value = 0x7FFF_FFFF_0000_0011 if s != b else 0
                # memory cell = init; base = &cell; src = value; r0 = init (cmpxchg hits)
                body += [ldx(8, 1, 10, -16), lddw(2, init), stx(8, 1, cells + addr_off, 2)]
                body += [lddw(0, init if (b + s) % 2 else 5)] if 0 not in (b, s) else []
                body += [ldx(8, b, 10, -16), alu(Alu.ADD, 64, b, imm=cells + addr_off)]
                if s != b:
                    body += [lddw(s, value)]
                body += [atomic(size, b, 0, s, imm)]
                for r in sorted({s, 0}):
                    body += save_result(r, 8, slot)
                    slot += 1
    assert 8 * slot < cells
    return tuple(body + RET0), bytes(cells + 8 * cell + 8)


@pytest.mark.parametrize("size", [4, 8])
@pytest.mark.parametrize("arch,order", TARGETS)
def test_atomics(arch, order, size):
    insns, mem = atomic_program(size)
    run(insns, arch, order, mem=mem)


# ---------------------------------------------------------------- legacy packet access

@pytest.mark.parametrize("arch,order", TARGETS)
def test_ld_abs_ld_ind(arch, order):
    pkt = bytes(range(0x40, 0x80))
    body = [mov(6, 1), mov(9, 1), mov(7, imm=0)]
    for size, bsz in ((1, Size.B), (2, Size.H), (4, Size.W)):
        for off in (0, 1, 3, 60 - size, 64 - size):
            body += [Insn(Cls.LD | Mode.ABS | bsz, 0, 0, 0, off), alu(Alu.ADD, 64, 7, 0)]
        for src, k in ((3, 1), (8, -2), (2, 5)):
            body += [mov(src, imm=7), Insn(Cls.LD | Mode.IND | bsz, 0, src, 0, k),
                     alu(Alu.XOR, 64, 7, 0)]
    body += [stx(8, 9, 0, 7), mov(3, imm=61), Insn(Cls.LD | Mode.IND | Size.W, 0, 3, 0, 0),
             mov(0, imm=99), EXIT]                           # out of bounds: returns 0
    ref = run(body, arch, order, mem=pkt)
    assert ref.r0 == 0


# ---------------------------------------------------------------- calls

def call_chain(depth: int) -> list[Insn]:
    """main and functions f1..f{depth-1}: f_k(a, b) keeps a on its stack, clobbers
    r6-r9 (after using them), calls f_{k+1}(a * 3 + r6, b - 1) and folds in its own
    stack and the r6-r9 it got back.  main checks its r6-r9 and stack the same way."""
    main = [mov(6, imm=1), mov(7, imm=2), mov(8, imm=3), mov(9, imm=4), st(8, 10, -8, 1000),
            st(4, 10, -64, 5), mov(1, imm=6), mov(2, imm=100), None,
            alu(Alu.ADD, 64, 0, 6), alu(Alu.ADD, 64, 0, 7), alu(Alu.ADD, 64, 0, 8),
            alu(Alu.ADD, 64, 0, 9), ldx(8, 3, 10, -8), alu(Alu.ADD, 64, 0, 3),
            ldx(4, 3, 10, -64), alu(Alu.ADD, 64, 0, 3), EXIT]
    funcs = [main]
    for k in range(1, depth):
        f = [stx(8, 10, -8 * k, 1), mov(6, 1), mov(7, 2), alu(Alu.MUL, 64, 1, imm=3),
             alu(Alu.ADD, 64, 1, 6), alu(Alu.SUB, 64, 2, imm=1)]
        if k < depth - 1:
            f += [mov(8, imm=-1), mov(9, imm=-2), mov(3, 10), mov(4, imm=1), mov(5, imm=2),
                  None, ldx(8, 1, 10, -8 * k), alu(Alu.ADD, 64, 0, 1), alu(Alu.ADD, 64, 0, 7),
                  alu(Alu.XOR, 64, 0, 8), alu(Alu.ADD, 64, 0, 6), EXIT]
        else:
            f += [mov(0, 1), alu(Alu.MUL, 64, 0, 2), EXIT]
        funcs.append(f)
    starts = []
    pc = 0
    for f in funcs:
        starts.append(pc)
        pc += len(f)
    for k, f in enumerate(funcs[:-1]):
        at = f.index(None)
        f[at] = call_local(starts[k + 1] - (starts[k] + at + 1))
    return [i for f in funcs for i in f]


@pytest.mark.parametrize("arch,order", TARGETS)
def test_calls_with_stack_in_every_frame(arch, order):
    """A chain of 8 frames, each with its own stack and the r6-r9 it must get back."""
    ref = run(call_chain(8), arch, order)
    assert ref.fault is None


@pytest.mark.parametrize("arch,order", TARGETS)
def test_r10_between_and_after_local_calls(arch, order):
    """After a call fp stays at the callee's r10 while only stack accesses and further
    calls follow (emit.py `bias`); r10 read as a value, a branch, the exit each see
    r10 again.  r10 itself is stored to the memory block, so its value is compared."""
    f = [stx(8, 10, -8, 1), ldx(8, 0, 10, -8), alu(Alu.MUL, 64, 0, imm=3),
         alu(Alu.ADD, 64, 0, imm=1), EXIT]
    main = [mov(9, 1), st(8, 10, -8, 7), mov(1, imm=1), None,
            ldx(8, 6, 10, -8), alu(Alu.ADD, 64, 6, 0), mov(1, 6), None,   # stack, then a call
            stx(8, 10, -16, 0), None,                                    # back to back
            mov(2, 10), stx(8, 9, 0, 2), alu(Alu.ADD, 64, 6, 0),         # r10 as a value
            None, jmp(Jmp.JEQ, 64, 0, imm=0, off=1), alu(Alu.ADD, 64, 6, imm=1),
            ldx(8, 1, 10, -16), alu(Alu.ADD, 64, 6, 1), stx(8, 9, 8, 6),
            mov(0, 6), EXIT]
    for at in [i for i, x in enumerate(main) if x is None]:
        main[at] = call_local(len(main) - (at + 1))
    ref = run(main + f, arch, order, mem=bytes(16))
    assert ref.fault is None


@pytest.mark.parametrize("arch,order", TARGETS)
def test_helper_with_five_arguments(arch, order):
    """gather_bytes(a, b, c, d, e) from the conformance set: each argument's low byte,
    in its position, so a swapped or clobbered argument shows."""
    body = [mov(6, imm=0x99)]
    for r, v in zip(range(1, 6), (0x1_01, 0x2_02, 0x3_03, 0x4_04, 0x5_05)):
        body += [lddw(r, v | 0xFFFF_0000_0000_0000)]
    body += [call_helper(0), alu(Alu.ADD, 64, 0, 6), mov(7, 0), mov(1, 0), mov(2, imm=1),
             mov(3, imm=2), mov(4, imm=3), mov(5, imm=0x55), call_helper(0),
             alu(Alu.ADD, 64, 0, 7), EXIT]
    ref = run(body, arch, order, helpers="conformance")
    assert len(ref.helper_calls) == 2


def tail_objects(order: str, main: list[Insn], target: list[Insn], slots):
    table = MapDef(name="jmp", type=3, key_size=4, value_size=4, max_entries=4,
                   prog_slots=slots)
    counter = MapDef(name="counter", type=2, key_size=4, value_size=8, max_entries=1)
    progs = [program(main, order=order, name="main"), program(target, order=order,
                                                                name="target")]
    for p in progs:
        p.maps = [table, counter]
    return Object(file="<tail>", programs=progs, maps=[table, counter], byteorder=order)


def tail_call(index: int) -> list[Insn]:
    """r1 = r6 (ctx); r2 = &jmp; r3 = index; call tail_call"""
    return [mov(1, 6), Insn(isa.LDDW, 2, 1, 0, 0), lddw(3, index), call_helper(12)]


BUMP = [mov(6, 1), Insn(isa.LDDW, 1, 2, 0, 1), ldx(8, 2, 1, 0), alu(Alu.ADD, 64, 2, imm=1),
        stx(8, 1, 0, 2)]                                     # counter += 1


@pytest.mark.parametrize("arch,order", TARGETS)
def test_tail_call_chain_stops_after_33(arch, order):
    main = BUMP + tail_call(0) + [mov(0, imm=99), EXIT]
    obj = tail_objects(order, main, [mov(0, imm=5), EXIT], {0: "main"})
    ref = check_program(obj.programs[0], arch, obj=obj)
    assert ref.r0 == 99 and ref.maps["counter"][0][1] == (34).to_bytes(8, order)


@pytest.mark.parametrize("index", [1, 3, 4, 0xFFFF_FFFF, 1 << 32])
@pytest.mark.parametrize("arch,order", TARGETS)
def test_tail_call_misses_and_hits(arch, order, index):
    """Empty slots and indexes out of range fall through with r0 kept; the index is u32."""
    main = [mov(6, 1), mov(0, imm=77)] + tail_call(index) + [EXIT]
    obj = tail_objects(order, main, [st(8, 10, -8, 1), ldx(8, 0, 10, -8),
                                     alu(Alu.ADD, 64, 0, imm=4), EXIT], {0: "target"})
    ref = check_program(obj.programs[0], arch, obj=obj)
    assert ref.r0 == (5 if index == 1 << 32 else 77)


@pytest.mark.parametrize("tries", [32, 33])
@pytest.mark.parametrize("arch,order", TARGETS)
def test_tail_calls_to_empty_slots_count(arch, order, tries):
    call = tail_call(1)
    n = sum(i.slots for i in call)
    loop = [mov(8, imm=tries)] + call + [alu(Alu.ADD, 64, 8, imm=-1),
                                         jmp(Jmp.JNE, 64, 8, imm=0, off=-(n + 2))]
    main = [mov(6, 1)] + loop + [mov(0, imm=77)] + tail_call(0) + [EXIT]
    obj = tail_objects(order, main, [mov(0, imm=5), EXIT], {0: "target"})
    ref = check_program(obj.programs[0], arch, obj=obj)
    assert ref.r0 == (5 if tries == 32 else 77)


@pytest.mark.parametrize("arch,order", TARGETS)
def test_tail_call_from_a_subprogram_returns_to_its_caller(arch, order):
    f = [mov(6, 1), st(8, 10, -8, 3)] + tail_call(0) + [mov(0, imm=1), EXIT]
    main = [mov(6, 1), mov(7, imm=1000), st(8, 10, -16, 20), call_local(4),
            alu(Alu.ADD, 64, 0, 7), ldx(8, 1, 10, -16), alu(Alu.ADD, 64, 0, 1), EXIT]
    main[3] = call_local(len(main) - 4)
    obj = tail_objects(order, main + f, [mov(7, imm=0), mov(0, imm=5), EXIT], {0: "target"})
    ref = check_program(obj.programs[0], arch, obj=obj)
    assert ref.r0 == 1025


# ---------------------------------------------------------------- layout and options

def staggered_program(n_pairs: int, pad: int) -> list[Insn]:
    """Jumps that alternate forwards and backwards with growing distances, each
    block padded with `pad` instructions (test_bpf's staggered jumps).

    Slots: 0: r0 = 0; 1: r3 = 0; 2: goto the first hop; then 2n blocks of
    [r0 += 1, a far branch never taken, a conditional jump to the next hop
    (always taken), padding], then exit.  The hops visit the blocks in the order
    n, n-1, n+1, n-2, n+2, ... so the k-th jump spans about k blocks, alternately
    forwards and backwards."""
    block = 3 + pad
    start = 3
    blocks = 2 * n_pairs
    order = []
    lo, hi = n_pairs - 1, n_pairs
    while lo >= 0 or hi < blocks:
        if hi < blocks:
            order.append(hi)
            hi += 1
        if lo >= 0:
            order.append(lo)
            lo -= 1
    nxt = {b: order[i + 1] for i, b in enumerate(order[:-1])}
    exit_at = start + blocks * block
    insns: list = [mov(0, imm=0), mov(3, imm=0), Insn(isa.JA, 0, 0, order[0] * block, 0)]
    for b in range(blocks):
        at = start + b * block
        target = start + nxt[b] * block if b in nxt else exit_at
        insns.append(alu(Alu.ADD, 64, 0, imm=1))
        insns.append(jmp(Jmp.JSLT, 64, 0, imm=0, off=exit_at - (at + 2)))    # r0 > 0
        # conditions that always hold, so each is a real conditional branch
        insns.append(jmp(Jmp.JSGE if b % 2 else Jmp.JNE, 64, 0, imm=0 if b % 2 else -1,
                         off=target - (at + 3)))
        # 4 native words each (li, dmultu, mflo); too many distinct constants to hoist
        insns += [alu(Alu.MUL, 64, 3, imm=0x12345 + 0x100 * k) for k in range(pad)]
    return insns + [EXIT]


@pytest.mark.parametrize("arch,order", TARGETS)
def test_staggered_jumps_beyond_branch_reach(arch, order):
    """More than 128 KiB of code: far branches take the long form, relaxation
    converges, and the hops still land where the interpreter's do."""
    from jit import driver
    insns = staggered_program(n_pairs=48, pad=100)
    prog = program(insns, order=order)
    image = driver.compile_program(prog, arch)
    assert len(image.code) > 128 * 1024
    assert image.passes >= 2                                 # some branch grew
    text = "\n".join(t for _, _, t in image.disassemble())
    assert "bal" in text and "jr $at" in text                # the long form is there
    ref = check_program(prog, arch)
    assert ref.r0 == 96


ROTATE_BODY = [lddw(1, 0x1234_5678_9ABC_DEF0), mov(2, imm=-7), mov(3, imm=33),
               mov(4, 1), alu(Alu.ADD, 64, 4, 2), alu(Alu.MUL, 32, 1, 3),
               alu(Alu.RSH, 64, 4, 3), alu(Alu.ARSH, 32, 2, imm=3), mov(5, 4),
               alu(Alu.SUB, 32, 5, 2), alu(Alu.DIV, 64, 4, 3), alu(Alu.MOD, 32, 1, 2),
               mov(6, 1), mov(7, 2), mov(8, 3), alu(Alu.XOR, 64, 6, 7),
               alu(Alu.OR, 32, 7, 8), mov(9, 10), alu(Alu.ADD, 64, 9, imm=-16),
               stx(8, 9, 0, 6), ldx(4, 8, 10, -16), alu(Alu.LSH, 64, 8, 3),
               jmp(Jmp.JSGT, 32, 7, 8, off=1), alu(Alu.NEG, 64, 6),
               alu(Alu.MOV, 64, 0, 6), alu(Alu.ADD, 64, 0, 7), alu(Alu.XOR, 64, 0, 8),
               alu(Alu.ADD, 64, 0, 4), alu(Alu.ADD, 64, 0, 5), alu(Alu.ADD, 64, 0, 1),
               alu(Alu.SUB, 64, 9, 10), alu(Alu.ADD, 64, 0, 9), EXIT]   # r9 - r10: no address


# a loop whose constants get constant registers, which must avoid rotated homes
ROTATE_LOOP = [mov(1, imm=40), mov(0, imm=0), lddw(2, 0x9E37_79B9), mov(3, imm=0),
               mov(4, imm=0), mov(5, imm=0), mov(6, imm=0), mov(7, imm=0), mov(8, imm=0),
               mov(9, imm=0),
               alu(Alu.XOR, 64, 0, imm=0x5555_5555), alu(Alu.MUL, 32, 0, imm=0x0100_0193),
               alu(Alu.ADD, 64, 3, imm=0x1234_5678), alu(Alu.AND, 64, 4, imm=0x0F0F_0F0F),
               alu(Alu.OR, 64, 5, imm=0x3333_3333), alu(Alu.ADD, 64, 6, 0),
               alu(Alu.XOR, 64, 7, 3), alu(Alu.SUB, 64, 8, 6), alu(Alu.ADD, 64, 9, 2),
               alu(Alu.ADD, 64, 1, imm=-1), jmp(Jmp.JNE, 64, 1, imm=0, off=-11),
               alu(Alu.ADD, 64, 0, 3), alu(Alu.ADD, 64, 0, 4), alu(Alu.ADD, 64, 0, 5),
               alu(Alu.XOR, 64, 0, 7), alu(Alu.ADD, 64, 0, 8), alu(Alu.ADD, 64, 0, 9), EXIT]


@pytest.mark.parametrize("arch,order", TARGETS)
def test_rotated_register_maps(arch, order):
    """The same programs on every rotation of the register map."""
    for body in (ROTATE_BODY, ROTATE_LOOP):
        prog = program(body, order=order)
        for k in range(19):
            check_program(prog, arch, options={"rotate": k})


@lru_cache(maxsize=None)
def chain_program() -> tuple[tuple, bytes]:
    """Chains of 32-bit ops whose results feed more 32-bit ops and never get read in
    full: every op, register and immediate forms, followed by consumers that depend
    on how the backend extended the result (a signed and an unsigned compare, an
    arithmetic shift, a division), on a third of the edge values."""
    out = Out()
    body = out.insns
    vals = edge.REGS[::3]

    def consume(r: int, other: int) -> list[Insn]:
        # flags for w_r s< w_other and w_r < 7; then w_r s>>= 3; w_r /= w_other | 1
        return ([mov(5, imm=1), jmp(Jmp.JSLT, 32, r, other, off=1), mov(5, imm=0)]
                + out.put(5, 1)
                + [mov(5, imm=1), jmp(Jmp.JLT, 32, r, imm=7, off=1), mov(5, imm=0)]
                + out.put(5, 1)
                + [alu(Alu.ARSH, 32, r, imm=3), alu(Alu.MOV, 32, 6, other),
                   alu(Alu.OR, 32, 6, imm=1), alu(Alu.DIV, 32, r, 6)] + out.put(r, 4))

    for name, (code, off) in ALU_OPS.items():
        for a in vals:
            for b in vals:
                if name in SHIFT_OPS:
                    b &= 31
                # w3 = a + 1, w4 = b ^ 2: free upper halves (or poisoned ones)
                prep = [lddw(3, a), lddw(4, b), alu(Alu.ADD, 32, 3, imm=1),
                        alu(Alu.XOR, 32, 4, imm=2 if name not in DIV_OPS else 0)]
                body += prep + [alu(code, 32, 3, 4, off=off)] + consume(3, 4)
                body += prep + [alu(Alu.MOV, 32, 5, 3), alu(code, 32, 5, 4, off=off)]
                body += consume(5, 4)
            imm = {"lsh": 5, "rsh": 5, "arsh": 5}.get(name, 0x1234_5678 if a & 1 else -100)
            body += [lddw(3, a), alu(Alu.SUB, 32, 3, imm=3), alu(code, 32, 3, imm=imm, off=off)]
            body += consume(3, 3)
            body += [lddw(3, a), alu(Alu.NEG, 32, 3)] + consume(3, 3)
    return tuple(body + RET0), out.mem


@pytest.mark.parametrize("arch,order", TARGETS)
def test_poisoned_upper_halves(arch, order):
    """With the lowering's random upper halves after every 32-bit def nobody should
    read, 32-bit ops and compares must still only see the low halves."""
    insns, mem = chain_program()
    run(insns, arch, order, mem=mem, options={"poison_hi32": 7})
    run(insns, arch, order, mem=mem)
    run(ROTATE_BODY, arch, order, options={"poison_hi32": 9})


def test_every_opcode_is_covered():
    """The programs above use every opcode of the ISA."""
    seen = set()
    progs = [alu_value_program(n, w)[0] for n in ALU_OPS for w in (32, 64)]
    progs += [unary_program()[0], memory_program()[0], atomic_program(4)[0],
              atomic_program(8)[0], staggered_program(1, 1), ROTATE_BODY]
    for insns in progs:
        seen |= {i.opcode for i in insns}
    seen |= {Cls.LD | Mode.ABS | s for s in (Size.B, Size.H, Size.W)}      # test_ld_abs_ld_ind
    seen |= {Cls.LD | Mode.IND | s for s in (Size.B, Size.H, Size.W)}
    seen |= {isa.CALL, isa.GOTOL}                                        # calls, test_ja_and_gotol
    for name in CONDS:
        for width in (32, 64):
            seen |= {i.opcode for i in jump_value_program(name, width)[0]}
    missing = sorted(set(isa.all_opcodes()) - seen)
    assert not missing, [hex(m) for m in missing]


# ---------------------------------------------------------------- fixtures

def _fixture_cases():
    import pathlib
    build = pathlib.Path(__file__).parent / "progs" / "build"
    return sorted(p.name for p in build.glob("*.o"))


@pytest.mark.parametrize("name", _fixture_cases())
def test_fixture_agrees_on_every_packet(name):
    import pathlib
    from jit import driver
    from jit.errors import BpfjitError
    try:
        from tests.test_fixtures import PACKETS
    except ImportError as e:                                 # pragma: no cover
        pytest.skip(f"no fixture packet set: {e}")
    path = pathlib.Path(__file__).parent / "progs" / "build" / name
    obj, _ = driver.load(str(path))
    arch = "mips64" if obj.byteorder == "big" else "mips64el"
    ran = 0
    for prog in obj.programs:
        for pname, frame in PACKETS.items():
            inputs = driver.Inputs(packet=frame)
            try:
                driver.prepare(obj, prog, inputs)
            except BpfjitError:
                continue                                     # e.g. an skb needs 14 bytes
            ref, divs = driver.diff(obj, prog, [arch], inputs)
            assert not divs, (f"{prog.name} on {pname}: {divs[0].what}: expected "
                              f"{divs[0].expected}, got {divs[0].got}\n{divs[0].listing}")
            ran += 1
    assert ran
