"""Helper functions, implemented once for the interpreter and the Unicorn runner.

This module owns what each helper does to a run's state (`Env`): memory, maps,
the call log, trace output, the clock and the random numbers.  It does not own
how a helper is reached: the interpreter calls `Helper.fn` directly, the runner
from a trampoline hook after reading the arguments per the target's C ABI.

A helper is `Helper(id, name, fn, nargs)` with `fn(env, r1, r2, r3, r4, r5) ->
int` (the u64 for r0).  Two registries, id -> Helper:

  KERNEL       the Linux helpers that need no packet or socket context, under
               their uapi ids (include/uapi/linux/bpf.h).  Packet helpers
               (xdp_adjust_head, skb_load_bytes, ...) are added by the context
               module into this same dict shape.
  CONFORMANCE  the helper ABI the bpf_conformance suite's test plugins assume
               (ids 0-5: gather_bytes, memfrob, no-op, sqrti, strcmp_ext,
               unwind).

Determinism: every run with the same seed gives the same results.  The clock
starts at CLOCK_START_NS and advances CLOCK_STEP_NS per read; get_prandom_u32
is xorshift64* seeded from the run's seed; trace_printk prints `%p` as the raw
address (the kernel hashes it, which no two runs could agree on).

Two helpers are not ordinary calls:

  tail_call (12)   changes control flow, so the caller (interpreter or runner)
                   recognises TAIL_CALL and uses `tail_call_target`, which
                   applies the kernel's rules and counts; `fn` itself refuses.
  unwind (conformance 5)  with r1 == 0 raises `Unwind`: the program stops at
                   once and returns 0 (uBPF's unwind extension).
"""
from __future__ import annotations

import errno
import math
from dataclasses import dataclass, field
from typing import Callable

from jit.errors import MemoryFault, RunError
from jit.maps import Maps
from jit.memory import Memory

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

CLOCK_START_NS = 1_000_000_000
CLOCK_STEP_NS = 1_000

MAX_TAIL_CALLS = 33           # the kernel's MAX_TAIL_CALL_CNT
BPF_MAX_LOOPS = 1 << 23       # bpf_loop's limit on nr_loops
MAX_PRINTK_ARGS = 3           # bpf_trace_printk: r3..r5
MAX_BPRINTF_VARARGS = 12      # bpf_trace_vprintk / bpf_snprintf
MAX_STR = 1023                # longest %s argument read (MAX_BPRINTF_BUF - 1)

TAIL_CALL = 12


class Unwind(Exception):
    """Raised by the conformance unwind helper: stop the program with r0 = 0."""


def _errno(e: int) -> int:
    return -e & M64


@dataclass
class Env:
    """The state helpers see and change during one run."""
    memory: Memory
    maps: Maps
    helpers: dict = field(default_factory=dict)          # the set this run uses, id -> Helper
    seed: int = 0
    prog_type: str = "raw"
    packet: tuple[int, int] | None = None                # (data, data_end) when there is a packet
    calls: list[tuple[int, str, tuple[int, ...]]] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    clock_ns: int = CLOCK_START_NS
    tail_calls: int = 0
    pid: int = 4242
    tgid: int = 4242
    uid: int = 1000
    gid: int = 1000
    comm: bytes = b"bpfjit"
    redirect: tuple[int, int] | None = None              # (ifindex, flags) of the last bpf_redirect
    # Set by whoever runs the program: call the eBPF function at a function
    # address (see interp.FUNC_ADDR_BASE) with r1..r5 and return its r0.
    # Helpers that take callbacks (bpf_loop) go through it.
    call_func: Callable[[int, int, int, int, int, int], int] | None = None

    def __post_init__(self) -> None:
        # xorshift64* needs a non-zero state; mix the seed so 0, 1, 2... differ widely.
        s = (self.seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & M64
        self._rng = s or 0x2545F4914F6CDD1D

    def random_u32(self) -> int:
        x = self._rng
        x ^= x >> 12
        x ^= (x << 25) & M64
        x ^= x >> 27
        self._rng = x
        return ((x * 0x2545F4914F6CDD1D) & M64) >> 32

    def now_ns(self) -> int:
        t = self.clock_ns
        self.clock_ns += CLOCK_STEP_NS
        return t


@dataclass(frozen=True)
class Helper:
    id: int
    name: str
    fn: Callable[..., int]
    nargs: int


def tail_call_target(env: Env, map_ptr: int, index: int) -> int:
    """The prog array slot a tail call jumps to, or 0 to fall through.

    The kernel's order (kernel/bpf/core.c, JMP_TAIL_CALL): an index (u32) out of
    range falls through without counting; past MAX_TAIL_CALLS falls through;
    otherwise the count goes up *before* the slot is read, so an empty slot
    uses up one of the 33 tail calls too.
    """
    index &= M32
    st = env.maps.by_ptr(map_ptr)
    if index >= st.mdef.max_entries:
        return 0
    if env.tail_calls >= MAX_TAIL_CALLS:
        return 0
    env.tail_calls += 1
    return env.maps.prog_slot(map_ptr, index)


# ---------------------------------------------------------------- kernel helpers

def _map_lookup_elem(env: Env, m: int, key: int, *_: int) -> int:
    st = env.maps.by_ptr(m)
    return env.maps.lookup(m, env.memory.read(key, st.mdef.key_size))


def _map_update_elem(env: Env, m: int, key: int, value: int, flags: int, *_: int) -> int:
    st = env.maps.by_ptr(m)
    k = env.memory.read(key, st.mdef.key_size)
    v = env.memory.read(value, st.mdef.value_size)
    return env.maps.update(m, k, v, flags) & M64


def _map_delete_elem(env: Env, m: int, key: int, *_: int) -> int:
    st = env.maps.by_ptr(m)
    return env.maps.delete(m, env.memory.read(key, st.mdef.key_size)) & M64


def _map_lookup_percpu_elem(env: Env, m: int, key: int, cpu: int, *_: int) -> int:
    if cpu & M32:
        return 0            # there is one CPU
    return _map_lookup_elem(env, m, key)


def _probe_read(env: Env, dst: int, size: int, src: int, *_: int) -> int:
    size &= M32
    try:
        data = env.memory.read(src, size)
    except MemoryFault:
        env.memory.write(dst, bytes(size))       # the kernel zeroes dst on a fault
        return _errno(errno.EFAULT)
    env.memory.write(dst, data)
    return 0


def _probe_read_str(env: Env, dst: int, size: int, src: int, *_: int) -> int:
    size &= M32
    if size == 0:
        return 0
    s = env.memory.read_cstr(src, size - 1)
    if s is None:
        env.memory.write(dst, bytes(size))
        return _errno(errno.EFAULT)
    env.memory.write(dst, s + b"\0")
    return len(s) + 1


def _ktime_get_ns(env: Env, *_: int) -> int:
    return env.now_ns()


def _trace_printk(env: Env, fmt: int, fmt_size: int, a1: int, a2: int, a3: int) -> int:
    text = format_printf(env.memory, fmt, fmt_size, [a1, a2, a3])
    if text is None:
        return _errno(errno.EINVAL)
    env.trace.append(text)
    return len(text)


def _trace_vprintk(env: Env, fmt: int, fmt_size: int, data: int, data_len: int, *_: int) -> int:
    args = _varargs(env, data, data_len)
    text = None if args is None else format_printf(env.memory, fmt, fmt_size, args)
    if text is None:
        return _errno(errno.EINVAL)
    env.trace.append(text)
    return len(text)


def _snprintf(env: Env, out: int, out_size: int, fmt: int, data: int, data_len: int) -> int:
    out_size &= M32
    args = _varargs(env, data, data_len)
    text = None if args is None else format_printf(env.memory, fmt, M32, args)
    if text is None:
        return _errno(errno.EINVAL)
    raw = text.encode("latin-1")
    if out_size:
        env.memory.write(out, raw[:out_size - 1] + b"\0")
    return len(raw) + 1


def _varargs(env: Env, data: int, data_len: int) -> list[int] | None:
    data_len &= M32
    if data_len % 8 or data_len > 8 * MAX_BPRINTF_VARARGS or (data_len and not data):
        return None
    return [env.memory.load(data + 8 * i, 8) for i in range(data_len // 8)]


def _get_prandom_u32(env: Env, *_: int) -> int:
    return env.random_u32()


def _zero(env: Env, *_: int) -> int:
    return 0


def _get_current_pid_tgid(env: Env, *_: int) -> int:
    return (env.tgid << 32 | env.pid) & M64


def _get_current_uid_gid(env: Env, *_: int) -> int:
    return (env.gid << 32 | env.uid) & M64


def _get_current_comm(env: Env, buf: int, size: int, *_: int) -> int:
    size &= M32
    if size:
        env.memory.write(buf, env.comm[:size - 1].ljust(size, b"\0"))
    return 0


TC_ACT_SHOT = 2
TC_ACT_REDIRECT = 7
XDP_ABORTED = 0
XDP_REDIRECT = 4
BPF_F_INGRESS = 1


def _redirect(env: Env, ifindex: int, flags: int, *_: int) -> int:
    # XDP programs get bpf_xdp_redirect under the same id, with its own returns.
    if env.prog_type == "xdp":
        if flags:
            return XDP_ABORTED
        env.redirect = (ifindex & M32, flags)
        return XDP_REDIRECT
    if flags & ~BPF_F_INGRESS:
        return TC_ACT_SHOT
    env.redirect = (ifindex & M32, flags)
    return TC_ACT_REDIRECT


def _loop(env: Env, nr_loops: int, callback: int, ctx: int, flags: int, *_: int) -> int:
    nr_loops &= M32
    if flags:
        return _errno(errno.EINVAL)
    if nr_loops > BPF_MAX_LOOPS:
        return _errno(errno.E2BIG)
    if env.call_func is None:
        raise RunError("bpf_loop needs a runner that can call eBPF callbacks")
    for i in range(nr_loops):
        if env.call_func(callback, i, ctx, 0, 0, 0) & M64:   # 1 = stop
            return i + 1
    return nr_loops


def _tail_call(env: Env, *_: int) -> int:
    raise RunError("bpf_tail_call is control flow: the interpreter or runner must handle it "
                   "with tail_call_target")


KERNEL: dict[int, Helper] = {h.id: h for h in (
    Helper(1, "map_lookup_elem", _map_lookup_elem, 2),
    Helper(2, "map_update_elem", _map_update_elem, 4),
    Helper(3, "map_delete_elem", _map_delete_elem, 2),
    Helper(4, "probe_read", _probe_read, 3),
    Helper(5, "ktime_get_ns", _ktime_get_ns, 0),
    Helper(6, "trace_printk", _trace_printk, 5),
    Helper(7, "get_prandom_u32", _get_prandom_u32, 0),
    Helper(8, "get_smp_processor_id", _zero, 0),
    Helper(TAIL_CALL, "tail_call", _tail_call, 3),
    Helper(14, "get_current_pid_tgid", _get_current_pid_tgid, 0),
    Helper(15, "get_current_uid_gid", _get_current_uid_gid, 0),
    Helper(16, "get_current_comm", _get_current_comm, 2),
    Helper(23, "redirect", _redirect, 2),
    Helper(42, "get_numa_node_id", _zero, 0),
    Helper(45, "probe_read_str", _probe_read_str, 3),
    Helper(112, "probe_read_user", _probe_read, 3),
    Helper(113, "probe_read_kernel", _probe_read, 3),
    Helper(114, "probe_read_user_str", _probe_read_str, 3),
    Helper(115, "probe_read_kernel_str", _probe_read_str, 3),
    Helper(125, "ktime_get_boot_ns", _ktime_get_ns, 0),
    Helper(160, "ktime_get_coarse_ns", _ktime_get_ns, 0),
    Helper(165, "snprintf", _snprintf, 5),
    Helper(177, "trace_vprintk", _trace_vprintk, 4),
    Helper(181, "loop", _loop, 4),
    Helper(195, "map_lookup_percpu_elem", _map_lookup_percpu_elem, 3),
    Helper(208, "ktime_get_tai_ns", _ktime_get_ns, 0),
)}


# ---------------------------------------------------------------- conformance helpers

def _gather_bytes(env: Env, a: int, b: int, c: int, d: int, e: int) -> int:
    return (a & 0xFF) << 32 | (b & 0xFF) << 24 | (c & 0xFF) << 16 | (d & 0xFF) << 8 | (e & 0xFF)


def _memfrob(env: Env, p: int, n: int, *_: int) -> int:
    data = env.memory.read(p, n)
    env.memory.write(p, bytes(x ^ 42 for x in data))
    return 0


def _sqrti(env: Env, a: int, *_: int) -> int:
    # The plugins compute (uint64_t)sqrt((double)a); the floor square root is
    # the same for every a below 2**52 and exact above it.
    return math.isqrt(a)


def _strcmp_ext(env: Env, a: int, b: int, *_: int) -> int:
    sa = env.memory.read_cstr(a, 1 << 16)
    sb = env.memory.read_cstr(b, 1 << 16)
    if sa is None:
        raise MemoryFault("read", a, 1)
    if sb is None:
        raise MemoryFault("read", b, 1)
    for x, y in zip(sa + b"\0", sb + b"\0"):
        if x != y:
            return (x - y) & M64
    return 0


def _unwind(env: Env, a: int, *_: int) -> int:
    if a == 0:
        raise Unwind()
    return a


CONFORMANCE: dict[int, Helper] = {h.id: h for h in (
    Helper(0, "gather_bytes", _gather_bytes, 5),
    Helper(1, "memfrob", _memfrob, 2),
    Helper(2, "no_op", _zero, 0),
    Helper(3, "sqrti", _sqrti, 1),
    Helper(4, "strcmp_ext", _strcmp_ext, 2),
    Helper(5, "unwind", _unwind, 1),
)}

HELPER_SETS: dict[str, dict[int, Helper]] = {"kernel": KERNEL, "conformance": CONFORMANCE}


# ---------------------------------------------------------------- printf

_FLAGS = b"0+- "
_INT_CONVS = b"diuxX"


def format_printf(mem: Memory, fmt_addr: int, fmt_size: int, args: list[int]) -> str | None:
    """Format like the kernel's bpf_bprintf_prepare + bstr_printf; None for -EINVAL.

    Accepted: %% %c %s %p (and %pK %px %ps %pS %pks %pus %pi4 %pI4 %pi6 %pI6),
    [flags 0+- space][width] and d i u x X with no, l or ll length.  %d/%u/%x
    without `l` take the low 32 bits; with `l` or `ll` all 64.
    """
    fmt_size &= M32
    if fmt_size == 0:
        return None
    raw = mem.read_cstr(fmt_addr, fmt_size)
    if raw is None or len(raw) >= fmt_size:
        return None           # the format must hold its NUL within fmt_size
    out: list[str] = []
    i = 0
    n = len(raw)
    nspec = 0

    def at(k: int) -> int:
        return raw[k] if k < n else 0

    while i < n:
        ch = raw[i]
        if not (0x20 <= ch < 0x7F or ch in b"\t\n\v\f\r"):
            return None
        if ch != 0x25:                                         # '%'
            out.append(chr(ch))
            i += 1
            continue
        if at(i + 1) == 0x25:
            out.append("%")
            i += 2
            continue
        if nspec >= len(args):
            return None
        arg = args[nspec] & M64
        nspec += 1
        i += 1
        start = i
        while at(i) and at(i) in _FLAGS:
            i += 1
        if 0x31 <= at(i) <= 0x39:
            while 0x30 <= at(i) <= 0x39:
                i += 1
        spec = raw[start:i].decode()
        c = at(i)
        if c == 0x70:                                          # 'p'
            nxt = at(i + 1)
            if nxt in b"ku" and at(i + 2) == 0x73:             # %pks / %pus: a string
                s = mem.read_cstr(arg, MAX_STR)
                out.append(("%" + spec + "s") % (s or b"").decode("latin-1"))
                i += 3
                continue
            if nxt == 0 or chr(nxt).isspace() or _ispunct(nxt) or nxt in b"KxsS":
                out.append(("%" + spec + "s") % f"{arg:016x}")
                i += 2 if nxt in b"KxsS" else 1
                continue
            if nxt in b"iI" and at(i + 2) in b"46":
                width = 4 if at(i + 2) == 0x34 else 16
                try:
                    ip = mem.read(arg, width)
                except MemoryFault:
                    ip = bytes(width)
                if width == 4:
                    txt = ".".join(str(b) for b in ip)
                elif nxt == 0x49:
                    txt = ":".join(ip[k:k + 2].hex() for k in range(0, 16, 2))
                else:
                    txt = ip.hex()
                out.append(("%" + spec + "s") % txt)
                i += 3
                continue
            return None
        if c == 0x73:                                          # 's'
            s = mem.read_cstr(arg, MAX_STR)
            out.append(("%" + spec + "s") % (s or b"").decode("latin-1"))
            i += 1
            continue
        if c == 0x63:                                          # 'c'
            out.append(("%" + spec + "c") % chr(arg & 0xFF))
            i += 1
            continue
        bits = 32
        if at(i) == 0x6C:                                      # 'l'
            bits = 64
            i += 1
            if at(i) == 0x6C:
                i += 1
        conv = at(i)
        if conv == 0 or conv not in _INT_CONVS:
            return None
        v = arg & ((1 << bits) - 1)
        if conv in b"di" and v >> (bits - 1):
            v -= 1 << bits
        pyconv = "d" if conv in b"diu" else chr(conv)
        out.append(("%" + spec + pyconv) % v)
        i += 1
    return "".join(out)


def _ispunct(c: int) -> bool:
    return 0x21 <= c < 0x7F and not chr(c).isalnum()
