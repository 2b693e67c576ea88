"""`Image`: the machine code of one program for one target, and its writers.

An Image is what a backend produced plus what people need to read it: the
entry offset of each function, the native-offset <-> eBPF-pc map, symbols and
relocations.  Writers turn it into raw bytes (`bin`), hex text, or a listing
that interleaves each eBPF instruction with its native instructions the way
`bpftool prog dump jited` does.  (The ELF object writer lives in
`jit.elfout`.)  Decoding native code uses capstone, described by the backend's
RunSpec.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from jit.program import Program


@dataclass
class Image:
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

    def __post_init__(self) -> None:
        self._offs = [o for o, _ in self.pc_map]

    @property
    def entry(self) -> int:
        return self.base + self.funcs[0].offset

    def pc_of(self, addr: int) -> int | None:
        """The eBPF pc whose native code contains `addr` (absolute), or None."""
        off = addr - self.base
        if not 0 <= off < len(self.code):
            return None
        i = bisect.bisect_right(self._offs, off) - 1
        if i < 0:
            return None
        return self.pc_map[i][1]

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
        import capstone
        spec = self.backend.run
        md = capstone.Cs(spec.cs_arch, spec.cs_mode)
        end = len(self.code) if end is None else end
        out = []
        off = start
        while off < end:
            got = False
            for insn in md.disasm(self.code[off:end], self.base + off):
                out.append((insn.address - self.base, bytes(insn.bytes),
                            f"{insn.mnemonic} {insn.op_str}".strip()))
                off = insn.address - self.base + insn.size
                got = True
            if off < end:   # capstone stops at bytes it cannot decode: show them as data
                step = 4 if self.backend.caps.word_bits == 32 or self.arch.startswith("mips") else 1
                out.append((off, self.code[off:off + step], f".byte {self.code[off:off + step].hex()}"))
                off += step
            elif not got:
                break
        return out

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
        out = []
        marks = self.pc_map
        n = len(self.code)
        bounds = sorted({f.offset for f in self.funcs} | {r[1] for r in self.runtime})
        cuts = sorted(set([o for o, _ in marks] + bounds + [n]))
        pc_at = {}
        for o, pc in marks:
            pc_at[o] = pc       # last mark at an offset wins (labels may share it)
        cur = None
        for i, o in enumerate(cuts[:-1]):
            if o in pc_at:
                cur = pc_at[o]
            elif o in bounds:
                cur = None
            out.append((o, cuts[i + 1], cur))
        return out

    def listing(self, *, source: bool = True, linum: bool = False, opcodes: bool = False) -> str:
        """eBPF instructions interleaved with native code, function by function."""
        from jit.asm import disasm
        prog = self.program
        by_pc = dict(zip(prog.pcs, prog.insns))
        lines_at = {}
        for li in prog.line_info:
            lines_at.setdefault(li.pc, li)
        native = self.disassemble()
        starts = [o for o, _, _ in native]
        out: list[str] = []
        func_at = {f.offset: f for f in self.funcs}
        runtime_at = {off: name for name, off, _ in self.runtime}
        shown_pc = None
        for start, end, pc in self.regions():
            if start in func_at:
                f = func_at[start]
                out.append(f"{'' if not out else chr(10)}{f.name}:")
            if start in runtime_at:
                out.append(f"\n{runtime_at[start]}:  ; runtime routine")
            if pc is not None and pc != shown_pc:
                li = lines_at.get(pc)
                if source and li is not None:
                    loc = f" [file:{li.file} line_num:{li.line} line_col:{li.col}]" if linum else ""
                    out.append(f"; {li.text.strip()}{loc}")
                insn = by_pc.get(pc)
                if insn is not None:
                    out.append(f"; {pc:4d}: {disasm(insn, lossless=True)}")
                shown_pc = pc
            i = bisect.bisect_left(starts, start)
            while i < len(native) and native[i][0] < end:
                o, b, text = native[i]
                hexb = f"{b.hex(' '):<24} " if opcodes else ""
                out.append(f"  {o:4x}:\t{hexb}{text}")
                i += 1
        return "\n".join(out) + "\n"


def image_json(image: Image) -> dict:
    """`compile --json`: per function its eBPF instructions, native instructions and source
    lines, following the shape of `bpftool prog dump jited --json` where it fits
    (`name`, `insns` with `pc`, `operation`, `operands`, `opcodes`; `src`, `file`,
    `line_num`, `line_col`)."""
    from jit.asm import disasm
    from jit.isa import encode
    prog = image.program
    native = image.disassemble()
    lines_at = {}
    for li in prog.line_info:
        lines_at.setdefault(li.pc, li)
    funcs = []
    for idx, f in enumerate(image.funcs):
        end = f.offset + f.size
        ebpf = []
        for pc, insn in zip(prog.pcs, prog.insns):
            if not (f.start_pc <= pc < _func_end(prog, f.start_pc)):
                continue
            entry = {"pc": pc, "text": disasm(insn, lossless=True),
                     "opcodes": encode([insn], prog.byteorder).hex()}
            li = lines_at.get(pc)
            if li is not None:
                entry.update(src=li.text.strip(), file=li.file, line_num=li.line, line_col=li.col)
            ebpf.append(entry)
        insns = []
        for off, raw, text in native:
            if not f.offset <= off < end:
                continue
            mnemonic, _, ops = text.partition(" ")
            insns.append({"pc": hex(off), "bpf_pc": image.pc_of(image.base + off),
                          "operation": mnemonic,
                          "operands": [o.strip() for o in ops.split(",")] if ops else [],
                          "opcodes": [f"0x{b:02x}" for b in raw]})
        funcs.append({"name": f.name, "offset": f.offset, "size": f.size,
                      "bpf_insns": ebpf, "insns": insns})
    return {"arch": image.arch, "base": image.base, "size": len(image.code),
            "program": prog.name, "functions": funcs,
            "runtime": [{"name": n, "offset": o, "size": s} for n, o, s in image.runtime]}


def _func_end(prog: Program, start: int) -> int:
    for f in prog.functions:
        if f.start == start:
            return f.end
    return start
