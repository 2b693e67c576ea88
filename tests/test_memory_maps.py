"""The shared address space (jit.memory) and maps (jit.maps).

Expected values are written from the layout in DESIGN.md / the memory.py
docstring and from the kernel's map semantics (kernel/bpf/arraymap.c,
hashtab.c): error numbers are the uapi errno values, spelled out.
"""
from __future__ import annotations

import struct

import pytest

from jit.errors import MemoryFault, RunError, UnsupportedError
from jit.maps import Maps
from jit.memory import (CODE_BASE, CTX_BASE, HELPER_BASE, MAPS_BASE, NATIVE_STACK_BASE,
                        PACKET_BASE, STACK_BASE, Memory, Perm, Region)
from jit.program import MapDef

EINVAL, ENOENT, EEXIST, E2BIG = 22, 2, 17, 7


def region(name, base, size=0x1000, perms=Perm.RW, compare=False):
    return Region(name, base, size, perms, bytearray(size), compare)


# ---------------------------------------------------------------- memory

def test_layout_constants():
    bases = [CTX_BASE, PACKET_BASE, STACK_BASE, MAPS_BASE, HELPER_BASE, CODE_BASE,
             NATIVE_STACK_BASE]
    assert bases == [0x1000_0000 * k for k in range(1, 8)]


@pytest.mark.parametrize("order", ["little", "big"])
def test_load_store_in_byte_order(order):
    m = Memory(order)
    m.add(region("a", 0x1000_0000))
    m.store(0x1000_0010, 4, 0x11223344)
    assert m.read(0x1000_0010, 4) == (bytes.fromhex("44332211") if order == "little"
                                      else bytes.fromhex("11223344"))
    assert m.load(0x1000_0010, 4) == 0x11223344
    assert m.load(0x1000_0010, 2) == (0x3344 if order == "little" else 0x1122)
    m.store(0x1000_0020, 2, -1)
    assert m.load(0x1000_0020, 2) == 0xFFFF
    assert m.load(0x1000_0020, 2, signed=True) == -1
    m.store(0x1000_0030, 8, 0x1_0000_0000_0000_0005)      # only the low 8 bytes are stored
    assert m.load(0x1000_0030, 8) == 5


def test_faults_outside_regions_and_at_edges():
    m = Memory()
    m.add(region("a", 0x1000_0000))
    m.add(region("b", 0x1000_2000))
    assert m.load(0x1000_0FF8, 8) == 0                  # the last 8 bytes are fine
    with pytest.raises(MemoryFault) as e:
        m.load(0x1000_0FFC, 8)                           # crosses into the guard page
    assert (e.value.kind, e.value.addr, e.value.size) == ("read", 0x1000_0FFC, 8)
    with pytest.raises(MemoryFault) as e:
        m.store(0x0FFF_FFFF, 1, 0)
    assert e.value.kind == "write"
    with pytest.raises(MemoryFault):
        m.read(0x1000_1000, 1)                           # the gap
    assert m.read(0x1000_2000, 1) == b"\0"


def test_permissions():
    m = Memory()
    m.add(region("ro", 0x1000_0000, perms=Perm.R))
    m.add(region("wo", 0x1000_2000, perms=Perm.W))
    assert m.load(0x1000_0000, 4) == 0
    with pytest.raises(MemoryFault) as e:
        m.store(0x1000_0000, 4, 1)
    assert e.value.kind == "write"
    m.store(0x1000_2000, 4, 1)
    with pytest.raises(MemoryFault) as e:
        m.load(0x1000_2000, 4)
    assert e.value.kind == "read"


def test_regions_must_be_pages_apart_and_aligned():
    m = Memory()
    m.add(region("a", 0x1000_0000))
    with pytest.raises(ValueError):
        m.add(region("touching", 0x1000_1000))
    with pytest.raises(ValueError):
        m.add(region("overlap", 0x0FFF_F000, 0x2000))
    with pytest.raises(ValueError):
        region("unaligned", 0x1000_0800)
    with pytest.raises(ValueError):
        Region("short", 0x2000_0000, 0x1000, Perm.RW, bytearray(10))


def test_region_buffer_is_the_same_object_after_writes():
    """The runner maps the bytearray itself into Unicorn: it must never be replaced."""
    m = Memory()
    r = m.add(region("a", 0x1000_0000))
    buf = r.data
    m.write(0x1000_0000, b"\x01" * 4096)
    m.store(0x1000_0008, 8, 7)
    assert m.region("a").data is buf and len(buf) == 4096
    assert buf[8] == 7


def test_region_at_and_snapshot():
    m = Memory()
    a = m.add(region("a", 0x1000_0000, compare=True))
    m.add(region("b", 0x1000_2000))
    assert m.region_at(0x1000_0FFF) is a
    assert m.region_at(0x1000_1000) is None
    m.store(0x1000_0000, 1, 9)
    snap = m.snapshot()
    assert list(snap) == ["a"] and snap["a"][0] == 9


def test_read_cstr():
    m = Memory()
    r = m.add(region("a", 0x1000_0000))
    r.data[0:6] = b"hello\0"
    assert m.read_cstr(0x1000_0000, 100) == b"hello"
    assert m.read_cstr(0x1000_0000, 3) == b"hel"
    r.data[4090:4096] = b"abcdef"
    assert m.read_cstr(0x1000_0FFA, 100) is None          # runs off the region unterminated
    assert m.read_cstr(0x5000_0000, 10) is None


# ---------------------------------------------------------------- maps

def mapdef(name, type_, key=4, value=8, entries=4, **kw):
    return MapDef(name=name, type=type_, key_size=key, value_size=value, max_entries=entries, **kw)


def k32(i, order="little"):
    return i.to_bytes(4, order)


@pytest.mark.parametrize("order", ["little", "big"])
def test_map_headers(order):
    m = Memory(order)
    maps = Maps(m, [mapdef("a", 2, value=12, entries=3), mapdef("h", 1, key=8, value=4, entries=9)])
    fmt = ("<" if order == "little" else ">") + "IIIIQQ"
    for i, (t, ks, vs, n) in enumerate([(2, 4, 12, 3), (1, 8, 4, 9)]):
        assert maps.map_addr(i) == MAPS_BASE + 32 * i
        hdr = struct.unpack(fmt, m.read(MAPS_BASE + 32 * i, 32))
        assert hdr[:4] == (t, ks, vs, n)
        assert hdr[4] == maps.value_addr(i) and hdr[5] == 0
        assert hdr[4] % 0x1000 == 0 and hdr[4] > MAPS_BASE
    # values are 8-byte strided and the two value areas are separate regions
    assert maps.lookup(maps.map_addr(0), k32(1, order)) == maps.value_addr(0) + 16
    with pytest.raises(MemoryFault):
        m.store(MAPS_BASE, 4, 1)                       # headers are read-only to programs


def test_array_map():
    m = Memory()
    maps = Maps(m, [mapdef("a", 2, entries=4)])
    a = maps.map_addr(0)
    assert maps.lookup(a, k32(3)) == maps.value_addr(0) + 24
    assert maps.lookup(a, k32(4)) == 0
    assert maps.update(a, k32(2), b"\x07" * 8, 0) == 0
    assert m.read(maps.value_addr(0) + 16, 8) == b"\x07" * 8
    assert maps.update(a, k32(2), bytes(8), 1) == -EEXIST          # NOEXIST: arrays always exist
    assert maps.update(a, k32(2), b"\x01" * 8, 2) == 0             # EXIST
    assert maps.update(a, k32(4), bytes(8), 0) == -E2BIG
    assert maps.update(a, k32(0), bytes(8), 3) == -EINVAL
    assert maps.delete(a, k32(0)) == -EINVAL
    assert maps.dump() == {"a": [(k32(2), b"\x01" * 8)]}


@pytest.mark.parametrize("t", [1, 5])        # HASH, PERCPU_HASH
def test_hash_map(t):
    m = Memory()
    maps = Maps(m, [mapdef("h", t, entries=2)])
    h = maps.map_addr(0)
    assert maps.lookup(h, k32(10)) == 0
    assert maps.update(h, k32(10), b"A" * 8, 2) == -ENOENT         # EXIST on an absent key
    assert maps.update(h, k32(10), b"A" * 8, 1) == 0
    addr = maps.lookup(h, k32(10))
    assert addr and m.read(addr, 8) == b"A" * 8
    assert maps.update(h, k32(10), b"B" * 8, 1) == -EEXIST
    assert maps.update(h, k32(10), b"B" * 8, 0) == 0
    assert maps.lookup(h, k32(10)) == addr                         # rewritten in place
    assert maps.update(h, k32(11), b"C" * 8, 0) == 0
    assert maps.update(h, k32(12), b"D" * 8, 0) == -E2BIG          # full
    assert maps.delete(h, k32(12)) == -ENOENT
    assert maps.delete(h, k32(10)) == 0
    assert maps.lookup(h, k32(10)) == 0
    assert maps.update(h, k32(12), b"D" * 8, 0) == 0
    assert maps.lookup(h, k32(12)) == addr                         # the freed slot is reused
    assert maps.dump() == {"h": [(k32(11), b"C" * 8), (k32(12), b"D" * 8)]}


def test_lru_hash_evicts_least_recently_used():
    m = Memory()
    maps = Maps(m, [mapdef("l", 9, entries=2)])
    h = maps.map_addr(0)
    assert maps.update(h, k32(1), b"1" * 8, 0) == 0
    assert maps.update(h, k32(2), b"2" * 8, 0) == 0
    assert maps.lookup(h, k32(1))                                  # 1 is now more recent than 2
    assert maps.update(h, k32(3), b"3" * 8, 0) == 0                # evicts 2
    assert maps.lookup(h, k32(2)) == 0
    assert [k for k, _ in maps.dump()["l"]] == [k32(1), k32(3)]


def test_global_data_maps():
    m = Memory()
    maps = Maps(m, [mapdef("d", 2, value=6, entries=1, initial=b"abcdef", section=".data"),
                    mapdef("r", 2, value=3, entries=1, initial=b"xyz", section=".rodata")])
    assert m.read(maps.value_addr(0, 2), 4) == b"cdef"
    m.store(maps.value_addr(0), 1, 0x41)
    assert m.read(maps.value_addr(1), 3) == b"xyz"
    with pytest.raises(MemoryFault):
        m.store(maps.value_addr(1), 1, 0)                          # .rodata is read-only
    assert "map:r" not in m.snapshot() and "map:d" in m.snapshot()
    assert maps.dump()["d"] == [(k32(0), b"Abcdef")]


def test_prog_array_slots():
    m = Memory()
    maps = Maps(m, [mapdef("jmp", 3, value=4, entries=4, prog_slots={1: "b"})])
    p = maps.map_addr(0)
    maps.bind_programs(["a", "b"])
    assert maps.prog_slot(p, 1) == 2                               # program index 1, plus 1
    assert maps.prog_slot(p, 0) == 0
    assert maps.prog_slot(p, 9) == 0
    maps.seed("jmp", k32(3), k32(0))
    assert maps.prog_slot(p, 3) == 1
    assert maps.delete(p, k32(3)) == 0 and maps.prog_slot(p, 3) == 0
    with pytest.raises(RunError):
        maps.lookup(p, k32(1))


def test_seed_and_unsupported_types():
    m = Memory()
    maps = Maps(m, [mapdef("h", 1)])
    maps.seed("h", k32(5), b"\x09" * 8)
    assert maps.dump()["h"] == [(k32(5), b"\x09" * 8)]
    with pytest.raises(RunError):
        maps.seed("h", b"\0", b"\x09" * 8)
    with pytest.raises(UnsupportedError, match="ringbuf"):
        Maps(Memory(), [mapdef("rb", 27)])
    with pytest.raises(RunError):
        maps.by_ptr(MAPS_BASE + 4)
