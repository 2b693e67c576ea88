"""tests/kernel_refusals.py: which kernel refusals skip (the kernel's limits) and which
fail (bpfjit's answer differs).  Pinned by issue #20: a kernel built without
bpf_xdp_adjust_meta for XDP failed the README's test command."""
from tests.kernel_refusals import not_ours

ADJUST_META_LOG = """80: (85) call bpf_xdp_adjust_meta#54
program of this type cannot use helper bpf_xdp_adjust_meta#54
processed 80 insns (limit 1000000) max_states_per_insn 0 total_states 5 peak_states 5 mark_read 0
"""


def test_a_helper_this_kernel_build_lacks_is_the_kernels():
    why = not_ours("BPF_PROG_LOAD: Invalid argument", ADJUST_META_LOG)
    assert why is not None and "bpf_xdp_adjust_meta#54" in why
    assert not_ours("BPF_PROG_LOAD: Invalid argument", "5: (85) call unknown#999\n"
                    "invalid func unknown#999\n") is not None


def test_missing_map_types_and_privileges_are_the_kernels():
    assert not_ours("BPF_MAP_CREATE (type 30): Invalid argument") is not None
    assert not_ours("BPF_PROG_LOAD: Operation not permitted") is not None
    assert not_ours("BPF_BTF_LOAD: Invalid argument") is not None


def test_verifier_refusals_and_test_run_errors_are_ours():
    assert not_ours("BPF_PROG_LOAD: Invalid argument",
                    "12: (61) r0 = *(u32 *)(r2 +0)\nR2 invalid mem access 'scalar'\n") is None
    assert not_ours("BPF_PROG_LOAD: Permission denied", "back-edge from insn 5 to 3\n") is None
    assert not_ours("BPF_PROG_TEST_RUN: Invalid argument") is None
    assert not_ours("the loading process died (status -9)") is None
