"""Which refusals of the running kernel are about the kernel, not about bpfjit.

Tests that use the running kernel as an oracle (tests/test_fixtures_kernel.py,
tests/test_kernel_oracle.py) skip with the kernel's own reason when it refuses
something the project does not control -- a helper this kernel build does not
offer to the program type (issue #20: bpf_xdp_adjust_meta on a kernel built
without it), a program type or map type it does not have, BTF it does not
take, a privilege it does not grant -- and fail only when the kernel's answer
differs from the project's (a verifier refusal of what `bpfjit check` passes,
a different return value, packet or map)."""
from __future__ import annotations

import re

# (pattern in the refusal or its verifier log, the skip's wording; {0} is the match's group)
_LOG = [
    (re.compile(r"program of this type cannot use helper (\S+)"),
     "this kernel build does not offer helper {0} to this program type"),
    (re.compile(r"unknown func (\S+)"), "this kernel does not have helper {0}"),
    (re.compile(r"invalid func unknown#(\d+)"), "this kernel does not have helper #{0}"),
    (re.compile(r"(\S+) not supported by this kernel"), "{0} is not supported by this kernel"),
    (re.compile(r"JIT is required"), "this kernel requires a JIT it does not have"),
    (re.compile(r"map_type (\d+) not supported|unsupported map type"),
     "this kernel does not support a map type of the program"),
]
_ERRNO = {"Operation not permitted": "the kernel does not permit it here",
          "Operation not supported": "the kernel does not support it",
          "Unknown error 524": "the kernel does not support it (ENOTSUPP)"}
_CALLS = re.compile(r"(BPF_MAP_CREATE \(type \d+\)|BPF_BTF_LOAD|BPF_PROG_LOAD)[^:]*: (.+)")


def not_ours(reason: str, log: str = "") -> str | None:
    """The kernel's reason, as one line, when refusal `reason` (with verifier `log`) is
    the kernel's own limit; None when it is something bpfjit answers for."""
    for pat, words in _LOG:
        m = pat.search(log) or pat.search(reason)
        if m:
            return words.format(*(m.groups() or ("",))) + f" ({_last_line(log) or reason})"
    m = _CALLS.search(reason)
    if m is None:
        return None
    call, err = m.group(1), m.group(2).strip()
    if err in _ERRNO:
        return f"{call}: {_ERRNO[err]} ({err})"
    if call.startswith(("BPF_MAP_CREATE", "BPF_BTF_LOAD")) and err == "Invalid argument":
        # a map type, flag or BTF kind this kernel build lacks: the verifier never ran
        return f"{call}: this kernel refuses it ({err})"
    return None


def _last_line(log: str) -> str:
    lines = [ln for ln in log.strip().splitlines() if ln.strip()
             and not ln.startswith(("processed ", "verification time"))]
    return lines[-1].strip() if lines else ""
