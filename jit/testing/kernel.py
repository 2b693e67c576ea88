"""The running Linux kernel as an oracle: load a program, test-run it, read r0.

This module owns talking to the kernel's bpf() system call and isolating
that from the caller.  It does not decide what to compare (tests do) and is
never on the product path.

Why raw bpf() through ctypes: it needs no extra dependency (no libbpf, no
bcc), works as root on any Linux with the syscall, and exposes exactly the
attr fields we use (BPF_PROG_LOAD with a verifier log, BPF_MAP_CREATE,
BPF_MAP_UPDATE_ELEM, BPF_MAP_LOOKUP_ELEM, BPF_PROG_TEST_RUN,
BPF_OBJ_GET_INFO_BY_FD).

Why a subprocess: some kernels have verifier bugs that oops the *loading*
process on loop-heavy programs.  `run_in_subprocess` and `run_batch` do the
load and test run in a child (`python -m jit.testing.kernel --serve`, one JSON line per
request and per answer); a child that dies or hangs is reported as
`KernelRefused`, exactly like a verifier rejection, and the next request gets a
fresh child.  The in-process functions (`prog_load`, `prog_test_run`, ...) are
for programs known to be harmless.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import json
import os
import platform
import struct
import subprocess
import sys
from dataclasses import dataclass, field

from jit.errors import BpfjitError

# bpf() commands (enum bpf_cmd)
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_PROG_LOAD = 5
BPF_PROG_TEST_RUN = 10
BPF_OBJ_GET_INFO_BY_FD = 15

# enum bpf_prog_type (the ones an oracle run can use)
PROG_TYPES = {
    "socket_filter": 1, "kprobe": 2, "sched_cls": 3, "sched_act": 4, "tracepoint": 5,
    "xdp": 6, "perf_event": 7, "cgroup_skb": 8, "lwt_in": 10, "lwt_out": 11,
    "lwt_xmit": 12, "sk_skb": 14, "flow_dissector": 22, "raw_tracepoint": 17,
    "syscall": 31,
}

# __NR_bpf per machine
_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "armv7l": 386, "armv6l": 386,
           "ppc64le": 361, "ppc64": 361, "s390x": 351, "i686": 357, "i386": 357}

_ATTR_SIZE = 160          # larger than every attr layout used here; the rest is zero
_SKB_DATA = 76            # offsetof(struct __sk_buff, data)
_SKB_DATA_END = 80        # offsetof(struct __sk_buff, data_end)


class KernelError(BpfjitError):
    """A bpf() call that failed; `errno` is the error, `log` the verifier log if any."""

    def __init__(self, msg: str, err: int, log: str = "") -> None:
        super().__init__(f"{msg}: {os.strerror(err)}")
        self.errno = err
        self.log = log


@dataclass(frozen=True)
class KernelRefused:
    """The kernel would not load or run a program, or the loading process died."""
    reason: str
    log: str = ""

    def __bool__(self) -> bool:           # `if result:` reads as "did it run"
        return False


@dataclass(frozen=True)
class TestRun:
    retval: int
    data_out: bytes
    ctx_out: bytes
    duration_ns: int


@dataclass(frozen=True)
class ProgInfo:
    prog_type: int
    id: int
    tag: bytes
    jited_prog_len: int
    xlated_prog_len: int


@dataclass
class _Buf:
    """Keeps ctypes buffers alive while the kernel holds their addresses."""
    keep: list = field(default_factory=list)

    def ptr(self, data: bytes | int) -> int:
        buf = ctypes.create_string_buffer(data) if isinstance(data, int) \
            else ctypes.create_string_buffer(bytes(data), len(data) or 1)
        self.keep.append(buf)
        return ctypes.addressof(buf)


_libc = None


def _sys_bpf(cmd: int, attr: bytearray) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    nr = _NR_BPF.get(platform.machine())
    if nr is None:
        raise KernelError(f"bpf() on {platform.machine()}", _errno.ENOSYS)
    cattr = (ctypes.c_char * len(attr)).from_buffer(attr)
    ret = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), cattr, ctypes.c_uint(len(attr)))
    if ret < 0:
        return -ctypes.get_errno()
    return ret


# ---------------------------------------------------------------- in-process calls

def map_create(map_type: int, key_size: int, value_size: int, max_entries: int,
               flags: int = 0, inner_map_fd: int = 0) -> int:
    attr = bytearray(_ATTR_SIZE)
    struct.pack_into("<IIIIII", attr, 0, map_type, key_size, value_size, max_entries, flags,
                     inner_map_fd)
    fd = _sys_bpf(BPF_MAP_CREATE, attr)
    if fd < 0:
        raise KernelError(f"BPF_MAP_CREATE (type {map_type})", -fd)
    return fd


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    b = _Buf()
    attr = bytearray(_ATTR_SIZE)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, b.ptr(key), b.ptr(value), flags)
    ret = _sys_bpf(BPF_MAP_UPDATE_ELEM, attr)
    if ret < 0:
        raise KernelError("BPF_MAP_UPDATE_ELEM", -ret)


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    b = _Buf()
    out = ctypes.create_string_buffer(value_size or 1)
    attr = bytearray(_ATTR_SIZE)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, b.ptr(key), ctypes.addressof(out), 0)
    ret = _sys_bpf(BPF_MAP_LOOKUP_ELEM, attr)
    if ret == -_errno.ENOENT:
        return None
    if ret < 0:
        raise KernelError("BPF_MAP_LOOKUP_ELEM", -ret)
    return out.raw[:value_size]


def prog_load(insns: bytes, prog_type: int | str, *, license: str = "GPL", log_level: int = 1,
              log_size: int = 1 << 20, expected_attach_type: int = 0,
              name: str = "") -> tuple[int, str]:
    """Load little-endian bytecode; (fd, verifier log).  KernelError with the log on refusal."""
    if isinstance(prog_type, str):
        prog_type = PROG_TYPES[prog_type]
    b = _Buf()
    log = ctypes.create_string_buffer(log_size) if log_level else None
    attr = bytearray(_ATTR_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version, prog_flags
    struct.pack_into("<IIQQIIQII", attr, 0, prog_type, len(insns) // 8, b.ptr(insns),
                     b.ptr(license.encode() + b"\0"), log_level, log_size if log else 0,
                     ctypes.addressof(log) if log else 0, 0, 0)
    attr[48:48 + 16] = name.encode()[:15].ljust(16, b"\0")             # prog_name
    struct.pack_into("<I", attr, 68, expected_attach_type)
    fd = _sys_bpf(BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace") if log else ""
    if fd < 0:
        raise KernelError("BPF_PROG_LOAD", -fd, text)
    return fd, text


def prog_test_run(fd: int, data_in: bytes = b"", *, data_size_out: int | None = None,
                  ctx_in: bytes | None = None, ctx_size_out: int = 0, repeat: int = 1) -> TestRun:
    b = _Buf()
    if data_size_out is None:
        data_size_out = len(data_in) + 512 if data_in else 0
    dout = ctypes.create_string_buffer(data_size_out or 1)
    cout = ctypes.create_string_buffer(ctx_size_out or 1)
    attr = bytearray(_ATTR_SIZE)
    # prog_fd, retval, data_size_in, data_size_out, data_in, data_out, repeat, duration,
    # ctx_size_in, ctx_size_out, ctx_in, ctx_out
    struct.pack_into("<IIIIQQIIIIQQ", attr, 0, fd, 0, len(data_in), data_size_out,
                     b.ptr(data_in) if data_in else 0,
                     ctypes.addressof(dout) if data_size_out else 0,
                     repeat, 0, len(ctx_in or b""), ctx_size_out,
                     b.ptr(ctx_in) if ctx_in else 0,
                     ctypes.addressof(cout) if ctx_size_out else 0)
    ret = _sys_bpf(BPF_PROG_TEST_RUN, attr)
    if ret < 0:
        raise KernelError("BPF_PROG_TEST_RUN", -ret)
    _, retval, _, dsize, _, _, _, duration, _, csize = struct.unpack_from("<IIIIQQIIII", attr, 0)
    return TestRun(retval, dout.raw[:dsize], cout.raw[:csize] if ctx_size_out else b"", duration)


def prog_info(fd: int) -> ProgInfo:
    info = ctypes.create_string_buffer(256)
    attr = bytearray(_ATTR_SIZE)
    struct.pack_into("<IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    ret = _sys_bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    if ret < 0:
        raise KernelError("BPF_OBJ_GET_INFO_BY_FD", -ret)
    # struct bpf_prog_info: type, id, tag[8], jited_prog_len, xlated_prog_len
    ptype, pid = struct.unpack_from("<II", info.raw, 0)
    jited, xlated = struct.unpack_from("<II", info.raw, 16)
    return ProgInfo(ptype, pid, info.raw[8:16], jited, xlated)


_AVAILABLE: tuple[bool, str] | None = None


def available() -> tuple[bool, str]:
    """(True, "") when programs can be loaded and test-run here, else (False, why)."""
    global _AVAILABLE
    if _AVAILABLE is not None:
        return _AVAILABLE
    if sys.platform != "linux":
        _AVAILABLE = (False, f"bpf() needs Linux, not {sys.platform}")
    elif platform.machine() not in _NR_BPF:
        _AVAILABLE = (False, f"no bpf() syscall number known for {platform.machine()}")
    else:
        # r0 = 7; exit: harmless, so it is loaded in this process.
        prog = bytes.fromhex("b700000007000000" "9500000000000000")
        try:
            fd, _ = prog_load(prog, "socket_filter", log_level=0)
            try:
                r = prog_test_run(fd, bytes(64))
            finally:
                os.close(fd)
            _AVAILABLE = (True, "") if r.retval == 7 else \
                (False, f"BPF_PROG_TEST_RUN returned {r.retval}, expected 7")
        except (KernelError, OSError) as e:
            _AVAILABLE = (False, f"the kernel will not load a trivial program ({e})")
    return _AVAILABLE


# ---------------------------------------------------------------- child-side functions

def patch_maps(insns: bytes, fds: list[int]) -> bytes:
    """Replace map indices in LDDW src=1/2 (bpfjit's loaded form) with map fds."""
    out = bytearray(insns)
    i = 0
    while i + 16 <= len(out):
        if out[i] == 0x18:
            src = out[i + 1] >> 4
            if src in (1, 2):
                idx = struct.unpack_from("<I", out, i + 4)[0]
                struct.pack_into("<I", out, i + 4, fds[idx])
            i += 16
        else:
            i += 8
    return bytes(out)


def load_and_run(insns: str, prog_type: int | str, data_in: str = "", ctx_in: str | None = None,
                 ctx_size_out: int = 0, maps: list[dict] | None = None, repeat: int = 1,
                 log_level: int = 0) -> dict:
    """Create maps, load, test-run; JSON-able (bytes as hex).  Runs in the child."""
    fds: list[int] = []
    try:
        for m in maps or []:
            fd = map_create(m["type"], m["key_size"], m["value_size"], m["max_entries"])
            fds.append(fd)
            for k, v in m.get("entries", []):
                map_update(fd, bytes.fromhex(k), bytes.fromhex(v))
        code = patch_maps(bytes.fromhex(insns), fds)
        try:
            pfd, _ = prog_load(code, prog_type, log_level=log_level)
        except KernelError as e:
            if log_level:
                raise
            # Load again with a log only to explain the refusal.
            try:
                prog_load(code, prog_type, log_level=1)
            except KernelError as e2:
                raise e2 from None
            raise e
        try:
            info = prog_info(pfd)
            r = prog_test_run(pfd, bytes.fromhex(data_in),
                              ctx_in=bytes.fromhex(ctx_in) if ctx_in else None,
                              ctx_size_out=ctx_size_out, repeat=repeat)
        finally:
            os.close(pfd)
        dumps = []
        for m, fd in zip(maps or [], fds):
            if m["type"] == 2:          # arrays: every element, for comparison
                dumps.append([(map_lookup(fd, i.to_bytes(4, "little"), m["value_size"])
                               or b"").hex() for i in range(m["max_entries"])])
            else:
                dumps.append(None)
        return {"retval": r.retval, "data_out": r.data_out.hex(), "ctx_out": r.ctx_out.hex(),
                "duration_ns": r.duration_ns, "jited_prog_len": info.jited_prog_len,
                "xlated_prog_len": info.xlated_prog_len, "maps": dumps}
    finally:
        for fd in fds:
            os.close(fd)


def load_only(insns: str, prog_type: int | str, log_level: int = 1) -> dict:
    """Load and describe without running; JSON-able.  Runs in the child."""
    fd, log = prog_load(bytes.fromhex(insns), prog_type, log_level=log_level)
    try:
        info = prog_info(fd)
    finally:
        os.close(fd)
    return {"jited_prog_len": info.jited_prog_len, "xlated_prog_len": info.xlated_prog_len,
            "log": log}


def die(signal: int = 9) -> dict:
    """Kill the child as a verifier oops would (for testing the parent's recovery)."""
    os.kill(os.getpid(), signal)
    return {}


CHILD_FUNCTIONS = {"load_and_run": load_and_run, "load_only": load_only, "die": die}


def _serve() -> None:
    """Child loop: one JSON request per stdin line, one JSON answer per stdout line."""
    for line in sys.stdin:
        req = json.loads(line)
        try:
            ans = {"ok": CHILD_FUNCTIONS[req["fn"]](**req["args"])}
        except KernelError as e:
            ans = {"refused": str(e), "log": e.log}
        except Exception as e:                    # a bad request: report, keep serving
            ans = {"refused": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(ans) + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------- parent side

class _Child:
    def __init__(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, "-m", "jit.testing.kernel", "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, cwd=root)

    def ask(self, fn: str, args: dict, timeout: float) -> dict | KernelRefused:
        import selectors
        p = self.proc
        try:
            p.stdin.write(json.dumps({"fn": fn, "args": args}) + "\n")
            p.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._dead()
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            self.kill()
            return KernelRefused(f"the loading process did not answer within {timeout:.0f} s")
        line = p.stdout.readline()
        if not line:
            return self._dead()
        ans = json.loads(line)
        if "ok" in ans:
            return ans["ok"]
        return KernelRefused(ans["refused"], ans.get("log", ""))

    def _dead(self) -> KernelRefused:
        code = self.proc.wait()
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        return KernelRefused(f"the loading process died ({how})")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.alive:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


def run_batch(fn_name: str, args_list: list[dict], *, timeout: float = 20.0) -> list:
    """Call CHILD_FUNCTIONS[fn_name](**args) for each args in a child process.

    Returns one answer per request: the function's dict, or KernelRefused.
    A child that dies takes only its current request with it; the next
    request starts a new child.
    """
    if fn_name not in CHILD_FUNCTIONS:
        raise KeyError(fn_name)
    out: list = []
    child: _Child | None = None
    try:
        for args in args_list:
            if child is None or not child.alive:
                child = _Child()
            out.append(child.ask(fn_name, args, timeout))
    finally:
        if child is not None:
            child.close()
    return out


def run_in_subprocess(fn_name: str, args: dict, *, timeout: float = 20.0):
    """One call of `run_batch`: the function's result dict, or KernelRefused."""
    return run_batch(fn_name, [args], timeout=timeout)[0]


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
    else:
        ok, why = available()
        print("bpf() available" if ok else f"bpf() unavailable: {why}")
