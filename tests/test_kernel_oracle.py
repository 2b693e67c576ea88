"""The running kernel as a second opinion on the interpreter.

A sample of the small programs of tests/test_interp.py (the ones that touch
only registers, the stack and LD_ABS) is loaded as BPF_PROG_TYPE_SCHED_CLS and
run with BPF_PROG_TEST_RUN, each in a child process (jit.testing.kernel.run_batch):
the kernel's verifier can oops the loading process.  The kernel's r0 is
carried out whole through the packet: every `exit` of the program becomes a
jump to an epilogue that stores r0 into the first 8 bytes of the packet and
returns 1.  A program the kernel refuses (div by constant 0, shift by constant
>= width, an unaligned stack access, ...) is skipped and counted.
"""
from __future__ import annotations

import random

import pytest

from jit.testing import kernel
from jit.interp import run, setup
from jit.isa import Insn, all_opcodes, encode
from jit.program import MapDef
from tests.test_interp import EXIT, cases_for, execute, lddw, program

pytestmark = pytest.mark.skipif(not kernel.available()[0],
                                reason=f"kernel oracle unavailable: {kernel.available()[1]}")

PER_OPCODE = 3
EXTRA = 60
PACKET = bytes(64)


def _for_kernel(insns: list[Insn]) -> bytes:
    """r6 = ctx; the body with each exit turned into a jump to the epilogue;
    epilogue: *(u64 *)skb->data = r0; return 1 (2 if the packet is too short)."""
    body = [Insn(0xBF, 6, 1)]
    for insn in insns:
        body.append(insn)
    slots = [0]
    for insn in body:
        slots.append(slots[-1] + insn.slots)
    epilogue_at = slots[-1]
    out = []
    for insn, at in zip(body, slots):
        out.append(Insn(0x05, 0, 0, epilogue_at - at - 1, 0) if insn == EXIT else insn)
    out += [
        Insn(0x61, 2, 6, 76),            # r2 = skb->data
        Insn(0x61, 3, 6, 80),            # r3 = skb->data_end
        Insn(0xBF, 4, 2),                # r4 = r2
        Insn(0x07, 4, 0, 0, 8),          # r4 += 8
        Insn(0x2D, 4, 3, 3),             # if r4 > r3 goto short
        Insn(0x7B, 2, 0, 0),             # *(u64 *)(r2 + 0) = r0
        Insn(0xB7, 0, 0, 0, 1),          # r0 = 1
        EXIT,
        Insn(0xB7, 0, 0, 0, 2),          # short: r0 = 2
        EXIT,
    ]
    return encode(out, "little")


def _kernel_r0(ans: dict) -> int:
    if ans["retval"] == 1:
        return int.from_bytes(bytes.fromhex(ans["data_out"])[:8], "little")
    if ans["retval"] == 0:
        return 0                         # an LD_ABS miss returned 0 before the epilogue
    raise AssertionError(f"epilogue could not store r0 (retval {ans['retval']})")


def _sample():
    rng = random.Random(9669)
    picked, rest = [], []
    for op in all_opcodes():
        cases = [c for c in cases_for(op, "little") if c.stack]
        rng.shuffle(cases)
        picked += [(op, c) for c in cases[:PER_OPCODE]]
        rest += [(op, c) for c in cases[PER_OPCODE:]]
    return picked + rng.sample(rest, EXTRA)


def test_kernel_agrees_with_interpreter():
    sample = _sample()
    assert len(sample) > 300
    requests = [{"insns": _for_kernel(c.insns).hex(), "prog_type": "sched_cls",
                 "data_in": (c.mem or PACKET).hex()} for _, c in sample]
    answers = kernel.run_batch("load_and_run", requests)
    agreed, refused, differ = 0, [], []
    for (op, case), ans in zip(sample, answers):
        if isinstance(ans, kernel.KernelRefused):
            last = [ln for ln in ans.log.splitlines() if ln.strip()][-2:-1]
            refused.append((op, case.name, ans.reason + (f" ({last[0]})" if last else "")))
            continue
        mine = execute(case.insns, "little", mem=case.mem)
        assert mine.fault is None, f"{case.name}: {mine.fault}"
        theirs = _kernel_r0(ans)
        if theirs == mine.r0:
            agreed += 1
        else:
            differ.append(f"0x{op:02x} {case.name}: kernel 0x{theirs:x}, interpreter 0x{mine.r0:x}")
    print(f"\nkernel oracle: {len(sample)} programs, {agreed} agree, {len(differ)} differ, "
          f"{len(refused)} refused by the kernel")
    for op, name, why in refused[:10]:
        print(f"  refused 0x{op:02x} {name}: {why}")
    # (typical refusals: unreachable instructions, shifts by a constant >= the
    # width, division by a constant 0, unaligned stack access)
    assert not differ, "\n".join(differ[:20])
    if agreed == 0:
        pytest.skip(f"the kernel refused all {len(refused)} programs")
    # Opcodes the kernel ran at least once: nearly all of them.
    ran = {op for (op, _), ans in zip(sample, answers) if not isinstance(ans, kernel.KernelRefused)}
    assert len(ran) > 100


def test_kernel_maps_and_direct_value_access():
    """A map value read and written through LDDW src=2, on both sides."""
    # r1 = &a[0]; r0 = *(u64 *)(r1 + 0); *(u64 *)(r1 + 8) = r0 * 3
    insns = [lddw(1, 0, src=2), Insn(0x79, 0, 1, 0), Insn(0xBF, 2, 0), Insn(0x27, 2, 0, 0, 3),
             Insn(0x7B, 1, 2, 8), EXIT]
    initial = (21).to_bytes(8, "little") + bytes(8)
    mdef = MapDef(name="a", type=2, key_size=4, value_size=16, max_entries=1, initial=initial,
                  section=".data")
    p = program(insns, maps=[mdef])
    env, r1, r2 = setup(p)
    mine = run(p, env=env, r1=r1)
    assert mine.fault is None and mine.r0 == 21
    ans = kernel.run_in_subprocess("load_and_run", {
        "insns": _for_kernel(insns).hex(), "prog_type": "sched_cls", "data_in": PACKET.hex(),
        "maps": [{"type": 2, "key_size": 4, "value_size": 16, "max_entries": 1,
                  "entries": [["00000000", initial.hex()]]}]})
    if isinstance(ans, kernel.KernelRefused):
        pytest.skip(f"the kernel refused: {ans.reason}")
    assert _kernel_r0(ans) == 21
    assert ans["maps"][0] == [mine.maps["a"][0][1].hex()]
    assert ans["jited_prog_len"] > 0 and ans["xlated_prog_len"] > 0


def test_refusal_and_a_dying_child_are_reported():
    loop = encode([Insn(0x05, 0, 0, -1, 0)], "little")          # goto self: the verifier says no
    refused = kernel.run_in_subprocess("load_and_run", {
        "insns": loop.hex(), "prog_type": "sched_cls", "data_in": PACKET.hex()})
    assert isinstance(refused, kernel.KernelRefused)
    assert "BPF_PROG_LOAD" in refused.reason and refused.log
    dead = kernel.run_in_subprocess("die", {})
    assert isinstance(dead, kernel.KernelRefused) and "died" in dead.reason
    # in a batch, a dead child takes only its own request with it
    five = {"insns": _for_kernel([Insn(0xB7, 0, 0, 0, 5), EXIT]).hex(),
            "prog_type": "sched_cls", "data_in": PACKET.hex()}
    answers = kernel.run_batch("load_and_run", [five])
    assert _kernel_r0(answers[0]) == 5
