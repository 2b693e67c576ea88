"""eBPF maps, implemented once for the interpreter and the Unicorn runner.

This module owns how maps live in memory and what the map operations do; it
does not decide which helper calls them (helpers.py) or how a program's LDDW
turns into a map pointer (the interpreter and lowering call `map_addr` /
`value_addr`).

Layout in the MAPS area (see memory.py):

    MAPS_BASE + 32*i   header of map i, read-only to programs; its address is
                       the "map pointer" an LDDW src=1 yields:
                         u32 type  u32 key_size  u32 value_size  u32 max_entries
                         u64 values_addr        u64 0
    values region      one region per map ("map:<name>"), page-aligned, with an
                       unmapped page before it: max_entries slots of
                       round_up(value_size, 8) bytes.  A value's address never
                       changes while the map exists, so a pointer from
                       map_lookup_elem stays valid, and the runner sees the same
                       bytes the interpreter does.

Kinds of map (kernel uapi numbers):
  ARRAY, PERCPU_ARRAY     slot = key (u32 in the memory's byte order)
  HASH, PERCPU_HASH       key bytes -> slot in a dict, free slots reused lowest first
  LRU_HASH, LRU_PERCPU_HASH  the same, and when full the least recently used key
                         (lookup and update both count as a use) is evicted;
                         the kernel's LRU is approximate, this one is exact
  PROG_ARRAY             u64 per slot, 0 = empty; the interpreter stores
                         program index + 1, the runner may overwrite a slot
                         with a native address
Per-CPU maps have one CPU (get_smp_processor_id is 0), so a value is one
value.  Global data (.data/.rodata/.bss, MapDef.initial set) is a one-element
array initialised from `initial`; .rodata is read-only to programs.

Error returns follow the kernel (kernel/bpf/arraymap.c, hashtab.c): flags
other than BPF_ANY/NOEXIST/EXIST -> -EINVAL; array index out of range ->
-E2BIG; NOEXIST on an array -> -EEXIST; hash key present with NOEXIST ->
-EEXIST, absent with EXIST -> -ENOENT; hash full -> -E2BIG; array delete ->
-EINVAL; hash delete of an absent key -> -ENOENT.  Updating an existing hash
key rewrites its value in place (the kernel swaps in a fresh element, which
only a racing reader could tell apart).
"""
from __future__ import annotations

import errno
import heapq
from collections import OrderedDict
from dataclasses import dataclass, field

from jit.errors import RunError, UnsupportedError
from jit.memory import MAPS_BASE, PAGE, Memory, Perm, Region, round_up
from jit.program import MapDef

# all map values live in [MAPS_BASE, MAPS_LIMIT): 256 MiB, so a hostile max_entries
# is an error, not a MemoryError (and the runner's other regions stay clear)
MAPS_LIMIT = MAPS_BASE + 0x1000_0000

# enum bpf_map_type (include/uapi/linux/bpf.h)
BPF_MAP_TYPE_UNSPEC = 0
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_STACK_TRACE = 7
BPF_MAP_TYPE_CGROUP_ARRAY = 8
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_LPM_TRIE = 11
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_MAP_TYPE_DEVMAP = 14
BPF_MAP_TYPE_SOCKMAP = 15
BPF_MAP_TYPE_CPUMAP = 16
BPF_MAP_TYPE_XSKMAP = 17
BPF_MAP_TYPE_SOCKHASH = 18
BPF_MAP_TYPE_CGROUP_STORAGE = 19
BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21
BPF_MAP_TYPE_QUEUE = 22
BPF_MAP_TYPE_STACK = 23
BPF_MAP_TYPE_SK_STORAGE = 24
BPF_MAP_TYPE_DEVMAP_HASH = 25
BPF_MAP_TYPE_STRUCT_OPS = 26
BPF_MAP_TYPE_RINGBUF = 27
BPF_MAP_TYPE_INODE_STORAGE = 28
BPF_MAP_TYPE_TASK_STORAGE = 29
BPF_MAP_TYPE_BLOOM_FILTER = 30
BPF_MAP_TYPE_USER_RINGBUF = 31
BPF_MAP_TYPE_CGRP_STORAGE = 32
BPF_MAP_TYPE_ARENA = 33

MAP_TYPE_NAMES = {v: k[len("BPF_MAP_TYPE_"):].lower()
                  for k, v in dict(globals()).items() if k.startswith("BPF_MAP_TYPE_")}

# map_update_elem flags
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

HEADER_SIZE = 32
MAX_MAPS = PAGE // HEADER_SIZE          # the header area is one page

_ARRAYS = frozenset({BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY})
_HASHES = frozenset({BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH,
                     BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH})
_LRUS = frozenset({BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH})
SUPPORTED = _ARRAYS | _HASHES | {BPF_MAP_TYPE_PROG_ARRAY}


def map_type_name(t: int) -> str:
    return MAP_TYPE_NAMES.get(t, f"type {t}")


@dataclass
class MapState:
    """One map at run time: its definition, where its values live, its keys."""
    index: int
    mdef: MapDef
    header_addr: int
    values_addr: int
    stride: int                       # bytes per value slot
    region: Region
    # hash maps: key bytes -> slot (an OrderedDict so LRU order is its order)
    keys: OrderedDict = field(default_factory=OrderedDict)
    free: list[int] = field(default_factory=list)     # a heap: the lowest free slot first

    @property
    def type(self) -> int:
        return self.mdef.type

    def slot_addr(self, slot: int) -> int:
        return self.values_addr + slot * self.stride


class Maps:
    """Every map of one run, allocated in `memory`'s MAPS area."""

    def __init__(self, memory: Memory, mapdefs: list[MapDef]) -> None:
        if len(mapdefs) > MAX_MAPS:
            raise UnsupportedError(f"{len(mapdefs)} maps; at most {MAX_MAPS} are supported")
        self.memory = memory
        self.order = memory.byteorder
        self.maps: list[MapState] = []
        self._by_name: dict[str, MapState] = {}
        header = Region.zeroed("maps", MAPS_BASE, HEADER_SIZE * len(mapdefs), Perm.R)
        memory.add(header)
        self.header = header
        next_base = header.end + PAGE     # a guard page between regions
        for i, m in enumerate(mapdefs):
            st = self._allocate(i, m, next_base)
            next_base = st.region.end + PAGE
            self.maps.append(st)
            self._by_name[m.name] = st
            hdr = b"".join(v.to_bytes(4, self.order) for v in
                           (m.type, m.key_size, m.value_size, m.max_entries))
            hdr += st.values_addr.to_bytes(8, self.order) + bytes(8)
            header.data[HEADER_SIZE * i:HEADER_SIZE * (i + 1)] = hdr

    @staticmethod
    def check_fits(m: MapDef, base: int, stride: int) -> None:
        """Refuse a map whose values would not fit below MAPS_LIMIT (a hostile
        max_entries is an error, not a MemoryError)."""
        if base + stride * m.max_entries > MAPS_LIMIT:
            raise UnsupportedError(f"map {m.name}: {m.max_entries} entries of {stride} bytes "
                                   f"do not fit the {(MAPS_LIMIT - MAPS_BASE) >> 20} MiB that "
                                   "bpfjit gives all maps together")

    def _allocate(self, i: int, m: MapDef, base: int) -> MapState:
        if m.initial is not None:
            if m.type != BPF_MAP_TYPE_ARRAY or m.max_entries != 1:
                raise UnsupportedError(f"global data map {m.name} is not a one-element array")
            if len(m.initial) > m.value_size:
                raise UnsupportedError(f"global data map {m.name}: {len(m.initial)} bytes of "
                                       f"initial data for a {m.value_size}-byte value")
        elif m.type not in SUPPORTED:
            raise UnsupportedError(f"map {m.name}: map type {map_type_name(m.type)} "
                                   f"({m.type}) is not supported")
        if m.max_entries <= 0:
            raise UnsupportedError(f"map {m.name}: max_entries {m.max_entries}")
        if m.type == BPF_MAP_TYPE_PROG_ARRAY:
            stride = 8
        else:
            if m.value_size <= 0:
                raise UnsupportedError(f"map {m.name}: value size {m.value_size}")
            stride = round_up(m.value_size, 8)
        self.check_fits(m, base, stride)
        readonly = m.initial is not None and (m.section or "").startswith(".rodata")
        region = Region.zeroed(f"map:{m.name}", base, stride * m.max_entries,
                               Perm.R if readonly else Perm.RW, init=m.initial or b"",
                               compare=not readonly)
        self.memory.add(region)
        st = MapState(i, m, MAPS_BASE + HEADER_SIZE * i, base, stride, region)
        if m.type in _HASHES:
            st.free = list(range(m.max_entries))
        return st

    # ------------------------------------------------------------ addresses

    def map_addr(self, i: int) -> int:
        """The map pointer of map i (what LDDW src=1 yields)."""
        return self._index(i).header_addr

    def value_addr(self, i: int, offset: int = 0) -> int:
        """The address `offset` bytes into map i's first value (what LDDW src=2 yields)."""
        return self._index(i).values_addr + offset

    def _index(self, i: int) -> MapState:
        if not 0 <= i < len(self.maps):
            raise RunError(f"map index {i} out of range ({len(self.maps)} maps)")
        return self.maps[i]

    def by_ptr(self, map_ptr: int) -> MapState:
        off = map_ptr - MAPS_BASE
        if off < 0 or off % HEADER_SIZE or off // HEADER_SIZE >= len(self.maps):
            raise RunError(f"0x{map_ptr:x} is not a map pointer")
        return self.maps[off // HEADER_SIZE]

    def by_name(self, name: str) -> MapState:
        try:
            return self._by_name[name]
        except KeyError:
            raise RunError(f"no map named {name!r}") from None

    # ------------------------------------------------------------ operations

    def lookup(self, map_ptr: int, key: bytes) -> int:
        """The address of key's value, or 0."""
        st = self.by_ptr(map_ptr)
        t = st.type
        if t in _ARRAYS:
            idx = int.from_bytes(key[:4], self.order)
            return st.slot_addr(idx) if idx < st.mdef.max_entries else 0
        if t in _HASHES:
            slot = st.keys.get(bytes(key))
            if slot is None:
                return 0
            if t in _LRUS:
                st.keys.move_to_end(bytes(key))
            return st.slot_addr(slot)
        raise RunError(f"map_lookup_elem on {map_type_name(t)} map {st.mdef.name} "
                       f"(the verifier does not allow it)")

    def update(self, map_ptr: int, key: bytes, value: bytes, flags: int) -> int:
        """0 or a negative errno, as the kernel's map_update_elem."""
        st = self.by_ptr(map_ptr)
        t = st.type
        if flags not in (BPF_ANY, BPF_NOEXIST, BPF_EXIST):
            return -errno.EINVAL
        vs = st.mdef.value_size
        if t in _ARRAYS:
            idx = int.from_bytes(key[:4], self.order)
            if idx >= st.mdef.max_entries:
                return -errno.E2BIG
            if flags == BPF_NOEXIST:
                return -errno.EEXIST
            self._put(st, idx, value[:vs])
            return 0
        if t in _HASHES:
            key = bytes(key)
            slot = st.keys.get(key)
            if slot is not None:
                if flags == BPF_NOEXIST:
                    return -errno.EEXIST
                if t in _LRUS:
                    st.keys.move_to_end(key)
                self._put(st, slot, value[:vs])
                return 0
            if flags == BPF_EXIST:
                return -errno.ENOENT
            if not st.free:
                if t not in _LRUS:
                    return -errno.E2BIG
                _, old = st.keys.popitem(last=False)     # evict the least recently used
                heapq.heappush(st.free, old)
            slot = heapq.heappop(st.free)
            st.keys[key] = slot
            self._put(st, slot, value[:vs])
            return 0
        if t == BPF_MAP_TYPE_PROG_ARRAY:
            # Only user space updates a prog array; `value` is the u32 program index.
            idx = int.from_bytes(key[:4], self.order)
            if idx >= st.mdef.max_entries:
                return -errno.E2BIG
            if flags == BPF_NOEXIST:
                return -errno.EEXIST
            self.set_prog(st.mdef.name, idx, int.from_bytes(value[:4], self.order) + 1)
            return 0
        raise RunError(f"map_update_elem on {map_type_name(t)} map {st.mdef.name}")

    def delete(self, map_ptr: int, key: bytes) -> int:
        st = self.by_ptr(map_ptr)
        t = st.type
        if t in _ARRAYS:
            return -errno.EINVAL
        if t in _HASHES:
            slot = st.keys.pop(bytes(key), None)
            if slot is None:
                return -errno.ENOENT
            heapq.heappush(st.free, slot)
            return 0
        if t == BPF_MAP_TYPE_PROG_ARRAY:
            idx = int.from_bytes(key[:4], self.order)
            if idx >= st.mdef.max_entries:
                return -errno.E2BIG
            if self.prog_slot(st.header_addr, idx) == 0:
                return -errno.ENOENT
            self.set_prog(st.mdef.name, idx, 0)
            return 0
        raise RunError(f"map_delete_elem on {map_type_name(t)} map {st.mdef.name}")

    def _put(self, st: MapState, slot: int, value: bytes) -> None:
        start = slot * st.stride
        st.region.data[start:start + st.stride] = bytes(value).ljust(st.stride, b"\0")

    # ------------------------------------------------------------ prog arrays

    def prog_slot(self, map_ptr: int, index: int) -> int:
        """The u64 in a prog array slot (0 = empty); 0 for an index out of range."""
        st = self.by_ptr(map_ptr)
        if st.type != BPF_MAP_TYPE_PROG_ARRAY:
            raise RunError(f"tail call through {map_type_name(st.type)} map {st.mdef.name}, "
                           f"not a prog array")
        if not 0 <= index < st.mdef.max_entries:
            return 0
        off = index * 8
        return int.from_bytes(st.region.data[off:off + 8], self.order)

    def set_prog(self, name: str, index: int, value: int) -> None:
        """Write a prog array slot directly (program index + 1, or a native address)."""
        st = self.by_name(name)
        if st.type != BPF_MAP_TYPE_PROG_ARRAY:
            raise RunError(f"map {name} is not a prog array")
        if not 0 <= index < st.mdef.max_entries:
            raise RunError(f"prog array {name}: slot {index} out of range")
        st.region.data[index * 8:index * 8 + 8] = value.to_bytes(8, self.order)

    def bind_programs(self, names: list[str]) -> None:
        """Fill prog arrays from MapDef.prog_slots, naming programs by their index in `names`."""
        for st in self.maps:
            for slot, pname in st.mdef.prog_slots.items():
                if pname not in names:
                    raise RunError(f"prog array {st.mdef.name} slot {slot}: no program {pname!r}")
                self.set_prog(st.mdef.name, slot, names.index(pname) + 1)

    # ------------------------------------------------------------ host side

    def seed(self, name: str, key: bytes, value: bytes) -> None:
        """Insert or overwrite an entry from outside the program (like bpftool map update)."""
        st = self.by_name(name)
        if len(key) != st.mdef.key_size:
            raise RunError(f"map {name}: key of {len(key)} bytes, expected {st.mdef.key_size}")
        want = 4 if st.type == BPF_MAP_TYPE_PROG_ARRAY else st.mdef.value_size
        if len(value) != want:
            raise RunError(f"map {name}: value of {len(value)} bytes, expected {want}")
        err = self.update(st.header_addr, key, value, BPF_ANY)
        if err:
            raise RunError(f"map {name}: update failed: {errno.errorcode.get(-err, err)}")

    def dump(self) -> dict[str, list[tuple[bytes, bytes]]]:
        """Every map's entries as (key bytes, value bytes), keys in ascending byte order.

        Arrays list only the elements that are not all zero (every index exists,
        and listing a million zero elements helps nobody); prog arrays list the
        slots that are set.
        """
        out: dict[str, list[tuple[bytes, bytes]]] = {}
        for st in self.maps:
            m = st.mdef
            data = st.region.data
            if st.type in _HASHES:
                items = [(k, bytes(data[s * st.stride:s * st.stride + m.value_size]))
                         for k, s in st.keys.items()]
            elif st.type == BPF_MAP_TYPE_PROG_ARRAY:
                items = [(i.to_bytes(4, self.order), bytes(data[i * 8:i * 8 + 8]))
                         for i in range(m.max_entries) if any(data[i * 8:i * 8 + 8])]
            else:
                vs = m.value_size
                items = [(i.to_bytes(4, self.order), bytes(data[s:s + vs]))
                         for i, s in ((i, i * st.stride) for i in range(m.max_entries))
                         if any(data[s:s + vs])]
            out[m.name] = sorted(items)
        return out
