"""x86-64 System V: the calling convention, one function's frame, prologue and epilogue, and
how the Unicorn runner drives this machine.

This module owns the frame of each eBPF function (planned by `jit.frame.plan`
from the callee-saved registers it really uses; its eBPF stack is not in it),
the bytes of its prologue and epilogue, the facts the frame planner and the
ELF writer need (`ABI`), and the runner's `RunSpec`.  It does not choose
instructions for LIR ops (emit.py).

The eBPF stack is the runner's STACK region, laid out as the interpreter lays
it out, so that stack addresses and faults off either end match it: r10 lives
in rbp, the entry gets rbp = STACK_TOP from the runner (`enter`), a callee gets
the bottom of its caller's eBPF frame (the caller brackets `call` with `sub
rbp, depth` / `add rbp, depth`), a tail call keeps rbp, and a helper's callback
gets what the runner computes (`enter_call`).  No function changes rbp across
its body, so rbp is never saved for its own sake.

One native frame per eBPF function, after the prologue (rsp fixed from here
to the epilogue: nothing is pushed across an op except inside one op's own
sequence, e.g. `push rax` around a division):

    higher addresses
    +-----------------------------+
    | return address              |  pushed by `call` (the runner's sentinel for the entry)
    +-----------------------------+  <- rsp at entry (== 8 mod 16 by System V)
    | saved rbx   (if r6 used)    |  push, in SAVE_ORDER, only the callee-saved
    | saved r13.. (if r7.. used)  |  registers this function's eBPF registers live in
    +-----------------------------+
    | rbp (filler, if needed)     |  only in a calling function whose pushes leave rsp 8 off 16
    +-----------------------------+  <- rsp (16-aligned at every call; leaf functions keep
    lower addresses                     8-byte alignment, no filler)

    STACK region (jit.memory.STACK_BASE .. STACK_TOP), one eBPF frame per active call:
    +-----------------------------+  <- STACK_TOP == the entry's r10 (rbp)
    | entry's eBPF stack          |  its LirFunc.stack_depth bytes
    +-----------------------------+  <- a callee's r10 (rbp during the call)
    | callee's eBPF stack ...     |
    +-----------------------------+

The prologue is the pushes and the epilogue the pops and `ret` -- no frame
pointer and no `sub rsp`.  The filler is `push rbp`: 1 byte where `sub rsp,
8` is 4, and its pop restores the rbp that is still there.  A tail call runs
the epilogue without its `ret` and jumps to the target's `tail_entry` with
rbp as it is (the target reuses the frame's r10), which for a program that
itself tail-calls is just past the store that zeroes the tail-call counter.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from backends.base import DATA32, DATA64, AbiSpec, ElfSpec, Emu, EmuIds, Rel, Toolchain
from backends.x86_64 import enc
from backends.x86_64.enc import Gpr
from backends.x86_64.regs import CALLEE_SAVED, FP, HOME, SAVE_ORDER, name
from jit.frame import Frame, plan
from jit.lir import LirFunc

WORD = 8
STACK_ALIGN = 16
RETURN_ADDRESS = 8          # bytes `call` pushes

ARG_REGS = (Gpr.RDI, Gpr.RSI, Gpr.RDX, Gpr.RCX, Gpr.R8, Gpr.R9)
RET_REG = Gpr.RAX

ABI = AbiSpec(word=WORD, stack_align=STACK_ALIGN, incoming=RETURN_ADDRESS,
              arg_regs=tuple(name(r) for r in ARG_REGS), ret_regs=(name(RET_REG),),
              callee_saved=tuple(name(r) for r in SAVE_ORDER + (FP,)))


# Unicorn and capstone, by name (resolved when something runs or disassembles).
EMU = Emu(uc_arch="UC_ARCH_X86", uc_mode=("UC_MODE_64",), cs_arch="CS_ARCH_X86",
          cs_mode=("CS_MODE_64",), regs_module="x86_const", reg_prefix="UC_X86_REG_",
          pc="RIP", sp="RSP")

# The relocatable object GNU as writes for x86-64 (psABI relocation numbers).
EM_X86_64 = 62
R_X86_64_64, R_X86_64_PLT32, R_X86_64_32, R_X86_64_32S = 1, 4, 10, 11
ELF = ElfSpec(elfclass=64, machine=EM_X86_64, flags=0, rela=True, relocs={
    "pcrel32": Rel(R_X86_64_PLT32, DATA32, pcrel=True, name="R_X86_64_PLT32"),  # call rel32
    "abs32": Rel(R_X86_64_32, DATA32, name="R_X86_64_32"),     # mov r32, imm32 (zero-extends)
    "abs32s": Rel(R_X86_64_32S, DATA32, name="R_X86_64_32S"),  # imm32 sign-extended to 64
    "abs64": Rel(R_X86_64_64, DATA64, name="R_X86_64_64"),     # movabs r64, imm64
})


# binutils-x86-64-linux-gnu (or the host's binutils), gcc, qemu-user
TOOLS = Toolchain(triple="x86_64-linux-gnu", as_flags=("--64",),
                  as_prelude=".intel_syntax noprefix\n",
                  llvm_mc=("-triple", "x86_64", "--x86-asm-syntax=intel", "-output-asm-variant=1"),
                  keystone=("KS_ARCH_X86", "KS_MODE_64"),
                  clang=("--target=x86_64-linux-gnu",), objdump_flags=("-M", "intel"),
                  qemu="qemu-x86_64", host=("x86_64", "amd64"),
                  readelf=("ELF64", "little endian", "Advanced Micro Devices X86-64", "0x0"))


class FuncFrame(NamedTuple):
    """A function's frame and the code that builds and tears it down."""
    frame: Frame
    saved: tuple          # native registers pushed, in push order
    prologue: bytes
    teardown: bytes       # restore sp and the saved registers (what a tail call runs)
    epilogue: bytes       # r0 into rax (if it lives elsewhere), teardown, ret


def saved_registers(f: LirFunc, regmap: tuple) -> tuple:
    """The callee-saved natives this function writes or reads, in push order (not rbp:
    r10 is read-only and local calls put it back)."""
    used = {regmap[r] for r in f.regs_used}
    return tuple(r for r in SAVE_ORDER if r in used and r in CALLEE_SAVED)


def func_frame(f: LirFunc, regmap: tuple) -> FuncFrame:
    """The frame of `f` (see the module diagram) and its prologue and epilogue bytes."""
    saved = saved_registers(f, regmap)
    # alignment matters only where this function calls (helpers, subprograms, tail calls)
    align = STACK_ALIGN if f.calls or f.tail_calls else WORD
    frame = plan(saved, word=WORD, align=align, incoming=RETURN_ADDRESS)
    if frame.size != WORD * len(saved):
        # 8 bytes short of the call alignment: push rbp as the filler (see the diagram)
        saved += (FP,)
        frame = plan(saved, word=WORD, align=align, incoming=RETURN_ADDRESS)
    assert frame.size == WORD * len(saved), frame
    pro = b"".join(enc.push(r) for r in saved)
    down = b"".join(enc.pop(r) for r in reversed(saved))
    # the result goes back in rax whatever the map (r0 lives elsewhere only when rotated)
    result = b"" if regmap[0] == RET_REG else enc.mov_rr(RET_REG, regmap[0], bits=64)
    return FuncFrame(frame, saved, pro, down, result + down + enc.ret())


# ---------------------------------------------------------------- the Unicorn runner's view

class RunSpec(EmuIds):
    """How jit.runner drives x86-64 code: System V arguments and results.

    With a rotated register map (tests), the entry's r1/r2 go to their rotated
    homes (a rotated program makes no calls, so nothing else needs to agree
    with the C ABI); the epilogue returns r0 in rax either way.
    """

    emu = EMU

    def __init__(self, regmap: tuple = HOME) -> None:
        self.regmap = regmap

    @staticmethod
    def _uc_reg(reg: Gpr) -> int:
        from unicorn import x86_const
        return getattr(x86_const, f"UC_X86_REG_{reg.name}")

    def helper_slot(self) -> bytes:
        return enc.ret()

    def enter(self, uc: Any, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        sp = (sp & ~(STACK_ALIGN - 1)) - RETURN_ADDRESS    # as if `call entry` from the sentinel
        uc.mem_write(sp, sentinel.to_bytes(8, "little"))
        uc.reg_write(self.sp_reg, sp)
        uc.reg_write(self._uc_reg(FP), fp)                 # r10 = the top of the entry's frame
        uc.reg_write(self._uc_reg(self.regmap[1]), r1)
        uc.reg_write(self._uc_reg(self.regmap[2]), r2)
        return sp

    def enter_call(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """A call of the eBPF function at native address `entry` as CallLocal makes it
        (a helper's callback, e.g. bpf_loop's): r1..r5 = args, r10 = `fp`, return to
        `sentinel`."""
        sp = (sp & ~(STACK_ALIGN - 1)) - RETURN_ADDRESS    # == 8 mod 16, as right after `call`
        uc.mem_write(sp, sentinel.to_bytes(8, "little"))
        uc.reg_write(self.sp_reg, sp)
        uc.reg_write(self._uc_reg(FP), fp)
        for r, value in zip(range(1, 6), args):
            uc.reg_write(self._uc_reg(self.regmap[r]), value & 0xFFFF_FFFF_FFFF_FFFF)
        return sp

    def enter_c(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int) -> int:
        sp = (sp & ~(STACK_ALIGN - 1)) - RETURN_ADDRESS    # == 8 mod 16, as right after `call`
        uc.mem_write(sp, sentinel.to_bytes(8, "little"))
        uc.reg_write(self.sp_reg, sp)
        for reg, value in zip(ARG_REGS, args):
            uc.reg_write(self._uc_reg(reg), value & 0xFFFF_FFFF_FFFF_FFFF)
        return sp

    def frame_pointer(self, uc: Any) -> int:
        """r10 of the function calling a helper: rbp (callee-saved, so the trampoline
        finds it as that function left it)."""
        return uc.reg_read(self._uc_reg(FP))

    def helper_args(self, uc: Any) -> tuple:
        return tuple(uc.reg_read(self._uc_reg(r)) for r in ARG_REGS[:5])

    def set_return(self, uc: Any, value: int) -> None:
        uc.reg_write(self._uc_reg(RET_REG), value)

    def result(self, uc: Any) -> int:
        return uc.reg_read(self._uc_reg(RET_REG))

    def return_address(self, uc: Any) -> int:
        """Inside a helper slot: an address inside the calling instruction (the
        return address - 1), so that it maps to the eBPF pc of the call."""
        sp = uc.reg_read(self.sp_reg)
        return int.from_bytes(uc.mem_read(sp, 8), "little") - 1
