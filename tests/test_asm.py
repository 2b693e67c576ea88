"""jit.asm against LLVM 19: disassembly text, listing layout, assembly, round trips.

The oracle is llvm-objdump-19 -d --mcpu=v4 (LLVM 14 printed decimal immediates;
we follow 19).  tests/asm/build.sh assembled all_ops.s (every opcode, written by
hand in LLVM syntax) and random.{el,eb}.s (seeded random valid encodings) with
llvm-mc-19 for bpfel and bpfeb and committed the objects with llvm-objdump's
output beside them, so these tests need no LLVM; when LLVM is installed they
also check that the committed files are what it prints today.

Expected encodings in the hand-written tests are worked out from RFC 9669's
opcode tables, not by calling the code under test.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jit.asm import assemble, assemble_conformance, disasm, is_lossy, listing
from jit.errors import AsmError, IsaError
from jit.isa import Insn, all_opcodes, check, decode, encode

ASM_DIR = Path(__file__).parent / "asm"
ORDERS = {"el": "little", "eb": "big"}
CORPORA = [(name, tag) for name in ("all_ops", "random") for tag in ORDERS]
CORPUS_IDS = [f"{name}.{tag}" for name, tag in CORPORA]

OBJDUMP = "llvm-objdump-19"
LLVM_MC = "llvm-mc-19"

_INSN_LINE = re.compile(r" *\d+:\t")
_TARGET_NOTE = re.compile(r" <[^<>]*>$")       # `<LBB0_3>` / `<.text+0x30>` after a branch


def objdump_lines(text: str) -> list[str]:
    """llvm-objdump's instruction lines, without the symbolic note after branch targets."""
    return [_TARGET_NOTE.sub("", line) for line in text.splitlines() if _INSN_LINE.match(line)]


def insn_text(line: str) -> str:
    """The instruction column: everything after the address and the bytes."""
    return line.split("\t", 2)[2]


def text_section(path: Path) -> bytes:
    with path.open("rb") as f:
        return ELFFile(f).get_section_by_name(".text").data()


@cache
def corpus(name: str, tag: str) -> tuple[list[Insn], list[str]]:
    """(decoded instructions, llvm-objdump lines) of one committed object."""
    insns = decode(text_section(ASM_DIR / f"{name}.{tag}.o"), ORDERS[tag])
    lines = objdump_lines((ASM_DIR / f"{name}.{tag}.objdump").read_text())
    assert len(insns) == len(lines), f"{name}.{tag}: {len(insns)} insns, {len(lines)} lines"
    return insns, lines


# --------------------------------------------------------------------- the committed oracle

def test_all_ops_covers_every_opcode():
    insns, _ = corpus("all_ops", "el")
    assert set(all_opcodes()) <= {i.opcode for i in insns}


@pytest.mark.parametrize("name,tag", CORPORA, ids=CORPUS_IDS)
def test_disasm_matches_llvm_objdump(name, tag):
    insns, lines = corpus(name, tag)
    mismatches = [(i, disasm(i), insn_text(line)) for i, line in zip(insns, lines)
                  if disasm(i) != insn_text(line)]
    assert mismatches == []


@pytest.mark.parametrize("name,tag", CORPORA, ids=CORPUS_IDS)
def test_listing_matches_llvm_objdump_layout(name, tag):
    """Address column, both slots' bytes on an LDDW's one line, slot numbering, tabs."""
    insns, lines = corpus(name, tag)
    assert listing(insns, ORDERS[tag]).splitlines() == lines


@pytest.mark.parametrize("name", ["all_ops", "random"])
def test_bpfel_and_bpfeb_decode_to_the_same_instructions(name):
    assert corpus(name, "el")[0] == corpus(name, "eb")[0]


@pytest.mark.parametrize("tag", list(ORDERS))
def test_assemble_agrees_with_llvm_mc(tag):
    """Our assembler and llvm-mc read the same all_ops.s to the same instructions."""
    assert assemble((ASM_DIR / "all_ops.s").read_text()) == corpus("all_ops", tag)[0]


@pytest.mark.parametrize("name,tag", CORPORA, ids=CORPUS_IDS)
def test_llvm_text_assembles_back(name, tag):
    """assemble(llvm's text) is the instruction, except where llvm's text drops a field;
    then it is an instruction llvm prints the same way."""
    insns, lines = corpus(name, tag)
    for insn, line in zip(insns, lines):
        text = insn_text(line)
        back = assemble(text)
        if not is_lossy(insn):
            assert back == [insn], text
        assert disasm(back[0]) == text


@pytest.mark.parametrize("name,tag", CORPORA, ids=CORPUS_IDS)
def test_objects_reencode_byte_for_byte(name, tag):
    insns, _ = corpus(name, tag)
    assert encode(insns, ORDERS[tag]) == text_section(ASM_DIR / f"{name}.{tag}.o")


def test_lossy_instructions_are_exactly_the_three_known_forms():
    """Pin what llvm-objdump cannot show, so a change in LLVM or in is_lossy is noticed."""
    seen = {"local/kfunc call": 0, "ld_pseudo high word": 0, "ld_ind imm": 0}
    for name, tag in CORPORA:
        for insn in corpus(name, tag)[0]:
            if not is_lossy(insn):
                continue
            if insn.opcode == 0x85:
                assert insn.src in (1, 2)
                seen["local/kfunc call"] += 1
            elif insn.opcode == 0x18:
                assert insn.src != 0 and insn.imm >> 32
                seen["ld_pseudo high word"] += 1
            else:
                assert insn.opcode in (0x40, 0x48, 0x50) and insn.imm != 0
                seen["ld_ind imm"] += 1
    assert all(seen.values()), seen


# --------------------------------------------------------------------- live LLVM (optional)

needs_objdump = pytest.mark.skipif(shutil.which(OBJDUMP) is None, reason=f"{OBJDUMP} not installed")
needs_mc = pytest.mark.skipif(shutil.which(LLVM_MC) is None, reason=f"{LLVM_MC} not installed")


@needs_objdump
@pytest.mark.parametrize("name,tag", CORPORA, ids=CORPUS_IDS)
def test_committed_objdump_is_what_llvm_prints_today(name, tag):
    out = subprocess.run([OBJDUMP, "-d", "--mcpu=v4", f"{name}.{tag}.o"], cwd=ASM_DIR,
                         capture_output=True, text=True, check=True).stdout
    assert out == (ASM_DIR / f"{name}.{tag}.objdump").read_text()


@needs_objdump
def test_listing_without_bytes_matches_no_show_raw_insn():
    out = subprocess.run([OBJDUMP, "-d", "--mcpu=v4", "--no-show-raw-insn", "all_ops.eb.o"],
                         cwd=ASM_DIR, capture_output=True, text=True, check=True).stdout
    insns, _ = corpus("all_ops", "eb")
    assert listing(insns, "big", show_bytes=False).splitlines() == objdump_lines(out)


@needs_mc
@pytest.mark.parametrize("tag", list(ORDERS))
def test_committed_all_ops_object_is_what_llvm_mc_builds(tag, tmp_path):
    obj = tmp_path / "all_ops.o"
    subprocess.run([LLVM_MC, "-triple", f"bpf{tag}", "-mattr=+alu32", "-filetype=obj",
                    str(ASM_DIR / "all_ops.s"), "-o", str(obj)], check=True)
    assert text_section(obj) == text_section(ASM_DIR / f"all_ops.{tag}.o")


# --------------------------------------------------------------------- round trips (hypothesis)

_OPCODES = all_opcodes()
_IMM_EDGES = [0, 1, -1, 16, 32, 64, 0x7FFFFFFF, -0x80000000, 0x01, 0x40, 0x41, 0x50, 0x51,
              0xA0, 0xA1, 0xE1, 0xF1]
_OFF_EDGES = [0, 1, -1, 8, 16, 32, 0x7FFF, -0x8000]
# Zeroing fields in these orders turns most random draws into a valid instruction.
_REPAIRS = [(), ("src",), ("off",), ("imm",), ("src", "off"), ("off", "imm"), ("dst", "off"),
            ("dst", "src", "off"), ("src", "off", "imm"), ("dst", "src", "off", "imm")]


@st.composite
def valid_insns(draw) -> Insn:
    op = draw(st.sampled_from(_OPCODES))
    dst = draw(st.integers(0, 10))
    src = draw(st.one_of(st.integers(0, 10), st.integers(0, 6)))
    off = draw(st.one_of(st.sampled_from(_OFF_EDGES), st.integers(-0x8000, 0x7FFF)))
    if op == 0x18:
        imm = draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1)))
    else:
        imm = draw(st.one_of(st.sampled_from(_IMM_EDGES), st.integers(-2**31, 2**31 - 1)))
    raw = Insn(op, dst, src, off, imm)
    for fields in _REPAIRS:
        cand = raw._replace(**{f: 0 for f in fields})
        try:
            check(cand)
        except IsaError:
            continue
        return cand
    assume(False)


_SETTINGS = settings(max_examples=400, deadline=None,
                     suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@_SETTINGS
@given(valid_insns())
def test_lossless_text_round_trips(insn):
    assert assemble(disasm(insn, lossless=True)) == [insn]


@_SETTINGS
@given(valid_insns())
def test_llvm_text_round_trips_where_llvm_is_lossless(insn):
    text = disasm(insn)
    back = assemble(text)
    if is_lossy(insn):
        assert disasm(back[0]) == text and back != [insn]
    else:
        assert back == [insn]


@_SETTINGS
@given(valid_insns())
def test_lossless_text_differs_from_llvm_only_when_lossy(insn):
    assert (disasm(insn, lossless=True) != disasm(insn)) == is_lossy(insn)


@_SETTINGS
@given(valid_insns(), st.sampled_from(["little", "big"]))
def test_encode_decode_round_trip(insn, order):
    assert decode(encode([insn], order), order) == [insn]


def test_every_opcode_round_trips_with_probe_operands():
    """A deterministic sweep beside hypothesis: every opcode, several valid operand sets."""
    count = 0
    for op in _OPCODES:
        for dst in (0, 1, 10):
            for src in (0, 1, 2, 10):
                for off in (0, 1, -1, 8, 16, 32):
                    for imm in (0, 1, -1, 16, 64, 0x41, 0xE1, 0xF1):
                        # an LDDW's imm is unsigned 64-bit, as decode gives it
                        insn = Insn(op, dst, src, off, imm & (2**64 - 1) if op == 0x18 else imm)
                        try:
                            check(insn)
                        except IsaError:
                            continue
                        count += 1
                        assert assemble(disasm(insn, lossless=True)) == [insn]
                        for order in ("little", "big"):
                            assert decode(encode([insn], order), order) == [insn]
    assert count > 1000


# --------------------------------------------------------------------- disasm by hand

@pytest.mark.parametrize("insn,text", [
    (Insn(0xB7, 1, 0, 0, 5), "r1 = 0x5"),
    (Insn(0x61, 1, 1, 4, 0), "w1 = *(u32 *)(r1 + 0x4)"),
    (Insn(0x79, 2, 10, -8, 0), "r2 = *(u64 *)(r10 - 0x8)"),
    (Insn(0x2E, 3, 2, 10, 0), "if w3 > w2 goto +0xa"),
    (Insn(0x18, 1, 0, 0, 0x1234), "r1 = 0x1234 ll"),
    (Insn(0x18, 1, 0, 0, 2**64 - 1), "r1 = -0x1 ll"),
    (Insn(0x85, 0, 0, 0, 1), "call 0x1"),
    (Insn(0xDB, 1, 2, 8, 0x00), "lock *(u64 *)(r1 + 0x8) += r2"),
    (Insn(0xDB, 1, 0, 0, 0x01), "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)"),
    (Insn(0xC3, 1, 2, -4, 0xE1), "w2 = xchg32_32(r1 - 0x4, w2)"),
    (Insn(0xDB, 1, 2, 0, 0xF1), "r0 = cmpxchg_64(r1 + 0x0, r0, r2)"),
    (Insn(0xDC, 1, 0, 0, 16), "r1 = be16 r1"),
    (Insn(0xD4, 1, 0, 0, 32), "r1 = le32 r1"),
    (Insn(0xD7, 1, 0, 0, 64), "r1 = bswap64 r1"),
    (Insn(0xBF, 1, 2, 8, 0), "r1 = (s8)r2"),
    (Insn(0xBC, 1, 2, 16, 0), "w1 = (s16)w2"),
    (Insn(0x3F, 1, 2, 1, 0), "r1 s/= r2"),
    (Insn(0x94, 1, 0, 1, -7), "w1 s%= -0x7"),
    (Insn(0x87, 4, 0, 0, 0), "r4 = -r4"),
    (Insn(0x30, 0, 0, 0, 1), "r0 = *(u8 *)skb[0x1]"),
    (Insn(0x48, 0, 3, 0, 0), "r0 = *(u16 *)skb[r3]"),
    (Insn(0x06, 0, 0, 0, 0x12345), "gotol +0x12345"),
    (Insn(0x05, 0, 0, -1, 0), "goto -0x1"),
    (Insn(0x81, 1, 2, -2, 0), "r1 = *(s32 *)(r2 - 0x2)"),
    (Insn(0x7A, 10, 0, -8, -0x80000000), "*(u64 *)(r10 - 0x8) = -0x80000000"),
    (Insn(0x73, 1, 2, 0, 0), "*(u8 *)(r1 + 0x0) = w2"),
    (Insn(0x18, 1, 2, 0, 0x10), "ld_pseudo\tr1, 0x2, 0x10"),
    (Insn(0x95), "exit"),
])
def test_disasm_examples(insn, text):
    assert disasm(insn) == text


# llvm-objdump-19 without --mcpu (or v1/v2): no alu32, so its decoder uses the
# 64-bit register forms for narrow loads, stores and atomics (tests/asm/*.o and
# tests/test_disasm_objdump.py check this against llvm itself).
@pytest.mark.parametrize("insn,text", [
    (Insn(0x61, 1, 1, 4, 0), "r1 = *(u32 *)(r1 + 0x4)"),
    (Insn(0x71, 0, 4, -1, 0), "r0 = *(u8 *)(r4 - 0x1)"),
    (Insn(0x73, 1, 2, 0, 0), "*(u8 *)(r1 + 0x0) = r2"),
    (Insn(0x6B, 10, 3, -2, 0), "*(u16 *)(r10 - 0x2) = r3"),
    (Insn(0xC3, 1, 2, 8, 0x00), "lock *(u32 *)(r1 + 0x8) += r2"),
    (Insn(0xC3, 1, 2, 8, 0x01), "lock *(u32 *)(r1 + 0x8) += r2"),   # FETCH bit not decoded
    (Insn(0xC3, 1, 2, 8, 0x40), "<unknown>"),
    (Insn(0xC3, 1, 2, 0, 0xE1), "<unknown>"),
    (Insn(0xC3, 1, 2, 0, 0xF1), "<unknown>"),
    # unchanged: 64-bit accesses, sign-extending loads, ALU32 and JMP32
    (Insn(0x79, 2, 10, -8, 0), "r2 = *(u64 *)(r10 - 0x8)"),
    (Insn(0x81, 1, 2, -2, 0), "r1 = *(s32 *)(r2 - 0x2)"),
    (Insn(0xDB, 1, 0, 0, 0x01), "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)"),
    (Insn(0xBC, 1, 2, 16, 0), "w1 = (s16)w2"),
    (Insn(0x2E, 3, 2, 10, 0), "if w3 > w2 goto +0xa"),
])
def test_disasm_without_alu32_as_llvms_default_cpu(insn, text):
    assert disasm(insn, alu32=False) == text


@pytest.mark.parametrize("insn,llvm,lossless", [
    (Insn(0x85, 0, 1, 0, 21), "call 0x15", "call pc+0x15"),
    (Insn(0x85, 0, 1, 0, -3), "call -0x3", "call pc-0x3"),
    (Insn(0x85, 0, 2, 0, 0x55), "call 0x55", "call kfunc 0x55"),
    (Insn(0x18, 1, 2, 0, 0x5_0000_0010), "ld_pseudo\tr1, 0x2, 0x10",
     "ld_pseudo\tr1, 0x2, 0x500000010"),
    (Insn(0x40, 0, 3, 0, -4), "r0 = *(u32 *)skb[r3]", "r0 = *(u32 *)skb[r3 - 0x4]"),
    (Insn(0x50, 0, 1, 0, 7), "r0 = *(u8 *)skb[r1]", "r0 = *(u8 *)skb[r1 + 0x7]"),
])
def test_lossless_spellings(insn, llvm, lossless):
    assert is_lossy(insn)
    assert disasm(insn) == llvm
    assert disasm(insn, lossless=True) == lossless
    assert assemble(lossless) == [insn]


def test_disasm_rejects_an_invalid_instruction():
    with pytest.raises(IsaError):
        disasm(Insn(0x07, 1, 3, 0, 5))      # ALU64 ADD K with a source register


def test_listing_layout_by_hand():
    insns = [Insn(0xB7, 1, 0, 0, 5), Insn(0x18, 2, 0, 0, 0x1_2345_6789), Insn(0x95)]
    assert listing(insns) == (
        "       0:\tb7 01 00 00 05 00 00 00\tr1 = 0x5\n"
        "       1:\t18 02 00 00 89 67 45 23 00 00 00 00 01 00 00 00\tr2 = 0x123456789 ll\n"
        "       3:\t95 00 00 00 00 00 00 00\texit\n")
    assert listing(insns, "big", start_pc=100, show_bytes=False) == (
        "     100:\tr1 = 0x5\n"
        "     101:\tr2 = 0x123456789 ll\n"
        "     103:\texit\n")
    assert listing([Insn(0xBF, 1, 2, 8, 0)], "big") == (
        "       0:\tbf 12 00 08 00 00 00 00\tr1 = (s8)r2\n")


# --------------------------------------------------------------------- assemble by hand

def test_assemble_labels_comments_and_number_spellings():
    text = """
        # a comment line
        start:  r0 = 0            ; trailing comment
                r1 = 10           // another
                if r1 == +0x0 goto done
        loop:   r0 += r1
                w1 -= 1
                if w1 != 0 goto loop
                call helper_like  # a local call to a label
                gotol done
        done:   exit
        helper_like:
                r0 = *(u64 *)(r10 + -8)
                exit
    """
    assert assemble(text) == [
        Insn(0xB7, 0, 0, 0, 0),
        Insn(0xB7, 1, 0, 0, 10),
        Insn(0x15, 1, 0, 5, 0),           # 2 -> done (8): 8 - 3
        Insn(0x0F, 0, 1, 0, 0),
        Insn(0x14, 1, 0, 0, 1),
        Insn(0x56, 1, 0, -3, 0),          # 5 -> loop (3): 3 - 6
        Insn(0x85, 0, 1, 0, 2),           # 6 -> helper_like (9): 9 - 7
        Insn(0x06, 0, 0, 0, 0),           # 7 -> done (8)
        Insn(0x95),
        Insn(0x79, 0, 10, -8, 0),
        Insn(0x95),
    ]


def test_assemble_accepts_objdump_target_notes_and_unsigned_imm():
    assert assemble("goto +0x5 <LBB0_3>\nif r1 < r2 goto -0x2 <foo+0x8>\nw1 = 0xffffffff") == [
        Insn(0x05, 0, 0, 5, 0), Insn(0xAD, 1, 2, -2, 0), Insn(0xB4, 1, 0, 0, -1)]


def test_lddw_counts_two_slots_for_labels():
    assert assemble("r1 = 1 ll\ngoto end\nr2 = 2 ll\nend: exit") == [
        Insn(0x18, 1, 0, 0, 1), Insn(0x05, 0, 0, 2, 0), Insn(0x18, 2, 0, 0, 2), Insn(0x95)]


@pytest.mark.parametrize("text,line,words", [
    ("exit\nr1 = = 2", 2, "unrecognised"),
    ("w1 += r2", 1, "mixed"),
    ("exit\n\ngoto +0x8000", 3, "16-bit"),
    ("r1 += 0x100000000", 1, "32 bits"),
    ("r1 = 010", 1, "number"),
    ("goto nowhere", 1, "unknown label"),
    ("a: exit\na: exit", 2, "twice"),
    ("r1 = *(u64 *)(r2 + 0x8000)", 1, "16-bit"),
    ("w1 = *(u64 *)(r2 + 0)", 1, "64-bit load"),
    ("r1 = atomic_fetch_add((u64 *)(r2 + 0), r3)", 1, "operand register"),
    ("r1 = cmpxchg_64(r2 + 0, r1, r3)", 1, "r0"),
    ("w1 = be16 w1", 1, "byte swap"),
    ("r1 = -r2", 1, "same register"),
    ("r1 = (s32)w2", 1, "mixed"),
    ("w1 = (s32)w2", 1, "sign-extension"),       # valid syntax, invalid ALU32 MOVSX width
    (".data", 1, "directive"),
])
def test_assemble_errors_name_the_line(text, line, words):
    with pytest.raises(AsmError) as e:
        assemble(text)
    assert f"line {line}:" in str(e.value) and words in str(e.value)


def test_assemble_without_validation_keeps_an_invalid_encoding():
    with pytest.raises(AsmError):
        assemble("ld_pseudo r1, 9, 0")
    assert assemble("ld_pseudo r1, 9, 0", validate=False) == [Insn(0x18, 1, 9, 0, 0)]


# --------------------------------------------------------------------- bpf_conformance syntax
# Expected opcodes from RFC 9669: class | source | code for ALU/JMP, class | mode | size
# for memory; ALU=0x04 JMP=0x05 JMP32=0x06 ALU64=0x07 LD=0x00 LDX=0x01 ST=0x02 STX=0x03.

@pytest.mark.parametrize("text,insn", [
    ("mov32 %r0, 1", Insn(0x04 | 0x00 | 0xB0, 0, 0, 0, 1)),
    ("mov %r0, %r1", Insn(0x07 | 0x08 | 0xB0, 0, 1, 0, 0)),
    ("mov64 %r0, -1", Insn(0xB7, 0, 0, 0, -1)),
    ("add %r1, 2", Insn(0x07 | 0x00, 1, 0, 0, 2)),
    ("add32 %r1, %r2", Insn(0x04 | 0x08 | 0x00, 1, 2, 0, 0)),
    ("sub %r3, 0x10", Insn(0x17, 3, 0, 0, 16)),
    ("mul32 %r3, 7", Insn(0x24, 3, 0, 0, 7)),
    ("div %r1, %r2", Insn(0x3F, 1, 2, 0, 0)),
    ("sdiv %r1, %r2", Insn(0x3F, 1, 2, 1, 0)),
    ("sdiv32 %r1, -3", Insn(0x34, 1, 0, 1, -3)),
    ("mod %r1, 3", Insn(0x97, 1, 0, 0, 3)),
    ("smod32 %r1, %r9", Insn(0x9C, 1, 9, 1, 0)),
    ("or %r1, 1", Insn(0x47, 1, 0, 0, 1)),
    ("and32 %r1, 1", Insn(0x54, 1, 0, 0, 1)),
    ("lsh %r1, 63", Insn(0x67, 1, 0, 0, 63)),
    ("rsh32 %r1, %r2", Insn(0x7C, 1, 2, 0, 0)),
    ("arsh %r1, 1", Insn(0xC7, 1, 0, 0, 1)),
    ("xor32 %r1, %r1", Insn(0xAC, 1, 1, 0, 0)),
    ("neg %r0", Insn(0x87, 0, 0, 0, 0)),
    ("neg32 %r0", Insn(0x84, 0, 0, 0, 0)),
    ("movsx832 %r0, %r1", Insn(0xBC, 0, 1, 8, 0)),
    ("movsx1632 %r0, %r1", Insn(0xBC, 0, 1, 16, 0)),
    ("movsx864 %r0, %r1", Insn(0xBF, 0, 1, 8, 0)),
    ("movsx1664 %r0, %r1", Insn(0xBF, 0, 1, 16, 0)),
    ("movsx3264 %r0, %r1", Insn(0xBF, 0, 1, 32, 0)),
    ("be16 %r0", Insn(0xDC, 0, 0, 0, 16)),
    ("be64 %r2", Insn(0xDC, 2, 0, 0, 64)),
    ("le32 %r0", Insn(0xD4, 0, 0, 0, 32)),
    ("swap16 %r3", Insn(0xD7, 3, 0, 0, 16)),
    ("bswap64 %r3", Insn(0xD7, 3, 0, 0, 64)),
    ("ldxw %r0, [%r1+4]", Insn(0x61, 0, 1, 4, 0)),
    ("ldxb %r0, [%r1]", Insn(0x71, 0, 1, 0, 0)),
    ("ldxh %r0, [%r1-2]", Insn(0x69, 0, 1, -2, 0)),
    ("ldxdw %r1, [%r10-8]", Insn(0x79, 1, 10, -8, 0)),
    ("ldxsb %r1, [%r2+1]", Insn(0x91, 1, 2, 1, 0)),
    ("ldxsh %r1, [%r2+0x10]", Insn(0x89, 1, 2, 16, 0)),
    ("ldxsw %r1, [%r2-4]", Insn(0x81, 1, 2, -4, 0)),
    ("stb [%r1+2], 0x7f", Insn(0x72, 1, 0, 2, 0x7F)),
    ("sth [%r1], -1", Insn(0x6A, 1, 0, 0, -1)),
    ("stw [%r10-4], 0x44332211", Insn(0x62, 10, 0, -4, 0x44332211)),
    ("stdw [%r10-8], 0x88776655", Insn(0x7A, 10, 0, -8, -0x778899AB)),
    ("stxb [%r1+2], %r3", Insn(0x73, 1, 3, 2, 0)),
    ("stxh [%r1+2], %r3", Insn(0x6B, 1, 3, 2, 0)),
    ("stxw [%r1+2], %r3", Insn(0x63, 1, 3, 2, 0)),
    ("stxdw [%r10-8], %r1", Insn(0x7B, 10, 1, -8, 0)),
    ("lddw %r0, 0x123456789", Insn(0x18, 0, 0, 0, 0x123456789)),
    ("lddw %r1, -1", Insn(0x18, 1, 0, 0, 2**64 - 1)),
    ("jeq %r1, 0x1, +1", Insn(0x15, 1, 0, 1, 1)),
    ("jne %r1, %r2, -3", Insn(0x5D, 1, 2, -3, 0)),
    ("jgt32 %r1, 5, +0", Insn(0x26, 1, 0, 0, 5)),
    ("jsle32 %r1, %r2, +7", Insn(0xDE, 1, 2, 7, 0)),
    ("jset %r1, 0x80000000, +2", Insn(0x45, 1, 0, 2, -0x80000000)),
    ("jslt %r1, -1, +2", Insn(0xC5, 1, 0, 2, -1)),
    ("ja +2", Insn(0x05, 0, 0, 2, 0)),
    ("ja32 -1", Insn(0x06, 0, 0, 0, -1)),
    ("exit", Insn(0x95)),
    ("call 1", Insn(0x85, 0, 0, 0, 1)),
    ("call helper 12", Insn(0x85, 0, 0, 0, 12)),
    ("call local +2", Insn(0x85, 0, 1, 0, 2)),
    ("call runtime 7", Insn(0x85, 0, 2, 0, 7)),
    ("lock add [%r10-8], %r1", Insn(0xDB, 10, 1, -8, 0x00)),
    ("lock xadd [%r10-8], %r1", Insn(0xDB, 10, 1, -8, 0x00)),
    ("lock add32 [%r1], %r2", Insn(0xC3, 1, 2, 0, 0x00)),
    ("lock or [%r1+8], %r2", Insn(0xDB, 1, 2, 8, 0x40)),
    ("lock and32 [%r1], %r2", Insn(0xC3, 1, 2, 0, 0x50)),
    ("lock xor [%r1], %r2", Insn(0xDB, 1, 2, 0, 0xA0)),
    ("lock fetch add [%r10-8], %r1", Insn(0xDB, 10, 1, -8, 0x01)),
    ("lock fetch or32 [%r1], %r2", Insn(0xC3, 1, 2, 0, 0x41)),
    ("lock fetch and [%r1], %r2", Insn(0xDB, 1, 2, 0, 0x51)),
    ("lock fetch xor32 [%r1], %r2", Insn(0xC3, 1, 2, 0, 0xA1)),
    ("lock xchg [%r10-8], %r1", Insn(0xDB, 10, 1, -8, 0xE1)),
    ("lock xchg32 [%r10-8], %r1", Insn(0xC3, 10, 1, -8, 0xE1)),
    ("lock cmpxchg [%r10-8], %r1", Insn(0xDB, 10, 1, -8, 0xF1)),
    ("lock cmpxchg32 [%r10-8], %r1", Insn(0xC3, 10, 1, -8, 0xF1)),
    ("ldabsw 0x10", Insn(0x20, 0, 0, 0, 16)),
    ("ldabsb 1", Insn(0x30, 0, 0, 0, 1)),
    ("ldindh %r3, 2", Insn(0x48, 0, 3, 0, 2)),
])
def test_conformance_single_instructions(text, insn):
    assert assemble_conformance(text) == [insn]


def test_conformance_truncates_immediates_like_the_suite():
    # lock_cmpxchg32.data writes `mov32 %r1, 0x876543210`: the suite's assembler keeps 32 bits.
    assert assemble_conformance("mov32 %r1, 0x876543210") == [Insn(0xB4, 1, 0, 0, 0x76543210)]


def test_conformance_program_with_labels_and_the_implicit_exit_label():
    text = """
# r1 = old value, memory += 1
lddw %r0, 0x1122334455667788
stxdw [%r10-8], %r0
mov %r1, 1
lock fetch add [%r10-8], %r1
jne %r1, %r0, exit
call local func
ja32 done
done:
mov %r0, 0
exit
func:
  mov %r0, 7
  exit
"""
    assert assemble_conformance(text) == [
        Insn(0x18, 0, 0, 0, 0x1122334455667788),
        Insn(0x7B, 10, 0, -8, 0),
        Insn(0xB7, 1, 0, 0, 1),
        Insn(0xDB, 10, 1, -8, 0x01),
        Insn(0x5D, 1, 0, 3, 0),           # slot 5 -> first exit (slot 9): 9 - 6
        Insn(0x85, 0, 1, 0, 3),           # slot 6 -> func (slot 10): 10 - 7
        Insn(0x06, 0, 0, 0, 0),           # slot 7 -> done (slot 8)
        Insn(0xB7, 0, 0, 0, 0),
        Insn(0x95),
        Insn(0xB7, 0, 0, 0, 7),
        Insn(0x95),
    ]


@pytest.mark.parametrize("text,line,words", [
    ("mov %r0, 1\nfrob %r0", 2, "unknown mnemonic"),
    ("mov %r16, 1", 1, "register"),
    ("add %r1", 1, "operand"),
    ("ja nowhere", 1, "unknown label"),
    ("mov %r11, 1", 1, "destination register"),    # parses; RFC 9669 has no r11
    ("call %r2", 1, "unknown opcode"),              # callx: not RFC 9669
    ("ldxsdw %r1, [%r2]", 1, "unknown opcode"),     # no 64-bit sign-extending load
    ("lock fetch xchg [%r1], %r2", 1, "always fetches"),
    ("call sideways 3", 1, "call mode"),
    ("ldxw %r1, %r2", 1, "memory operand"),
])
def test_conformance_errors_name_the_line(text, line, words):
    with pytest.raises(AsmError) as e:
        assemble_conformance(text)
    assert f"line {line}:" in str(e.value) and words in str(e.value)


def test_conformance_negative_tests_assemble_without_validation():
    assert assemble_conformance("mov %r11, 1\ncall %r2", validate=False) == [
        Insn(0xB7, 11, 0, 0, 1), Insn(0x8D, 2, 0, 0, 0)]


def test_conformance_and_llvm_syntax_agree_on_the_same_program():
    conformance = assemble_conformance("""
        mov32 %r0, 0
        ldxh %r2, [%r1+12]
        jne %r2, 0x800, +2
        add32 %r0, 1
        be16 %r0
        lock fetch add32 [%r10-4], %r3
        exit
    """)
    llvm = assemble("""
        w0 = 0
        w2 = *(u16 *)(r1 + 12)
        if r2 != 0x800 goto +2
        w0 += 1
        r0 = be16 r0
        w3 = atomic_fetch_add((u32 *)(r10 - 4), w3)
        exit
    """)
    assert conformance == llvm
