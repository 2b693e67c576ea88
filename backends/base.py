"""What a backend declares and provides; the only module backends share.

A backend is a package `backends/<arch>/` with `regs.py` (register map),
`enc.py` (pure encoders), `emit.py` (LIR op -> encoder calls) and `abi.py`
(calling convention, prologue/epilogue, and the `RunSpec` the Unicorn runner
uses).  Its `__init__.py` exposes a `Backend` instance built from those.

Common code reads `caps` to decide what to expand for the machine (today:
whether 32-bit ALU results are already zero-extended) and `abi` for the frame
planner.  A backend never sees eBPF bytes, only LIR (`jit.lir`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Protocol

from jit.lir import LirProgram, Symbol


@dataclass(frozen=True)
class Caps:
    """What the machine can do, for the common lowering and the tests."""
    alu32_zext: bool            # a 32-bit ALU op leaves the upper 32 bits zero
    byteorder: str              # "little" or "big"
    word_bits: int              # 64 or 32 (native register width)
    hw_div: bool = True         # a hardware divide exists (else a software routine)
    # operand magnitudes where an encoding changes form (imm8/imm32, imm12, 16-bit imm...):
    # the differential tests sweep +-2^n around each of these
    imm_limits: tuple = ()


@dataclass(frozen=True)
class AbiSpec:
    """Calling-convention facts the frame planner and the runner need."""
    word: int                   # bytes per saved register
    stack_align: int            # sp alignment at a call
    incoming: int               # bytes the call instruction pushes (x86: 8)
    arg_regs: tuple             # native argument registers, in order (names)
    ret_regs: tuple             # native return registers
    callee_saved: tuple         # names


class Reloc(NamedTuple):
    """A place in the code that refers to a symbol (for ELF output)."""
    offset: int
    kind: str                   # "abs64", "pcrel32", "movw", "hi16", ... (see jit/elfout.py TARGETS)
    sym: Symbol


@dataclass
class NativeFunc:
    name: str
    offset: int                 # entry
    size: int
    tail_entry: int             # where a tail call into this (entry) function lands
    start_pc: int


@dataclass
class Compiled:
    """A backend's output for one program, before `jit.image.Image` wraps it."""
    code: bytes
    base: int
    funcs: list                 # NativeFunc, entry first
    pc_map: list                # sorted (native offset, eBPF pc)
    relocs: list = field(default_factory=list)
    passes: int = 0
    runtime: list = field(default_factory=list)   # (name, offset, size) of backend runtime routines


class RunSpec(Protocol):
    """How the Unicorn runner drives this machine (all methods take a Uc instance)."""
    uc_arch: int
    uc_mode: int
    uc_cpu: int | None
    cs_arch: int
    cs_mode: int
    pc_reg: int
    sp_reg: int

    def helper_slot(self) -> bytes:
        """Machine code of one trampoline slot: returns to the caller (the hook runs first)."""

    def enter(self, uc: Any, entry: int, sp: int, r1: int, r2: int, sentinel: int,
              fp: int) -> int:
        """Set up a call of `entry` with eBPF r1/r2, r10 = `fp` and a return to `sentinel`;
        returns sp."""

    def helper_args(self, uc: Any) -> tuple:
        """eBPF r1..r5 as a helper trampoline sees them (read per the C ABI)."""

    def set_return(self, uc: Any, value: int) -> None:
        """Write a helper's 64-bit result where the C ABI returns it."""

    def result(self, uc: Any) -> int:
        """eBPF r0 when the program returned to the sentinel."""

    def enter_call(self, uc: Any, entry: int, sp: int, args: tuple, sentinel: int,
                   fp: int) -> int:
        """Set up a call of the eBPF function at `entry` as a bpf-to-bpf call would enter
        it, with eBPF r1..r5 = args and r10 = `fp`, returning to `sentinel`; returns sp.
        The runner uses it for helpers that call back into the program (bpf_loop)."""

    # Optional: trap_address(uc, native) -> int | None, the eBPF address of a wild access
    # the backend's own check trapped at `native` (an address its machine cannot form).

    def frame_pointer(self, uc: Any) -> int:
        """eBPF r10 of the function whose helper call is being served (read in the
        helper trampoline)."""


class Backend(Protocol):
    name: str
    caps: Caps
    abi: AbiSpec
    run: RunSpec

    def compile(self, lir: LirProgram, *, link: Callable[[Symbol], int], base: int,
                options: dict | None = None) -> Compiled:
        """Emit machine code for `lir` loaded at `base`; `link` gives symbol addresses."""

