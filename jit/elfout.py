"""Write an Image as a relocatable ELF object (ET_REL) for its target machine.

The object is what an assembler would have written for the same code: `.text`
(the image's code, at address 0), one global STT_FUNC symbol per eBPF function
(and per backend runtime routine), an undefined symbol per helper, map and
global-data area the code refers to, and a relocation section tying each
reference (a `Reloc` of the image) to its symbol.  `objdump -dr`, `readelf`
and a linker read it as they read a compiler's output: linking it at the
image's base address with each symbol at its runner address reproduces
`image.code` byte for byte (tests/test_outputs.py does exactly that).

Relocated fields hold what the ABI says they hold, not the runner's addresses:
zero on RELA machines (x86-64, MIPS64: the addend is in the relocation, as GNU
as writes it) and the addend on REL machines (ARM).  So the object's bytes
differ from the listing's exactly inside relocated fields.

Backends report a reference as `Reloc(offset, kind, sym)` with a kind string of
their own; the target's `ElfSpec.relocs` maps each kind to its psABI relocation type and the
field it occupies.  The addend is not reported: it is recovered from the linked
value the field holds (S + A, or S + A - P), a split address (MIPS %highest ..
%lo, ARM movw/movt) being summed over its pieces first.  Per-machine facts are
data; the writer itself is generic.  This module does not decide what the code
references (backends do) or where symbols live at run time (`jit.driver.linker`).
"""
from __future__ import annotations

import struct
from typing import Callable, NamedTuple

from backends.base import DATA32, DATA64, CodeView, ElfSpec, sext
from jit.driver import linker
from jit.errors import BpfjitError
from jit.image import Image
from jit.lir import Symbol, SymKind


SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_REL = 1, 2, 3, 4, 9
SHF_ALLOC, SHF_EXECINSTR, SHF_INFO_LINK = 0x2, 0x4, 0x40
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_FUNC, STT_SECTION = 0, 2, 3
TEXT, SYMTAB, STRTAB = 1, 4, 5        # section indices (the order write_elf lays them out)


class _Section(NamedTuple):
    name: str
    type: int
    flags: int
    data: bytes
    link: int = 0
    info: int = 0
    align: int = 1
    entsize: int = 0


# ------------------------------------------------------------------ relocations

class _Rel(NamedTuple):
    offset: int
    sym: int            # symbol table index
    rtype: int
    addend: int


def _groups(relocs: list, t: ElfSpec) -> list[list]:
    """Relocs in offset order, a split address's pieces (same symbol, distinct shifts)
    grouped together; every other reference is a group of one."""
    out: list[list] = []
    for r in sorted(relocs, key=lambda r: r.offset):
        spec = t.relocs[r.kind]
        if spec.field.split and out:
            last = out[-1]
            head = t.relocs[last[0].kind]
            if (head.field == spec.field and last[0].sym == r.sym
                    and spec.shift not in {t.relocs[x.kind].shift for x in last}):
                last.append(r)
                continue
        out.append([r])
    return out


def _addend(group: list, t: ElfSpec, code: CodeView, image: Image, s: int, bits: int) -> int:
    """A of S + A: the linked value the group's fields hold, less the symbol's address."""
    first = t.relocs[group[0].kind]
    if first.field.split:
        value = 0
        for r in group:
            spec = t.relocs[r.kind]
            value += spec.field.read(code, r.offset) << spec.shift
        return sext(value - s, bits)
    held = first.field.read(code, group[0].offset)
    if first.pcrel:                     # held = S + A - P
        if first.field is DATA32:
            held = sext(held, 32)
        return held + image.base + group[0].offset - s
    return sext(held - s, 64 if first.field is DATA64 else 32)


def _default_link(image: Image) -> Callable[[Symbol], int]:
    return linker(image.program)


# ------------------------------------------------------------------ the writer

class _Strtab:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.index[s]


def write_elf(image: Image, link: Callable[[Symbol], int] | None = None) -> bytes:
    """A relocatable object (ET_REL) for image.arch, in the target's byte order.

    `link` gives each symbol's address in the image's run (default: the driver's
    linker for the image's program); it is used only to recover addends.
    """
    arch = image.arch
    t = image.backend.target.elf
    order = image.backend.caps.byteorder
    e = "<" if order == "little" else ">"
    is64 = t.elfclass == 64
    bits = t.elfclass
    link = link or _default_link(image)
    code = CodeView(image.code, order)
    strtab = _Strtab()

    # symbols: null, the .text section, then (globals) functions, runtime routines, references
    # (name, value, size, info, shndx)
    syms: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)]
    syms.append((0, 0, 0, STB_LOCAL << 4 | STT_SECTION, TEXT))
    n_local = len(syms)
    defined: dict[str, int] = {}
    for name, off, size in [(f.name, f.offset, f.size) for f in image.funcs] + list(image.runtime):
        defined.setdefault(name, len(syms))
        syms.append((strtab.add(name), off, size, STB_GLOBAL << 4 | STT_FUNC, TEXT))
    undefined: dict[str, int] = {}

    def sym_index(sym: Symbol) -> int:
        if sym.kind == SymKind.FUNC:
            return defined[image.funcs[sym.index].name]
        name = image.symbol_name(sym)
        if name in defined:      # a name that is also one of our functions: keep them apart
            name = f"{name}.ref"
        if name not in undefined:
            undefined[name] = len(syms)
            syms.append((strtab.add(name), 0, 0, STB_GLOBAL << 4 | STT_NOTYPE, 0))
        return undefined[name]

    def address(sym: Symbol) -> int:
        if sym.kind == SymKind.FUNC:
            return image.base + image.funcs[sym.index].offset
        return link(sym)

    for r in image.relocs:
        if r.kind not in t.relocs:
            known = ", ".join(sorted(t.relocs))
            raise BpfjitError(f"{arch}: no ELF relocation for reference kind {r.kind!r} "
                              f"(known: {known})", file=image.program.file)
    relocs: list[_Rel] = []
    for group in _groups(image.relocs, t):
        addend = getattr(group[0], "addend", None)       # if a backend ever reports it
        if addend is None:
            addend = _addend(group, t, code, image, address(group[0].sym), bits)
        for r in group:
            spec = t.relocs[r.kind]
            if not t.rela and spec.field.split and not -0x8000 <= addend < 0x8000:
                raise BpfjitError(f"{arch}: addend {addend:#x} at +{r.offset:#x} does not fit "
                                  f"a REL {spec.field.name} field", file=image.program.file)
            # the field holds what an assembler writes there: 0 for RELA, the addend for REL
            spec.field.write(code, r.offset, 0 if t.rela else addend)
            relocs.append(_Rel(r.offset, sym_index(r.sym), spec.rtype, addend))

    symtab = bytearray()
    for name, value, size, info, shndx in syms:
        if is64:
            symtab += struct.pack(e + "IBBHQQ", name, info, 0, shndx, value, size)
        else:
            symtab += struct.pack(e + "IIIBBH", name, value, size, info, 0, shndx)
    rel = bytearray()
    for off, sidx, rtype, addend in relocs:
        if is64 and t.r_info is not None:
            # a psABI whose 64-bit r_info is not ELF64_R_INFO (the target says how)
            rel += struct.pack(e + "Q", off) + t.r_info(sidx, rtype, order)
        elif is64:
            rel += struct.pack(e + "QQ", off, sidx << 32 | rtype)
        else:
            rel += struct.pack(e + "II", off, sidx << 8 | rtype)
        if t.rela:
            rel += struct.pack(e + ("q" if is64 else "i"), addend)

    word = 8 if is64 else 4
    rel_entsize = (24 if t.rela else 16) if is64 else (12 if t.rela else 8)
    sections = [            # section header indices follow this order (null is 0)
        _Section(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, bytes(code.data), align=16),
        _Section(".rela.text" if t.rela else ".rel.text", SHT_RELA if t.rela else SHT_REL,
                 SHF_INFO_LINK, bytes(rel), link=SYMTAB, info=TEXT, align=word,
                 entsize=rel_entsize),
        # empty: the code needs no executable stack (without it, ld warns)
        _Section(".note.GNU-stack", SHT_PROGBITS, 0, b""),
        _Section(".symtab", SHT_SYMTAB, 0, bytes(symtab), link=STRTAB, info=n_local,
                 align=word, entsize=24 if is64 else 16),
        _Section(".strtab", SHT_STRTAB, 0, bytes(strtab.data)),
    ]
    shstr = _Strtab()
    for sec in sections:
        shstr.add(sec.name)
    shstr.add(".shstrtab")
    sections.append(_Section(".shstrtab", SHT_STRTAB, 0, bytes(shstr.data)))

    ehsize = 64 if is64 else 52
    body = bytearray()
    placed = []
    for sec in sections:
        body += b"\0" * ((-(ehsize + len(body))) % sec.align)
        placed.append(ehsize + len(body))
        body += sec.data
    body += b"\0" * ((-(ehsize + len(body))) % 8)
    shoff = ehsize + len(body)

    shfmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    sh = bytearray(struct.pack(shfmt, *[0] * 10))
    for sec, off in zip(sections, placed):
        sh += struct.pack(shfmt, shstr.index[sec.name], sec.type, sec.flags, 0, off, len(sec.data),
                          sec.link, sec.info, sec.align, sec.entsize)

    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if order == "little" else 2, 1, 0]) + bytes(8)
    hfmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    shentsize = 64 if is64 else 40
    hdr = ident + struct.pack(hfmt, 1, t.machine, 1, 0, 0, shoff, t.flags, ehsize, 0, 0,
                              shentsize, len(sections) + 1, len(sections))
    return bytes(hdr) + bytes(body) + bytes(sh)
