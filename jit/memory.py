"""The one address space every run of an eBPF program sees.

This module owns the layout of that space: where the context, the packet, the
eBPF stack, the maps and (for the Unicorn runner only) the helper trampolines,
native code and native stack live, and the rules for touching it.  Both the
interpreter and the runner use the same `Memory`, so a pointer a program
returns or stores is the same number in the interpreter and on every backend.

Layout (all below 4 GiB because ARM32 is a 32-bit machine; every base is
4 KiB-aligned, every region a whole number of pages, and regions never touch,
so an access that runs off the end of one faults instead of landing in the
next):

    0x1000_0000  CTX_BASE           the program's context (xdp_md, __sk_buff, ...)
    0x2000_0000  PACKET_BASE        the packet, or the raw --mem block
    0x3000_0000  STACK_BASE         the interpreter's eBPF frames
    0x4000_0000  MAPS_BASE          map headers, then one region per map's values
    0x5000_0000  HELPER_BASE        runner: one trampoline slot per helper id
    0x6000_0000  CODE_BASE          runner: native code
    0x7000_0000  NATIVE_STACK_BASE  runner: the native stack

A region's bytes live in a bytearray that is never resized, because the runner
maps that very buffer into Unicorn (`mem_map_ptr`): both sides then see every
write without copying.  What goes *into* the regions (maps, contexts, packets)
is decided by maps.py, interp.setup and the context builders, not here.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from jit.errors import MemoryFault

PAGE = 0x1000

CTX_BASE = 0x1000_0000
PACKET_BASE = 0x2000_0000
STACK_BASE = 0x3000_0000
MAPS_BASE = 0x4000_0000
HELPER_BASE = 0x5000_0000
CODE_BASE = 0x6000_0000
NATIVE_STACK_BASE = 0x7000_0000

# Room the XDP context builder leaves in front of a packet so that
# bpf_xdp_adjust_head can grow it (the kernel's XDP_PACKET_HEADROOM).
PACKET_HEADROOM = 256


class Perm(IntFlag):
    R = 1
    W = 2
    X = 4
    RW = R | W
    RX = R | X


def round_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def pages(n: int) -> int:
    """The smallest whole number of pages that holds n bytes (at least one page)."""
    return max(PAGE, round_up(n, PAGE))


@dataclass(frozen=True, eq=False)     # regions are compared by identity: the bytes are live
class Region:
    """A named, page-aligned block of memory with permissions.

    `compare` says whether a differential test compares this region's bytes
    after a run (writable program-visible state: packet, map values, context),
    as opposed to scratch (stacks) or read-only data.
    """
    name: str
    base: int
    size: int
    perms: Perm
    data: bytearray
    compare: bool = False

    def __post_init__(self) -> None:
        if self.base % PAGE or self.size % PAGE or self.size <= 0:
            raise ValueError(f"region {self.name}: base 0x{self.base:x} and size "
                             f"0x{self.size:x} must be whole pages")
        if len(self.data) != self.size:
            raise ValueError(f"region {self.name}: {len(self.data)} bytes of data "
                             f"for size {self.size}")
        if self.base + self.size > 1 << 32:
            raise ValueError(f"region {self.name} does not fit below 4 GiB")

    @property
    def end(self) -> int:
        return self.base + self.size

    @classmethod
    def zeroed(cls, name: str, base: int, nbytes: int, perms: Perm, *,
               init: bytes = b"", at: int = 0, compare: bool = False) -> "Region":
        """A region of enough whole pages for `nbytes`, with `init` copied in at offset `at`."""
        size = pages(max(nbytes, at + len(init)))
        data = bytearray(size)
        data[at:at + len(init)] = init
        return cls(name, base, size, perms, data, compare)


class Memory:
    """The regions of one run and typed access to them in one byte order.

    `load`/`store` are on the interpreter's hot path: they keep the last
    region used and only search the list when an access falls outside it.
    """

    def __init__(self, byteorder: str = "little") -> None:
        if byteorder not in ("little", "big"):
            raise ValueError(f"byte order {byteorder!r}")
        self.byteorder = byteorder
        self.regions: list[Region] = []
        self._last: Region | None = None

    # ------------------------------------------------------------ regions

    def add(self, region: Region) -> Region:
        """Add a region; it may not overlap or touch another (the gap is the guard)."""
        for r in self.regions:
            if region.base < r.end + PAGE and r.base < region.end + PAGE:
                raise ValueError(f"region {region.name} [0x{region.base:x}, 0x{region.end:x}) "
                                 f"overlaps or touches {r.name} [0x{r.base:x}, 0x{r.end:x})")
            if r.name == region.name:
                raise ValueError(f"two regions named {region.name}")
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.base)
        return region

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def region_at(self, addr: int) -> Region | None:
        last = self._last
        if last is not None and last.base <= addr < last.base + last.size:
            return last
        for r in self.regions:
            if r.base <= addr < r.base + r.size:
                self._last = r
                return r
        return None

    def _find(self, addr: int, n: int, kind: str, perm: Perm) -> tuple[bytearray, int]:
        """(data, offset) for an n-byte access at addr, or MemoryFault."""
        last = self._last
        if last is not None and last.base <= addr and addr + n <= last.base + last.size:
            r = last
        else:
            r = None
            for cand in self.regions:
                if cand.base <= addr and addr + n <= cand.base + cand.size:
                    r = cand
                    break
            if r is None:
                raise MemoryFault(kind, addr & 0xFFFF_FFFF_FFFF_FFFF, n)
            self._last = r
        if not r.perms & perm:
            raise MemoryFault(kind, addr, n)
        return r.data, addr - r.base

    # ------------------------------------------------------------ access

    def read(self, addr: int, n: int) -> bytes:
        if n == 0:
            return b""
        data, off = self._find(addr, n, "read", Perm.R)
        return bytes(data[off:off + n])

    def write(self, addr: int, data: bytes) -> None:
        n = len(data)
        if n == 0:
            return
        buf, off = self._find(addr, n, "write", Perm.W)
        buf[off:off + n] = data

    def load(self, addr: int, size: int, signed: bool = False) -> int:
        """A `size`-byte integer at addr in the memory's byte order."""
        data, off = self._find(addr, size, "read", Perm.R)
        return int.from_bytes(data[off:off + size], self.byteorder, signed=signed)

    def store(self, addr: int, size: int, value: int) -> None:
        """Store the low `size` bytes of value at addr in the memory's byte order."""
        data, off = self._find(addr, size, "write", Perm.W)
        data[off:off + size] = (value & ((1 << (size * 8)) - 1)).to_bytes(size, self.byteorder)

    def read_cstr(self, addr: int, limit: int) -> bytes | None:
        """The NUL-terminated string at addr (without the NUL), at most `limit` bytes;
        None when it runs outside readable memory before a NUL."""
        r = self.region_at(addr)
        if r is None or not r.perms & Perm.R:
            return None
        off = addr - r.base
        end = r.data.find(0, off, min(r.size, off + limit))
        if end < 0:
            if off + limit <= r.size:
                return bytes(r.data[off:off + limit])
            return None
        return bytes(r.data[off:end])

    def snapshot(self) -> dict[str, bytes]:
        """The bytes of every region marked for comparison."""
        return {r.name: bytes(r.data) for r in self.regions if r.compare}
