"""Faults: the same stop, at the same eBPF pc and address, on the interpreter and every backend.

Every region of a run (jit/memory.py) is whole pages with unmapped guard pages
around it, in the interpreter's Memory and in the runner's Unicorn alike.  An
access just outside a region -- the `size` bytes right below its base, or the
first bytes at its end -- must stop the program with a MemoryFault whose kind
("read"/"write"), eBPF pc and address are the same everywhere, and equal to
what the layout says.  The matrix: context, packet (a --packet and a raw --mem
block), eBPF stack, a map's values, global data (.data, .rodata); below and at
the end; LDX, STX, ST and atomic ADD; every size.  Writing inside a read-only
region (.rodata, the map headers) is a write fault at the address written.

Division, shifts and calls must never fault the emulated CPU: x86 raises #DE
for x/0 and INT_MIN/-1, ARM without a divider calls a routine, MIPS traps on
nothing but has its own quirks.  Programs run every edge value through
div/mod/sdiv/smod and the shifts (register and immediate, 32 and 64 bit) and
through calls, and must finish with the values RFC 9669 gives (computed here,
in Python, from the RFC's definitions) on every backend.

Addresses come from the layout documented in jit/memory.py and jit/maps.py:
context at CTX_BASE, packet region at PACKET_BASE (the packet data after
PACKET_HEADROOM bytes; a --mem block at the base itself), the interpreter's
stack region at STACK_BASE (8 frames of 512 bytes), map headers at MAPS_BASE
(one page), then for each map an unmapped page and its values region.
"""
from __future__ import annotations

import struct

import pytest

from jit import driver
from jit.errors import MemoryFault
from jit.interp import STACK_TOP
from jit.memory import CTX_BASE, MAPS_BASE, PACKET_BASE, PACKET_HEADROOM, PAGE, STACK_BASE
from jit.program import MapDef, Object, from_bytecode
from tests.loader_fuzz import covered_arches

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def slot(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0,
         order: str = "little") -> bytes:
    """One instruction slot (RFC 9669 section 3) in either byte order."""
    if order == "little":
        return struct.pack("<BBhi", op, src << 4 | dst, off, imm)
    return struct.pack(">BBhi", op, dst << 4 | src, off, imm)


def lddw(dst: int, src: int, imm64: int, order: str) -> bytes:
    return (slot(0x18, dst, src, 0, _s32(imm64 & M32), order) +
            slot(0, 0, 0, 0, _s32(imm64 >> 32), order))


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


SIZES = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}         # bytes -> BPF_B/H/W/DW
LDX, STX, ST, ATOMIC = 0x61, 0x63, 0x62, 0xC3         # class | BPF_MEM (| size)
EXIT = 0x95


def arches() -> list[tuple[str, str, dict]]:
    """(label, arch, options) for every backend, and each of its other CPU models too
    (ARM32 without a hardware divider)."""
    import backends
    out = [(a, a, {}) for a in covered_arches()]
    for a in covered_arches():
        out += [(f"{a}-{c.name}", a, {"cpu": c.name}) for c in backends.target(a).cpus[1:]]
    return out


def order_of(arch: str) -> str:
    import backends
    return backends.TARGET_ORDER[arch]


def run(code: bytes, arch: str, order: str, *, maps=(), cpu=None, **inputs):
    """Run past the static checks: `bpfjit check` rejects many of these wild accesses
    (value ranges, #18), and what is compared here is what each engine does at run time."""
    from jit import analysis
    prog = from_bytecode(code, byteorder=order)
    prog.maps = list(maps)
    obj = Object(file=prog.file, programs=[prog], maps=prog.maps, byteorder=order)
    ins = driver.Inputs(max_insns=200_000, **inputs)
    facts = analysis.facts_unchecked(prog, helpers=driver.helper_set(ins.helpers, prog))
    return driver.run(obj, prog, arch, ins, cpu=cpu, facts=facts)


def fault_of(result) -> tuple | None:
    f = result.fault
    if f is None:
        return None
    if isinstance(f, MemoryFault):
        return (f.kind, f.pc, f.addr)
    return (type(f).__name__, f.pc, str(f))


# --------------------------------------------------------------------- the regions

VALUES = MapDef("vals", 2, 4, 8, 4)                           # ARRAY: 4 x u64 -> one page
DATA = MapDef("g.data", 2, 4, 16, 1, initial=bytes(range(16)), section=".data")
RODATA = MapDef("g.rodata", 2, 4, 16, 1, initial=bytes(range(16)), section=".rodata")
MAPS = [VALUES, DATA, RODATA]
# maps.py: headers (32 bytes per map) fill the page at MAPS_BASE; each values region
# follows an unmapped page: map i's values at MAPS_BASE + (2 + 2 * i) pages
VALUES_BASE = [MAPS_BASE + (2 + 2 * i) * PAGE for i in range(len(MAPS))]


class Region:
    """How a program gets a pointer to the region's first byte, and the region's extent."""

    def __init__(self, name, base, size, pointer, inputs=None, maps=(), writable=True):
        self.name, self.base, self.size = name, base, size
        self.pointer = pointer              # order -> code leaving r1 = base (r1 = input ptr)
        self.inputs = inputs or {}
        self.maps = maps
        self.writable = writable


def _from_r1(delta: int):
    return lambda order: slot(0x07, 1, 0, 0, delta, order) if delta else b""


def _map_value(i: int):
    return lambda order: lddw(1, 2, i, order)                 # src=2: map i's value + 0


REGIONS = [
    Region("ctx", CTX_BASE, PAGE, _from_r1(0), {"ctx": bytes(64)}),
    Region("packet", PACKET_BASE, PAGE, _from_r1(-PACKET_HEADROOM), {"packet": bytes(64)}),
    Region("mem", PACKET_BASE, PAGE, _from_r1(0), {"mem": bytes(64)}),
    Region("map-values", VALUES_BASE[0], PAGE, _map_value(0), maps=MAPS),
    Region("data", VALUES_BASE[1], PAGE, _map_value(1), maps=MAPS),
    Region("rodata", VALUES_BASE[2], PAGE, _map_value(2), maps=MAPS, writable=False),
]

ACCESSES = [("ldx", 1), ("ldx", 2), ("ldx", 4), ("ldx", 8), ("stx", 1), ("stx", 2),
            ("stx", 4), ("stx", 8), ("st", 1), ("st", 2), ("st", 4), ("st", 8),
            ("atomic", 4), ("atomic", 8)]


def access(kind: str, size: int, off: int, order: str) -> bytes:
    """The access through r1 + off; r2 holds a value to store."""
    sz = SIZES[size]
    if kind == "ldx":
        return slot(LDX | sz, 0, 1, off, 0, order)              # r0 = *(size *)(r1 + off)
    if kind == "stx":
        return slot(STX | sz, 1, 2, off, 0, order)              # *(size *)(r1 + off) = r2
    if kind == "st":
        return slot(ST | sz, 1, 0, off, 0x5A, order)            # *(size *)(r1 + off) = 0x5a
    return slot(ATOMIC | sz, 1, 2, off, 0x00, order)            # lock *(size *)(r1 + off) += r2


def fault_program(region: Region, kind: str, size: int, off: int, order: str) -> tuple[bytes, int]:
    """(code, pc of the access): r0 = 0; r2 = 7; r1 = region base; access; exit."""
    head = slot(0xB7, 0, 0, 0, 0, order) + slot(0xB7, 2, 0, 0, 7, order) + region.pointer(order)
    pc = len(head) // 8
    return head + access(kind, size, off, order) + slot(EXIT, order=order), pc


def expected_kind(kind: str) -> str:
    # an atomic add reads first: the read is what faults (the interpreter and the CPUs alike)
    return "read" if kind in ("ldx", "atomic") else "write"


MATRIX = [(r, side, kind, size) for r in REGIONS for side in ("below", "end")
          for kind, size in ACCESSES]


def _matrix_id(case) -> str:
    r, side, kind, size = case
    return f"{r.name}-{side}-{kind}{size * 8}"


def assert_same_fault(program, kind: str, pc: int, addr: int, maps=()) -> None:
    """Run `program(order) -> (code, inputs)` on the interpreter and on every backend:
    each must stop with a `kind` fault at eBPF pc `pc` and address `addr`."""
    failures = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        code, inputs = program(order)
        got = fault_of(run(code, arch, order, maps=maps, **opts, **inputs))
        if got != (kind, pc, addr):
            failures.append(f"{label}: want {kind} fault at pc {pc} addr 0x{addr:x}, "
                            f"got {_show(got)}")
    assert not failures, "\n".join(failures)


def assert_region_fault(region: Region, kind: str, size: int, off: int,
                        want_kind: str | None = None) -> None:
    """fault_program's access at region.base + off faults there, everywhere."""
    _, pc = fault_program(region, kind, size, off, "little")
    assert_same_fault(lambda order: (fault_program(region, kind, size, off, order)[0],
                                     region.inputs),
                      want_kind or expected_kind(kind), pc, region.base + off, maps=region.maps)


@pytest.mark.parametrize("case", MATRIX, ids=[_matrix_id(c) for c in MATRIX])
def test_access_outside_a_region(case):
    region, side, kind, size = case
    assert_region_fault(region, kind, size, -size if side == "below" else region.size)


def _show(got) -> str:
    if got is None:
        return "no fault"
    kind, pc, addr = got
    return f"{kind} at pc {pc} " + (f"addr 0x{addr:x}" if isinstance(addr, int) else addr)


READONLY = [("rodata", REGIONS[5], 0), ("rodata-last", REGIONS[5], 8)]


@pytest.mark.parametrize("kind,size", [a for a in ACCESSES if a[0] != "ldx"],
                         ids=[f"{k}{s * 8}" for k, s in ACCESSES if k != "ldx"])
def test_write_inside_read_only_global_data(kind, size):
    """Writing .rodata (mapped read-only) faults at the address written, on every side."""
    # an atomic add's read succeeds here: its write is what faults
    assert_region_fault(REGIONS[5], kind, size, 8, want_kind="write")


def test_write_to_a_map_header():
    """The map pointer (LDDW src=1) points at a read-only header: a store there faults."""
    assert_same_fault(lambda order: (slot(0xB7, 0, 0, 0, 0, order) + lddw(1, 1, 0, order) +
                                     slot(0x7A, 1, 0, 0, 1, order) + slot(EXIT, order=order),
                                     {}),
                      "write", 3, MAPS_BASE, maps=MAPS)


# The eBPF stack: a constant offset outside [r10-512, r10) is refused before running
# (tests/test_negative.py); a computed one is only found at run time.  The stack
# region is STACK_BASE .. STACK_TOP (eight 512-byte frames), the entry's r10 its top,
# on the interpreter and, since the backends keep the eBPF frames there too, natively.


@pytest.mark.parametrize("side", ["end", "below"])
@pytest.mark.parametrize("kind,size", [("ldx", 8), ("stx", 8), ("ldx", 1), ("stx", 1)])
def test_computed_pointer_off_the_stack(side, kind, size):
    """r1 = r10 + (a delta read from --mem, unknown to the checks); access *(r1 + 0).

    The interpreter's stack region is [STACK_BASE, STACK_BASE + 4096) with r10 at its
    end: r10 + 0 and STACK_BASE - size are outside.  The backends must stop the same
    way (same kind, pc, address), not read or overwrite their native frame."""
    delta = 0 if side == "end" else -(8 * 512) - size
    assert STACK_TOP - STACK_BASE == 8 * 512

    def program(order):
        code = (slot(0xB7, 0, 0, 0, 0, order) + slot(0xB7, 2, 0, 0, 7, order) +
                slot(0x79, 3, 1, 0, 0, order) +            # r3 = *(u64 *)(mem + 0): the delta
                slot(0xBF, 1, 10, 0, 0, order) +           # r1 = r10
                slot(0x0F, 1, 3, 0, 0, order))             # r1 += r3, then the access (pc 5)
        return (code + access(kind, size, 0, order) + slot(EXIT, order=order),
                {"mem": (delta & M64).to_bytes(8, order)})
    assert_same_fault(program, expected_kind(kind), 5, STACK_TOP + delta)


def test_frames_lie_where_the_interpreter_puts_them():
    """r10 of the entry function, of a bpf-to-bpf callee and of a bpf_loop callback, as
    the program stores them in --mem: STACK_TOP, then each frame's bottom (its caller's
    r10 less the caller's stack depth, as jit.analysis measures it) on the interpreter
    and on every backend alike.  main calls f, which runs bpf_loop once with callback cb.
    (Storing r10 in memory makes the analysis fall back to 512 bytes for f.)"""
    failures = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        s = lambda *a: slot(*a, order=order)                 # noqa: E731
        # main: r6 = mem; *(r10-16) = 0; *(mem+0) = r10; r1 = r6; call f; r0 = 0; exit
        main = (s(0xBF, 6, 1) + s(0x7A, 10, 0, -16, 0) + s(0x7B, 6, 10, 0) +
                s(0xBF, 1, 6) + s(0x85, 0, 1, 0, 2) + s(0xB7, 0) + s(EXIT))
        # f (pc 7): r6 = r1; *(r10-24) = 0; *(mem+8) = r10; *(r10-8) = r6;
        #          r1 = 1; r2 = &cb; r3 = r6 (ctx: mem); r4 = 0; call bpf_loop; r0 = 0; exit
        f = (s(0xBF, 6, 1) + s(0x7A, 10, 0, -24, 0) + s(0x7B, 6, 10, 8) +
             s(0x7B, 10, 6, -8) + s(0xB7, 1, 0, 0, 1) + lddw(2, 4, 6, order) +
             s(0xBF, 3, 6) + s(0xB7, 4) + s(0x85, 0, 0, 0, 181) + s(0xB7, 0) + s(EXIT))
        # cb (pc 19): r1 = index, r2 = ctx (mem): *(r2+16) = r10; r0 = 0; exit
        cb = s(0x7B, 2, 10, 16) + s(0xB7, 0) + s(EXIT)
        res = run(main + f + cb, arch, order, mem=bytes(24), **opts)
        depths = driver.analyse(from_bytecode(main + f + cb, byteorder=order), None).depths
        assert depths[0] == 16
        if res.fault is not None:
            failures.append(f"{label}: stopped: {res.fault}")
            continue
        out = res.regions["packet"]
        got = [int.from_bytes(out[i:i + 8], order) for i in (0, 8, 16)]
        want = [STACK_TOP, STACK_TOP - depths[0], STACK_TOP - depths[0] - depths[7]]
        if got != want:
            failures.append(f"{label}: r10 of main, f, cb = {[hex(g) for g in got]}, "
                            f"want {[hex(w) for w in want]}")
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------- division, shifts, calls

EDGES64 = [0, 1, 2, 3, 7, M64, M64 - 1, 1 << 63, (1 << 63) - 1, (1 << 63) + 1,
           M32, 1 << 31, (1 << 31) - 1, (1 << 32), (1 << 32) + 1, 0xFFFF_FFFF_8000_0000,
           0x8000_0000_FFFF_FFFF, 0x1234_5678_9ABC_DEF0]
EDGE_IMMS = [1, 2, 3, 7, -1, -2, -7, 0x7FFF_FFFF, -0x8000_0000, 0x10000, -0x10000]


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def rfc_alu(op: str, bits: int, a: int, b: int) -> int:
    """RFC 9669 section 4.1, written out: the new 64-bit dst for `dst op= src`."""
    mask = M64 if bits == 64 else M32
    a, b = a & mask, b & mask
    if op in ("sdiv", "smod"):
        sa = _s64(a) if bits == 64 else _s32(a)
        sb = _s64(b) if bits == 64 else _s32(b)
    if op == "div":
        r = 0 if b == 0 else a // b
    elif op == "mod":
        r = a if b == 0 else a % b
    elif op == "sdiv":
        r = 0 if sb == 0 else _trunc_div(sa, sb)            # INT_MIN / -1 wraps to INT_MIN
    elif op == "smod":
        r = sa if sb == 0 else sa - sb * _trunc_div(sa, sb)  # sign of the dividend
    elif op == "lsh":
        r = a << (b & (bits - 1))
    elif op == "rsh":
        r = a >> (b & (bits - 1))
    elif op == "arsh":
        sa = _s64(a) if bits == 64 else _s32(a)
        r = sa >> (b & (bits - 1))
    else:
        raise ValueError(op)
    return r & mask                                          # ALU32 results zero-extend


OPS = {"div": (0x30, 0), "mod": (0x90, 0), "sdiv": (0x30, 1), "smod": (0x90, 1),
       "lsh": (0x60, 0), "rsh": (0x70, 0), "arsh": (0xC0, 0)}


def table_program(op: str, bits: int, order: str) -> bytes:
    """For each 24-byte record (a, b, out) of --mem: out = a op b.  A loop (r6 walks the
    records, r8 is the end) so one program covers every pair."""
    code, off = OPS[op]
    cls = 0x07 if bits == 64 else 0x04
    s = lambda *a: slot(*a, order=order)                     # noqa: E731
    return b"".join([
        s(0xBF, 6, 1), s(0xBF, 8, 1), s(0x0F, 8, 2),          # r6 = mem; r8 = mem + len
        s(0x3D, 6, 8, 6, 0),                                  # loop: if r6 >= r8 goto out
        s(0x79, 1, 6, 0), s(0x79, 2, 6, 8),                   # r1 = a; r2 = b
        s(cls | 0x08 | code, 1, 2, off, 0),                   # r1 op= r2
        s(0x7B, 6, 1, 16),                                    # out = r1
        s(0x07, 6, 0, 0, 24),                                 # r6 += 24
        s(0x05, 0, 0, -7),                                    # goto loop
        s(0xB7, 0, 0, 0, 0), s(EXIT),                         # out: r0 = 0; exit
    ])


def imm_program(op: str, bits: int, imms: list[int], order: str) -> bytes:
    """For each dividend record i (a, then one u64 per immediate): out_j = a op imm_j."""
    code, off = OPS[op]
    cls = 0x07 if bits == 64 else 0x04
    s = lambda *a: slot(*a, order=order)                     # noqa: E731
    stride = 8 * (1 + len(imms))
    body = [s(0xBF, 6, 1), s(0xBF, 8, 1), s(0x0F, 8, 2), None]
    inner = []
    for j, imm in enumerate(imms):
        inner += [s(0x79, 1, 6, 0), s(cls | code, 1, 0, off, imm), s(0x7B, 6, 1, 8 + 8 * j)]
    inner += [s(0x07, 6, 0, 0, stride)]
    body[3] = s(0x3D, 6, 8, len(inner) + 1, 0)               # if r6 >= r8 goto out
    back = -(len(inner) + 2)
    return b"".join(body + inner + [s(0x05, 0, 0, back), s(0xB7, 0, 0, 0, 0), s(EXIT)])


def _records(pairs, order) -> bytes:
    return b"".join(a.to_bytes(8, order) + b.to_bytes(8, order) + bytes(8) for a, b in pairs)


ALU_CASES = [(op, bits) for op in OPS for bits in (64, 32)]


@pytest.mark.parametrize("op,bits", ALU_CASES, ids=[f"{o}{b}" for o, b in ALU_CASES])
def test_every_edge_value_register(op, bits):
    if op in ("lsh", "rsh", "arsh"):
        counts = [0, 1, 31, 32, 33, 63, 64, 65, 127, M64, 1 << 32, (1 << 32) + 5]
        pairs = [(a, b) for a in EDGES64 for b in counts]
    else:
        pairs = [(a, b) for a in EDGES64 for b in EDGES64]
    failures = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        res = run(table_program(op, bits, order), arch, order, mem=_records(pairs, order),
                  **opts)
        if res.fault is not None:
            failures.append(f"{label}: stopped: {res.fault}")
            continue
        out = res.regions["packet"]
        for i, (a, b) in enumerate(pairs):
            got = int.from_bytes(out[24 * i + 16:24 * i + 24], order)
            want = rfc_alu(op, bits, a, b)
            if got != want:
                failures.append(f"{label}: 0x{a:x} {op}{bits} 0x{b:x} = 0x{got:x}, "
                                f"want 0x{want:x}")
                break
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("op,bits", ALU_CASES, ids=[f"{o}{b}" for o, b in ALU_CASES])
def test_every_edge_value_immediate(op, bits):
    imms = [i & (bits - 1) for i in (0, 1, 31, 32, 63)] if op in ("lsh", "rsh", "arsh") \
        else EDGE_IMMS
    failures = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        stride = 8 * (1 + len(imms))
        mem = b"".join(a.to_bytes(8, order) + bytes(8 * len(imms)) for a in EDGES64)
        res = run(imm_program(op, bits, imms, order), arch, order, mem=mem, **opts)
        if res.fault is not None:
            failures.append(f"{label}: stopped: {res.fault}")
            continue
        out = res.regions["packet"]
        bad = None
        for i, a in enumerate(EDGES64):
            for j, imm in enumerate(imms):
                at = stride * i + 8 + 8 * j
                got = int.from_bytes(out[at:at + 8], order)
                # the immediate is sign-extended to 64 bits (RFC 9669 section 4.1)
                want = rfc_alu(op, bits, a, imm & M64)
                if got != want and bad is None:
                    bad = f"{label}: 0x{a:x} {op}{bits} {imm} = 0x{got:x}, want 0x{want:x}"
        if bad:
            failures.append(bad)
    assert not failures, "\n".join(failures)


def test_calls_with_edge_values():
    """bpf-to-bpf calls pass r1-r5 and preserve r6-r9 whatever the values; helper calls
    (bpf_get_prandom_u32, id 7) clobber r1-r5 but not r6-r9.  The callee folds its
    arguments into r0 = r1 ^ (r2 << 1) ^ (r3 << 2) ^ (r4 << 3) ^ (r5 << 4); main stores
    r0 and r6-r9 to --mem for comparison with values computed here."""
    vals = [M64, 1 << 63, (1 << 63) - 1, M32, 1 << 31]
    keep = [0x8000_0000_0000_0001, 0xFFFF_FFFF_0000_0000, 0x0123_4567_89AB_CDEF, 0x7F]

    def build(order):
        s = lambda *a: slot(*a, order=order)                 # noqa: E731
        main = [s(0xBF, 9, 1)]                               # r9 = mem (stored last)
        for r, v in zip((6, 7, 8), keep):
            main.append(lddw(r, 0, v, order))
        for r, v in zip((1, 2, 3, 4, 5), vals):
            main.append(lddw(r, 0, v, order))
        main += [s(0x85, 0, 0, 0, 7)]                        # call bpf_get_prandom_u32
        for r, v in zip((1, 2, 3, 4, 5), vals):
            main.append(lddw(r, 0, v, order))
        n_main = sum(len(x) for x in main) // 8
        # after the call: store r0, r6, r7, r8; exit
        tail = [s(0x7B, 9, 0, 0), s(0x7B, 9, 6, 8), s(0x7B, 9, 7, 16), s(0x7B, 9, 8, 24),
                s(0xB7, 0, 0, 0, 0), s(EXIT)]
        call_pc = n_main
        callee_pc = call_pc + 1 + len(tail)
        callee = [s(0xBF, 0, 1)]
        for r, k in ((2, 1), (3, 2), (4, 3), (5, 4)):
            callee += [s(0x67, r, 0, 0, k), s(0xAF, 0, r)]   # r <<= k; r0 ^= r
        callee += [s(0xB7, 6, 0, 0, 0), s(0xB7, 7, 0, 0, 0), s(0xB7, 8, 0, 0, 0),
                   s(0xB7, 9, 0, 0, 0), s(EXIT)]             # clobber r6-r9 in the callee
        call = s(0x85, 0, 1, 0, callee_pc - call_pc - 1)
        return b"".join(main) + call + b"".join(tail) + b"".join(callee)

    r1, r2, r3, r4, r5 = vals
    want = [r1 ^ ((r2 << 1) & M64) ^ ((r3 << 2) & M64) ^ ((r4 << 3) & M64) ^ ((r5 << 4) & M64)]
    want += keep[:3]
    failures = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        res = run(build(order), arch, order, mem=bytes(32), **opts)
        if res.fault is not None:
            failures.append(f"{label}: stopped: {res.fault}")
            continue
        out = res.regions["packet"]
        got = [int.from_bytes(out[8 * i:8 * i + 8], order) for i in range(4)]
        if got != want:
            failures.append(f"{label}: r0, r6, r7, r8 = {[hex(g) for g in got]}, "
                            f"want {[hex(w) for w in want]}")
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------- wild pointers

# Addresses a buggy program may compute: NULL, the top of the 31-bit space, where a
# MIPS lui would sign-extend, the top of the 32-bit space, and 64-bit addresses whose
# low 32 bits are unmapped (0x1_0000_0000) or -- on a 32-bit machine that dropped the
# upper half -- the --mem block itself (0x1_2000_0000).  The interpreter faults on all.
WILD = [0x0, 0x8, 0x7FFF_FFF8, 0x8000_0000, 0xB000_0000, 0xFFFF_FFF8, 0x1_0000_0000,
        0x1_2000_0000, 0xFFFF_FFFF_FFFF_FFF8]


@pytest.mark.parametrize("kind", ["ldx", "stx"])
@pytest.mark.parametrize("addr", WILD, ids=[f"0x{a:x}" for a in WILD])
def test_wild_pointer(addr, kind):
    """r1 = addr (LDDW); an 8-byte access at r1: a fault at that address everywhere."""
    assert_same_fault(lambda order: (slot(0xB7, 0, 0, 0, 0, order) +
                                     slot(0xB7, 2, 0, 0, 7, order) + lddw(1, 0, addr, order) +
                                     access(kind, 8, 0, order) + slot(EXIT, order=order),
                                     {"mem": bytes(64)}),
                      expected_kind(kind), 4, addr)


# --------------------------------------------------------------------- unaligned, straddling

# An access that starts outside a region but not on its own size (0x1001 past the
# --mem block's base), or starts inside and runs over the end (0xffd, 0xfff): the
# interpreter reports the address the program accessed, the start of the access.
# A backend that splits the access (an unaligned x86 store, MIPS ldl/ldr, ARM32
# word pairs) must report the same address, not the first unmapped byte it touched.
UNALIGNED = [(0x1001, 8), (0xFFF, 8), (0xFFD, 8), (0xFFF, 4), (0xFFF, 2), (-1, 8), (-7, 8),
             (-3, 4)]


@pytest.mark.parametrize("kind", ["ldx", "stx"])
@pytest.mark.parametrize("off,size", UNALIGNED, ids=[f"{o:+#x}-{s * 8}" for o, s in UNALIGNED])
def test_unaligned_or_straddling_access(off, size, kind):
    assert_region_fault(REGIONS[2], kind, size, off)         # the --mem block


# --------------------------------------------------------------------- inside a callback

def test_fault_inside_a_bpf_loop_callback():
    """Bug pinned (found by the campaign on a mutated bpf_loop.eb3.o): a fault inside a
    callback that bpf_loop (helper 181) runs stops the program like any other fault.
    The runner's nested emulation (jit/runner.py call_func) let the UcError escape:
    driver.run raised "UcError: Invalid memory read (UC_ERR_READ_UNMAPPED)" (x86-64,
    ARM32) or "Unhandled CPU exception (UC_ERR_EXCEPTION)" (MIPS) and the CLI printed
    "internal error"."""
    failures = []
    for label, arch, opts in [("interp", "interp", {})] + arches():
        order = "little" if arch == "interp" else order_of(arch)
        s = lambda *a: slot(*a, order=order)                 # noqa: E731
        # main: r1 = 1; r2 = &cb (LDDW src=4); r3 = 0; r4 = 0; call bpf_loop; r0 = 0; exit
        # cb (pc 8): r1 = 0x2000_1000 (the end of --mem); r0 = *(u64 *)(r1 + 0) (pc 10); exit
        main = (s(0xB7, 1, 0, 0, 1) + lddw(2, 4, 6, order) + s(0xB7, 3) + s(0xB7, 4) +
                s(0x85, 0, 0, 0, 181) + s(0xB7, 0) + s(EXIT))
        cb = lddw(1, 0, PACKET_BASE + PAGE, order) + s(0x79, 0, 1, 0) + s(EXIT)
        try:
            got = fault_of(run(main + cb, arch, order, mem=bytes(64), **opts))
        except Exception as e:   # noqa: BLE001 - the bug: reported, not raised
            got = (type(e).__name__, None, str(e))
        want = ("read", 10, PACKET_BASE + PAGE)
        if got != want:
            failures.append(f"{label}: want read fault at pc 10 addr 0x{want[2]:x}, "
                            f"got {_show(got)}")
    assert not failures, "\n".join(failures)
