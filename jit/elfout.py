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
their own; `TARGETS` maps each kind to its psABI relocation type and to the
field it occupies.  The addend is not reported: it is recovered from the linked
value the field holds (S + A, or S + A - P), a split address (MIPS %highest ..
%lo, ARM movw/movt) being summed over its pieces first.  Per-machine facts are
data; the writer itself is generic.  This module does not decide what the code
references (backends do) or where symbols live at run time (`jit.driver.linker`).
"""
from __future__ import annotations

import struct
from enum import IntEnum
from typing import Callable, NamedTuple

from jit.errors import BpfjitError
from jit.image import Image
from jit.lir import Symbol, SymKind


class Field(IntEnum):
    """Where a relocated value lives inside the code."""
    DATA32 = 1          # a 32-bit word at the offset (x86 imm32/disp32, ARM literal)
    DATA64 = 2          # a 64-bit word at the offset (x86 movabs imm64)
    MIPS_IMM16 = 3      # bits 15..0 of the instruction word at the offset, sign-extended
    ARM_MOVW = 4        # imm4:imm12 (bits 19..16, 11..0) of movw/movt, zero-extended
    ARM_IMM24 = 5       # bits 23..0 of b/bl, a signed word count


class Rel(NamedTuple):
    """One reference kind of a backend, as the target's psABI relocates it."""
    rtype: int          # relocation type number (R_X86_64_*, R_ARM_*, R_MIPS_*)
    field: Field
    shift: int = 0      # the field holds bits [shift, shift+16) of S + A (a split address)
    pcrel: bool = False  # the field holds S + A - P


class Target(NamedTuple):
    elfclass: int       # 32 or 64
    machine: int        # e_machine
    flags: int          # e_flags
    rela: bool          # RELA (explicit addends) or REL (addends in the fields)
    relocs: dict        # backend Reloc.kind -> Rel


EM_X86_64, EM_ARM, EM_MIPS = 62, 40, 8
# ARM: EABI version 5 and the hard-float procedure-call variant (AAPCS-VFP, the
# gnueabihf ABI this code links into).  arm-linux-gnueabihf-as writes 0x05000000 in a .o
# and keeps the float ABI in .ARM.attributes, ld setting 0x400 in what it links; we pass
# no floating-point values, so we state the ABI in e_flags alone.
EF_ARM_EABI_VER5, EF_ARM_ABI_FLOAT_HARD = 0x0500_0000, 0x400
# MIPS: `mips64-linux-gnuabi64-as -mabi=64 -march=mips64r2` writes EF_MIPS_ARCH_64R2
# (0x80000000), plus EF_MIPS_NOREORDER for `.set noreorder` code, which ours is (it
# fills its own delay slots).  n64 is ELFCLASS64 with no EF_MIPS_ABI bits; neither PIC
# nor CPIC: the code uses absolute addresses.
EF_MIPS_NOREORDER, EF_MIPS_ARCH_64R2 = 0x1, 0x8000_0000

# relocation numbers: the psABI of each machine (and binutils' include/elf/<arch>.h)
R_X86_64_64, R_X86_64_PLT32, R_X86_64_32, R_X86_64_32S = 1, 4, 10, 11
R_ARM_ABS32, R_ARM_CALL, R_ARM_JUMP24, R_ARM_MOVW_ABS_NC, R_ARM_MOVT_ABS = 2, 28, 29, 43, 44
R_MIPS_32, R_MIPS_26, R_MIPS_HI16, R_MIPS_LO16, R_MIPS_64 = 2, 4, 5, 6, 18
R_MIPS_HIGHER, R_MIPS_HIGHEST = 28, 29

TARGETS: dict[str, Target] = {
    "x86_64": Target(64, EM_X86_64, 0, True, {
        "pcrel32": Rel(R_X86_64_PLT32, Field.DATA32, pcrel=True),   # call rel32 (A = -4)
        "abs32": Rel(R_X86_64_32, Field.DATA32),                    # mov r32, imm32 (zero-extends)
        "abs32s": Rel(R_X86_64_32S, Field.DATA32),                  # imm32 sign-extended to 64
        "abs64": Rel(R_X86_64_64, Field.DATA64),                    # movabs r64, imm64
    }),
    "arm32": Target(32, EM_ARM, EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD, False, {
        "movw": Rel(R_ARM_MOVW_ABS_NC, Field.ARM_MOVW, 0),
        "movt": Rel(R_ARM_MOVT_ABS, Field.ARM_MOVW, 16),
        "abs32": Rel(R_ARM_ABS32, Field.DATA32),                    # a literal-pool word
        "call": Rel(R_ARM_CALL, Field.ARM_IMM24, pcrel=True),        # bl
        "jump24": Rel(R_ARM_JUMP24, Field.ARM_IMM24, pcrel=True),    # b
    }),
    "mips64": Target(64, EM_MIPS, EF_MIPS_NOREORDER | EF_MIPS_ARCH_64R2, True, {
        "highest": Rel(R_MIPS_HIGHEST, Field.MIPS_IMM16, 48),       # lui    %highest(S+A)
        "higher": Rel(R_MIPS_HIGHER, Field.MIPS_IMM16, 32),         # daddiu %higher(S+A)
        "hi16": Rel(R_MIPS_HI16, Field.MIPS_IMM16, 16),             # lui/daddiu %hi(S+A)
        "lo16": Rel(R_MIPS_LO16, Field.MIPS_IMM16, 0),              # daddiu %lo(S+A)
        "abs64": Rel(R_MIPS_64, Field.DATA64),
        "abs32": Rel(R_MIPS_32, Field.DATA32),
    }),
}
TARGETS["mips64el"] = TARGETS["mips64"]

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


# ------------------------------------------------------------------ fields

def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class _Code:
    """The code being written, with word access in the target's byte order."""

    def __init__(self, code: bytes, order: str) -> None:
        self.data = bytearray(code)
        self.e = "<" if order == "little" else ">"

    def get(self, off: int, fmt: str) -> int:
        return struct.unpack_from(self.e + fmt, self.data, off)[0]

    def put(self, off: int, fmt: str, v: int) -> None:
        struct.pack_into(self.e + fmt, self.data, off, v)


# Field -> (read the value it holds, write a value into it).  A read is signed where
# the machine sign-extends the field; a write stores the low bits the field has room for.
def _read32(c: _Code, off: int) -> int:
    return c.get(off, "I")


def _write32(c: _Code, off: int, v: int) -> None:
    c.put(off, "I", v & 0xFFFF_FFFF)


def _read64(c: _Code, off: int) -> int:
    return c.get(off, "Q")


def _write64(c: _Code, off: int, v: int) -> None:
    c.put(off, "Q", v & (1 << 64) - 1)


def _read_mips(c: _Code, off: int) -> int:
    return _sext(c.get(off, "I"), 16)


def _write_mips(c: _Code, off: int, v: int) -> None:
    c.put(off, "I", c.get(off, "I") & 0xFFFF_0000 | v & 0xFFFF)


def _read_movw(c: _Code, off: int) -> int:
    w = c.get(off, "I")
    return (w >> 4) & 0xF000 | w & 0xFFF


def _write_movw(c: _Code, off: int, v: int) -> None:
    v &= 0xFFFF
    c.put(off, "I", c.get(off, "I") & 0xFFF0_F000 | (v & 0xF000) << 4 | v & 0xFFF)


def _read_imm24(c: _Code, off: int) -> int:
    return _sext(c.get(off, "I"), 24) * 4


def _write_imm24(c: _Code, off: int, v: int) -> None:
    c.put(off, "I", c.get(off, "I") & 0xFF00_0000 | (v >> 2) & 0xFF_FFFF)


FIELDS: dict[Field, tuple[Callable[[_Code, int], int], Callable[[_Code, int, int], None]]] = {
    Field.DATA32: (_read32, _write32),
    Field.DATA64: (_read64, _write64),
    Field.MIPS_IMM16: (_read_mips, _write_mips),
    Field.ARM_MOVW: (_read_movw, _write_movw),
    Field.ARM_IMM24: (_read_imm24, _write_imm24),
}
SPLIT = frozenset({Field.MIPS_IMM16, Field.ARM_MOVW})    # fields holding one piece of an address


# ------------------------------------------------------------------ relocations

class _Rel(NamedTuple):
    offset: int
    sym: int            # symbol table index
    rtype: int
    addend: int


def _groups(relocs: list, t: Target) -> list[list]:
    """Relocs in offset order, a split address's pieces (same symbol, distinct shifts)
    grouped together; every other reference is a group of one."""
    out: list[list] = []
    for r in sorted(relocs, key=lambda r: r.offset):
        spec = t.relocs[r.kind]
        if spec.field in SPLIT and out:
            last = out[-1]
            head = t.relocs[last[0].kind]
            if (head.field == spec.field and last[0].sym == r.sym
                    and spec.shift not in {t.relocs[x.kind].shift for x in last}):
                last.append(r)
                continue
        out.append([r])
    return out


def _addend(group: list, t: Target, code: _Code, image: Image, s: int, bits: int) -> int:
    """A of S + A: the linked value the group's fields hold, less the symbol's address."""
    first = t.relocs[group[0].kind]
    if first.field in SPLIT:
        value = 0
        for r in group:
            spec = t.relocs[r.kind]
            value += FIELDS[spec.field][0](code, r.offset) << spec.shift
        return _sext(value - s, bits)
    held = FIELDS[first.field][0](code, group[0].offset)
    if first.pcrel:                     # held = S + A - P
        if first.field == Field.DATA32:
            held = _sext(held, 32)
        return held + image.base + group[0].offset - s
    return _sext(held - s, 64 if first.field == Field.DATA64 else 32)


def _default_link(image: Image) -> Callable[[Symbol], int]:
    from jit.driver import linker
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
    if arch not in TARGETS:
        raise BpfjitError(f"no ELF writer for {arch} (have: {', '.join(TARGETS)})",
                          file=image.program.file)
    t = TARGETS[arch]
    order = image.backend.caps.byteorder
    e = "<" if order == "little" else ">"
    is64 = t.elfclass == 64
    bits = t.elfclass
    link = link or _default_link(image)
    code = _Code(image.code, order)
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
            if not t.rela and spec.field == Field.ARM_MOVW and not -0x8000 <= addend < 0x8000:
                raise BpfjitError(f"{arch}: addend {addend:#x} at +{r.offset:#x} does not fit "
                                  "a REL movw/movt field", file=image.program.file)
            # the field holds what an assembler writes there: 0 for RELA, the addend for REL
            FIELDS[spec.field][1](code, r.offset, 0 if t.rela else addend)
            relocs.append(_Rel(r.offset, sym_index(r.sym), spec.rtype, addend))

    symtab = bytearray()
    for name, value, size, info, shndx in syms:
        if is64:
            symtab += struct.pack(e + "IBBHQQ", name, info, 0, shndx, value, size)
        else:
            symtab += struct.pack(e + "IIIBBH", name, value, size, info, 0, shndx)
    rel = bytearray()
    for off, sidx, rtype, addend in relocs:
        if is64 and t.machine == EM_MIPS:
            # MIPS64 r_info is not ELF64_R_INFO: r_sym (a word in the target order), then
            # one byte each for r_ssym, r_type3, r_type2, r_type (binutils elf64-mips.c)
            rel += struct.pack(e + "QIBBBB", off, sidx, 0, 0, 0, rtype)
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
