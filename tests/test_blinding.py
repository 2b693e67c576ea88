"""Constant blinding (`harden=True`, `--harden`): no program constant in the machine code,
and nothing else changes.

What counts as a constant of the program -- the immediates an attacker who
writes the program chooses and the kernel's bpf_jit_blind_constants rewrites:
ALU and ALU64 immediates (K forms), conditional jump immediates, ST immediates,
both 32-bit halves of an LDDW constant (src=0), and the packet offsets of the
legacy LD_ABS/LD_IND loads (the kernel blinds those too: issue #20 found them
in every backend's hardened image).  Not scanned: helper ids
and call offsets, byte-swap widths, atomic operation codes, LDDW map/function
references (addresses the loader chooses) -- the kernel does not blind those
either.

Where a constant could show up in the image:
- as its 4 bytes in either byte order (x86-64 imm32 fields, literal pools,
  a constant byte-swapped by the code that uses it): every arch is scanned for
  both;
- split into 16-bit halves (ARM32 movw/movt, MIPS lui/ori): the image is
  disassembled with capstone and a constant counts as found when its upper and
  lower halves are immediate operands of two instructions at most WINDOW apart.

Threshold: a constant is scanned only if at least three of its four bytes are
neither 0x00 nor 0xff.  Lower-entropy values occur naturally in any code: the
first runs of this test "found" 0x340 and 0x9f8 on x86-64 (stack and jump
displacements), 0x10000 and 0x10001 on ARM32, 0x4000_0000 on MIPS (lui 0x4000
next to one of the many zero immediates) in programs that never used them
unblinded.  The split-halves scan also needs neither half to be 0x0000 or
0xffff.  With random blinding values a chance match then needs a specific
pattern of three or more chosen bytes (or two 16-bit halves within a few
instructions), so the scan does not flake.  A control test proves the scan
finds the constants in *unhardened* images on every backend.

And the results are unchanged: every fixture on its packet set, and generated
programs, agree with the interpreter on every backend with --harden.
"""
from __future__ import annotations

import glob
import os

import pytest

import backends

from jit import driver, isa
from jit.errors import BpfjitError
from jit.program import Object
from tests.loader_fuzz import covered_arches

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sorted(glob.glob(os.path.join(HERE, "progs", "build", "*.o")))
WINDOW = 8                       # instructions between the two halves of a split constant
# targets whose code builds a constant from 16-bit halves (movw/movt, lui/ori ...)
SPLIT_ARCHES = tuple(t.name for t in backends.targets() if t.insn_align == 4)


def program_constants(prog) -> set[int]:
    """The program's blindable 32-bit constants (as u32), minus the trivial ones."""
    out = set()
    for insn in prog.insns:
        op, cls = insn.opcode, insn.opcode & 7
        vals = []
        if cls in (isa.Cls.ALU, isa.Cls.ALU64) and not op & 0x08 and \
                op & 0xF0 not in (isa.Alu.END, isa.Alu.NEG):
            vals.append(insn.imm)
        elif cls in (isa.Cls.JMP, isa.Cls.JMP32) and not op & 0x08 and \
                op & 0xF0 not in (isa.Jmp.JA, isa.Jmp.CALL, isa.Jmp.EXIT):
            vals.append(insn.imm)
        elif cls == isa.Cls.ST:
            vals.append(insn.imm)
        elif op == isa.LDDW and insn.src == 0:
            vals += [insn.imm & 0xFFFFFFFF, insn.imm >> 32]
        elif cls == isa.Cls.LD and op & 0xE0 in (isa.Mode.ABS, isa.Mode.IND):
            vals.append(insn.imm)                            # the packet offset
        for v in vals:
            v &= 0xFFFFFFFF
            if sum(b not in (0x00, 0xFF) for b in v.to_bytes(4, "little")) >= 3:
                out.add(v)
    return out


def _imm16s(image) -> list[int]:
    """Per instruction: the 16-bit immediates it carries (capstone, detail mode)."""
    from capstone import CS_OP_IMM, Cs
    spec = image.backend.run
    cs = Cs(spec.cs_arch, spec.cs_mode)
    cs.detail = True
    cs.skipdata = True
    out = []
    for ins in cs.disasm(image.code, image.base):
        try:
            ops = ins.operands
        except Exception:        # noqa: BLE001 - data words have no operands
            ops = []
        out.append({op.imm & 0xFFFF for op in ops if op.type == CS_OP_IMM})
    return out


M32, M64 = 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return (v - (1 << bits) if v >> (bits - 1) else v) & M64


def _riscv_values(image) -> set[int]:
    """RISC-V builds a constant in a register (lui + addiw; a 64-bit one as a chain of
    addi and slli): every 32-bit half of every value such a chain leaves in a register,
    found by following lui/li/addi(w)/slli through the code (capstone, detail mode).
    Register-register operations end the chain, so a blinded constant (v ^ r, then
    xor with r) is never seen whole."""
    from capstone import CS_OP_IMM, CS_OP_REG, Cs
    spec = image.backend.run
    cs = Cs(spec.cs_arch, spec.cs_mode)
    cs.detail = True
    val: dict[int, int] = {}
    seen: set[int] = set()
    for ins in cs.disasm(image.code, image.base):
        m = ins.mnemonic.removeprefix("c.")
        ops = ins.operands
        regs = [op.reg for op in ops if op.type == CS_OP_REG]
        imms = [op.imm for op in ops if op.type == CS_OP_IMM]
        if not regs:
            continue
        rd, new = regs[0], None
        src = val.get(regs[1] if len(regs) > 1 else rd)
        if m == "lui" and imms:
            new = _sext(imms[0] << 12, 32)
        elif m == "li" and imms:
            new = imms[0] & M64
        elif m in ("addi", "addiw") and imms and src is not None:
            new = (src + imms[0]) & M64
            if m == "addiw":
                new = _sext(new, 32)
        elif m == "slli" and imms and src is not None:
            new = (src << imms[0]) & M64
        if new is None:
            val.pop(rd, None)
        else:
            val[rd] = new
            seen |= {new & M32, new >> 32}
    return seen


def found(image, consts: set[int]) -> set[int]:
    """The constants that appear in the image (bytes in either order, split in 16-bit
    halves, or built in a register by a RISC-V lui/addi/slli chain)."""
    code = bytes(image.code)
    hits = {v for v in consts
            if v.to_bytes(4, "little") in code or v.to_bytes(4, "big") in code}
    if image.arch.startswith("riscv"):
        hits |= consts & _riscv_values(image)
    if image.arch in SPLIT_ARCHES:
        imms = _imm16s(image)
        where: dict[int, list[int]] = {}
        for i, s in enumerate(imms):
            for v in s:
                where.setdefault(v, []).append(i)
        for v in consts - hits:
            hi, lo = v >> 16, v & 0xFFFF
            if hi in (0, 0xFFFF) or lo in (0, 0xFFFF) or hi not in where or lo not in where:
                continue
            if any(abs(a - b) <= WINDOW for a in where[hi] for b in where[lo] if a != b):
                hits.add(v)
    return hits


def _compile(prog, arch, harden):
    # no_range_facts: value ranges would fold the known program's constant compares
    # away, and the control below must see every constant in the plain image
    return driver.compile_program(prog, arch, harden=harden, seed=12345,
                                  options={"no_range_facts": True})


def _fixture_programs():
    out = []
    for path in FIXTURES:
        obj, _ = driver.load(path)
        out += [(path, obj, p) for p in obj.programs]
    return out


# --------------------------------------------------------------------- the scan works

def _known_constants(order: str):
    """A raw program with one constant of every kind, each a distinct random-looking value."""
    from tests.test_faults import lddw, slot
    s = lambda *a: slot(*a, order=order)                     # noqa: E731
    code = b"".join([
        s(0xB7, 0, 0, 0, 0x12345678),                        # r0 = imm
        s(0x07, 0, 0, 0, 0x2468ACE0),                        # r0 += imm
        s(0x04, 0, 0, 0, 0x13579BDF),                        # w0 += imm
        s(0xA7, 0, 0, 0, 0x0F1E2D3C),                        # r0 ^= imm
        s(0x55, 0, 0, 1, 0x1337BEEF),                        # if r0 != imm goto +1
        s(0x07, 0, 0, 0, 0x600DCAFE),                        # r0 += imm
        s(0x7A, 10, 0, -8, 0x5EED1234),                      # *(u64 *)(r10 - 8) = imm
        lddw(1, 0, 0x0C0FFEE0_0BADF00D, order),              # r1 = imm64
        s(0x0F, 0, 1),                                       # r0 += r1
        s(0xBF, 7, 0),                                       # r7 = r0
        s(0xBF, 6, 1),                                       # r6 = r1 (the context)
        s(0x20, 0, 0, 0, 0x0A1B2C3D),                        # r0 = ntohl(pkt[imm])  LD_ABS
        s(0x48, 0, 7, 0, 0x1A2B3C4D),                        # r0 = ntohs(pkt[r7 + imm])  LD_IND
        s(0x95),
    ])
    from jit.program import from_bytecode
    return from_bytecode(code, byteorder=order)


def test_scan_finds_constants_in_unhardened_images():
    """The control: without blinding, every constant of the known program is found."""
    import backends
    for arch in covered_arches():
        prog = _known_constants(backends.TARGET_ORDER[arch])
        consts = program_constants(prog)
        assert len(consts) == 11, sorted(hex(c) for c in consts)
        plain = found(_compile(prog, arch, harden=False), consts)
        assert plain == consts, f"{arch}: scan missed {sorted(hex(c) for c in consts - plain)}"


def test_known_constants_blinded():
    import backends
    for arch in covered_arches():
        prog = _known_constants(backends.TARGET_ORDER[arch])
        leaks = found(_compile(prog, arch, harden=True), program_constants(prog))
        assert not leaks, f"{arch}: {sorted(hex(c) for c in leaks)} in the hardened image"


# --------------------------------------------------------------------- fixtures, generated programs

@pytest.mark.skipif(not FIXTURES, reason="fixture objects not built")
def test_no_constant_of_any_fixture_in_its_hardened_image():
    leaks, scanned, images, distinct = [], 0, 0, set()
    for path, obj, prog in _fixture_programs():
        consts = program_constants(prog)
        distinct |= consts
        for arch in covered_arches(prog.byteorder):
            image = _compile(prog, arch, harden=True)
            images += 1
            scanned += len(consts)
            hit = found(image, consts)
            if hit:
                leaks.append(f"{os.path.basename(path)} {prog.name} {arch}: "
                             f"{sorted(hex(v) for v in hit)}")
    assert images > 100 and scanned > 20 and len(distinct) >= 5, (images, scanned, distinct)
    assert not leaks, "\n".join(leaks)


def _generated(n: int, order: str):
    from jit.testing import gen
    cfg = gen.GenConfig(byteorder=order)
    return [gen.generate(seed, cfg) for seed in range(1000, 1000 + n)]


@pytest.mark.parametrize("arch", backends.names())
def test_generated_programs_hardened(arch):
    """20 generated programs per backend: no constant in the hardened image, and the
    hardened code agrees with the interpreter."""
    if arch not in covered_arches():
        pytest.skip(f"{arch} backend not there yet")
    import backends
    from jit.testing import fuzz
    problems = []
    for case in _generated(20, backends.TARGET_ORDER[arch]):
        for prog in case.programs:
            leaks = found(_compile(prog, arch, harden=True), program_constants(prog))
            if leaks:
                problems.append(f"seed {case.seed} {prog.name}: {sorted(hex(v) for v in leaks)}")
        div = fuzz.diff_case(case, arch, harden=True)
        if div is not None:
            problems.append(f"seed {case.seed}: {div.what}: interpreter {div.expected!r}, "
                            f"{arch} {div.got!r} (pc {div.pc})")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------- results unchanged

def _packets() -> dict[str, bytes]:
    try:
        from tests.test_fixtures import PACKETS
        return PACKETS
    except ImportError:
        return {"zeros": bytes(64)}


FIXTURE_IDS = [os.path.basename(p) for p in FIXTURES]


@pytest.mark.skipif(not FIXTURES, reason="fixture objects not built")
@pytest.mark.parametrize("path", FIXTURES, ids=FIXTURE_IDS)
def test_fixture_results_unchanged_with_harden(path):
    """Every program of the fixture on every packet of the fixture packet set: the
    interpreter and every backend with --harden agree."""
    obj, _ = driver.load(path)
    problems = []
    for prog in obj.programs:
        arches = covered_arches(prog.byteorder)
        for name, packet in _packets().items():
            inputs = driver.Inputs(packet=packet)
            try:
                driver.prepare(obj, prog, inputs)
            except BpfjitError:
                continue             # not a packet this program type takes (a short skb)
            try:
                ref, divs = driver.diff(obj, prog, arches, inputs, harden=True)
            except Exception as e:   # noqa: BLE001 - reported with the case
                problems.append(f"{prog.name} {name}: {type(e).__name__}: {e}")
                continue
            problems += [f"{prog.name} {name} {d.arch}: {d.what}: interpreter {d.expected!r}, "
                         f"got {d.got!r} (pc {d.pc})" for d in divs]
    assert not problems, "\n".join(problems[:20])


# --------------------------------------------------------------------- masks: fresh, reproducible

def test_masks_fresh_per_compile_and_seed_reproduces():
    """Issue #20: the masks were seeded with 0, so every hardened image was the same and
    the first mask always one value.  Now each compile draws a fresh seed (Image.seed),
    and passing it back reproduces the image byte for byte."""
    prog = _known_constants("little")
    a = driver.compile_program(prog, "x86_64", harden=True)
    b = driver.compile_program(prog, "x86_64", harden=True)
    assert a.seed is not None and a.seed != b.seed and a.code != b.code
    again = driver.compile_program(prog, "x86_64", harden=True, seed=a.seed)
    assert again.code == a.code
    assert driver.compile_program(prog, "x86_64").seed is None


def test_cli_seed_reproduces_a_hardened_image(tmp_path, capsys):
    from jit import cli
    obj = os.path.join(HERE, "..", "examples", "xdp_firewall.o")
    outs = []
    for i, extra in enumerate([[], ["--seed", "77"], ["--seed", "77"]]):
        out = tmp_path / f"{i}.bin"
        assert cli.main(["compile", obj, "--harden", "--format", "bin", "-o", str(out)]
                        + extra) == 0
        outs.append(out.read_bytes())
    assert outs[1] == outs[2] and outs[0] != outs[1]
    assert cli.main(["compile", obj, "--harden", "--seed", "77"]) == 0
    assert capsys.readouterr().out.startswith("; constants blinded: --harden --seed 77 ")
    assert cli.main(["compile", obj, "--seed", "77"]) == 2       # --seed without --harden
