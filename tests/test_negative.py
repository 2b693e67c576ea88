"""Negative inputs: what the bpf_conformance suite and uBPF's err-*.data files feed a
runtime to see it refuse (reserved fields set, unknown opcodes, bad registers,
jumps into an LDDW or out of the program, a truncated LDDW, unknown helpers,
writes to r10, ...), and the ELF objects a loader must refuse.

Each input goes through the real CLI (`jit.cli.main`, in-process) and must be
rejected with exit status 2 and exactly one line on stderr,

    bpfjit: <file>: <function>: pc <n>: <what is wrong>

with the pc of the offending instruction and a message of its own: the test
asserts each case's wording and that no two cases share a message.  The same
line comes back from `check`, `run` and `compile` on every backend, because
they all refuse before doing anything else.

Programs are written as raw 8-byte slots with `struct` (RFC 9669 section 3),
not with jit.isa.encode, so that the encoder under test cannot hide a bug in
the input.
"""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys

import pytest

from tests.loader_fuzz import run_cli, covered_arches

HERE = os.path.dirname(os.path.abspath(__file__))


def slot(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, *,
         order: str = "little") -> bytes:
    """One instruction slot: opcode, regs byte (bpfel: src<<4|dst; bpfeb: dst<<4|src), off, imm."""
    if order == "little":
        return struct.pack("<BBhi", op, src << 4 | dst, off, imm)
    return struct.pack(">BBhi", op, dst << 4 | src, off, imm)


def prog(*slots: tuple, order: str = "little") -> bytes:
    return b"".join(slot(*s, order=order) for s in slots)


MOV0 = (0xB7, 0, 0, 0, 0)            # r0 = 0
EXIT = (0x95,)                       # exit
LDDW = 0x18
NOP2 = (0x00,)                       # the second slot of an LDDW (all zero but imm)

# (name, slots, pc, the message after "pc N: ") -- the wording is the one each
# error carries in jit/isa.py, jit/analysis.py and jit/lower.py; every message differs.
CASES = [
    ("unknown-opcode", [MOV0, (0xFF,), EXIT], 1, "unknown opcode (opcode 0xff)"),
    ("unknown-opcode-callx", [MOV0, (0x8D, 0, 1), EXIT], 1, "unknown opcode (opcode 0x8d)"),
    ("unknown-opcode-ld-imm-w", [(0x00, 0, 0, 0, 1), MOV0, EXIT], 0,
     "unknown opcode (opcode 0x00)"),
    ("unknown-opcode-ldxsx-dw", [MOV0, (0x99, 0, 10, -8), EXIT], 1,
     "unknown opcode (opcode 0x99)"),
    ("reserved-src", [MOV0, (0x07, 0, 1, 0, 1), EXIT], 1,
     "reserved field src is not zero (opcode 0x07)"),
    ("reserved-imm", [MOV0, (0x0F, 0, 1, 0, 1), EXIT], 1,
     "reserved field imm is not zero (opcode 0x0f)"),
    ("reserved-off", [MOV0, (0x07, 0, 0, 1, 1), EXIT], 1,
     "reserved field off is not zero (opcode 0x07)"),
    ("reserved-exit-imm", [MOV0, (0x95, 0, 0, 0, 1)], 1,
     "reserved field is not zero (opcode 0x95)"),
    ("reserved-ldx-imm", [MOV0, (0x7A, 10, 0, -8, 0), (0x79, 0, 10, -8, 1), EXIT], 2,
     "reserved field imm is not zero (opcode 0x79)"),
    ("bad-dst-register", [MOV0, (0xB7, 11, 0, 0, 1), EXIT], 1,
     "invalid destination register r11 (opcode 0xb7)"),
    ("bad-src-register", [MOV0, (0xBF, 0, 12), EXIT], 1,
     "invalid source register r12 (opcode 0xbf)"),
    ("jump-into-lddw", [MOV0, (0x05, 0, 0, 1), (LDDW, 1, 0, 0, 1), NOP2, EXIT], 1,
     "jump to pc 3, the second half of an LDDW"),
    ("jump-out-forward", [MOV0, (0x05, 0, 0, 5), EXIT], 1,
     "jump to pc 7 leaves function main (slots 0..2)"),
    ("jump-out-backward", [MOV0, (0x15, 0, 0, -3, 0), EXIT], 1,
     "jump to pc -1 leaves function main (slots 0..2)"),
    ("lddw-truncated", [MOV0, (LDDW, 1, 0, 0, 1)], 1,
     "truncated LDDW: the second slot is missing"),
    ("lddw-second-slot-reserved", [(LDDW, 0, 0, 0, 1), (0x00, 1), EXIT], 1,
     "LDDW second slot has reserved fields set"),
    ("lddw-bad-source", [(LDDW, 0, 7, 0, 1), NOP2, EXIT], 0,
     "invalid LDDW source 7 (opcode 0x18)"),
    ("unknown-helper", [(0x85, 0, 0, 0, 9999), EXIT], 0, "unknown helper 9999"),
    ("bad-call-kind", [MOV0, (0x85, 0, 3, 0, 1), EXIT], 1, "invalid call kind src=3 (opcode 0x85)"),
    ("call-outside-program", [MOV0, (0x85, 0, 1, 0, 100), EXIT], 1,
     "call target pc 102 is not the start of a function"),
    ("write-r10", [MOV0, (0xB7, 10, 0, 0, 1), EXIT], 1, "writes r10, the read-only frame pointer"),
    ("falls-off-end", [MOV0], 0,
     "falls off the end of function main: the last instruction is not an exit or a jump"),
    ("uninitialised-register", [(0xBF, 0, 5), EXIT], 0,
     "r5 is read before it is written (on some path to here)"),
    ("stack-below-512", [MOV0, (0x7A, 10, 0, -520, 1), EXIT], 1,
     "store to r10-520 is below r10-512"),
    ("stack-at-r10", [MOV0, (0x7A, 10, 0, 0, 1), EXIT], 1,
     "store to r10+0 (8 bytes) is at or above r10"),
    ("div-by-constant-zero", [MOV0, (0x37, 0, 0, 0, 0), EXIT], 1, "division by constant zero"),
    ("end-bad-width", [MOV0, (0xD4, 0, 0, 0, 24), EXIT], 1,
     "byte swap width 24 is not 16, 32 or 64 (opcode 0xd4)"),
    ("atomic-bad-operation", [MOV0, (0x7A, 10, 0, -8, 0), (0xDB, 10, 0, -8, 0x02), EXIT], 2,
     "unknown atomic operation 0x2 (opcode 0xdb)"),
    ("atomic-byte-size", [MOV0, (0x7A, 10, 0, -8, 0), (0xD3, 10, 0, -8, 0x00), EXIT], 2,
     "atomic operation needs size W or DW (opcode 0xd3)"),
    ("sdiv-bad-offset", [MOV0, (0x37, 0, 0, 2, 3), EXIT], 1,
     "invalid offset 2 for division (0 or 1) (opcode 0x37)"),
    ("movsx-bad-width", [MOV0, (0xBF, 0, 0, 24), EXIT], 1,
     "invalid sign-extension width 24 (opcode 0xbf)"),
    ("recursion", [MOV0, (0x85, 0, 1, 0, -2), EXIT], 1, "recursive call: main -> main"),
]

# Eight frames are allowed, nine are not (the kernel's MAX_CALL_FRAMES).
def _call_chain(frames: int) -> list[tuple]:
    """main and frames-1 functions, each calling the next: `frames` frames deep."""
    slots = [MOV0, (0x85, 0, 1, 0, 1), EXIT]             # main: call f1 (pc 1 + 1 + 1 = 3)
    for k in range(1, frames - 1):
        slots += [(0xB7, 0, 0, 0, k), (0x85, 0, 1, 0, 1), EXIT]
    slots += [(0xB7, 0, 0, 0, frames), EXIT]
    return slots


CASES.append(("call-depth-9", _call_chain(9), 22,
              "call chain of 9 frames is too deep (at most 8): main -> func_3 -> func_6 -> "
              "func_9 -> func_12 -> func_15 -> func_18 -> func_21 -> func_24"))

IDS = [c[0] for c in CASES]


def _write(tmp_path, name: str, data: bytes) -> str:
    path = str(tmp_path / f"{name}.bin")
    with open(path, "wb") as f:
        f.write(data)
    return path


def _one_line(code: int, err: str) -> str:
    assert code == 2, f"exit status {code}, stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {lines!r}"
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


FUNC = {"call-depth-9": "func_21"}      # the function whose call makes the ninth frame


def _expect(line: str, path: str, name: str, pc: int, msg: str) -> None:
    want = f"bpfjit: {path}: {FUNC.get(name, 'main')}: pc {pc}: "
    assert line.startswith(want), f"{line!r} does not start with {want!r}"
    assert line[len(want):].startswith(msg), f"{line!r}: want {msg!r}"


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("name,slots,pc,msg", CASES, ids=IDS)
def test_check_rejects(tmp_path, name, slots, pc, msg, order):
    path = _write(tmp_path, name, prog(*slots, order=order))
    argv = ["check", path] + (["--bpfeb"] if order == "big" else [])
    code, out, err = run_cli(argv)
    line = _one_line(code, err)
    _expect(line, path, name, pc, msg)


@pytest.mark.parametrize("name,slots,pc,msg", CASES, ids=IDS)
def test_every_command_gives_the_same_line(tmp_path, name, slots, pc, msg):
    """check, run (interpreter and every backend) and compile for every backend, in both
    byte orders (big-endian through --bpfeb and mips64): one and the same line."""
    lines = {}
    for order in ("little", "big"):
        path = _write(tmp_path, f"{name}-{order}", prog(*slots, order=order))
        eb = ["--bpfeb"] if order == "big" else []
        arches = covered_arches(order)
        commands = [["check", path, *eb], ["run", path, *eb]]
        commands += [["compile", path, *eb, "--arch", a, "-o", os.devnull] for a in arches]
        commands += [["run", path, *eb, "--arch", a] for a in arches]
        for argv in commands:
            line = _one_line(*run_cli(argv)[::2])
            lines[" ".join(argv[:1] + argv[2:])] = line.replace(path, "FILE")
    assert len(set(lines.values())) == 1, lines


def test_messages_are_distinct(tmp_path):
    """Each negative input gets its own message: a user can tell the cases apart."""
    seen = {}
    for name, slots, pc, msg in CASES:
        path = _write(tmp_path, name, prog(*slots))
        line = _one_line(*run_cli(["check", path])[::2])
        what = line.split(f": pc {pc}: ", 1)[1]
        assert what not in seen, f"{name} and {seen.get(what)} both say {what!r}"
        seen[what] = name


def test_call_chain_of_eight_frames_is_allowed(tmp_path):
    """The near miss of call-depth-9: eight frames pass and return 8 (the last function's r0)."""
    path = _write(tmp_path, "depth8", prog(*_call_chain(8)))
    code, out, err = run_cli(["run", path])
    assert (code, err) == (0, ""), err
    assert out.strip() == "0x8"


def test_the_kernel_refuses_them_too():
    """The oracle for the list itself: the running kernel's verifier refuses every case
    (loaded as socket filters in a child process, jit.testing.kernel.run_batch), and accepts the
    control "r0 = 0; exit" -- so each case is wrong for the kernel, not just for us."""
    from jit.testing import kernel
    ok, why = kernel.available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    reqs = [{"insns": prog(*slots).hex(), "prog_type": "socket_filter"}
            for _, slots, _, _ in CASES]
    reqs.append({"insns": prog(MOV0, EXIT).hex(), "prog_type": "socket_filter"})
    answers = kernel.run_batch("load_only", reqs)
    accepted = [name for (name, *_), a in zip(CASES, answers)
                if not isinstance(a, kernel.KernelRefused)]
    assert not accepted, f"the kernel accepts {accepted}"
    assert not isinstance(answers[-1], kernel.KernelRefused), answers[-1]


# --------------------------------------------------------------------- not bytecode at all

@pytest.mark.parametrize("data,msg", [
    (b"", "not an ELF object, and not raw bytecode (0 bytes is not a non-zero multiple of 8)"),
    (slot(0xB7) + b"\x95\x00", "not an ELF object, and not raw bytecode (10 bytes is not a "
                               "non-zero multiple of 8)"),
], ids=["empty", "not-a-multiple-of-8"])
def test_not_bytecode(tmp_path, data, msg):
    path = _write(tmp_path, "x", data)
    for cmd in ("check", "run", "compile", "disasm", "info"):
        line = _one_line(*run_cli([cmd, path])[::2])
        assert line == f"bpfjit: {path}: {msg}"


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.o")
    line = _one_line(*run_cli(["check", path])[::2])
    assert line == f"bpfjit: {path}: cannot read: No such file or directory"


# --------------------------------------------------------------------- ELF objects

FIXTURE = os.path.join(HERE, "progs", "build", "xdp_firewall.el3.o")


def _elf_variant(tmp_path, name: str, edit) -> str:
    with open(FIXTURE, "rb") as f:
        b = bytearray(f.read())
    edit(b)
    path = str(tmp_path / f"{name}.o")
    with open(path, "wb") as f:
        f.write(b)
    return path


def _set(offset: int, fmt: str, value: int):
    def edit(b: bytearray) -> None:
        struct.pack_into("<" + fmt, b, offset, value)      # the fixture is ELFDATA2LSB
    return edit


# ELF64 header fields (the System V gABI): e_ident[EI_CLASS] at 4, e_type at 16,
# e_machine at 18, e_shoff at 0x28.
ELF_CASES = [
    ("truncated-header", lambda b: b.__delitem__(slice(40, None)),
     "truncated ELF header (40 bytes)"),
    ("elf32", _set(4, "B", 1), "not a 64-bit ELF object (EI_CLASS 1); BPF objects are ELF64"),
    ("bad-byte-order", _set(5, "B", 3), "bad ELF byte order (EI_DATA 3)"),
    ("x86-64-object", _set(18, "H", 62), "not a BPF object (e_machine 62, want EM_BPF 247)"),
    ("executable", _set(16, "H", 2),
     "not a relocatable object (e_type 2); give the .o clang wrote"),
    ("section-headers-outside", _set(0x28, "Q", 1 << 40), "the section headers"),
]


@pytest.mark.skipif(not os.path.exists(FIXTURE), reason="fixture objects not built")
@pytest.mark.parametrize("name,edit,msg", ELF_CASES, ids=[c[0] for c in ELF_CASES])
def test_bad_elf(tmp_path, name, edit, msg):
    path = _elf_variant(tmp_path, name, edit)
    lines = set()
    for argv in (["check", path], ["info", path], ["disasm", path], ["run", path],
                 *(["compile", path, "--arch", a, "-o", os.devnull]
                   for a in covered_arches("little"))):
        line = _one_line(*run_cli(argv)[::2])
        assert line.startswith(f"bpfjit: {path}: {msg}") or \
            line.startswith(f"bpfjit: {path}: truncated or corrupted ELF object: {msg}"), line
        lines.add(line)
    assert len(lines) == 1, lines


def test_elf_messages_are_distinct(tmp_path):
    if not os.path.exists(FIXTURE):
        pytest.skip("fixture objects not built")
    seen = set()
    for name, edit, _ in ELF_CASES:
        path = _elf_variant(tmp_path, name, edit)
        line = _one_line(*run_cli(["check", path])[::2])
        what = line[len(f"bpfjit: {path}: "):]
        assert what not in seen
        seen.add(what)


def test_object_without_programs():
    """tests/asm/*.o hold instructions in .text only: libbpf finds no program there."""
    path = os.path.join(HERE, "asm", "all_ops.el.o")
    if not os.path.exists(path):
        pytest.skip("tests/asm objects not built")
    line = _one_line(*run_cli(["run", path])[::2])
    assert line.startswith(f"bpfjit: {path}: ")
    # jit/program.py Object.program words the no-name case "no a program"
    assert line == f"bpfjit: {path}: the object has no programs", line


# --------------------------------------------------------------------- found by the fuzzer

def test_map_reference_without_maps_is_a_check_failure(tmp_path):
    """Bug pinned (found by tests/loader_fuzz.py): raw bytecode whose LDDW src=1 names map 0
    of a program that has no maps passes `bpfjit check` (exit 0) although `compile`
    refuses it with a CheckError from jit/lower.py.  `check` must say what compile says."""
    path = _write(tmp_path, "mapref", prog((LDDW, 1, 1, 0, 0), NOP2, MOV0, EXIT))
    line = _one_line(*run_cli(["check", path])[::2])
    assert line.startswith(f"bpfjit: {path}: main: pc 0: LDDW refers to map 0, but the "
                           "program has 0 maps")


def test_map_reference_without_maps_compile(tmp_path):
    path = _write(tmp_path, "mapref", prog((LDDW, 1, 1, 0, 0), NOP2, MOV0, EXIT))
    for a in covered_arches("little"):
        line = _one_line(*run_cli(["compile", path, "--arch", a, "-o", os.devnull])[::2])
        assert line == (f"bpfjit: {path}: main: pc 0: LDDW refers to map 0, but the program "
                        "has 0 maps")


# --------------------------------------------------------------------- a real process

def test_exit_status_and_one_line_from_a_real_process(tmp_path):
    """The same through `python -m jit.cli`: status 2, one line, no traceback, nothing on stdout."""
    path = _write(tmp_path, "bad", prog(MOV0, (0xFF,), EXIT))
    env = {k: v for k, v in os.environ.items() if k != "BPFJIT_DEBUG"}
    r = subprocess.run([sys.executable, "-m", "jit.cli", "compile", path], capture_output=True,
                       text=True, cwd=os.path.dirname(HERE), env=env, timeout=60)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == f"bpfjit: {path}: main: pc 1: unknown opcode (opcode 0xff)\n"
