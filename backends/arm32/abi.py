"""ARM32 calling conventions, frames, prologues and epilogues, and the Unicorn RunSpec.

Owns: which native registers a function saves, its frame (via jit.frame.plan),
the prologue/epilogue code, how helper and local calls pass eBPF r1-r5 and
get r0 back, and how the runner enters, reads and leaves native code.
Does not own: the register map (regs.py), op lowering (emit.py), encodings.

Every call passes eBPF r1 in r0:r1 and r2 in r2:r3, and r3 and r4 in the
8-byte stack-argument slots at the caller's sp + 0 and + 8 (their homes, so
the caller moves nothing); every function returns r0 in r0:r1 (its home).
Two conventions differ in the rest, chosen per callee:

- **C (AAPCS)**: helpers, the entry function, and any function whose address
  is taken (LDDW src=4: a callback that a helper could call).  r5 is passed
  at the caller's sp + 16 (the fifth 64-bit argument); r4-r11 are preserved.
  The runner's trampolines read exactly this layout.
- **internal**: every other bpf-to-bpf callee.  r5 stays in its home (r4:r5);
  only the homes of eBPF r6-r9 are preserved.  A call is one `bl` after
  loading r1 and r2.

The eBPF stack is not in the native frame: it is the interpreter's STACK
region, each function's r10 where the interpreter puts it.  r10 has no free
register, so it lives in a word slot (upper half 0) that only the prologue
writes.  Every way into a function brings its r10 in ip (the one register
free at every entry: the AAPCS lets a call clobber it, and r0-r3, r4:r5 and
lr carry arguments or the return address):

- the runner's `enter`/`enter_call` (the entry function, a helper's callback)
  set ip = the r10 the runner chose;
- a bpf-to-bpf call: ip = the caller's r10 - the caller's stack depth (the
  bottom of its eBPF frame), loaded from its slot right before `bl`; the
  caller's slot is untouched, so its r10 is back after the call for free;
- a tail call: ip = the slot's value (the target keeps the replaced frame's
  r10), the target address in r2.

A helper reads nothing of it; the runner's `frame_pointer` reads the slot at
the helper trampoline's sp (the caller's: `blx` pushes nothing).  A function
that neither names r10 nor calls anything does not store it.

Frame (every function; offsets from sp after the prologue):

    +---------------------------+ <- caller's sp (CFA)
    | pushed: r4..r11 as needed |   one `push`, lr always (the return address;
    | and lr                    |   lr is also a temporary)
    +---------------------------+
    | padding to 8              |
    +---------------------------+ <- sp + 104
    | r10 (one word, 4 unused)  |   sp + 96: eBPF r10, upper half 0
    | division area  (16)       |   sp + 80: dividend/result, divisor
    | borrow area    (24)       |   sp + 56: pairs saved by long sequences
    | AX, r9, r2, r1 (8 each)   |   sp + 24: spill slots
    +---------------------------+ <- sp + 24
    | stack args r3, r4, r5     |   sp + 0: the homes of r3 and r4, r5 at a C call
    +---------------------------+ <- sp (8-aligned)

Prologue: push; sub sp; str ip (r10); [tail count = 0]; `body`: the arguments
into their homes.  Tail calls: the entry function of a program that makes
tail calls zeroes the tail-call count in its prologue; its `tail_entry`
(where a tail call into the program lands) is emitted after the body: the
same push, sub and r10 store, then a branch past the count store (without a
store, `tail_entry` is the entry).  A tail call frees its own frame exactly
as the epilogue does, with ctx in r0:r1 and r10 in ip, and jumps; the target
returns to whoever called the function that tail-called (r0 in r0:r1 and
r4-r11 preserved, as every function returns), so a tail call from a
subprogram needs nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.base import (DATA32, AbiSpec, CodeView, ElfSpec, Emu, EmuIds, Field, Rel,
                           Toolchain, sext)
from jit.frame import Frame, plan
from jit.lir import R10, CallHelper, CallLocal, LirFunc, TailCall

from .enc import Cond, Reg
from .pairs import E, PairCode
from .regs import (ARG_PAIRS, ARG_SLOT, CALLEE_SAVED, FP_SLOT, IP, LR, OUTGOING, SCRATCH, Pair,
                   RegMap, Slot, T)

WORD = 4
STACK_ALIGN = 8


@dataclass
class FuncPlan:
    """Per-function decisions the emitter needs before emitting its body."""
    index: int
    cabi: bool                  # follows the C convention (see the module docstring)
    saved: tuple                # pushed registers, ascending (lr last)
    frame: Frame
    entry: int                  # label of the normal entry
    body: int                   # label after the tail-count store
    tail_store: bool            # the normal prologue zeroes the tail-call count
    keeps_fp: bool = True       # stores r10 (ip at entry) in its slot
    tail_entry: int | None = None             # label of the tail-call entry, if any

    @property
    def rest(self) -> int:
        """Bytes below the pushed registers."""
        return self.frame.size - WORD * len(self.saved)


def function_uses_local_calls(f: LirFunc) -> bool:
    return any(type(op) is CallLocal for op in f.ops)


def function_needs_fp(f: LirFunc) -> bool:
    """Reads r10, or passes it on: a callee's and a tail call's r10 come from it, and
    a helper that runs a callback has the runner read it (frame_pointer)."""
    return R10 in f.regs_used or any(type(op) in (CallHelper, CallLocal, TailCall)
                                     for op in f.ops)


def plan_function(f: LirFunc, regs: RegMap, *, cabi: bool, entry: int, body: int,
                  tail_store: bool) -> FuncPlan:
    """Choose the saved registers and lay out the frame of one function."""
    if cabi:
        # AAPCS: preserve what we touch; a local callee may clobber any home.
        used = regs.natives(r for r in f.regs_used if r < 10)
        if function_uses_local_calls(f):
            used = set(CALLEE_SAVED)
    else:
        used = regs.natives(r for r in f.regs_used if 6 <= r <= 9)
    saved = tuple(r for r in CALLEE_SAVED if r in used) + (Reg.LR,)
    # the eBPF stack is the STACK region, not part of the native frame
    frame = plan(tuple(reversed(saved)), word=WORD, align=STACK_ALIGN,
                 scratch=SCRATCH, outgoing=OUTGOING)
    return FuncPlan(f.index, cabi, saved, frame, entry, body, tail_store,
                    function_needs_fp(f))


class AbiCode(PairCode):
    """Prologues, epilogues and call sequences (mixed into the emitter)."""

    def prologue(self, fp: FuncPlan, entry_live: int, tail_count_addr: int | None) -> None:
        """Save, allocate the frame, and put the arguments the body reads
        (`entry_live`: halves live at entry, pairs.live_after) in their homes."""
        self.allocate(fp)
        if fp.tail_store:
            # tail count = 0; lr is saved and ip stored, so both are free here
            self.load_addr(IP, tail_count_addr)
            self.w(E.mov_imm(LR, 0), E.str_imm(LR, IP, 0))
        self.buf.bind(fp.body)

        def used(r: int) -> bool:
            return bool(entry_live >> 2 * r & 3)
        # r1, r2 arrive in r0:r1 and r2:r3 (T: it is free once they are stored)
        self.parallel_move([(self.regs[r], p) for r, p in zip((1, 2), ARG_PAIRS) if used(r)])
        if fp.index == 0:
            return                                  # a program's entry takes r1 and r2 only
        for r in (3, 4, 5) if fp.cabi else (3, 4):
            if used(r):
                self.move_from_caller(self.regs[r], ARG_SLOT[r], fp)

    def allocate(self, fp: FuncPlan) -> None:
        """Save, allocate, and keep r10 (ip at every entry) in its slot."""
        self.w(E.push(fp.saved))
        if fp.rest:
            self.dp("sub", Reg.SP, Reg.SP, fp.rest, LR)            # lr is saved: free
        if fp.keeps_fp:
            self.w(E.str_imm(IP, Reg.SP, FP_SLOT))

    def move_from_caller(self, dst, caller_off: int, fp: FuncPlan) -> None:
        """dst = the 8 bytes at the caller's sp + caller_off (an argument slot)."""
        off = fp.frame.size + caller_off
        p = dst if type(dst) is Pair else T
        if off <= E.LDRH_IMM_MAX:
            self.w(E.ldrd_imm(p.lo, p.hi, Reg.SP, off))
        else:
            self.w(E.ldr_imm(p.lo, Reg.SP, off), E.ldr_imm(p.hi, Reg.SP, off + 4))
        if p is T:
            self.w(E.strd_imm(T.lo, T.hi, Reg.SP, dst.off))

    def epilogue(self, fp: FuncPlan) -> None:
        """Return eBPF r0 in r0:r1 (its home, unless the map is rotated)."""
        self.move(ARG_PAIRS[0], self.regs[0])
        self.teardown(fp)
        self.w(E.pop(fp.saved[:-1] + (Reg.PC,)))

    def teardown(self, fp: FuncPlan, scratch: Reg = IP) -> None:
        """Free the frame below the pushed registers.  (Every size up to 1020 that is a
        multiple of 4 is a modified immediate, so `scratch` is only for safety; a
        tail call, which keeps its target in ip, passes lr.)"""
        if fp.rest:
            self.dp("add", Reg.SP, Reg.SP, fp.rest, scratch)

    def tail_entry_stub(self, fp: FuncPlan) -> None:
        """A tail call lands here: the prologue without the count store."""
        self.allocate(fp)
        self.jump(fp.body)

    # ------------------------------------------------------------ calls
    def call_args(self, c_abi: bool) -> None:
        """eBPF r1..r5 where the callee finds them: r1, r2 in r0:r1, r2:r3, r3 and r4
        in the stack-argument slots (their homes), and r5 at [sp, #16] for a C
        callee (an internal one finds it in its home)."""
        for r in (3, 4, 5) if c_abi else (3, 4):
            dst = Slot(ARG_SLOT[r])
            if self.regs[r] != dst:
                self.move(dst, self.regs[r])
        self.parallel_move([(p, self.regs[r]) for r, p in zip((1, 2), ARG_PAIRS)])

    def call_result(self) -> None:
        """eBPF r0 from r0:r1 (nothing to do: that is its home, unless rotated)."""
        if self.regs[0] != ARG_PAIRS[0]:
            self.move(self.regs[0], ARG_PAIRS[0])


# ---------------------------------------------------------------- Unicorn / capstone

def trap_access(write: bool, lo: Reg, hi: Reg, cond: Cond) -> int:
    """The wild-pointer trap (emit.py, "wild pointers"): `ldr/str hi, [lo, -lo]` reads or
    writes address 0, never mapped, with the eBPF address in hi:lo, where
    RunSpec.trap_address finds it.  No other instruction subtracts a base from itself."""
    return (E.str_reg if write else E.ldr_reg)(hi, lo, lo, subtract=True, cond=cond)


# ------------------------------------------------------------------ the emulator and ELF

ABI = AbiSpec(word=WORD, stack_align=STACK_ALIGN, incoming=0,
              arg_regs=("r0", "r1", "r2", "r3"), ret_regs=("r0", "r1"),
              callee_saved=("r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"))

EMU = Emu(uc_arch="UC_ARCH_ARM", uc_mode=("UC_MODE_ARM",), cs_arch="CS_ARCH_ARM",
          cs_mode=("CS_MODE_ARM",), regs_module="arm_const", reg_prefix="UC_ARM_REG_",
          pc="PC", sp="SP")


def _read_movw(c: CodeView, off: int) -> int:
    w = c.get(off, "I")
    return (w >> 4) & 0xF000 | w & 0xFFF


def _write_movw(c: CodeView, off: int, v: int) -> None:
    v &= 0xFFFF
    c.put(off, "I", c.get(off, "I") & 0xFFF0_F000 | (v & 0xF000) << 4 | v & 0xFFF)


def _read_imm24(c: CodeView, off: int) -> int:
    return sext(c.get(off, "I"), 24) * 4


def _write_imm24(c: CodeView, off: int, v: int) -> None:
    c.put(off, "I", c.get(off, "I") & 0xFF00_0000 | (v >> 2) & 0xFF_FFFF)


# imm4:imm12 (bits 19..16, 11..0) of movw/movt, one 16-bit piece of an address
MOVW_FIELD = Field("arm_movw", _read_movw, _write_movw, split=True)
# bits 23..0 of b/bl, a signed word count
IMM24_FIELD = Field("arm_imm24", _read_imm24, _write_imm24)

# ARM: EABI version 5 and the hard-float procedure-call variant (AAPCS-VFP, the
# gnueabihf ABI this code links into).  arm-linux-gnueabihf-as writes 0x05000000 in a .o
# and keeps the float ABI in .ARM.attributes, ld setting 0x400 in what it links; we pass
# no floating-point values, so we state the ABI in e_flags alone.
EM_ARM = 40
EF_ARM_EABI_VER5, EF_ARM_ABI_FLOAT_HARD = 0x0500_0000, 0x400
R_ARM_ABS32, R_ARM_CALL, R_ARM_JUMP24, R_ARM_MOVW_ABS_NC, R_ARM_MOVT_ABS = 2, 28, 29, 43, 44
ELF = ElfSpec(elfclass=32, machine=EM_ARM, flags=EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD,
              rela=False, flags_beyond_gas=EF_ARM_ABI_FLOAT_HARD, relocs={
                  "movw": Rel(R_ARM_MOVW_ABS_NC, MOVW_FIELD, 0, name="R_ARM_MOVW_ABS_NC"),
                  "movt": Rel(R_ARM_MOVT_ABS, MOVW_FIELD, 16, name="R_ARM_MOVT_ABS"),
                  "abs32": Rel(R_ARM_ABS32, DATA32, name="R_ARM_ABS32"),   # a literal-pool word
                  "call": Rel(R_ARM_CALL, IMM24_FIELD, pcrel=True, name="R_ARM_CALL"),      # bl
                  "jump24": Rel(R_ARM_JUMP24, IMM24_FIELD, pcrel=True, name="R_ARM_JUMP24"),  # b
              })

# binutils-arm-linux-gnueabihf, gcc-arm-linux-gnueabihf, qemu-user
TOOLS = Toolchain(triple="arm-linux-gnueabihf", as_flags=("-march=armv7ve", "-EL"),
                  as_prelude=".syntax unified\n.arm\n",
                  llvm_mc=("-triple", "armv7", "-mattr=+hwdiv-arm"),
                  keystone=("KS_ARCH_ARM", "KS_MODE_ARM"),
                  clang=("--target=armv7a-linux-gnueabihf",), gcc_flags=("-marm",),
                  qemu="qemu-arm", host=("armv7l",),
                  readelf=("ELF32", "little endian", "ARM",
                           "0x5000400, Version5 EABI, hard-float ABI"))


def trap_registers(word: int) -> tuple[int, int] | None:
    """(hi, lo) register numbers of a trap_access word, or None for any other word."""
    rn, rt, rm = word >> 16 & 15, word >> 12 & 15, word & 15
    if word & 0x0FE0_0FF0 == 0x0700_0000 and rn == rm:     # ldr/str rt, [rn, -rm], no shift
        return rt, rn
    return None


class RunSpec(EmuIds):
    """How jit.runner drives ARMv7 code in Unicorn (AAPCS, little-endian)."""
    emu = EMU

    def __init__(self, cpu_model: str | None) -> None:
        from unicorn import arm_const
        self.cpu_model = cpu_model
        self._r = [getattr(arm_const, f"UC_ARM_REG_R{i}") for i in range(4)]
        self._lr = arm_const.UC_ARM_REG_LR
        self._ip = arm_const.UC_ARM_REG_R12
        self._regs = [getattr(arm_const, f"UC_ARM_REG_R{i}") for i in range(13)] + [
            self.sp_reg, self._lr]                           # by A32 register number

    def helper_slot(self) -> bytes:
        return E.bx(Reg.LR).to_bytes(4, "little")

    def enter(self, uc: Any, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        """r1 in r0:r1, r2 in r2:r3, r10 = fp in ip (see the module docstring)."""
        r = self._r
        sp &= ~7
        uc.reg_write(self._ip, fp & 0xFFFF_FFFF)
        uc.reg_write(r[0], r1 & 0xFFFF_FFFF)
        uc.reg_write(r[1], (r1 >> 32) & 0xFFFF_FFFF)
        uc.reg_write(r[2], r2 & 0xFFFF_FFFF)
        uc.reg_write(r[3], (r2 >> 32) & 0xFFFF_FFFF)
        uc.reg_write(self._lr, sentinel)
        uc.reg_write(self.sp_reg, sp)
        return sp

    def enter_call(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """A C-convention call of the function at native address `entry` (a helper's
        callback, e.g. bpf_loop's; address-taken functions follow the C convention):
        r1 in r0:r1, r2 in r2:r3, r3..r5 in the stack-argument slots, r10 = fp in ip,
        lr = sentinel."""
        uc.reg_write(self._ip, fp & 0xFFFF_FFFF)
        args = tuple(a & 0xFFFF_FFFF_FFFF_FFFF for a in args) + (0,) * (5 - len(args))
        sp = (sp & ~(STACK_ALIGN - 1)) - 32
        uc.mem_write(sp, b"".join(a.to_bytes(8, "little") for a in args[2:5]))
        r = self._r
        uc.reg_write(r[0], args[0] & 0xFFFF_FFFF)
        uc.reg_write(r[1], args[0] >> 32)
        uc.reg_write(r[2], args[1] & 0xFFFF_FFFF)
        uc.reg_write(r[3], args[1] >> 32)
        uc.reg_write(self._lr, sentinel)
        uc.reg_write(self.sp_reg, sp)
        return sp

    def enter_c(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int) -> int:
        """AAPCS: four word arguments in r0-r3, lr = the return address."""
        sp &= ~(STACK_ALIGN - 1)
        for reg, value in zip(self._r, args):
            uc.reg_write(reg, value & 0xFFFF_FFFF)
        uc.reg_write(self._lr, sentinel)
        uc.reg_write(self.sp_reg, sp)
        return sp

    def frame_pointer(self, uc: Any) -> int:
        """r10 of the function calling a helper: its slot at the trampoline's sp (blx
        pushes nothing, so that is the caller's sp)."""
        sp = uc.reg_read(self.sp_reg)
        return int.from_bytes(uc.mem_read(sp + FP_SLOT, 4), "little")

    def trap_address(self, uc: Any, native: int) -> int | None:
        """The eBPF address of a wild access (upper word not 0) that its check trapped
        at `native` (trap_access: a fault at address 0, the address in hi:lo); None
        for any other faulting instruction.  jit.runner asks it before computing a
        fault's address itself: A32 cannot form an address of more than 32 bits."""
        regs = trap_registers(int.from_bytes(uc.mem_read(native, 4), "little"))
        if regs is None:
            return None
        hi, lo = (uc.reg_read(self._regs[r]) for r in regs)
        return hi << 32 | lo

    def helper_args(self, uc: Any) -> tuple:
        r = [uc.reg_read(x) for x in self._r]
        sp = uc.reg_read(self.sp_reg)
        stack = uc.mem_read(sp, 24)
        rest = tuple(int.from_bytes(stack[i:i + 8], "little") for i in (0, 8, 16))
        return (r[0] | r[1] << 32, r[2] | r[3] << 32) + rest

    def set_return(self, uc: Any, value: int) -> None:
        uc.reg_write(self._r[0], value & 0xFFFF_FFFF)
        uc.reg_write(self._r[1], (value >> 32) & 0xFFFF_FFFF)

    def result(self, uc: Any) -> int:
        return uc.reg_read(self._r[0]) | uc.reg_read(self._r[1]) << 32

    def return_address(self, uc: Any) -> int:
        return uc.reg_read(self._lr)

