"""The fixtures in the running kernel, against the interpreter, packet by packet.

Every XDP, tc and socket-filter program of tests/progs (the little-endian
builds: the kernel runs bpfel only) is loaded the way libbpf would load it
(maps created and seeded, global data initialised, prog arrays filled, a
minimal BTF with func_info where a program has subprograms), run with
BPF_PROG_TEST_RUN on each packet of tests/test_fixtures.PACKETS, and its
return value, output packet, map contents and (skb) context compared with
`jit.contexts` running the same object on the interpreter.

Each packet gets fresh maps and a fresh load, in a child process
(`python -m tests.test_fixtures_kernel --serve`): the kernel has a verifier
bug that can oops the loading process, and a dead child is "the kernel
refused".  What the kernel refuses because of its own build or limits (a
helper it does not offer the program type, a map type it lacks: see
tests/kernel_refusals.py) is a skip with its reason, never a pass; any other
refusal, and any different answer, fails.

Known, explained divergences are listed in KNOWN below; anything else fails.
"""
from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import selectors
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from jit.testing import kernel
from jit.contexts import ctx_field, prepare, run
from jit.elf import load
from jit.isa import LDDW, encode
from tests.kernel_refusals import not_ours

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "tests" / "progs" / "build"
KERNEL_BUILDS = ("el3", "el4")       # the kernel only runs little-endian bytecode

# fixture -> programs to run (the rest of the object is loaded only as tail-call targets)
RUNNABLE = {
    "xdp_parse": ["xdp_parse"], "xdp_firewall": ["xdp_firewall"], "xdp_counters": ["xdp_count"],
    "xdp_lb": ["xdp_lb"], "tc_nat": ["tc_dns_nat"], "socket_filter": ["snaplen_filter"],
    "legacy_maps": ["legacy_counter"], "calls_deep": ["xdp_calls", "tc_calls"],
    "tail_calls": ["dispatch"], "global_data": ["xdp_globals"], "loops": ["xdp_loops"],
    "alu32_hash": ["xdp_hash"], "sdiv": ["xdp_sdiv"], "bswap": ["xdp_bswap"],
    "crc32": ["xdp_crc32"], "atomics": ["xdp_atomics"], "bpf_loop": ["xdp_callbacks"],
    "xdp_adjust": ["xdp_adjust"], "map_types": ["xdp_route"],
    "stack_arrays": ["xdp_histo", "xdp_chain", "count_bytes", "xdp_fill"],
}

# Divergences we understand: (fixture, program, packet) -> why.
KNOWN: dict[tuple[str, str, str], str] = {}


def refusal_expected(prog_type: str, frame: bytes) -> str | None:
    """Why BPF_PROG_TEST_RUN refuses a frame before the program runs (EINVAL), if it does."""
    if len(frame) < 14:
        return "bpf_test_init refuses data under ETH_HLEN"
    if prog_type in ("sched_cls", "socket_filter"):
        ethertype = frame[12:14]
        if (ethertype == b"\x08\x00" and len(frame) < 34) or \
                (ethertype == b"\x86\xdd" and len(frame) < 54):
            # net/bpf/test_run.c: an skb whose IP header is cut short (stable fix, 2026)
            return "bpf_prog_test_run_skb refuses a truncated IPv4/IPv6 header"
    return None


def seeds_for(fixture: str, build: str) -> dict | None:
    from tests import test_fixtures as tf
    return {
        "xdp_firewall": tf.firewall_seeds, "xdp_lb": tf.lb_seeds, "map_types": tf.route_seeds,
        "atomics": lambda b: {"atoms": [(bytes(4), tf.atoms_pack(tf.ATOM_INITIAL, b))]},
        "bpf_loop": lambda b: {"weights": [(tf.host(i, 4, b), tf.host(w, 8, b))
                                           for i, w in enumerate([5, 7, 0, 9])]},
    }.get(fixture, lambda b: None)(build)


# ====================================================================== the child side
# (plain bpf() calls; jit.testing.kernel provides map_create, prog_test_run and the syscall)

BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_GET_NEXT_KEY = 1, 2, 4
BPF_PROG_LOAD, BPF_BTF_LOAD, BPF_MAP_LOOKUP_AND_DELETE_ELEM = 5, 18, 21
PAGE = mmap.PAGESIZE


class _Mem:
    """ctypes buffers that live as long as this object."""

    def __init__(self) -> None:
        self.keep: list = []

    def buf(self, data: bytes | int):
        b = ctypes.create_string_buffer(data) if isinstance(data, int) \
            else ctypes.create_string_buffer(bytes(data), max(len(data), 1))
        self.keep.append(b)
        return b

    def ptr(self, data: bytes | int | None) -> int:
        return 0 if data is None else ctypes.addressof(self.buf(data))


def _bpf(cmd: int, attr: bytearray) -> int:
    return kernel._sys_bpf(cmd, attr)


def _elem(cmd: int, fd: int, key: bytes | None, value_size: int, flags: int = 0,
          value: bytes | None = None) -> tuple[int, bytes]:
    m = _Mem()
    out = m.buf(value if value is not None else max(value_size, 1))
    attr = bytearray(128)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, m.ptr(key), ctypes.addressof(out), flags)
    ret = _bpf(cmd, attr)
    return ret, out.raw[:value_size]


def _update(fd: int, key: bytes | None, value: bytes, flags: int = 0) -> None:
    ret, _ = _elem(BPF_MAP_UPDATE_ELEM, fd, key, len(value), flags, value=value)
    if ret < 0:
        raise kernel.KernelError("BPF_MAP_UPDATE_ELEM", -ret)


def _next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    ret, nxt = _elem(BPF_MAP_GET_NEXT_KEY, fd, key, key_size)
    return None if ret == -errno.ENOENT else nxt


def _ncpus() -> int:
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    return sum(int(b) - int(a) + 1 if "-" in r else 1
               for r in text.split(",") for a, _, b in [r.partition("-")])


def _btf_for(names: list[str]) -> bytes:
    """int, an `int (void)` prototype, and one FUNC per function (the entry global)."""
    strings = bytearray(b"\0int\0")
    types = [struct.pack("<IIII", 1, 1 << 24, 4, 1 << 24 | 32),          # [1] INT int
             struct.pack("<III", 0, 13 << 24, 1)]                         # [2] FUNC_PROTO
    for i, name in enumerate(names):
        off = len(strings)
        strings += name.encode() + b"\0"
        types.append(struct.pack("<III", off, 12 << 24 | (1 if i == 0 else 0), 2))
    t = b"".join(types)
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(t), len(t), len(strings)) + t + bytes(strings)


def _load_prog(p: dict) -> int:
    m = _Mem()
    insns = bytes.fromhex(p["insns"])
    log = m.buf(1 << 20)
    attr = bytearray(144)
    struct.pack_into("<IIQQIIQII", attr, 0, kernel.PROG_TYPES[p["type"]], len(insns) // 8,
                     m.ptr(insns), m.ptr(b"GPL\0"), 1, 1 << 20, ctypes.addressof(log), 0, 0)
    attr[48:64] = p["name"].encode()[:15].ljust(16, b"\0")
    btf_fd = -1
    if len(p["funcs"]) > 1:
        blob = _btf_for([name for name, _ in p["funcs"]])
        battr = bytearray(32)
        blog = m.buf(1 << 16)
        struct.pack_into("<QQIII", battr, 0, m.ptr(blob), ctypes.addressof(blog), len(blob),
                         1 << 16, 1)
        btf_fd = _bpf(BPF_BTF_LOAD, battr)
        if btf_fd < 0:
            raise kernel.KernelError("BPF_BTF_LOAD", -btf_fd, blog.value.decode(errors="replace"))
        finfo = b"".join(struct.pack("<II", start, 3 + i) for i, (_, start) in enumerate(p["funcs"]))
        struct.pack_into("<IIQI", attr, 72, btf_fd, 8, m.ptr(finfo), len(p["funcs"]))
    try:
        fd = _bpf(BPF_PROG_LOAD, attr)
    finally:
        if btf_fd >= 0:
            os.close(btf_fd)
    if fd < 0:
        raise kernel.KernelError("BPF_PROG_LOAD", -fd, log.value.decode(errors="replace")[-3000:])
    return fd


def _dump(m: dict, fd: int) -> list[list[str]] | None:
    t, ks, vs = m["type"], m["key_size"], m["value_size"]
    out = []
    if t in (2, 6):                                         # arrays: the non-zero elements
        stride = (vs + 7) & ~7
        ncpu = _ncpus() if t == 6 else 1
        for i in range(m["max_entries"]):
            ret, raw = _elem(BPF_MAP_LOOKUP_ELEM, fd, i.to_bytes(4, "little"), stride * ncpu)
            if ret < 0:
                raise kernel.KernelError("BPF_MAP_LOOKUP_ELEM", -ret)
            copies = [raw[c * stride:c * stride + vs] for c in range(ncpu)]
            live = [c for c in copies if any(c)]
            if len(live) > 1:                               # counters run on several CPUs: add up
                words = [sum(struct.unpack_from("<Q", c, o)[0] for c in live) & (2**64 - 1)
                         for o in range(0, vs, 8)]
                live = [b"".join(w.to_bytes(8, "little") for w in words)[:vs]]
            if live:
                out.append([i.to_bytes(4, "little").hex(), live[0].hex()])
    elif t in (1, 11):                                      # hash, LPM trie: every key
        key = None
        while (key := _next_key(fd, key, ks)) is not None:
            ret, value = _elem(BPF_MAP_LOOKUP_ELEM, fd, key, vs)
            out.append([key.hex(), value.hex()])
        out.sort()
    elif t in (22, 23):                                     # queue/stack: pop them all
        values = []
        while True:
            ret, value = _elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, None, vs)
            if ret < 0:
                break
            values.append(value)
        if t == 23:
            values.reverse()                                # oldest first, like our dump
        out = [[i.to_bytes(4, "little").hex(), v.hex()] for i, v in enumerate(values)]
    elif t == 27:                                           # ring buffer: read the records
        size = m["max_entries"]
        cons = mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        prod = mmap.mmap(fd, PAGE + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=PAGE)
        pos, end = struct.unpack_from("<Q", cons, 0)[0], struct.unpack_from("<Q", prod, 0)[0]
        i = 0
        while pos < end:
            hdr = PAGE + (pos & (size - 1))
            length = struct.unpack_from("<I", prod, hdr)[0] & ~(3 << 30)
            out.append([i.to_bytes(4, "little").hex(), prod[hdr + 8:hdr + 8 + length].hex()])
            pos += (length + 8 + 7) & ~7
            i += 1
        cons.close()
        prod.close()
    else:
        return None                                         # prog arrays: fds, not comparable
    return out


def run_request(req: dict) -> dict:
    fds: list[int] = []
    prog_fds: list[int] = []
    try:
        for m in req["maps"]:
            fd = kernel.map_create(m["type"], m["key_size"], m["value_size"], m["max_entries"],
                                   m["flags"])
            fds.append(fd)
            if m["initial"] is not None:
                _update(fd, bytes(4), bytes.fromhex(m["initial"]))
            for k, v in m["seeds"]:
                _update(fd, bytes.fromhex(k) or None, bytes.fromhex(v))
        for p in req["progs"]:
            insns = bytearray(bytes.fromhex(p["insns"]))
            for at in p["map_refs"]:                         # LDDW src=1/2: map index -> fd
                idx = struct.unpack_from("<I", insns, at + 4)[0]
                struct.pack_into("<I", insns, at + 4, fds[idx])
            prog_fds.append(_load_prog(dict(p, insns=insns.hex())))
        for map_idx, slot, prog_idx in req["prog_slots"]:
            _update(fds[map_idx], slot.to_bytes(4, "little"), prog_fds[prog_idx].to_bytes(4, "little"))
        ctx_out = 192 if req["skb"] else 0
        r = kernel.prog_test_run(prog_fds[req["entry"]], bytes.fromhex(req["packet"]),
                                 data_size_out=4096, ctx_size_out=ctx_out,
                                 ctx_in=bytes(192) if req["skb"] else None)
        maps = {m["name"]: _dump(m, fd) for m, fd in zip(req["maps"], fds)}
        return {"retval": r.retval, "data_out": r.data_out.hex(), "ctx_out": r.ctx_out.hex(),
                "maps": {k: v for k, v in maps.items() if v is not None}}
    finally:
        for fd in prog_fds + fds:
            os.close(fd)


def serve() -> None:
    for line in sys.stdin:
        try:
            ans = {"ok": run_request(json.loads(line))}
        except kernel.KernelError as e:
            ans = {"refused": str(e), "log": e.log}
        except Exception as e:                     # report, keep serving
            ans = {"refused": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(ans) + "\n")
        sys.stdout.flush()


# ====================================================================== the parent side

class Child:
    """One serving child; a dead or silent child is a refusal, and is replaced."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def ask(self, req: dict, timeout: float = 30.0) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.test_fixtures_kernel", "--serve"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
        p = self.proc
        try:
            p.stdin.write(json.dumps(req) + "\n")
            p.stdin.flush()
        except OSError:
            return {"refused": f"the loading process died ({p.wait()})"}
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        line = p.stdout.readline() if ready else ""
        if not line:
            p.kill()
            return {"refused": f"the loading process died or hung (status {p.wait()})"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


def request(o, prog, packet: bytes, seeds: dict | None) -> dict:
    maps = []
    for i, m in enumerate(o.maps):
        maps.append({"name": m.name, "type": m.type, "key_size": m.key_size,
                     "value_size": 4 if m.type == 3 else m.value_size,
                     "max_entries": m.max_entries, "flags": m.flags,
                     "initial": m.initial.hex() if m.initial is not None else None,
                     "seeds": [[k.hex(), v.hex()] for k, v in (seeds or {}).get(m.name, [])]})
    # the entry program and every tail-call target in the object
    targets = [prog] + [p for p in o.programs if p is not prog and
                        any(p.name in m.prog_slots.values() for m in o.maps)]
    progs = []
    for p in targets:
        code = encode(p.insns, "little")
        refs = [8 * pc for pc, insn in zip(p.pcs, p.insns) if insn.opcode == LDDW and insn.src in (1, 2)]
        progs.append({"name": p.name, "type": p.prog_type, "insns": code.hex(), "map_refs": refs,
                      "funcs": [[f.name, f.start] for f in p.functions]})
    names = [p.name for p in targets]
    slots = [[i, slot, names.index(name)] for i, m in enumerate(o.maps)
             for slot, name in m.prog_slots.items() if name in names]
    return {"maps": maps, "progs": progs, "prog_slots": slots, "entry": 0, "packet": packet.hex(),
            "skb": prog.prog_type in ("sched_cls", "socket_filter")}


STATS: dict[str, int] = {"compared": 0, "agreed": 0, "refused": 0, "known": 0}


def compare(fixture: str, build: str, progname: str, child: Child,
            skipped: list[str] | None = None) -> list[str]:
    """The differences from the kernel, one line per packet; refusals that are the kernel's
    own limits (`not_ours`) go to `skipped` instead."""
    from tests.test_fixtures import PACKETS
    skipped = [] if skipped is None else skipped
    o = load(BUILD / f"{fixture}.{build}.o")
    prog = o.program(progname)
    seeds = seeds_for(fixture, build)
    problems = []
    for name, frame in PACKETS.items():
        ans = child.ask(request(o, prog, frame, seeds))
        expected = refusal_expected(prog.prog_type, frame)
        if "refused" in ans:
            STATS["refused"] += 1
            if expected and "BPF_PROG_TEST_RUN: Invalid argument" in ans["refused"]:
                continue
            why = not_ours(ans["refused"], ans.get("log", ""))
            if why is not None:
                skipped.append(f"{name}: {why}")
            else:
                problems.append(f"{name}: kernel refused: {ans['refused']} "
                                f"{ans.get('log', '')[-400:]}")
            continue
        if expected:
            problems.append(f"{name}: the kernel ran a frame it should refuse ({expected})")
        k = ans["ok"]
        STATS["compared"] += 1
        out = run(prepare(o, prog, packet=frame, map_seeds=seeds))
        diffs = []
        if out.fault is not None:
            diffs.append(f"interpreter fault {out.fault}")
        if out.retval != k["retval"]:
            diffs.append(f"retval interp {out.retval} kernel {k['retval']}")
        if out.packet != bytes.fromhex(k["data_out"]):
            diffs.append(f"packet interp {out.packet.hex()} kernel {k['data_out']}")
        for mname, kitems in k["maps"].items():
            ours = [[a.hex(), b.hex()] for a, b in out.maps.get(mname, [])]
            if ours != kitems:
                diffs.append(f"map {mname} interp {ours} kernel {kitems}")
        if k["ctx_out"]:
            kctx = bytes.fromhex(k["ctx_out"])
            for fld in ("mark", "priority", "cb"):
                if ctx_field(out.ctx, prog.prog_type, fld) != ctx_field(kctx, prog.prog_type, fld):
                    diffs.append(f"ctx {fld} differs")
        if not diffs:
            STATS["agreed"] += 1
        elif (fixture, progname, name) in KNOWN:
            STATS["known"] += 1
        else:
            problems.append(f"{name}: " + "; ".join(diffs))
    return problems


AVAILABLE, WHY = kernel.available() if sys.platform == "linux" else (False, "not Linux")
CASES = [(f, b, p) for f, progs in RUNNABLE.items() for b in KERNEL_BUILDS for p in progs]


@pytest.fixture(scope="module")
def child():
    c = Child()
    yield c
    c.close()


@pytest.mark.skipif(not AVAILABLE, reason=f"the kernel cannot load programs here: {WHY}")
@pytest.mark.parametrize("fixture,build,prog", CASES, ids=[f"{f}-{b}-{p}" for f, b, p in CASES])
def test_fixture_matches_the_kernel(fixture, build, prog, child):
    skipped: list[str] = []
    before = STATS["compared"]
    problems = compare(fixture, build, prog, child, skipped)
    assert not problems, "\n".join(problems)
    if skipped and STATS["compared"] == before:
        pytest.skip(f"the kernel refused every packet: {skipped[0]}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
