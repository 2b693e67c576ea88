"""Per-target facts for the platform-ABI test: the cross gcc, the qemu-user binary and
the entry shim, and what the psABI promises about sp where a call arrives.

One row per registered target this folder has a shim for (shims/<name>.S); a target
without a row is skipped with the reason.  The gcc and qemu names default to the
registry's Toolchain (Target.tools); a row may override them.
"""
from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):
    shim: str                       # shims/<file>: call_bpf for this target's entry convention
    sp_align: int                   # sp % sp_align == sp_residue in a leaf a call just reached
    sp_residue: int
    cflags: tuple[str, ...] = ()    # beyond the Toolchain's gcc_flags
    ldflags: tuple[str, ...] = ()
    cc: str | None = None           # None: Toolchain.cc() (x86-64: the host's gcc)
    qemu: str | None = None         # None: Toolchain.qemu, or no emulator on its own host


# Static executables everywhere; every address below 2 GiB (the images refer to symbols
# with 32-bit absolute fields: x86-64 R_X86_64_32, MIPS %hi/%lo, ARM movw/movt), hence
# the MIPS64 text segment moved down from its default 0x120000000.
TABLE = {
    "x86_64": Row("x86_64.S", 16, 8, ldflags=("-static", "-no-pie")),
    "arm32": Row("arm32.S", 8, 0, ldflags=("-static",)),
    "mips64": Row("mips64.S", 16, 0, ldflags=("-static", "-Wl,-Ttext-segment=0x10000000")),
    "mips64el": Row("mips64.S", 16, 0, ldflags=("-static", "-Wl,-Ttext-segment=0x10000000")),
}
