"""Program contexts, networking helpers and the extra map kinds networking programs use.

This module owns what a program of a given type finds when it starts, laid
out in the shared address space of `jit.memory`, and what the kernel's
BPF_PROG_TEST_RUN would hand back afterwards:

  xdp            struct xdp_md at CTX_BASE: data, data_end, data_meta hold real
                 32-bit addresses into the packet region (every region lives
                 below 4 GiB); the frame sits PACKET_HEADROOM (256) bytes into
                 a 4 KiB buffer whose last XDP_TAILROOM bytes are reserved, as
                 in net/bpf/test_run.c, so adjust_head/tail/meta have the
                 kernel's room and limits.
  skb kinds      a full struct __sk_buff (uapi offsets, 192 bytes) at CTX_BASE.
                 sched_cls/sched_act see the frame from the MAC header; socket
                 filters, cgroup_skb and lwt see it from the network header
                 (test_run pulls the Ethernet header with eth_type_trans), with
                 skb->protocol and pkt_type set as eth_type_trans sets them on
                 the loopback device (ifindex 1, address 00:00:00:00:00:00).
  anything else  a raw context block (zeros unless given) at CTX_BASE.

It also owns the helpers that need those contexts (xdp_adjust_*, the skb
load/store/checksum helpers, csum_diff, redirect_map), the map kinds the
foundation's `jit.maps` leaves out (LPM trie, queue, stack, ring buffer,
devmap) in `NetMaps`, their helpers, and bpf_for_each_map_elem.  It does not
change `jit.helpers` or `jit.maps`: `kernel_helpers()` returns a new dict,
KERNEL plus these, plus a stub for every other uapi helper that raises
UnsupportedError naming it.

Helpers keep no state of their own: the context struct in memory *is* the
state (as the kernel's xdp_buff/sk_buff is), so the interpreter and the
Unicorn runner see the same thing.
"""
from __future__ import annotations

import errno
import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple

from jit.errors import BpfjitError, RunError, UnsupportedError
from jit.helper_names import HELPER_NAMES
from jit.helpers import HELPER_SETS, KERNEL, Env, Helper
from jit.interp import DEFAULT_BUDGET, Result, add_ctx, add_packet, run as interp_run, stack_region
from jit.maps import (BPF_EXIST, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP,
                      BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LPM_TRIE,
                      BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
                      BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_QUEUE,
                      BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_STACK, BPF_NOEXIST, HEADER_SIZE, Maps,
                      MapState, map_type_name)
from jit.memory import CTX_BASE, MAPS_BASE, PACKET_BASE, PACKET_HEADROOM, Memory, Perm, Region
from jit.program import MapDef, Object, Program

M32 = (1 << 32) - 1
M64 = (1 << 64) - 1

ETH_HLEN = 14
XDP_FRAME_SIZE = 4096          # test_run's frame_sz: one page
XDP_TAILROOM = 320             # SKB_DATA_ALIGN(sizeof(struct skb_shared_info)), x86-64
XDP_FRAME_STRUCT = 40          # sizeof(struct xdp_frame): adjust_head/meta may not reach into it
XDP_METALEN_MAX = 255          # skb_shared_info.meta_len is a u8 (xdp_metalen_invalid)
LOOPBACK_IFINDEX = 1

RAW_CTX_SIZE = 512             # the default context block for tracing-style programs
SCRATCH_BASE = CTX_BASE + 0x10_0000   # keys handed to for_each_map_elem callbacks

# ---------------------------------------------------------------- context layouts

# struct xdp_md (include/uapi/linux/bpf.h)
XDP_MD = {"data": 0, "data_end": 4, "data_meta": 8, "ingress_ifindex": 12,
          "rx_queue_index": 16, "egress_ifindex": 20}
XDP_MD_SIZE = 24

# struct __sk_buff (include/uapi/linux/bpf.h): name -> (offset, size)
SK_BUFF = {
    "len": (0, 4), "pkt_type": (4, 4), "mark": (8, 4), "queue_mapping": (12, 4),
    "protocol": (16, 4), "vlan_present": (20, 4), "vlan_tci": (24, 4), "vlan_proto": (28, 4),
    "priority": (32, 4), "ingress_ifindex": (36, 4), "ifindex": (40, 4), "tc_index": (44, 4),
    "cb": (48, 20), "hash": (68, 4), "tc_classid": (72, 4), "data": (76, 4),
    "data_end": (80, 4), "napi_id": (84, 4), "family": (88, 4), "remote_ip4": (92, 4),
    "local_ip4": (96, 4), "remote_ip6": (100, 16), "local_ip6": (116, 16),
    "remote_port": (132, 4), "local_port": (136, 4), "data_meta": (140, 4),
    "flow_keys": (144, 8), "tstamp": (152, 8), "wire_len": (160, 4), "gso_segs": (164, 4),
    "sk": (168, 8), "gso_size": (176, 4), "tstamp_type": (180, 1), "hwtstamp": (184, 8),
}
SK_BUFF_SIZE = 192


class CtxKind(NamedTuple):
    """How a program type sees its context and packet."""
    ctx: str                 # "xdp", "skb" or "raw"
    l2: bool = True          # skb kinds: does data start at the MAC header?


# prog_type (jit.elf's names) -> context kind.  skb kinds follow test_run's is_l2.
CONTEXTS: dict[str, CtxKind] = {
    "xdp": CtxKind("xdp"),
    "sched_cls": CtxKind("skb", l2=True),
    "sched_act": CtxKind("skb", l2=True),
    "sk_skb": CtxKind("skb", l2=True),
    "socket_filter": CtxKind("skb", l2=False),
    "cgroup_skb": CtxKind("skb", l2=False),
    "lwt_in": CtxKind("skb", l2=False),
    "lwt_out": CtxKind("skb", l2=False),
    "lwt_xmit": CtxKind("skb", l2=False),
}
RAW = CtxKind("raw")


def context_kind(prog_type: str) -> CtxKind:
    return CONTEXTS.get(prog_type, RAW)


# ---------------------------------------------------------------- the kernel's input rules

# What BPF_PROG_TEST_RUN refuses with EINVAL before it runs anything (net/bpf/test_run.c;
# measured on the running kernel by tests/test_kernel_rules.py): every frame needs an
# Ethernet header; an skb whose ethertype says IPv4 or IPv6 needs that header too (the
# test run reads the addresses from it); an skb lives in one page after its headroom and
# the shared info (3712 bytes of frame on x86-64).
SKB_MAX_FRAME = 3712
_L3_MIN = {0x0800: (ETH_HLEN + 20, "IPv4"), 0x86DD: (ETH_HLEN + 40, "IPv6")}


class InputRefused(BpfjitError):
    """A frame the kernel's test run would refuse (EINVAL): one line naming the rule."""


def kernel_input_rule(kind: CtxKind, frame: bytes) -> str | None:
    """Why BPF_PROG_TEST_RUN refuses `frame` for a program of context `kind` (None: it
    runs it)."""
    if kind.ctx not in ("xdp", "skb"):
        return None
    what = "an XDP frame" if kind.ctx == "xdp" else "an skb"
    if len(frame) < ETH_HLEN:
        return (f"{what} shorter than an Ethernet header ({len(frame)} < {ETH_HLEN} bytes)")
    if kind.ctx == "skb":
        proto = int.from_bytes(frame[12:14], "big")
        need = _L3_MIN.get(proto)
        if need is not None and len(frame) < need[0]:
            return (f"an skb with ethertype {proto:#06x} ({need[1]}) shorter than its "
                    f"Ethernet and {need[1]} headers ({len(frame)} < {need[0]} bytes)")
        if len(frame) > SKB_MAX_FRAME:
            return f"an skb longer than one page holds ({len(frame)} > {SKB_MAX_FRAME} bytes)"
    return None


def check_input(prog_type: str, frame: bytes | None) -> None:
    """Raise InputRefused where the kernel's test run refuses the frame."""
    why = kernel_input_rule(context_kind(prog_type), frame or b"")
    if why is not None:
        raise InputRefused(f"the kernel's BPF_PROG_TEST_RUN refuses {why} with EINVAL "
                           "(--no-kernel-rules runs it anyway)")


# ---------------------------------------------------------------- return values

XDP_ACTIONS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
TC_ACTIONS = {-1: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT",
              3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT",
              7: "TC_ACT_REDIRECT", 8: "TC_ACT_TRAP"}
_VERDICTS = {"xdp": XDP_ACTIONS, "sched_cls": TC_ACTIONS, "sched_act": TC_ACTIONS}


def verdict_name(prog_type: str, r0: int) -> str | None:
    """XDP_* / TC_ACT_* for the program types whose return value is an action."""
    table = _VERDICTS.get(prog_type)
    if table is None:
        return None
    v = r0 & M32
    return table.get(v - (1 << 32) if v >> 31 else v)


# ---------------------------------------------------------------- the extra maps

BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
RINGBUF_HDR = 8                 # struct bpf_ringbuf_hdr: u32 len, u32 pg_off
ENOTSUPP = 524                  # the kernel-internal errno user space sees for "not supported"


def _err(e: int) -> int:
    return -e & M64


class NetMaps(Maps):
    """`jit.maps.Maps` plus the map kinds networking programs use.

      LPM_TRIE      key {u32 prefixlen; u8 data[]}: longest-prefix lookup;
                    prefixlen in the memory's byte order, data MSB first
      QUEUE, STACK  no keys; values kept in order, pushed/popped by helpers
                    (and by map_update_elem from outside, as the kernel does)
      RINGBUF       records appended by bpf_ringbuf_output until the data
                    area (max_entries bytes, each record + an 8-byte header
                    rounded to 8) is full; nothing consumes them during a run
      DEVMAP        an array of ifindex values, a slot present when non-zero;
      DEVMAP_HASH   the same keyed by hash; both only for bpf_redirect_map
    """

    EXTRA = frozenset({BPF_MAP_TYPE_LPM_TRIE, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK,
                       BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH})

    def __init__(self, memory: Memory, mapdefs: list[MapDef]) -> None:
        self.fifo: dict[int, deque[bytes]] = {}       # queue/stack contents, oldest first
        self.rings: dict[int, list[bytes]] = {}       # ring buffer records
        self.ring_used: dict[int, int] = {}
        self.lpm_keys: dict[int, dict[tuple[int, bytes], bytes]] = {}   # normalised -> as given
        super().__init__(memory, mapdefs)

    def _allocate(self, i: int, m: MapDef, base: int) -> MapState:
        if m.type not in self.EXTRA or m.initial is not None:
            return super()._allocate(i, m, base)
        if m.max_entries <= 0:
            raise UnsupportedError(f"map {m.name}: max_entries {m.max_entries}")
        if m.type in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK, BPF_MAP_TYPE_RINGBUF):
            # values never live in program-visible memory: a placeholder page
            region = Region.zeroed(f"map:{m.name}", base, 1, Perm.R)
            self.memory.add(region)
            if m.type == BPF_MAP_TYPE_RINGBUF:
                self.rings[i], self.ring_used[i] = [], 0
            else:
                self.fifo[i] = deque()
            return MapState(i, m, MAPS_BASE + HEADER_SIZE * i, base, 8, region)
        if m.value_size <= 0:
            raise UnsupportedError(f"map {m.name}: value size {m.value_size}")
        if m.type == BPF_MAP_TYPE_LPM_TRIE and m.key_size <= 4:
            raise UnsupportedError(f"map {m.name}: an LPM trie key needs a prefixlen and data")
        stride = (m.value_size + 7) & ~7
        self.check_fits(m, base, stride)
        region = Region.zeroed(f"map:{m.name}", base, stride * m.max_entries, Perm.RW,
                               compare=True)
        self.memory.add(region)
        st = MapState(i, m, MAPS_BASE + HEADER_SIZE * i, base, stride, region)
        if m.type != BPF_MAP_TYPE_DEVMAP:
            st.free = list(range(m.max_entries))
        if m.type == BPF_MAP_TYPE_LPM_TRIE:
            self.lpm_keys[i] = {}
        return st

    # ------------------------------------------------------------ LPM keys

    def _lpm_norm(self, st: MapState, key: bytes) -> tuple[int, bytes] | None:
        """(prefixlen, data with the bits past prefixlen cleared), None if prefixlen is too long."""
        plen = int.from_bytes(key[:4], self.order)
        data = key[4:st.mdef.key_size]
        if plen > 8 * len(data):
            return None
        bits = int.from_bytes(data, "big")
        keep = ((1 << plen) - 1) << (8 * len(data) - plen) if plen else 0
        return plen, (bits & keep).to_bytes(len(data), "big")

    def _lpm_match(self, st: MapState, key: bytes) -> tuple[int, bytes] | None:
        """The stored prefix that matches most bits of key's data, using at most
        key's own prefixlen bits (trie_lookup_elem's longest_prefix_match)."""
        width = 8 * (st.mdef.key_size - 4)
        limit = min(int.from_bytes(key[:4], self.order), width)
        data = int.from_bytes(key[4:st.mdef.key_size], "big")
        best = None
        for plen, stored in st.keys:
            if plen > limit or (best is not None and plen <= best[0]):
                continue
            keep = ((1 << plen) - 1) << (width - plen)
            if data & keep == int.from_bytes(stored, "big"):
                best = (plen, stored)
        return best

    # ------------------------------------------------------------ operations

    def lookup(self, map_ptr: int, key: bytes) -> int:
        st = self.by_ptr(map_ptr)
        t = st.type
        if t not in self.EXTRA:
            return super().lookup(map_ptr, key)
        if t == BPF_MAP_TYPE_LPM_TRIE:
            k = self._lpm_match(st, bytes(key))
            return st.slot_addr(st.keys[k]) if k is not None else 0
        if t == BPF_MAP_TYPE_DEVMAP:
            idx = int.from_bytes(key[:4], self.order)
            if idx >= st.mdef.max_entries or not self._devmap_present(st, idx):
                return 0
            return st.slot_addr(idx)
        if t == BPF_MAP_TYPE_DEVMAP_HASH:
            slot = st.keys.get(bytes(key[:st.mdef.key_size]))
            return 0 if slot is None else st.slot_addr(slot)
        raise RunError(f"map_lookup_elem on {map_type_name(t)} map {st.mdef.name} "
                       f"(the verifier does not allow it)")

    def update(self, map_ptr: int, key: bytes, value: bytes, flags: int) -> int:
        st = self.by_ptr(map_ptr)
        t = st.type
        if t not in self.EXTRA:
            return super().update(map_ptr, key, value, flags)
        if t in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK):
            return self.push(map_ptr, value, flags)
        if t == BPF_MAP_TYPE_RINGBUF:
            return -ENOTSUPP
        vs = st.mdef.value_size
        if t == BPF_MAP_TYPE_DEVMAP:
            idx = int.from_bytes(key[:4], self.order)
            if flags > BPF_EXIST:
                return -errno.EINVAL
            if idx >= st.mdef.max_entries:
                return -errno.E2BIG
            if flags == BPF_NOEXIST:
                return -errno.EEXIST
            self._put(st, idx, value[:vs])
            return 0
        if t == BPF_MAP_TYPE_LPM_TRIE:
            if flags > BPF_EXIST:
                return -errno.EINVAL
            norm = self._lpm_norm(st, bytes(key))
            if norm is None:
                return -errno.EINVAL
            slot = st.keys.get(norm)
            if slot is None:
                if flags == BPF_EXIST:
                    return -errno.ENOENT
                if not st.free:
                    return -errno.ENOSPC         # trie_update_elem: full is -ENOSPC
                slot = heapq.heappop(st.free)
                st.keys[norm] = slot
            elif flags == BPF_NOEXIST:
                return -errno.EEXIST
            self.lpm_keys[st.index][norm] = bytes(key[:st.mdef.key_size])
            self._put(st, slot, value[:vs])
            return 0
        # DEVMAP_HASH: plain hash semantics
        if flags > BPF_EXIST:
            return -errno.EINVAL
        k = bytes(key[:st.mdef.key_size])
        slot = st.keys.get(k)
        if slot is None:
            if flags == BPF_EXIST:
                return -errno.ENOENT
            if not st.free:
                return -errno.E2BIG
            slot = heapq.heappop(st.free)
            st.keys[k] = slot
        elif flags == BPF_NOEXIST:
            return -errno.EEXIST
        self._put(st, slot, value[:vs])
        return 0

    def delete(self, map_ptr: int, key: bytes) -> int:
        st = self.by_ptr(map_ptr)
        t = st.type
        if t not in self.EXTRA:
            return super().delete(map_ptr, key)
        if t == BPF_MAP_TYPE_LPM_TRIE:
            norm = self._lpm_norm(st, bytes(key))
            slot = st.keys.pop(norm, None) if norm else None
            if slot is None:
                return -errno.ENOENT
            self.lpm_keys[st.index].pop(norm, None)
            heapq.heappush(st.free, slot)
            return 0
        if t == BPF_MAP_TYPE_DEVMAP:
            idx = int.from_bytes(key[:4], self.order)
            if idx >= st.mdef.max_entries:
                return -errno.E2BIG
            self._put(st, idx, b"")
            return 0
        if t == BPF_MAP_TYPE_DEVMAP_HASH:
            slot = st.keys.pop(bytes(key[:st.mdef.key_size]), None)
            if slot is None:
                return -errno.ENOENT
            heapq.heappush(st.free, slot)
            return 0
        return -errno.EINVAL

    def _devmap_present(self, st: MapState, idx: int) -> bool:
        off = idx * st.stride
        return any(st.region.data[off:off + 4])          # the ifindex

    # ------------------------------------------------------------ queue / stack

    def push(self, map_ptr: int, value: bytes, flags: int) -> int:
        """bpf_map_push_elem: BPF_EXIST overwrites the oldest value when full."""
        st = self._fifo_map(map_ptr, "push")
        q = self.fifo[st.index]
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            return -errno.EINVAL
        if len(q) >= st.mdef.max_entries:
            if not flags & BPF_EXIST:
                return -errno.E2BIG
            q.popleft()
        q.append(bytes(value[:st.mdef.value_size]))
        return 0

    def pop(self, map_ptr: int, *, peek: bool = False) -> bytes | None:
        """The next value (oldest for a queue, newest for a stack), None when empty."""
        st = self._fifo_map(map_ptr, "peek" if peek else "pop")
        q = self.fifo[st.index]
        if not q:
            return None
        if st.type == BPF_MAP_TYPE_QUEUE:
            return q[0] if peek else q.popleft()
        return q[-1] if peek else q.pop()

    def _fifo_map(self, map_ptr: int, what: str) -> MapState:
        st = self.by_ptr(map_ptr)
        if st.type not in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK):
            raise RunError(f"map_{what}_elem on {map_type_name(st.type)} map {st.mdef.name}")
        return st

    # ------------------------------------------------------------ ring buffer

    def ringbuf_output(self, map_ptr: int, data: bytes, flags: int) -> int:
        st = self.by_ptr(map_ptr)
        if st.type != BPF_MAP_TYPE_RINGBUF:
            raise RunError(f"ringbuf_output on {map_type_name(st.type)} map {st.mdef.name}")
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -errno.EINVAL
        need = (len(data) + RINGBUF_HDR + 7) & ~7
        if self.ring_used[st.index] + need > st.mdef.max_entries:
            return -errno.EAGAIN
        self.ring_used[st.index] += need
        self.rings[st.index].append(bytes(data))
        return 0

    # ------------------------------------------------------------ iteration

    def elements(self, map_ptr: int) -> Iterator[tuple[bytes, int]]:
        """(key bytes, value address) of every element, as for_each_map_elem visits them.

        Arrays: every index; hashes and tries: insertion order (the kernel's
        bucket order is not reproducible, so only arrays compare exactly)."""
        st = self.by_ptr(map_ptr)
        t = st.type
        if t in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
            for i in range(st.mdef.max_entries):
                yield i.to_bytes(4, self.order), st.slot_addr(i)
        elif t in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
                   BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_DEVMAP_HASH):
            for k, slot in list(st.keys.items()):
                yield k, st.slot_addr(slot)
        elif t == BPF_MAP_TYPE_LPM_TRIE:
            for norm, slot in list(st.keys.items()):
                yield self.lpm_keys[st.index][norm], st.slot_addr(slot)
        else:
            raise UnsupportedError(f"for_each_map_elem over {map_type_name(t)} map {st.mdef.name}")

    # ------------------------------------------------------------ host side

    def dump(self) -> dict[str, list[tuple[bytes, bytes]]]:
        out = super().dump()
        for st in self.maps:
            t, m = st.type, st.mdef
            if t not in self.EXTRA or m.initial is not None:
                continue
            data = st.region.data
            if t in (BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK):
                items = [(i.to_bytes(4, self.order), v) for i, v in enumerate(self.fifo[st.index])]
            elif t == BPF_MAP_TYPE_RINGBUF:
                items = [(i.to_bytes(4, self.order), v) for i, v in enumerate(self.rings[st.index])]
            elif t == BPF_MAP_TYPE_LPM_TRIE:
                items = sorted((self.lpm_keys[st.index][norm],
                                bytes(data[s * st.stride:s * st.stride + m.value_size]))
                               for norm, s in st.keys.items())
            elif t == BPF_MAP_TYPE_DEVMAP_HASH:
                items = sorted((k, bytes(data[s * st.stride:s * st.stride + m.value_size]))
                               for k, s in st.keys.items())
            else:                                       # DEVMAP: the present slots
                items = [(i.to_bytes(4, self.order),
                          bytes(data[i * st.stride:i * st.stride + m.value_size]))
                         for i in range(m.max_entries) if self._devmap_present(st, i)]
            out[m.name] = items
        return out


# ---------------------------------------------------------------- checksums (include/net/checksum.h)

def _add32(a: int, b: int) -> int:
    """csum_add: 32-bit one's-complement add, the carry folded back in."""
    s = (a & M32) + (b & M32)
    return (s & M32) + (s >> 32)


def csum_fold(csum: int) -> int:
    """csum_fold: 32-bit partial sum -> the complemented 16-bit checksum."""
    s = (csum & 0xFFFF) + ((csum >> 16) & 0xFFFF)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def csum_partial(words: Iterable[int], seed: int) -> int:
    """The 32-bit one's-complement sum of 32-bit words (x86-64's csum_partial value:
    end-around carry, so it is 0 only when everything is 0)."""
    s = seed & M32
    for w in words:
        s = _add32(s, w)
    return s & M32


def _csum16_add(a: int, b: int) -> int:
    s = (a & 0xFFFF) + (b & 0xFFFF)
    return (s + (s >> 16)) & 0xFFFF


# ---------------------------------------------------------------- context access

def _field(prog_type: str, name: str) -> tuple[int, int]:
    """(offset, size) of a context field for this program type."""
    if context_kind(prog_type).ctx == "xdp":
        return XDP_MD[name], 4
    return SK_BUFF[name]


def _ctx_field(env: Env, name: str) -> int:
    off, size = _field(env.prog_type, name)
    return env.memory.load(CTX_BASE + off, size)


def _set_ctx_field(env: Env, name: str, value: int) -> None:
    off, size = _field(env.prog_type, name)
    env.memory.store(CTX_BASE + off, size, value)


def _xdp_state(env: Env) -> tuple[int, int, int, int]:
    """(hard_start, data_meta, data, data_end) of the XDP buffer."""
    pkt = env.memory.region("packet")
    return (pkt.base, _ctx_field(env, "data_meta"), _ctx_field(env, "data"),
            _ctx_field(env, "data_end"))


def _xdp_set(env: Env, meta: int, data: int, end: int) -> None:
    _set_ctx_field(env, "data_meta", meta)
    _set_ctx_field(env, "data", data)
    _set_ctx_field(env, "data_end", end)
    env.packet = (data, end)


def _hard_end(env: Env) -> int:
    pkt = env.memory.region("packet")
    return pkt.base + max(XDP_FRAME_SIZE, pkt.size) - XDP_TAILROOM


def _require_ctx(env: Env, ctx: int, kind: str, helper: str) -> None:
    if ctx & M64 != CTX_BASE or context_kind(env.prog_type).ctx != kind:
        raise RunError(f"bpf_{helper} needs the {kind} context in r1 "
                       f"(a {env.prog_type} program, r1 = 0x{ctx & M64:x})")


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


# ---------------------------------------------------------------- XDP helpers (net/core/filter.c)

def _xdp_adjust_head(env: Env, ctx: int, offset: int, *_: int) -> int:
    _require_ctx(env, ctx, "xdp", "xdp_adjust_head")
    start, meta, data, end = _xdp_state(env)
    offset = _s32(offset)
    metalen = data - meta
    new = data + offset
    if new < start + XDP_FRAME_STRUCT + metalen or new > end - ETH_HLEN:
        return _err(errno.EINVAL)
    if metalen:
        env.memory.write(meta + offset, env.memory.read(meta, metalen))
    _xdp_set(env, meta + offset, new, end)
    return 0


def _xdp_adjust_tail(env: Env, ctx: int, offset: int, *_: int) -> int:
    _require_ctx(env, ctx, "xdp", "xdp_adjust_tail")
    start, meta, data, end = _xdp_state(env)
    offset = _s32(offset)
    new_end = end + offset
    if new_end > _hard_end(env) or new_end < data + ETH_HLEN:
        return _err(errno.EINVAL)
    if offset > 0:
        env.memory.write(end, bytes(offset))           # the kernel clears what it grows into
    _xdp_set(env, meta, data, new_end)
    return 0


def _xdp_adjust_meta(env: Env, ctx: int, offset: int, *_: int) -> int:
    _require_ctx(env, ctx, "xdp", "xdp_adjust_meta")
    start, meta, data, end = _xdp_state(env)
    new_meta = meta + _s32(offset)
    if new_meta < start + XDP_FRAME_STRUCT or new_meta > data:
        return _err(errno.EINVAL)
    metalen = data - new_meta
    if metalen % 4 or metalen > XDP_METALEN_MAX:
        return _err(errno.EACCES)
    _xdp_set(env, new_meta, data, end)
    return 0


def _xdp_window(env: Env, ctx: int, offset: int, length: int, helper: str) -> int | None:
    """bpf_xdp_pointer: the address of [offset, offset+len) or a negative errno (as int)."""
    _require_ctx(env, ctx, "xdp", helper)
    _, _, data, end = _xdp_state(env)
    offset &= M32
    length &= M32
    if offset > 0xFFFF or length > 0xFFFF:
        return -errno.EFAULT
    if offset + length > end - data:
        return -errno.EINVAL
    return data + offset


def _xdp_load_bytes(env: Env, ctx: int, offset: int, buf: int, length: int, *_: int) -> int:
    at = _xdp_window(env, ctx, offset, length, "xdp_load_bytes")
    if at < 0:
        return at & M64
    env.memory.write(buf, env.memory.read(at, length & M32))
    return 0


def _xdp_store_bytes(env: Env, ctx: int, offset: int, buf: int, length: int, *_: int) -> int:
    at = _xdp_window(env, ctx, offset, length, "xdp_store_bytes")
    if at < 0:
        return at & M64
    env.memory.write(at, env.memory.read(buf, length & M32))
    return 0


def _xdp_get_buff_len(env: Env, ctx: int, *_: int) -> int:
    _require_ctx(env, ctx, "xdp", "xdp_get_buff_len")
    _, _, data, end = _xdp_state(env)
    return end - data


XDP_REDIRECT = 4
XDP_TX = 3
XDP_ABORTED = 0


def _redirect_map(env: Env, map_ptr: int, key: int, flags: int, *_: int) -> int:
    """bpf_redirect_map: XDP_REDIRECT for a present slot, else the low bits of flags."""
    flags &= M64
    if flags > XDP_TX:
        return XDP_ABORTED
    maps = env.maps
    st = maps.by_ptr(map_ptr)
    k = (key & M32).to_bytes(4, maps.order)
    if not isinstance(maps, NetMaps) or st.type not in (BPF_MAP_TYPE_DEVMAP,
                                                        BPF_MAP_TYPE_DEVMAP_HASH):
        raise UnsupportedError(f"redirect_map through {map_type_name(st.type)} map {st.mdef.name}")
    if maps.lookup(map_ptr, k) == 0:
        return flags
    env.redirect = (key & M32, flags)
    return XDP_REDIRECT


# ---------------------------------------------------------------- skb helpers

BPF_F_RECOMPUTE_CSUM = 1
BPF_F_INVALIDATE_HASH = 2
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR = 0x10
BPF_F_MARK_MANGLED_0 = 0x20
BPF_F_MARK_ENFORCE = 0x40
CSUM_MANGLED_0 = 0xFFFF
INT_MAX = (1 << 31) - 1


def _skb(env: Env, ctx: int, helper: str) -> tuple[int, int]:
    """(data, len) of the skb: data is where offsets count from (skb->data)."""
    _require_ctx(env, ctx, "skb", helper)
    return _ctx_field(env, "data"), _ctx_field(env, "len")


def _skb_store_bytes(env: Env, ctx: int, offset: int, src: int, length: int, flags: int) -> int:
    data, skb_len = _skb(env, ctx, "skb_store_bytes")
    offset &= M32
    length &= M32
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return _err(errno.EINVAL)
    if offset > INT_MAX or offset + length > skb_len:
        return _err(errno.EFAULT)
    # RECOMPUTE_CSUM adjusts skb->csum, which only CHECKSUM_COMPLETE skbs carry;
    # a test-run skb is CHECKSUM_NONE, so only the bytes change.
    env.memory.write(data + offset, env.memory.read(src, length))
    if flags & BPF_F_INVALIDATE_HASH:
        _set_ctx_field(env, "hash", 0)
    return 0


def _skb_load_bytes(env: Env, ctx: int, offset: int, dst: int, length: int, *_: int) -> int:
    data, skb_len = _skb(env, ctx, "skb_load_bytes")
    offset &= M32
    length &= M32
    if offset > INT_MAX or offset + length > skb_len:
        env.memory.write(dst, bytes(length))          # err_clear: the buffer is zeroed
        return _err(errno.EFAULT)
    env.memory.write(dst, env.memory.read(data + offset, length))
    return 0


def _csum_field(env: Env, ctx: int, offset: int, helper: str) -> int | None:
    data, skb_len = _skb(env, ctx, helper)
    offset &= M32
    if offset > 0xFFFF or offset & 1 or offset + 2 > skb_len:
        return None
    return data + offset


def _l3_csum_replace(env: Env, ctx: int, offset: int, frm: int, to: int, flags: int) -> int:
    """csum_replace2/4/by_diff on the 16-bit checksum at `offset` (flags: the field size)."""
    if flags & ~BPF_F_HDR_FIELD_MASK:
        return _err(errno.EINVAL)
    at = _csum_field(env, ctx, offset, "l3_csum_replace")
    if at is None:
        return _err(errno.EFAULT)
    mem = env.memory
    check = mem.load(at, 2)
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm & M64:
            return _err(errno.EINVAL)
        new = csum_fold(_add32(to, ~check & M32))
    elif size == 2:
        # ~csum16_add(csum16_sub(~check, from), to)
        new = ~_csum16_add(_csum16_add(~check, ~frm & 0xFFFF), to) & 0xFFFF
    elif size == 4:
        # csum_sub(~csum_unfold(check), from) then csum_add(.., to)
        new = csum_fold(_add32(_add32(~check & M32, ~frm & M32), to))
    else:
        return _err(errno.EINVAL)
    mem.store(at, 2, new)
    return 0


def _l4_csum_replace(env: Env, ctx: int, offset: int, frm: int, to: int, flags: int) -> int:
    """inet_proto_csum_replace*: as l3, for an skb that is not CHECKSUM_PARTIAL."""
    if flags & ~(BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR
                 | BPF_F_HDR_FIELD_MASK):
        return _err(errno.EINVAL)
    at = _csum_field(env, ctx, offset, "l4_csum_replace")
    if at is None:
        return _err(errno.EFAULT)
    mem = env.memory
    check = mem.load(at, 2)
    if flags & BPF_F_MARK_MANGLED_0 and not flags & BPF_F_MARK_ENFORCE and not check:
        return 0
    size = flags & BPF_F_HDR_FIELD_MASK
    seed = ~check & M32                                 # ~csum_unfold(*sum)
    if size == 0:
        if frm & M64:
            return _err(errno.EINVAL)
        new = csum_fold(_add32(to, seed))
    elif size in (2, 4):
        width = M32 if size == 4 else 0xFFFF
        # diff[] = { ~from, to } as __be32 words (a 2-byte field is widened)
        new = csum_fold(csum_partial((~(frm & width) & M32, to & width), seed))
    else:
        return _err(errno.EINVAL)
    if flags & BPF_F_MARK_MANGLED_0 and not new:
        new = CSUM_MANGLED_0
    mem.store(at, 2, new)
    return 0


CSUM_DIFF_MAX = 512             # sizeof(bpf_scratchpad.diff)


def _csum_diff(env: Env, frm: int, from_size: int, to: int, to_size: int, seed: int) -> int:
    """csum_partial({~from[], to[]}, seed): the unfolded 32-bit sum (x86-64's value)."""
    from_size &= M32
    to_size &= M32
    if (from_size | to_size) & 3 or from_size + to_size > CSUM_DIFF_MAX:
        return _err(errno.EINVAL)
    mem, order = env.memory, env.memory.byteorder
    raw_from = mem.read(frm, from_size) if from_size else b""
    raw_to = mem.read(to, to_size) if to_size else b""
    words = [~int.from_bytes(raw_from[i:i + 4], order) & M32 for i in range(0, from_size, 4)]
    words += [int.from_bytes(raw_to[i:i + 4], order) for i in range(0, to_size, 4)]
    return csum_partial(words, seed)


# ---------------------------------------------------------------- map helpers

def _net_maps(env: Env, what: str) -> NetMaps:
    if not isinstance(env.maps, NetMaps):
        raise UnsupportedError(f"{what} needs the maps of jit.contexts.prepare")
    return env.maps


def _map_push_elem(env: Env, m: int, value: int, flags: int, *_: int) -> int:
    maps = _net_maps(env, "map_push_elem")
    st = maps.by_ptr(m)
    return maps.push(m, env.memory.read(value, st.mdef.value_size), flags & M64) & M64


def _map_pop_elem(env: Env, m: int, value: int, *_: int, peek: bool = False) -> int:
    maps = _net_maps(env, "map_peek_elem" if peek else "map_pop_elem")
    v = maps.pop(m, peek=peek)
    if v is None:
        return _err(errno.ENOENT)
    env.memory.write(value, v)
    return 0


def _map_peek_elem(env: Env, m: int, value: int, *_: int) -> int:
    return _map_pop_elem(env, m, value, peek=True)


def _ringbuf_output(env: Env, m: int, data: int, size: int, flags: int, *_: int) -> int:
    maps = _net_maps(env, "ringbuf_output")
    return maps.ringbuf_output(m, env.memory.read(data, size & M32), flags & M64) & M64


def _for_each_map_elem(env: Env, m: int, callback: int, cb_ctx: int, flags: int, *_: int) -> int:
    """callback(map, &key, &value, ctx) per element; 1 stops; returns how many were visited."""
    if flags & M64:
        return _err(errno.EINVAL)
    if env.call_func is None:
        raise RunError("for_each_map_elem needs a runner that can call eBPF callbacks")
    maps = _net_maps(env, "for_each_map_elem")
    scratch = env.memory.region("scratch")
    n = 0
    for key, value_addr in maps.elements(m):
        scratch.data[:len(key)] = key
        n += 1
        if env.call_func(callback, m, scratch.base, value_addr, cb_ctx, 0) & M64:
            break
    return n


NET_HELPERS: dict[int, Helper] = {h.id: h for h in (
    Helper(9, "skb_store_bytes", _skb_store_bytes, 5),
    Helper(10, "l3_csum_replace", _l3_csum_replace, 5),
    Helper(11, "l4_csum_replace", _l4_csum_replace, 5),
    Helper(26, "skb_load_bytes", _skb_load_bytes, 4),
    Helper(28, "csum_diff", _csum_diff, 5),
    Helper(44, "xdp_adjust_head", _xdp_adjust_head, 2),
    Helper(51, "redirect_map", _redirect_map, 3),
    Helper(54, "xdp_adjust_meta", _xdp_adjust_meta, 2),
    Helper(65, "xdp_adjust_tail", _xdp_adjust_tail, 2),
    Helper(87, "map_push_elem", _map_push_elem, 3),
    Helper(88, "map_pop_elem", _map_pop_elem, 2),
    Helper(89, "map_peek_elem", _map_peek_elem, 2),
    Helper(130, "ringbuf_output", _ringbuf_output, 4),
    Helper(164, "for_each_map_elem", _for_each_map_elem, 4),
    Helper(188, "xdp_get_buff_len", _xdp_get_buff_len, 1),
    Helper(189, "xdp_load_bytes", _xdp_load_bytes, 4),
    Helper(190, "xdp_store_bytes", _xdp_store_bytes, 4),
)}

def _unimplemented(hid: int, name: str) -> Helper:
    def fn(env: Env, *_: int) -> int:
        raise UnsupportedError(f"helper bpf_{name} ({hid}) is not implemented")
    return Helper(hid, name, fn, 5)


def kernel_helpers() -> dict[int, Helper]:
    """The kernel helper set for real program types: jit.helpers.KERNEL, the
    networking and map helpers of this module, and for every other uapi
    helper a stub that raises UnsupportedError naming it."""
    out = {hid: _unimplemented(hid, name) for hid, name in HELPER_NAMES.items() if hid}
    out.update(KERNEL)
    out.update(NET_HELPERS)
    return out


# ---------------------------------------------------------------- preparing a run

class Prepared(NamedTuple):
    """What `prepare` sets up; `run` takes it whole."""
    env: Env
    r1: int
    r2: int
    programs: list[Program]      # tail-call targets, indexed as prog arrays store them
    prog: Program


MapSeeds = dict[str, "Iterable[tuple[bytes, bytes]] | dict[bytes, bytes]"]


def prepare(obj: Object | None, prog: Program, *, packet: bytes | None = None,
            ctx: bytes | dict[str, int] | None = None, map_seeds: MapSeeds | None = None,
            helpers: str | dict = "kernel", seed: int = 0,
            kernel_rules: bool = False) -> Prepared:
    """Memory, maps, context and helper set for running `prog` of `obj`.

    packet     the frame (from the Ethernet header on) for xdp and skb programs;
               for a "raw" program it is a memory block: r1 = its address,
               r2 = its length
    ctx        xdp/skb: field name -> value overrides (mark, priority, cb, ...,
               ingress_ifindex, rx_queue_index); raw kinds: the context bytes
    map_seeds  map name -> (key, value) pairs put in before the run, as
               `bpftool map update` would
    helpers    "kernel" (kernel_helpers()), "conformance", or an id -> Helper dict
    kernel_rules  refuse (InputRefused) a given frame the kernel's test run refuses
                  (jit.driver asks for it; tests of programs on truncated frames do not)
    """
    if kernel_rules and packet is not None:
        check_input(prog.prog_type, packet)
    programs = obj.programs if obj is not None else [prog]
    memory = Memory(prog.byteorder)
    memory.add(stack_region())
    maps = NetMaps(memory, prog.maps)
    maps.bind_programs([p.name for p in programs])
    for name, entries in (map_seeds or {}).items():
        items = entries.items() if isinstance(entries, dict) else entries
        for k, v in items:
            maps.seed(name, bytes(k), bytes(v))
    if isinstance(helpers, str):
        if helpers == "kernel":
            hset = kernel_helpers()
        else:
            if helpers not in HELPER_SETS:
                raise BpfjitError(f"unknown helper set {helpers!r}")
            hset = HELPER_SETS[helpers]
    else:
        hset = helpers
    env = Env(memory, maps, helpers=hset, seed=seed, prog_type=prog.prog_type)
    memory.add(Region.zeroed("scratch", SCRATCH_BASE, 256, Perm.R))
    kind = context_kind(prog.prog_type)
    builder = _BUILDERS[kind.ctx]
    r1, r2 = builder(env, kind, packet, ctx)
    return Prepared(env, r1, r2, programs, prog)


def _build_xdp(env: Env, kind: CtxKind, packet: bytes | None, ctx) -> tuple[int, int]:
    frame = packet or b""
    room = XDP_FRAME_SIZE - PACKET_HEADROOM - XDP_TAILROOM
    if len(frame) > room:
        raise RunError(f"an XDP frame holds at most {room} bytes (this packet is {len(frame)})")
    data = add_packet(env, frame, headroom=PACKET_HEADROOM)
    fields = {"data": data, "data_end": data + len(frame), "data_meta": data,
              "ingress_ifindex": LOOPBACK_IFINDEX, "rx_queue_index": 0, "egress_ifindex": 0}
    fields.update(_overrides(ctx, XDP_MD, ("data", "data_end", "data_meta")))
    order = env.memory.byteorder
    raw = bytearray(XDP_MD_SIZE)
    for name, off in XDP_MD.items():
        raw[off:off + 4] = (fields[name] & M32).to_bytes(4, order)
    return add_ctx(env, bytes(raw)), 0


def _build_skb(env: Env, kind: CtxKind, packet: bytes | None, ctx) -> tuple[int, int]:
    frame = packet or b""
    if len(frame) < ETH_HLEN:
        # test_run (bpf_test_init) refuses it too: eth_type_trans needs a header
        raise RunError(f"an skb needs at least an Ethernet header ({ETH_HLEN} bytes); "
                       f"this packet is {len(frame)}")
    start = add_packet(env, frame, headroom=PACKET_HEADROOM)
    order = env.memory.byteorder
    data = start if kind.l2 else start + ETH_HLEN
    end = start + len(frame)
    # skb->protocol is the __be16 ethertype as the host loads it
    fields = {"len": end - data, "pkt_type": _pkt_type(frame),
              "protocol": _eth_protocol(frame, order),
              "ifindex": LOOPBACK_IFINDEX, "data": data, "data_end": end, "data_meta": data}
    fields.update(_overrides(ctx, SK_BUFF, ("data", "data_end", "data_meta", "len", "protocol")))
    raw = bytearray(SK_BUFF_SIZE)
    for name, value in fields.items():
        off, size = SK_BUFF[name]
        if name in ("cb", "remote_ip6", "local_ip6") and isinstance(value, (bytes, bytearray)):
            raw[off:off + size] = bytes(value).ljust(size, b"\0")[:size]
        else:
            raw[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, order)
    env.packet = (data, end)
    return add_ctx(env, bytes(raw)), 0


def _eth_protocol(frame: bytes, order: str) -> int:
    """eth_type_trans: the ethertype, or ETH_P_802_3/802_2 for 802.3 length frames."""
    proto = int.from_bytes(frame[12:14], "big")
    if proto < 0x600:
        proto = 0x0001 if frame[14:16] == b"\xff\xff" else 0x0004
    return int.from_bytes(proto.to_bytes(2, "big"), order)


def _pkt_type(frame: bytes) -> int:
    """eth_type_trans on the loopback device (address 00:00:00:00:00:00)."""
    dst = frame[:6]
    if dst[0] & 1:
        return 1 if dst == b"\xff" * 6 else 2          # PACKET_BROADCAST / MULTICAST
    return 0 if dst == bytes(6) else 3                 # PACKET_HOST / OTHERHOST


def _overrides(ctx, table: dict, fixed: tuple[str, ...]) -> dict[str, int]:
    if ctx is None:
        return {}
    if not isinstance(ctx, dict):
        raise RunError("for xdp and skb programs give ctx as field -> value overrides")
    for name in ctx:
        if name not in table:
            raise RunError(f"context has no field {name!r} (fields: {', '.join(table)})")
        if name in fixed:
            raise RunError(f"context field {name!r} is set from the packet")
    return dict(ctx)


def _build_raw(env: Env, kind: CtxKind, packet: bytes | None, ctx) -> tuple[int, int]:
    if ctx is not None and not isinstance(ctx, (bytes, bytearray)):
        raise RunError(f"a {env.prog_type} program takes raw context bytes")
    if packet is not None and ctx is not None:
        raise RunError(f"a {env.prog_type} program takes a context or a memory block, not both")
    if packet is not None:
        return add_packet(env, packet), len(packet)
    block = bytes(ctx) if ctx is not None else bytes(RAW_CTX_SIZE)
    return add_ctx(env, block), len(block)


_BUILDERS = {"xdp": _build_xdp, "skb": _build_skb, "raw": _build_raw}


# ---------------------------------------------------------------- running and reporting

@dataclass(frozen=True)
class Outcome:
    """What a run left behind, in the shape BPF_PROG_TEST_RUN reports it."""
    r0: int
    retval: int                          # r0 & 0xffffffff, test_run's u32 retval
    verdict: str | None                  # XDP_* / TC_ACT_* where the type has them
    packet: bytes | None                 # data_out: xdp data_meta..data_end, skb the frame
                                         # (from the network header: a zeroed MAC header first)
    ctx: bytes | None
    maps: dict[str, list[tuple[bytes, bytes]]]
    fault: BpfjitError | None = None
    helper_calls: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.fault is None

    def describe(self) -> str:
        """The outcome as text: r0 and its name, the fault, the packet, every map entry."""
        name = f" ({self.verdict})" if self.verdict else ""
        lines = [f"r0 = {self.r0} (0x{self.r0:x}){name}"]
        if self.fault is not None:
            lines.append(f"fault: {self.fault}")
        if self.packet is not None:
            lines.append(f"packet: {len(self.packet)} bytes")
            lines += [f"  {i:04x}  {self.packet[i:i + 16].hex(' ')}"
                      for i in range(0, len(self.packet), 16)]
        for mname, items in self.maps.items():
            lines.append(f"map {mname}: {len(items)} entries")
            lines += [f"  {k.hex(' ') or '-'} -> {v.hex(' ')}" for k, v in items]
        return "\n".join(lines)


def run(p: Prepared, *, max_insns: int = DEFAULT_BUDGET) -> Outcome:
    """Interpret a prepared run and report it."""
    result = interp_run(p.prog, env=p.env, r1=p.r1, r2=p.r2, max_insns=max_insns,
                        programs=p.programs)
    return outcome(p.prog, result, block=p.r2)


def outcome(prog: Program, result: Result, *, block: int | None = None) -> Outcome:
    """The Outcome of a finished run of `prog` (interpreter or runner), read from the
    Result's snapshot of the packet and context regions.  `block` is the length of
    a raw program's memory block (Prepared.r2), which the snapshot cannot tell."""
    regions = result.regions
    order = prog.byteorder
    kind = context_kind(prog.prog_type)
    packet = ctx = None
    pkt = regions.get("packet")

    def field(name: str) -> int:
        off, size = _field(prog.prog_type, name)
        return int.from_bytes(ctx[off:off + size], order)

    if kind.ctx in ("xdp", "skb") and "ctx" in regions:
        ctx = regions["ctx"][:XDP_MD_SIZE if kind.ctx == "xdp" else SK_BUFF_SIZE]
        start = field("data_meta") if kind.ctx == "xdp" else field("data")
        packet = pkt[start - PACKET_BASE:field("data_end") - PACKET_BASE]
        if kind.ctx == "skb" and not kind.l2:
            # test_run pushes the MAC header back zeroed: the program never saw it
            packet = bytes(ETH_HLEN) + packet
    elif pkt is not None:                                 # a raw memory block
        packet = pkt[:block] if block is not None else pkt
    elif "ctx" in regions:
        ctx = regions["ctx"][:block] if block is not None else regions["ctx"]
    return Outcome(r0=result.r0, retval=result.r0 & M32,
                   verdict=verdict_name(prog.prog_type, result.r0), packet=packet, ctx=ctx,
                   maps=result.maps, fault=result.fault, helper_calls=result.helper_calls)


def report(obj: Object | None, prog: Program, result: Result) -> str:
    """A finished run as text (Outcome.describe), for the CLI."""
    return outcome(prog, result).describe()


def ctx_field(outcome_ctx: bytes, prog_type: str, name: str, byteorder: str = "little") -> int:
    """Read one field of a context struct from Outcome.ctx."""
    off, size = _field(prog_type, name)
    return int.from_bytes(outcome_ctx[off:off + size], byteorder)
