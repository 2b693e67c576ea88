"""ARM32 cases the differential matrix (tests/test_matrix.py) cannot state without
naming the machine: eBPF registers live in register pairs (r0, r5-r8) and word
slots (r1-r4, r9), r2:r3 is the temporary pair (backends/arm32/regs.py); the
backend computes only the halves of a register that are read later; immediates
are rotated 8-bit values; ldr reaches imm12, ldrd/ldrh imm8; cortex-a9 has no
divide instruction (a runtime routine divides); a 64-bit pointer is used by its
low word after a check of the high one.

Named for the historic kernel ARM32 JIT bugs where one applies.  Built on the
matrix's builder (tests/difftest.Batch).
"""
from __future__ import annotations

import pytest

from jit import driver, isa
from jit.isa import LDDW, Alu
from tests import edge
from tests.difftest import (DATA, EXIT, Batch, CallTo, alu, atomic, check,
                            check_program, configs, lddw, ldx, link, mov, program, st, stx)

pytest.importorskip("unicorn", reason="the runner needs unicorn")

CFGS = configs(names=("arm32",))
pytestmark = pytest.mark.skipif(not CFGS, reason="arm32 is not registered")
BY_CPU = pytest.mark.parametrize("cfg", CFGS, ids=[c.id for c in CFGS])
M64 = edge.M64
# where the default map puts each register: placements pair/pair, slot/slot, pair/slot,
# slot/pair and aliased
PAIRED, SLOTTED = (0, 5, 6, 7, 8), (1, 2, 3, 4, 9)
PLACEMENTS = [(0, 5), (1, 2), (6, 9), (3, 7), (8, 8), (4, 4), (2, 0), (9, 3)]
OPS = {"add": (Alu.ADD, 0), "sub": (Alu.SUB, 0), "mul": (Alu.MUL, 0), "or": (Alu.OR, 0),
       "and": (Alu.AND, 0), "xor": (Alu.XOR, 0), "mov": (Alu.MOV, 0), "lsh": (Alu.LSH, 0),
       "rsh": (Alu.RSH, 0), "arsh": (Alu.ARSH, 0), "div": (Alu.DIV, 0), "sdiv": (Alu.DIV, 1),
       "mod": (Alu.MOD, 0), "smod": (Alu.MOD, 1)}


@BY_CPU
def test_one_half_read(cfg):
    """Every 64-bit producer followed by a consumer of one half only (a W store reads the
    low word; `>>= 32` moves the high word down), so each half gets a run where the
    other is dead: the per-half liveness must not drop a half that is read."""
    producers = []
    for code, off in OPS.values():
        producers.append(lambda d, s, code=code, off=off: [alu(64, code, d, s, off=off)])
        for imm in (5, -7, 31, 32, 33, 0x7FFF_FFFF):
            producers.append(lambda d, s, code=code, off=off, imm=imm:
                             [alu(64, code, d, imm=imm, off=off)])
    producers += [lambda d, s: [alu(64, Alu.NEG, d)],
                  lambda d, s: [alu(64, Alu.MOV, d, s, off=16)],
                  lambda d, s: [isa.Insn(isa.Cls.ALU64 | Alu.END, d, 0, 0, 64)],
                  lambda d, s: [isa.Insn(isa.Cls.ALU | Alu.END | isa.Src.X, d, 0, 0, 32)],
                  lambda d, s: [lddw(d, 0xFEDC_BA98_7654_3210)],
                  lambda d, s: [mov(d, 10), alu(64, Alu.ADD, d, imm=-12), ldx(4, d, d, -4)]]
    b = Batch()
    i = 0
    for make in producers:
        for hi_only in (False, True):
            d, s = PLACEMENTS[i % len(PLACEMENTS)]
            if d == s:
                s = (d + 3) % 10
            i += 1
            b.add(lddw(d, 0x8000_0001_FFFF_FFF7 + i), lddw(s, 0xC000_0000_0000_0003 - i),
                  *make(d, s))
            if hi_only:
                b.add(alu(64, Alu.RSH, d, imm=32))
            b.dump([d], keep=[s], size=4)
    b.check(cfg)


def test_rotated_8_bit_immediates():
    """ARM's data-processing immediates are 8 bits rotated by an even amount: constants
    at every rotation, one bit either side, and their negations and complements."""
    vals = set()
    for n in range(0, 32, 2):
        for v in (0xFF << n, 1 << n, (1 << n) - 1, (1 << n) + 1, 0x81 << n):
            vals |= {isa.s32(v & 0xFFFF_FFFF), isa.s32(-v & 0xFFFF_FFFF), isa.s32(~v & 0xFFFF_FFFF)}
    b = Batch()
    i = 0
    for code in (Alu.ADD, Alu.SUB, Alu.AND, Alu.OR, Alu.XOR, Alu.MOV):
        for width in (64, 32):
            for imm in sorted(vals):
                d = (PAIRED + SLOTTED)[i % 10]
                i += 1
                b.add(lddw(d, 0xDEAD_BEEF_8765_4321), alu(width, code, d, imm=imm))
                b.dump([d])
    b.check(CFGS[0])


def test_dw_offset_plus_4_overflow():
    """Kernel ARM32 JIT bug (4178417cc535, "Fix offset overflow for BPF_MEM BPF_DW"):
    a 64-bit access at off 4092 needs its second word at imm12 4096, which does not fit;
    the address must go through a temporary base."""
    b = Batch(extra=4096)
    for reg in (0, 1, 6, 9):                        # a pair and a slot as base and value
        base, val = reg, (reg + 3) % 10
        b.data_ptr(base, DATA - 4092 + 16)
        b.add(lddw(val, 0x0102_0304_0506_0708 * (reg + 1)), stx(8, base, val, 4092),
              ldx(8, (val + 1) % 10, base, 4092), st(8, base, 4088, -2))
        b.dump_all_but(base)
    b.check(CFGS[0])


@BY_CPU
def test_rsh64_arsh64_by_zero_is_not_a_shift_by_32(cfg):
    """Kernel ARM32 JIT bug (bb9562cf5c67, "Fix bugs with ALU64 {RSH, ARSH} BPF_K shift
    by 0"): `lsr #0`/`asr #0` encode a shift by 32.  By a register holding 0, an
    immediate 0 behind constant blinding (so the backend sees it), and by 32, 64, 96."""
    b = Batch()
    for op in (Alu.RSH, Alu.ARSH, Alu.LSH):
        for r in (0, 1, 7, 9):
            for count in (0, 32, 64, 96):
                b.add(lddw(r, 0x8765_4321_DEAD_BEEF), lddw((r + 1) % 10, count),
                      alu(64, op, r, (r + 1) % 10))
                b.dump([r])
            b.add(lddw(r, 0x8765_4321_DEAD_BEEF), alu(64, op, r, imm=0), alu(32, op, r, imm=0))
            b.dump([r])
    b.check(cfg)
    b.check(cfg, harden=True)


@BY_CPU
def test_spilled_registers_across_a_loop(cfg):
    """A loop whose counter lives in a slot (r9), whose sum lives in a pair (r7) and whose
    other operands alternate slot and pair, with every register live."""
    insns = [mov(9, imm=300), mov(7, imm=0), mov(1, imm=3), mov(5, imm=5), lddw(2, 1 << 40),
             alu(64, Alu.ADD, 7, 9), alu(32, Alu.XOR, 7, imm=0x55), alu(64, Alu.MUL, 1, 5),
             alu(64, Alu.ADD, 2, 1), alu(64, Alu.RSH, 2, imm=1), alu(64, Alu.SUB, 9, imm=1),
             isa.Insn(isa.Cls.JMP | isa.Jmp.JSGT | isa.Src.K, 9, 0, -7, 0),
             alu(64, Alu.ADD, 7, 2), mov(0, 7), EXIT]
    check(cfg, insns)


def test_cortex_a9_divides_in_a_runtime_routine():
    """cortex-a9 has no udiv/sdiv: divisions call the image's routine (cortex-a15's
    only for 64-bit ones), which must keep every pair and slot."""
    a9 = next((c for c in CFGS if c.cpu == "cortex-a9"), None)
    if a9 is None:
        pytest.skip("no cortex-a9 model")
    insns = [lddw(2, 0xFFFF_FF00), lddw(3, 7), alu(32, Alu.DIV, 2, 3), mov(0, 2), EXIT]
    routines = {c.cpu: [n for n, _, _ in driver.compile_program(
        program(insns), "arm32", cpu=c.cpu).runtime] for c in CFGS}
    assert routines["cortex-a9"], routines              # the divide routine is in the image
    assert not routines[None], routines                 # the default model divides 32 bits inline
    b = Batch()
    for code, off in (OPS["div"], OPS["sdiv"], OPS["mod"], OPS["smod"]):
        for width in (64, 32):
            for d, s in PLACEMENTS + [(0, 0), (5, 1), (1, 5)]:
                for x, y in ((edge.INT64_MIN & M64, M64), (0xDEAD_BEEF_8765_4321, 0),
                             (M64 - 6, 0x1_0000_0003)):
                    b.add(lddw(s, y))
                    if d != s:
                        b.add(lddw(d, x))
                    b.add(alu(width, code, d, s, off=off))
                    b.dump_all_but(d, s)
    b.check(a9)
    b.check(a9, options={"poison_hi32": 3})
    # from a subprogram, whose frame the routine's save area must not overlap
    sub = link([mov(6, imm=-5), lddw(1, 0xFFFF_FFFF_FFFF_FF00), lddw(2, 7), stx(8, 10, 6, -8),
                CallTo(1), ldx(8, 1, 10, -8), alu(64, Alu.ADD, 0, 1), EXIT],
               [st(8, 10, -16, 99), mov(0, 1), alu(64, Alu.DIV, 0, 2),
                alu(64, Alu.MOD, 1, 2, off=1), alu(64, Alu.ADD, 0, 1), ldx(8, 1, 10, -16),
                alu(64, Alu.ADD, 0, 1), alu(32, Alu.DIV, 0, imm=3), EXIT])
    check(a9, sub)


@pytest.mark.parametrize("base", [6, 9], ids=["pair", "slot"])
@pytest.mark.parametrize("kind", ["ldx", "stx", "st", "atomic"])
def test_wild_pointer_faults_at_its_64_bit_address(kind, base):
    """A pointer whose upper word is not 0 (or whose low word + off wraps) must fault at
    its 64-bit address, not reach the low word's region (0x2000_0000 is the --mem block):
    the check before every access through a register other than r10.  The 32-bit values
    come from a 32-bit load (their upper half known to be 0)."""
    for value, off in ((0x1_2000_0000, 0), (0x1_2000_0000, 8), (0x1_2000_0010, -16),
                       (0xFFFF_FFF8, 16), (0x8, -16)):
        access = {"ldx": ldx(8, 0, base, off), "stx": stx(8, base, 2, off),
                  "st": st(4, base, off, 5),
                  "atomic": atomic(8, base, 2, off, isa.Atomic.ADD)}[kind]
        if value >> 32 == 0:
            load = [lddw(3, value), stx(8, 1, 3, 0), ldx(4, base, 1, 0)]
        else:
            load = [lddw(base, value)]
        insns = [lddw(0, 0), lddw(2, 1)] + load + [access, EXIT]
        check_program(program(insns), "arm32", mem=bytes(64))


def test_map_value_pointer_in_a_pair_and_a_slot():
    """LDDW src=2 into a pair and a slot, read and written through; the map pointer
    (src=1) stored through it."""
    from jit.program import MapDef
    m = MapDef(name="gv", type=2, key_size=4, value_size=64, max_entries=1,
               initial=bytes(range(64)), section=".data")
    for r in (6, 9):
        insns = [isa.Insn(LDDW, r, isa.Pseudo.MAP_VALUE, 0, 24 << 32),      # r = &gv + 24
                 ldx(8, 2, r, 0), alu(64, Alu.ADD, 2, imm=0x1234), stx(8, r, 2, 8),
                 isa.Insn(LDDW, 3, isa.Pseudo.MAP_FD, 0, 0), stx(8, r, 3, 16), mov(0, 2), EXIT]
        check(CFGS[0], insns, maps=[m])
