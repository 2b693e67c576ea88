"""Frames the kernel's BPF_PROG_TEST_RUN refuses are refused the same way (issue 19 item 7).

The rules (jit.contexts.kernel_input_rule) are checked twice: against the sizes the
kernel refuses, written out here, and against the running kernel itself, which loads a
trivial program of each type and test-runs every frame size around each limit (in a
child process: jit.testing.kernel); where bpf() is not permitted that part skips with
the reason.
"""
from __future__ import annotations

import functools

import pytest

from jit import driver
from jit.contexts import SKB_MAX_FRAME, InputRefused, check_input, context_kind, \
    kernel_input_rule
from jit.program import from_bytecode

RET0 = bytes.fromhex("b700000000000000" "9500000000000000")       # r0 = 0; exit
ETHERTYPES = {"ipv4": b"\x08\x00", "ipv6": b"\x86\xdd", "arp": b"\x08\x06"}
# sizes either side of every limit
SIZES = sorted({0, 1, 13, 14, 15, 33, 34, 35, 53, 54, 55, 100, SKB_MAX_FRAME,
                SKB_MAX_FRAME + 1})
TYPES = ("xdp", "sched_cls", "socket_filter", "cgroup_skb")


def frame(ethertype: str, size: int) -> bytes:
    return (bytes(12) + ETHERTYPES[ethertype] + bytes(SKB_MAX_FRAME))[:size]


def expected_refusal(prog_type: str, ethertype: str, size: int) -> bool:
    """The kernel's rules, restated from its behaviour (not from the implementation)."""
    if size < 14:
        return True
    if prog_type == "xdp":
        return False
    return (ethertype == "ipv4" and size < 34) or (ethertype == "ipv6" and size < 54) \
        or size > 3712


@pytest.mark.parametrize("prog_type", TYPES)
@pytest.mark.parametrize("ethertype", ETHERTYPES)
def test_rules_refuse_what_the_kernel_refuses(prog_type, ethertype):
    for size in SIZES:
        why = kernel_input_rule(context_kind(prog_type), frame(ethertype, size))
        assert (why is not None) == expected_refusal(prog_type, ethertype, size), \
            (prog_type, ethertype, size, why)


def test_raw_programs_have_no_frame_rules():
    assert kernel_input_rule(context_kind("raw"), b"") is None
    check_input("raw", b"\x01")


def _prog(prog_type: str):
    prog = from_bytecode(RET0)
    prog.prog_type = prog_type
    return prog


def test_a_refused_frame_is_one_line_naming_the_rule_and_no_kernel_rules_runs_it():
    prog = _prog("sched_cls")
    obj = driver.Object(file="t.o", programs=[prog], maps=[], byteorder="little")
    short = frame("ipv6", 40)
    with pytest.raises(InputRefused) as e:
        driver.run(obj, prog, driver.INTERP, driver.Inputs(packet=short))
    text = str(e.value)
    assert "\n" not in text and "IPv6" in text and "40 < 54" in text and "EINVAL" in text
    res = driver.run(obj, prog, driver.INTERP, driver.Inputs(packet=short, kernel_rules=False))
    assert res.fault is None and res.r0 == 0


def test_the_cli_exits_2_and_names_the_rule(tmp_path, capsys):
    from jit import cli
    path = tmp_path / "p.bin"
    path.write_bytes(RET0)
    # raw bytecode is a "raw" program: no rules; the xdp example has them
    code = cli.main(["run", "examples/xdp_firewall.o", "--packet", "0011"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Ethernet header" in err
    assert cli.main(["run", "examples/xdp_firewall.o", "--packet", "0011",
                     "--no-kernel-rules"]) == 0


@functools.cache
def _kernel():
    from jit.testing import kernel
    ok, why = kernel.available()
    return kernel if ok else why


@pytest.mark.parametrize("prog_type", TYPES)
def test_the_running_kernel_refuses_exactly_these_frames(prog_type):
    k = _kernel()
    if isinstance(k, str):
        pytest.skip(f"the kernel is not available: {k}")
    cases = [(e, s) for e in ETHERTYPES for s in SIZES]
    answers = k.run_batch("load_and_run", [
        {"insns": RET0.hex(), "prog_type": prog_type, "data_in": frame(e, s).hex()}
        for e, s in cases])
    refused_load = [a for a in answers if isinstance(a, k.KernelRefused) and "LOAD" in str(a)]
    if len(refused_load) == len(answers):
        pytest.skip(f"the kernel does not load {prog_type} programs: {refused_load[0]}")
    for (e, s), answer in zip(cases, answers):
        kernel_refused = isinstance(answer, k.KernelRefused)
        ours = kernel_input_rule(context_kind(prog_type), frame(e, s)) is not None
        assert ours == kernel_refused, (prog_type, e, s, answer)
