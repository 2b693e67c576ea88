"""The platform ABI, checked outside bpfjit's own runner: `compile --format elf` objects
linked by the target's cross gcc with a C harness and run under qemu-user.

For every registered target with a row in targets.py (and its tools installed), one
executable holds the whole conformance corpus and every fixture program the harness
supports, each program's object written by jit.elfout (symbols renamed per program
with the target's objcopy; a real linker resolves every relocation against the
harness's maps, helpers and tail-call counter).  The harness (harness.c) calls each
program as a C function through the target's entry shim (shims/), which sets eBPF r10
per the backend's entry convention and fills the callee-saved registers with canaries;
the C helpers (map lookup/update/delete on array and hash maps) check sp's alignment
where each call arrives.  Every case must equal the interpreter: r0, the packet or
memory block, the context and the maps; and no canary may change, no helper call may
arrive misaligned.

What is left out, and why (each listed by `test_what_is_left_out_is_listed`):
- programs that call any other helper (the harness implements map lookup, update and
  delete, csum_diff, and the LD_ABS/LD_IND calls): bpf_loop, the tracing programs,
  xdp_adjust, sdiv (xdp_load_bytes), tc_nat (skb_load_bytes);
- programs that use maps other than array, per-CPU array and hash (LPM, queues, ring
  buffers) or tail calls (prog arrays hold code addresses the runner writes);
- conformance cases that fault, run out of budget or are refused on the interpreter
  (a C caller does not survive a fault), and those that call the suite's helpers;
- fixture packets the kernel's test run refuses (InputRefused), as everywhere.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

import backends
from jit import driver, elfout
from jit import memory as M
from jit.contexts import InputRefused
from jit.errors import BpfjitError
from jit.lir import SymKind
from jit.program import Object
from jit.testing import conformance as C
from tests.abi.targets import TABLE

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "tests" / "conformance"
BUILD = ROOT / "tests" / "progs" / "build"
C_HELPERS = {"bpf_map_lookup_elem", "bpf_map_update_elem", "bpf_map_delete_elem", "bpf_csum_diff",
             # the lowering's LD_ABS/LD_IND calls (jit.lir.LD_ABS_HELPER)
             "bpf_helper_65537", "bpf_helper_65538", "bpf_helper_65540"}
SHARED = {"bpf_tail_call_cnt"} | C_HELPERS
MAP_TYPES = {1: "hash", 2: "array", 5: "percpu hash", 6: "percpu array"}
HASHES = {1, 5}
ORDER_TAG = {"little": "el3", "big": "eb3"}
RUN_TIMEOUT = 600


# ---------------------------------------------------------------- tools

def _tools(name: str) -> tuple[dict | None, str]:
    """(cc, objcopy, qemu, row) for target `name`, or (None, why it is skipped)."""
    t = backends.target(name)
    row = TABLE.get(name)
    if row is None:
        return None, f"no entry shim for {name} in tests/abi/targets.py"
    tools = t.tools
    cc = row.cc or (tools.cc() if tools else None)
    objcopy = tools.binutil("objcopy") if tools else None
    on_host = tools is not None and platform.machine() in tools.host
    qemu = None if on_host else (row.qemu or (tools.qemu if tools else None))
    for tool in (cc, objcopy) + ((qemu,) if not on_host else ()):
        if tool is None or shutil.which(tool) is None:
            return None, f"{tool or 'a tool'} is not installed (see .ci/run)"
    return {"cc": cc, "objcopy": objcopy, "qemu": qemu, "row": row,
            "flags": tuple(tools.gcc_flags) if tools else ()}, ""


TARGETS = [t.name for t in backends.targets()]


# ---------------------------------------------------------------- cases

class Case:
    """One run: a program (shared by cases of the same program) on one input."""

    def __init__(self, name, prog_key, inputs, ref, env):
        self.name, self.prog_key, self.ref = name, prog_key, ref
        packet = env.memory.region("packet") if _has(env, "packet") else None
        self.buf = bytes(packet.data) if packet else b""
        self.mem_len = len(inputs.mem) if inputs.mem else 0
        data, end = env.packet or (0, 0)
        self.pkt = (data - packet.base, end - packet.base) if packet and env.packet else (0, 0)
        self.ctx = b""
        self.ptrs: list[tuple[int, int]] = []
        if _has(env, "ctx"):
            data = bytes(env.memory.region("ctx").data)
            end = max(64, len(data.rstrip(b"\0")))
            self.ctx = data[:(end + 7) & ~7]
            order = env.memory.byteorder
            for off in range(0, len(self.ctx) - 3, 4):
                v = int.from_bytes(self.ctx[off:off + 4], order)
                if packet and packet.base <= v <= packet.end:
                    self.ptrs.append((off, v - packet.base))


def _has(env, name: str) -> bool:
    try:
        env.memory.region(name)
        return True
    except KeyError:
        return False


class Prog:
    """A program compiled for the target, its object renamed for the executable."""

    def __init__(self, key: str, obj, prog, image, env, why: str | None = None):
        self.key, self.obj, self.prog, self.image, self.why = key, obj, prog, image, why
        self.maps = []                      # (map index, MapState) of the image's maps
        if env is not None:
            self.maps = [(st.index, st) for st in env.maps.maps]


def _left_out(image) -> str | None:
    """Why the harness cannot run this image, or None."""
    for r in image.relocs:
        name = image.symbol_name(r.sym)
        if r.sym.kind == SymKind.HELPER and name not in C_HELPERS:
            return f"calls {name}"
        if r.sym.kind in (SymKind.MAP, SymKind.MAP_VALUE):
            m = image.program.maps[r.sym.index]
            if m.type not in MAP_TYPES:
                return f"uses map {m.name} of type {m.type}"
        if r.sym.kind == SymKind.TAIL_COUNT:
            return "makes tail calls (prog arrays hold code addresses)"
    return None


def collect(name: str) -> tuple[list[Prog], list[Case], list[str]]:
    """The programs and cases for target `name`, and what is left out (with why)."""
    order = backends.target(name).byteorder
    progs: list[Prog] = []
    cases: list[Case] = []
    out: list[str] = []
    for path in sorted(CORPUS.glob("*.data")):
        case = C.parse_file(path)
        try:
            prog = C.for_order(C.load_program(C.program_bytes(case), file=case.name), order)
            obj = Object(file=prog.file, programs=[prog], maps=[], byteorder=order)
            if prog.prog_type == "xdp":
                inputs = driver.Inputs(packet=case.mem, helpers="conformance",
                                       max_insns=C.DEFAULT_BUDGET)
            else:
                inputs = driver.Inputs(mem=case.mem or None, helpers="conformance",
                                       max_insns=C.DEFAULT_BUDGET)
            ref = driver.run(obj, prog, driver.INTERP, inputs)
            if ref.fault is not None:
                out.append(f"{path.stem}: stops with a fault on the interpreter ({ref.fault.msg})")
                continue
            if ref.helper_calls:
                out.append(f"{path.stem}: calls the conformance suite's helpers")
                continue
            image = driver.compile_program(prog, name, helpers="conformance")
        except BpfjitError as e:
            out.append(f"{path.stem}: refused before a run ({e.msg})")
            continue
        env = driver.prepare(obj, prog, inputs)[0]
        p = Prog(path.stem, obj, prog, image, env)
        progs.append(p)
        cases.append(Case(path.stem, p.key, inputs, ref, env))
    from tests.test_fixtures import PACKETS
    for path in sorted(BUILD.glob(f"*.{ORDER_TAG[order]}.o")):
        obj, _ = driver.load(str(path))
        for prog in obj.programs:
            key = f"{path.name.split('.')[0]}:{prog.name}"
            image = driver.compile_program(prog, name)
            why = _left_out(image)
            if why is None and prog.prog_type not in ("xdp", "sched_cls", "socket_filter"):
                why = f"program type {prog.prog_type}"
            if why is not None:
                out.append(f"{key}: {why}")
                continue
            p = None
            for pname, frame in PACKETS.items():
                inputs = driver.Inputs(packet=frame)
                try:
                    ref = driver.run(obj, prog, driver.INTERP, inputs)
                    env = driver.prepare(obj, prog, inputs)[0]
                except InputRefused:
                    continue
                if ref.fault is not None:
                    out.append(f"{key} x {pname}: faults on the interpreter")
                    continue
                if p is None:
                    p = Prog(key, obj, prog, image, env)
                    progs.append(p)
                cases.append(Case(f"{key}@{pname}", key, inputs, ref, env))
    return progs, cases, out


# ---------------------------------------------------------------- building

def _c_bytes(data: bytes) -> str:
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'


def build(name: str, tools: dict, work: Path) -> tuple[Path, list[Prog], list[Case], list[str]]:
    progs, cases, out = collect(name)
    objects, lines = [], ['#include "harness.h"', ""]
    for n, p in enumerate(progs):
        raw = work / f"p{n}.raw.o"
        raw.write_bytes(elfout.write_elf(p.image))
        renames = _renames(p, n)
        (work / f"p{n}.syms").write_text("".join(f"{a} {b}\n" for a, b in renames.items()))
        dst = work / f"p{n}.o"
        subprocess.run([tools["objcopy"], f"--redefine-syms={work / f'p{n}.syms'}", str(raw),
                        str(dst)], check=True, capture_output=True)
        objects.append(str(dst))
        lines.append(f"/* {p.key} */")
        lines.append(f"extern char p{n}_entry[];")
        for i, st in p.maps:
            m = st.mdef
            if st.type not in MAP_TYPES:        # not referenced (_left_out): not built
                continue
            size = m.max_entries * st.stride
            init = bytes(st.region.data[:size]).rstrip(b"\0")
            hashed = st.type in HASHES
            lines.append(f"unsigned char p{n}_v{i}[{max(size, 8)}] __attribute__((aligned(8)));")
            if hashed:
                lines.append(f"static unsigned char p{n}_k{i}[{m.max_entries * m.key_size}];")
                lines.append(f"static unsigned char p{n}_u{i}[{m.max_entries}];")
            lines.append(
                f"struct hmap p{n}_m{i} = {{{st.type}, {m.key_size}, {m.value_size}, "
                f"{m.max_entries}, {st.stride}, {f'p{n}_k{i}' if hashed else '0'}, "
                f"{f'p{n}_u{i}' if hashed else '0'}, p{n}_v{i}, "
                f"(const unsigned char *){_c_bytes(init)}, {len(init)}}};")
        maps = ", ".join(f"&p{n}_m{i}" if st.type in MAP_TYPES else "0" for i, st in p.maps)
        lines.append(f"static struct hmap *p{n}_maps[] = {{{maps or '0'}}};")
        lines.append("")
    index = {p.key: n for n, p in enumerate(progs)}
    lines.append("const struct hcase cases[] = {")
    for c in cases:
        n = index[c.prog_key]
        buf = c.buf.rstrip(b"\0")
        ptrs = ", ".join(f"{{{a}, {b}}}" for a, b in c.ptrs) or "{0, 0}"
        lines.append(
            f'  {{"{c.name}", p{n}_entry, (const unsigned char *){_c_bytes(buf)}, {len(buf)}, '
            f"{len(c.buf)}, {c.mem_len}, (const unsigned char *){_c_bytes(c.ctx)}, "
            f"{len(c.ctx)}, {len(c.ptrs)}, {{{ptrs}}}, {len(progs[n].maps)}, p{n}_maps, "
            f"{c.pkt[0]}, {c.pkt[1]}}},")
    lines.append("};")
    lines.append(f"const int ncases = {len(cases)};")
    (work / "cases.c").write_text("\n".join(lines) + "\n")
    row = tools["row"]
    exe = work / f"abi-{name}"
    cmd = [tools["cc"], *tools["flags"], *row.cflags, "-O2", f"-I{HERE}",
           f"-DSP_ALIGN={row.sp_align}", f"-DSP_RESIDUE={row.sp_residue}",
           str(HERE / "harness.c"), str(work / "cases.c"), str(HERE / "shims" / row.shim),
           *objects, *row.ldflags, "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"link failed:\n{' '.join(cmd[:12])} ...\n{r.stderr[-3000:]}"
    return exe, progs, cases, out


def _renames(p: Prog, n: int) -> dict[str, str]:
    """Every symbol of the program's object -> its name in the executable."""
    image = p.image
    out = {image.funcs[0].name: f"p{n}_entry"}
    for k, f in enumerate(image.funcs[1:], 1):
        out.setdefault(f.name, f"p{n}_f{k}")
    for k, (rname, _, _) in enumerate(image.runtime):
        out.setdefault(rname, f"p{n}_rt{k}")
    for r in image.relocs:
        sym = image.symbol_name(r.sym)
        if r.sym.kind == SymKind.MAP:
            out[sym] = f"p{n}_m{r.sym.index}"
        elif r.sym.kind == SymKind.MAP_VALUE:
            out[sym] = f"p{n}_v{r.sym.index}"
    return {a: b for a, b in out.items() if a not in SHARED}


# ---------------------------------------------------------------- comparing

def parse(text: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("case "):
            cur = out[line[5:]] = {"maps": {}, "done": False}
        elif cur is None:
            continue
        elif line.startswith("r0 "):
            _, r0, _, bad, _, align = line.split()
            cur.update(r0=int(r0, 16), bad=int(bad, 16), align=int(align))
        elif line.startswith("buf "):
            cur["buf"] = bytes.fromhex(line[4:])
        elif line.startswith("ctx"):
            cur["ctx"] = bytes.fromhex(line[4:])
        elif line.startswith("map "):
            _, i, k, v = line.split()
            cur["maps"].setdefault(int(i), []).append((bytes.fromhex(k), bytes.fromhex(v)))
        elif line == "end":
            cur["done"] = True
    return out


def _masked(ctx: bytes, ptrs) -> bytes:
    b = bytearray(ctx)
    for off, _ in ptrs:
        b[off:off + 4] = bytes(4)
    return bytes(b)


def compare(c: Case, got: dict | None, progs_by_key: dict) -> str | None:
    """The first difference from the interpreter, or None."""
    if got is None or not got.get("done"):
        return "did not finish (the executable crashed in this case)"
    if got["bad"]:
        return f"callee-saved registers not preserved (canary bits {got['bad']:#x})"
    if got["align"]:
        return f"{got['align']} helper call(s) arrived with sp misaligned"
    ref = c.ref
    if got["r0"] != ref.r0 & (1 << 64) - 1:
        return f"r0: expected {ref.r0:#x}, got {got['r0']:#x}"
    want_buf = ref.regions.get("packet", b"")
    if got["buf"] != want_buf[:len(got["buf"])]:
        off = next(i for i, (a, b) in enumerate(zip(got["buf"], want_buf)) if a != b)
        return f"packet at +{off:#x}: expected {want_buf[off:off + 8].hex()}, got " \
               f"{got['buf'][off:off + 8].hex()}"
    if c.ctx:
        want_ctx = ref.regions.get("ctx", b"")[:len(c.ctx)]
        if _masked(got["ctx"], c.ptrs) != _masked(want_ctx, c.ptrs):
            return f"ctx: expected {want_ctx.hex()}, got {got['ctx'].hex()}"
    prog = progs_by_key[c.prog_key]
    for i, st in prog.maps:
        if st.type not in MAP_TYPES:
            continue
        want = sorted(ref.maps.get(st.mdef.name, []))
        have = sorted(got["maps"].get(i, []))
        if want != have:
            return f"map {st.mdef.name}: expected {want[:4]}, got {have[:4]}"
    return None


# ---------------------------------------------------------------- the tests

@pytest.mark.parametrize("name", TARGETS)
def test_linked_with_c_and_run_under_the_platform_abi(name, tmp_path):
    tools, why = _tools(name)
    if tools is None:
        pytest.skip(why)
    exe, progs, cases, _ = build(name, tools, tmp_path)
    cmd = ([tools["qemu"]] if tools["qemu"] else []) + [str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert "calibration" not in r.stdout, r.stdout[:300]
    got = parse(r.stdout)
    progs_by_key = {p.key: p for p in progs}
    failures = []
    for c in cases:
        d = compare(c, got.get(c.name), progs_by_key)
        if d is not None:
            failures.append(f"{c.name}: {d}")
    assert len(cases) > 100
    assert not failures, f"{len(failures)} of {len(cases)} cases differ on {name} " \
                         f"(exit {r.returncode}):\n" + "\n".join(failures[:25])


def test_what_is_left_out_is_listed():
    """The left-out list is small and every entry says why (run on the host's order)."""
    _, cases, out = collect(backends.targets()[0].name)
    assert all(": " in line for line in out)
    assert len(cases) > len(out)
