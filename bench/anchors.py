"""The yardsticks bpfjit's numbers are read against, measured in the same run.

This module owns two anchors and nothing else:

  kernel   the running kernel's own x86-64 JIT: each object is loaded with
           BPF_PROG_LOAD in a child process (`python -m bench.anchors
           --kernel-child`, one per program) and BPF_OBJ_GET_INFO_BY_FD gives
           jited_prog_len.  A child, not this process: the kernel has a
           verifier bug that can oops the loading process on loop-heavy
           programs, so a dead or silent child means "the kernel refused".
           Where the program type can be test-run, the child also runs it on
           the bench packet, so the report can show the kernel agrees.
  clang    bench/progs/native.c (the compute programs' bodies as plain C) built
           by clang-19 -O2 -ffreestanding -fno-builtin -c for x86-64, ARMv7
           (A32), MIPS64 and MIPS64el.  Static: the size of each function
           symbol (llvm-nm-19 -S) and its instruction count (llvm-objdump-19
           -d).  Executed: the same file built once more with
           -fno-jump-tables (so .text needs no relocation: a switch's table
           would sit in .rodata) is run under Unicorn on the bench packet,
           counting instructions, and its result is checked against the
           interpreter's.

It does not know bpfjit's backends; bench/run.py puts the numbers side by side.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_C = os.path.join(ROOT, "bench", "progs", "native.c")

CLANG = os.environ.get("CLANG", "clang-19")
NM = os.environ.get("LLVM_NM", "llvm-nm-19")
OBJDUMP = os.environ.get("LLVM_OBJDUMP", "llvm-objdump-19")
CFLAGS = ("-O2", "-ffreestanding", "-fno-builtin", "-c")

# One clang anchor per registered target (named as the target), built with the clang flags
# of its Toolchain; a bench label "arch/cpu" is read against the anchor of its arch.
def _clang_targets() -> dict[str, tuple[str, ...]]:
    import backends
    return {t.name: t.tools.clang for t in backends.targets() if t.tools and t.tools.clang}


CLANG_TARGETS = _clang_targets()


def anchor_for(label: str) -> str:
    """The clang anchor a bench target label ("arch" or "arch/cpu") is read against."""
    return label.split("/")[0]


def anchor_order(anchor: str) -> str:
    import backends
    return backends.target(anchor).byteorder

KERNEL_TIMEOUT = 60.0       # seconds one load may take before the child counts as dead


# ---------------------------------------------------------------- clang: static

def tools_missing() -> str | None:
    for tool in (CLANG, NM, OBJDUMP):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    return None


def _build(arch: str, out: str, extra: tuple = ()) -> str:
    obj = os.path.join(out, f"native.{arch}{'.nojt' if extra else ''}.o")
    subprocess.run([CLANG, *CLANG_TARGETS[arch], *CFLAGS, *extra, NATIVE_C, "-o", obj],
                   check=True, capture_output=True, text=True)
    return obj


def _symbol_sizes(obj: str) -> dict[str, int]:
    """Function symbol -> size in bytes (llvm-nm -S)."""
    out = subprocess.run([NM, "-S", "--defined-only", obj], check=True, capture_output=True,
                         text=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "Tt":
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


_FUNC = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_INSN = re.compile(r"^\s+[0-9a-f]+:\s")
_DATA = re.compile(r"\s\.(word|short|byte|long)\s")     # ARM literal pools shown as data


def _insn_counts(obj: str) -> dict[str, int]:
    """Function symbol -> instructions in its disassembly (literal pool words excluded)."""
    out = subprocess.run([OBJDUMP, "-d", "--no-show-raw-insn", obj], check=True,
                         capture_output=True, text=True).stdout
    counts: dict[str, int] = {}
    func = None
    for line in out.splitlines():
        m = _FUNC.match(line)
        if m:
            func = m.group(1)
            counts.setdefault(func, 0)
        elif func and _INSN.match(line) and not _DATA.search(line):
            counts[func] += 1
    return counts


def clang_static(out: str) -> dict:
    """{anchor arch: {kernel: {"bytes", "insns"}}} for every compute program."""
    result = {}
    for arch in CLANG_TARGETS:
        obj = _build(arch, out)
        sizes, counts = _symbol_sizes(obj), _insn_counts(obj)
        result[arch] = {name[len("native_"):]: {"bytes": size, "insns": counts.get(name, 0)}
                        for name, size in sizes.items() if name.startswith("native_")}
    return result


# ---------------------------------------------------------------- clang: executed under Unicorn

CODE, CTX, PKT, STACK, SENTINEL = 0x100000, 0x10000, 0x20000, 0x80000, 0x300000
HEADROOM = 256              # where the frame starts in its buffer, as in jit.contexts


def _text_and_symbols(obj: str) -> tuple[bytes, dict[str, int]]:
    from elftools.elf.elffile import ELFFile
    with open(obj, "rb") as f:
        elf = ELFFile(f)
        text = elf.get_section_by_name(".text")
        for sec in elf.iter_sections():
            if sec.name in (".rela.text", ".rel.text") and sec.num_relocations():
                raise RuntimeError(f"{os.path.basename(obj)}: .text has relocations")
        syms = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()
                if s.name.startswith("native_")}
        return text.data(), syms


def _machine(arch: str):
    """(Uc, call(uc, entry, ctx) -> None) for one anchor: the target's emulator ids and its
    platform-ABI call (RunSpec.enter_c)."""
    import backends
    import unicorn as U
    spec = backends.get(arch).run
    uc = U.Uc(spec.uc_arch, spec.uc_mode)
    if spec.uc_cpu is not None:
        uc.ctl_set_cpu_model(spec.uc_cpu)

    def call(uc, entry, ctx):
        spec.enter_c(uc, entry, STACK + 0x8000, (ctx,), SENTINEL)
    return uc, call


def run_native(arch: str, code: bytes, entry_off: int, packet: bytes) -> tuple[int, bytes]:
    """Run one native function on `packet` as XDP would; (instructions executed, packet after)."""
    import unicorn as U
    order = anchor_order(arch)
    uc, call = _machine(arch)
    uc.mem_map(CODE, (len(code) + 0xFFF) & ~0xFFF)
    uc.mem_write(CODE, code)
    for base in (CTX, PKT, STACK, SENTINEL):
        uc.mem_map(base, 0x8000 if base == STACK else 0x1000)
    data = PKT + HEADROOM
    uc.mem_write(data, packet)
    fmt = "<6I" if order == "little" else ">6I"
    uc.mem_write(CTX, struct.pack(fmt, data, data + len(packet), data, 1, 0, 0))
    count = [0]

    def on_code(uc_, address, size, _):
        count[0] += 1
    uc.hook_add(U.UC_HOOK_CODE, on_code, begin=CODE, end=CODE + len(code) - 1)
    entry = CODE + entry_off
    call(uc, entry, CTX)
    uc.emu_start(entry, SENTINEL, count=10_000_000)
    return count[0], bytes(uc.mem_read(data, len(packet)))


def clang_executed(out: str, packet: bytes) -> dict:
    """{anchor arch: {kernel: {"insns_executed", "result" (packet[0:4] hex)} or {"error"}}}."""
    result = {}
    for arch in CLANG_TARGETS:
        per = result[arch] = {}
        try:
            text, syms = _text_and_symbols(_build(arch, out, ("-fno-jump-tables",)))
        except Exception as e:      # noqa: BLE001 - reported in the table, not fatal
            per["*"] = {"error": str(e)}
            continue
        for name, off in sorted(syms.items()):
            kernel = name[len("native_"):]
            try:
                n, after = run_native(arch, text, off, packet)
                per[kernel] = {"insns_executed": n, "result": after[:4].hex()}
            except Exception as e:  # noqa: BLE001
                per[kernel] = {"error": f"{type(e).__name__}: {e}"}
    return result


def clang_anchors(packet: bytes) -> dict:
    """Both clang anchors, or {"error": why} when the toolchain is missing."""
    why = tools_missing()
    if why:
        return {"error": why}
    with tempfile.TemporaryDirectory(prefix="bpfjit-anchor-") as out:
        try:
            return {"static": clang_static(out), "executed": clang_executed(out, packet),
                    "flags": " ".join(CFLAGS), "targets": {k: " ".join(v)
                                                           for k, v in CLANG_TARGETS.items()}}
        except subprocess.CalledProcessError as e:
            return {"error": f"clang failed: {e.stderr.strip().splitlines()[-1:]}"}


# ---------------------------------------------------------------- the kernel's JIT

def kernel_request(prog, packet: bytes | None) -> dict:
    """What the child needs to load `prog` (a loaded little-endian jit.program.Program)."""
    from jit import isa
    maps = [{"type": m.type, "key_size": m.key_size, "value_size": m.value_size,
             "max_entries": m.max_entries, "flags": m.flags,
             "inner": None if m.inner is None else {
                 "type": m.inner.type, "key_size": m.inner.key_size,
                 "value_size": m.inner.value_size, "max_entries": m.inner.max_entries,
                 "flags": m.inner.flags},
             "initial": m.initial.hex() if m.initial else None} for m in prog.maps]
    ptype = prog.prog_type if prog.prog_type not in ("raw", "") else "socket_filter"
    return {"insns": isa.encode(prog.insns, "little").hex(), "prog_type": ptype,
            "license": prog.license or "GPL", "maps": maps, "name": prog.name,
            "data_in": packet.hex() if packet is not None and ptype in _TEST_RUN else None}


_TEST_RUN = {"xdp", "sched_cls", "sched_act", "socket_filter", "cgroup_skb"}


def kernel_jited(requests: list[dict], *, timeout: float = KERNEL_TIMEOUT,
                 on_done=None) -> list[dict]:
    """One child per request; each answer is {"jited_prog_len", ...} or {"refused": why}."""
    answers = []
    for req in requests:
        answers.append(_ask_child(req, timeout))
        if on_done is not None:
            on_done()
    return answers


def _ask_child(req: dict, timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "bench.anchors", "--kernel-child"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
    try:
        out, _ = proc.communicate(json.dumps(req), timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"refused": f"the loading process did not answer within {timeout:.0f} s"}
    if proc.returncode != 0 or not out.strip():
        code = proc.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return {"refused": f"the loading process died ({how})"}
    return json.loads(out)


def kernel_available() -> tuple[bool, str]:
    from jit.testing import kernel
    return kernel.available()


# ---------------------------------------------------------------- the child's side

def _map_create(m: dict, inner_fd: int = 0) -> int:
    from jit.testing import kernel as K
    return K.map_create(m["type"], m["key_size"], m["value_size"], m["max_entries"],
                        m["flags"], inner_fd)


def kernel_child(req: dict) -> dict:
    """Create the maps, load, describe, maybe test-run; runs in the child only."""
    from jit.testing import kernel as K
    fds: list[int] = []
    try:
        for m in req["maps"]:
            inner = _map_create(m["inner"]) if m.get("inner") else 0
            fds.append(_map_create(m, inner))
            if inner:
                os.close(inner)
            if m.get("initial"):
                K.map_update(fds[-1], bytes(4), bytes.fromhex(m["initial"]))
        code = K.patch_maps(bytes.fromhex(req["insns"]), fds)
        try:
            fd, _ = K.prog_load(code, req["prog_type"], license=req["license"], log_level=0,
                                name=req["name"])
        except K.KernelError as e:
            log = ""
            try:
                K.prog_load(code, req["prog_type"], license=req["license"], log_level=1,
                            log_size=1 << 22)
            except K.KernelError as e2:
                log = e2.log
            last = [ln for ln in log.splitlines() if ln.strip()][-2:]
            return {"refused": str(e), "log": " / ".join(last)[:300]}
        try:
            info = K.prog_info(fd)
            ans = {"jited_prog_len": info.jited_prog_len, "xlated_prog_len": info.xlated_prog_len}
            if req.get("data_in"):
                try:
                    r = K.prog_test_run(fd, bytes.fromhex(req["data_in"]))
                    ans["retval"] = r.retval
                    ans["data_out"] = r.data_out[:16].hex()
                except K.KernelError as e:
                    ans["test_run"] = str(e)
            return ans
        finally:
            os.close(fd)
    except K.KernelError as e:
        return {"refused": str(e)}
    except KeyError as e:
        return {"refused": f"unknown program type {e}"}
    finally:
        for fd in fds:
            os.close(fd)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--kernel-child"]:
        req = json.loads(sys.stdin.read())
        sys.stdout.write(json.dumps(kernel_child(req)))
        return 0
    # by hand: print the clang anchors for the bench packet
    from bench.corpus import PACKET
    print(json.dumps(clang_anchors(PACKET), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
