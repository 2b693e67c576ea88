"""The kernel verifier's per-subprogram stack depths, for tests/test_analysis.py.

`stack_depths(requests)` loads each program into the running kernel with
log_level 4 (BPF_LOG_STATS) and returns what the verifier prints on its
`stack depth A+B+...` line: one int per subprogram, in slot order.  Loading
happens in a child process (`python -m tests.check_progs.kernel_depth`, one
JSON request per stdin line, one answer per stdout line) because some kernels
oops the loading process on loop-heavy programs: a child that dies or hangs
answers "refused" for that program, and the next one gets a fresh child.

It builds on jit.testing.kernel's bpf() calls (map_create, map_update, prog_load);
what it adds is creating a program's maps from its MapDefs, writing the
map fds into the LDDWs, and parsing the stats line.
"""
from __future__ import annotations

import json
import os
import re
import select
import struct
import subprocess
import sys
import time

from jit.isa import encode
from jit.program import Program

_STACK_LINE = re.compile(r"^stack depth ([0-9+]+)\s*$", re.M)
BPF_LOG_STATS = 4


def request(prog: Program) -> dict:
    """What the child needs to load `prog`: little-endian bytecode, type, maps, license."""
    return {"insns": encode(prog.insns, "little").hex(), "prog_type": prog.prog_type,
            "license": prog.license or "GPL",
            "maps": [{"type": m.type, "key_size": m.key_size, "value_size": m.value_size,
                      "max_entries": m.max_entries, "flags": m.flags,
                      "initial": m.initial.hex() if m.initial else None}
                     for m in prog.maps]}


def stack_depths(requests: list[dict], *, timeout: float = 30.0) -> list[list[int] | str]:
    """Per request: the verifier's stack depths, or a string saying why there are none."""
    out: list[list[int] | str] = []
    child = None
    try:
        for req in requests:
            if child is None or child.poll() is not None:
                child = subprocess.Popen([sys.executable, "-m", "tests.check_progs.kernel_depth"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True,
                                         cwd=os.path.dirname(os.path.dirname(
                                             os.path.dirname(os.path.abspath(__file__)))))
            child.stdin.write(json.dumps(req) + "\n")
            child.stdin.flush()
            line = _readline(child, timeout)
            if line is None:
                child.kill()
                child.wait()
                child = None
                out.append("the loading process died or hung")
                continue
            ans = json.loads(line)
            out.append(ans["depths"] if "depths" in ans else ans["refused"])
    finally:
        if child is not None:
            child.stdin.close()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return out


def _readline(child: subprocess.Popen, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([child.stdout], [], [], left)
        if ready:
            line = child.stdout.readline()
            return line or None


# ---------------------------------------------------------------- child side

def _load(req: dict) -> dict:
    from jit.testing import kernel
    fds: list[int] = []
    try:
        for m in req["maps"]:
            fd = kernel.map_create(m["type"], m["key_size"], m["value_size"], m["max_entries"],
                                   m["flags"])
            fds.append(fd)
            if m["initial"]:
                kernel.map_update(fd, bytes(4), bytes.fromhex(m["initial"]))
        code = bytearray.fromhex(req["insns"])
        for i in range(0, len(code) - 15, 8):
            if code[i] == 0x18 and code[i + 1] >> 4 in (1, 2):
                idx = struct.unpack_from("<I", code, i + 4)[0]
                struct.pack_into("<I", code, i + 4, fds[idx])
        fd, log = kernel.prog_load(bytes(code), req["prog_type"], license=req["license"],
                                   log_level=BPF_LOG_STATS)
        os.close(fd)
        m = _STACK_LINE.search(log)
        if not m:
            return {"refused": "no stack depth line in the verifier log"}
        return {"depths": [int(x) for x in m.group(1).split("+")]}
    except kernel.KernelError as e:
        return {"refused": f"{e} {e.log.strip().splitlines()[-1:] if e.log else ''}"}
    except (KeyError, OSError) as e:
        return {"refused": f"cannot load: {e!r}"}
    finally:
        for fd in fds:
            os.close(fd)


def _serve() -> None:
    for line in sys.stdin:
        print(json.dumps(_load(json.loads(line))), flush=True)


if __name__ == "__main__":
    _serve()
