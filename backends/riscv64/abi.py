"""RISC-V 64 LP64 calling convention: frames, prologue/epilogue, ELF facts, the Unicorn RunSpec.

This module owns how a function's native frame looks, which registers its
prologue saves and its epilogue restores, the psABI relocation fields of the
address sequences emit.py writes, and how the runner enters JIT code, reads
helper arguments and returns helper results.  Instruction selection for LIR
ops is emit.py's; the register map is regs.py's.

The eBPF stack is not here: it is the runner's STACK region, laid out as the
interpreter lays it out, and eBPF r10 is a pointer into it held in s5
(regs.py).  The entry function gets r10 = STACK_TOP from `enter`, a callback
its r10 from `enter_call`; a bpf-to-bpf call passes the callee r10 less the
caller's stack depth (`addi s5, s5, -depth` before the call, `+depth` after)
and a tail call keeps it.

The native frame (`jit.frame.plan` with depth 0: word 8, LP64's 16-byte
stack alignment, nothing pushed by the call, no argument area: LP64 passes
all five helper arguments in a0-a4) keeps only saved registers:

    higher addresses
    +---------------------------+ <- caller's sp
    | ra          (if it calls) |    saved[0]
    | s0..s11     (if used)     |    the callee-saved homes this function touches
    |                           |    (never s5: r10 is preserved without a save)
    | padding to 16             |
    +---------------------------+ <- sp           16-byte aligned
    lower addresses

    eBPF stack (STACK region, not the native stack):
    +---------------------------+ <- s5 == r10    (STACK_TOP in the entry function)
    | this function's frame     |    stack_depth bytes
    +---------------------------+ <- s5 - depth   == r10 of the functions it calls

A function that calls nothing and uses no s-register has no native frame at
all: its epilogue is `ret`, after `mv a0, a5` in the functions a C caller
runs (the entry; address-taken callbacks): a bpf-to-bpf call gets r0 in a5
and finds the callee's r1 still in a0.  The prologue is `addi sp, sp, -size`
and one `sd` per saved register (c.addi16sp and c.sdsp with RVC), the
epilogue the reverse.

The entry function of a program that tail-calls starts with the store that
zeroes the tail-call count; its `tail_entry` is the instruction after it, so
a tail call lands in the ordinary prologue with the count kept.

Running under Unicorn (2.1, QEMU 5.0's RISC-V): RV64GC runs, RVC included;
Zba and Zbb do not (an illegal-instruction exception), so no CPU model that
the runner runs uses them.  Helper trampolines are one `ret` (c.jr ra): the
runner's hook runs the Python helper at the slot address, then the slot
returns after the JIT code's `jalr`; s5, untouched, is then the r10 of the
function that called the helper (`frame_pointer`).
"""
from __future__ import annotations

from dataclasses import dataclass

from backends.base import (DATA32, DATA64, AbiSpec, CodeView, ElfSpec, Emu, EmuIds, Field, Rel,
                           Toolchain, sext)
from backends.riscv64 import enc as E
from backends.riscv64.enc import Gpr
from backends.riscv64.regs import CALLEE_SAVED, HOMES, R10_HOME
from jit.frame import Frame, plan

WORD = 8
STACK_ALIGN = 16
M64 = (1 << 64) - 1

ARG_REGS = (Gpr.A0, Gpr.A1, Gpr.A2, Gpr.A3, Gpr.A4, Gpr.A5, Gpr.A6, Gpr.A7)
RET_REG = Gpr.A0

ABI = AbiSpec(word=WORD, stack_align=STACK_ALIGN, incoming=0,
              arg_regs=tuple(E.name(r) for r in ARG_REGS), ret_regs=("a0",),
              callee_saved=tuple(E.name(r) for r in CALLEE_SAVED))


def frame_for(used_natives, calls: bool) -> Frame:
    """The frame of one function: ra if it calls, then the callee-saved registers it
    uses (r10's home is never among them: it is preserved without a save)."""
    saved = [Gpr.RA] if calls else []
    saved += [r for r in CALLEE_SAVED if r in used_natives and r != R10_HOME]
    return plan(saved, word=WORD, align=STACK_ALIGN)


def sp_adjust(delta: int, rvc: bool) -> list[int]:
    """sp += delta (a multiple of 16)."""
    if not delta:
        return []
    if rvc and -512 <= delta <= 496:
        return [E.c_addi16sp(delta)]
    return [E.addi(Gpr.SP, Gpr.SP, delta)]


def prologue(frame: Frame, rvc: bool) -> list[int]:
    """Allocate the frame and save registers (frames are small: offsets fit c.sdsp)."""
    if frame.size == 0:
        return []
    out = sp_adjust(-frame.size, rvc)
    out += [E.c_sdsp(reg, off) if rvc else E.sd(reg, Gpr.SP, off) for reg, off in frame.saved]
    return out


def teardown(frame: Frame, rvc: bool) -> list[int]:
    """Reload the saved registers and free the frame (what a tail call runs)."""
    out = [E.c_ldsp(reg, off) if rvc else E.ld(reg, Gpr.SP, off) for reg, off in frame.saved]
    return out + sp_adjust(frame.size, rvc)


def hi_lo(value: int) -> tuple[int, int] | None:
    """(hi20, lo12) with value == sext32(hi20 << 12) + sext12(lo12), or None if it needs more:
    the %hi/%lo split of lui+addi (and auipc+jalr, pc-relative)."""
    lo = ((value & 0xFFF) ^ 0x800) - 0x800
    hi = (value - lo) >> 12
    if not -(1 << 19) <= hi < (1 << 19):
        return None
    return hi & 0xFFFFF, lo


# ------------------------------------------------------------------ ELF (psABI)

def _read_split(c: CodeView, off: int) -> int:
    """A lui's or auipc's signed upper 20 bits, or an I-type's signed low 12 bits."""
    w = c.get(off, "I")
    if w & 0x7F in (E.LUI, E.AUIPC):
        return sext(w >> 12, 20)
    return sext(w >> 20, 12)


def _write_split(c: CodeView, off: int, v: int) -> None:
    w = c.get(off, "I")
    if w & 0x7F in (E.LUI, E.AUIPC):
        c.put(off, "I", w & 0xFFF | (v & 0xFFFFF) << 12)
    else:
        c.put(off, "I", w & 0xFFFFF | (v & 0xFFF) << 20)


def _read_call(c: CodeView, off: int) -> int:
    """auipc+jalr: the pc-relative displacement the pair holds (S + A - P)."""
    return (sext(c.get(off, "I") >> 12, 20) << 12) + sext(c.get(off + 4, "I") >> 20, 12)


def _write_call(c: CodeView, off: int, v: int) -> None:
    hl = hi_lo(v)
    hi, lo = hl if hl is not None else (0, 0)
    c.put(off, "I", c.get(off, "I") & 0xFFF | hi << 12)
    c.put(off + 4, "I", c.get(off + 4, "I") & 0xFFFFF | (lo & 0xFFF) << 20)


# lui's imm[31:12] (shift 12) and addi's imm[11:0]: one piece each of a split address
SPLIT_FIELD = Field("riscv_hi20_lo12", _read_split, _write_split, split=True)
CALL_FIELD = Field("riscv_call", _read_call, _write_call)

# `riscv64-linux-gnu-as -march=rv64gc -mabi=lp64` on an empty file writes e_flags
# 0x1 (EF_RISCV_RVC; float ABI soft is 0); without RVC (rv64g) 0x0.
EM_RISCV = 243
EF_RISCV_RVC, EF_RISCV_FLOAT_ABI_SOFT = 0x1, 0x0
R_RISCV_32, R_RISCV_64, R_RISCV_CALL_PLT, R_RISCV_HI20, R_RISCV_LO12_I = 1, 2, 19, 26, 27


def elf_spec(rvc: bool) -> ElfSpec:
    return ElfSpec(elfclass=64, machine=EM_RISCV,
                   flags=(EF_RISCV_RVC if rvc else 0) | EF_RISCV_FLOAT_ABI_SOFT,
                   rela=True, relocs={
                       "hi20": Rel(R_RISCV_HI20, SPLIT_FIELD, 12, name="R_RISCV_HI20"),
                       "lo12_i": Rel(R_RISCV_LO12_I, SPLIT_FIELD, 0, name="R_RISCV_LO12_I"),
                       "call": Rel(R_RISCV_CALL_PLT, CALL_FIELD, pcrel=True,
                                   name="R_RISCV_CALL_PLT"),
                       "abs64": Rel(R_RISCV_64, DATA64, name="R_RISCV_64"),
                       "abs32": Rel(R_RISCV_32, DATA32, name="R_RISCV_32"),
                   })


ELF = elf_spec(True)

TOOLS = Toolchain(
    triple="riscv64-linux-gnu", as_flags=("-march=rv64gc", "-mabi=lp64"),
    as_prelude="", llvm_mc=("-triple", "riscv64", "-mattr=+m,+a,+c"),
    # -mno-relax: clang's code has no R_RISCV_BRANCH/RELAX left for the bench's anchor
    keystone=(), clang=("--target=riscv64-linux-gnu", "-march=rv64gc", "-mabi=lp64",
                        "-mno-relax"),
    gcc_flags=("-march=rv64gc", "-mabi=lp64"), objdump_flags=("-M", "no-aliases"),
    qemu="qemu-riscv64", host=("riscv64",),
    readelf=("ELF64", "little endian", "RISC-V", "0x1, RVC, soft-float ABI"))

EMU = Emu(uc_arch="UC_ARCH_RISCV", uc_mode=("UC_MODE_RISCV64",), cs_arch="CS_ARCH_RISCV",
          cs_mode=("CS_MODE_RISCV64", "CS_MODE_RISCVC"), regs_module="riscv_const",
          reg_prefix="UC_RISCV_REG_", pc="PC", sp="SP")
CPU_MODEL = "UC_CPU_RISCV64_BASE64"      # RV64GC (the "any" model is the same here)


def _uc(r: Gpr) -> int:
    """Unicorn's id of x<r> (its X0..X31 ids are consecutive)."""
    from unicorn.riscv_const import UC_RISCV_REG_X0
    return UC_RISCV_REG_X0 + int(r)


@dataclass(frozen=True)
class RiscvRun(EmuIds):
    """The RunSpec of jit/runner.py.  With a rotated map (tests, call-free programs) the
    entry's r1/r2 go to their rotated homes; the epilogue returns r0 in a0 either way."""
    homes: tuple = HOMES
    cpu_model: str | None = CPU_MODEL
    emu = EMU

    def helper_slot(self) -> bytes:
        return E.to_bytes([E.c_jr(Gpr.RA)])        # ret: the hook has run the helper

    def enter(self, uc, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        sp &= ~(STACK_ALIGN - 1)
        uc.reg_write(_uc(self.homes[1]), r1 & M64)
        uc.reg_write(_uc(self.homes[2]), r2 & M64)
        uc.reg_write(_uc(R10_HOME), fp & M64)
        uc.reg_write(_uc(Gpr.RA), sentinel)
        uc.reg_write(_uc(Gpr.SP), sp)
        return sp

    def enter_call(self, uc, addr: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """A call of the eBPF function at `addr` (a callback a helper runs) with eBPF
        r1..r5 = args and r10 = fp, as a bpf-to-bpf call would enter it."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(HOMES[1:6], args):
            uc.reg_write(_uc(reg), value & M64)
        uc.reg_write(_uc(R10_HOME), fp & M64)
        uc.reg_write(_uc(Gpr.RA), sentinel)
        uc.reg_write(_uc(Gpr.SP), sp)
        return sp

    def enter_c(self, uc, entry: int, sp: int, args: tuple, sentinel: int) -> int:
        """LP64: integer arguments in a0..a7, ra = the return address."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(ARG_REGS, args):
            uc.reg_write(_uc(reg), value & M64)
        uc.reg_write(_uc(Gpr.RA), sentinel)
        uc.reg_write(_uc(Gpr.SP), sp)
        return sp

    def frame_pointer(self, uc) -> int:
        """eBPF r10 of the function whose helper call the trampoline is serving."""
        return uc.reg_read(_uc(R10_HOME)) & M64

    def helper_args(self, uc) -> tuple:
        return tuple(uc.reg_read(_uc(r)) & M64 for r in ARG_REGS[:5])

    def set_return(self, uc, value: int) -> None:
        uc.reg_write(_uc(RET_REG), value & M64)

    def result(self, uc) -> int:
        return uc.reg_read(_uc(RET_REG)) & M64

    def return_address(self, uc) -> int:
        """Inside a helper slot: the address of the JIT code's `jalr` (ra is 4 past it)."""
        return (uc.reg_read(_uc(Gpr.RA)) & M64) - 4
