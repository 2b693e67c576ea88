"""eBPF assembly text: the LLVM syntax both ways, and the bpf_conformance syntax in.

This module owns how eBPF instructions are written as text.  `disasm` prints
one `Insn` exactly as `llvm-objdump-19 -d --mcpu=v4` prints it (the text after
the bytes column, without the `<symbol+off>` annotation of branch targets);
`listing` lays out a whole instruction list in llvm-objdump's columns.
`assemble` reads the same syntax back (plus labels and comments), and
`assemble_conformance` reads the `%r0`-style syntax of the bpf_conformance
suite's `.data` files.  Bit layouts and validity rules belong to `jit.isa`;
this module never encodes bytes itself except through `isa.encode`.

llvm-objdump's text loses a field in three places, so two different
instructions can print the same line:

    call 0x15                  helper call, local call (src=1) and kfunc (src=2)
    ld_pseudo  r1, 0x2, 0x10   LDDW pseudo: only the low 32 bits of imm
    r0 = *(u8 *)skb[r1]        LD_IND: the imm added to the register is dropped

`disasm(insn, lossless=True)` spells exactly those cases unambiguously
(`call pc+0x15`, `call kfunc 0x2`, `ld_pseudo r1, 0x2, 0x500000010`,
`skb[r1 + 0x4]`) and is identical to llvm's text everywhere else; `assemble`
reads both spellings, so `assemble(disasm(i, lossless=True)) == [i]` for every
valid instruction and `assemble(disasm(i)) == [i]` for every instruction that
llvm prints losslessly.

llvm's text also depends on the CPU it decodes for (`--mcpu`): without the
alu32 feature (no `--mcpu`, `generic`, `v1`, `v2`) 8/16/32-bit loads, stores
and atomics name the 64-bit register (`r1 = *(u32 *)(r2 + 0x0)`) and only the
32-bit atomic add decodes; `disasm(insn, alu32=False)` prints that.

`objdump` lays out a whole BPF ELF object as `llvm-objdump-19 -d [-r]` does,
as written (before libbpf-style relocation): file and section headers, one
header per symbol, `<sym+0x..>` after branch targets, relocation lines,
`...` for runs of zero bytes and `<unknown>` for what does not decode.
"""
from __future__ import annotations

import re
import struct
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable

from jit.errors import AsmError, BpfjitError, IsaError
from jit.isa import (GOTOL, LDDW, Alu, Atomic, CallKind, Cls, Insn, Jmp, Mode, Pseudo, Size,
                     Src, check, encode, s32)

__all__ = ["disasm", "listing", "objdump", "assemble", "assemble_conformance", "is_lossy",
           "CPUS", "has_alu32"]

# --------------------------------------------------------------------- spelling tables

# Compound assignment operator of each ALU operation (ALU and ALU64 alike).
ALU_OPS: dict[int, str] = {
    Alu.ADD: "+=", Alu.SUB: "-=", Alu.MUL: "*=", Alu.DIV: "/=", Alu.OR: "|=",
    Alu.AND: "&=", Alu.LSH: "<<=", Alu.RSH: ">>=", Alu.MOD: "%=", Alu.XOR: "^=",
    Alu.ARSH: "s>>=",
}
# off=1 turns DIV and MOD into their signed forms (RFC 9669 4.1).
SIGNED_ALU_OPS: dict[int, str] = {Alu.DIV: "s/=", Alu.MOD: "s%="}

# Comparison of each conditional jump.
JMP_OPS: dict[int, str] = {
    Jmp.JEQ: "==", Jmp.JGT: ">", Jmp.JGE: ">=", Jmp.JSET: "&", Jmp.JNE: "!=",
    Jmp.JSGT: "s>", Jmp.JSGE: "s>=", Jmp.JLT: "<", Jmp.JLE: "<=", Jmp.JSLT: "s<",
    Jmp.JSLE: "s<=",
}

SIZE_NAMES: dict[int, str] = {Size.B: "u8", Size.H: "u16", Size.W: "u32", Size.DW: "u64"}
SIGNED_SIZE_NAMES: dict[int, str] = {Size.B: "s8", Size.H: "s16", Size.W: "s32"}

# BPF_END: (class, source bit) -> mnemonic.  ALU64 with the source bit is not valid.
END_NAMES: dict[tuple[int, int], str] = {
    (Cls.ALU, Src.K): "le", (Cls.ALU, Src.X): "be", (Cls.ALU64, Src.K): "bswap",
}

# Atomic read-modify-write without fetch: `lock *(u64 *)(r1 + 0x0) += r2`.
ATOMIC_OPS: dict[int, str] = {
    Atomic.ADD: "+=", Atomic.OR: "|=", Atomic.AND: "&=", Atomic.XOR: "^=",
}
# With fetch: `r2 = atomic_fetch_add((u64 *)(r1 + 0x0), r2)`.
FETCH_OPS: dict[int, str] = {
    Atomic.ADD | Atomic.FETCH: "add", Atomic.OR | Atomic.FETCH: "or",
    Atomic.AND | Atomic.FETCH: "and", Atomic.XOR | Atomic.FETCH: "xor",
}
# xchg/cmpxchg spell their width twice, as LLVM's BPF target names them.
XCHG_NAMES: dict[int, str] = {Size.W: "xchg32_32", Size.DW: "xchg_64"}
CMPXCHG_NAMES: dict[int, str] = {Size.W: "cmpxchg32_32", Size.DW: "cmpxchg_64"}

MOVSX_WIDTHS = (8, 16, 32)

SLOT_BYTES = 8
# one slot: opcode, the register byte, off (s16), imm (s32)
_SLOT = {"little": struct.Struct("<BBhi"), "big": struct.Struct(">BBhi")}


# --------------------------------------------------------------------- disassembly

def _hex(v: int) -> str:
    """LLVM's immediate style: signed hex, `-0x5`, `0x0`."""
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def _rel(v: int) -> str:
    """A relative offset always carries its sign: `+0x0`, `-0x8`."""
    return f"-0x{-v:x}" if v < 0 else f"+0x{v:x}"


def _mem(base: int, off: int) -> str:
    """`r1 + 0x8` / `r1 - 0x8`: the address operand of loads, stores and atomics."""
    return f"r{base} - 0x{-off:x}" if off < 0 else f"r{base} + 0x{off:x}"


def _dis_alu(insn: Insn, lossless: bool) -> str:
    op, dst, src, off, imm = insn
    code = insn.code
    w = "w" if insn.cls == Cls.ALU else "r"
    x = insn.source == Src.X
    if code == Alu.END:
        # LLVM writes byte swaps on the 64-bit name whatever the class.
        return f"r{dst} = {END_NAMES[insn.cls, insn.source]}{imm} r{dst}"
    if code == Alu.NEG:
        return f"{w}{dst} = -{w}{dst}"
    rhs = f"{w}{src}" if x else _hex(imm)
    if code == Alu.MOV:
        if x and off:
            return f"{w}{dst} = (s{off}){w}{src}"
        return f"{w}{dst} = {rhs}"
    sym = SIGNED_ALU_OPS[code] if off == 1 else ALU_OPS[code]
    return f"{w}{dst} {sym} {rhs}"


def _dis_jmp(insn: Insn, lossless: bool) -> str:
    op, dst, src, off, imm = insn
    code = insn.code
    if op == GOTOL:
        return f"gotol {_rel(imm)}"
    if code == Jmp.JA:
        return f"goto {_rel(off)}"
    if code == Jmp.EXIT:
        return "exit"
    if code == Jmp.CALL:
        if lossless and src == CallKind.LOCAL:
            return f"call pc{_rel(imm)}"
        if lossless and src == CallKind.KFUNC:
            return f"call kfunc {_hex(imm)}"
        return f"call {_hex(imm)}"
    w = "w" if insn.cls == Cls.JMP32 else "r"
    rhs = f"{w}{src}" if insn.source == Src.X else _hex(imm)
    return f"if {w}{dst} {JMP_OPS[code]} {rhs} goto {_rel(off)}"


def _dis_ld(insn: Insn, lossless: bool) -> str:
    op, dst, src, off, imm = insn
    if op == LDDW:
        imm &= 0xFFFFFFFFFFFFFFFF       # canonical: unsigned, as isa.decode gives it
        if src == Pseudo.IMM:
            return f"r{dst} = {_hex(imm - (1 << 64) if imm >> 63 else imm)} ll"
        shown = imm if lossless else imm & 0xFFFFFFFF
        return f"ld_pseudo\tr{dst}, {_hex(src)}, {_hex(shown)}"
    size = SIZE_NAMES[insn.size]
    if insn.mode == Mode.ABS:
        return f"r0 = *({size} *)skb[{_hex(imm)}]"
    if lossless and imm:
        return f"r0 = *({size} *)skb[{_mem(src, imm)}]"
    return f"r0 = *({size} *)skb[r{src}]"


def _dis_ldx(insn: Insn, lossless: bool) -> str:
    op, dst, src, off, imm = insn
    if insn.mode == Mode.MEMSX:
        return f"r{dst} = *({SIGNED_SIZE_NAMES[insn.size]} *)({_mem(src, off)})"
    w = "r" if insn.size == Size.DW else "w"
    return f"{w}{dst} = *({SIZE_NAMES[insn.size]} *)({_mem(src, off)})"


def _dis_st(insn: Insn, lossless: bool) -> str:
    op, dst, src, off, imm = insn
    return f"*({SIZE_NAMES[insn.size]} *)({_mem(dst, off)}) = {_hex(imm)}"


def _dis_stx(insn: Insn, lossless: bool) -> str:
    op, dst, src, off, imm = insn
    w = "r" if insn.size == Size.DW else "w"
    size = SIZE_NAMES[insn.size]
    if insn.mode == Mode.MEM:
        return f"*({size} *)({_mem(dst, off)}) = {w}{src}"
    # BPF_ATOMIC: dst is the address register, src the operand (and result).
    if imm in ATOMIC_OPS:
        return f"lock *({size} *)({_mem(dst, off)}) {ATOMIC_OPS[imm]} {w}{src}"
    if imm in FETCH_OPS:
        return f"{w}{src} = atomic_fetch_{FETCH_OPS[imm]}(({size} *)({_mem(dst, off)}), {w}{src})"
    if imm == Atomic.XCHG:
        return f"{w}{src} = {XCHG_NAMES[insn.size]}({_mem(dst, off)}, {w}{src})"
    # CMPXCHG compares with r0 and returns the old value in r0.
    return f"{w}0 = {CMPXCHG_NAMES[insn.size]}({_mem(dst, off)}, {w}0, {w}{src})"


_DISASM: dict[int, Callable[[Insn, bool], str]] = {
    Cls.LD: _dis_ld, Cls.LDX: _dis_ldx, Cls.ST: _dis_st, Cls.STX: _dis_stx,
    Cls.ALU: _dis_alu, Cls.ALU64: _dis_alu, Cls.JMP: _dis_jmp, Cls.JMP32: _dis_jmp,
}


# llvm's BPF CPU names (llvm-objdump --mcpu); "" is no --mcpu at all, which is "generic".
CPUS = ("generic", "v1", "v2", "v3", "v4")
_ALU32_CPUS = frozenset({"v3", "v4"})


def has_alu32(mcpu: str | None) -> bool:
    """Whether llvm's BPF CPU `mcpu` has the alu32 feature (v3 and v4 do)."""
    return (mcpu or "generic") in _ALU32_CPUS


UNKNOWN = "<unknown>"


def _dis_no_alu32(insn: Insn) -> str:
    """Loads, stores and atomics below 64 bits as llvm decodes them without alu32.

    Its decoder then uses the table of 64-bit register forms: the value
    register is `rN`, and of the 32-bit atomics only `lock ... +=` exists,
    matched on the operation bits alone (so ADD|FETCH prints as a plain add);
    the other 32-bit atomics do not decode at all.
    """
    if insn.cls == Cls.STX and insn.mode == Mode.ATOMIC:
        if insn.imm & 0xF0 != Atomic.ADD:
            return UNKNOWN
        return f"lock *(u32 *)({_mem(insn.dst, insn.off)}) += r{insn.src}"
    size = SIZE_NAMES[insn.size]
    if insn.cls == Cls.LDX:
        return f"r{insn.dst} = *({size} *)({_mem(insn.src, insn.off)})"
    return f"*({size} *)({_mem(insn.dst, insn.off)}) = r{insn.src}"


def _alu32_dependent(insn: Insn) -> bool:
    return (insn.cls in (Cls.LDX, Cls.STX) and insn.size != Size.DW
            and insn.mode in (Mode.MEM, Mode.ATOMIC))


def disasm(insn: Insn, *, lossless: bool = False, alu32: bool = True) -> str:
    """The text llvm-objdump-19 prints for `insn` (raises IsaError if it is not valid).

    With `lossless=True` the three encodings llvm prints ambiguously (see the
    module docstring) get a spelling that `assemble` maps back to `insn`.
    With `alu32=False` the text is llvm's for a CPU without alu32 (its
    default): `<unknown>` for the 32-bit atomics that CPU cannot decode.
    """
    check(insn)
    if not alu32 and _alu32_dependent(insn):
        return _dis_no_alu32(insn)
    return _DISASM[insn.cls](insn, lossless)


def is_lossy(insn: Insn) -> bool:
    """True when llvm-objdump's text for `insn` does not determine `insn`."""
    if insn.is_call:
        return insn.src != CallKind.HELPER
    if insn.is_lddw:
        return insn.src != Pseudo.IMM and insn.imm >> 32 != 0
    return insn.cls == Cls.LD and insn.mode == Mode.IND and insn.imm != 0


def listing(insns: Iterable[Insn], order: str = "little", *, start_pc: int = 0,
            show_bytes: bool = True, lossless: bool = False, alu32: bool = True) -> str:
    """Instructions in llvm-objdump's layout, one line each, slot numbers on the left.

        `       0:\\tb7 01 00 00 05 00 00 00\\tr1 = 0x5`

    An LDDW is one line showing both slots' 16 bytes, and the next line's
    number skips its second slot, as llvm-objdump does.
    """
    lines = []
    pc = start_pc
    for insn in insns:
        text = disasm(insn, lossless=lossless, alu32=alu32)
        if show_bytes:
            raw = " ".join(f"{b:02x}" for b in encode([insn], order))
            lines.append(f"{pc:8d}:\t{raw}\t{text}\n")
        else:
            lines.append(f"{pc:8d}:\t{text}\n")
        pc += insn.slots
    return "".join(lines)


# --------------------------------------------------------------------- objects: llvm-objdump -d

# ELF relocation type names for EM_BPF as llvm prints them (BPF.def).
RELOC_NAMES: dict[int, str] = {
    0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
    4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32",
}

_STT_FUNC, _STT_SECTION, _STT_FILE = 2, 3, 4
_SHT_NOBITS = 8
_SHF_EXECINSTR = 0x4
_SHN_LORESERVE = 0xFF00


@dataclass(frozen=True)
class _Sym:
    """A symbol as llvm-objdump sorts them: by address, then name, then type."""
    addr: int
    name: str
    type: int


@dataclass(frozen=True)
class _Rel:
    offset: int
    type: int
    value: str          # what llvm prints after the type: symbol or section name, or *ABS*


def _decode_at(code: bytes, at: int, order: str, alu32: bool) -> tuple[str, int]:
    """(text, bytes used) of the instruction at byte `at`, as llvm's BPF decoder sees it.

    It reads 8 bytes (16 for LDDW, whose second slot contributes only the high
    32 bits of imm; llvm checks none of its other fields).  Whatever jit.isa
    does not accept is `<unknown>`; llvm then moves on 8 bytes, or 1 when fewer
    than 8 are left.
    """
    if len(code) - at < SLOT_BYTES:
        return UNKNOWN, 1
    op, regs, off, imm = _SLOT[order].unpack_from(code, at)
    dst, src = (regs & 0xF, regs >> 4) if order == "little" else (regs >> 4, regs & 0xF)
    if op == LDDW:
        if len(code) - at < 2 * SLOT_BYTES:
            return UNKNOWN, len(code) - at
        hi = _SLOT[order].unpack_from(code, at + SLOT_BYTES)[3]
        insn = Insn(op, dst, src, off, (hi & 0xFFFFFFFF) << 32 | imm & 0xFFFFFFFF)
    else:
        insn = Insn(op, dst, src, off, imm)
    try:
        return disasm(insn, alu32=alu32), insn.slots * SLOT_BYTES
    except IsaError:
        return UNKNOWN, SLOT_BYTES


def _branch_target(code: bytes, at: int, order: str) -> int | None:
    """Where a jump at byte `at` goes, as llvm's BPFMCInstrAnalysis::evaluateBranch
    computes it: at + 8 + offset * 8, modulo 2**64 (a jump before the section
    start wraps around).  None for anything that is not a jump (calls included)."""
    op, _, off, imm = _SLOT[order].unpack_from(code, at)
    cls, code_ = op & 0x07, op & 0xF0
    if cls not in (Cls.JMP, Cls.JMP32) or code_ in (Jmp.CALL, Jmp.EXIT):
        return None
    rel = imm if op == GOTOL else off
    return (at + SLOT_BYTES + rel * SLOT_BYTES) & 0xFFFFFFFFFFFFFFFF


def _target_note(syms: list[_Sym], addrs: list[int], target: int) -> str:
    """` <sym+0x..>`: the last symbol (in sort order) at or before the target, as llvm
    picks it; `addrs` are the symbols' addresses."""
    i = bisect_right(addrs, target)
    if i == 0:
        return ""
    best = syms[i - 1]
    disp = target - best.addr
    return f" <{best.name}+0x{disp:x}>" if disp else f" <{best.name}>"


def _skippable_zeros(code: bytes, at: int, limit: int) -> int:
    """llvm-objdump's countSkippableZeroBytes: a run of 8 or more zero bytes is
    shown as `...`, skipped in multiples of 4."""
    n = 0
    end = min(len(code), at + limit)
    while at + n < end and code[at + n] == 0:
        n += 1
    return n & ~3 if n >= 8 else 0


def _dump_code(out: list[str], code: bytes, order: str, syms: list[_Sym], rels: list[_Rel],
               header: str, *, alu32: bool, show_bytes: bool,
               only: frozenset[str] | None) -> None:
    """One code section, symbol by symbol, as llvm-objdump's disassembleObject lays it out.

    Each address with symbols starts a block running to the next symbol's
    address (not to the end its size gives); of several symbols at one
    address, the last in (address, name, type) order names the block.
    """
    printed_header = False
    addrs = [s.addr for s in syms]
    ri = 0
    i = 0
    while i < len(syms):
        start = syms[i].addr
        j = i
        while j < len(syms) and syms[j].addr == start:
            j += 1
        end = min(len(code), syms[j].addr) if j < len(syms) else len(code)
        # with a selection, every selected symbol here gets a header
        shown = [syms[j - 1]] if only is None else [s for s in syms[i:j] if s.name in only]
        i = j
        if not shown or start >= end:
            continue
        if not printed_header:
            out.append(header)
            printed_header = True
        out.append("\n")
        out.extend(f"{start:016x} <{sym.name}>:\n" for sym in shown)
        while ri < len(rels) and rels[ri].offset < start:
            ri += 1
        at = start
        while at < end:
            limit = end - at
            if ri < len(rels):
                limit = min(limit, rels[ri].offset - at)
            zeros = _skippable_zeros(code, at, limit)
            if zeros:
                out.append("\t\t...\n")
                at += zeros
                continue
            text, size = _decode_at(code, at, order, alu32)
            size = min(size, len(code) - at)
            raw = "\t" + " ".join(f"{b:02x}" for b in code[at:at + size]) if show_bytes else ""
            note = ""
            if text != UNKNOWN and size >= SLOT_BYTES:
                target = _branch_target(code, at, order)
                if target is not None:
                    note = _target_note(syms, addrs, target)
            out.append(f"{at // SLOT_BYTES:8d}:{raw}\t{text}{note}\n")
            while ri < len(rels) and rels[ri].offset < at + size:
                r = rels[ri]
                name = RELOC_NAMES.get(r.type, "Unknown")
                out.append(f"\t\t{r.offset:016x}:  {name}\t{r.value}\n")
                ri += 1
            at += size


def objdump(data: bytes, file: str, *, mcpu: str | None = None, relocs: bool = False,
            show_bytes: bool = True, sections: Iterable[str] | None = None,
            symbols: Iterable[str] | None = None) -> str:
    """What `llvm-objdump-19 -d [-r] [--mcpu=M] FILE` prints for a BPF ELF object.

    `file` is the name to print (as given on llvm-objdump's command line).
    `sections` keeps only those sections (llvm-objdump's `-j`); `symbols` only
    the blocks those symbols name (`--disassemble-symbols`).  `show_bytes=False`
    is `--no-show-raw-insn`.  The object is shown as written: no relocation is
    applied (see `listing` for a loaded program).  Raises ElfError for a file
    that is not a BPF ELF object.
    """
    from jit.elf import read_elf  # local: start-up (only disassembling an object reads ELF)
    raw = read_elf(data, file)
    alu32 = has_alu32(mcpu)
    keep = None if sections is None else frozenset(sections)
    only = None if symbols is None else frozenset(symbols)
    by_section: dict[int, list[_Sym]] = {}
    for sym in raw.symbols:
        # llvm-objdump ignores unnamed, section and file symbols; undefined and
        # absolute ones belong to no section
        if not sym.name or sym.type in (_STT_SECTION, _STT_FILE):
            continue
        if 0 < sym.shndx < min(_SHN_LORESERVE, len(raw.sections)):
            by_section.setdefault(sym.shndx, []).append(_Sym(sym.value, sym.name, sym.type))
    code = [sec for sec in raw.sections
            if sec.flags & _SHF_EXECINSTR and sec.type != _SHT_NOBITS]
    if keep is not None and not keep <= {sec.name for sec in code}:
        missing = sorted(keep - {sec.name for sec in code})[0]
        raise BpfjitError(f"no code section {missing!r}; the object has: "
                          f"{', '.join(sec.name for sec in code) or 'none'}", file=file)
    out = [f"\n{file}:\tfile format elf64-bpf\n"]
    for sec in code:
        if keep is not None and sec.name not in keep:
            continue
        syms = sorted(by_section.get(sec.index, []), key=lambda s: (s.addr, s.name, s.type))
        if not syms or syms[0].addr != 0:
            # no symbol at the start: llvm-objdump names the block after the section
            syms.insert(0, _Sym(0, sec.name, _STT_FUNC))
        rels = sorted((_Rel(r.offset, r.type, _reloc_value(raw, r.sym))
                       for r in raw.relocs.get(sec.index, [])) if relocs else [],
                      key=lambda r: r.offset)
        _dump_code(out, sec.data, raw.byteorder, syms, rels,
                   f"\nDisassembly of section {sec.name}:\n",
                   alu32=alu32, show_bytes=show_bytes, only=only)
    return "".join(out)


def _reloc_value(raw, index: int) -> str:
    """The symbol column of a relocation line: the section's name for a section
    symbol, `*ABS*` for symbol 0 (llvm's getRelocationValueString; REL has no addend)."""
    if index == 0 or index >= len(raw.symbols):
        return "*ABS*"
    sym = raw.symbols[index]
    if sym.type == _STT_SECTION and 0 < sym.shndx < len(raw.sections):
        return raw.sections[sym.shndx].name
    return sym.name


def program_listing(name: str, section: str, functions: Iterable[tuple[str, int]],
                    insns: list[Insn], order: str, *, mcpu: str | None = None,
                    show_bytes: bool = True) -> str:
    """A loaded program (its slots after relocation, subprograms appended) in the
    layout of `objdump`: one header per function, `<func+0x..>` after jumps.
    `functions` are (name, first slot)."""
    syms = sorted((_Sym(start * SLOT_BYTES, fname, _STT_FUNC) for fname, start in functions),
                  key=lambda s: (s.addr, s.name))
    if not syms or syms[0].addr != 0:
        syms.insert(0, _Sym(0, name, _STT_FUNC))
    out: list[str] = []
    _dump_code(out, encode(insns, order), order, syms, [],
               f"\nDisassembly of program {name} (section {section or '-'}):\n",
               alu32=has_alu32(mcpu), show_bytes=show_bytes, only=None)
    return "".join(out)


# --------------------------------------------------------------------- assembly: shared

@dataclass(frozen=True)
class _Fixup:
    """A label operand to resolve once every label's slot is known."""
    label: str
    field: str      # "off" or "imm"
    bits: int       # signed width of the field


@dataclass(frozen=True)
class _Parsed:
    line: int
    insn: Insn
    fixup: _Fixup | None = None


_NUM_RE = re.compile(r"([+-]?)\s*(0[xX][0-9a-fA-F]+|0|[1-9][0-9]*)\Z")


def _number(text: str) -> int:
    """A decimal or hex integer with an optional sign (no octal: `010` is an error)."""
    m = _NUM_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a number: {text.strip()!r}")
    v = int(m.group(2), 0)
    return -v if m.group(1) == "-" else v


def _fit_signed(v: int, bits: int, what: str) -> int:
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise ValueError(f"{what} {v:#x} does not fit in a signed {bits}-bit field")
    return v


def _fit_imm32(v: int, what: str = "immediate") -> int:
    """imm is 32 bits: accept its signed and unsigned spellings, store it signed."""
    if not -(1 << 31) <= v < (1 << 32):
        raise ValueError(f"{what} {v:#x} does not fit in 32 bits")
    return s32(v)


def _fit_imm64(v: int) -> int:
    if not -(1 << 63) <= v < (1 << 64):
        raise ValueError(f"immediate {v:#x} does not fit in 64 bits")
    return v & 0xFFFFFFFFFFFFFFFF


def _link(parsed: list[_Parsed], labels: dict[str, int], validate: bool) -> list[Insn]:
    """Resolve label operands to slot offsets and validate each instruction."""
    out = []
    pc = 0
    for p in parsed:
        insn = Insn(*map(int, p.insn))      # plain ints, not enum members, in every field
        if p.fixup is not None:
            fx = p.fixup
            if fx.label not in labels:
                raise AsmError(f"line {p.line}: unknown label {fx.label!r}")
            rel = labels[fx.label] - (pc + 1)
            try:
                _fit_signed(rel, fx.bits, f"offset to {fx.label!r}")
            except ValueError as e:
                raise AsmError(f"line {p.line}: {e}") from None
            insn = insn._replace(**{fx.field: rel})
        if validate:
            try:
                check(insn, pc)
            except IsaError as e:
                raise AsmError(f"line {p.line}: {e.msg}", pc=pc) from None
        out.append(insn)
        pc += insn.slots
    return out


_LABEL_RE = re.compile(r"\s*([A-Za-z_.$][\w.$]*)\s*:")


def _assemble_lines(text: str, comment_re: re.Pattern[str],
                    parse: Callable[[str, int], tuple[Insn, _Fixup | None] | None],
                    ) -> tuple[list[_Parsed], dict[str, int]]:
    """Split text into labels and instructions; `parse` turns one statement into an Insn."""
    parsed: list[_Parsed] = []
    labels: dict[str, int] = {}
    pc = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        stmt = comment_re.split(raw, 1)[0].strip()
        while (m := _LABEL_RE.match(stmt)) is not None:
            name = m.group(1)
            if name in labels:
                raise AsmError(f"line {lineno}: label {name!r} defined twice")
            labels[name] = pc
            stmt = stmt[m.end():].strip()
        if not stmt:
            continue
        try:
            result = parse(stmt, lineno)
        except ValueError as e:
            raise AsmError(f"line {lineno}: {e}: {stmt!r}") from None
        if result is None:
            continue
        insn, fixup = result
        parsed.append(_Parsed(lineno, insn, fixup))
        pc += insn.slots
    return parsed, labels


# --------------------------------------------------------------------- assembly: LLVM syntax

def _reg(name: str) -> str:
    return rf"(?P<{name}>[rw](?:10|[0-9]))"


_N = r"[+-]?\s*(?:0[xX][0-9a-fA-F]+|[0-9]+)"          # a number (checked by _number)
_SYM = r"[A-Za-z_.$][\w.$]*"
_TARGET = rf"(?P<tgt>{_N}|{_SYM})"
_MEMREF = rf"(?P<base>r(?:10|[0-9]))\s*(?:(?P<sign>[+-])\s*(?P<off>{_N}))?"
_SZ = r"(?P<sz>[us](?:8|16|32|64))"
_ANNOT = r"(?:\s*<[^>]*>)?"                            # llvm-objdump's `<LBB0_3>` after a target


def _width(*regs: str) -> str:
    """The common width letter of register operands; mixing r and w is an error."""
    kinds = {r[0] for r in regs}
    if len(kinds) != 1:
        raise ValueError("mixed 32-bit (w) and 64-bit (r) registers")
    return kinds.pop()


def _regno(r: str) -> int:
    return int(r[1:])


def _memref(m: re.Match[str]) -> tuple[int, int]:
    off = 0
    if m.group("off") is not None:
        off = _number(m.group("off"))
        if m.group("sign") == "-":
            off = -off
    return _regno(m.group("base")), _fit_signed(off, 16, "offset")


def _target(m: re.Match[str], field: str, bits: int) -> tuple[int, _Fixup | None]:
    """A jump operand: a number (slots from the next instruction) or a label."""
    t = m.group("tgt")
    if re.fullmatch(_SYM, t):
        return 0, _Fixup(t, field, bits)
    return _fit_signed(_number(t), bits, "jump offset"), None


def _size_of(name: str) -> int:
    for size, n in SIZE_NAMES.items():
        if n == name:
            return size
    raise ValueError(f"unknown access size {name}")


def _signed_size_of(name: str) -> int:
    for size, n in SIGNED_SIZE_NAMES.items():
        if n == name:
            return size
    raise ValueError(f"unknown sign-extending size {name}")


_Result = tuple[Insn, "_Fixup | None"]


def _p_exit(m: re.Match[str]) -> _Result:
    return Insn(Cls.JMP | Jmp.EXIT), None


def _p_call(m: re.Match[str]) -> _Result:
    op = Cls.JMP | Jmp.CALL
    if m.group("pc") is not None:
        return Insn(op, src=CallKind.LOCAL,
                    imm=_fit_signed(_number(m.group("pc")), 32, "call offset")), None
    if m.group("kfunc") is not None:
        return Insn(op, src=CallKind.KFUNC,
                    imm=_fit_imm32(_number(m.group("kfunc")), "kfunc id")), None
    t = m.group("tgt")
    if re.fullmatch(_SYM, t):
        # `call name` is a bpf-to-bpf call, as llvm-mc encodes it.
        return Insn(op, src=CallKind.LOCAL), _Fixup(t, "imm", 32)
    return Insn(op, imm=_fit_imm32(_number(t), "helper id")), None


def _p_goto(m: re.Match[str]) -> _Result:
    off, fx = _target(m, "off", 16)
    return Insn(Cls.JMP | Jmp.JA, off=off), fx


def _p_gotol(m: re.Match[str]) -> _Result:
    imm, fx = _target(m, "imm", 32)
    return Insn(GOTOL, imm=imm), fx


_JMP_BY_SYM = {sym: code for code, sym in JMP_OPS.items()}


def _p_if(m: re.Match[str]) -> _Result:
    dst = m.group("d")
    code = _JMP_BY_SYM[m.group("op")]
    off, fx = _target(m, "off", 16)
    if m.group("s") is not None:
        cls = Cls.JMP32 if _width(dst, m.group("s")) == "w" else Cls.JMP
        return Insn(cls | Src.X | code, _regno(dst), _regno(m.group("s")), off), fx
    cls = Cls.JMP32 if dst[0] == "w" else Cls.JMP
    return Insn(cls | Src.K | code, _regno(dst), 0, off, _fit_imm32(_number(m.group("imm")))), fx


_ALU_BY_SYM = {sym: code for code, sym in ALU_OPS.items()}
_SIGNED_ALU_BY_SYM = {sym: code for code, sym in SIGNED_ALU_OPS.items()}


def _alu_class(w: str) -> int:
    return Cls.ALU if w == "w" else Cls.ALU64


def _p_alu(m: re.Match[str]) -> _Result:
    dst = m.group("d")
    sym = m.group("op")
    code, off = (_SIGNED_ALU_BY_SYM[sym], 1) if sym in _SIGNED_ALU_BY_SYM else (_ALU_BY_SYM[sym], 0)
    if m.group("s") is not None:
        cls = _alu_class(_width(dst, m.group("s")))
        return Insn(cls | Src.X | code, _regno(dst), _regno(m.group("s")), off), None
    return Insn(_alu_class(dst[0]) | Src.K | code, _regno(dst), 0, off,
                _fit_imm32(_number(m.group("imm")))), None


def _p_mov(m: re.Match[str]) -> _Result:
    dst = m.group("d")
    if m.group("s") is not None:
        cls = _alu_class(_width(dst, m.group("s")))
        return Insn(cls | Src.X | Alu.MOV, _regno(dst), _regno(m.group("s"))), None
    return Insn(_alu_class(dst[0]) | Src.K | Alu.MOV, _regno(dst), 0, 0,
                _fit_imm32(_number(m.group("imm")))), None


def _p_movsx(m: re.Match[str]) -> _Result:
    dst, src = m.group("d"), m.group("s")
    cls = _alu_class(_width(dst, src))
    return Insn(cls | Src.X | Alu.MOV, _regno(dst), _regno(src), int(m.group("bits"))), None


def _p_neg(m: re.Match[str]) -> _Result:
    dst, again = m.group("d"), m.group("s")
    if dst != again:
        raise ValueError("negation must name the same register on both sides")
    return Insn(_alu_class(dst[0]) | Alu.NEG, _regno(dst)), None


_END_BY_NAME = {name: key for key, name in END_NAMES.items()}


def _p_end(m: re.Match[str]) -> _Result:
    dst, again = m.group("d"), m.group("s")
    if dst != again or dst[0] != "r":
        raise ValueError("a byte swap is written `rN = be16 rN` (same r register)")
    cls, source = _END_BY_NAME[m.group("kind")]
    return Insn(cls | source | Alu.END, _regno(dst), 0, 0, int(m.group("bits"))), None


def _p_lddw(m: re.Match[str]) -> _Result:
    dst = m.group("d")
    if dst[0] != "r":
        raise ValueError("a 64-bit load needs an r register")
    return Insn(LDDW, _regno(dst), 0, 0, _fit_imm64(_number(m.group("imm")))), None


def _p_ld_pseudo(m: re.Match[str]) -> _Result:
    dst = m.group("d")
    if dst[0] != "r":
        raise ValueError("ld_pseudo needs an r register")
    src = _number(m.group("src"))
    if not 0 <= src <= 15:
        raise ValueError(f"pseudo source {src} is not 0..15")
    imm = _number(m.group("imm"))
    # llvm-mc reads this operand as 32 bits (`-1` is 0xffffffff, high word 0); wider
    # values are the lossless spelling of a high word.
    imm = _fit_imm32(imm) & 0xFFFFFFFF if imm < (1 << 32) else _fit_imm64(imm)
    return Insn(LDDW, _regno(dst), src, 0, imm), None


def _p_ldabs(m: re.Match[str]) -> _Result:
    if m.group("d") != "r0":
        raise ValueError("packet loads always load r0")
    sz = m.group("sz")
    size = _size_of(sz)
    if m.group("ireg") is None:
        return Insn(Cls.LD | Mode.ABS | size, imm=_fit_imm32(_number(m.group("imm")))), None
    imm = 0
    if m.group("ioff") is not None:
        imm = _number(m.group("ioff"))
        if m.group("isign") == "-":
            imm = -imm
    ireg = m.group("ireg")
    if ireg[0] != "r":
        raise ValueError("the packet index register is an r register")
    return Insn(Cls.LD | Mode.IND | size, 0, _regno(ireg), 0, _fit_imm32(imm)), None


def _p_ldx(m: re.Match[str]) -> _Result:
    dst = m.group("d")
    sz = m.group("sz")
    src, off = _memref(m)
    if sz.startswith("s"):
        if dst[0] != "r":
            raise ValueError("sign-extending loads write an r register")
        return Insn(Cls.LDX | Mode.MEMSX | _signed_size_of(sz), _regno(dst), src, off), None
    size = _size_of(sz)
    if size == Size.DW and dst[0] != "r":
        raise ValueError("a 64-bit load needs an r register")
    return Insn(Cls.LDX | Mode.MEM | size, _regno(dst), src, off), None


def _p_store(m: re.Match[str]) -> _Result:
    size = _size_of(m.group("sz"))
    dst, off = _memref(m)
    if m.group("s") is not None:
        if size == Size.DW and m.group("s")[0] != "r":
            raise ValueError("a 64-bit store needs an r register")
        return Insn(Cls.STX | Mode.MEM | size, dst, _regno(m.group("s")), off), None
    return Insn(Cls.ST | Mode.MEM | size, dst, 0, off, _fit_imm32(_number(m.group("imm")))), None


_ATOMIC_SIZES = {"u32": (Size.W, "w"), "u64": (Size.DW, "r")}


def _atomic_size(sz: str, *regs: str) -> int:
    if sz not in _ATOMIC_SIZES:
        raise ValueError("atomic operations are 32 or 64 bits")
    size, w = _ATOMIC_SIZES[sz]
    if _width(*regs) != w:
        raise ValueError(f"a {sz} atomic operation takes {w} registers")
    return size


_ATOMIC_BY_SYM = {sym: imm for imm, sym in ATOMIC_OPS.items()}
_FETCH_BY_NAME = {name: imm for imm, name in FETCH_OPS.items()}


def _p_lock(m: re.Match[str]) -> _Result:
    src = m.group("s")
    size = _atomic_size(m.group("sz"), src)
    dst, off = _memref(m)
    return Insn(Cls.STX | Mode.ATOMIC | size, dst, _regno(src), off,
                _ATOMIC_BY_SYM[m.group("op")]), None


def _p_fetch(m: re.Match[str]) -> _Result:
    res, src = m.group("d"), m.group("s")
    if res != src:
        raise ValueError("atomic_fetch_* returns into its operand register")
    size = _atomic_size(m.group("sz"), src)
    dst, off = _memref(m)
    return Insn(Cls.STX | Mode.ATOMIC | size, dst, _regno(src), off,
                _FETCH_BY_NAME[m.group("op")]), None


def _p_xchg(m: re.Match[str]) -> _Result:
    res, src = m.group("d"), m.group("s")
    if res != src:
        raise ValueError("xchg returns into its operand register")
    size = Size.DW if m.group("fn") == "xchg_64" else Size.W
    _atomic_size(SIZE_NAMES[size], src)
    dst, off = _memref(m)
    return Insn(Cls.STX | Mode.ATOMIC | size, dst, _regno(src), off, Atomic.XCHG), None


def _p_cmpxchg(m: re.Match[str]) -> _Result:
    res, cmp, src = m.group("d"), m.group("c"), m.group("s")
    if _regno(res) != 0 or _regno(cmp) != 0:
        raise ValueError("cmpxchg compares with and returns into r0")
    size = Size.DW if m.group("fn") == "cmpxchg_64" else Size.W
    _atomic_size(SIZE_NAMES[size], res, cmp, src)
    dst, off = _memref(m)
    return Insn(Cls.STX | Mode.ATOMIC | size, dst, _regno(src), off, Atomic.CMPXCHG), None


_RHS = rf"(?:{_reg('s')}|(?P<imm>{_N}))"
_ALU_SYMS = "|".join(re.escape(s) for s in sorted(
    list(ALU_OPS.values()) + list(SIGNED_ALU_OPS.values()), key=len, reverse=True))
_JMP_SYMS = "|".join(re.escape(s) for s in sorted(JMP_OPS.values(), key=len, reverse=True))

# One statement form per row, tried in order; the first full match wins.
_LLVM_FORMS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], _Result]]] = [
    (re.compile(p, re.X), f) for p, f in [
        (r"exit", _p_exit),
        (rf"call \s+ (?: pc \s* (?P<pc>{_N}) | kfunc \s+ (?P<kfunc>{_N}) | {_TARGET}) {_ANNOT}",
         _p_call),
        (rf"goto \s+ {_TARGET} {_ANNOT}", _p_goto),
        (rf"gotol \s+ {_TARGET} {_ANNOT}", _p_gotol),
        (rf"if \s+ {_reg('d')} \s* (?P<op>{_JMP_SYMS}) \s* {_RHS}"
         rf" \s+ goto \s+ {_TARGET} {_ANNOT}", _p_if),
        (rf"ld_pseudo \s+ {_reg('d')} \s*,\s* (?P<src>{_N}) \s*,\s* (?P<imm>{_N})", _p_ld_pseudo),
        (rf"lock \s+ \*\(\s*{_SZ}\s*\*\s*\) \s* \(\s*{_MEMREF}\s*\)"
         rf" \s* (?P<op>[+|&^]=) \s* {_reg('s')}", _p_lock),
        (rf"{_reg('d')} \s*=\s* atomic_fetch_(?P<op>add|or|and|xor)"
         rf" \s*\(\s* \(\s*{_SZ}\s*\*\s*\) \s* \(\s*{_MEMREF}\s*\) \s*,\s* {_reg('s')} \s*\)",
         _p_fetch),
        (rf"{_reg('d')} \s*=\s* (?P<fn>xchg_64|xchg32_32)"
         rf" \s*\(\s* {_MEMREF} \s*,\s* {_reg('s')} \s*\)", _p_xchg),
        (rf"{_reg('d')} \s*=\s* (?P<fn>cmpxchg_64|cmpxchg32_32)"
         rf" \s*\(\s* {_MEMREF} \s*,\s* {_reg('c')} \s*,\s* {_reg('s')} \s*\)", _p_cmpxchg),
        (rf"{_reg('d')} \s*=\s* \*\(\s*{_SZ}\s*\*\s*\) \s* skb \s*\[\s*"
         rf" (?: (?P<ireg>[rw](?:10|[0-9])) \s* (?: (?P<isign>[+-]) \s* (?P<ioff>{_N}) )?"
         rf" | (?P<imm>{_N}) ) \s*\]", _p_ldabs),
        (rf"{_reg('d')} \s*=\s* \*\(\s*{_SZ}\s*\*\s*\) \s* \(\s*{_MEMREF}\s*\)", _p_ldx),
        (rf"\*\(\s*{_SZ}\s*\*\s*\) \s* \(\s*{_MEMREF}\s*\) \s*=\s* {_RHS}", _p_store),
        (rf"{_reg('d')} \s*=\s* (?P<kind>be|le|bswap)(?P<bits>16|32|64) \s+ {_reg('s')}", _p_end),
        (rf"{_reg('d')} \s*=\s* -\s*{_reg('s')}", _p_neg),
        (rf"{_reg('d')} \s*=\s* \(\s*s(?P<bits>8|16|32)\s*\) \s* {_reg('s')}", _p_movsx),
        (rf"{_reg('d')} \s*=\s* (?P<imm>{_N}) \s+ ll", _p_lddw),
        (rf"{_reg('d')} \s*=\s* {_RHS}", _p_mov),
        (rf"{_reg('d')} \s* (?P<op>{_ALU_SYMS}) \s* {_RHS}", _p_alu),
    ]
]


def _parse_llvm(stmt: str, lineno: int) -> tuple[Insn, _Fixup | None] | None:
    if stmt.startswith("."):
        # Directives that place nothing, so llvm-mc input (tests/asm/all_ops.s) reads as is.
        if stmt.split()[0] in _IGNORED_DIRECTIVES:
            return None
        raise ValueError("unsupported directive")
    for pattern, build in _LLVM_FORMS:
        m = pattern.fullmatch(stmt)
        if m is not None:
            return build(m)
    raise ValueError("unrecognised instruction")


_IGNORED_DIRECTIVES = frozenset({".text", ".globl", ".global", ".type", ".size", ".p2align"})
_LLVM_COMMENT = re.compile(r"#|;|//")


def assemble(text: str, *, validate: bool = True) -> list[Insn]:
    """Assemble LLVM BPF syntax (what `disasm` and llvm-objdump print), one statement a line.

    Also accepted: `#`, `;` and `//` comments, blank lines, `name:` labels used
    as `goto name`, `if ... goto name`, `gotol name` and `call name` (a local
    call), numbers in decimal or hex with or without sign, and the lossless
    spellings of `disasm(..., lossless=True)`.  Raises AsmError naming the line.
    """
    parsed, labels = _assemble_lines(text, _LLVM_COMMENT, _parse_llvm)
    return _link(parsed, labels, validate)


# --------------------------------------------------------------------- assembly: bpf_conformance

# The bpf_conformance suite's syntax (https://github.com/Alan-Jowett/bpf_conformance,
# src/bpf_assembler.cc and the tests/*.data files):  `mnemonic op, op, op`, registers
# `%rN`, memory `[%rN+off]`, jump targets `+N`, `-N` or a label; the first `exit`
# is also an implicit label `exit`.  Immediates are truncated to their field
# width as that assembler does (the suite relies on `mov32 %r1, 0x876543210`).

_CONF_ALU: dict[str, tuple[int, int]] = {   # mnemonic stem -> (Alu code, off)
    "add": (Alu.ADD, 0), "sub": (Alu.SUB, 0), "mul": (Alu.MUL, 0), "div": (Alu.DIV, 0),
    "sdiv": (Alu.DIV, 1), "or": (Alu.OR, 0), "and": (Alu.AND, 0), "lsh": (Alu.LSH, 0),
    "rsh": (Alu.RSH, 0), "mod": (Alu.MOD, 0), "smod": (Alu.MOD, 1), "xor": (Alu.XOR, 0),
    "mov": (Alu.MOV, 0), "arsh": (Alu.ARSH, 0),
}
_CONF_JMP: dict[str, int] = {
    "jeq": Jmp.JEQ, "jgt": Jmp.JGT, "jge": Jmp.JGE, "jset": Jmp.JSET, "jne": Jmp.JNE,
    "jsgt": Jmp.JSGT, "jsge": Jmp.JSGE, "jlt": Jmp.JLT, "jle": Jmp.JLE, "jslt": Jmp.JSLT,
    "jsle": Jmp.JSLE,
}
_CONF_END: dict[str, tuple[int, int]] = {   # -> (class, source bit)
    "le": (Cls.ALU, Src.K), "be": (Cls.ALU, Src.X), "swap": (Cls.ALU64, Src.K),
    "bswap": (Cls.ALU64, Src.K),
}
_CONF_SIZE: dict[str, int] = {"b": Size.B, "h": Size.H, "w": Size.W, "dw": Size.DW}
_CONF_ATOMIC: dict[str, int] = {
    "add": Atomic.ADD, "xadd": Atomic.ADD, "or": Atomic.OR, "and": Atomic.AND,
    "xor": Atomic.XOR, "xchg": Atomic.XCHG, "cmpxchg": Atomic.CMPXCHG,
}

_CONF_REG_RE = re.compile(r"%?r(1[0-5]|[0-9])\Z")
_CONF_MEM_RE = re.compile(
    r"\[\s*(?P<reg>%?r\d+)\s*(?:(?P<off>[+-]\s*(?:0[xX][0-9a-fA-F]+|\d+)))?\s*\]\Z")
_CONF_SYM_RE = re.compile(r"[A-Za-z_.$][\w.$]*\Z")


def _conf_reg(text: str) -> int:
    """`%r0`..`%r10`; `%r11`-`%r15` parse too (the suite's negative tests use them)."""
    m = _CONF_REG_RE.match(text)
    if not m:
        raise ValueError(f"not a register: {text!r}")
    return int(m.group(1))


def _conf_int(text: str, bits: int) -> int:
    """An immediate truncated to `bits` and read as signed, as the suite's assembler does."""
    v = _number(text)
    if not -(1 << 63) <= v < (1 << 64):
        raise ValueError(f"number {text!r} does not fit in 64 bits")
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _conf_mem(text: str) -> tuple[int, int]:
    m = _CONF_MEM_RE.match(text)
    if not m:
        raise ValueError(f"not a memory operand: {text!r}")
    off = _conf_int(m.group("off"), 16) if m.group("off") else 0
    return _conf_reg(m.group("reg")), off


def _conf_target(text: str, field: str, bits: int) -> tuple[int, _Fixup | None]:
    if _CONF_SYM_RE.match(text):
        return 0, _Fixup(text, field, bits)
    return _conf_int(text, bits), None


def _conf_operands(rest: str) -> list[str]:
    return [o.strip() for o in rest.split(",")] if rest.strip() else []


def _expect(ops: list[str], n: int, mnemonic: str) -> None:
    if len(ops) != n:
        raise ValueError(f"{mnemonic} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")


def _parse_conformance(stmt: str, lineno: int) -> tuple[Insn, _Fixup | None]:
    mnemonic, rest = (stmt.split(None, 1) + [""])[:2]
    mnemonic = mnemonic.lower()
    if mnemonic == "lock":
        return _conf_lock(rest)
    if mnemonic == "call":
        return _conf_call(rest)
    ops = _conf_operands(rest)
    if mnemonic == "exit":
        _expect(ops, 0, mnemonic)
        return Insn(Cls.JMP | Jmp.EXIT), None
    if mnemonic in ("ja", "ja32"):
        _expect(ops, 1, mnemonic)
        if mnemonic == "ja":
            off, fx = _conf_target(ops[0], "off", 16)
            return Insn(Cls.JMP | Jmp.JA, off=off), fx
        imm, fx = _conf_target(ops[0], "imm", 32)
        return Insn(GOTOL, imm=imm), fx
    if mnemonic == "lddw":
        _expect(ops, 2, mnemonic)
        return Insn(LDDW, _conf_reg(ops[0]), 0, 0, _conf_int(ops[1], 64) & (2**64 - 1)), None
    if m := re.fullmatch(r"(ldx|ldxs|stx|st)(dw|w|h|b)", mnemonic):
        return _conf_mem_insn(m.group(1), _CONF_SIZE[m.group(2)], ops, mnemonic)
    if m := re.fullmatch(r"(ldabs|ldind)(dw|w|h|b)", mnemonic):
        return _conf_packet(m.group(1), _CONF_SIZE[m.group(2)], ops, mnemonic)
    if m := re.fullmatch(r"(le|be|b?swap)(16|32|64)", mnemonic):
        _expect(ops, 1, mnemonic)
        cls, source = _CONF_END[m.group(1)]
        return Insn(cls | source | Alu.END, _conf_reg(ops[0]), 0, 0, int(m.group(2))), None
    if m := re.fullmatch(r"movsx(8|16|32)(32|64)", mnemonic):
        _expect(ops, 2, mnemonic)
        cls = Cls.ALU if m.group(2) == "32" else Cls.ALU64
        return Insn(cls | Src.X | Alu.MOV, _conf_reg(ops[0]), _conf_reg(ops[1]),
                    int(m.group(1))), None
    if m := re.fullmatch(r"(neg)(32|64)?", mnemonic):
        _expect(ops, 1, mnemonic)
        cls = Cls.ALU if m.group(2) == "32" else Cls.ALU64
        return Insn(cls | Alu.NEG, _conf_reg(ops[0])), None
    if m := re.fullmatch(r"([a-z]+?)(32|64)?", mnemonic):
        stem, width = m.group(1), m.group(2)
        if stem in _CONF_ALU:
            _expect(ops, 2, mnemonic)
            code, off = _CONF_ALU[stem]
            cls = Cls.ALU if width == "32" else Cls.ALU64
            return _conf_src_form(cls, code, off, ops), None
        if stem in _CONF_JMP and width != "64":
            _expect(ops, 3, mnemonic)
            cls = Cls.JMP32 if width == "32" else Cls.JMP
            off, fx = _conf_target(ops[2], "off", 16)
            return _conf_src_form(cls, _CONF_JMP[stem], 0, ops)._replace(off=off), fx
    raise ValueError(f"unknown mnemonic {mnemonic!r}")


def _conf_src_form(cls: int, code: int, off: int, ops: list[str]) -> Insn:
    """`op %rD, %rS` (source X) or `op %rD, imm` (source K)."""
    dst = _conf_reg(ops[0])
    if ops[1].startswith("%"):
        return Insn(cls | Src.X | code, dst, _conf_reg(ops[1]), off)
    return Insn(cls | Src.K | code, dst, 0, off, _conf_int(ops[1], 32))


def _conf_mem_insn(kind: str, size: int, ops: list[str], mnemonic: str) -> _Result:
    _expect(ops, 2, mnemonic)
    if kind in ("ldx", "ldxs"):
        src, off = _conf_mem(ops[1])
        mode = Mode.MEMSX if kind == "ldxs" else Mode.MEM
        return Insn(Cls.LDX | mode | size, _conf_reg(ops[0]), src, off), None
    dst, off = _conf_mem(ops[0])
    if kind == "stx":
        return Insn(Cls.STX | Mode.MEM | size, dst, _conf_reg(ops[1]), off), None
    return Insn(Cls.ST | Mode.MEM | size, dst, 0, off, _conf_int(ops[1], 32)), None


def _conf_packet(kind: str, size: int, ops: list[str], mnemonic: str) -> _Result:
    """Legacy packet loads as uBPF and GNU as write them: `ldabsw 0x10`, `ldindb %r3, 0x2`."""
    if kind == "ldabs":
        _expect(ops, 1, mnemonic)
        return Insn(Cls.LD | Mode.ABS | size, imm=_conf_int(ops[0], 32)), None
    _expect(ops, 2, mnemonic)
    return Insn(Cls.LD | Mode.IND | size, 0, _conf_reg(ops[0]), 0, _conf_int(ops[1], 32)), None


def _conf_call(rest: str) -> _Result:
    """`call N`, `call helper N`, `call local label|+N`, `call runtime N`, `call %rN`."""
    words = rest.split()
    if len(words) == 1:
        words = ["helper", *words]
    if len(words) != 2:
        raise ValueError("call takes `N`, `helper N`, `local target` or `runtime N`")
    mode, target = words
    op = Cls.JMP | Jmp.CALL
    if mode == "helper":
        if target.startswith("%"):
            # callx: the register sits in dst.  Not RFC 9669; validation rejects it.
            return Insn(op | Src.X, _conf_reg(target)), None
        return Insn(op, imm=_conf_int(target, 32)), None
    if mode == "local":
        imm, fx = _conf_target(target, "imm", 32)
        return Insn(op, src=CallKind.LOCAL, imm=imm), fx
    if mode == "runtime":
        return Insn(op, src=CallKind.KFUNC, imm=_conf_int(target, 32)), None
    raise ValueError(f"unknown call mode {mode!r} (helper, local or runtime)")


def _conf_lock(rest: str) -> _Result:
    """`lock [fetch] op[32] [%rD+off], %rS` with op add/or/and/xor/xchg/cmpxchg."""
    head, _, tail = rest.strip().partition("[")
    words = head.split()
    fetch = bool(words) and words[0] == "fetch"
    if fetch:
        words = words[1:]
    if len(words) != 1:
        raise ValueError("lock takes `[fetch] op [%rD+off], %rS`")
    m = re.fullmatch(r"([a-z]+?)(32)?", words[0])
    if not m or m.group(1) not in _CONF_ATOMIC:
        raise ValueError(f"unknown atomic operation {words[0]!r}")
    imm = _CONF_ATOMIC[m.group(1)]
    if fetch:
        if imm in (Atomic.XCHG, Atomic.CMPXCHG):
            raise ValueError(f"{m.group(1)} always fetches; write it without `fetch`")
        imm |= Atomic.FETCH
    ops = _conf_operands("[" + tail)
    _expect(ops, 2, "lock")
    dst, off = _conf_mem(ops[0])
    size = Size.W if m.group(2) else Size.DW
    return Insn(Cls.STX | Mode.ATOMIC | size, dst, _conf_reg(ops[1]), off, imm), None


_CONF_COMMENT = re.compile(r"#|;|//")


def assemble_conformance(text: str, *, validate: bool = True) -> list[Insn]:
    """Assemble the bpf_conformance `.data` `-- asm` syntax (`mov32 %r0, 1`, `exit`, ...).

    With `validate=False` instructions that RFC 9669 rejects (the suite's
    negative tests: `%r11`, `callx`) are returned as written instead of raising.
    """
    parsed, labels = _assemble_lines(text, _CONF_COMMENT, _parse_conformance)
    if "exit" not in labels:
        # The suite's assembler lets `exit` name the first exit instruction.
        pc = 0
        for p in parsed:
            if p.insn.is_exit:
                labels["exit"] = pc
                break
            pc += p.insn.slots
    return _link(parsed, labels, validate)
