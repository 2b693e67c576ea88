"""Tests for backends/riscv64/enc.py: every encoder against independent oracles.

  1. golden rows frozen from GNU as (instruction, bytes);
  2. a sweep over every register and the immediate limits of every form,
     assembled byte for byte by GNU as (riscv64-linux-gnu-as -march=rv64gc_zba_zbb,
     `.option norvc` for the 32-bit forms so that as does not compress them) and
     by llvm-mc-19, and decoded by capstone (mnemonic, RVC included);
  3. out-of-range operands and registers outside x8-x15 for RVC raise
     EncodingError naming the field.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import capstone
import pytest

from backends.riscv64 import enc as E
from backends.riscv64.enc import Gpr
from jit.errors import EncodingError

REGS = list(Gpr)
CREGS = [r for r in REGS if 8 <= r <= 15]
N = E.name
S12 = (-2048, -2047, -1, 0, 1, 2046, 2047)
S6 = (-32, -31, -1, 1, 30, 31)
SH6 = (0, 1, 31, 32, 63)
SH5 = (0, 1, 15, 31)
MARCH = "rv64gc_zba_zbb"


def _rows() -> list[tuple[int, str]]:
    """(encoding, assembler text) for every form over registers and immediate edges."""
    rows: list[tuple[int, str]] = []
    add = rows.append
    r3 = {"add": E.add, "sub": E.sub, "sll": E.sll, "slt": E.slt, "sltu": E.sltu,
          "xor": E.xor, "srl": E.srl, "sra": E.sra, "or": E.or_, "and": E.and_,
          "addw": E.addw, "subw": E.subw, "sllw": E.sllw, "srlw": E.srlw, "sraw": E.sraw,
          "mul": E.mul, "div": E.div, "divu": E.divu, "rem": E.rem, "remu": E.remu,
          "mulw": E.mulw, "divw": E.divw, "divuw": E.divuw, "remw": E.remw, "remuw": E.remuw,
          "sh1add": E.sh1add, "sh2add": E.sh2add, "sh3add": E.sh3add, "add.uw": E.add_uw,
          "andn": E.andn, "ror": E.ror, "rol": E.rol}
    for i, r in enumerate(REGS):
        a, b = REGS[(i * 7 + 3) % 32], REGS[(i * 13 + 5) % 32]
        for m, fn in r3.items():
            add((fn(r, a, b), f"{m} {N(r)}, {N(a)}, {N(b)}"))
        for m, fn in {"addi": E.addi, "slti": E.slti, "sltiu": E.sltiu, "xori": E.xori,
                      "ori": E.ori, "andi": E.andi, "addiw": E.addiw, "jalr": E.jalr}.items():
            for v in S12:
                add((fn(r, a, v), f"{m} {N(r)}, {N(a)}, {v}"))
        for m, fn in {"slli": E.slli, "srli": E.srli, "srai": E.srai, "rori": E.rori}.items():
            for v in SH6:
                add((fn(r, a, v), f"{m} {N(r)}, {N(a)}, {v}"))
        for m, fn in {"slliw": E.slliw, "srliw": E.srliw, "sraiw": E.sraiw}.items():
            for v in SH5:
                add((fn(r, a, v), f"{m} {N(r)}, {N(a)}, {v}"))
        for m, fn in {"rev8": E.rev8, "sext.b": E.sext_b, "sext.h": E.sext_h,
                      "zext.h": E.zext_h}.items():
            add((fn(r, a), f"{m} {N(r)}, {N(a)}"))
        for v in (0, 1, 0x7FFFF, 0x80000, 0xFFFFF):
            add((E.lui(r, v), f"lui {N(r)}, {v}"))
            add((E.auipc(r, v), f"auipc {N(r)}, {v}"))
        for v in (-(1 << 20), -2, 0, 2, 2046, (1 << 20) - 2):
            add((E.jal(r, v), f"jal {N(r)}, . + {v}"))
        for (size, signed), m in {(1, True): "lb", (2, True): "lh", (4, True): "lw",
                                  (8, True): "ld", (1, False): "lbu", (2, False): "lhu",
                                  (4, False): "lwu"}.items():
            for v in (-2048, -1, 0, 8, 2047):
                add((E.load(size, signed, r, a, v), f"{m} {N(r)}, {v}({N(a)})"))
        for size, m in {1: "sb", 2: "sh", 4: "sw", 8: "sd"}.items():
            for v in (-2048, -1, 0, 8, 2047):
                add((E.store(size, r, a, v), f"{m} {N(r)}, {v}({N(a)})"))
        for f3, m in {E.BEQ: "beq", E.BNE: "bne", E.BLT: "blt", E.BGE: "bge",
                      E.BLTU: "bltu", E.BGEU: "bgeu"}.items():
            for v in (-4096, -2, 0, 2, 4094):
                add((E.branch(f3, r, a, v), f"{m} {N(r)}, {N(a)}, . + {v}"))
        for width, sfx in ((4, "w"), (8, "d")):
            for op in E.AMO:
                add((E.amo(op, width, r, a, b), f"amo{op}.{sfx}.aqrl {N(r)}, {N(a)}, ({N(b)})"))
                add((E.amo(op, width, r, a, b, 0), f"amo{op}.{sfx} {N(r)}, {N(a)}, ({N(b)})"))
            add((E.lr(width, r, a), f"lr.{sfx}.aqrl {N(r)}, ({N(a)})"))
            add((E.sc(width, r, a, b), f"sc.{sfx}.aqrl {N(r)}, {N(a)}, ({N(b)})"))
    return rows


def _crows() -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = []
    add = rows.append
    for r in REGS[1:]:
        for v in S6:
            add((E.c_addi(r, v), f"c.addi {N(r)}, {v}"))
        for v in S6 + (0,):
            add((E.c_addiw(r, v), f"c.addiw {N(r)}, {v}"))
            add((E.c_li(r, v), f"c.li {N(r)}, {v}"))
        if r != Gpr.SP:
            for v in (1, 31, -32, -1):
                add((E.c_lui(r, v), f"c.lui {N(r)}, {v & 0xFFFFF}"))
        for v in (1, 31, 32, 63):
            add((E.c_slli(r, v), f"c.slli {N(r)}, {v}"))
        for s in REGS[1:]:
            if (r + s) % 5 == 0 or s == r:
                add((E.c_mv(r, s), f"c.mv {N(r)}, {N(s)}"))
                add((E.c_add(r, s), f"c.add {N(r)}, {N(s)}"))
        add((E.c_jr(r), f"c.jr {N(r)}"))
        add((E.c_jalr(r), f"c.jalr {N(r)}"))
        for v in (0, 8, 256, 504):
            add((E.c_ldsp(r, v), f"c.ldsp {N(r)}, {v}(sp)"))
    for r in REGS:
        for v in (0, 8, 256, 504):
            add((E.c_sdsp(r, v), f"c.sdsp {N(r)}, {v}(sp)"))
    for r in CREGS:
        for v in (1, 31, 32, 63):
            add((E.c_srli(r, v), f"c.srli {N(r)}, {v}"))
            add((E.c_srai(r, v), f"c.srai {N(r)}, {v}"))
        for v in S6 + (0,):
            add((E.c_andi(r, v), f"c.andi {N(r)}, {v}"))
        for s in CREGS:
            for m, fn in {"c.sub": E.c_sub, "c.xor": E.c_xor, "c.or": E.c_or, "c.and": E.c_and,
                          "c.subw": E.c_subw, "c.addw": E.c_addw}.items():
                add((fn(r, s), f"{m} {N(r)}, {N(s)}"))
            for v in (0, 4, 64, 124):
                add((E.c_lw(r, s, v), f"c.lw {N(r)}, {v}({N(s)})"))
                add((E.c_sw(r, s, v), f"c.sw {N(r)}, {v}({N(s)})"))
            for v in (0, 8, 128, 248):
                add((E.c_ld(r, s, v), f"c.ld {N(r)}, {v}({N(s)})"))
                add((E.c_sd(r, s, v), f"c.sd {N(r)}, {v}({N(s)})"))
        for v in (-256, -2, 0, 2, 254):
            add((E.c_beqz(r, v), f"c.beqz {N(r)}, . + {v}"))
            add((E.c_bnez(r, v), f"c.bnez {N(r)}, . + {v}"))
    for v in (-2048, -1024, -2, 0, 2, 2046):
        add((E.c_j(v), f"c.j . + {v}"))
    for v in (-512, -16, 16, 496):
        add((E.c_addi16sp(v), f"c.addi16sp sp, {v}"))
    add((E.c_nop(), "c.nop"))
    add((E.c_ebreak(), "c.ebreak"))
    return rows


ROWS = _rows()
CROWS = _crows()


def _gnu_as(text: str) -> bytes:
    asm = shutil.which("riscv64-linux-gnu-as")
    objcopy = shutil.which("riscv64-linux-gnu-objcopy")
    if not asm or not objcopy:
        pytest.skip("riscv64-linux-gnu binutils not installed")
    with tempfile.TemporaryDirectory() as d:
        src, obj, out = (os.path.join(d, n) for n in ("t.s", "t.o", "t.bin"))
        with open(src, "w") as f:
            f.write(text)
        subprocess.run([asm, f"-march={MARCH}", "-mabi=lp64", src, "-o", obj], check=True,
                       capture_output=True)
        subprocess.run([objcopy, "-O", "binary", "-j", ".text", obj, out], check=True)
        with open(out, "rb") as f:
            return f.read()


def _llvm_mc(text: str) -> bytes:
    mc = shutil.which("llvm-mc-19")
    if not mc:
        pytest.skip("llvm-mc-19 not installed")
    r = subprocess.run([mc, "-triple", "riscv64", f"-mattr=+m,+a,+c,+zba,+zbb",
                        "-filetype=obj", "-o", "-"], input=text.encode(), capture_output=True,
                       check=True)
    # the .text section of a small object: read it through objcopy
    with tempfile.TemporaryDirectory() as d:
        obj, out = os.path.join(d, "t.o"), os.path.join(d, "t.bin")
        with open(obj, "wb") as f:
            f.write(r.stdout)
        objcopy = shutil.which("riscv64-linux-gnu-objcopy") or shutil.which("llvm-objcopy-19")
        subprocess.run([objcopy, "-O", "binary", "-j", ".text", obj, out], check=True)
        with open(out, "rb") as f:
            return f.read()


def _compare(rows: list[tuple[int, str]], got: bytes) -> None:
    want = E.to_bytes([w for w, _ in rows])
    if got == want:
        return
    at = 0
    for w, text in rows:
        n = 2 if E.is_compressed(w) else 4
        assert got[at:at + n] == want[at:at + n], f"{text}: ours {want[at:at + n].hex()} " \
                                                  f"assembler {got[at:at + n].hex()}"
        at += n
    assert len(got) == len(want)


@pytest.mark.parametrize("rvc", [False, True], ids=["base", "rvc"])
def test_sweep_matches_gnu_as(rvc: bool) -> None:
    rows = CROWS if rvc else ROWS
    text = ".option rvc\n" if rvc else ".option norvc\n"
    _compare(rows, _gnu_as(text + "".join(t + "\n" for _, t in rows)))


@pytest.mark.parametrize("rvc", [False, True], ids=["base", "rvc"])
def test_sweep_matches_llvm_mc(rvc: bool) -> None:
    rows = CROWS if rvc else ROWS
    # llvm-mc spells c.lui's immediate like GNU as and relaxes nothing with these options;
    # `. + n` is an expression it resolves at assembly time, as GNU as does
    text = (".option rvc\n" if rvc else ".option norvc\n") + "".join(t + "\n" for _, t in rows)
    _compare(rows, _llvm_mc(text))


@pytest.mark.parametrize("rvc", [False, True], ids=["base", "rvc"])
def test_capstone_decodes_every_row(rvc: bool) -> None:
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    skip = ("sh1add", "sh2add", "sh3add", "add.uw", "andn", "ror", "rol", "rori", "rev8",
            "sext.b", "sext.h", "zext.h")     # capstone 5 decodes no Zba/Zbb
    for w, text in (CROWS if rvc else ROWS):
        m = text.split()[0]
        if m in skip:
            continue
        data = E.to_bytes([w])
        insns = list(md.disasm(data, 0))
        assert len(insns) == 1 and insns[0].size == len(data), text
        got = insns[0].mnemonic
        base = m.split(".aqrl")[0]
        # capstone prints aliases (mv, li, j, nop, ret, sext.w ...) for some operand choices;
        # a compressed row must decode as compressed, a base row as the same base mnemonic
        if rvc:
            assert got.startswith("c."), (text, got)
        else:
            assert got.split(".aqrl")[0] == base or got in ALIASES.get(base, ()), (text, got)


ALIASES = {"addi": ("mv", "li", "nop"), "jalr": ("jr", "ret", "jalr"), "jal": ("j", "jal"),
           "addiw": ("sext.w",), "sub": ("neg",), "subw": ("negw",), "xori": ("not",),
           "sltiu": ("seqz",), "sltu": ("snez",), "slt": ("sltz", "sgtz"), "beq": ("beqz",),
           "bne": ("bnez",), "blt": ("bltz", "bgtz"), "bge": ("blez", "bgez"),
           "auipc": ("auipc",), "lui": ("lui",), "andi": ("andi",)}


@pytest.mark.parametrize("call", [
    lambda: E.addi(Gpr.A0, Gpr.A0, 2048), lambda: E.addi(Gpr.A0, Gpr.A0, -2049),
    lambda: E.slli(Gpr.A0, Gpr.A0, 64), lambda: E.slliw(Gpr.A0, Gpr.A0, 32),
    lambda: E.lui(Gpr.A0, 1 << 20), lambda: E.jal(Gpr.RA, 1 << 20), lambda: E.jal(0, 3),
    lambda: E.beq(1, 2, 4096), lambda: E.beq(1, 2, 1), lambda: E.c_addi(Gpr.A0, 32),
    lambda: E.c_addi(Gpr.A0, 0), lambda: E.c_srli(Gpr.A6, 1), lambda: E.c_ld(Gpr.A0, Gpr.A1, 4),
    lambda: E.c_ld(Gpr.A0, Gpr.A1, 256), lambda: E.c_beqz(Gpr.A0, 256), lambda: E.c_j(2048),
    lambda: E.c_mv(Gpr.A0, 0), lambda: E.c_sub(Gpr.T0, Gpr.A0), lambda: E.add(32, 0, 0),
    lambda: E.c_addi16sp(8), lambda: E.c_lui(Gpr.SP, 1),
])
def test_out_of_range_raises(call) -> None:
    with pytest.raises(EncodingError):
        call()


def test_golden() -> None:
    # frozen from riscv64-linux-gnu-as -march=rv64gc
    assert E.to_bytes([E.addi(Gpr.A0, Gpr.A0, 1)]).hex() == "13051500"
    assert E.to_bytes([E.c_addi(Gpr.A0, 1)]).hex() == "0505"
    assert E.to_bytes([E.c_add(Gpr.A0, Gpr.A1)]).hex() == "2e95"
    assert E.to_bytes([E.sh1add(Gpr.A0, Gpr.A0, Gpr.A1)]).hex() == "3325b520"
    assert E.to_bytes([E.rev8(Gpr.A1, Gpr.A0)]).hex() == "9355856b"
    assert E.to_bytes([E.rori(Gpr.A2, Gpr.A0, 3)]).hex() == "13563560"
    assert E.to_bytes([E.zext_h(Gpr.A4, Gpr.A0)]).hex() == "3b470508"
