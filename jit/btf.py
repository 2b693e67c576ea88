"""BTF and BTF.ext: the type information clang writes beside a BPF program.

This module owns the binary layout of the `.BTF` section (header, type
records of every kind, string table) and of `.BTF.ext` (func_info and
line_info records), in either byte order, and two readings of them that a
loader needs: the BTF-defined map definitions of the `.maps` section
(libbpf's `__uint`/`__type`/`__array` encoding) and source lines per
instruction.  It does not know ELF: `jit.elf` hands it section bytes and
decides which symbol and which relocation mean what.

`Btf.dump_raw()` prints the types exactly as `bpftool btf dump file X format
raw` does, so the committed bpftool dumps beside the fixtures are an oracle.

Layout (include/uapi/linux/btf.h):

    header   u16 magic 0xEB9F | u8 version | u8 flags | u32 hdr_len
             u32 type_off | u32 type_len | u32 str_off | u32 str_len
    type     u32 name_off | u32 info (vlen:16, kind:5 @24, kind_flag @31)
             u32 size_or_type | kind-specific trailer
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from jit.errors import ElfError

BTF_MAGIC = 0xEB9F


class Kind(IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# Kinds whose third header word is a size (the rest: a referenced type id).
_SIZED = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC,
                    Kind.FLOAT, Kind.ENUM64})
# Kinds that only qualify or rename the type they point at.
_MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
                        Kind.TYPE_TAG})

INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4


@dataclass(frozen=True)
class Member:
    """A struct/union member, a function parameter (bit_offset unused) or an enum value."""
    name: str
    type: int = 0
    bit_offset: int = 0
    bitfield_size: int = 0
    value: int = 0


@dataclass(frozen=True)
class SecVar:
    """One variable of a DATASEC."""
    type: int
    offset: int
    size: int


@dataclass(frozen=True)
class Type:
    id: int
    kind: Kind
    name: str
    kind_flag: bool = False
    vlen: int = 0
    size: int = 0                  # sized kinds
    type: int = 0                  # referencing kinds (PTR, TYPEDEF, FUNC, VAR, ...), FUNC_PROTO return
    # INT
    encoding: int = 0
    bits_offset: int = 0
    nr_bits: int = 0
    # ARRAY
    index_type: int = 0
    nelems: int = 0
    # STRUCT/UNION members, FUNC_PROTO params, ENUM/ENUM64 values
    members: tuple[Member, ...] = ()
    # DATASEC
    vars: tuple[SecVar, ...] = ()
    # VAR linkage (FUNC keeps its linkage in vlen), DECL_TAG component index
    linkage: int = 0
    component_idx: int = 0


VOID = Type(0, Kind.UNKN, "void")


class Btf:
    """A parsed `.BTF` section: `types[id]`, id 0 being void."""

    def __init__(self, types: list[Type], strings: bytes, byteorder: str) -> None:
        self.types = types
        self.strings = strings
        self.byteorder = byteorder

    def __len__(self) -> int:
        return len(self.types)

    def __getitem__(self, type_id: int) -> Type:
        if not 0 <= type_id < len(self.types):
            raise ElfError(f"BTF type id {type_id} does not exist (the object has {len(self.types) - 1})")
        return self.types[type_id]

    def string(self, off: int) -> str:
        return _cstr(self.strings, off, "BTF string")

    def skip_mods(self, type_id: int) -> Type:
        """The type behind typedefs and qualifiers."""
        seen = 0
        t = self[type_id]
        while t.kind in _MODIFIERS:
            t = self[t.type]
            seen += 1
            if seen > len(self.types):
                raise ElfError(f"BTF type {type_id} is a cycle of typedefs/qualifiers")
        return t

    def size_of(self, type_id: int) -> int:
        """Byte size of a type, as libbpf's btf__resolve_size computes it."""
        t = self.skip_mods(type_id)
        depth = 0
        mult = 1
        while True:
            if t.kind in _SIZED:
                return mult * t.size
            if t.kind == Kind.PTR:
                return mult * 8
            if t.kind == Kind.ARRAY:
                mult *= t.nelems
                t = self.skip_mods(t.type)
            elif t.kind == Kind.VAR:
                t = self.skip_mods(t.type)
            else:
                raise ElfError(f"BTF type {type_id} ({t.kind.name} {t.name!r}) has no size")
            depth += 1
            if depth > 32:
                raise ElfError(f"BTF type {type_id} nests too deeply")

    def find(self, name: str, kind: Kind) -> Type | None:
        for t in self.types:
            if t.kind == kind and t.name == name:
                return t
        return None

    def datasec(self, name: str) -> Type | None:
        return self.find(name, Kind.DATASEC)

    # ---------------------------------------------------------------- bpftool format

    def dump_raw(self) -> str:
        """Every type, one record per line group, exactly as `bpftool btf dump ... format raw`."""
        return "".join(self._dump_one(t) + "\n" for t in self.types[1:])

    def _dump_one(self, t: Type) -> str:
        head = f"[{t.id}] {t.kind.name} '{t.name or '(anon)'}'"
        return head + _DUMPERS.get(t.kind, _dump_nothing)(self, t)


def _dump_nothing(btf: Btf, t: Type) -> str:
    return ""


def _dump_int(btf: Btf, t: Type) -> str:
    enc = {0: "(none)", INT_SIGNED: "SIGNED", INT_CHAR: "CHAR", INT_BOOL: "BOOL"}.get(t.encoding, "UNKN")
    return f" size={t.size} bits_offset={t.bits_offset} nr_bits={t.nr_bits} encoding={enc}"


def _dump_ref(btf: Btf, t: Type) -> str:
    return f" type_id={t.type}"


def _dump_array(btf: Btf, t: Type) -> str:
    return f" type_id={t.type} index_type_id={t.index_type} nr_elems={t.nelems}"


def _dump_composite(btf: Btf, t: Type) -> str:
    out = f" size={t.size} vlen={t.vlen}"
    for m in t.members:
        out += f"\n\t'{m.name or '(anon)'}' type_id={m.type} bits_offset={m.bit_offset}"
        if m.bitfield_size:
            out += f" bitfield_size={m.bitfield_size}"
    return out


def _dump_enum(btf: Btf, t: Type) -> str:
    out = f" encoding={'SIGNED' if t.kind_flag else 'UNSIGNED'} size={t.size} vlen={t.vlen}"
    wide = t.kind == Kind.ENUM64
    for m in t.members:
        suffix = ("LL" if t.kind_flag else "ULL") if wide else ""
        out += f"\n\t'{m.name or '(anon)'}' val={m.value}{suffix}"
    return out


def _dump_fwd(btf: Btf, t: Type) -> str:
    return f" fwd_kind={'union' if t.kind_flag else 'struct'}"


_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def _dump_func(btf: Btf, t: Type) -> str:
    return f" type_id={t.type} linkage={_LINKAGE.get(t.vlen, '(unknown)')}"


def _dump_proto(btf: Btf, t: Type) -> str:
    out = f" ret_type_id={t.type} vlen={t.vlen}"
    for p in t.members:
        out += f"\n\t'{p.name or '(anon)'}' type_id={p.type}"
    return out


def _dump_var(btf: Btf, t: Type) -> str:
    return f" type_id={t.type}, linkage={_LINKAGE.get(t.linkage, '(unknown)')}"


def _dump_datasec(btf: Btf, t: Type) -> str:
    out = f" size={t.size} vlen={t.vlen}"
    for v in t.vars:
        name = btf.types[v.type].name if 0 < v.type < len(btf.types) else "(invalid)"
        out += f"\n\ttype_id={v.type} offset={v.offset} size={v.size} (VAR '{name}')"
    return out


def _dump_float(btf: Btf, t: Type) -> str:
    return f" size={t.size}"


def _dump_decl_tag(btf: Btf, t: Type) -> str:
    return f" type_id={t.type} component_idx={t.component_idx}"


_DUMPERS = {
    Kind.INT: _dump_int,
    Kind.PTR: _dump_ref, Kind.CONST: _dump_ref, Kind.VOLATILE: _dump_ref,
    Kind.RESTRICT: _dump_ref, Kind.TYPEDEF: _dump_ref, Kind.TYPE_TAG: _dump_ref,
    Kind.ARRAY: _dump_array,
    Kind.STRUCT: _dump_composite, Kind.UNION: _dump_composite,
    Kind.ENUM: _dump_enum, Kind.ENUM64: _dump_enum,
    Kind.FWD: _dump_fwd,
    Kind.FUNC: _dump_func,
    Kind.FUNC_PROTO: _dump_proto,
    Kind.VAR: _dump_var,
    Kind.DATASEC: _dump_datasec,
    Kind.FLOAT: _dump_float,
    Kind.DECL_TAG: _dump_decl_tag,
}


# --------------------------------------------------------------------- parsing

def _cstr(blob: bytes, off: int, what: str) -> str:
    if not 0 <= off < len(blob):
        if off == 0 and not blob:
            return ""
        raise ElfError(f"{what} offset {off} is outside the string table ({len(blob)} bytes)")
    end = blob.find(b"\0", off)
    if end < 0:
        raise ElfError(f"{what} at offset {off} is not NUL-terminated")
    return blob[off:end].decode("utf-8", "replace")


def _byteorder(data: bytes, what: str) -> str:
    if len(data) < 4:
        raise ElfError(f"{what} is truncated ({len(data)} bytes)")
    if data[:2] == b"\x9f\xeb":
        return "little"
    if data[:2] == b"\xeb\x9f":
        return "big"
    raise ElfError(f"{what} has a bad magic 0x{data[0]:02x}{data[1]:02x} (want 0xeb9f)")


class _Reader:
    """Bounds-checked little/big-endian u32 reads over one blob."""

    def __init__(self, data: bytes, order: str, what: str) -> None:
        self.data = data
        self.pfx = "<" if order == "little" else ">"
        self.what = what

    def words(self, off: int, n: int) -> tuple[int, ...]:
        if off < 0 or off + 4 * n > len(self.data):
            raise ElfError(f"{self.what} is truncated: record at byte {off} runs past the end "
                           f"({len(self.data)} bytes)")
        return struct.unpack_from(f"{self.pfx}{n}I", self.data, off)


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def parse_btf(data: bytes) -> Btf:
    """Parse a `.BTF` section (either byte order); raises ElfError on anything malformed."""
    order = _byteorder(data, ".BTF")
    rd = _Reader(data, order, ".BTF")
    if len(data) < 24:
        raise ElfError(f".BTF is truncated ({len(data)} bytes, the header alone is 24)")
    version = data[2]
    if version != 1:
        raise ElfError(f".BTF version {version} is not supported (want 1)")
    hdr_len, type_off, type_len, str_off, str_len = rd.words(4, 5)
    if hdr_len < 24 or hdr_len > len(data):
        raise ElfError(f".BTF header length {hdr_len} is invalid")
    t0, s0 = hdr_len + type_off, hdr_len + str_off
    if t0 + type_len > len(data) or s0 + str_len > len(data):
        raise ElfError(".BTF is truncated: the type or string section runs past the end")
    strings = data[s0:s0 + str_len]
    types: list[Type] = [VOID]
    off, end = t0, t0 + type_len
    while off < end:
        t, off = _parse_type(rd, strings, off, len(types))
        types.append(t)
    if off != end:
        raise ElfError(".BTF type section length does not match its records")
    return Btf(types, strings, order)


def _parse_type(rd: _Reader, strings: bytes, off: int, tid: int) -> tuple[Type, int]:
    name_off, info, size_type = rd.words(off, 3)
    off += 12
    vlen = info & 0xFFFF
    raw_kind = (info >> 24) & 0x1F
    kflag = bool(info >> 31)
    try:
        kind = Kind(raw_kind)
    except ValueError:
        raise ElfError(f".BTF type [{tid}] has unknown kind {raw_kind}") from None
    name = _cstr(strings, name_off, f".BTF type [{tid}] name")
    common = dict(id=tid, kind=kind, name=name, kind_flag=kflag, vlen=vlen)
    if kind in _SIZED:
        common["size"] = size_type
    else:
        common["type"] = size_type

    def field_name(o: int) -> str:
        return _cstr(strings, o, f".BTF type [{tid}] member name")

    if kind == Kind.INT:
        (v,) = rd.words(off, 1)
        return Type(**common, encoding=(v >> 24) & 0xF, bits_offset=(v >> 16) & 0xFF,
                    nr_bits=v & 0xFF), off + 4
    if kind == Kind.ARRAY:
        elem, index, nelems = rd.words(off, 3)
        common["type"] = elem
        return Type(**common, index_type=index, nelems=nelems), off + 12
    if kind in (Kind.STRUCT, Kind.UNION):
        ws = rd.words(off, 3 * vlen)
        members = []
        for i in range(vlen):
            n, ty, o = ws[3 * i:3 * i + 3]
            bits, bsize = (o & 0xFFFFFF, o >> 24) if kflag else (o, 0)
            members.append(Member(field_name(n), ty, bits, bsize))
        return Type(**common, members=tuple(members)), off + 12 * vlen
    if kind == Kind.ENUM:
        ws = rd.words(off, 2 * vlen)
        vals = tuple(Member(field_name(ws[2 * i]),
                            value=_s32(ws[2 * i + 1]) if kflag else ws[2 * i + 1])
                     for i in range(vlen))
        return Type(**common, members=vals), off + 8 * vlen
    if kind == Kind.ENUM64:
        ws = rd.words(off, 3 * vlen)
        vals = []
        for i in range(vlen):
            n, lo, hi = ws[3 * i:3 * i + 3]
            v = hi << 32 | lo
            if kflag and v >> 63:
                v -= 1 << 64
            vals.append(Member(field_name(n), value=v))
        return Type(**common, members=tuple(vals)), off + 12 * vlen
    if kind == Kind.FUNC_PROTO:
        ws = rd.words(off, 2 * vlen)
        params = tuple(Member(field_name(ws[2 * i]), ws[2 * i + 1]) for i in range(vlen))
        return Type(**common, members=params), off + 8 * vlen
    if kind == Kind.VAR:
        (linkage,) = rd.words(off, 1)
        return Type(**common, linkage=linkage), off + 4
    if kind == Kind.DATASEC:
        ws = rd.words(off, 3 * vlen)
        vs = tuple(SecVar(*ws[3 * i:3 * i + 3]) for i in range(vlen))
        return Type(**common, vars=vs), off + 12 * vlen
    if kind == Kind.DECL_TAG:
        (idx,) = rd.words(off, 1)
        return Type(**common, component_idx=_s32(idx)), off + 4
    # PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG: no trailer
    return Type(**common), off


# --------------------------------------------------------------------- BTF.ext

@dataclass(frozen=True)
class FuncInfo:
    insn_off: int          # BYTE offset inside the ELF section
    type_id: int           # a FUNC


@dataclass(frozen=True)
class LineRec:
    insn_off: int          # BYTE offset inside the ELF section
    file: str
    text: str
    line: int
    col: int


@dataclass(frozen=True)
class BtfExt:
    """func_info and line_info per ELF section name."""
    func_info: dict[str, list[FuncInfo]]
    line_info: dict[str, list[LineRec]]


def parse_btf_ext(data: bytes, btf: Btf) -> BtfExt:
    """Parse `.BTF.ext`; names and source lines are resolved through `btf`'s strings."""
    order = _byteorder(data, ".BTF.ext")
    rd = _Reader(data, order, ".BTF.ext")
    if len(data) < 8:
        raise ElfError(f".BTF.ext is truncated ({len(data)} bytes)")
    (hdr_len,) = rd.words(4, 1)
    if hdr_len < 24 or hdr_len > len(data):
        raise ElfError(f".BTF.ext header length {hdr_len} is invalid")
    fi_off, fi_len, li_off, li_len = rd.words(8, 4)
    funcs = {sec: [FuncInfo(w[0], w[1]) for w in recs]
             for sec, recs in _ext_blocks(rd, btf, hdr_len + fi_off, fi_len, 8, "func_info").items()}
    lines = {sec: [LineRec(w[0], btf.string(w[1]), btf.string(w[2]), w[3] >> 10, w[3] & 0x3FF)
                   for w in recs]
             for sec, recs in _ext_blocks(rd, btf, hdr_len + li_off, li_len, 16, "line_info").items()}
    return BtfExt(funcs, lines)


def _ext_blocks(rd: _Reader, btf: Btf, start: int, length: int, min_rec: int,
                what: str) -> dict[str, list[tuple[int, ...]]]:
    """One info subsection: u32 rec_size, then {sec_name_off, num_info, records...} blocks."""
    out: dict[str, list[tuple[int, ...]]] = {}
    if length == 0:
        return out
    if start + length > len(rd.data):
        raise ElfError(f".BTF.ext {what} runs past the end of the section")
    (rec_size,) = rd.words(start, 1)
    if rec_size < min_rec or rec_size % 4:
        raise ElfError(f".BTF.ext {what} record size {rec_size} is invalid")
    off, end = start + 4, start + length
    while off < end:
        sec_off, n = rd.words(off, 2)
        off += 8
        if off + n * rec_size > end:
            raise ElfError(f".BTF.ext {what} block claims {n} records past the end")
        recs = out.setdefault(btf.string(sec_off), [])
        for i in range(n):
            recs.append(rd.words(off + i * rec_size, min_rec // 4))
        off += n * rec_size
    return out


# --------------------------------------------------------------------- .maps definitions

@dataclass(frozen=True)
class BtfMapDef:
    """One BTF-defined map, as libbpf's parse_btf_map_def reads it."""
    name: str
    type: int = 0
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    map_flags: int = 0
    numa_node: int = 0
    pinning: int = 0
    map_extra: int = 0
    key_type: int = 0
    value_type: int = 0
    inner: "BtfMapDef | None" = None
    # byte offset of the `values` member inside the map's struct: where
    # prog-array / map-in-map initialiser pointers (relocations) live
    values_offset: int | None = None


MAP_TYPE_PROG_ARRAY = 3
_MAP_IN_MAP = frozenset({12, 13})     # ARRAY_OF_MAPS, HASH_OF_MAPS

_INT_FIELDS = {"type": "type", "max_entries": "max_entries", "map_flags": "map_flags",
               "numa_node": "numa_node", "key_size": "key_size", "value_size": "value_size",
               "pinning": "pinning", "map_extra": "map_extra"}


def map_def(btf: Btf, name: str, type_id: int) -> BtfMapDef:
    """Read a map definition struct (the type of a VAR in DATASEC '.maps')."""
    t = btf.skip_mods(type_id)
    if t.kind != Kind.STRUCT:
        raise ElfError(f"map {name!r}: its BTF type is a {t.kind.name}, not a struct")
    fields: dict[str, int] = {}
    inner: BtfMapDef | None = None
    values_offset: int | None = None
    for m in t.members:
        if m.name in _INT_FIELDS:
            fields[_INT_FIELDS[m.name]] = _encoded_int(btf, name, m)
        elif m.name in ("key", "value"):
            ptr = btf.skip_mods(m.type)
            if ptr.kind != Kind.PTR:
                raise ElfError(f"map {name!r}: '{m.name}' must be declared with __type()")
            sz = btf.size_of(ptr.type)
            want = fields.get(f"{m.name}_size")
            if want is not None and want != sz:
                raise ElfError(f"map {name!r}: {m.name}_size {want} conflicts with the "
                               f"{m.name} type's size {sz}")
            fields[f"{m.name}_size"] = sz
            fields[f"{m.name}_type"] = ptr.type
        elif m.name == "values":
            inner, values_offset = _values_member(btf, name, m, fields)
            fields["value_size"] = 4
        # unknown members: libbpf refuses them only in strict mode; skip like it does by default
    return BtfMapDef(name=name, inner=inner, values_offset=values_offset, **fields)


def _encoded_int(btf: Btf, name: str, m: Member) -> int:
    """__uint(x, N) is `int (*x)[N]`: the value is the array's element count."""
    ptr = btf.skip_mods(m.type)
    arr = btf.skip_mods(ptr.type) if ptr.kind == Kind.PTR else ptr
    if ptr.kind != Kind.PTR or arr.kind != Kind.ARRAY:
        raise ElfError(f"map {name!r}: '{m.name}' must be declared with __uint()")
    return arr.nelems


def _values_member(btf: Btf, name: str, m: Member, fields: dict[str, int]
                   ) -> tuple[BtfMapDef | None, int]:
    map_type = fields.get("type", 0)
    if map_type != MAP_TYPE_PROG_ARRAY and map_type not in _MAP_IN_MAP:
        raise ElfError(f"map {name!r}: 'values' is only valid for a prog array or a map of maps "
                       f"(type {map_type})")
    arr = btf.skip_mods(m.type)
    if arr.kind != Kind.ARRAY or arr.nelems:
        raise ElfError(f"map {name!r}: 'values' must be a zero-sized array (__array())")
    ptr = btf.skip_mods(arr.type)
    if ptr.kind != Kind.PTR:
        raise ElfError(f"map {name!r}: 'values' must be an array of pointers")
    target = btf.skip_mods(ptr.type)
    if map_type == MAP_TYPE_PROG_ARRAY:
        if target.kind != Kind.FUNC_PROTO:
            raise ElfError(f"map {name!r}: a prog array's 'values' must point to functions")
        return None, m.bit_offset // 8
    if target.kind != Kind.STRUCT:
        raise ElfError(f"map {name!r}: a map of maps' 'values' must point to a map definition")
    return map_def(btf, f"{name}.inner", target.id), m.bit_offset // 8
