"""Every error bpfjit reports on purpose.

One base class, `BpfjitError`, carries where the problem is (file, function,
eBPF pc) so the CLI can print it as a single line and exit 2.  This module owns
the wording of that line; it does not decide exit codes (cli.py does).
"""
from __future__ import annotations


class BpfjitError(Exception):
    """A problem with the input or a limit that was hit: never a bug in bpfjit."""

    def __init__(self, msg: str, *, file: str | None = None, func: str | None = None,
                 pc: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.file = file
        self.func = func
        self.pc = pc

    def where(self, *, file: str | None = None, func: str | None = None,
              pc: int | None = None) -> "BpfjitError":
        """Fill in location fields that are still unknown; returns self for `raise e.where(...)`."""
        if self.file is None:
            self.file = file
        if self.func is None:
            self.func = func
        if self.pc is None:
            self.pc = pc
        return self

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(self.file)
        if self.func is not None:
            parts.append(self.func)
        if self.pc is not None:
            parts.append(f"pc {self.pc}")
        parts.append(self.msg)
        return ": ".join(parts)


class IsaError(BpfjitError):
    """Bytecode that is not valid eBPF (unknown opcode, reserved field set, truncated LDDW)."""


class AsmError(BpfjitError):
    """Assembler text that does not parse."""


class ElfError(BpfjitError):
    """An object file that cannot be loaded."""


class CheckError(BpfjitError):
    """A program that the safety checks reject."""


class EncodingError(BpfjitError):
    """An operand that does not fit the machine instruction field it is meant for."""


class UnsupportedError(BpfjitError):
    """A helper, map type or feature that bpfjit does not implement (never a silent wrong result)."""


class RunError(BpfjitError):
    """A run that stopped abnormally: budget exhausted, bad helper use, limits."""


class MemoryFault(RunError):
    """An access outside the program's regions, or against a region's permissions."""

    def __init__(self, kind: str, addr: int, size: int, *, pc: int | None = None,
                 native_pc: int | None = None, file: str | None = None,
                 func: str | None = None) -> None:
        super().__init__(f"{kind} fault at 0x{addr:x} ({size} bytes)", file=file, func=func, pc=pc)
        self.kind = kind  # "read" or "write"
        self.addr = addr
        self.size = size
        self.native_pc = native_pc
