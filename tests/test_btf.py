"""jit.btf against its oracles: the committed `bpftool btf dump file X format raw`
output beside every fixture build, the fixtures' C sources (for line_info
text and map definitions), and ELF symbols read with pyelftools (for
func_info offsets)."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from jit.btf import Kind, map_def, parse_btf, parse_btf_ext
from jit.elf import load
from jit.errors import ElfError

PROGS = Path(__file__).parent / "progs"
BUILD = PROGS / "build"
OBJECTS = sorted(BUILD.glob("*.o"))


def sections(path: Path) -> dict[str, bytes]:
    with open(path, "rb") as f:
        e = ELFFile(f)
        return {s.name: s.data() for s in e.iter_sections() if s.name in (".BTF", ".BTF.ext")}


def test_there_are_objects_and_dumps():
    assert len(OBJECTS) >= 45
    for o in OBJECTS:
        assert o.with_suffix(".btf.txt").exists(), o


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.stem)
def test_raw_dump_matches_committed_bpftool_output(path):
    btf = parse_btf(sections(path)[".BTF"])
    assert btf.dump_raw() == path.with_suffix(".btf.txt").read_text()


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool is not installed")
def test_raw_dump_matches_live_bpftool():
    for path in OBJECTS[::5]:
        want = subprocess.run(["bpftool", "btf", "dump", "file", str(path), "format", "raw"],
                              capture_output=True, text=True, check=True).stdout
        assert parse_btf(sections(path)[".BTF"]).dump_raw() == want, path


def test_both_byte_orders_parse_to_the_same_types():
    for name in ("xdp_firewall", "tracing", "tail_calls"):
        le = parse_btf(sections(BUILD / f"{name}.el3.o")[".BTF"])
        be = parse_btf(sections(BUILD / f"{name}.eb3.o")[".BTF"])
        assert (le.byteorder, be.byteorder) == ("little", "big")
        assert le.dump_raw() == be.dump_raw()


def test_every_kind_the_tracing_fixture_declares():
    btf = parse_btf(sections(BUILD / "tracing.el3.o")[".BTF"])
    kinds = {t.kind for t in btf.types[1:]}
    assert {Kind.INT, Kind.PTR, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
            Kind.FWD, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.FUNC, Kind.FUNC_PROTO,
            Kind.VAR, Kind.DATASEC, Kind.FLOAT, Kind.DECL_TAG, Kind.TYPE_TAG} <= kinds
    kind = btf.find("event_kind", Kind.ENUM)
    assert kind.kind_flag and [(m.name, m.value) for m in kind.members] == \
        [("EV_OPEN", 1), ("EV_TP", 2), ("EV_RAW", -1)]
    assert [(m.name, m.value) for m in btf.find("big_flags", Kind.ENUM64).members] == \
        [("FLAG_HUGE", 1 << 40)]
    event = btf.find("event", Kind.STRUCT)
    bits = {m.name: (m.bit_offset, m.bitfield_size) for m in event.members}
    assert bits["is_root"] == (64, 1) and bits["cpu"] == (66, 14)
    assert btf.size_of(event.id) == 56          # 4+4+4, pad, union 8, float 4, pad, 8+8+8
    assert btf.find("user", Kind.TYPE_TAG) is not None
    assert btf.find("bpfjit:counter", Kind.DECL_TAG) is not None


# ---------------------------------------------------------------- .maps definitions

def maps_of(name: str) -> dict:
    path = BUILD / f"{name}.el3.o"
    btf = parse_btf(sections(path)[".BTF"])
    ds = btf.datasec(".maps")
    return {btf[v.type].name: map_def(btf, btf[v.type].name, btf[v.type].type) for v in ds.vars}


def test_map_definitions_as_the_c_declares_them():
    fw = maps_of("xdp_firewall")
    assert (fw["blocked_src"].type, fw["blocked_src"].key_size, fw["blocked_src"].value_size,
            fw["blocked_src"].max_entries) == (1, 4, 8, 1024)
    assert (fw["blocked_ports"].key_size, fw["blocked_ports"].map_flags) == (2, 1)
    assert (fw["verdicts"].type, fw["verdicts"].max_entries) == (2, 4)
    mt = maps_of("map_types")
    assert (mt["routes"].type, mt["routes"].key_size, mt["routes"].value_size) == (11, 8, 8)
    assert (mt["recent"].type, mt["recent"].key_size, mt["recent"].value_size) == (22, 0, 4)
    assert (mt["history"].type, mt["events"].type, mt["events"].max_entries) == (23, 27, 4096)
    gd = maps_of("global_data")
    assert gd["labels"].value_size == 12


def test_prog_array_values_member():
    jt = maps_of("tail_calls")["jump_table"]
    assert (jt.type, jt.key_size, jt.value_size, jt.max_entries) == (3, 4, 4, 4)
    assert jt.values_offset == 24            # after type, max_entries, key: three pointers
    assert jt.inner is None


def test_map_in_map_inner_definition():
    """Built by hand: ARRAY_OF_MAPS whose values point at an inner ARRAY definition."""
    b = BtfBuilder()
    int_t = b.int("int", 4)
    u32 = b.int("unsigned int", 4, signed=False)

    def uint_member(name, n):
        return (name, b.ptr(b.array(int_t, n)), None)

    inner = b.struct("", [uint_member("type", 2), uint_member("max_entries", 8),
                          ("key", b.ptr(u32), None), ("value", b.ptr(u32), None)])
    outer = b.struct("", [uint_member("type", 12), uint_member("max_entries", 4),
                          ("key", b.ptr(u32), None), ("values", b.array(b.ptr(inner), 0), None)])
    btf = parse_btf(b.blob())
    d = map_def(btf, "outer", outer)
    assert (d.type, d.max_entries, d.key_size, d.value_size, d.values_offset) == (12, 4, 4, 4, 24)
    assert (d.inner.type, d.inner.max_entries, d.inner.key_size, d.inner.value_size) == (2, 8, 4, 4)


def test_map_definition_errors():
    b = BtfBuilder()
    int_t = b.int("int", 4)
    bad = b.struct("", [("type", int_t, None)])                    # not __uint()
    wrong = b.struct("", [("type", b.ptr(b.array(int_t, 2)), None),
                          ("values", b.array(b.ptr(int_t), 0), None)])
    btf = parse_btf(b.blob())
    with pytest.raises(ElfError, match="__uint"):
        map_def(btf, "m", bad)
    with pytest.raises(ElfError, match="only valid for a prog array"):
        map_def(btf, "m", wrong)


# ---------------------------------------------------------------- BTF.ext

@pytest.mark.parametrize("name", sorted({p.name.split(".")[0] for p in OBJECTS}))
def test_line_info_text_is_the_source_line(name):
    """Every line_info record's text is that line of the fixture's C file."""
    source = (PROGS / f"{name}.c").read_text().splitlines()
    for build in ("el3", "el4", "eb3"):
        for prog in load(BUILD / f"{name}.{build}.o").programs:
            assert prog.line_info, prog.name
            pcs = set(prog.pcs)
            for li in prog.line_info:
                assert li.file == f"./{name}.c"
                assert 1 <= li.line <= len(source)
                assert source[li.line - 1] == li.text, (li.line, li.text)
                assert li.col <= len(li.text) + 1
                assert li.pc in pcs
            # every function, the appended subprograms too, starts with a line record
            starts = {li.pc for li in prog.line_info}
            assert all(fn.start in starts for fn in prog.functions)


def test_line_info_follows_subprograms_into_each_program():
    """calls_deep: mix() and rol32() are appended to both programs; their lines follow them."""
    o = load(BUILD / "calls_deep.el3.o")
    for prog in o.programs:
        mix = next(f for f in prog.functions if f.name == "mix")
        lines = [li for li in prog.line_info if mix.start <= li.pc < mix.end]
        assert lines and all("h" in li.text or "words" in li.text or "mix" in li.text or
                             li.text.strip() in ("}", "{") or "int i" in li.text for li in lines)
        assert lines[0].pc == mix.start


def test_func_info_offsets_are_the_function_symbols():
    for name in ("calls_deep", "bpf_loop", "tail_calls"):
        path = BUILD / f"{name}.el3.o"
        secs = sections(path)
        btf = parse_btf(secs[".BTF"])
        ext = parse_btf_ext(secs[".BTF.ext"], btf)
        with open(path, "rb") as f:
            e = ELFFile(f)
            syms = {(e.get_section(s["st_shndx"]).name, s["st_value"]): s.name
                    for s in e.get_section_by_name(".symtab").iter_symbols()
                    if s["st_info"]["type"] == "STT_FUNC"}
        got = {(sec, fi.insn_off): btf[fi.type_id].name
               for sec, recs in ext.func_info.items() for fi in recs}
        assert got == syms
        for recs in ext.func_info.values():
            for fi in recs:
                assert btf[fi.type_id].kind == Kind.FUNC
                assert btf[btf[fi.type_id].type].kind == Kind.FUNC_PROTO


def test_line_col_split():
    """line_col packs the line in the high 22 bits and the column in the low 10."""
    o = load(BUILD / "tc_nat.el3.o")
    li = o.programs[0].line_info[1]
    assert (li.line, li.col) == (25, 17)
    assert li.text == "\t__be32 old_ip, new_ip = bpf_htonl(RESOLVER);"


# ---------------------------------------------------------------- malformed input

def test_malformed_btf_is_an_elf_error():
    good = sections(BUILD / "xdp_parse.el3.o")[".BTF"]
    with pytest.raises(ElfError, match="bad magic"):
        parse_btf(b"\x00\x00" + good[2:])
    with pytest.raises(ElfError, match="truncated"):
        parse_btf(good[:20])
    with pytest.raises(ElfError, match="truncated"):
        parse_btf(good[:len(good) // 2])
    with pytest.raises(ElfError, match="version"):
        parse_btf(good[:2] + b"\x02" + good[3:])
    # a type with an unknown kind (31)
    hdr_len = struct.unpack_from("<I", good, 4)[0]
    first = hdr_len + struct.unpack_from("<I", good, 8)[0]
    info = struct.unpack_from("<I", good, first + 4)[0]
    bad = bytearray(good)
    struct.pack_into("<I", bad, first + 4, (info & ~(0x1F << 24)) | 31 << 24)
    with pytest.raises(ElfError, match="unknown kind 31"):
        parse_btf(bytes(bad))
    with pytest.raises(ElfError):
        parse_btf_ext(b"\x9f\xeb\x01\x00" + b"\xff" * 4, parse_btf(good))


def test_every_truncation_of_btf_fails_cleanly():
    good = sections(BUILD / "map_types.el3.o")[".BTF"]
    for n in range(0, len(good), 37):
        try:
            parse_btf(good[:n])
        except ElfError:
            continue
        raise AssertionError(f"{n} bytes parsed")


# ---------------------------------------------------------------- a tiny BTF writer for tests

class BtfBuilder:
    """Little-endian .BTF assembled by hand from the uapi layout (no jit.btf involved)."""

    def __init__(self) -> None:
        self.types: list[bytes] = []
        self.strings = bytearray(b"\0")

    def _str(self, s: str) -> int:
        if not s:
            return 0
        off = len(self.strings)
        self.strings += s.encode() + b"\0"
        return off

    def _add(self, name: str, kind: int, vlen: int, size_type: int, tail: bytes = b"") -> int:
        self.types.append(struct.pack("<III", self._str(name), kind << 24 | vlen, size_type) + tail)
        return len(self.types)

    def int(self, name: str, size: int, signed: bool = True) -> int:
        return self._add(name, 1, 0, size, struct.pack("<I", (1 if signed else 0) << 24 | size * 8))

    def ptr(self, t: int) -> int:
        return self._add("", 2, 0, t)

    def array(self, t: int, n: int) -> int:
        return self._add("", 3, 0, 0, struct.pack("<III", t, 1, n))

    def struct(self, name: str, members: list) -> int:
        tail = b"".join(struct.pack("<III", self._str(m), t, 64 * i)
                        for i, (m, t, _) in enumerate(members))
        return self._add(name, 4, len(members), 8 * len(members), tail)

    def blob(self) -> bytes:
        types = b"".join(self.types)
        return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                           len(self.strings)) + types + bytes(self.strings)
