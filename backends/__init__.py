"""The backend registry: architecture names and aliases -> backend packages.

Each backend package exposes `make(**options) -> Backend` (see backends/base.py).
`mips` is resolved by the driver to mips64 or mips64el from the byte order of
the object being compiled, so `bpfjit compile prog.o --arch mips` just works.
"""
from __future__ import annotations

import importlib

from jit.errors import BpfjitError

# name -> (package, fixed options)
ARCHES = {
    "x86_64": ("backends.x86_64", {}),
    "arm32": ("backends.arm32", {}),
    "mips64": ("backends.mips64", {"byteorder": "big"}),
    "mips64el": ("backends.mips64", {"byteorder": "little"}),
}
ALIASES = {"x86-64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "arm": "arm32",
           "armv7": "arm32", "mips64be": "mips64", "mips64le": "mips64el"}
BY_ORDER = {"mips": {"big": "mips64", "little": "mips64el"}}
TARGET_ORDER = {"x86_64": "little", "arm32": "little", "mips64": "big", "mips64el": "little"}
ALL = tuple(ARCHES)


def canonical(name: str, byteorder: str | None = None) -> str:
    """The canonical architecture name; `mips` needs the program's byte order."""
    name = ALIASES.get(name, name)
    if name in BY_ORDER:
        return BY_ORDER[name][byteorder or "big"]
    if name not in ARCHES:
        known = ", ".join(list(ARCHES) + ["mips"])
        raise BpfjitError(f"unknown architecture {name!r} (known: {known})")
    return name


def get(name: str, *, byteorder: str | None = None, **options):
    """Make the backend for `name` (canonical or alias)."""
    arch = canonical(name, byteorder)
    package, fixed = ARCHES[arch]
    module = importlib.import_module(package)
    return module.make(**fixed, **options)
