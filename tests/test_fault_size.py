"""A fault's access size is the eBPF access's size on every engine (issue #20).

Found by hand: ARM32 reported 4 bytes for an 8-byte access (it splits it into a
word pair) and MIPS64 1 byte for a straddling one (it splits an unaligned access
into bytes).  The interpreter reports the size of the eBPF load or store; every
backend must say the same.  Checked at the end of a region (the access runs off
its last byte, from half the access's size before the end) and just below it,
for every size and kind of access (atomics only aligned: the kernel refuses a
misaligned atomic)."""
from __future__ import annotations

import pytest

from jit.errors import MemoryFault
from tests.test_faults import ACCESSES, REGIONS, arches, fault_program, order_of, run

CASES = [(kind, size, side) for kind, size in ACCESSES for side in ("below", "straddle")
         if side == "below" or (size > 1 and kind != "atomic")]


@pytest.mark.parametrize("kind,size,side", CASES,
                         ids=[f"{k}{s * 8}-{side}" for k, s, side in CASES])
def test_fault_size_is_the_ebpf_access_size(kind, size, side):
    region = REGIONS[2]                               # mem: r1 = its first byte
    off = -size if side == "below" else region.size - size // 2
    problems = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        code, _ = fault_program(region, kind, size, off, order)
        f = run(code, arch, order, **opts, **region.inputs).fault
        if not isinstance(f, MemoryFault) or f.size != size:
            problems.append(f"{label}: want a {size}-byte fault, got {f!r}"
                            f" ({getattr(f, 'size', None)} bytes)")
    assert not problems, "\n".join(problems)
