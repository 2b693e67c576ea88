"""Write an Image as a relocatable ELF object for its target machine.

The object holds `.text` (the image's code), one STT_FUNC symbol per eBPF
function, undefined symbols for the helpers and maps the code refers to, and a
relocation section tying each reference (Reloc in the image) to its symbol, so
`objdump -dr`, `readelf` and linkers read it as they read a compiler's output.
Per-target facts (ELF class, machine, flags, relocation section kind and
relocation numbers) are data in `TARGETS`; the writer itself is generic.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from jit.errors import BpfjitError
from jit.image import Image
from jit.lir import SymKind


class Target(NamedTuple):
    elfclass: int            # 32 or 64
    machine: int
    flags: int
    rela: bool               # RELA (explicit addends) or REL
    relocs: dict             # Reloc.kind -> (relocation type, addend adjustment)


EM_X86_64, EM_ARM, EM_MIPS = 62, 40, 8
EF_ARM_EABI_VER5, EF_ARM_ABI_FLOAT_HARD = 0x0500_0000, 0x400
EF_MIPS_NOREORDER, EF_MIPS_ARCH_64R2 = 0x1, 0x8000_0000

# relocation numbers: psABI documents for each machine
TARGETS = {
    "x86_64": Target(64, EM_X86_64, 0, True, {
        "pcrel32": (4, -4),        # R_X86_64_PLT32, field = S + A - P with A = -4
        "abs32": (10, 0),          # R_X86_64_32
        "abs32s": (11, 0),         # R_X86_64_32S
        "abs64": (1, 0),           # R_X86_64_64
    }),
    "arm32": Target(32, EM_ARM, EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD, False, {
        "movw": (43, 0),           # R_ARM_MOVW_ABS_NC
        "movt": (44, 0),           # R_ARM_MOVT_ABS
        "abs32": (2, 0),           # R_ARM_ABS32
        "call": (28, 0),           # R_ARM_CALL
    }),
    "mips64": Target(64, EM_MIPS, EF_MIPS_NOREORDER | EF_MIPS_ARCH_64R2, True, {
        "hi16": (5, 0),            # R_MIPS_HI16
        "lo16": (6, 0),            # R_MIPS_LO16
        "higher": (28, 0),         # R_MIPS_HIGHER
        "highest": (29, 0),        # R_MIPS_HIGHEST
        "abs64": (18, 0),          # R_MIPS_64
        "abs32": (2, 0),           # R_MIPS_32
    }),
}
TARGETS["mips64el"] = TARGETS["mips64"]

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_REL = 1, 2, 3, 4, 9
SHF_ALLOC, SHF_EXECINSTR, SHF_INFO_LINK = 0x2, 0x4, 0x40
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_FUNC, STT_SECTION = 0, 2, 3


class _Strtab:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.index[s]


def _sym_name(sym, helper_names: dict) -> str:
    if sym.kind == SymKind.HELPER:
        return f"bpf_{helper_names.get(sym.index, f'helper_{sym.index}')}"
    if sym.kind == SymKind.MAP:
        return f"map_{sym.name}"
    if sym.kind == SymKind.MAP_VALUE:
        return f"data_{sym.name}"
    if sym.kind == SymKind.TAIL_COUNT:
        return "bpf_tail_call_count"
    return sym.name


def write_elf(image: Image) -> bytes:
    """A relocatable object (ET_REL) for image.arch, in the target's byte order."""
    arch = image.arch
    if arch not in TARGETS:
        raise BpfjitError(f"no ELF writer for {arch}")
    t = TARGETS[arch]
    order = image.backend.caps.byteorder
    e = "<" if order == "little" else ">"
    is64 = t.elfclass == 64
    try:
        from jit.helpers import KERNEL
        helper_names = {h.id: h.name for h in KERNEL.values()}
    except ImportError:
        helper_names = {}

    shstr = _Strtab()
    strtab = _Strtab()
    # symbols: null, .text section symbol, then functions, then undefined references
    syms = [(0, 0, 0, 0, 0)]                         # (name, value, size, info, shndx)
    syms.append((0, 0, 0, (STB_LOCAL << 4) | STT_SECTION, 1))
    n_local = len(syms)
    for f in image.funcs:
        syms.append((strtab.add(f.name), f.offset, f.size, (STB_GLOBAL << 4) | STT_FUNC, 1))
    for name, off, size in image.runtime:
        syms.append((strtab.add(name), off, size, (STB_GLOBAL << 4) | STT_FUNC, 1))
    ext_index: dict[str, int] = {}
    relocs = []
    for r in image.relocs:
        if r.kind not in t.relocs:
            raise BpfjitError(f"{arch}: no ELF relocation for reference kind {r.kind!r}")
        if r.sym.kind == SymKind.FUNC:
            target = image.funcs[r.sym.index]
            sidx, addend0 = 1, target.offset          # against the section symbol
        else:
            nm = _sym_name(r.sym, helper_names)
            if nm not in ext_index:
                ext_index[nm] = len(syms)
                syms.append((strtab.add(nm), 0, 0, (STB_GLOBAL << 4) | STT_NOTYPE, 0))
            sidx, addend0 = ext_index[nm], 0
        rtype, adj = t.relocs[r.kind]
        relocs.append((r.offset, sidx, rtype, addend0 + adj + getattr(r, "addend", 0)))

    # symbol table bytes
    symtab = bytearray()
    for name, value, size, info, shndx in syms:
        if is64:
            symtab += struct.pack(e + "IBBHQQ", name, info, 0, shndx, value, size)
        else:
            symtab += struct.pack(e + "IIIBBH", name, value, size, info, 0, shndx)
    # relocation bytes
    rel = bytearray()
    for off, sidx, rtype, addend in relocs:
        if is64:
            if t.machine == EM_MIPS:
                # MIPS64 r_info: r_sym (u32) then r_ssym, r_type3, r_type2, r_type bytes
                info = struct.pack(e + "I", sidx) + bytes([0, 0, 0, rtype])
                rel += struct.pack(e + "Q", off) + info
            else:
                rel += struct.pack(e + "QQ", off, (sidx << 32) | rtype)
            if t.rela:
                rel += struct.pack(e + "q", addend)
        else:
            rel += struct.pack(e + "II", off, (sidx << 8) | rtype)
            if t.rela:
                rel += struct.pack(e + "i", addend)
    # REL targets keep their addend in the field: the code already holds the linked
    # addresses (the bytes the listing shows), which is what a reader disassembles
    code = image.code

    rel_name = ".rela.text" if t.rela else ".rel.text"
    names = ["", ".text", ".symtab", ".strtab", rel_name, ".shstrtab"]
    name_off = [shstr.add(n) for n in names]
    ehsize = 64 if is64 else 52
    shentsize = 64 if is64 else 40
    symentsize = 24 if is64 else 16
    relentsize = (24 if t.rela else 16) if is64 else (12 if t.rela else 8)

    body = bytearray()
    layout = {}

    def place(name: str, data: bytes, align: int) -> None:
        pad = (-(ehsize + len(body))) % align
        body.extend(b"\0" * pad)
        layout[name] = (ehsize + len(body), len(data))
        body.extend(data)

    place(".text", code, 16)
    place(".symtab", bytes(symtab), 8)
    place(".strtab", bytes(strtab.data), 1)
    place(rel_name, bytes(rel), 8)
    place(".shstrtab", bytes(shstr.data), 1)
    pad = (-(ehsize + len(body))) % 8
    body.extend(b"\0" * pad)
    shoff = ehsize + len(body)

    def shdr(name, type_, flags, off, size, link, info, align, entsize) -> bytes:
        if is64:
            return struct.pack(e + "IIQQQQIIQQ", name, type_, flags, 0, off, size, link, info,
                               align, entsize)
        return struct.pack(e + "IIIIIIIIII", name, type_, flags, 0, off, size, link, info,
                           align, entsize)

    sh = bytearray(shdr(0, 0, 0, 0, 0, 0, 0, 0, 0))
    sh += shdr(name_off[1], SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, *layout[".text"], 0, 0, 16, 0)
    sh += shdr(name_off[2], SHT_SYMTAB, 0, *layout[".symtab"], 3, n_local, 8, symentsize)
    sh += shdr(name_off[3], SHT_STRTAB, 0, *layout[".strtab"], 0, 0, 1, 0)
    sh += shdr(name_off[4], SHT_RELA if t.rela else SHT_REL, SHF_INFO_LINK, *layout[rel_name],
               2, 1, 8, relentsize)
    sh += shdr(name_off[5], SHT_STRTAB, 0, *layout[".shstrtab"], 0, 0, 1, 0)

    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if order == "little" else 2, 1, 0]) + bytes(8)
    if is64:
        hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 1, t.machine, 1, 0, 0, shoff, t.flags,
                                  ehsize, 0, 0, shentsize, 6, 5)
    else:
        hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", 1, t.machine, 1, 0, 0, shoff, t.flags,
                                  ehsize, 0, 0, shentsize, 6, 5)
    return bytes(hdr) + bytes(body) + bytes(sh)
