"""Run an Image on the host CPU, in a child process, with the interpreter's memory and helpers.

Where the image's target is the host's own machine (the target's names and
`Toolchain.host` against `platform.machine()`) and its backend package has a
`host` module (the machine code that joins native code to this process), the
code runs for real instead of under Unicorn.  The run happens in a forked
child, so that a fault, a wild store or a runaway loop never takes down the
caller.  In the child:

- every region of the run's `jit.memory.Memory` is a memfd mapped twice: at
  its own base with its own permissions (MAP_FIXED_NOREPLACE: a clash is an
  error, never a silent overwrite), for the code; and anywhere, read-write, as
  the region's `data`, for the Python helpers.  Both see the same pages, so the
  helpers, maps and contexts of the interpreter work unchanged;
- each image is mapped at the base it was compiled for, written while
  writable, then made read+execute (W^X); so is the trampoline page at
  HELPER_BASE, whose slots reach one ctypes callback into the same Python
  helpers (`runner.helper_addr`, `runner.internal_helpers`); the tail-call
  counter page sits at `runner.TAIL_COUNT_ADDR`;
- the entry thunk sets eBPF r10 as the backend's entry convention wants and
  calls the entry function on the child's own C stack;
- a signal handler in machine code records the signal, the fault address and
  the registers in a page shared with the parent and exits; the parent maps
  the instruction pointer back to the eBPF pc through the image's pc map and
  rebuilds the fault the runner would report (`runner._access_start`);
- the instruction budget is a CPU-time limit on the native code (a
  virtual-time interval timer, paused while Python helpers run): native code
  runs about a billion instructions a second, so the limit is generous, and a
  runaway loop stops with the same "instruction budget" error as elsewhere.

The child sends back r0, the bytes of every region, the helper calls and the
maps; the parent copies the bytes into its own regions, so the caller sees
the run as if it had happened in-process.  This module names no machine; the
machine code is the backend's (`backends/<arch>/host.py`).
"""
from __future__ import annotations

import ctypes
import importlib
import mmap
import os
import pickle
import platform
import select
import signal
import sys
import time
from typing import Any

import backends
from jit import memory as M
from jit import runner
from jit.errors import BpfjitError, MemoryFault, RunError, UnsupportedError
from jit.helpers import Unwind
from jit.interp import DEFAULT_STACK_DEPTH, STACK_TOP, Result

M64 = (1 << 64) - 1
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS = 0x01, 0x02, 0x20
MAP_FIXED_NOREPLACE = 0x10_0000
GLUE = M.HELPER_BASE + runner.HELPER_SIZE - 0x1000     # thunks and the helper stub
FAULT_EXIT = 90                 # the child's exit status after the signal handler ran
SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGTRAP,
           signal.SIGVTALRM)
BUDGET_SECONDS_PER_INSN = 1e-6  # CPU seconds of native code per eBPF instruction of budget
MIN_BUDGET_SECONDS = 0.5
WALL_LIMIT = 600.0              # a child silent this long is killed (helpers may be slow)
MAX_FRAMES = 8


# ------------------------------------------------------------------ can it run here?

def _host_module_of(backend: Any):
    """backends.<pkg>.host for the package that defines the backend's RunSpec."""
    pkg = type(backend.run).__module__.rsplit(".", 1)[0]
    try:
        return importlib.import_module(pkg + ".host")
    except ModuleNotFoundError:
        return None


def why_not(backend: Any) -> str | None:
    """None when images of `backend` can run natively here, else one line saying why."""
    target = backend.target
    names = {target.name, *target.aliases}
    hosts = set(target.tools.host) if target.tools else set()
    machine = platform.machine()
    if sys.platform != "linux":
        return f"native runs need Linux; this is {sys.platform}"
    if machine not in names and machine not in hosts:
        return (f"native runs of {target.name} code need a {target.name} host; "
                f"this host is {machine}")
    if _host_module_of(backend) is None:
        return f"the {target.name} backend has no native glue (backends/<arch>/host.py)"
    if getattr(backend, "rotate", 0):
        return "native runs use the standard register map (the entry thunk follows the C ABI)"
    return None


def available(arch: str) -> tuple[bool, str]:
    """(True, "") when `arch` code can run natively here, else (False, why)."""
    why = why_not(backends.get(arch))
    return (why is None, why or "")


# ------------------------------------------------------------------ libc

_libc = None


def _c():
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                             ctypes.c_int, ctypes.c_long]
        lib.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.sigaction.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        lib.sigaltstack.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        _libc = lib
    return _libc


def _map_fixed(addr: int, size: int, prot: int, flags: int, fd: int = -1) -> None:
    got = _c().mmap(addr, size, prot, flags | MAP_FIXED_NOREPLACE, fd, 0)
    if got in (None, ctypes.c_void_p(-1).value) or got != addr:
        err = ctypes.get_errno()
        raise RunError(f"cannot map 0x{size:x} bytes at 0x{addr:x} for a native run "
                       f"({os.strerror(err) if err else 'the kernel chose another address'})")


def _protect(addr: int, size: int, prot: int) -> None:
    if _c().mprotect(addr, size, prot) != 0:
        raise RunError(f"mprotect 0x{addr:x}: {os.strerror(ctypes.get_errno())}")


class _Alias(mmap.mmap):
    """A region's bytes as the helpers see them: a read-write view of the same memfd the
    code sees at the region's base.  `find` takes an int as bytearray.find does."""

    def find(self, sub, *args):                                     # type: ignore[override]
        return super().find(bytes([sub]) if isinstance(sub, int) else sub, *args)


# ------------------------------------------------------------------ the child

class _Clock:
    """The native budget: a virtual-time timer that runs only while native code does."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def resume(self) -> None:
        signal.setitimer(signal.ITIMER_VIRTUAL, max(self.left, 1e-6))

    def pause(self) -> None:
        self.left = signal.setitimer(signal.ITIMER_VIRTUAL, 0)[0]


class _Finish(Exception):
    pass


def _child(images: list, env: Any, r1: int, r2: int, helpers: dict, budget: float,
           report: mmap.mmap, out: int, repeat: int) -> None:
    """Map, run, send the result down `out`; never returns."""
    host = _host_module_of(images[0].backend)
    state: dict = {"r0": 0, "error": None, "native_pc": None, "ns": None}
    keep: list = []

    def snapshot() -> dict:
        return {"regions": {r.name: bytes(r.data) for r in env.memory.regions},
                "calls": list(env.calls), "trace": list(env.trace), "maps": env.maps.dump()}

    def send() -> None:
        payload = {"r0": state["r0"], "error": _portable(state["error"]),
                   "native_pc": state["native_pc"], "ns": state["ns"]}
        payload.update(state.get("first") or snapshot())
        data = pickle.dumps(payload)
        view = memoryview(data)
        while view:
            n = os.write(out, view)
            view = view[n:]
        os.close(out)

    try:
        # ---- memory: every region twice (see the module docstring)
        for region in env.memory.regions:
            size = region.size
            fd = os.memfd_create(f"bpfjit-{region.name}")
            os.ftruncate(fd, size)
            alias = _Alias(fd, size)
            alias[:] = bytes(region.data)
            prot = (PROT_READ if region.perms & M.Perm.R else 0) | \
                (PROT_WRITE if region.perms & M.Perm.W else 0)
            _map_fixed(region.base, size, prot, MAP_SHARED, fd)
            os.close(fd)
            object.__setattr__(region, "data", alias)      # the child's own copy of the env
        _map_fixed(runner.TAIL_COUNT_ADDR, M.PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS)

        # ---- code, W^X
        for img in {id(i): i for i in images}.values():
            size = M.pages(len(img.code))
            _map_fixed(img.base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
            ctypes.memmove(img.base, img.code, len(img.code))
            _protect(img.base, size, PROT_READ | PROT_EXEC)

        # ---- helpers: one callback behind every slot
        internal = runner.internal_helpers()
        calls = env.calls
        clock = _Clock(budget)
        site: list = []             # (return address, r10) of the helper calls in progress

        def on_helper(a1, a2, a3, a4, a5, hid, ret, fp):
            clock.pause()
            try:
                h = internal.get(hid) or helpers.get(hid)
                if h is None:
                    raise UnsupportedError(f"helper {hid} is not in this run's helper set")
                args = (a1, a2, a3, a4, a5)
                if hid not in internal:
                    calls.append((hid, h.name, tuple(args[:h.nargs])))
                site.append((ret, fp))
                value = h.fn(env, *args) & M64
                site.pop()
            except BaseException as e:      # noqa: BLE001 - the run ends here, reported
                state["error"] = e
                state["native_pc"] = ret - 1
                send()
                os._exit(0)
            clock.resume()
            return value

        helper_t = ctypes.CFUNCTYPE(ctypes.c_uint64, *[ctypes.c_uint64] * 8)
        callback = helper_t(on_helper)
        keep.append(callback)
        cb_addr = ctypes.cast(callback, ctypes.c_void_p).value

        glue = bytearray(b"\xcc" * runner.HELPER_SIZE)          # int3 wherever nothing is
        for hid in set(helpers) | set(runner.LD_ABS_IDS):
            at = runner.helper_addr(hid)
            if 0 <= at - M.HELPER_BASE < GLUE - M.HELPER_BASE:
                off = at - M.HELPER_BASE
                glue[off:off + host.HELPER_SLOT_BYTES] = host.helper_slot(hid, at, GLUE)
        pieces = {}
        off = GLUE - M.HELPER_BASE
        for name, code in (("stub", host.helper_stub(cb_addr)), ("entry", host.entry_thunk()),
                           ("repeat", host.repeat_thunk()),
                           ("handler", host.signal_handler(_address_of(report), FAULT_EXIT))):
            glue[off:off + len(code)] = code
            pieces[name] = M.HELPER_BASE + off
            off += (len(code) + 15) & ~15
        _map_fixed(M.HELPER_BASE, runner.HELPER_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS)
        ctypes.memmove(M.HELPER_BASE, bytes(glue), len(glue))
        _protect(M.HELPER_BASE, runner.HELPER_SIZE, PROT_READ | PROT_EXEC)

        # ---- signals: the handler on its own stack
        alt = ctypes.create_string_buffer(1 << 16)
        keep.append(alt)
        _c().sigaltstack(host.stack_t(ctypes.addressof(alt), len(alt)), None)
        act = host.sigaction(pieces["handler"])
        for sig in SIGNALS:
            _c().sigaction(int(sig), act, None)

        thunk_t = ctypes.CFUNCTYPE(ctypes.c_uint64, *[ctypes.c_uint64] * 6)
        enter = thunk_t(pieces["entry"])

        def call(addr: int, fp: int, args: tuple) -> int:
            block = (ctypes.c_uint64 * 2)(fp, addr)
            a = tuple(x & M64 for x in args) + (0,) * (5 - len(args))
            return enter(*a[:5], ctypes.addressof(block))

        def call_func(addr: int, a1: int, a2: int, a3: int, a4: int, a5: int) -> int:
            """A callback a helper runs (bpf_loop): the eBPF function at `addr`, entered as
            a bpf-to-bpf call enters it, its frame below the calling function's."""
            if len(site) >= MAX_FRAMES:
                raise RunError(f"call depth exceeds {MAX_FRAMES} frames")
            ret, fp = site[-1]
            img = next((i for i in images if i.pc_of(ret - 1) is not None), None)
            func = img.func_of(ret - 1) if img is not None else None
            if func is None:
                raise RunError(f"a callback requested from 0x{ret:x}, outside the program's code")
            fp -= img.stack_depths.get(func.start_pc, DEFAULT_STACK_DEPTH)
            clock.resume()
            value = call(addr, fp, (a1, a2, a3, a4, a5))
            clock.pause()
            return value

        env.call_func = call_func
        image = images[0]
        clock.resume()
        state["r0"] = call(image.entry, STACK_TOP, (r1, r2))
        clock.pause()
        if repeat:
            state["first"] = snapshot()         # what the one run left, for the comparison
            state["ns"] = _time_repeat(thunk_t(pieces["repeat"]), image.entry, r1, r2, repeat)
    except BaseException as e:          # noqa: BLE001 - reported to the parent
        state["error"] = e
    send()
    os._exit(0)


def _time_repeat(rep, entry: int, r1: int, r2: int, target_ns: int) -> float:
    """Nanoseconds per call: the repeat thunk in batches of at least `target_ns` (doubling
    the count until a batch lasts that long), best of seven batches.  Timed in this
    thread's CPU time: time spent preempted is not the code's (the kernel's test run
    likewise stops its timer while it reschedules)."""
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    block = (ctypes.c_uint64 * 2)(STACK_TOP, entry)
    addr = ctypes.addressof(block)
    clock = time.thread_time_ns
    n = 1
    while True:
        t0 = clock()
        rep(r1 & M64, r2 & M64, n, 0, 0, addr)
        dt = clock() - t0
        if dt >= target_ns or n >= 1 << 30:
            break
        n *= 2
    best = dt / n
    for _ in range(6):
        t0 = clock()
        rep(r1 & M64, r2 & M64, n, 0, 0, addr)
        best = min(best, (clock() - t0) / n)
    return best


def _address_of(m: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(m))


def _portable(e: BaseException | None):
    """An exception as (class, args, attributes): exceptions whose __init__ takes other
    arguments than `args` (MemoryFault) do not unpickle as they are."""
    if e is None:
        return None
    try:
        state = {k: v for k, v in vars(e).items() if k != "__traceback__"}
        pickle.dumps((type(e), e.args, state))
        return (type(e), e.args, state)
    except Exception:   # noqa: BLE001 - an unpicklable exception travels as its text
        return (RunError, (f"{type(e).__name__}: {e}",), {"msg": f"{type(e).__name__}: {e}",
                                                           "file": None, "func": None, "pc": None})


def _rebuild(p) -> BaseException | None:
    if p is None:
        return None
    cls, args, state = p
    e = cls.__new__(cls)
    e.args = args
    e.__dict__.update(state)
    return e


# ------------------------------------------------------------------ the parent

def run(images: list, env: Any, r1: int, r2: int = 0, *, helpers: dict,
        max_insns: int = 1_000_000, repeat_ns: int = 0, budget_seconds: float | None = None):
    """Run images[0]'s entry function natively in a child; the other images are tail-call
    targets (their prog-array slots already point at them).  Returns a
    `jit.interp.Result` like `jit.runner.run`, with `native_ns` set when `repeat_ns`
    asks for timing (the entry run in a loop for batches of at least that many ns, on
    the state the first run left)."""
    why = why_not(images[0].backend)
    if why is not None:
        raise UnsupportedError(why)
    if budget_seconds is None:
        budget_seconds = max(MIN_BUDGET_SECONDS, max_insns * BUDGET_SECONDS_PER_INSN)
    report = mmap.mmap(-1, M.PAGE)          # MAP_SHARED: the handler writes, we read
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:                            # the child
        try:
            os.close(rfd)
            _child(images, env, r1, r2, helpers, budget_seconds, report, wfd, repeat_ns)
        finally:
            os._exit(3)
    os.close(wfd)
    data, timed_out = _read_all(rfd, WALL_LIMIT)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    host = _host_module_of(images[0].backend)
    r0, fault, payload = 0, None, None
    if data:
        payload = pickle.loads(data)
    if payload is not None:
        for region in env.memory.regions:
            got = payload["regions"].get(region.name)
            if got is not None and len(got) == len(region.data):
                region.data[:] = got
        env.calls[:] = payload["calls"]
        env.trace[:] = payload["trace"]
        r0 = payload["r0"] & M64
        err = _rebuild(payload["error"])
        if err is not None:
            fault = _helper_fault(err, payload["native_pc"], images)
    elif timed_out:
        fault = RunError(f"the native run did not finish in {WALL_LIMIT:.0f} s")
    else:
        fault = _signal_fault(host, bytes(report[:host.REPORT_SIZE]), images, status,
                              max_insns)
    report.close()
    if isinstance(fault, Unwind):       # the conformance `unwind` helper stops the program
        r0, fault = 0, None
    res = Result(r0=r0 if fault is None else 0, fault=fault, helper_calls=env.calls,
                 trace=env.trace, regions=env.memory.snapshot(),
                 maps=payload["maps"] if payload else env.maps.dump())
    res.native_insns = 0
    res.native_ns = payload["ns"] if payload else None
    return res


def _read_all(fd: int, limit: float) -> tuple[bytes, bool]:
    chunks = []
    deadline = time.monotonic() + limit
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), True
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
    finally:
        os.close(fd)


def _pc_at(images: list, addr: int | None) -> int | None:
    return None if addr is None else runner._pc_at(images, addr)


def _helper_fault(err: BaseException, native_pc: int | None, images: list):
    """What a helper (or the child's own set-up) raised, as the runner reports it."""
    if isinstance(err, Unwind):
        return err
    if isinstance(err, BpfjitError):
        if err.pc is None:
            err.pc = _pc_at(images, native_pc)
        return err
    raise err


class _Regs:
    """The registers of a signal report, read as `jit.runner` reads a Unicorn instance."""

    def __init__(self, spec: Any, regs: dict[str, int]) -> None:
        self.by_id = {}
        for name, value in regs.items():
            rid = spec.uc_reg(name)
            if rid is not None:
                self.by_id[rid] = value

    def reg_read(self, rid: int) -> int:
        return self.by_id[rid]


def _signal_fault(host, page: bytes, images: list, status: int, max_insns: int):
    """The fault a child stopped by a signal reports: kind and eBPF pc from the report."""
    got = host.read_report(page)
    if got is None:
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        return RunError(f"the native run died ({how}) without a report")
    signo, addr, regs = got
    spec = images[0].backend.run
    pc_name = spec.emu.pc.lower()
    native = regs.get(pc_name, 0)
    pc = _pc_at(images, native)
    if signo == signal.SIGVTALRM:
        return RunError(f"instruction budget of {max_insns} exhausted", pc=pc)
    if signo not in (signal.SIGSEGV, signal.SIGBUS):
        return RunError(f"the native code stopped with {signal.Signals(signo).name}", pc=pc)
    if pc is None and all(i.pc_of(native) is None for i in images) and \
            host.fault_access(regs) in ("fetch", None) and _unmapped_code(native):
        return RunError(f"jump to unmapped address 0x{native:x}", pc=None)
    kind, size, start = _access(images, native, spec, regs, host)
    if start is None:
        start = addr
    return MemoryFault(kind, start & M64, size, pc=pc, native_pc=native)


def _unmapped_code(addr: int) -> bool:
    """An instruction address outside the images and the glue: a wild jump."""
    return not M.HELPER_BASE <= addr < M.HELPER_BASE + runner.HELPER_SIZE


def _access(images: list, native: int, spec: Any, regs: dict, host) -> tuple[str, int, int | None]:
    """(kind, size, eBPF address) of the memory access at `native`: kind from the
    instruction's memory operand (read-modify-write reads first, as the interpreter
    and Unicorn report it), the page-fault error code where there is none."""
    import capstone
    kind, size = host.fault_access(regs) or "read", 0
    img = next((i for i in images if i.pc_of(native) is not None), None)
    if img is not None:
        md = capstone.Cs(spec.cs_arch, spec.cs_mode)
        md.detail = True
        off = native - img.base
        for insn in md.disasm(img.code[off:off + 16], native, count=1):
            for op in insn.operands:
                if op.type == capstone.CS_OP_MEM:
                    size = op.size
                    kind = "read" if op.access & capstone.CS_AC_READ else "write"
    start = None
    try:
        start = runner._access_start(_Regs(spec, regs), spec, images, native)
    except Exception:   # noqa: BLE001 - the signal's address stands in
        start = None
    return kind, size, start
