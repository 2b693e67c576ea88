"""Loading clang-built BPF ELF objects the way libbpf does.

This module owns the reading of a `clang -target bpf` relocatable object into
a `jit.program.Object`: which sections hold programs and which program type
each section name means, which symbols are programs and which are
subprograms, how `.text` subprograms are appended to each program that calls
them, and how every relocation becomes what libbpf hands the kernel:

  R_BPF_64_64 on LDDW  to a map (.maps, legacy `maps`)     src=1, imm = map index
                       to global data (.data/.rodata/.bss) src=2, imm = index | offset << 32
                       to a function (callback address)    src=4, imm = slot offset
  R_BPF_64_32 on CALL  to a subprogram                     imm = slot offset in the layout
  no relocation, CALL src=1 inside .text                   the same, relative to the section

Relocation sections are found through sh_info, never by name.  Types, map
definitions and line info come from `jit.btf`.  Nothing here interprets the
instructions beyond the ones relocations point at.

Error policy: anything malformed raises ElfError naming the file (and the
function and pc where known); pyelftools exceptions never escape, and every
section is read whole up front so a truncated file fails here, not later.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable

from jit.btf import Btf, BtfExt, BtfMapDef, Kind, map_def, parse_btf, parse_btf_ext
from jit.errors import BpfjitError, ElfError, IsaError, UnsupportedError
from jit.isa import Insn, decode
from jit.program import Function, LineInfo, MapDef, Object, Program

EM_BPF = 247
ET_REL = 1
SHT_PROGBITS, SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 1, 2, 4, 8, 9
SHF_EXECINSTR = 0x4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3

MAP_TYPE_ARRAY = 2
BPF_F_RDONLY_PROG = 1 << 7
BPF_OBJ_NAME_LEN = 16
MAX_DATA_SECTION = 1 << 26      # a .bss claiming more is corrupt, not a program's globals
INSN = 8


class Reloc(IntEnum):
    """ELF relocation types for EM_BPF (llvm BPFELFObjectWriter; pyelftools only numbers them)."""
    NONE = 0
    R_BPF_64_64 = 1
    R_BPF_64_ABS64 = 2
    R_BPF_64_ABS32 = 3
    R_BPF_64_NODYLD32 = 4
    R_BPF_64_32 = 10


# --------------------------------------------------------------------- section names

# libbpf's section_defs (tools/lib/bpf/libbpf.c) -> our prog_type names, which
# are libbpf's prog_type_name strings.  "x+" matches "x" and "x/anything";
# "x/" matches any "x/..." ; anything else must match exactly.  First match wins,
# so the longer prefixes come first, as in libbpf.
SECTION_TYPES: tuple[tuple[str, str], ...] = (
    ("socket", "socket_filter"),
    ("sk_reuseport/migrate", "sk_reuseport"),
    ("sk_reuseport", "sk_reuseport"),
    ("kprobe+", "kprobe"),
    ("uprobe+", "kprobe"),
    ("uprobe.s+", "kprobe"),
    ("kretprobe+", "kprobe"),
    ("uretprobe+", "kprobe"),
    ("uretprobe.s+", "kprobe"),
    ("kprobe.multi+", "kprobe"),
    ("kretprobe.multi+", "kprobe"),
    ("kprobe.session+", "kprobe"),
    ("uprobe.multi+", "kprobe"),
    ("uretprobe.multi+", "kprobe"),
    ("uprobe.session+", "kprobe"),
    ("uprobe.multi.s+", "kprobe"),
    ("uretprobe.multi.s+", "kprobe"),
    ("uprobe.session.s+", "kprobe"),
    ("ksyscall+", "kprobe"),
    ("kretsyscall+", "kprobe"),
    ("usdt+", "kprobe"),
    ("usdt.s+", "kprobe"),
    ("tc/ingress", "sched_cls"),
    ("tc/egress", "sched_cls"),
    ("tcx/ingress", "sched_cls"),
    ("tcx/egress", "sched_cls"),
    ("tc", "sched_cls"),
    ("classifier", "sched_cls"),
    ("action", "sched_act"),
    ("netkit/primary", "sched_cls"),
    ("netkit/peer", "sched_cls"),
    ("tracepoint+", "tracepoint"),
    ("tp+", "tracepoint"),
    ("raw_tracepoint+", "raw_tracepoint"),
    ("raw_tp+", "raw_tracepoint"),
    ("raw_tracepoint.w+", "raw_tracepoint_writable"),
    ("raw_tp.w+", "raw_tracepoint_writable"),
    ("tp_btf+", "tracing"),
    ("fentry+", "tracing"),
    ("fmod_ret+", "tracing"),
    ("fexit+", "tracing"),
    ("fentry.s+", "tracing"),
    ("fmod_ret.s+", "tracing"),
    ("fexit.s+", "tracing"),
    ("freplace+", "ext"),
    ("lsm+", "lsm"),
    ("lsm.s+", "lsm"),
    ("lsm_cgroup+", "lsm"),
    ("iter+", "tracing"),
    ("iter.s+", "tracing"),
    ("syscall", "syscall"),
    ("xdp.frags/devmap", "xdp"),
    ("xdp/devmap", "xdp"),
    ("xdp.frags/cpumap", "xdp"),
    ("xdp/cpumap", "xdp"),
    ("xdp.frags", "xdp"),
    ("xdp", "xdp"),
    ("perf_event", "perf_event"),
    ("lwt_in", "lwt_in"),
    ("lwt_out", "lwt_out"),
    ("lwt_xmit", "lwt_xmit"),
    ("lwt_seg6local", "lwt_seg6local"),
    ("sockops", "sock_ops"),
    ("sk_skb/stream_parser", "sk_skb"),
    ("sk_skb/stream_verdict", "sk_skb"),
    ("sk_skb/verdict", "sk_skb"),
    ("sk_skb", "sk_skb"),
    ("sk_msg", "sk_msg"),
    ("lirc_mode2", "lirc_mode2"),
    ("flow_dissector", "flow_dissector"),
    ("cgroup_skb/ingress", "cgroup_skb"),
    ("cgroup_skb/egress", "cgroup_skb"),
    ("cgroup/skb", "cgroup_skb"),
    ("cgroup/sock_create", "cgroup_sock"),
    ("cgroup/sock_release", "cgroup_sock"),
    ("cgroup/sock", "cgroup_sock"),
    ("cgroup/post_bind4", "cgroup_sock"),
    ("cgroup/post_bind6", "cgroup_sock"),
    ("cgroup/bind4", "cgroup_sock_addr"),
    ("cgroup/bind6", "cgroup_sock_addr"),
    ("cgroup/connect4", "cgroup_sock_addr"),
    ("cgroup/connect6", "cgroup_sock_addr"),
    ("cgroup/connect_unix", "cgroup_sock_addr"),
    ("cgroup/sendmsg4", "cgroup_sock_addr"),
    ("cgroup/sendmsg6", "cgroup_sock_addr"),
    ("cgroup/sendmsg_unix", "cgroup_sock_addr"),
    ("cgroup/recvmsg4", "cgroup_sock_addr"),
    ("cgroup/recvmsg6", "cgroup_sock_addr"),
    ("cgroup/recvmsg_unix", "cgroup_sock_addr"),
    ("cgroup/getpeername4", "cgroup_sock_addr"),
    ("cgroup/getpeername6", "cgroup_sock_addr"),
    ("cgroup/getpeername_unix", "cgroup_sock_addr"),
    ("cgroup/getsockname4", "cgroup_sock_addr"),
    ("cgroup/getsockname6", "cgroup_sock_addr"),
    ("cgroup/getsockname_unix", "cgroup_sock_addr"),
    ("cgroup/sysctl", "cgroup_sysctl"),
    ("cgroup/getsockopt", "cgroup_sockopt"),
    ("cgroup/setsockopt", "cgroup_sockopt"),
    ("cgroup/dev", "cgroup_device"),
    ("struct_ops+", "struct_ops"),
    ("struct_ops.s+", "struct_ops"),
    ("sk_lookup", "sk_lookup"),
    ("netfilter", "netfilter"),
)


def prog_type_for_section(name: str) -> str:
    """The program type libbpf gives a section name; "raw" when libbpf would not know it."""
    for pattern, ptype in SECTION_TYPES:
        if pattern.endswith("+"):
            base = pattern[:-1]
            if name == base or name.startswith(base + "/"):
                return ptype
        elif pattern.endswith("/"):
            if name.startswith(pattern):
                return ptype
        elif name == pattern:
            return ptype
    return "raw"


def object_name(file: str) -> str:
    """libbpf's bpf_object name: the file's basename up to its first dot."""
    base = os.path.basename(file) or "obj"
    return base.split(".", 1)[0] or "obj"


def internal_map_name(obj_name: str, section: str) -> str:
    """The name libbpf gives the map of a global-data section (libbpf.c internal_map_name).

    As much of the object name as fits before the section name in 15
    characters, the suffix counted as at least 7 wide; a section name with a
    second dot (".rodata.str1.1", ".data.custom") is used alone.
    """
    sfx_len = min(max(7, len(section)), BPF_OBJ_NAME_LEN - 1)
    pfx_len = 0 if "." in section[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = obj_name[:pfx_len] + section[:sfx_len]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def is_data_section(name: str, sh_type: int) -> bool:
    """Sections libbpf turns into one-element array maps."""
    if sh_type == SHT_NOBITS:
        return name == ".bss" or name.startswith(".bss.")
    return name in (".data", ".rodata") or name.startswith((".data.", ".rodata."))


# --------------------------------------------------------------------- raw ELF records

@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    size: int
    info: int
    link: int
    data: bytes            # b"" for NOBITS


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    shndx: int


@dataclass(frozen=True)
class Relocation:
    offset: int
    sym: int
    type: int


@dataclass
class RawElf:
    """Everything load() needs, read once from pyelftools into plain records."""
    byteorder: str
    sections: list[Section]
    symbols: list[Symbol]
    # target section index -> relocations, resolved through sh_info
    relocs: dict[int, list[Relocation]]



def _pyelf_errors() -> tuple[type[BaseException], ...]:
    import struct as _struct
    from elftools.common.exceptions import ELFError, ELFParseError
    from elftools.construct.core import ConstructError
    # what a corrupted object can make pyelftools raise
    return (ELFError, ELFParseError, ConstructError, _struct.error, ValueError, IndexError,
            KeyError, TypeError, AttributeError, OverflowError, UnicodeDecodeError, EOFError,
            MemoryError, RecursionError)


def read_elf(data: bytes, file: str) -> RawElf:
    """Check the ELF header and read every section, symbol and relocation."""
    _check_header(data, file)
    import io
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(data))
        return _read_all(elf, data, file)
    except BpfjitError:
        raise
    except _pyelf_errors() as e:
        raise ElfError(f"corrupted ELF object: {_one_line(e)}", file=file) from None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _check_header(data: bytes, file: str) -> None:
    if len(data) < 4 or data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file", file=file)
    if len(data) < 64:
        raise ElfError(f"truncated ELF header ({len(data)} bytes)", file=file)
    if data[4] != 2:
        raise ElfError(f"not a 64-bit ELF object (EI_CLASS {data[4]}); BPF objects are ELF64",
                       file=file)
    if data[5] not in (1, 2):
        raise ElfError(f"bad ELF byte order (EI_DATA {data[5]})", file=file)
    order = "little" if data[5] == 1 else "big"
    e_type = int.from_bytes(data[16:18], order)
    e_machine = int.from_bytes(data[18:20], order)
    if e_machine != EM_BPF:
        raise ElfError(f"not a BPF object (e_machine {e_machine}, want EM_BPF {EM_BPF})", file=file)
    if e_type != ET_REL:
        raise ElfError(f"not a relocatable object (e_type {e_type}); give the .o clang wrote",
                       file=file)
    shoff = int.from_bytes(data[40:48], order)
    shentsize = int.from_bytes(data[58:60], order)
    shnum = int.from_bytes(data[60:62], order)
    if shnum == 0 or shentsize != 64 or shoff + shnum * shentsize > len(data):
        raise ElfError(f"truncated or corrupted ELF object: the section headers "
                       f"({shnum} x {shentsize} bytes at {shoff}) lie outside the file's "
                       f"{len(data)} bytes", file=file)


def _read_all(elf, data: bytes, file: str) -> RawElf:
    from elftools.elf.enums import (ENUM_SH_TYPE_BASE, ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE,
                                    ENUM_ST_SHNDX)
    order = "little" if elf.little_endian else "big"
    sections: list[Section] = []
    headers = []
    for i, s in enumerate(elf.iter_sections()):
        h = s.header
        sh_type = _num(h.sh_type, ENUM_SH_TYPE_BASE)
        headers.append((s, h, sh_type))
        if sh_type == SHT_NOBITS or sh_type == 0:
            body = b""
        else:
            if h.sh_offset + h.sh_size > len(data):
                raise ElfError(f"truncated ELF object: section {s.name or i!r} "
                               f"({h.sh_size} bytes at {h.sh_offset}) runs past the end of the "
                               f"file ({len(data)} bytes)", file=file)
            body = data[h.sh_offset:h.sh_offset + h.sh_size]
        sections.append(Section(i, s.name, sh_type, h.sh_flags, h.sh_size, h.sh_info,
                                h.sh_link, body))
    symbols: list[Symbol] = []
    relocs: dict[int, list[Relocation]] = {}
    for s, h, sh_type in headers:
        if sh_type == SHT_SYMTAB:
            if symbols:
                raise ElfError("more than one symbol table", file=file)
            if h.sh_entsize != 24:
                raise ElfError(f"symbol table entry size {h.sh_entsize} (want 24)", file=file)
            for j, sym in enumerate(s.iter_symbols()):
                e = sym.entry
                symbols.append(Symbol(j, sym.name, e.st_value, e.st_size,
                                      _num(e.st_info.bind, ENUM_ST_INFO_BIND),
                                      _num(e.st_info.type, ENUM_ST_INFO_TYPE),
                                      _num(e.st_shndx, ENUM_ST_SHNDX)))
    for s, h, sh_type in headers:
        if sh_type == SHT_RELA:
            # BPF objects carry their addends in the instructions (REL); a RELA
            # section would put them elsewhere, and nothing here would read them
            raise ElfError(f"relocation section {s.name!r} is RELA; BPF objects use REL",
                           file=file)
        if sh_type == SHT_REL:
            if not 0 < h.sh_info < len(sections):
                raise ElfError(f"relocation section {s.name!r} applies to section {h.sh_info}, "
                               f"which does not exist", file=file)
            if h.sh_entsize != 16:
                raise ElfError(f"relocation section {s.name!r} has entry size {h.sh_entsize} "
                               f"(want 16)", file=file)
            rels = relocs.setdefault(h.sh_info, [])
            for r in s.iter_relocations():
                e = r.entry
                rels.append(Relocation(e.r_offset, e.r_info_sym, e.r_info_type))
    return RawElf(order, sections, symbols, relocs)


def _num(v, table: dict) -> int:
    """pyelftools hands enum fields back as names where it knows them: back to numbers."""
    if isinstance(v, int):
        return v
    n = table.get(v)
    if not isinstance(n, int):
        raise ElfError(f"unknown ELF enum value {v!r}")
    return n


# --------------------------------------------------------------------- the loader

@dataclass
class _Func:
    """One function's code in its ELF section, before layout."""
    name: str
    section: Section
    start: int                       # slot index inside the section
    end: int
    is_global: bool
    insns: list[Insn] = field(default_factory=list)
    pcs: list[int] = field(default_factory=list)          # slot index inside the function
    # instruction index -> the .text function it calls or takes the address of
    targets: dict[int, "_Func"] = field(default_factory=dict)


@dataclass
class _Loader:
    raw: RawElf
    file: str
    btf: Btf | None = None
    ext: BtfExt | None = None
    maps: list[MapDef] = field(default_factory=list)
    # (section index, byte offset of the map's symbol) -> map index
    map_at: dict[tuple[int, int], int] = field(default_factory=dict)
    # section index -> map index for global data
    data_map: dict[int, int] = field(default_factory=dict)
    text: list[_Func] = field(default_factory=list)

    def err(self, msg: str, **where) -> ElfError:
        return ElfError(msg, file=self.file, **where)


def load(src: str | bytes | bytearray | os.PathLike, *, file: str | None = None) -> Object:
    """Load a BPF ELF object (a path or its bytes) as libbpf would."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        file = file or "<bytes>"
    else:
        file = file or os.fspath(src)
        try:
            with open(src, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ElfError(f"cannot read: {e.strerror or e}", file=file) from None
    raw = read_elf(data, file)
    ld = _Loader(raw, file)
    try:
        return _load(ld)
    except BpfjitError as e:
        raise e.where(file=file)
    except RecursionError:
        raise ElfError("subprogram calls nest too deeply", file=file) from None


def _load(ld: _Loader) -> Object:
    raw = ld.raw
    by_name = {s.name: s for s in raw.sections}
    if ".BTF" in by_name:
        ld.btf = parse_btf(by_name[".BTF"].data)
        if ".BTF.ext" in by_name:
            ld.ext = parse_btf_ext(by_name[".BTF.ext"].data, ld.btf)
    if not raw.symbols and any(_is_code(s) for s in raw.sections):
        raise ld.err("no symbol table: cannot tell programs apart")

    _legacy_maps(ld, by_name.get("maps"))
    _btf_maps(ld, by_name.get(".maps"))
    _data_maps(ld)

    text_sec = by_name.get(".text")
    if text_sec is not None and _is_code(text_sec):
        ld.text = _functions(ld, text_sec)
    prog_secs = [s for s in raw.sections if _is_code(s) and s.name != ".text"]
    entries: list[_Func] = []
    for sec in prog_secs:
        entries.extend(_functions(ld, sec))
    if not prog_secs and ld.text:
        # no SEC() at all: the global functions of .text are the programs
        entries = [f for f in ld.text if f.is_global]
    for f in ld.text:
        _resolve(ld, f)
    for f in entries:
        if f.section.name != ".text":
            _resolve(ld, f)

    license_ = _license(by_name.get("license"))
    programs = [_link(ld, f, license_) for f in entries]
    names = [p.name for p in programs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ld.err(f"more than one program named {sorted(dup)[0]!r}")
    _check_prog_slots(ld, names)
    return Object(file=ld.file, programs=programs, maps=ld.maps, byteorder=raw.byteorder,
                  license=license_)


def _is_code(s: Section) -> bool:
    return s.type == SHT_PROGBITS and bool(s.flags & SHF_EXECINSTR) and s.size > 0


def _license(sec: Section | None) -> str:
    if sec is None:
        return ""
    return sec.data.split(b"\0", 1)[0].decode("ascii", "replace")


# ----------------------------------------------------------------- maps

def _legacy_maps(ld: _Loader, sec: Section | None) -> None:
    """SEC("maps") struct bpf_map_def {type, key_size, value_size, max_entries, map_flags}."""
    if sec is None:
        return
    syms = sorted((s for s in ld.raw.symbols if s.shndx == sec.index and s.name
                   and s.type in (STT_OBJECT, STT_NOTYPE)), key=lambda s: s.value)
    if not syms:
        return
    if sec.type == SHT_NOBITS or sec.size % len(syms):
        raise ld.err(f"legacy maps section: {sec.size} bytes do not divide into {len(syms)} "
                     f"map definitions")
    def_size = sec.size // len(syms)
    if def_size < 20:
        raise ld.err(f"legacy map definitions are {def_size} bytes; struct bpf_map_def needs 20")
    for s in syms:
        if s.value % def_size or s.value + def_size > sec.size:
            raise ld.err(f"legacy map {s.name!r} is not on a {def_size}-byte boundary")
        words = [int.from_bytes(sec.data[s.value + 4 * i:s.value + 4 * i + 4], ld.raw.byteorder)
                 for i in range(5)]
        ld.map_at[(sec.index, s.value)] = len(ld.maps)
        ld.maps.append(MapDef(name=s.name, type=words[0], key_size=words[1],
                              value_size=words[2], max_entries=words[3], flags=words[4]))


def _btf_maps(ld: _Loader, sec: Section | None) -> None:
    """SEC(".maps"): each VAR of DATASEC '.maps' is one map; its symbol gives the offset."""
    if sec is None:
        return
    if ld.btf is None:
        raise ld.err("the .maps section needs BTF (compile with -g)")
    ds = ld.btf.datasec(".maps")
    if ds is None:
        raise ld.err("BTF has no DATASEC '.maps' for the .maps section")
    syms = {s.name: s for s in ld.raw.symbols if s.shndx == sec.index and s.name}
    defs: list[tuple[Symbol, BtfMapDef]] = []
    for v in ds.vars:
        var = ld.btf[v.type]
        if var.kind != Kind.VAR:
            raise ld.err(f"DATASEC '.maps' entry {v.type} is a {var.kind.name}, not a VAR")
        sym = syms.get(var.name)
        if sym is None:
            raise ld.err(f"map {var.name!r} has BTF but no symbol in .maps")
        d = map_def(ld.btf, var.name, var.type)
        ld.map_at[(sec.index, sym.value)] = len(ld.maps)
        ld.maps.append(_mapdef(d))
        defs.append((sym, d))
    _map_initialisers(ld, sec, defs)


def _mapdef(d: BtfMapDef) -> MapDef:
    return MapDef(name=d.name, type=d.type, key_size=d.key_size, value_size=d.value_size,
                  max_entries=d.max_entries, flags=d.map_flags,
                  inner=_mapdef(d.inner) if d.inner else None)


def _map_initialisers(ld: _Loader, sec: Section, defs: list[tuple[Symbol, BtfMapDef]]) -> None:
    """`.values = { [i] = &prog }`: R_BPF_64_ABS64 relocations inside a map's struct."""
    for r in ld.raw.relocs.get(sec.index, []):
        owner = next(((s, d) for s, d in defs if s.value <= r.offset < s.value + max(s.size, 1)),
                      None)
        if owner is None:
            raise ld.err(f".maps relocation at offset {r.offset} is outside every map")
        sym, d = owner
        target = _symbol(ld, r.sym, where=f".maps relocation at offset {r.offset}")
        if d.values_offset is None:
            raise ld.err(f"map {d.name!r}: relocation at offset {r.offset} but the map has no "
                         f"'values' member")
        rel = r.offset - sym.value - d.values_offset
        if rel < 0 or rel % 8:
            raise ld.err(f"map {d.name!r}: initialiser relocation at offset {r.offset} is not "
                         f"a 'values' slot")
        slot = rel // 8
        if slot >= d.max_entries:
            raise ld.err(f"map {d.name!r}: initialiser for slot {slot} is beyond max_entries "
                         f"{d.max_entries}")
        if d.inner is not None:
            raise UnsupportedError(f"map {d.name!r}: map-of-maps initialisers are not supported")
        if target.type != STT_FUNC:
            raise ld.err(f"map {d.name!r}: slot {slot} points at {target.name!r}, "
                         f"which is not a program")
        ld.maps[ld.map_at[(sec.index, sym.value)]].prog_slots[slot] = target.name


def _data_maps(ld: _Loader) -> None:
    obj = object_name(ld.file)
    for sec in ld.raw.sections:
        if not is_data_section(sec.name, sec.type) or sec.size == 0:
            continue
        if sec.type not in (SHT_PROGBITS, SHT_NOBITS) or sec.flags & SHF_EXECINSTR:
            continue
        if sec.size > MAX_DATA_SECTION:
            raise ld.err(f"global data section {sec.name!r} is {sec.size} bytes; "
                         f"at most {MAX_DATA_SECTION} fit one map value")
        initial = bytes(sec.size) if sec.type == SHT_NOBITS else sec.data
        ro = sec.name.startswith(".rodata")
        ld.data_map[sec.index] = len(ld.maps)
        ld.maps.append(MapDef(name=internal_map_name(obj, sec.name), type=MAP_TYPE_ARRAY,
                              key_size=4, value_size=sec.size, max_entries=1,
                              flags=BPF_F_RDONLY_PROG if ro else 0, initial=initial,
                              section=sec.name))


def _check_prog_slots(ld: _Loader, names: list[str]) -> None:
    for m in ld.maps:
        for slot, prog in m.prog_slots.items():
            if prog not in names:
                raise ld.err(f"map {m.name!r}: slot {slot} names {prog!r}, which is not a program")


# ----------------------------------------------------------------- functions and relocations

def _functions(ld: _Loader, sec: Section) -> list[_Func]:
    """The function symbols of a code section, each decoded on its own."""
    if sec.size % INSN:
        raise ld.err(f"section {sec.name!r} is {sec.size} bytes, not a whole number of "
                     f"instructions")
    n_slots = sec.size // INSN
    syms = sorted((s for s in ld.raw.symbols if s.shndx == sec.index and s.type == STT_FUNC),
                  key=lambda s: s.value)
    is_text = sec.name == ".text"
    if not syms:
        if is_text:
            return []
        # hand-written code with no symbols: the whole section is one program
        syms = [Symbol(-1, _sanitize(sec.name), 0, sec.size, STB_GLOBAL, STT_FUNC, sec.index)]
    out = []
    for i, s in enumerate(syms):
        if s.value % INSN or s.value >= sec.size:
            raise ld.err(f"function {s.name!r} starts at byte {s.value} of {sec.name!r}, "
                         f"not on an instruction inside the section")
        if not is_text and s.bind == STB_LOCAL:
            raise ld.err(f"program {s.name!r} in section {sec.name!r} is static; libbpf "
                         f"refuses static programs (make it global)")
        nxt = syms[i + 1].value // INSN if i + 1 < len(syms) else n_slots
        end = (s.value + s.size) // INSN if s.size else nxt
        if end > n_slots or (s.size % INSN):
            raise ld.err(f"function {s.name!r} ({s.size} bytes at {s.value}) runs past the end "
                         f"of {sec.name!r} or is not whole instructions")
        f = _Func(s.name, sec, s.value // INSN, end, s.bind != STB_LOCAL)
        try:
            f.insns = decode(sec.data[f.start * INSN:f.end * INSN], ld.raw.byteorder)
        except IsaError as e:
            raise ld.err(f"invalid instruction: {e.msg}", func=f.name, pc=e.pc) from None
        if not f.insns:
            raise ld.err(f"function {f.name!r} is empty")
        f.pcs = _pcs(f.insns)
        out.append(f)
    for a, b in zip(out, out[1:]):
        if a.end > b.start:
            raise ld.err(f"functions {a.name!r} and {b.name!r} overlap in {sec.name!r}")
    return out


def _pcs(insns: Iterable[Insn]) -> list[int]:
    pcs, pc = [], 0
    for insn in insns:
        pcs.append(pc)
        pc += insn.slots
    return pcs


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "prog"


def _symbol(ld: _Loader, index: int, **where) -> Symbol:
    if not 0 <= index < len(ld.raw.symbols):
        raise ld.err(f"relocation against unknown symbol index {index} "
                     f"(the symbol table has {len(ld.raw.symbols)})", **_loc(where))
    return ld.raw.symbols[index]


def _loc(where: dict) -> dict:
    return {k: v for k, v in where.items() if k in ("func", "pc")}


def _resolve(ld: _Loader, f: _Func) -> None:
    """Apply f's relocations: rewrite map/data LDDWs in place, note call targets."""
    sec = f.section
    index_at = {pc: i for i, pc in enumerate(f.pcs)}
    lo, hi = f.start * INSN, f.end * INSN
    relocated: set[int] = set()
    for r in ld.raw.relocs.get(sec.index, []):
        if not lo <= r.offset < hi:
            continue
        pc = (r.offset - lo) // INSN
        where = dict(func=f.name, pc=pc)
        if r.offset % INSN or pc not in index_at:
            raise ld.err(f"relocation at byte {r.offset} of {sec.name!r} is not at the start of "
                         f"an instruction", **where)
        i = index_at[pc]
        insn = f.insns[i]
        sym = _symbol(ld, r.sym, **where)
        relocated.add(i)
        if r.type == Reloc.R_BPF_64_64 and insn.is_lddw:
            f.insns[i] = _relocate_lddw(ld, f, insn, sym, where, i)
        elif r.type == Reloc.R_BPF_64_32 and insn.is_call:
            _relocate_call(ld, f, insn, sym, where, i)
        else:
            try:
                kind = Reloc(r.type).name
            except ValueError:
                kind = f"type {r.type}"
            raise ld.err(f"unexpected relocation {kind} against {sym.name!r} on opcode "
                         f"0x{insn.opcode:02x}", **where)
    for i, insn in enumerate(f.insns):
        if i in relocated:
            continue
        if insn.is_local_call:
            # a call inside the same section needs no relocation: imm is section-relative
            if sec.name != ".text":
                raise ld.err(f"call to slot {f.start + f.pcs[i] + 1 + insn.imm} of {sec.name!r}: "
                             f"subprograms must live in .text", func=f.name, pc=f.pcs[i])
            f.targets[i] = _text_func(ld, f.start + f.pcs[i] + 1 + insn.imm,
                                      func=f.name, pc=f.pcs[i])
        elif insn.is_lddw and insn.src not in (0,):
            raise ld.err(f"LDDW with src={insn.src} and no relocation", func=f.name, pc=f.pcs[i])


def _relocate_lddw(ld: _Loader, f: _Func, insn: Insn, sym: Symbol, where: dict, i: int) -> Insn:
    if insn.src != 0:
        raise ld.err(f"relocated LDDW already has src={insn.src}", **where)
    if sym.shndx in (SHN_UNDEF, SHN_COMMON) or sym.shndx >= len(ld.raw.sections):
        raise ld.err(f"relocation against undefined symbol {sym.name!r} (extern variables and "
                     f"kernel symbols are not supported)", **where)
    target = ld.raw.sections[sym.shndx]
    key = (target.index, sym.value)
    if key in ld.map_at and sym.type != STT_SECTION:
        return Insn(insn.opcode, insn.dst, 1, 0, ld.map_at[key])
    if target.index in ld.data_map:
        # libbpf: offset = the instruction's own imm plus the symbol's value
        off = _s32(insn.imm) + (0 if sym.type == STT_SECTION else sym.value)
        if not 0 <= off <= target.size:
            raise ld.err(f"reference to {sym.name or target.name!r}+{off} is outside "
                         f"{target.name!r} ({target.size} bytes)", **where)
        return Insn(insn.opcode, insn.dst, 2, 0, (off << 32) | ld.data_map[target.index])
    if _is_code(target):
        if target.name != ".text":
            raise ld.err(f"address of {sym.name!r} in {target.name!r}: callbacks must live "
                         f"in .text", **where)
        byte = sym.value + _s32(insn.imm)
        if byte % INSN:
            raise ld.err(f"function address {byte} is not on an instruction", **where)
        f.targets[i] = _text_func(ld, byte // INSN, **where)
        return Insn(insn.opcode, insn.dst, 4, 0, 0)
    if target.name in ("maps", ".maps"):
        raise ld.err(f"reference to {sym.name!r} in {target.name!r} is not the start of a map",
                     **where)
    raise ld.err(f"relocation against {sym.name or target.name!r} in section {target.name!r}, "
                 f"which holds no map, data or code", **where)


def _relocate_call(ld: _Loader, f: _Func, insn: Insn, sym: Symbol, where: dict, i: int) -> None:
    if sym.shndx in (SHN_UNDEF, SHN_COMMON) or sym.shndx >= len(ld.raw.sections):
        raise UnsupportedError(f"call to extern function {sym.name!r} (kfuncs are not "
                               f"supported)", **where)
    if insn.src != 1:
        raise ld.err(f"relocated call has src={insn.src}, not a bpf-to-bpf call", **where)
    target = ld.raw.sections[sym.shndx]
    if target.name != ".text":
        raise ld.err(f"call to {sym.name!r} in {target.name!r}: subprograms must live in .text",
                     **where)
    # libbpf: sub_insn_idx = sym_off / 8 + imm + 1 (imm is -1 for a global function)
    f.targets[i] = _text_func(ld, sym.value // INSN + _s32(insn.imm) + 1, **where)


def _text_func(ld: _Loader, slot: int, **where) -> _Func:
    for t in ld.text:
        if t.start == slot:
            return t
        if t.start < slot < t.end:
            raise ld.err(f"call into the middle of {t.name!r} (slot {slot})", **where)
    raise ld.err(f"call target slot {slot} of .text is not a function", **where)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


# ----------------------------------------------------------------- layout (libbpf's reloc_code)

def _link(ld: _Loader, entry: _Func, license_: str) -> Program:
    """Entry first, then each subprogram at its first use, depth first, as libbpf appends them."""
    order: list[_Func] = []
    base: dict[int, int] = {}          # id(func) -> first slot in the program
    insns: list[Insn] = []
    total = 0

    def place(f: _Func) -> None:
        nonlocal total
        base[id(f)] = total
        order.append(f)
        start = len(insns)
        insns.extend(f.insns)
        total += f.end - f.start
        for i, callee in sorted(f.targets.items()):
            if id(callee) not in base:
                place(callee)
            insn = f.insns[i]
            rel = base[id(callee)] - (base[id(f)] + f.pcs[i]) - 1
            if insn.is_lddw:
                insns[start + i] = Insn(insn.opcode, insn.dst, 4, 0, rel & 0xFFFFFFFF)
            else:
                insns[start + i] = insn._replace(imm=rel)

    place(entry)
    functions = [Function(f.name, base[id(f)], base[id(f)] + f.end - f.start) for f in order]
    section = entry.section.name
    return Program(name=entry.name, insns=insns, functions=functions,
                   prog_type="raw" if section == ".text" else prog_type_for_section(section),
                   section=section, byteorder=ld.raw.byteorder, file=ld.file,
                   maps=ld.maps, line_info=_line_info(ld, order, base), license=license_)


def _line_info(ld: _Loader, order: list[_Func], base: dict[int, int]) -> list[LineInfo]:
    if ld.ext is None:
        return []
    out: list[LineInfo] = []
    for f in order:
        for rec in ld.ext.line_info.get(f.section.name, []):
            if rec.insn_off % INSN:
                raise ld.err(f"line_info offset {rec.insn_off} is not on an instruction",
                             func=f.name)
            slot = rec.insn_off // INSN
            if f.start <= slot < f.end:
                out.append(LineInfo(base[id(f)] + slot - f.start, rec.file, rec.line, rec.col,
                                    rec.text))
    out.sort(key=lambda li: li.pc)
    return out
