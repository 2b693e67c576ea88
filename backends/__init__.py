"""The backend registry, built from each backend package's `TARGET` record only.

Adding an architecture is one folder `backends/<arch>/` exporting `TARGET` and one
line in PACKAGES.  Names resolve through the records: a target's `name`, its
`aliases`, and its `order_alias` (several targets sharing one name, chosen by the
byte order of the object being compiled: `bpfjit compile prog.o --arch mips`).
Packages are imported on first use, so `bpfjit --help` imports no backend code
beyond the records.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from backends.base import Backend, Target
from jit.errors import BpfjitError

# One line per backend package (a package may export a tuple of targets: one per byte order).
PACKAGES = (
    "backends.x86_64",
    "backends.arm32",
    "backends.mips64",
    "backends.aarch64",
    "backends.riscv64",
)


@lru_cache(maxsize=None)
def targets() -> tuple[Target, ...]:
    """Every registered target, in registration order."""
    out: list[Target] = []
    for package in PACKAGES:
        t = importlib.import_module(package).TARGET
        out.extend((t,) if isinstance(t, Target) else t)
    return tuple(out)


@lru_cache(maxsize=None)
def _names() -> tuple[dict, dict, dict]:
    by_name = {t.name: t for t in targets()}
    aliases = {a: t.name for t in targets() for a in t.aliases}
    by_order: dict[str, dict[str, str]] = {}
    for t in targets():
        if t.order_alias:
            by_order.setdefault(t.order_alias, {})[t.byteorder] = t.name
    return by_name, aliases, by_order


def names() -> tuple[str, ...]:
    """Canonical names of every target."""
    return tuple(t.name for t in targets())


def order_aliases() -> dict[str, dict[str, str]]:
    """Names that pick a target by byte order: {"mips": {"big": "mips64", ...}}."""
    return _names()[2]


def all_names() -> list[str]:
    """Every name --arch accepts (canonical, by-order names, aliases)."""
    by_name, aliases, by_order = _names()
    return list(by_name) + list(by_order) + list(aliases)


def canonical(name: str, byteorder: str | None = None) -> str:
    """The canonical architecture name; a by-order name needs the program's byte order."""
    by_name, aliases, by_order = _names()
    name = aliases.get(name, name)
    if name in by_order:
        choices = by_order[name]
        return choices.get(byteorder or "big") or next(iter(choices.values()))
    if name not in by_name:
        known = ", ".join(list(by_name) + list(by_order))
        raise BpfjitError(f"unknown architecture {name!r} (known: {known})")
    return name


def target(name: str, byteorder: str | None = None) -> Target:
    """The Target record for `name` (canonical or alias)."""
    return _names()[0][canonical(name, byteorder)]


# options the common lowering reads (a backend ignores them): poison_hi32 (a seed for
# garbage in upper halves nobody reads), no_range_facts (keep the division guards and the
# branches value ranges decide: the differential matrix tests the encoders on them)
LOWERING_OPTIONS = frozenset({"poison_hi32", "no_range_facts"})


def get(name: str, *, byteorder: str | None = None, cpu: str | None = None,
        rotate: int = 0, **options) -> Backend:
    """Make the backend for `name` (canonical or alias) with its options."""
    t = target(name, byteorder)
    unknown = set(options) - LOWERING_OPTIONS
    if unknown:
        raise BpfjitError(f"{t.name}: unknown option(s) {', '.join(sorted(unknown))} "
                          f"(known: cpu, rotate, {', '.join(sorted(LOWERING_OPTIONS))})")
    return t.make(cpu=cpu, rotate=rotate)


def help_text() -> str:
    """The --arch choices, for help texts: one per target plus the by-order names."""
    parts = [t.name for t in targets()]
    for alias, choices in order_aliases().items():
        parts.append(f"{alias} (= {' or '.join(choices.values())} by the object's byte order)")
    return ", ".join(parts)


def __getattr__(attr: str):
    # ALL: canonical names; TARGET_ORDER: name -> byte order (computed from the records)
    if attr == "ALL":
        return names()
    if attr == "TARGET_ORDER":
        return {t.name: t.byteorder for t in targets()}
    raise AttributeError(attr)
