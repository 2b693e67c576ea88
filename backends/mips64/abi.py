"""MIPS64 n64 calling convention: frames, prologue/epilogue words, and the Unicorn RunSpec.

This module owns how a function's native frame looks, which registers its
prologue saves and its epilogue restores, and how the runner enters JIT code,
reads helper arguments and returns helper results.  Instruction selection for
LIR ops is emit.py's; the register map is regs.py's.

The eBPF stack is not here: it is the runner's STACK region, laid out as
the interpreter lays it out, and eBPF r10 is a pointer into it held in fp
(regs.py).  The entry function gets r10 = STACK_TOP from `enter`, a callback
its r10 from `enter_call`; a bpf-to-bpf call passes the callee r10 less the
caller's stack depth (`daddiu fp` in the call's delay slot, undone before the
caller next needs fp == r10: emit.py's `bias`), and a tail call keeps it.
fp is thus the same at a function's return as at its entry, as n64 wants of
a callee-saved register, without being saved.

The native frame (`jit.frame.plan` with depth 0: word 8, n64's 16-byte stack
alignment, nothing pushed by the call, no argument home area: n64 passes all
five helper arguments in a0-a4) keeps only saved registers:

    higher addresses
    +---------------------------+ <- caller's sp
    | ra          (if it calls) |    saved[0]
    | s0..s7      (if used)     |    the callee-saved homes and constant registers
    |                           |    this function touches
    | padding to 16             |
    +---------------------------+ <- sp           16-byte aligned
    lower addresses

    eBPF stack (STACK region, not the native stack):
    +---------------------------+ <- fp == r10    (STACK_TOP in the entry function)
    | this function's frame     |    stack_depth bytes (512 when unknown)
    +---------------------------+ <- fp - depth   == r10 of the functions it calls

A function that calls nothing and uses no s-register has no native frame at
all (eBPF stack or not): no `daddiu sp`, and its exit is `jr ra` with
something useful in the delay slot.  The epilogue's own delay slot pops the
frame.

The entry function of a program that tail-calls starts with the store that
zeroes the tail-call count; its `tail_entry` is the instruction after it, so
a tail call lands in the ordinary prologue with the count kept.

Running under Unicorn: the CPU model must be MIPS64R2-generic (the default
R4000 traps on dext/dins/seb/wsbh...).  Unicorn has a reported crash when a
saved context is restored and run again at a `jalr` with a delay slot
(unicorn issue 2134); jit/runner.py builds a fresh Uc for every run, and it
must stay that way for this backend.  (Callbacks that helpers run, such as
bpf_loop's, do save and restore the context inside the helper hook, at the
trampoline's `jr ra`; the callback fixtures agree on both byte orders, but
that is the one place the pattern remains.)  Helper trampolines are
`jr ra; nop`: the runner's hook runs the Python helper at the slot address,
then the slot returns to the instruction after the JIT code's `jalr` delay
slot; fp, untouched, is then the r10 of the function that called the helper
(`frame_pointer`).  `enter_call` starts such a callback as a bpf-to-bpf call
would.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from backends.base import (DATA32, DATA64, AbiSpec, CodeView, ElfSpec, Emu, EmuIds, Field, Rel,
                           Toolchain, sext)
from backends.mips64 import enc as E
from backends.mips64.enc import Gpr
from backends.mips64.regs import CALLEE_SAVED, R10_HOME
from jit.frame import Frame, plan

WORD = 8
STACK_ALIGN = 16

ABI = AbiSpec(word=WORD, stack_align=STACK_ALIGN, incoming=0,
              arg_regs=("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"),
              ret_regs=("v0",),
              callee_saved=("s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "gp", "fp"))


def frame_for(used_natives, calls: bool) -> Frame:
    """The frame of one function: ra if it calls, then the callee-saved registers it
    uses (r10's home is never among them: it is preserved without a save)."""
    saved = [Gpr.RA] if calls else []
    saved += [r for r in CALLEE_SAVED if r in used_natives and r != R10_HOME]
    return plan(saved, word=WORD, align=STACK_ALIGN)


def prologue(frame: Frame) -> list[int]:
    """Allocate the frame and save registers (the frame is small: offsets fit 16 bits)."""
    if frame.size == 0:
        return []
    words = [E.daddiu(Gpr.SP, Gpr.SP, -frame.size)]
    words += [E.sd(reg, off, Gpr.SP) for reg, off in frame.saved]
    return words


def restore(frame: Frame) -> list[int]:
    """Reload the saved registers (the frame itself is popped by `pop`)."""
    return [E.ld(reg, off, Gpr.SP) for reg, off in frame.saved]


def pop(frame: Frame) -> int:
    """The word that frees the frame (a nop when there is none): fits a delay slot."""
    return E.daddiu(Gpr.SP, Gpr.SP, frame.size) if frame.size else E.nop()


def hi_lo(addr: int) -> tuple[int, int] | None:
    """(hi, lo) with addr == sext32(hi << 16) + sext16(lo), or None if addr needs more.

    `lo` is signed, as `daddiu` and load/store displacements read it (the
    R_MIPS_HI16/LO16 pair); `hi` is the 16-bit field for `lui`.
    """
    lo = ((addr & 0xFFFF) ^ 0x8000) - 0x8000
    hi = (addr - lo) >> 16
    if not -0x8000 <= hi <= 0x7FFF:
        return None
    return hi & 0xFFFF, lo


def addr_words(rt: Gpr, addr: int) -> list[tuple[int, str]]:
    """A fixed sequence loading an absolute address, each word with its relocation kind.

    2 words (lui/daddiu: R_MIPS_HI16/LO16) below 2 GiB, else 6
    (%highest/%higher/%hi/%lo, as GNU as expands `dla`).
    """
    hl = hi_lo(addr)
    if hl is not None:
        hi, lo = hl
        return [(E.lui(rt, hi), "hi16"), (E.daddiu(rt, rt, lo), "lo16")]
    a = addr & ((1 << 64) - 1)

    def part(shift: int, carry: int) -> int:
        v = ((a + carry) >> shift) & 0xFFFF
        return v - 0x10000 if v >= 0x8000 else v
    return [(E.lui(rt, part(48, 0x8000_8000_8000) & 0xFFFF), "highest"),
            (E.daddiu(rt, rt, part(32, 0x8000_8000)), "higher"),
            (E.dsll(rt, rt, 16), ""),
            (E.daddiu(rt, rt, part(16, 0x8000)), "hi16"),
            (E.dsll(rt, rt, 16), ""),
            (E.daddiu(rt, rt, ((a & 0xFFFF) ^ 0x8000) - 0x8000), "lo16")]


# ------------------------------------------------------------------ running under Unicorn

M64 = (1 << 64) - 1
HELPER_ARGS = (Gpr.A0, Gpr.A1, Gpr.A2, Gpr.A3, Gpr.A4)     # n64: the first five integer args

def _uc(r: Gpr) -> int:
    """Unicorn's id of a general register (its $0..$31 ids are consecutive; its
    symbolic names are o32's, where n64's a4 is called t0)."""
    from unicorn.mips_const import UC_MIPS_REG_0
    return UC_MIPS_REG_0 + int(r)

def _emu(order: str) -> Emu:
    mode = "BIG_ENDIAN" if order == "big" else "LITTLE_ENDIAN"
    return Emu(uc_arch="UC_ARCH_MIPS", uc_mode=("UC_MODE_MIPS64", "UC_MODE_" + mode),
               cs_arch="CS_ARCH_MIPS", cs_mode=("CS_MODE_MIPS64", "CS_MODE_" + mode),
               regs_module="mips_const", reg_prefix="UC_MIPS_REG_", pc="PC", sp="SP")


EMU_BY_ORDER = {order: _emu(order) for order in ("big", "little")}
CPU_MODEL = "UC_CPU_MIPS64_MIPS64R2_GENERIC"

# ------------------------------------------------------------------ ELF (n64)

def _read_imm16(c: CodeView, off: int) -> int:
    return sext(c.get(off, "I"), 16)


def _write_imm16(c: CodeView, off: int, v: int) -> None:
    c.put(off, "I", c.get(off, "I") & 0xFFFF_0000 | v & 0xFFFF)


def _r_info(sym: int, rtype: int, order: str) -> bytes:
    """MIPS64 r_info is not ELF64_R_INFO: r_sym (a word in the target order), then one
    byte each for r_ssym, r_type3, r_type2, r_type (binutils elf64-mips.c)."""
    return struct.pack(("<" if order == "little" else ">") + "IBBBB", sym, 0, 0, 0, rtype)


# bits 15..0 of the instruction word, sign-extended: one piece of a split address
IMM16_FIELD = Field("mips_imm16", _read_imm16, _write_imm16, split=True)

# `mips64-linux-gnuabi64-as -mabi=64 -march=mips64r2` writes EF_MIPS_ARCH_64R2
# (0x80000000), plus EF_MIPS_NOREORDER for `.set noreorder` code, which ours is (it
# fills its own delay slots).  n64 is ELFCLASS64 with no EF_MIPS_ABI bits; neither PIC
# nor CPIC: the code uses absolute addresses.
EM_MIPS = 8
EF_MIPS_NOREORDER, EF_MIPS_ARCH_64R2 = 0x1, 0x8000_0000
R_MIPS_32, R_MIPS_26, R_MIPS_HI16, R_MIPS_LO16, R_MIPS_64 = 2, 4, 5, 6, 18
R_MIPS_HIGHER, R_MIPS_HIGHEST = 28, 29
ELF = ElfSpec(elfclass=64, machine=EM_MIPS, flags=EF_MIPS_NOREORDER | EF_MIPS_ARCH_64R2,
              rela=True, r_info=_r_info, relocs={
                  "highest": Rel(R_MIPS_HIGHEST, IMM16_FIELD, 48, name="R_MIPS_HIGHEST"),
                  "higher": Rel(R_MIPS_HIGHER, IMM16_FIELD, 32, name="R_MIPS_HIGHER"),
                  "hi16": Rel(R_MIPS_HI16, IMM16_FIELD, 16, name="R_MIPS_HI16"),
                  "lo16": Rel(R_MIPS_LO16, IMM16_FIELD, 0, name="R_MIPS_LO16"),
                  "abs64": Rel(R_MIPS_64, DATA64, name="R_MIPS_64"),
                  "abs32": Rel(R_MIPS_32, DATA32, name="R_MIPS_32"),
              })


def toolchain(order: str) -> Toolchain:
    """binutils-mips64-linux-gnuabi64 (both orders), gcc-mips64(el)-linux-gnuabi64, qemu-user."""
    big = order == "big"
    el = "" if big else "el"
    return Toolchain(
        triple="mips64-linux-gnuabi64", as_flags=("-mabi=64", "-march=mips64r2",
                                                  "-EB" if big else "-EL"),
        as_prelude=".set noreorder\n.set noat\n",
        llvm_mc=("-triple", f"mips64{el}", "-mcpu=mips64r2"),
        keystone=("KS_ARCH_MIPS", "KS_MODE_MIPS64",
                  "KS_MODE_BIG_ENDIAN" if big else "KS_MODE_LITTLE_ENDIAN"),
        clang=(f"--target=mips64{el}-linux-gnuabi64", "-mcpu=mips64r2"),
        gcc=f"mips64{el}-linux-gnuabi64", gcc_flags=("-mabi=64", "-march=mips64r2"),
        ld_flags=() if big else ("-EL", "-m", "elf64ltsmip"),
        qemu=f"qemu-mips64{el}", host=(f"mips64{el}",),
        readelf=("ELF64", "big endian" if big else "little endian", "MIPS R3000",
                 "0x80000001, noreorder, mips64r2"))


@dataclass(frozen=True)
class MipsRun(EmuIds):
    """The RunSpec of jit/runner.py for one byte order."""
    byteorder: str
    cpu_model: str | None = CPU_MODEL

    @property
    def emu(self) -> Emu:
        return EMU_BY_ORDER[self.byteorder]

    def helper_slot(self) -> bytes:
        # jr ra; nop -- the hook has already run the helper when this executes
        return b"".join(w.to_bytes(4, self.byteorder) for w in (E.jr(Gpr.RA), E.nop()))

    def enter(self, uc, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        sp &= ~(STACK_ALIGN - 1)
        uc.reg_write(_uc(Gpr.A0), r1)
        uc.reg_write(_uc(Gpr.A1), r2)
        uc.reg_write(_uc(R10_HOME), fp & M64)
        uc.reg_write(_uc(Gpr.RA), sentinel)
        uc.reg_write(_uc(Gpr.T9), entry)             # n64 PIC convention: t9 = callee
        uc.reg_write(_uc(Gpr.SP), sp)
        return sp

    def enter_call(self, uc, addr: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """Set up a call of the eBPF function at `addr` (a callback a helper runs) with
        eBPF r1..r5 = args and r10 = fp, as a bpf-to-bpf call would enter it."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(HELPER_ARGS, args):
            uc.reg_write(_uc(reg), value & M64)
        uc.reg_write(_uc(R10_HOME), fp & M64)
        uc.reg_write(_uc(Gpr.RA), sentinel)
        uc.reg_write(_uc(Gpr.T9), addr)
        uc.reg_write(_uc(Gpr.SP), sp)
        return sp

    def enter_c(self, uc, entry: int, sp: int, args: tuple, sentinel: int) -> int:
        """n64: arguments in a0..a7, ra = the return address, t9 = the callee (PIC)."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(HELPER_ARGS, args):
            uc.reg_write(_uc(reg), value & M64)
        uc.reg_write(_uc(Gpr.RA), sentinel)
        uc.reg_write(_uc(Gpr.T9), entry)
        uc.reg_write(_uc(Gpr.SP), sp)
        return sp

    def frame_pointer(self, uc) -> int:
        """eBPF r10 of the function whose helper call the trampoline is serving."""
        return uc.reg_read(_uc(R10_HOME)) & M64

    def helper_args(self, uc) -> tuple:
        return tuple(uc.reg_read(_uc(r)) & M64 for r in HELPER_ARGS)

    def set_return(self, uc, value: int) -> None:
        uc.reg_write(_uc(Gpr.V0), value & M64)

    def result(self, uc) -> int:
        return uc.reg_read(_uc(Gpr.V0)) & M64

    def return_address(self, uc) -> int:
        """Inside a helper slot: the address of the JIT code's `jalr` (ra is 8 bytes past it)."""
        return (uc.reg_read(_uc(Gpr.RA)) & M64) - 8
