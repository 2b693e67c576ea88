"""jit.session: compile once, run many inputs, with the same results as one-shot runs.

- A Session's run of an input equals `jit.driver.run`'s on every engine (fresh maps),
  however many inputs ran before on the same interpreter table or emulator.
- Maps carried from run to run accumulate as the kernel's do, and each engine
  carries its own; `reset` and `carry=False` start from fresh maps.
- An emulator that faulted or ran out of budget runs the next input cleanly.
- The interpreter's fast closures for hot ALU and jump forms agree with the
  ALU64/ALU32/JMP64/JMP32 tables that define the operations.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from jit import driver, interp
from jit.isa import Alu, Jmp
from jit.session import Session

ROOT = Path(__file__).resolve().parent.parent
COUNTERS = str(ROOT / "tests" / "progs" / "build" / "xdp_counters.el3.o")
FIREWALL = str(ROOT / "examples" / "xdp_firewall.o")


def frames(n: int) -> list[bytes]:
    """n IPv4 frames, UDP and TCP, with varied ports and payload."""
    out = []
    for i in range(n):
        proto = 6 if i % 3 == 2 else 17
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 100, i, 0, 64, proto, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2 + i % 4]))
        l4 = struct.pack("!HH", 1000 + i, 22 if i % 4 == 3 else 80) + bytes(16)
        eth = bytes.fromhex("020000000002" "020000000001" "0800")
        out.append((eth + ip + l4 + bytes([i]) * (20 + i)))
    return out


def arches(prog) -> list[str]:
    return driver.arches_for("all", prog)


@pytest.mark.parametrize("path", [COUNTERS, FIREWALL])
def test_session_runs_equal_one_shot_runs(path):
    obj, prog = driver.load(path)
    s = Session(obj, prog, arches(prog))
    for engine in [driver.INTERP] + arches(prog):
        for frame in frames(5):
            inputs = driver.Inputs(packet=frame)
            got = s.run(inputs, engine=engine, carry=False)
            want = driver.run(obj, prog, engine, inputs)
            assert driver.comparable(got) == driver.comparable(want), (engine, frame.hex())
            assert got.maps == want.maps
            assert got.insns_executed == want.insns_executed


def test_maps_are_carried_per_engine():
    obj, prog = driver.load(COUNTERS)
    s = Session(obj, prog, arches(prog))
    for frame in frames(6):
        ref, divergences = s.diff(driver.Inputs(packet=frame))
        assert divergences == []
    final = s.maps()
    # proto_stats counts packets per protocol: the counts add up to every frame
    entries = final["proto_stats"]
    assert sum(int.from_bytes(v[:8], "little") for _k, v in entries) == 6
    for arch in arches(prog):
        assert s.maps(arch) == final
    # one-shot runs see one packet each
    one = driver.run(obj, prog, driver.INTERP, driver.Inputs(packet=frames(1)[0]))
    assert sum(int.from_bytes(v[:8], "little") for _k, v in one.maps["proto_stats"]) == 1


def test_reset_and_carry_false_start_from_fresh_maps():
    obj, prog = driver.load(COUNTERS)
    arch = arches(prog)[0]
    s = Session(obj, prog, [arch])
    frame = frames(1)[0]
    for engine in (driver.INTERP, arch):
        first = s.run(driver.Inputs(packet=frame), engine=engine)
        second = s.run(driver.Inputs(packet=frame), engine=engine)
        assert second.maps != first.maps
        fresh = s.run(driver.Inputs(packet=frame), engine=engine, carry=False)
        assert fresh.maps == first.maps
        s.reset()
        assert s.run(driver.Inputs(packet=frame), engine=engine).maps == first.maps


def test_map_seeds_apply_to_carried_maps():
    obj, prog = driver.load(COUNTERS)
    arch = arches(prog)[0]
    s = Session(obj, prog, [arch])
    frame = frames(1)[0]
    key = (3).to_bytes(4, "little")             # proto_stats is a 5-entry array
    value = (100).to_bytes(8, "little") + (0).to_bytes(8, "little")
    for engine in (driver.INTERP, arch):
        s.run(driver.Inputs(packet=frame), engine=engine)
        res = s.run(driver.Inputs(packet=frame, map_seeds={"proto_stats": [(key, value)]}),
                    engine=engine)
        counts = {k: int.from_bytes(v[:8], "little") for k, v in res.maps["proto_stats"]}
        assert key in counts and sum(counts.values()) >= 100
    assert s.maps() == s.maps(arch)


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, src << 4 | dst, off, imm)


def test_emulator_runs_cleanly_after_a_fault_and_a_budget_stop():
    # r0 = *(u64 *)(r1 + 0); a loop while r0 != 0; exit: faults without memory,
    # loops forever when the memory holds a non-zero word, returns 0 on zeros
    code = (insn(0x79, 0, 1) + insn(0x55, 0, imm=0, off=-1) + insn(0x95))
    obj, prog = driver.load(code)
    arch = arches(prog)[0]
    s = Session(obj, prog, [arch], helpers="conformance")
    cases = [driver.Inputs(mem=bytes(8), max_insns=1000),
             driver.Inputs(max_insns=1000),                              # r1 = 0: a fault
             driver.Inputs(mem=bytes(8), max_insns=1000),
             driver.Inputs(mem=b"\x01" + bytes(7), max_insns=1000),    # the budget
             driver.Inputs(mem=bytes(8), max_insns=1000)]
    for inputs in cases:
        for engine in (driver.INTERP, arch):
            got = s.run(inputs, engine=engine, carry=False)
            want = driver.run(obj, prog, engine, inputs)
            assert driver.comparable(got) == driver.comparable(want), (engine, inputs)


def test_driver_diff_is_a_one_input_session():
    obj, prog = driver.load(FIREWALL)
    for frame in frames(3):
        ref, divergences = driver.diff(obj, prog, arches(prog), driver.Inputs(packet=frame))
        assert divergences == []
        s_ref, s_div = Session(obj, prog, arches(prog)).diff(driver.Inputs(packet=frame))
        assert driver.comparable(ref) == driver.comparable(s_ref) and s_div == []


# ---------------------------------------------------------------- fast closures

VALUES = [0, 1, 2, 7, 31, 32, 33, 63, 64, 65, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000,
          0xFFFF_FFFF, 0x1_0000_0000, 0x1234_5678_9ABC_DEF0, 0x7FFF_FFFF_FFFF_FFFF,
          0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_0000_0001]


@pytest.mark.parametrize("is64", [True, False])
@pytest.mark.parametrize("code", [Alu.ADD, Alu.SUB, Alu.MUL, Alu.OR, Alu.AND, Alu.XOR,
                                  Alu.MOV, Alu.LSH, Alu.RSH])
def test_fast_alu_closures_match_the_tables(code, is64):
    f = (interp.ALU64 if is64 else interp.ALU32)[(code, 0)]
    R = [0] * 11
    for a in VALUES:
        for b in VALUES:
            k = b if is64 else b & interp.M32       # how _c_alu hands over an immediate
            step_k = interp._fast_alu(R, code, is64, 1, None, k)
            step_x = interp._fast_alu(R, code, is64, 1, 2, k)
            R[1], R[2] = a, b
            assert step_x(5) == 6 and R[1] == f(a, b), (code, is64, "X", a, b)
            R[1] = a
            assert step_k(5) == 6 and R[1] == f(a, k), (code, is64, "K", a, b)


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("code", list(interp._UNSIGNED))
def test_fast_jump_tests_match_the_tables(code, wide):
    cond = (interp.JMP64 if wide else interp.JMP32)[code]
    test = interp._UNSIGNED[code]
    for a in VALUES:
        for b in VALUES:
            fast = test(a, b) if wide else test(a & interp.M32, b & interp.M32)
            assert bool(fast) == cond(a, b), (Jmp(code).name, wide, a, b)
