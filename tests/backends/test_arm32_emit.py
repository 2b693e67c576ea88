"""ARM32 emission: golden listings of small LIR programs, frames, conventions.

The golden listings are capstone's text for hand-built LIR (no lowering in
between), written from the register map in backends/arm32/regs.py: r0 in
r0:r1, r1/r2 in the slots at sp+24/sp+32, r5 r4:r5, r6 r6:r7, r7 r8:r9 (sb),
r8 r10:r11 (sl:fp), temporaries r2:r3, ip and lr.  Frames follow the
diagram in backends/arm32/abi.py (24 bytes of stack arguments, 72 of scratch,
then r10's word, then the pushed registers, 8-aligned; the eBPF stack is not
in the native frame: r10 arrives in ip and lives in the word at sp + 96).

Also here: the 64-bit shift by 0 (a kernel ARM32 JIT bug: `lsr #0` is a
shift by 32) and the DW offset whose second word overflows imm12, at the
LIR level; branch range checks; relocations; and an AAPCS harness that runs
an entry function directly under Unicorn and checks that r4-r11 and sp
come back unchanged.
"""
from __future__ import annotations

import pytest

import backends
from backends.arm32 import regs as R
from jit.buffer import CodeBuffer
from jit.errors import EncodingError, UnsupportedError
from backends.arm32.enc import Cond as ACond
from backends.arm32.pairs import branch_form
from jit.lir import (AX, Alu, Atomic, AtomicOp, Branch, CallHelper, CallLocal, Cond, Exit, Imm,
                     Label, LirFunc, LirProgram, Load, LoadAddr, LoadImm, Op, Store, Symbol,
                     SymKind, Zext)

capstone = pytest.importorskip("capstone")

BASE = 0x1000
HELPERS = 0x5000_0000


def link(sym: Symbol) -> int:
    return {SymKind.HELPER: HELPERS + 16 * sym.index, SymKind.MAP: 0x4000_0000 + 32 * sym.index,
            SymKind.MAP_VALUE: 0x4001_0000 + sym.index * 0x1000,
            SymKind.TAIL_COUNT: 0x7000_0000}[sym.kind]


def regs_of(ops) -> frozenset:
    regs = set()
    for op in ops:
        for name in ("dst", "src", "base", "a", "b"):
            v = getattr(op, name, None)
            if type(v) is int:
                regs.add(v)
        if type(op) in (CallHelper, CallLocal):
            regs.update(range(6))
        if type(op) is Exit:
            regs.add(0)
    return frozenset(regs)


def prog(*funcs, n_labels: int = 8) -> LirProgram:
    """funcs: (ops, stack depth) each, entry first."""
    fs = [LirFunc(f"f{i}", i, 100 * i, list(ops), depth, regs_of(ops),
                  any(type(o) in (CallHelper, CallLocal) for o in ops), False, 0)
          for i, (ops, depth) in enumerate(funcs)]
    return LirProgram("p", fs, "little", 1, False, n_labels)


def compile_(p: LirProgram, cpu: str = "cortex-a15", **options):
    return backends.get("arm32", cpu=cpu).compile(p, link=link, base=BASE, options=options)


def text(code: bytes, start: int = 0, end: int | None = None) -> list[str]:
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_ARM)
    code = code[start:end]
    out = [f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(code, BASE + start)]
    assert len(out) * 4 == len(code), "capstone stopped early: an undecodable word"
    return out


def imm(v: int) -> str:
    """An immediate as capstone prints it: decimal up to 9, hex above."""
    return f"#{v}" if v <= 9 else f"#{v:#x}"


def listing(ops, depth: int = 0, **kw) -> list[str]:
    return text(compile_(prog((ops, depth)), **kw).code)


# ====================================================================== golden listings

def test_golden_add_of_two_spilled_arguments():
    # r0 = r1 + r2: r1, r2 arrive in r0:r1, r2:r3 and go to their slots; the add
    # reads r2 through the temporary pair with one ldrd
    assert listing([Alu(Op.MOV, 64, 0, 1, 0), Alu(Op.ADD, 64, 0, 2, 1), Exit(2)]) == [
        "str lr, [sp, #-4]!",
        "sub sp, sp, #0x6c",
        "strd r0, r1, [sp, #0x18]",
        "strd r2, r3, [sp, #0x20]",
        "ldrd r0, r1, [sp, #0x18]",
        "ldrd r2, r3, [sp, #0x20]",
        "adds r0, r0, r2",
        "adc r1, r1, r3",
        "add sp, sp, #0x6c",
        "pop {pc}",
    ]


def test_golden_paired_registers_and_immediates():
    # r6 = 0x12345678; r6 -= 1; r6 &= 0xff00; r0 = r6: movw/movt, subs/sbc, and/mov
    assert listing([LoadImm(6, 0x1234_5678, 0), Alu(Op.SUB, 64, 6, Imm(1), 1),
                    Alu(Op.AND, 64, 6, Imm(0xFF00), 2), Alu(Op.MOV, 64, 0, 6, 3), Exit(4)]) == [
        "push {r6, r7, lr}",
        "sub sp, sp, #0x6c",
        "movw r6, #0x5678",
        "movt r6, #0x1234",
        "mov r7, #0",
        "subs r6, r6, #1",
        "sbc r7, r7, #0",
        "and r6, r6, #0xff00",
        "mov r7, #0",
        "mov r0, r6",
        "mov r1, r7",
        "add sp, sp, #0x6c",
        "pop {r6, r7, pc}",
    ]


def test_golden_64bit_compare_and_branch():
    # if r6 s> 5 goto L0 (as r6 s>= 6: cmp the low words, sbcs the high words)
    ops = [LoadImm(6, 9, 0), Branch(Cond.SGT, 64, 6, Imm(5), 0, 1), LoadImm(0, 1, 2), Exit(3),
           Label(0, 4), LoadImm(0, 2, 4), Exit(5)]
    assert listing(ops) == [
        "push {r6, r7, lr}",
        "sub sp, sp, #0x6c",
        "mov r6, #9",
        "mov r7, #0",
        "cmp r6, #6",
        "sbcs ip, r7, #0",
        f"bge #{BASE + 0x2c:#x}",
        "mov r0, #1",
        "mov r1, #0",
        "add sp, sp, #0x6c",
        "pop {r6, r7, pc}",
        "mov r0, #2",
        "mov r1, #0",
        "add sp, sp, #0x6c",
        "pop {r6, r7, pc}",
    ]


def test_upper_halves_nobody_reads_are_not_computed():
    # r7 = r6 + 1; r6 = r7 >> 32 ... only r7's high word reaches the 32-bit store
    ops = [LoadImm(6, 0x1_FFFF_FFFF, 0), Alu(Op.ADD, 64, 6, Imm(1), 1),
           Store(4, 10, -8, 6, 2), LoadImm(0, 0, 3), Exit(4)]
    lines = listing(ops, depth=8)
    assert lines[2] == "str ip, [sp, #0x60]"                # r10 is used: the prologue keeps it
    # the add needs no carry into the dead high word: one `add`, no adds/adc
    assert lines[3:-2] == ["mvn r6, #0", "add r6, r6, #1", "ldr ip, [sp, #0x60]",
                           "str r6, [ip, #-8]", "mov r0, #0", "mov r1, #0"]


# ====================================================================== historic bugs, LIR level

def test_rsh64_and_arsh64_by_zero_emit_nothing():
    """Kernel ARM32 JIT bug (bb9562cf5c67): `lsr #0`/`asr #0` encode a shift by 32.
    A 64-bit shift by 0 must be no instruction at all (the lowering folds it away;
    here the backend gets it directly)."""
    ops = [LoadImm(6, 0x8000_0000_0000_0001, 0), Alu(Op.RSH, 64, 6, Imm(0), 1),
           Alu(Op.ARSH, 64, 6, Imm(0), 2), Alu(Op.LSH, 64, 6, Imm(0), 3),
           Alu(Op.MOV, 64, 0, 6, 4), Exit(5)]
    body = listing(ops)[2:-2]
    assert body == ["mov r6, #1", "mov r7, #0x80000000", "mov r0, r6", "mov r1, r7"]


def test_shift64_by_32_is_a_move():
    ops = [LoadImm(6, 5, 0), Alu(Op.ARSH, 64, 6, Imm(32), 1), Alu(Op.MOV, 64, 0, 6, 2), Exit(3)]
    # only the high word of the constant is live into the shift
    assert listing(ops)[2:-2] == ["mov r7, #0", "mov r6, r7", "asr r7, r7, #0x1f",
                                  "mov r0, r6", "mov r1, r7"]


def test_dw_load_whose_second_word_overflows_imm12():
    """Kernel ARM32 JIT bug (4178417cc535): off = 4092 fits ldr's imm12, off + 4 = 4096
    does not.  Through a register other than r10 the whole address goes to ip anyway
    (its upper word is checked, see test_wild_pointer_check_*); through r10 an offset
    whose second word would not fit goes through ip too."""
    ops = [LoadImm(8, 5, 0), Load(8, 6, 7, 4092, False, 1), Alu(Op.ADD, 64, 6, 8, 2),
           Alu(Op.MOV, 64, 0, 6, 3), Exit(4)]
    body = listing(ops)[2:-2]
    assert body[2:8] == ["movw lr, #0xffc", "adds ip, r8, lr", "adcs lr, sb, #0",
                         "ldrne lr, [ip, -ip]", "ldr r6, [ip]", "ldr r7, [ip, #4]"]
    # r10 - 4095: both words fit imm12 (the second is r10 - 4091); r10 - 4096 does not
    ops = [Load(4, 6, 10, -4095, False, 0), Load(4, 7, 10, -4096, False, 1),
           Alu(Op.ADD, 64, 6, 7, 2), Alu(Op.MOV, 64, 0, 6, 3), Exit(4)]
    body = listing(ops, 512)
    assert "ldr r6, [ip, #-0xfff]" in body
    at = body.index("sub ip, ip, #0x1000")
    assert body[at + 1] == "ldr r8, [ip]"


def test_halfword_offsets_beyond_imm8_go_through_ip():
    ops = [Load(2, 6, 7, 256, True, 0), Store(2, 7, -256, 6, 1), LoadImm(0, 0, 2), Exit(3)]
    body = listing(ops)[2:-2]
    assert body == ["adds ip, r8, #0x100", "adcs lr, sb, #0", "ldrne lr, [ip, -ip]",
                    "ldrsh r6, [ip]", "subs ip, r8, #0x100", "sbcs lr, sb, #0",
                    "strne lr, [ip, -ip]", "strh r6, [ip]", "mov r0, #0", "mov r1, #0"]


def test_wild_pointer_check_without_offset():
    """base + off (off sign-extended) must have a zero upper word (with an offset, see
    the test above: adds/adcs compute it into lr:ip).  With off = 0 it is `cmp hi, #0`,
    and the trap, `ldrne/strne hi, [lo, -lo]`, faults at address 0 inside the access's
    own code with the address in hi:lo (RunSpec.trap_address).  r10 is never checked:
    its upper half is 0 by construction."""
    ops = [Load(4, 6, 7, 0, False, 0), Store(4, 10, -8, 6, 1), LoadImm(0, 0, 2), Exit(3)]
    lines = listing(ops, 8)
    assert lines[3:6] == ["cmp sb, #0", "ldrne sb, [r8, -r8]", "ldr r6, [r8]"]
    assert lines[6:8] == ["ldr ip, [sp, #0x60]", "str r6, [ip, #-8]"]
    ops = [Store(1, 1, 0, Imm(7), 0), LoadImm(0, 0, 1), Exit(2)]      # r1 in a slot
    assert listing(ops)[3:9] == ["ldr ip, [sp, #0x18]", "ldr lr, [sp, #0x1c]", "cmp lr, #0",
                                  "strne lr, [ip, -ip]", "mov lr, #7", "strb lr, [ip]"]


def test_trap_registers_decode_only_the_trap():
    from backends.arm32.abi import trap_access, trap_registers
    from backends.arm32.enc import Reg
    for write in (False, True):
        assert trap_registers(trap_access(write, Reg.R8, Reg.R9, ACond.NE)) == (9, 8)
        assert trap_registers(trap_access(write, Reg.R12, Reg.LR, ACond.NE)) == (14, 12)
    from backends.arm32 import enc
    assert trap_registers(enc.ldr_reg(Reg.R0, Reg.R1, Reg.R1)) is None          # adds rm
    assert trap_registers(enc.ldr_reg(Reg.R0, Reg.R1, Reg.R2, subtract=True)) is None
    assert trap_registers(enc.ldrb_reg(Reg.R0, Reg.R1, Reg.R1, subtract=True)) is None


# ====================================================================== frames

def _pushed(ops, depth=0) -> str:
    return listing(ops, depth)[0]


@pytest.mark.parametrize("ops, pushed", [
    ([LoadImm(0, 1, 0), Exit(1)], "str lr, [sp, #-4]!"),
    ([LoadImm(6, 1, 0), Alu(Op.MOV, 64, 0, 6, 1), Exit(2)], "push {r6, r7, lr}"),
    ([LoadImm(5, 1, 0), LoadImm(8, 2, 1), Alu(Op.ADD, 64, 5, 8, 2), Alu(Op.MOV, 64, 0, 5, 3),
      Exit(4)], "push {r4, r5, sl, fp, lr}"),
    ([LoadImm(9, 1, 0), LoadImm(AX, 2, 1), Alu(Op.ADD, 64, 9, AX, 2), Alu(Op.MOV, 64, 0, 9, 3),
      Exit(4)], "str lr, [sp, #-4]!"),
])
def test_prologue_saves_only_the_callee_saved_registers_it_uses(ops, pushed):
    # r9 and AX live in frame slots: nothing to save for them
    assert _pushed(ops) == pushed


def test_entry_that_calls_a_subprogram_saves_every_callee_saved_register():
    # the internal convention lets a callee clobber the homes of r0-r5 (r4:r5 ...)
    p = prog(([CallLocal(1, 0), Exit(1)], 0), ([LoadImm(5, 3, 10), LoadImm(0, 1, 11), Exit(12)], 0))
    code = compile_(p).code
    assert text(code)[0] == "push {r4, r5, r6, r7, r8, sb, sl, fp, lr}"


def test_subprogram_saves_only_the_homes_of_r6_to_r9_it_uses():
    p = prog(([CallLocal(1, 0), Exit(1)], 0),
             ([LoadImm(5, 3, 10), LoadImm(7, 4, 11), Alu(Op.ADD, 64, 5, 7, 12),
               Alu(Op.MOV, 64, 0, 5, 13), Exit(14)], 0))
    c = compile_(p)
    f1 = c.funcs[1]
    assert text(c.code, f1.offset, f1.offset + f1.size)[0] == "push {r8, sb, lr}"


@pytest.mark.parametrize("depth", [0, 8, 200, 256, 512])
def test_frame_does_not_hold_the_ebpf_stack(depth):
    """The eBPF stack is the STACK region: the native frame is the same for every depth,
    and r10 - 8 is addressed through r10's slot (8-aligned, so one strd)."""
    ops = [LoadImm(6, 1, 0), Store(8, 10, -8 if depth else 0, 6, 1), LoadImm(0, 0, 2), Exit(3)]
    if not depth:
        ops = [LoadImm(6, 1, 0), LoadImm(0, 0, 2), Alu(Op.ADD, 64, 0, 6, 3), Exit(3)]
    lines = listing(ops, depth)
    pushed = 12                                          # r6, r7, lr
    size = (24 + 80 + pushed + 7) // 8 * 8               # args + scratch (r10's word too)
    rest = size - pushed
    sub = lines[1]
    assert sub.startswith("sub sp, sp, ") and int(sub.split("#")[1], 16) == rest
    if depth:
        assert lines[2] == "str ip, [sp, #0x60]"
        at = lines.index("ldr ip, [sp, #0x60]")
        assert lines[at + 1] == "strd r6, r7, [ip, #-8]"
    else:                                                # no r10, no calls: nothing kept
        assert "str ip, [sp, #0x60]" not in lines


# ====================================================================== calls and relocations

def test_helper_call_layout_and_relocations():
    ops = [LoadImm(1, 11, 0), LoadImm(2, 22, 1), LoadImm(3, 33, 2), LoadImm(4, 44, 3),
           LoadImm(5, 55, 4), CallHelper(6, 5), Exit(6)]
    c = compile_(prog((ops, 0)))
    lines = text(c.code)
    call = lines.index("blx ip")
    # r5 stored as the fifth u64 argument, r1/r2 loaded into r0:r1/r2:r3, then the address
    assert lines[call - 5:call] == ["strd r4, r5, [sp, #0x10]", "ldrd r0, r1, [sp, #0x18]",
                                    "ldrd r2, r3, [sp, #0x20]", "movw ip, #0x60",
                                    "movt ip, #0x5000"]
    relocs = [(r.offset, r.kind, r.sym.kind, r.sym.index) for r in c.relocs]
    at = 4 * (call - 2)
    assert relocs == [(at, "movw", SymKind.HELPER, 6), (at + 4, "movt", SymKind.HELPER, 6)]


def test_map_address_is_a_fixed_movw_movt_pair():
    sym = Symbol(SymKind.MAP, 2, "m")
    c = compile_(prog(([LoadAddr(6, sym, 0, 0), Alu(Op.MOV, 64, 0, 6, 1), Exit(2)], 0)))
    lines = text(c.code)
    assert lines[2:5] == ["movw r6, #0x40", "movt r6, #0x4000", "mov r7, #0"]
    assert [(r.offset, r.kind) for r in c.relocs] == [(8, "movw"), (12, "movt")]


def test_function_address_is_its_native_entry():
    sym = Symbol(SymKind.FUNC, 1, "f1")
    p = prog(([LoadAddr(6, sym, 0, 0), Alu(Op.MOV, 64, 0, 6, 1), Exit(2)], 0),
             ([LoadImm(0, 7, 10), Exit(11)], 0))
    c = compile_(p)
    addr = BASE + c.funcs[1].offset
    lines = text(c.code)
    assert lines[2:4] == [f"movw r6, {imm(addr & 0xFFFF)}", f"movt r6, {imm(addr >> 16)}"]


def test_division_routines_are_listed_as_runtime():
    """One routine per kind of division used, each once, after the functions."""
    ops = [LoadImm(6, 100, 0), LoadImm(7, 7, 1), Alu(Op.DIV, 64, 6, 7, 2),
           Alu(Op.MOD, 64, 6, Imm(3), 3), Alu(Op.DIV, 64, 7, 6, 4), Alu(Op.SMOD, 32, 7, 6, 5),
           Alu(Op.ADD, 64, 6, 7, 6), Alu(Op.MOV, 64, 0, 6, 7), Exit(8)]
    for cpu, names in (("cortex-a15", ["bpf_udiv64", "bpf_umod64"]),
                       ("cortex-a9", ["bpf_udiv64", "bpf_umod64", "bpf_smod32"])):
        c = compile_(prog((ops, 0)), cpu)
        assert [name for name, _, _ in c.runtime] == names
        first = c.runtime[0][1]
        assert sum(size for _, _, size in c.runtime) == len(c.code) - first
        for name, off, size in c.runtime:
            lines = text(c.code, off, off + size)
            assert lines[0] == "push {r0, r1, r2, r3, r4, r5, r6, r7, r8, sb, sl, lr}"
            assert lines[-1] == "pop {r0, r1, r2, r3, r4, r5, r6, r7, r8, sb, sl, pc}"
        calls = [t for t in text(c.code, 0, first) if t.startswith("bl #")]
        assert len(calls) == 3 + (cpu == "cortex-a9")


def test_32bit_division_is_hardware_on_a15_and_the_routine_on_a9():
    ops = [LoadImm(6, 100, 0), LoadImm(7, 7, 1), Alu(Op.MOD, 32, 6, 7, 2), Zext(6, 2),
           Alu(Op.MOV, 64, 0, 6, 3), Exit(4)]
    a15 = compile_(prog((ops, 0)), "cortex-a15")
    a9 = compile_(prog((ops, 0)), "cortex-a9")
    assert "udiv r2, r6, r8" in text(a15.code) and "mls r6, r2, r8, r6" in text(a15.code)
    assert not a15.runtime and a9.runtime
    assert not any(t.startswith(("udiv", "sdiv")) for t in text(a9.code))


def test_branch_out_of_range_is_an_error_not_a_wrong_encoding():
    form, = branch_form(ACond.EQ)
    assert form.fits(32 * 2**20 + 4) and not form.fits(32 * 2**20 + 8)
    assert form.fits(-32 * 2**20 + 8) and not form.fits(-32 * 2**20 + 4)
    buf = CodeBuffer("little")
    label = buf.new_label()
    buf.branch(label, branch_form())
    buf.emit(bytes(32 * 2**20 + 4))
    buf.bind(label)
    with pytest.raises(EncodingError, match="out of range"):
        buf.finish(0)


# ====================================================================== options

def test_cpu_option_sets_hw_div():
    assert backends.get("arm32").caps.hw_div
    assert backends.get("arm32", cpu="cortex-a15").caps.hw_div
    assert not backends.get("arm32", cpu="cortex-a9").caps.hw_div
    caps = backends.get("arm32").caps
    assert (caps.alu32_zext, caps.word_bits, caps.byteorder) == (False, 32, "little")
    with pytest.raises(UnsupportedError, match="cpu"):
        backends.get("arm32", cpu="cortex-m3")


def test_rotation_permutes_pairs_and_slots_together():
    for k in range(10):
        m = R.RegMap(k)
        assert sorted(map(str, m.homes[:10])) == sorted(map(str, R.DEFAULT))
        assert m.homes[0] == R.DEFAULT[k % 10]
        assert R.T not in m.homes                      # the temporary pair is never a home


def test_rotated_map_moves_the_arguments_and_the_result():
    ops = [Alu(Op.MOV, 64, 0, 1, 0), Alu(Op.ADD, 64, 0, 2, 1), Exit(2)]
    lines = listing(ops, rotate=5)          # r0 -> r4:r5 (r5's home), r1 -> r6:r7, r2 -> r8:r9
    assert lines[2:4] == ["mov r6, r0", "mov r7, r1"] and lines[4:6] == ["mov r8, r2", "mov sb, r3"]
    assert lines[-4:-2] == ["mov r0, r4", "mov r1, r5"]


# ====================================================================== AAPCS harness

def run_entry(c, cpu_model: str) -> tuple[int, dict, int]:
    """Call the entry function of `c` as C would, with r4-r11 set to known values and
    r10 in ip (as the runner's `enter` passes it: a stack page of its own);
    returns (r0 as u64, r4-r11 after, sp after - sp before)."""
    unicorn = pytest.importorskip("unicorn")
    from unicorn import arm_const as A
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_ARM)
    uc.ctl_set_cpu_model(getattr(A, cpu_model))
    uc.mem_map(0, 0x10000)
    uc.mem_write(BASE, c.code)
    uc.mem_map(0x100000, 0x10000)
    sp, sentinel = 0x10F000, 0xF000
    before = {i: 0x0404_0404 * i for i in range(4, 12)}
    for i, v in before.items():
        uc.reg_write(getattr(A, f"UC_ARM_REG_R{i}"), v)
    uc.reg_write(A.UC_ARM_REG_SP, sp)
    uc.reg_write(A.UC_ARM_REG_LR, sentinel)
    uc.mem_map(0x200000, 0x1000)
    uc.reg_write(A.UC_ARM_REG_R12, 0x201000)                 # eBPF r10
    uc.emu_start(BASE + c.funcs[0].offset, sentinel, count=100_000)
    assert uc.reg_read(A.UC_ARM_REG_PC) == sentinel
    after = {i: uc.reg_read(getattr(A, f"UC_ARM_REG_R{i}")) for i in range(4, 12)}
    r0 = uc.reg_read(A.UC_ARM_REG_R0) | uc.reg_read(A.UC_ARM_REG_R1) << 32
    return r0, after, uc.reg_read(A.UC_ARM_REG_SP) - sp


CALLEE_SAVED_BEFORE = {i: 0x0404_0404 * i for i in range(4, 12)}


def test_entry_preserves_callee_saved_registers_and_sp():
    """Run an entry function directly: r4-r11 and sp must come back unchanged (the
    differential tests cannot see this: the runner never reads them after a run).
    The program borrows pairs (a 64-bit fetch-add on the stack, a 64-bit mul of
    spilled registers), calls a subprogram and the division routine."""
    sub = [LoadImm(5, 0x55, 20), LoadImm(7, 0x77, 21), Alu(Op.ADD, 64, 5, 7, 22),
           LoadImm(8, 0x1234, 23), Alu(Op.MUL, 64, 5, 8, 24), Alu(Op.MOV, 64, 0, 5, 25), Exit(26)]
    main = [LoadImm(9, 3, 0), LoadImm(1, 0x1_0000_0007, 1), Alu(Op.MUL, 64, 9, 1, 2),
            Store(8, 10, -8, 9, 3), LoadImm(2, 5, 4),
            Atomic(AtomicOp.ADD, 8, 10, -8, 2, True, 5), Alu(Op.DIV, 64, 9, 2, 6),
            CallLocal(1, 7), Alu(Op.ADD, 64, 0, 9, 8), Load(8, 1, 10, -8, False, 9),
            Alu(Op.ADD, 64, 0, 1, 10), Alu(Op.ADD, 64, 0, 2, 11), Exit(12)]
    r0, after, moved = run_entry(compile_(prog((main, 8), (sub, 0)), "cortex-a9"),
                                 "UC_CPU_ARM_CORTEX_A9")
    assert after == CALLEE_SAVED_BEFORE and moved == 0
    # from the spec: r9 = 3 * (2^32 + 7); mem = r9; fetch_add 5 (r2 = old = r9);
    # r9 /= r2 -> 1; r0 = (0x55 + 0x77) * 0x1234 + 1 + (r9 + 5) + r9 (old)
    r9 = 3 * (2**32 + 7)
    assert r0 == ((0x55 + 0x77) * 0x1234 + 1 + (r9 + 5) + r9) % 2**64


def test_borrowed_pairs_are_restored_in_a_leaf_entry():
    """A leaf entry saves only what its registers use; a pair borrowed for an atomic
    (r4:r5, the home of the unused r5) must still come back to the C caller intact."""
    ops = [LoadImm(2, 0x1_0000_0005, 0), Store(8, 10, -8, 2, 1), LoadImm(1, 0xFFFF_FFFF, 2),
           Atomic(AtomicOp.ADD, 8, 10, -8, 1, True, 3), Atomic(AtomicOp.XCHG, 8, 10, -8, 2, True, 4),
           Load(8, 0, 10, -8, False, 5), Alu(Op.ADD, 64, 0, 1, 6), Alu(Op.ADD, 64, 0, 2, 7),
           Exit(8)]
    c = compile_(prog((ops, 8)))
    assert text(c.code)[0] == "str lr, [sp, #-4]!"
    r0, after, moved = run_entry(c, "UC_CPU_ARM_CORTEX_A15")
    assert after == CALLEE_SAVED_BEFORE and moved == 0
    # mem = 2^32 + 5; fetch_add 0xffffffff: r1 = 2^32 + 5, mem = 2^33 + 4;
    # xchg r2: r2 = 2^33 + 4, mem = 2^32 + 5; r0 = mem + r1 + r2
    assert r0 == (2**32 + 5) * 2 + 2**33 + 4
