"""Test tooling that ships with the compiler but is not part of it.

    gen.py          random valid eBPF programs (the differential generator)
    fuzz.py         the differential fuzz campaign (`bpfjit fuzz`) with minimized reproducers
    conformance.py  the conformance-corpus runner and the bpf_conformance plugin
    kernel.py       the running kernel as an oracle: bpf() in a subprocess, BPF_PROG_TEST_RUN

Nothing in the compile or run path imports this package; the CLI reaches it only
for `fuzz` and `conformance`.
"""
