"""What a loaded eBPF program is, whatever it was loaded from.

A `Program` is one entry point with everything it can reach, laid out the way
libbpf hands it to the kernel: one flat instruction array (the entry function
first, then the subprograms it calls), LDDW map references already rewritten
to map indices, and the maps it uses.  `Object` is what one ELF file holds: its
programs and their shared maps.  Loaders (`jit.elf`, raw bytecode) build these;
everything later only reads them.

LDDW after loading (as libbpf rewrites them for the kernel):
  src=0 (IMM)        imm is the constant
  src=1 (MAP_FD)     low 32 bits of imm = index into Object.maps
  src=2 (MAP_VALUE)  low 32 bits = map index, high 32 bits = offset into the value
  src=4 (FUNC)       low 32 bits = signed slot offset: target = pc + 1 + imm
"""
from __future__ import annotations

from dataclasses import dataclass, field

from jit.errors import BpfjitError, IsaError
from jit.isa import Insn, decode, slot_pcs


@dataclass(frozen=True)
class Function:
    """A function inside a Program's flat code: slots [start, end)."""
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class LineInfo:
    """A BTF line_info record resolved to text; `pc` is the slot in the Program's code."""
    pc: int
    file: str
    line: int
    col: int
    text: str


@dataclass
class MapDef:
    """A map as the program sees it (kernel uapi map type numbers)."""
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    inner: "MapDef | None" = None
    # initial contents for global-data maps (.data/.rodata/.bss): the one value
    initial: bytes | None = None
    # the section a global-data map came from, None for BTF/legacy maps
    section: str | None = None
    # for a prog array: initial slots index -> program name (from .maps initialisers)
    prog_slots: dict[int, str] = field(default_factory=dict)


@dataclass
class Program:
    name: str
    insns: list[Insn]
    functions: list[Function]
    prog_type: str = "raw"             # xdp, socket_filter, sched_cls, kprobe, tracepoint, ..., raw
    section: str = ""
    byteorder: str = "little"
    file: str = "<bytes>"
    maps: list[MapDef] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    license: str = ""

    def __post_init__(self) -> None:
        self._pcs: list[int] | None = None

    @property
    def pcs(self) -> list[int]:
        """Slot number of each instruction in `insns`."""
        if self._pcs is None or len(self._pcs) != len(self.insns):
            self._pcs = slot_pcs(self.insns)
        return self._pcs

    @property
    def n_slots(self) -> int:
        return self.functions[-1].end if self.functions else 0

    def function_at(self, pc: int) -> Function:
        for f in self.functions:
            if f.start <= pc < f.end:
                return f
        raise KeyError(pc)


@dataclass
class Object:
    """Everything one file holds: programs share its maps."""
    file: str
    programs: list[Program]
    maps: list[MapDef]
    byteorder: str = "little"
    license: str = ""

    def program(self, name: str | None = None, section: str | None = None) -> Program:
        for p in self.programs:
            if (name is None or p.name == name) and (section is None or p.section == section):
                return p
        have = ", ".join(f"{p.name} ({p.section})" for p in self.programs)
        if not self.programs:
            raise BpfjitError("the object has no programs", file=self.file)
        want = f"program {name!r}" if name else f"section {section!r}"
        raise BpfjitError(f"no {want}; the object has: {have}", file=self.file)


def functions_from_calls(insns: list[Insn], entry_name: str = "main") -> list[Function]:
    """Split raw bytecode into functions at the targets of local calls (and LDDW FUNC)."""
    pcs = slot_pcs(insns)
    n = pcs[-1] + insns[-1].slots if insns else 0
    starts = {0}
    for pc, insn in zip(pcs, insns):
        if insn.is_local_call or (insn.is_lddw and insn.src == 4):
            tgt = pc + 1 + _s32(insn.imm)
            if 0 <= tgt < n:
                starts.add(tgt)
    ordered = sorted(starts)
    funcs = []
    for i, s in enumerate(ordered):
        e = ordered[i + 1] if i + 1 < len(ordered) else n
        funcs.append(Function(entry_name if s == 0 else f"func_{s}", s, e))
    return funcs


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def from_bytecode(data: bytes, *, byteorder: str = "little", file: str = "<bytes>",
                  name: str = "main") -> Program:
    """A Program from raw bytecode (a file of 8-byte slots)."""
    try:
        insns = decode(data, byteorder)
    except IsaError as e:
        raise e.where(file=file, func=name)
    if not insns:
        raise IsaError("empty program", file=file, func=name, pc=0)
    return Program(name=name, insns=insns, functions=functions_from_calls(insns, name),
                   byteorder=byteorder, file=file)
