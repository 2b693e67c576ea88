"""Native runs (jit/native.py): the host's own target runs on the CPU, in a child process.

Every run here is compared with the interpreter on r0, every compared region
(packet, maps, context), the helper calls and the fault (jit.driver.comparable):
the whole conformance corpus, every fixture object over the fixture packet
set, and faults (wild loads and stores, a store into the code, a runaway
loop), which must come back as the interpreter's fault (kind, eBPF pc and
address) without taking the test process down.  Targets that are not the
host's are refused with one line.  Which target is the host's comes from the
registry (jit.native.why_not), never from a name written here.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

import backends
from jit import driver, elf, isa, native
from jit import memory as M
from jit.errors import BpfjitError, MemoryFault, RunError, UnsupportedError
from jit.contexts import InputRefused
from jit.program import Object, from_bytecode
from jit.testing import conformance as C

HOST = [t.name for t in backends.targets() if native.why_not(backends.get(t.name)) is None]
OTHERS = [t.name for t in backends.targets() if t.name not in HOST]
needs_host = pytest.mark.skipif(not HOST, reason="no registered target runs natively on this "
                                "host: " + "; ".join(native.why_not(backends.get(t.name)) or ""
                                                     for t in backends.targets()[:1]))

CORPUS = Path(__file__).parent / "conformance"
CASES = sorted(CORPUS.glob("*.data"))
BUILD = Path(__file__).parent / "progs" / "build"
FIXTURES = sorted(BUILD.glob("*.el[34].o")) if BUILD.is_dir() else []
SHORT_PACKETS = ("trunc_eth", "empty")       # no skb from under 14 bytes: no run anywhere


def _same(obj, prog, arch, inputs) -> None:
    """The native run of `prog` equals the interpreter's on everything a diff compares."""
    hs = driver.helper_set(inputs.helpers, prog)
    facts = driver.analyse(prog, hs)
    ref = driver.run(obj, prog, driver.INTERP, inputs, facts=facts)
    got = driver.run(obj, prog, arch, inputs, facts=facts, native=True)
    d = driver.first_difference(driver.comparable(ref), driver.comparable(got))
    assert d is None, f"{prog.name}: native {arch} differs on {d[0]}: expected {d[1]!r}, got {d[2]!r}"
    return ref, got


def _raw(code: bytes, **inputs):
    prog = from_bytecode(code, byteorder="little")
    obj = Object(file=prog.file, programs=[prog], maps=[], byteorder="little")
    return obj, prog, driver.Inputs(**inputs)


# ---------------------------------------------------------------- refusal

@pytest.mark.parametrize("arch", OTHERS or ["-"])
def test_other_targets_are_refused_in_one_line(arch):
    if arch == "-":
        pytest.skip("every registered target runs here")
    obj, prog = driver.load(str(Path(__file__).parent.parent / "examples" / "xdp_firewall.o"))
    if backends.target(arch, prog.byteorder).byteorder != prog.byteorder:
        obj, prog = driver.load(str(BUILD / "xdp_firewall.eb3.o"))
    with pytest.raises(UnsupportedError) as e:
        driver.run(obj, prog, arch, driver.Inputs(packet=bytes(64)), native=True)
    assert "\n" not in str(e.value) and platform_machine() in str(e.value)


def platform_machine() -> str:
    import platform
    return platform.machine()


# ---------------------------------------------------------------- the conformance corpus

@needs_host
@pytest.mark.parametrize("arch", HOST)
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_conformance_case_matches_interpreter(path, arch):
    case = C.parse_file(path)
    try:
        prog = C.load_program(C.program_bytes(case), file=case.name)
        driver.analyse(prog, "conformance")
    except Exception as e:                                   # noqa: BLE001
        pytest.skip(f"rejected before any run (the same everywhere): {e}")
    obj = Object(file=prog.file, programs=[prog], maps=[], byteorder=prog.byteorder)
    if prog.prog_type == "xdp":
        inputs = driver.Inputs(packet=case.mem, helpers="conformance", max_insns=C.DEFAULT_BUDGET)
    else:
        inputs = driver.Inputs(mem=case.mem or None, helpers="conformance",
                               max_insns=C.DEFAULT_BUDGET)
    try:
        ref, got = _same(obj, prog, arch, inputs)
    except BpfjitError as e:        # refused by the compiler (a kfunc call): as the case says
        outcome = C.Outcome(None, C._one_line(e))
    else:
        outcome = C.Outcome(None, C._one_line(got.fault)) if got.fault else C.Outcome(got.r0)
    # and the case's own expectation, judged as the conformance runner judges it
    verdict, detail = C.judge(case, outcome)
    assert verdict is C.Verdict.PASS, detail


# ---------------------------------------------------------------- fixtures

def _packets() -> dict:
    from tests.test_fixtures import PACKETS
    return PACKETS


@needs_host
@pytest.mark.parametrize("arch", HOST)
@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_matches_interpreter(path, arch):
    obj = elf.load(path.read_bytes(), file=str(path))
    ran = 0
    for prog in obj.programs:
        for pname, frame in _packets().items():
            try:
                _same(obj, prog, arch, driver.Inputs(packet=frame))
            except InputRefused:            # no run anywhere: the kernel's input rules
                continue
            except BpfjitError as e:
                assert pname in SHORT_PACKETS, f"{prog.name} x {pname}: {e}"
                continue
            except AssertionError as e:
                raise AssertionError(f"{prog.name} x packet {pname}: {e}") from None
            ran += 1
    assert ran


# ---------------------------------------------------------------- faults

def _slot(op, dst=0, src=0, off=0, imm=0) -> bytes:
    return isa.encode([isa.Insn(op, dst, src, off, imm)], "little")


def _lddw(dst: int, value: int) -> bytes:
    return isa.encode([isa.Insn(isa.LDDW, dst, 0, 0, value)], "little")


EXIT = _slot(0x95)
MOV0 = _slot(0xB7, 0, 0, 0, 0)


def _fault(res):
    f = res.fault
    if isinstance(f, MemoryFault):
        return ("memory", f.kind, f.pc, f.addr)
    return None if f is None else (type(f).__name__, f.pc, "budget" in str(f))


WILD = [
    ("load-unmapped", MOV0 + _lddw(1, 0x0800_0000) + _slot(0x79, 0, 1, 8) + EXIT),
    ("store-unmapped", MOV0 + _lddw(1, 0x0800_0000) + _slot(0x7B, 1, 0, -8) + EXIT),
    ("store-into-code", MOV0 + _lddw(1, M.CODE_BASE) + _slot(0x7A, 1, 0, 0, 7) + EXIT),
    ("store-into-helpers", MOV0 + _lddw(1, M.HELPER_BASE) + _slot(0x62, 1, 0, 4, 7) + EXIT),
    ("load-non-canonical", MOV0 + _lddw(1, 0x8000_0000_0000_1000) + _slot(0x61, 0, 1, 0) + EXIT),
    ("atomic-unmapped", MOV0 + _lddw(1, 0x0800_0000) + _slot(0xDB, 1, 0, 16) + EXIT),
    ("store-just-below-the-stack", MOV0 + _lddw(1, M.STACK_BASE) + _slot(0x7B, 1, 0, -8) + EXIT),
]


@needs_host
@pytest.mark.parametrize("arch", HOST)
@pytest.mark.parametrize("name,code", WILD, ids=[w[0] for w in WILD])
def test_wild_access_is_the_interpreters_fault(name, code, arch):
    obj, prog, inputs = _raw(code, mem=bytes(64))
    ref = driver.run(obj, prog, driver.INTERP, inputs)
    got = driver.run(obj, prog, arch, inputs, native=True)
    assert isinstance(ref.fault, MemoryFault), ref.fault
    assert _fault(got) == _fault(ref), (got.fault, ref.fault)
    assert got.fault.pc is not None


@needs_host
@pytest.mark.parametrize("arch", HOST)
def test_runaway_loop_stops_at_the_budget(arch):
    code = MOV0 + _slot(0x07, 0, 0, 0, 1) + _slot(0x05, 0, 0, -2) + EXIT   # r0 += 1; goto -2
    obj, prog, inputs = _raw(code, mem=bytes(8), max_insns=10_000)
    ref = driver.run(obj, prog, driver.INTERP, inputs)
    got = driver.run(obj, prog, arch, inputs, native=True)
    assert _fault(ref)[2] and _fault(got)[2], (ref.fault, got.fault)
    assert got.fault.pc in (1, 2)
    assert driver.comparable(ref)["fault"] == driver.comparable(got)["fault"]


@needs_host
@pytest.mark.parametrize("arch", HOST)
def test_a_taken_address_is_refused_not_replaced(arch):
    """MAP_FIXED_NOREPLACE: something already mapped at a region's base is an error,
    never silently unmapped (here: the context's page, mapped by this process)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    at = libc.mmap(M.PACKET_BASE, M.PAGE, 3, 0x22 | native.MAP_FIXED_NOREPLACE, -1, 0)
    if at != M.PACKET_BASE:
        pytest.skip("the packet's address is not free in this process")
    try:
        obj, prog, inputs = _raw(MOV0 + EXIT, mem=bytes(8))
        got = driver.run(obj, prog, arch, inputs, native=True)
        assert isinstance(got.fault, RunError) and "cannot map" in str(got.fault), got.fault
        assert ctypes.string_at(M.PACKET_BASE, 4) == bytes(4)       # ours, untouched
    finally:
        libc.munmap(M.PACKET_BASE, M.PAGE)


@needs_host
@pytest.mark.parametrize("arch", HOST)
def test_code_is_not_writable_and_the_caller_survives(arch):
    """W^X: the image is read+execute when it runs; a store into it is a write fault
    (the interpreter: no region there), and this process goes on."""
    obj, prog, inputs = _raw(MOV0 + _lddw(1, M.CODE_BASE) + _slot(0x7A, 1, 0, 0, 7) + EXIT,
                             mem=bytes(8))
    got = driver.run(obj, prog, arch, inputs, native=True)
    assert _fault(got) == ("memory", "write", 3, M.CODE_BASE)
    assert os.getpid() > 0


@needs_host
@pytest.mark.parametrize("arch", HOST)
def test_helpers_run_in_python_and_change_the_maps(arch):
    """Map lookups and updates through the ctypes callbacks: the counters the fixture
    keeps in maps are the interpreter's, packet after packet."""
    path = BUILD / "xdp_counters.el3.o"
    obj = elf.load(path.read_bytes(), file=str(path))
    prog = obj.programs[0]
    ref, got = _same(obj, prog, arch, driver.Inputs(packet=next(iter(_packets().values()))))
    assert got.helper_calls and got.maps == ref.maps


@needs_host
@pytest.mark.parametrize("arch", HOST)
def test_timing_loop_reports_nanoseconds(arch):
    from jit import native as N
    code = MOV0 + _slot(0x07, 0, 0, 0, 3) + EXIT
    obj, prog, inputs = _raw(code, mem=bytes(8))
    env, r1, r2, hs = driver.prepare(obj, prog, inputs)
    images = driver.compile_for_run(obj, prog, arch, hs)
    res = N.run(images, env, r1, r2, helpers=hs, repeat_ns=2_000_000)
    assert res.fault is None and res.r0 == 3
    assert 0 < res.native_ns < 10_000


# ---------------------------------------------------------------- the CLI

@needs_host
@pytest.mark.parametrize("arch", HOST)
def test_cli_run_native_prints_the_interpreters_result(arch, capsys):
    from jit import cli
    path = str(BUILD / "xdp_firewall.el3.o")
    frame = bytes.fromhex("ffffffffffff0000000000010800") + bytes(50)
    assert cli.main(["run", path, "--json", "--packet", frame.hex()]) == 0
    ref = capsys.readouterr().out
    assert cli.main(["run", path, "--json", "--arch", arch, "--native", "--packet", frame.hex()]) == 0
    got = capsys.readouterr().out
    import json
    a, b = json.loads(ref), json.loads(got)
    assert (a["retval"], a["regions"], a["maps"]) == (b["retval"], b["regions"], b["maps"])


@pytest.mark.parametrize("arch", OTHERS or ["-"])
def test_cli_run_native_elsewhere_is_one_line_and_status_2(arch, capsys):
    from jit import cli
    if arch == "-":
        pytest.skip("every registered target runs here")
    path = BUILD / ("xdp_firewall.el3.o" if backends.target(arch).byteorder == "little"
                    else "xdp_firewall.eb3.o")
    assert cli.main(["run", str(path), "--arch", arch, "--native", "--packet", "00" * 64]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
