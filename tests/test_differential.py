"""Differential properties: every backend must do what the interpreter does.

The interpreter is the reference (its own tests pin it to RFC 9669 with values
computed from the spec); here every available backend runs the same programs
with the same inputs and must agree on r0, the mem block, every map value, the
helper calls and the fault.  What runs:

  * random valid programs from jit/gen.py (hypothesis strategies in
    tests/strategies.py), plain, with rotated register maps (call-free
    programs), with poisoned upper halves and with constant blinding;
  * operand magnitudes swept to +-1 around every immediate limit a backend
    declares (caps.imm_limits) and the common ones, for every ALU and JMP
    operation in K and X form, constants, and memory offsets;
  * all 10x10 register pairs (aliasing included) for every binary ALU and
    conditional jump operation, in 64 and 32 bits;
  * staggered jumps around the x86 rel8 reach, and jumps at the maximal eBPF
    distances (+32767 forward, -32768 back) spanning > 128 KiB of MIPS code;
  * tail-call accounting (the limit of 33, empty slots, indices out of range);
  * deliberately broken encoders (monkeypatched), which these checks must catch.

BPFJIT_FUZZ_EXAMPLES multiplies the number of hypothesis examples (default 1).
A failing generated program is printed with the call that regenerates it.
"""
from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backends
from jit import driver
from jit.testing import fuzz, gen
from jit.asm import listing
from jit.isa import Alu, Insn, Jmp
from jit.program import MapDef
from tests import strategies as S

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

# label -> (arch, options): every registered target, and each of its other CPU models
# (e.g. one without a hardware divide, whose divisions call the runtime routine)
TARGETS = {label: (t.name, options) for t in backends.targets()
           for label, options in [(t.name, None)] + [(f"{t.name}-{c.name}", {"cpu": c.name})
                                                     for c in t.cpus[1:]]}
ARCHES = list(backends.names())


@functools.cache
def _not_ready(arch: str) -> str | None:
    return fuzz.available(arch) or fuzz.smoke(arch)


def target(name: str) -> tuple[str, dict | None, str]:
    """(arch, options, byte order) of a target, or skip when its backend is not ready."""
    arch, options = TARGETS[name]
    why = _not_ready(arch)
    if why is not None:
        pytest.skip(f"backend {arch} is not ready: {why}")
    return arch, options, backends.TARGET_ORDER[arch]


def _merge(a: dict | None, b: dict | None) -> dict | None:
    if not a and not b:
        return None
    return {**(a or {}), **(b or {})}


def assert_agrees(case: gen.Case, arch: str, options: dict | None = None, *,
                  harden: bool = False, blocks: list[str] | None = None,
                  images: list | None = None) -> None:
    d = fuzz.diff_case(case, arch, options=options, harden=harden, images=images)
    if d is None:
        return
    where = ""
    if blocks is not None and d.what.startswith("region packet at +"):
        k = int(d.what.split("+")[1], 16) // 8
        if k < len(blocks):
            where = f"\nfirst wrong result: block {k}: {blocks[k]}"
    text = "\n".join(f"; {p.name}\n" + listing(p.insns, case.byteorder, show_bytes=False)
                     for p in case.programs)
    if len(text) > 6000:
        text = text[:6000] + "\n..."
    raise AssertionError(
        f"{arch} {options or ''} diverges from the interpreter: {d.what}: expected "
        f"{_show(d.expected)}, got {_show(d.got)} (pc {d.pc}){where}\n"
        f"{S.describe(case) if case.config else ''}\n{text}\n--- native near the pc ---\n"
        f"{d.listing}")


def _show(v) -> str:
    return f"0x{v:x}" if isinstance(v, int) and not isinstance(v, bool) else repr(v)


def one_program(insns: list[Insn], order: str, mem: bytes, maps: list[MapDef] | None = None,
                programs: list[tuple[str, list[Insn]]] = ()) -> gen.Case:
    maps = list(maps or [])
    progs = [gen.make_program(insns, order, "main", maps)]
    progs += [gen.make_program(i, order, n, maps) for n, i in programs]
    return gen.Case(programs=progs, maps=maps, mem=mem, byteorder=order)


FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])


# ------------------------------------------------------------------ generated programs

@settings(FAST, max_examples=S.examples(30))
@given(case=S.cases("little"))
def test_generated_programs_are_valid_and_well_defined(case):
    """The generator's promise, checked without any backend: every program passes the
    checks, terminates without a fault, and reads nothing the spec leaves open (no frame
    byte before it is written, no r0 after a tail call)."""
    assert not gen.validate(case), S.describe(case)
    ref = fuzz.reference(case)
    assert ref.fault is None, f"{ref.fault}: {S.describe(case)}"
    assert fuzz.well_defined(case, ref, 1_000_000), S.describe(case)


@settings(FAST, max_examples=S.examples(20))
@given(case=S.cases("big"))
def test_generated_big_endian_programs_are_valid_and_well_defined(case):
    assert not gen.validate(case), S.describe(case)
    ref = fuzz.reference(case)
    assert ref.fault is None and fuzz.well_defined(case, ref, 1_000_000), S.describe(case)


@pytest.mark.parametrize("name", list(TARGETS))
@settings(FAST, max_examples=S.examples(60))
@given(data=st.data())
def test_generated_programs_agree(name, data):
    arch, options, order = target(name)
    case = data.draw(S.cases(order))
    assert_agrees(case, arch, options)


@pytest.mark.parametrize("name", ARCHES)
@settings(FAST, max_examples=S.examples(40))
@given(data=st.data(), rotate=st.integers(1, 9))
def test_rotated_register_maps_agree(name, data, rotate):
    arch, options, order = target(name)
    if backends.target(arch).rotation is None:
        pytest.skip(f"{arch} declares no register-map rotation")
    case = data.draw(S.call_free_cases(order))
    assert_agrees(case, arch, _merge(options, {"rotate": rotate}))


@pytest.mark.parametrize("name", list(TARGETS))
@settings(FAST, max_examples=S.examples(30))
@given(data=st.data(), poison=st.integers(0, 1 << 32))
def test_poisoned_upper_halves_change_nothing(name, data, poison):
    """BPF_F_TEST_RND_HI32: garbage in upper halves that the program never reads."""
    arch, options, order = target(name)
    case = data.draw(S.cases(order))
    assert_agrees(case, arch, _merge(options, {"poison_hi32": poison}))


@pytest.mark.parametrize("name", ARCHES)
@settings(FAST, max_examples=S.examples(20))
@given(data=st.data())
def test_constant_blinding_changes_nothing(name, data):
    arch, options, order = target(name)
    case = data.draw(S.cases(order))
    assert_agrees(case, arch, options, harden=True)


# ------------------------------------------------------------------ operand magnitudes

BINARY = (Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.OR, Alu.AND, Alu.LSH, Alu.RSH, Alu.MOD,
          Alu.XOR, Alu.MOV, Alu.ARSH)
CONDS = (Jmp.JEQ, Jmp.JGT, Jmp.JGE, Jmp.JSET, Jmp.JNE, Jmp.JSGT, Jmp.JSGE, Jmp.JLT, Jmp.JLE,
         Jmp.JSLT, Jmp.JSLE)
RES = 9                 # r9 holds the mem block (results) in the batched programs
MEM_RESULTS = 1 << 15   # results at mem[0, 32 KiB); memory-offset tests above that
SIGNED = {(Alu.DIV, 1): "sdiv", (Alu.MOD, 1): "smod"}


def magnitudes(arch: str) -> list[int]:
    """Every limit the backend declares, plus the ones common to all encoders."""
    caps = backends.get(arch).caps
    mags = {1 << n for n in caps.imm_bits}
    mags |= {1 << n for n in gen.LIMIT_BITS} | {1 << 32, 1 << 63}
    return sorted(mags)


def sweep_values(arch: str) -> list[int]:
    """+-(m - 1), +-m, +-(m + 1) for every magnitude m, as u64."""
    vals = {0, 1, M64}
    for m in magnitudes(arch):
        for d in (-1, 0, 1):
            vals.add((m + d) & M64)
            vals.add(-(m + d) & M64)
    return sorted(vals)


class Batch:
    """Blocks that each leave one 64-bit result at mem + 8k (r9 walks the mem block)."""

    STEP = 0x4000           # r9 moves on by this much so every offset fits an s16

    def __init__(self) -> None:
        self.insns: list[Insn] = [gen.mov(RES, src=1)]
        self.blocks: list[str] = []
        self.base = 0       # where r9 points now, relative to the mem block

    def _slot(self) -> int:
        k = 8 * len(self.blocks)
        if k - self.base >= 0x7FF8:
            self.insns.append(gen.alu(Alu.ADD, RES, imm=self.STEP))
            self.base += self.STEP
        return k - self.base

    def result(self, reg: int, what: str) -> None:
        self.insns.append(gen.stx(8, RES, self._slot(), reg))
        self.blocks.append(what)

    def mark(self, taken_by: Insn, what: str) -> None:
        """Store 1 if `taken_by` (a conditional jump over one insn) jumps, else 0."""
        k = self._slot()
        self.insns += [gen.st(8, RES, k, 1), taken_by._replace(off=1), gen.st(8, RES, k, 0)]
        self.blocks.append(f"{Jmp(taken_by.code).name.lower()}{'32' if taken_by.cls == 6 else ''}"
                           f" {what} taken?")

    def case(self, order: str, mem_size: int | None = None) -> gen.Case:
        size = max(mem_size or 0, 8 * len(self.blocks) + 8)
        return one_program(self.insns + [gen.mov(0, imm=0), gen.EXIT], order, bytes(size))


def _regs(k: int) -> tuple[int, int]:
    """A (dst, src) pair for block k, moving through r0-r8 so every register meets every form."""
    d = k % 9
    s = (d + 1 + (k // 9) % 8) % 9
    return d, s


DSTS = (0x0123_4567_89AB_CDEF, M64, 0x8000_0000, 7)


def alu_sweep(arch: str, wide: bool) -> Batch:
    b = Batch()
    width = 64 if wide else 32
    k = 0
    for code in BINARY:
        for signed in ((0, 1) if code in (Alu.DIV, Alu.MOD) else (0,)):
            name = SIGNED.get((code, signed), code.name.lower())
            for i, v in enumerate(sweep_values(arch)):
                d, s = _regs(k)
                k += 1
                a = DSTS[i % len(DSTS)]
                # X form: the value in a register
                count = v & (width - 1) if code in (Alu.LSH, Alu.RSH, Alu.ARSH) else v
                b.insns += [gen.lddw(d, a), gen.lddw(s, count),
                            gen.alu(code, d, src=s, wide=wide, off=signed)]
                b.result(d, f"{name}{width} 0x{a:x}, reg 0x{count:x}")
                # K form, where the value is an s32 immediate (the lowering/encoder choice)
                imm = v - (1 << 64) if v >> 63 else v
                if code in (Alu.LSH, Alu.RSH, Alu.ARSH):
                    imm = v & (width - 1)
                if not -(1 << 31) <= imm < (1 << 31) or (imm == 0 and code in
                                                         (Alu.DIV, Alu.MOD)):
                    continue
                a = DSTS[(i + 1) % len(DSTS)]
                b.insns += [gen.lddw(d, a), gen.alu(code, d, imm=imm, wide=wide, off=signed)]
                b.result(d, f"{name}{width} 0x{a:x}, imm {imm}")
    return b


def const_and_jump_sweep(arch: str) -> Batch:
    b = Batch()
    k = 0
    for v in sweep_values(arch):
        d, s = _regs(k)
        k += 1
        imm = v - (1 << 64) if v >> 63 else v
        b.insns.append(gen.lddw(d, v))
        b.result(d, f"lddw 0x{v:x}")
        if -(1 << 31) <= imm < (1 << 31):
            b.insns.append(gen.mov(d, imm=imm))
            b.result(d, f"mov64 {imm}")
            b.insns.append(gen.mov(d, imm=imm, wide=False))
            b.result(d, f"mov32 {imm}")
        for cond in CONDS:
            for wide in (True, False):
                a = (v + 1) & M64 ^ (1 << 63)
                b.insns += [gen.lddw(d, a), gen.lddw(s, v)]
                b.mark(gen.jcond(cond, d, src=s, wide=wide), f"0x{a:x}, reg 0x{v:x}")
                if not -(1 << 31) <= imm < (1 << 31):
                    continue
                for a in (v, (v + 1) & M64, (v - 1) & M64):     # equal, above, below
                    b.insns.append(gen.lddw(d, a))
                    b.mark(gen.jcond(cond, d, imm=imm, wide=wide), f"0x{a:x}, {imm}")
    return b


def offset_sweep(arch: str) -> tuple[Batch, int]:
    """Loads and stores of every size at offsets +-(m-1, m, m+1) around each limit that fits
    an s16 offset, through bases placed so every address is aligned to its size."""
    b = Batch()
    region = MEM_RESULTS + 0x8000           # the middle of the second 64 KiB
    offsets = sorted({o for m in magnitudes(arch) if m <= 0x8000
                      for o in (m - 1, m, m + 1, -m + 1, -m, -m - 1)
                      if -0x8000 <= o <= 0x7FFF} | {0, 1, 4, 7, 8, 4092, 4093, 4094, 4095})
    n = 0
    for off in offsets:
        for size in (1, 2, 4, 8):
            d, s = _regs(n)
            n += 1
            adj = (-off) % size                 # base + off is aligned to size
            value = (0x8877_6655_4433_2211 * (n + 1)) & M64
            b.insns += [gen.mov(d, src=RES), gen.alu(Alu.ADD, d, imm=region + adj),
                        gen.lddw(s, value), gen.stx(size, d, off, s),
                        gen.ldx(size, s, d, off)]
            b.result(s, f"stx/ldx{size * 8} [base{off:+d}] (base = mem+0x{region + adj:x})")
            if size < 8:
                b.insns += [gen.ldx(size, s, d, off, signed=True)]
                b.result(s, f"ldsx{size * 8} [base{off:+d}]")
            b.insns += [gen.st(size, d, off, -2 - n), gen.ldx(size, s, d, off)]
            b.result(s, f"st{size * 8} imm [base{off:+d}]")
    return b, region + 0x8000 + 16


@pytest.mark.parametrize("wide", [True, False], ids=["alu64", "alu32"])
@pytest.mark.parametrize("name", list(TARGETS))
def test_operand_magnitudes_around_every_limit(name, wide):
    arch, options, order = target(name)
    b = alu_sweep(arch, wide)
    assert_agrees(b.case(order), arch, options, blocks=b.blocks)


@pytest.mark.parametrize("name", list(TARGETS))
def test_constants_and_compares_around_every_limit(name):
    arch, options, order = target(name)
    b = const_and_jump_sweep(arch)
    assert_agrees(b.case(order), arch, options, blocks=b.blocks)


@pytest.mark.parametrize("name", ARCHES)
def test_memory_offsets_around_every_limit(name):
    arch, options, order = target(name)
    b, size = offset_sweep(arch)
    assert_agrees(b.case(order, size), arch, options, blocks=b.blocks)


# ------------------------------------------------------------------ register pairs

PAIR_VALUES = (0xFEDC_BA98_7654_3210, 0x8000_0000_0000_0005, 0x0000_0001_FFFF_FFF7, M64 - 6,
               0x7FFF_FFFF_8000_0001, 0x0000_0000_0000_0023)
SLOTS = 60                  # results buffered on the stack (all registers are operands)


def pairs_program(order: str, block) -> tuple[gen.Case, list[str]]:
    """`block(d, s, k) -> (insns, what)` for all 100 (d, s) pairs; each block leaves its
    result in the stack slot it is given, flushed to the mem block every SLOTS blocks."""
    insns = [gen.stx(8, 10, -8, 1)]
    names: list[str] = []
    pending = 0

    def flush() -> None:
        nonlocal pending
        first = len(names) - pending
        insns.append(gen.ldx(8, 1, 10, -8))
        for j in range(pending):
            insns.extend([gen.ldx(8, 2, 10, -16 - 8 * j), gen.stx(8, 1, 8 * (first + j), 2)])
        pending = 0

    for d in range(10):
        for s in range(10):
            body, what = block(d, s, -16 - 8 * pending)
            insns += body
            names.append(what)
            pending += 1
            if pending == SLOTS:
                flush()
    if pending:
        flush()
    insns += [gen.mov(0, imm=0), gen.EXIT]
    return one_program(insns, order, bytes(8 * len(names))), names


def alu_pair_block(code: int, wide: bool, signed: int):
    def block(d: int, s: int, slot: int):
        a = PAIR_VALUES[(d + s) % len(PAIR_VALUES)]
        c = PAIR_VALUES[(d * 3 + s + 1) % len(PAIR_VALUES)]
        if code in (Alu.LSH, Alu.RSH, Alu.ARSH):
            c = (c & ~63) | (d * 7 + s) % 64       # counts 0..63 with high bits to ignore
        body = [gen.lddw(d, a)] + ([gen.lddw(s, c)] if s != d else [])
        body += [gen.alu(code, d, src=s, wide=wide, off=signed), gen.stx(8, 10, slot, d)]
        name = SIGNED.get((code, signed), Alu(code).name.lower())
        return body, f"{name}{64 if wide else 32} r{d}, r{s}"
    return block


def jmp_pair_block(cond: int, wide: bool):
    def block(d: int, s: int, slot: int):
        a = PAIR_VALUES[(d + s) % len(PAIR_VALUES)]
        c = a if (d * 10 + s) % 3 == 0 else PAIR_VALUES[(d * 3 + s + 1) % len(PAIR_VALUES)]
        body = [gen.lddw(d, a)] + ([gen.lddw(s, c)] if s != d else [])
        body += [gen.st(8, 10, slot, 1), gen.jcond(cond, d, src=s, wide=wide, off=1),
                 gen.st(8, 10, slot, 0)]
        return body, f"{Jmp(cond).name.lower()}{'' if wide else '32'} r{d}, r{s}"
    return block


PAIR_OPS = [(c, 0) for c in BINARY] + [(Alu.DIV, 1), (Alu.MOD, 1)]


@pytest.mark.parametrize("op", PAIR_OPS, ids=[SIGNED.get(o, Alu(o[0]).name.lower())
                                              for o in PAIR_OPS])
@pytest.mark.parametrize("name", list(TARGETS))
def test_every_register_pair_for_every_alu_op(name, op):
    arch, options, order = target(name)
    code, signed = op
    for wide in (True, False):
        case, names = pairs_program(order, alu_pair_block(code, wide, signed))
        assert_agrees(case, arch, options, blocks=names)


@pytest.mark.parametrize("name", ARCHES)
def test_every_register_pair_for_every_jump(name):
    arch, options, order = target(name)
    for cond in CONDS:
        for wide in (True, False):
            case, names = pairs_program(order, jmp_pair_block(cond, wide))
            assert_agrees(case, arch, options, blocks=names)


# ------------------------------------------------------------------ jump distances

def staggered_program(order: str) -> gen.Case:
    """Pairs of crossing conditional jumps over padding of 1..64 instructions (4-7 bytes
    each on x86: the rel8/rel32 boundary falls inside), taken and not taken."""
    bld = gen.Builder()
    bld.emit(gen.mov(RES, src=1), gen.mov(2, imm=0), gen.mov(3, imm=1))
    k = 0
    for pad in list(range(1, 41)) + [48, 56, 64]:
        for taken in (True, False):
            l1, l2 = ("a", pad, taken), ("b", pad, taken)
            # if r3 == 1 (or != 1) goto l1 ; if r2 == 0 goto l2 ; pad ; l1: pad ; l2:
            bld.jump(gen.jcond(Jmp.JEQ if taken else Jmp.JNE, 3, imm=1), l1)
            bld.jump(gen.jcond(Jmp.JEQ, 2, imm=0, wide=False), l2)
            for i in range(pad):
                bld.emit(gen.alu(Alu.ADD, 2, imm=(i * 37 % 300) - 150))
            bld.label(l1)
            bld.emit(gen.alu(Alu.XOR, 2, imm=pad * 3 + taken))
            for i in range(pad):
                bld.emit(gen.alu(Alu.SUB, 2, imm=i + 1, wide=i % 2 == 0))
            bld.label(l2)
            bld.emit(gen.stx(8, RES, 8 * k, 2))
            k += 1
    bld.emit(gen.mov(0, src=2), gen.EXIT)
    return one_program(bld.build(), order, bytes(8 * k))


@pytest.mark.parametrize("name", ARCHES)
def test_staggered_jumps_across_short_branch_reach(name):
    arch, options, order = target(name)
    assert_agrees(staggered_program(order), arch, options)


FAR_PAD = 32765             # slots between the forward jump and the back jump


def far_program(order: str) -> tuple[gen.Case, int, int]:
    """A loop whose forward exit jumps +32767 slots and whose back edge jumps -32768,
    over LDDW padding (several MIPS instructions each).  Returns (case, pc of the
    forward jump, its target pc)."""
    insns = [gen.mov(RES, src=1), gen.mov(7, imm=2), gen.mov(6, imm=0)]
    top = len(insns)                                   # every insn so far is one slot
    insns.append(gen.alu(Alu.ADD, 7, imm=-1))         # top: r7 -= 1
    fwd = len(insns)
    insns.append(gen.jcond(Jmp.JEQ, 7, imm=0, off=0x7FFF))
    pad = []
    for i in range(FAR_PAD // 3):             # r8 = K; r6 ^= r8 (live, so nothing is dropped)
        pad += [gen.lddw(8, (0x9E37_79B9_7F4A_7C15 * (i + 1)) & M64), gen.alu(Alu.XOR, 6, src=8)]
    pad += [gen.alu(Alu.ADD, 6, imm=1)] * (FAR_PAD % 3)
    assert sum(i.slots for i in pad) == FAR_PAD
    insns += pad
    back = fwd + 1 + FAR_PAD
    insns.append(gen.jcond(Jmp.JNE, 7, imm=5, off=top - (back + 1)))
    assert top - (back + 1) == -0x8000
    insns += [gen.mov(0, imm=99)]                      # never reached
    target_pc = fwd + 1 + 0x7FFF
    assert target_pc == back + 2
    insns += [gen.stx(8, RES, 0, 6), gen.stx(8, RES, 8, 7), gen.mov(0, src=6),
              gen.alu(Alu.ADD, 0, src=7), gen.EXIT]
    return one_program(insns, order, bytes(64)), fwd, target_pc


def _native_offset(image, pc: int) -> int:
    return min(o for o, p in image.pc_map if p == pc)


@pytest.mark.parametrize("name", ARCHES)
def test_jumps_at_maximal_distance(name):
    arch, options, order = target(name)
    case, fwd, tgt = far_program(order)
    ref = fuzz.reference(case)
    # one pass over the padding, the back edge, then the forward jump taken: r7 ends at 0
    assert ref.fault is None and ref.insns_executed > FAR_PAD // 2
    assert ref.regions["packet"][8:16] == bytes(8)
    images = driver.compile_for_run(case.obj(), case.prog, arch,
                                    driver.helper_set("kernel", case.prog), options=options)
    assert_agrees(case, arch, options, images=images)
    image = images[0]
    span = _native_offset(image, tgt) - _native_offset(image, fwd)
    reach = backends.target(arch).caps.branch_reach
    if reach < 1 << 20:             # the padding is meant to take a branch past its short form
        assert span > reach, f"the padding is only {span} bytes of {arch} code"
    assert span > 127


# ------------------------------------------------------------------ tail calls

JMP_MAP = "jmp"


def _tail(index: int) -> list[Insn]:
    """r1 = mem; r2 = &jmp; r3 = index; tail_call"""
    return [gen.ldx(8, 1, 10, -8), gen.lddw(2, 1, pseudo=1), gen.lddw(3, index),
            gen.call_helper(12)]


def tail_case(order: str, first: list[Insn], targets: dict[int, str],
              programs: list[tuple[str, list[Insn]]], entries: int = 4) -> gen.Case:
    counter = MapDef("counter", 2, 4, 8, 1)
    jmp = MapDef(JMP_MAP, 3, 4, 4, entries, prog_slots=dict(targets))
    return one_program(first, order, bytes(64), [counter, jmp], programs)


def _bump() -> list[Insn]:
    """counter += 1 (through LDDW map_value); keeps r1 (mem) saved at r10-8"""
    return [gen.stx(8, 10, -8, 1), gen.lddw(6, 0, pseudo=2), gen.mov(7, imm=1),
            gen.atomic(8, 6, 0, 7, 0x00)]


@pytest.mark.parametrize("name", ARCHES)
def test_tail_call_accounting(name):
    arch, options, order = target(name)
    # a chain through itself: 1 + 33 runs, then the 34th tail call falls through
    self_loop = _bump() + _tail(0) + [gen.mov(0, imm=7), gen.EXIT]
    assert_agrees(tail_case(order, self_loop, {0: "main"}, []), arch, options)
    # empty slot, out-of-range indices (u32 truncation: 1 << 32 is slot 0), then a hit
    other = [gen.mov(0, imm=5), gen.EXIT]
    for index in (1, 3, 4, 5, M32, 1 << 32, M64, 2):
        prog = [gen.stx(8, 10, -8, 1)] + _tail(index) + [gen.mov(0, imm=77), gen.EXIT]
        assert_agrees(tail_case(order, prog, {0: "other", 2: "other"}, [("other", other)]),
                      arch, options)
    # 20 empty-slot attempts use up 20 of the 33, then a chain of 2 programs ping-pongs
    pong = _bump() + _tail(0) + [gen.mov(0, imm=9), gen.EXIT]
    back = -(sum(i.slots for i in _tail(3)) + 2)      # to the start of the tail call
    ping = _bump() + [gen.mov(8, imm=20)] + _tail(3) + \
        [gen.alu(Alu.ADD, 8, imm=-1), gen.jcond(Jmp.JNE, 8, imm=0, off=back)] + \
        _tail(1) + [gen.mov(0, imm=8), gen.EXIT]
    assert_agrees(tail_case(order, ping, {0: "main", 1: "pong"}, [("pong", pong)]),
                  arch, options)


# ------------------------------------------------------------------ the checks catch bugs

def _sweep_battery(arch: str, order: str, quick_seeds: int = 30):
    """Targeted programs first (cheap to run, each one op class), then generated ones."""
    for wide in (True, False):
        b = alu_sweep(arch, wide)
        yield b.case(order), b.blocks
    b = const_and_jump_sweep(arch)
    yield b.case(order), b.blocks
    for seed in range(quick_seeds):
        yield gen.generate(seed, gen.GenConfig(byteorder=order)), None


def _caught(arch: str, options=None) -> str | None:
    order = backends.TARGET_ORDER[arch]
    for case, _ in _sweep_battery(arch, order):
        d = fuzz.diff_case(case, arch, options=options)
        if d is not None:
            return d.what
    return None


def _mutate_x86_jcc(monkeypatch):
    """x86: jcc emits `jae` for `ja` and `ja` for `jae` (a wrong condition code)."""
    from backends.x86_64 import enc
    swap = {enc.Cond.A: enc.Cond.AE, enc.Cond.AE: enc.Cond.A}
    j8, j32 = enc.jcc_rel8, enc.jcc_rel32
    monkeypatch.setattr(enc, "jcc_rel8", lambda cc, d: j8(swap.get(cc, cc), d))
    monkeypatch.setattr(enc, "jcc_rel32", lambda cc, d: j32(swap.get(cc, cc), d))


def _mutate_x86_add_rex_w(monkeypatch):
    """x86: a 64-bit register add loses REX.W (so it is a 32-bit add)."""
    from backends.x86_64 import enc
    alu_rr = enc.alu_rr
    monkeypatch.setattr(enc, "alu_rr", lambda op, d, s, *, bits: alu_rr(
        op, d, s, bits=32 if op == enc.Alu.ADD else bits))


def _mutate_arm32_rsh_by_zero(monkeypatch):
    """ARM32: a 64-bit RSH/ARSH by 0 shifts by 32 (`lsr #0` encodes `lsr #32`), the kernel
    JIT's old bug: the lowering stops folding the no-op shift and the emitter uses the
    shift sequence with n = 0."""
    from backends.arm32 import emit as arm_emit
    from backends.arm32.enc import Shift
    from backends.arm32.pairs import E
    from jit import lower
    from jit.lir import Op
    monkeypatch.delitem(lower._NOOP_IMM64, Op.RSH)
    monkeypatch.delitem(lower._NOOP_IMM64, Op.ARSH)
    original = arm_emit.Emitter.alu64_imm

    def alu64_imm(self, o, d, value, lo_live, hi_live):
        if o in (Op.RSH, Op.ARSH) and value & 63 == 0:
            D = self.dst_pair(d, True)
            right = E.asr_imm if o == Op.ARSH else E.lsr_imm
            self.w(E.lsr_imm(D.lo, D.lo, 32),                 # "lsr #0": lo = 0
                   E.orr_reg(D.lo, D.lo, D.hi, Shift.LSL, 0),  # lo |= hi << (32 - 0) -> hi
                   right(D.hi, D.hi, 32))                      # "lsr #0": hi = 0 (or sign)
            self.commit(d, D)
            return
        return original(self, o, d, value, lo_live, hi_live)
    monkeypatch.setattr(arm_emit.Emitter, "alu64_imm", alu64_imm)


def _mutate_mips_sll_for_dsll(monkeypatch):
    """MIPS64: `dsll` (64-bit shift left) encoded as `sll` (32-bit, sign-extending)."""
    from backends.mips64 import enc
    monkeypatch.setattr(enc, "dsll", enc.sll)


MUTATIONS = {
    "x86_64-jcc-condition": ("x86_64", _mutate_x86_jcc),
    "x86_64-add-without-rex-w": ("x86_64", _mutate_x86_add_rex_w),
    "arm32-rsh-by-0-is-lsr-32": ("arm32", _mutate_arm32_rsh_by_zero),
    "mips64-sll-for-dsll": ("mips64", _mutate_mips_sll_for_dsll),
    "mips64el-sll-for-dsll": ("mips64el", _mutate_mips_sll_for_dsll),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_broken_encoder_is_caught(mutation, monkeypatch):
    arch, mutate = MUTATIONS[mutation]
    target(arch)
    # (the unmutated backend passes this battery: the sweeps above and
    # test_generated_programs_agree run the same programs)
    try:
        mutate(monkeypatch)
    except (AttributeError, ImportError, KeyError) as e:
        pytest.skip(f"the backend's internals changed, cannot apply {mutation}: {e}")
    what = _caught(arch)
    assert what is not None, f"{mutation} was not caught by the differential checks"
