"""Emission tests for the x86-64 backend: LIR in, machine code out, read with capstone.

Golden listings pin the instruction selection of small hand-written LIR
programs (the sequences for div, shifts, cmpxchg... written out from the
Intel manual and the System V ABI, not produced by the code under test);
the prologue and frame tests check that only the callee-saved registers a
function uses are saved, that the eBPF stack is not in the native frame (r10
is rbp, in the STACK region; frames keep the 16-byte call alignment) and
that a local call hands the callee r10 - the caller's depth; relocation, function-address and option tests check
the Compiled record.  One test runs emitted code on the host CPU, for the one
behaviour the emulator gets wrong (a successful 32-bit cmpxchg does not write
eax).  Whole-program behaviour is tests/test_x86_64_diff.py's job.
"""
from __future__ import annotations

import ctypes
import mmap
import platform

import capstone
import pytest

import backends
from backends.base import Compiled
from jit.errors import BpfjitError, UnsupportedError
from jit.lir import (Alu, Atomic, AtomicOp, Branch, CallHelper, CallLocal, Cond, Exit, Imm, Jump,
                     Label, LirFunc, LirProgram, Load, LoadAddr, LoadImm, Op, Store, Symbol,
                     SymKind, TailCall)

BASE = 0x1000
HELPERS = 0x5000_0000
MAPS = 0x4000_0000
TAIL_COUNT = 0x7000_0000

_CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def link(sym: Symbol) -> int:
    return {SymKind.HELPER: HELPERS + 16 * sym.index, SymKind.MAP: MAPS + 32 * sym.index,
            SymKind.MAP_VALUE: MAPS + 0x10_0000, SymKind.TAIL_COUNT: TAIL_COUNT}[sym.kind]


def func(ops, regs, *, depth=0, calls=False, tail=False, name="f", index=0, start=0) -> LirFunc:
    return LirFunc(name, index, start, ops, depth, frozenset(regs), calls, tail, 0)


def prog(*funcs: LirFunc, n_labels: int = 4) -> LirProgram:
    return LirProgram("p", list(funcs), "little", 1, any(f.tail_calls for f in funcs), n_labels)


def compile_(p: LirProgram, base: int = BASE, **options) -> Compiled:
    return backends.get("x86_64", **options).compile(p, link=link, base=base, options=options)


def listing(code: bytes, base: int = BASE) -> list[str]:
    return [f"{i.mnemonic} {i.op_str}".strip() for i in _CS.disasm(code, base)]


def text_of(p: LirProgram, **kw) -> list[str]:
    c = compile_(p, **kw)
    return listing(c.code)


# ---------------------------------------------------------------- golden listings

def test_alu_shift_by_register_and_division():
    ops = [Alu(Op.ADD, 64, 0, Imm(1), 0),       # imm8 form
           Alu(Op.MOV, 32, 2, 1, 1),            # a 32-bit move zero-extends: nothing else
           Alu(Op.LSH, 64, 1, 2, 2),            # count through cl; rcx is r4, in use: saved
           Alu(Op.DIV, 64, 3, 4, 3),            # r3 is rdx: only rax is saved
           Exit(4)]
    assert text_of(prog(func(ops, {0, 1, 2, 3, 4}))) == [
        "add rax, 1",
        "mov esi, edi",
        "push rcx", "mov ecx, esi", "shl rdi, cl", "pop rcx",
        "push rax", "mov rax, rdx", "xor edx, edx", "div rcx", "mov rdx, rax", "pop rax",
        "ret",
    ]


def test_rax_rdx_rcx_are_free_when_their_ebpf_registers_are_unused():
    ops = [Alu(Op.RSH, 32, 6, 7, 0),            # r4 (rcx) unused: no push/pop
           Alu(Op.SMOD, 64, 6, Imm(7), 1),      # r0 (rax), r3 (rdx) unused: no saves
           Exit(2)]
    assert text_of(prog(func(ops, {6, 7}))) == [
        "push rbx", "push r13",
        "mov ecx, r13d", "shr ebx, cl",
        "mov r11d, 7", "mov rax, rbx", "cqo", "idiv r11", "mov rbx, rdx",
        "pop r13", "pop rbx", "ret",
    ]


def test_memory_through_r10_needs_no_frame():
    """r10 is rbp, pointing into the STACK region: a leaf that only uses its eBPF
    stack pushes nothing (rbp is never changed by a function, so never saved)."""
    ops = [Load(4, 0, 10, -8, False, 0),
           Store(1, 10, -300, 2, 1),            # sil needs a REX; -300 needs a disp32
           Branch(Cond.SGT, 32, 0, Imm(-1), 0, 2),
           Atomic(AtomicOp.ADD, 8, 1, 16, 2, True, 3),
           Label(0, 4),
           Exit(4)]
    assert text_of(prog(func(ops, {0, 1, 2, 10}, depth=300))) == [
        "mov eax, dword ptr [rbp - 8]",
        "mov byte ptr [rbp - 0x12c], sil",
        "cmp eax, -1", "jg 0x1015",
        "lock xadd qword ptr [rdi + 0x10], rsi",
        "ret",
    ]


def test_cmpxchg_and_fetch_and_keep_rax_right():
    ops = [Atomic(AtomicOp.CMPXCHG, 4, 1, 0, 2, True, 0),
           Atomic(AtomicOp.AND, 8, 1, 8, 0, True, 1),     # src is r0 (rax) itself
           Atomic(AtomicOp.XOR, 4, 0, 8, 3, True, 2),     # base is r0 (rax)
           Exit(3)]
    assert text_of(prog(func(ops, {0, 1, 2, 3}))) == [
        # a successful 32-bit cmpxchg leaves rax's upper half: zero-extend r0
        "lock cmpxchg dword ptr [rdi], esi", "mov eax, eax",
        # rax = old; loop until cmpxchg wins; r0 = old, so rax is not restored
        "mov r9, rax", "mov rax, qword ptr [rdi + 8]",
        "mov r11, rax", "and r11, r9", "lock cmpxchg qword ptr [rdi + 8], r11", "jne 0x100d",
        # the address comes from the saved r0 (r9); r3 = old; rax restored
        "mov r9, rax", "mov eax, dword ptr [r9 + 8]",
        "mov r11d, eax", "xor r11d, edx", "lock cmpxchg dword ptr [r9 + 8], r11d", "jne 0x1022",
        "mov edx, eax", "mov rax, r9",
        "ret",
    ]


def test_constants_take_the_shortest_form():
    ops = [LoadImm(0, 0, 0), LoadImm(1, 0xFFFF_FFFF, 1), LoadImm(2, (1 << 64) - 2, 2),
           LoadImm(3, 1 << 32, 3), Alu(Op.MOV, 64, 4, Imm(-1), 4), Alu(Op.MOV, 32, 5, Imm(-1), 5),
           Alu(Op.AND, 64, 6, Imm(0xFF), 6), Exit(7)]
    assert text_of(prog(func(ops, {0, 1, 2, 3, 4, 5}))) == [
        "xor eax, eax", "mov edi, 0xffffffff", "mov rsi, 0xfffffffffffffffe",
        "movabs rdx, 0x100000000", "mov rcx, 0xffffffffffffffff", "mov r8d, 0xffffffff",
        "movzx ebx, bl", "ret",
    ]


def test_calls_exits_and_short_branches():
    main = func([Alu(Op.MOV, 64, 6, 1, 0),
                 CallHelper(7, 1),
                 Branch(Cond.EQ, 64, 0, Imm(0), 0, 2),
                 CallLocal(1, 3),
                 Exit(4),
                 Label(0, 5),
                 Alu(Op.MOV, 64, 0, 6, 5),
                 Exit(6)], {0, 1, 2, 3, 4, 5, 6}, calls=True)
    sub = func([Alu(Op.MOV, 64, 0, Imm(3), 7), Jump(1, 8), Label(1, 9), Exit(9)], {0},
               name="sub", index=1, start=7)
    c = compile_(prog(main, sub))
    helper = HELPERS + 16 * 7
    sub_at = BASE + c.funcs[1].offset
    assert listing(c.code) == [
        "push rbx",                                     # return address + rbx: 16-aligned
        "mov rbx, rdi",
        f"call {helper:#x}",
        "test rax, rax", "je 0x1015",                   # cmp with 0 is a test
        f"call {sub_at:#x}",
        "pop rbx", "ret",                               # an epilogue this short is inlined
        "mov rax, rbx",
        "pop rbx", "ret",
        # sub: no frame at all; a jump to the next op is still a (short) jump
        "mov eax, 3", "jmp 0x1021", "ret",
    ]
    assert sub_at == 0x101a


# ---------------------------------------------------------------- prologues and frames

# what the ABI says, written out: the callee-saved home of each eBPF register r6-r9
# (r10's home, rbp, is never saved: no function changes it across its body)
CALLEE_SAVED_HOME = {6: "rbx", 7: "r13", 8: "r14", 9: "r15"}


@pytest.mark.parametrize("regs", [set(), {0, 1}, {6}, {7, 9}, {10}, {6, 7, 8, 9},
                                  {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}])
def test_prologue_saves_only_the_callee_saved_registers_used(regs):
    text = text_of(prog(func([Exit(0)], regs | {0}, depth=8 if 10 in regs else 0)))
    pushes = [t.split()[1] for t in text if t.startswith("push")]
    assert sorted(pushes) == sorted(CALLEE_SAVED_HOME[r] for r in regs if r in CALLEE_SAVED_HOME)
    pops = [t.split()[1] for t in text if t.startswith("pop")]
    assert pops == pushes[::-1]


@pytest.mark.parametrize("depth", [0, 8, 16, 24, 40, 256, 504, 512])
@pytest.mark.parametrize("calls", [False, True])
@pytest.mark.parametrize("regs", [{0, 10}, {0, 6, 10}, {0, 6, 7, 10}])
def test_frames_do_not_depend_on_the_stack_depth(depth, calls, regs):
    """The eBPF stack is not in the native frame: no `sub rsp`, no `mov rbp, rsp`; a
    calling function keeps rsp 16-aligned with `push rbp` as the filler when needed."""
    ops = [CallHelper(5, 0)] if calls else []
    f = func(ops + [Store(8, 10, -8, Imm(1), 1), Exit(2)], regs | ({0, 1, 2, 3, 4, 5} if calls else set()),
             depth=depth, calls=calls)
    text = text_of(prog(f))
    assert text == text_of(prog(f._replace(stack_depth=0)))
    assert not any(t.startswith(("sub rsp", "add rsp", "mov rbp", "leave")) for t in text)
    pushes = [t.split()[1] for t in text if t.startswith("push")]
    saved = [CALLEE_SAVED_HOME[r] for r in sorted(regs) if r in CALLEE_SAVED_HOME]
    if calls:
        assert (8 + 8 * len(pushes)) % 16 == 0          # System V: rsp 16-aligned at a call
        assert pushes == saved + (["rbp"] if len(saved) % 2 == 0 else [])
    else:
        assert pushes == saved                          # a leaf needs no padding
    assert "mov qword ptr [rbp - 8], 1" in text


@pytest.mark.parametrize("depth, down, up", [
    (0, None, None),                                    # no eBPF frame: r10 passes as it is
    (8, "sub rbp, 8", "add rbp, 8"),
    (128, "add rbp, -0x80", "sub rbp, -0x80"),          # the imm8 form of 128
    (512, "sub rbp, 0x200", "add rbp, 0x200"),
])
def test_local_call_moves_r10_to_the_bottom_of_the_callers_frame(depth, down, up):
    """callee's r10 = caller's r10 - caller's stack depth (the interpreter's layout in
    the STACK region), and the caller's r10 is back after the call."""
    main = func([Store(8, 10, -8, Imm(1), 0), CallLocal(1, 1), Exit(2)], {0, 10},
                depth=depth, calls=True)
    sub = func([Alu(Op.MOV, 64, 0, 10, 3), Exit(4)], {0, 10}, name="sub", index=1, start=3,
               depth=16)
    c = compile_(prog(main, sub))
    sub_at = BASE + c.funcs[1].offset
    bracket = [f"call {sub_at:#x}"] if down is None else [down, f"call {sub_at:#x}", up]
    assert listing(c.code) == (["push rbp",              # the alignment filler: r10 unchanged
                                "mov qword ptr [rbp - 8], 1"] + bracket
                               + ["pop rbp", "ret",
                                  "mov rax, rbp", "ret"])   # sub: no frame, r10 read-only


# ---------------------------------------------------------------- what Compiled records

def test_relocations_and_symbol_values():
    ops = [LoadAddr(2, Symbol(SymKind.MAP, 1, "m"), 0, 0),
           LoadAddr(3, Symbol(SymKind.MAP_VALUE, 0, "data"), 24, 1),
           LoadAddr(4, Symbol(SymKind.FUNC, 1, "cb"), 0, 2),
           CallHelper(1, 3),
           Exit(4)]
    c = compile_(prog(func(ops, {0, 1, 2, 3, 4, 5}, calls=True),
                      func([Exit(5)], {0}, name="cb", index=1, start=5)))
    kinds = {r.sym.kind: r for r in c.relocs}
    code = c.code

    def u32(off):
        return int.from_bytes(code[off:off + 4], "little")
    assert kinds[SymKind.MAP].kind == "abs32" and u32(kinds[SymKind.MAP].offset) == MAPS + 32
    assert u32(kinds[SymKind.MAP_VALUE].offset) == MAPS + 0x10_0000 + 24
    assert u32(kinds[SymKind.FUNC].offset) == BASE + c.funcs[1].offset
    call = kinds[SymKind.HELPER]
    assert call.kind == "pcrel32" and code[call.offset - 1] == 0xE8
    rel = int.from_bytes(code[call.offset:call.offset + 4], "little", signed=True)
    assert BASE + call.offset + 4 + rel == HELPERS + 16


def test_code_far_from_helpers_calls_through_r11():
    base = 1 << 40                                      # more than 2 GiB from the trampolines
    ops = [LoadAddr(4, Symbol(SymKind.FUNC, 0, "f"), 0, 0), CallHelper(2, 1), Exit(2)]
    c = compile_(prog(func(ops, {0, 1, 2, 3, 4, 5}, calls=True)), base=base)
    text = listing(c.code, base)
    assert f"movabs rcx, {base:#x}" in text
    assert text[text.index(f"mov r11d, {HELPERS + 32:#x}") + 1] == "call r11"
    assert {r.kind for r in c.relocs} == {"abs64", "abs32"}


def test_tail_call_entry_skips_the_counter_reset():
    ops = [TailCall(0), Exit(1)]
    c = compile_(prog(func(ops, {0, 1, 2, 3, 4, 5, 6}, calls=True, tail=True)))
    f = c.funcs[0]
    head = listing(c.code[f.offset:f.tail_entry])
    assert head == [f"mov r11d, {TAIL_COUNT:#x}", "dword ptr [r11], 0".join(["mov ", ""])]
    body = listing(c.code)
    # index < max_entries (unsigned), count < 33, count += 1, then the slot
    assert "cmp dword ptr [rsi + 0xc], r11d" in body
    assert "cmp dword ptr [r9], 0x21" in body
    assert "add dword ptr [r9], 1" in body
    assert body.count("jmp r11") == 1


def test_pc_map_is_ordered_and_names_every_op():
    ops = [Alu(Op.ADD, 64, 0, Imm(1), 0), Alu(Op.ADD, 64, 0, Imm(2), 1),
           Alu(Op.ADD, 64, 0, Imm(3), 1), Exit(3)]
    c = compile_(prog(func(ops, {0})))
    offs = [o for o, _ in c.pc_map]
    assert offs == sorted(offs)
    assert [pc for _, pc in c.pc_map] == [0, 1, 3]


def test_options():
    with pytest.raises(UnsupportedError, match="call-free"):
        compile_(prog(func([CallHelper(7, 0), Exit(1)], {0, 1, 2, 3, 4, 5}, calls=True)),
                 rotate=2)
    with pytest.raises(BpfjitError, match="unknown option"):
        backends.get("x86_64", bogus=1)
    # rotate 1: r0 lives in rdi, r1 in rsi; the result still comes back in rax
    text = text_of(prog(func([Alu(Op.MOV, 64, 0, 1, 0), Exit(1)], {0, 1})), rotate=1)
    assert text == ["mov rdi, rsi", "mov rax, rdi", "ret"]


# ---------------------------------------------------------------- on the host CPU

@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="needs an x86-64 host")
@pytest.mark.parametrize("mem, expect_mem, expect_r0", [
    (0x1234_5678, 0x9999, 0x1234_5678),       # equal low halves: swapped, r0 = old zero-extended
    (0x1111, 0x1111, 0x1111),                 # different: unchanged, r0 = old
])
def test_cmpxchg32_zero_extends_r0_on_real_hardware(mem, expect_mem, expect_r0):
    """Unicorn writes eax on a successful 32-bit cmpxchg; a real CPU does not, which
    is why CMPXCHG W ends with `mov eax, eax` (and why this runs natively)."""
    ops = [Load(8, 0, 1, 8, False, 0),                 # r0 = 0xaaaabbbb12345678
           Load(8, 2, 1, 16, False, 1),                # r2 = 0x9999
           Atomic(AtomicOp.CMPXCHG, 4, 1, 0, 2, True, 2),
           Exit(3)]
    c = compile_(prog(func(ops, {0, 1, 2})))
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    try:
        page.write(c.code)
        fn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(
            ctypes.addressof(ctypes.c_char.from_buffer(page)))
        data = (ctypes.c_uint64 * 3)(mem, 0xAAAA_BBBB_1234_5678, 0x9999)
        r0 = fn(ctypes.addressof(data))
        del fn
    finally:
        try:
            page.close()
        except BufferError:                            # the ctypes view may still be alive
            pass
    assert r0 == expect_r0
    assert data[0] == expect_mem
