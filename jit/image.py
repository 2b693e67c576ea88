"""`Image`: the machine code of one program for one target, and its text writers.

An Image is what a backend produced plus what people need to read it: the
entry offset of each function, the native-offset <-> eBPF-pc map, the symbols
the code refers to (relocations) and the program it came from.  Writers turn
it into raw bytes (`to_bin`), hex text (`to_hex`), a listing that interleaves
each eBPF instruction and its C source line with its native instructions the
way `bpftool prog dump jited` does (`listing`), and the `compile --json`
document (`image_json`).  The ELF object writer lives in `jit.elfout`.
Native code is decoded with capstone, as the backend's RunSpec describes it.
This module does not compile or run anything.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterator

from jit.helper_names import HELPER_NAMES
from jit.isa import encode
from jit.lir import SymKind
from jit.program import Program

_WINDOW = 1 << 16                 # bytes of code capstone decodes at a time
_MAX_INSN = 16                    # longer than any instruction of any target (x86: 15)
_TEXT_CACHE = 1 << 16             # eBPF instruction texts kept while listing
_NEVER = 1 << 62                  # an offset past any image


@dataclass
class Image:
    """One program compiled for one target, loaded at `base`.

    `code` is the machine code; `funcs` the native functions (entry first; each
    with `name`, `offset`, `size`, `start_pc`); `pc_map` sorted (native offset,
    eBPF pc) marks; `relocs` the places that refer to helpers, maps, global data
    and function addresses (`backends.base.Reloc`); `runtime` the backend's own
    routines as (name, offset, size).  `entry` is the absolute entry address.
    """
    arch: str
    code: bytes
    base: int
    funcs: list                       # backends.base.NativeFunc, entry first
    pc_map: list                      # sorted (native offset, eBPF pc)
    program: Program
    backend: Any = None               # the Backend that made it (capstone mode, run spec)
    relocs: list = field(default_factory=list)
    runtime: list = field(default_factory=list)
    passes: int = 0
    stack_depths: dict = field(default_factory=dict)   # function start pc -> eBPF frame bytes
    seed: int | None = None           # hardened: the seed of its blinding masks (--seed)

    def __post_init__(self) -> None:
        self._offs = [o for o, _ in self.pc_map]

    @property
    def entry(self) -> int:
        return self.base + self.funcs[0].offset

    def _mark(self, addr: int) -> int | None:
        """The index in pc_map of the mark whose native code holds `addr` (absolute)."""
        off = addr - self.base
        if not 0 <= off < len(self.code):
            return None
        i = bisect.bisect_right(self._offs, off) - 1
        return None if i < 0 else i

    def pc_of(self, addr: int) -> int | None:
        """The eBPF pc whose native code contains `addr` (absolute), or None."""
        i = self._mark(addr)
        return None if i is None else self.pc_map[i][1]

    def span_of(self, addr: int) -> tuple[int, int] | None:
        """[start, end) absolute: the native code of the eBPF pc whose code holds `addr`."""
        i = self._mark(addr)
        if i is None:
            return None
        end = self._offs[i + 1] if i + 1 < len(self._offs) else len(self.code)
        return self.base + self._offs[i], self.base + end

    def func_of(self, addr: int):
        off = addr - self.base
        best = None
        for f in self.funcs:
            if f.offset <= off < f.offset + f.size:
                best = f
        return best

    # ------------------------------------------------------------ native decoding
    def disassemble(self, start: int = 0, end: int | None = None) -> list[tuple[int, bytes, str]]:
        """[(offset, bytes, text)] for code[start:end] via capstone."""
        return list(self._native(start, end))

    def _native(self, start: int = 0, end: int | None = None,
                want_bytes: bool = True) -> Iterator[tuple[int, bytes, str]]:
        """`disassemble()` one instruction at a time (capstone's lite mode: no detail
        objects, which cost more than the decoding), decoded a window of code at a time
        (capstone decodes a whole buffer into C memory first: 600 MB for 10 MB of code).
        Without `want_bytes` the bytes are left empty."""
        import capstone
        spec = self.backend.run
        md = capstone.Cs(spec.cs_arch, spec.cs_mode)
        code, base = self.code, self.base
        end = len(code) if end is None else end
        off = start
        while off < end:
            stop = min(end, off + _WINDOW)
            for addr, size, mnemonic, op_str in md.disasm_lite(code[off:stop], base + off):
                o = addr - base
                yield (o, code[o:o + size] if want_bytes else b"",
                       f"{mnemonic} {op_str}".strip())
                off = o + size
            if off >= end:
                break
            if stop < end and stop - off < _MAX_INSN:
                continue            # an instruction cut by the window: decode it in the next
            # capstone stops at bytes it cannot decode: show them as data
            step = self.backend.target.insn_align
            raw = code[off:off + step]
            yield off, raw, f".byte {raw.hex()}"
            off += step

    def native_count(self) -> int:
        return len(self.disassemble())

    # ------------------------------------------------------------ writers
    def to_bin(self) -> bytes:
        return self.code

    def to_hex(self) -> str:
        lines = []
        for i in range(0, len(self.code), 16):
            chunk = self.code[i:i + 16]
            lines.append(f"{i:08x}: " + " ".join(f"{b:02x}" for b in chunk))
        return "\n".join(lines) + "\n"

    def regions(self) -> list[tuple[int, int, int | None]]:
        """[(start offset, end offset, eBPF pc or None for prologue/runtime)] covering the code."""
        return list(self._iter_regions())

    def _iter_regions(self) -> Iterator[tuple[int, int, int | None]]:
        """`regions()` one at a time, in order: the pc_map's marks (the last of several
        at one offset wins: labels may share it) cut at function and runtime starts."""
        marks = self.pc_map
        n = len(self.code)
        bounds = sorted({f.offset for f in self.funcs} | {r[1] for r in self.runtime})
        bound_set = set(bounds)
        mi, bi, m = 0, 0, len(marks)
        cur = None
        o = min(marks[0][0] if marks else n, bounds[0] if bounds else n, n)
        while o < n:
            at_mark = False
            while mi < m and marks[mi][0] == o:
                cur = marks[mi][1]
                mi += 1
                at_mark = True
            while mi < m and marks[mi][0] < o:      # (unsorted or out-of-range marks)
                mi += 1
            if not at_mark and o in bound_set:
                cur = None
            while bi < len(bounds) and bounds[bi] <= o:
                bi += 1
            nxt = min(marks[mi][0] if mi < m else n, bounds[bi] if bi < len(bounds) else n, n)
            yield o, nxt, cur
            o = nxt

    def symbol_name(self, sym) -> str:
        """The name a reader knows a referenced symbol by: `bpf_<helper>` (the kernel's
        function), a map by its name, global data (.data/.rodata/.bss) by its map's name
        as libbpf and bpftool name it.  Each (kind, target) pair gets its own name."""
        maps = self.program.maps
        match sym.kind:
            case SymKind.HELPER:
                name = _helper_names().get(sym.index)
                return f"bpf_{name}" if name else f"bpf_helper_{sym.index}"
            case SymKind.MAP if sym.index < len(maps):
                m = maps[sym.index]
                return f"{m.name}.map" if m.section else m.name
            case SymKind.MAP_VALUE if sym.index < len(maps):
                m = maps[sym.index]
                return m.name if m.section else f"{m.name}.value"
            case SymKind.FUNC if sym.index < len(self.funcs):
                return self.funcs[sym.index].name
            case SymKind.TAIL_COUNT:
                return "bpf_tail_call_cnt"
        return sym.name

    def references(self, native: list | None = None) -> dict[int, list[str]]:
        """native offset of an instruction -> names of the symbols it refers to (its relocs).
        `native` is this image's `disassemble()`, if the caller has it already."""
        starts = [o for o, _, _ in (native if native is not None else self.disassemble())]
        out: dict[int, list[str]] = {}
        for r in sorted(self.relocs, key=lambda r: r.offset):
            i = bisect.bisect_right(starts, r.offset) - 1
            if i >= 0:
                names = out.setdefault(starts[i], [])
                name = self.symbol_name(r.sym)
                if name not in names:
                    names.append(name)
        return out

    def listing(self, *, source: bool = True, linum: bool = False, opcodes: bool = False) -> str:
        """eBPF instructions interleaved with native code, function by function.

        Like `bpftool prog dump jited`: a function's name, then for each eBPF
        instruction its C source line (when it starts a new line, as
        `llvm-objdump -S` shows it; `linum` adds `[file:F line_num:L line_col:C]`),
        the instruction (`;  pc: text`, as `llvm-objdump -d`), and its native
        instructions (`offset:\ttext`, with the bytes when `opcodes`; the symbols
        an instruction refers to, or the function it calls, as `<name>`).  Offsets
        count from the image start; operands show run-time addresses (code at `base`).
        The same text as `iter_listing` yields line by line.
        """
        return "".join(self.iter_listing(source=source, linum=linum, opcodes=opcodes))

    def iter_listing(self, *, source: bool = True, linum: bool = False,
                     opcodes: bool = False) -> Iterator[str]:
        """`listing()` in chunks of lines (each ending in a newline), made as they are
        written: a multi-million-instruction program is listed in bounded memory, its
        native code decoded on the way (`_native`), not held whole."""
        from jit.asm import disasm  # local: start-up (only listings need the assembler)
        prog = self.program
        pcs, insns = prog.pcs, prog.insns
        lines_at = source_lines(prog) if source else {}
        entries = {self.base + f.offset: f.name for f in self.funcs}
        entries.update({self.base + off: name for name, off, _ in self.runtime})
        func_at = {f.offset: f for f in self.funcs}
        runtime_at = {off: name for name, off, _ in self.runtime}
        relocs = sorted(self.relocs, key=lambda r: r.offset)
        names_of: dict = {}             # symbol -> its name (symbol_name, once per symbol)
        texts: dict = {}                # eBPF insn -> its text: programs repeat instructions
        native = self._native(want_bytes=opcodes)
        nxt = next(native, None)
        ri = 0                          # relocs[:ri] are shown
        roff = relocs[0].offset if relocs else _NEVER
        # "0x..." as capstone prints a call or jump target -> the function there
        targets = {hex(a): n for a, n in entries.items()}
        out: list[str] = []
        if self.seed is not None:
            out.append(f"; constants blinded: --harden --seed {self.seed} reproduces this image")
        emitted = False                 # anything before this chunk
        order: list[int] = []           # the current function's eBPF pcs, in order
        first = 0                       # index in pcs of order[0]
        shown = 0                       # order[:shown] are listed
        prev = None                     # the pc of the previous region
        append = out.append
        for start, end, pc in self._iter_regions():
            if start in func_at:
                f = func_at[start]
                append(f"{chr(10) if out or emitted else ''}{f.name}:")
                first = bisect.bisect_left(pcs, f.start_pc)
                order, shown = pcs[first:bisect.bisect_left(pcs, _func_end(prog, f.start_pc))], 0
            if start in runtime_at:
                append(f"\n{runtime_at[start]}:  ; runtime routine")
                order, shown = [], 0
            k = bisect.bisect_left(order, pc) if pc is not None else len(order)
            listed = k < len(order) and order[k] == pc
            if listed and k >= shown:
                # pcs with no native code of their own (a mark shared with the next
                # instruction) are listed with it, so every eBPF instruction shows once
                for i in range(shown, k + 1):
                    p = order[i]
                    li = lines_at.get(p)
                    if li is not None:
                        append(format_source(li, linum))
                    insn = insns[first + i]
                    text = texts.get(insn)
                    if text is None:
                        if len(texts) > _TEXT_CACHE:
                            texts.clear()
                        text = texts[insn] = disasm(insn, lossless=True)
                    append(f"; {p:4d}: {text}")
                shown = k + 1
            elif listed and pc != prev:
                append(f";       (pc {pc}, continued)")      # code placed out of line
            prev = pc
            while nxt is not None and nxt[0] < end:
                o, b, text = nxt
                nxt = next(native, None)
                if roff < _NEVER and (nxt is None or roff < nxt[0]):
                    # the relocations inside this instruction (up to the next one's start)
                    names: list[str] = []
                    stop = nxt[0] if nxt is not None else _NEVER
                    while ri < len(relocs) and relocs[ri].offset < stop:
                        r = relocs[ri]
                        ri += 1
                        if r.offset < o:
                            continue            # before the first instruction
                        name = names_of.get(r.sym)
                        if name is None:
                            name = names_of[r.sym] = self.symbol_name(r.sym)
                        if name not in names:
                            names.append(name)
                    roff = relocs[ri].offset if ri < len(relocs) else _NEVER
                    if names:
                        ref = "".join(f"  <{n}>" for n in names)
                        append(f"  {o:4x}:\t{b.hex(' '):<24} {text}{ref}" if opcodes
                               else f"  {o:4x}:\t{text}{ref}")
                        continue
                name = targets.get(text[text.rfind(" ") + 1:])   # a call or jump to a function
                ref = f"  <{name}>" if name is not None else ""
                append(f"  {o:4x}:\t{b.hex(' '):<24} {text}{ref}" if opcodes
                       else f"  {o:4x}:\t{text}{ref}")
            if len(out) >= 4096:
                yield "\n".join(out) + "\n"
                out.clear()
                emitted = True
        if out:
            yield "\n".join(out) + "\n"
        elif not emitted:
            yield "\n"

def source_lines(prog: Program) -> dict:
    """eBPF pc -> the LineInfo to show above it: the BTF line_info record of the
    first instruction of each run of instructions from one source line, per
    function (so a line shows once where it starts, as `llvm-objdump -S` shows
    it; bpftool repeats a line for each column record).  Empty lines are skipped."""
    out = {}
    records = sorted(prog.line_info, key=lambda li: li.pc)
    for f in prog.functions:
        last = None
        for li in records:
            if not f.start <= li.pc < f.end or not li.text.strip():
                continue
            key = (li.file, li.line)
            if key != last and li.pc not in out:
                out[li.pc] = li
            last = key
    return out


def format_source(li, linum: bool = False) -> str:
    """`; text` or, with `linum`, `; text [file:F line_num:L line_col:C]` (bpftool's form)."""
    loc = f" [file:{li.file} line_num:{li.line} line_col:{li.col}]" if linum else ""
    return f"; {li.text.strip()}{loc}"


def split_operands(ops: str) -> list[str]:
    """Operands at bracket depth 0: `{r4, r5}`, `[r0, #4]!` and `dword ptr [rbp - 4]` stay whole."""
    out, depth, cur = [], 0, ""
    for ch in ops:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def image_json(image: Image) -> dict:
    """`compile --json`: the image and, per function, its eBPF and native instructions.

    The per-function shape follows `bpftool prog dump jited --json`: `name`, and
    `insns` of native instructions, each with `pc` (its offset in the image, hex),
    `operation`, `operands`, `opcodes` (bytes as "0x.." strings) and, on the first
    instruction of a source line, `src`, `file`, `line_num`, `line_col`.  Added:
    `bpf_pc` on each native instruction, `refs` (symbols it refers to), and
    `bpf_insns` (pc, llvm-objdump text, opcodes as hex, the same source fields).
    """
    from jit.asm import disasm  # local: start-up (only listings need the assembler)
    prog = image.program
    native = image.disassemble()
    lines_at = source_lines(prog)
    refs = image.references(native)

    def src(li) -> dict:
        return {"src": li.text.strip(), "file": li.file, "line_num": li.line, "line_col": li.col}

    funcs = []
    for f in image.funcs:
        end = f.offset + f.size
        ebpf = []
        for pc, insn in zip(prog.pcs, prog.insns):
            if not f.start_pc <= pc < _func_end(prog, f.start_pc):
                continue
            entry = {"pc": pc, "text": disasm(insn, lossless=True),
                     "opcodes": encode([insn], prog.byteorder).hex()}
            if pc in lines_at:
                entry.update(src(lines_at[pc]))
            ebpf.append(entry)
        insns = []
        line_pcs = sorted(p for p in lines_at if f.start_pc <= p < _func_end(prog, f.start_pc))
        next_line = 0
        for off, raw, text in native:
            if not f.offset <= off < end:
                continue
            mnemonic, _, ops = text.partition(" ")
            bpf_pc = image.pc_of(image.base + off)
            entry: dict = {}
            # a source line goes on the first native instruction of its eBPF pc (or of the
            # next pc that has code, for a pc with none of its own), as bpftool puts it
            li = None
            while (bpf_pc is not None and next_line < len(line_pcs)
                   and line_pcs[next_line] <= bpf_pc):
                li = lines_at[line_pcs[next_line]]
                next_line += 1
            if li is not None:
                entry.update(src(li))
            entry.update({"pc": hex(off), "bpf_pc": bpf_pc, "operation": mnemonic,
                          "operands": split_operands(ops),
                          "opcodes": [f"0x{b:02x}" for b in raw]})
            if off in refs:
                entry["refs"] = refs[off]
            insns.append(entry)
        funcs.append({"name": f.name, "offset": f.offset, "size": f.size,
                      "start_pc": f.start_pc, "insns": insns, "bpf_insns": ebpf})
    return {"arch": image.arch, "program": prog.name, "section": prog.section,
            "file": prog.file, "base": image.base, "size": len(image.code),
            "functions": funcs, **({"seed": image.seed} if image.seed is not None else {}),
            "runtime": [{"name": n, "offset": o, "size": s} for n, o, s in image.runtime],
            "relocs": [{"offset": r.offset, "kind": r.kind, "symbol": image.symbol_name(r.sym)}
                       for r in sorted(image.relocs, key=lambda r: r.offset)]}


def _helper_names() -> dict[int, str]:
    """helper id -> kernel name (bpf_<name> is the kernel function); the helpers this
    project implements beyond the uapi ids (LD_ABS's internal ones) by their own names."""
    from jit.helpers import KERNEL      # local: start-up (a listing-free compile skips it)
    names = dict(HELPER_NAMES)
    names.update({h.id: h.name for h in KERNEL.values() if h.id not in names})
    return names


def _func_end(prog: Program, start: int) -> int:
    for f in prog.functions:
        if f.start == start:
            return f.end
    return start
