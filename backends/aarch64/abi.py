"""AArch64 AAPCS64: one function's frame, prologue and epilogue words, the Unicorn
RunSpec, and the ELF facts.

This module owns how a function's native frame looks, which registers its
prologue saves and its epilogue restores, and how the runner enters JIT code,
reads helper arguments and returns helper results.  Instruction selection is
emit.py's; the register map is regs.py's.

The eBPF stack is not here: it is the runner's STACK region, laid out as the
interpreter lays it out, and eBPF r10 is a pointer into it held in x25
(regs.py).  The entry function gets r10 = STACK_TOP from `enter`, a callback
its r10 from `enter_call`; a bpf-to-bpf call is bracketed by `sub x25, x25,
#depth` / `add x25, x25, #depth` (the callee's r10 is the bottom of the
caller's eBPF frame), and a tail call keeps x25.  x25 is thus the same at a
function's return as at its entry, as AAPCS64 wants of a callee-saved
register, without being saved.

The native frame keeps only saved registers, lowest first, sp 16-byte aligned
at all times (AAPCS64; AArch64 may check sp alignment on every sp-based
access):

    higher addresses
    +---------------------------+ <- caller's sp
    | padding to 16 (odd count) |
    | saved[n-1]                |
    | ...                       |    x19-x24 this function touches, x26-x28
    |                           |    if it keeps loop constants in them
    | saved[1]                  |
    | saved[0]                  |    x30 (lr) first, if the function calls
    +---------------------------+ <- sp = caller's sp - size
    lower addresses

The prologue is one `stp saved[0], saved[1], [sp, #-size]!` (or `str ...,
[sp, #-16]!` for one register) plus `stp`s at increasing offsets; the
epilogue loads them back, the lowest pair last with a post-indexed `ldp ...,
[sp], #size`, then `ret`.  A function that calls nothing and touches none of
x19-x24 has no frame at all.

The entry function of a program that tail-calls starts with the store that
zeroes the tail-call count; its `tail_entry` is the instruction after it, so
a tail call lands in the ordinary prologue with the count kept.  A tail call
runs the epilogue without `ret` and branches (`br`) to the target's tail
entry: the target returns to whoever called the function that tail-called.

Running under Unicorn: helper trampolines are `ret`; the runner's hook runs
the Python helper at the slot address, reading x0-x4 and writing x0.  x25,
untouched by the trampoline, is the r10 of the function that called the
helper (`frame_pointer`).  CPU models: the default "armv8-a" runs on
Unicorn's Cortex-A72 (no LSE: atomics are ldxr/stxr loops), "armv8.1-a" on
Unicorn's "max" model, the only arm64 model in Unicorn 2.1 that executes the
LSE atomics (ldadd, cas ...: the A53/A57/A72 models raise an undefined
instruction).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from backends.base import (DATA64, AbiSpec, CodeView, ElfSpec, Emu, EmuIds, Field, Rel,
                           Toolchain, sext)
from backends.aarch64 import enc as E
from backends.aarch64.enc import Gpr
from backends.aarch64.regs import ARG_REGS, CALLEE_SAVED, FP, HOME, RET_REG, name
from jit.frame import round_up
from jit.lir import LirFunc

WORD = 8
STACK_ALIGN = 16
M64 = (1 << 64) - 1

ABI = AbiSpec(word=WORD, stack_align=STACK_ALIGN, incoming=0,
              arg_regs=tuple(name(r) for r in ARG_REGS), ret_regs=(name(RET_REG),),
              callee_saved=tuple(name(r) for r in CALLEE_SAVED) + ("x29", "x30"))

# the callee-saved registers a function may touch, in save order (x25 is r10: never saved)
SAVE_ORDER: tuple = (Gpr.X19, Gpr.X20, Gpr.X21, Gpr.X22, Gpr.X23, Gpr.X24, Gpr.X26, Gpr.X27,
                     Gpr.X28)


class FuncFrame(NamedTuple):
    """A function's frame and the words that build and tear it down."""
    saved: tuple          # native registers, lowest address first
    size: int             # bytes below the caller's sp
    prologue: tuple       # words
    teardown: tuple       # restore and pop (what a tail call runs before `br`)
    epilogue: tuple       # r0 into x0 (if it lives elsewhere), teardown, ret


def saved_registers(f: LirFunc, regmap: tuple, extra: tuple = ()) -> tuple:
    """x30 if the function calls, then the callee-saved homes it touches and the
    callee-saved constant registers it loads (`extra`)."""
    used = {regmap[r] for r in f.regs_used} | set(extra)
    lr = (Gpr.X30,) if f.calls else ()
    return lr + tuple(r for r in SAVE_ORDER if r in used)


def func_frame(f: LirFunc, regmap: tuple, extra: tuple = (), *, c_return: bool = True
               ) -> FuncFrame:
    """`c_return`: the function is called from C (the entry, a callback) and returns r0
    in x0 as AAPCS64 says; a bpf-to-bpf callee leaves x0 alone."""
    saved = saved_registers(f, regmap, extra)
    size = round_up(WORD * len(saved), STACK_ALIGN)
    pro: list[int] = []
    down: list[int] = []
    sp = E.SP
    if saved:
        if len(saved) == 1:
            pro.append(E.str_pre(saved[0], sp, -size))
            down.append(E.ldr_post(saved[0], sp, size))
        else:
            pro.append(E.stp(saved[0], saved[1], sp, -size, "pre"))
            rest = []
            for i in range(2, len(saved), 2):
                if i + 1 < len(saved):
                    pro.append(E.stp(saved[i], saved[i + 1], sp, WORD * i))
                    rest.append(E.ldp(saved[i], saved[i + 1], sp, WORD * i))
                else:
                    pro.append(E.ldst_imm("str_x", saved[i], sp, WORD * i))
                    rest.append(E.ldst_imm("ldr_x", saved[i], sp, WORD * i))
            down = rest + [E.ldp(saved[0], saved[1], sp, size, "post")]
    result = () if regmap[0] == RET_REG or not c_return else (E.mov_reg(RET_REG, regmap[0]),)
    return FuncFrame(saved, size, tuple(pro), tuple(down),
                     result + tuple(down) + (E.ret(),))


# ------------------------------------------------------------------ Unicorn and capstone

EMU = Emu(uc_arch="UC_ARCH_ARM64", uc_mode=("UC_MODE_ARM",), cs_arch="CS_ARCH_ARM64",
          cs_mode=("CS_MODE_ARM",), regs_module="arm64_const", reg_prefix="UC_ARM64_REG_",
          pc="PC", sp="SP")


class RunSpec(EmuIds):
    """How jit.runner drives AArch64 code: AAPCS64 arguments and results.

    With a rotated register map (tests), the entry's r1/r2 go to their rotated
    homes (a rotated program makes no calls); the epilogue returns r0 in x0
    either way."""

    emu = EMU

    def __init__(self, cpu_model: str | None, regmap: tuple = HOME) -> None:
        self.cpu_model = cpu_model
        self.regmap = regmap

    @staticmethod
    def _uc(reg: Gpr) -> int:
        from unicorn import arm64_const
        return getattr(arm64_const, f"UC_ARM64_REG_X{int(reg)}")

    def helper_slot(self) -> bytes:
        return E.ret().to_bytes(4, "little")

    def enter(self, uc: Any, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        sp &= ~(STACK_ALIGN - 1)
        uc.reg_write(self._uc(self.regmap[1]), r1 & M64)
        uc.reg_write(self._uc(self.regmap[2]), r2 & M64)
        uc.reg_write(self._uc(FP), fp & M64)
        uc.reg_write(self._uc(Gpr.X30), sentinel)
        uc.reg_write(self.sp_reg, sp)
        return sp

    def enter_call(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """A call of the eBPF function at `entry` (a helper's callback) as CallLocal
        enters it: x0-x4 = r1..r5, x25 = r10, lr = the sentinel."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(ARG_REGS, args):
            uc.reg_write(self._uc(reg), value & M64)
        uc.reg_write(self._uc(FP), fp & M64)
        uc.reg_write(self._uc(Gpr.X30), sentinel)
        uc.reg_write(self.sp_reg, sp)
        return sp

    def enter_c(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int) -> int:
        """An AAPCS64 call of the C function at `entry`: x0.. = args, lr = the sentinel."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(ARG_REGS, args):
            uc.reg_write(self._uc(reg), value & M64)
        uc.reg_write(self._uc(Gpr.X30), sentinel)
        uc.reg_write(self.sp_reg, sp)
        return sp

    def frame_pointer(self, uc: Any) -> int:
        """r10 of the function calling a helper: x25 (callee-saved, untouched by `blr`)."""
        return uc.reg_read(self._uc(FP)) & M64

    def helper_args(self, uc: Any) -> tuple:
        return tuple(uc.reg_read(self._uc(r)) & M64 for r in ARG_REGS[:5])

    def set_return(self, uc: Any, value: int) -> None:
        uc.reg_write(self._uc(RET_REG), value & M64)

    def result(self, uc: Any) -> int:
        return uc.reg_read(self._uc(RET_REG)) & M64

    def return_address(self, uc: Any) -> int:
        """Inside a helper slot: the address of the JIT code's `blr` (lr is 4 past it)."""
        return (uc.reg_read(self._uc(Gpr.X30)) & M64) - 4


# ------------------------------------------------------------------ ELF (AArch64 psABI)

def _read_imm16(c: CodeView, off: int) -> int:
    return (c.get(off, "I") >> 5) & 0xFFFF


def _write_imm16(c: CodeView, off: int, v: int) -> None:
    c.put(off, "I", c.get(off, "I") & ~(0xFFFF << 5) & 0xFFFF_FFFF | (v & 0xFFFF) << 5)


def _read_imm26(c: CodeView, off: int) -> int:
    return sext(c.get(off, "I"), 26) * 4


def _write_imm26(c: CodeView, off: int, v: int) -> None:
    c.put(off, "I", c.get(off, "I") & 0xFC00_0000 | (v >> 2) & 0x3FF_FFFF)


# bits 20..5 of movz/movk: one 16-bit piece of an absolute address
IMM16_FIELD = Field("a64_imm16", _read_imm16, _write_imm16, split=True)
# bits 25..0 of b/bl: a signed word count
IMM26_FIELD = Field("a64_imm26", _read_imm26, _write_imm26)

EM_AARCH64 = 183
R_AARCH64_ABS64 = 257
R_AARCH64_MOVW_UABS_G0_NC, R_AARCH64_MOVW_UABS_G1, R_AARCH64_MOVW_UABS_G1_NC = 264, 265, 266
R_AARCH64_MOVW_UABS_G2_NC, R_AARCH64_MOVW_UABS_G3 = 268, 269
R_AARCH64_JUMP26, R_AARCH64_CALL26 = 282, 283
ELF = ElfSpec(elfclass=64, machine=EM_AARCH64, flags=0, rela=True, relocs={
    # movz/movk sequences: g1 (checked: the address is below 4 GiB) + g0_nc, or
    # g3 + g2_nc + g1_nc + g0_nc, as GNU as writes #:abs_gN: operands
    "g3": Rel(R_AARCH64_MOVW_UABS_G3, IMM16_FIELD, 48, name="R_AARCH64_MOVW_UABS_G3"),
    "g2_nc": Rel(R_AARCH64_MOVW_UABS_G2_NC, IMM16_FIELD, 32, name="R_AARCH64_MOVW_UABS_G2_NC"),
    "g1": Rel(R_AARCH64_MOVW_UABS_G1, IMM16_FIELD, 16, name="R_AARCH64_MOVW_UABS_G1"),
    "g1_nc": Rel(R_AARCH64_MOVW_UABS_G1_NC, IMM16_FIELD, 16, name="R_AARCH64_MOVW_UABS_G1_NC"),
    "g0_nc": Rel(R_AARCH64_MOVW_UABS_G0_NC, IMM16_FIELD, 0, name="R_AARCH64_MOVW_UABS_G0_NC"),
    "call26": Rel(R_AARCH64_CALL26, IMM26_FIELD, pcrel=True, name="R_AARCH64_CALL26"),    # bl
    "jump26": Rel(R_AARCH64_JUMP26, IMM26_FIELD, pcrel=True, name="R_AARCH64_JUMP26"),    # b
    "abs64": Rel(R_AARCH64_ABS64, DATA64, name="R_AARCH64_ABS64"),
})

# binutils-aarch64-linux-gnu, gcc-aarch64-linux-gnu, qemu-user
TOOLS = Toolchain(triple="aarch64-linux-gnu", as_flags=("-march=armv8.1-a",),
                  llvm_mc=("-triple", "aarch64", "-mattr=+lse"),
                  keystone=("KS_ARCH_ARM64", "KS_MODE_LITTLE_ENDIAN"),
                  clang=("--target=aarch64-linux-gnu",),
                  qemu="qemu-aarch64", host=("aarch64", "arm64"),
                  readelf=("ELF64", "little endian", "AArch64", "0x0"))
