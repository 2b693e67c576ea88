"""Each output checked by the external tool that reads it.

- ELF objects (`--format elf`): `readelf -h` names the machine and flags the
  psABI asks for (and GNU as writes), `readelf -a`/`llvm-readelf-19 -a` read
  them without a warning, the target's GNU objdump disassembles them to the
  instructions of our listing (bytes and mnemonic at each offset), `objdump -dr`
  shows a relocation against the right symbol in the code of every helper
  call and map / global-data / function reference, and the target's GNU ld,
  linking the object at the image's address with each symbol at its run-time
  address, reproduces the code the runner executes byte for byte.
- Listings: the C source lines stand above the same eBPF instructions as in
  `llvm-objdump-19 -S`; `--linum` locations name the file line that holds the
  text.
- `compile --json`: parses, has the documented keys, carries the bytes objdump
  sees, and puts source lines where llvm-objdump -S does.
- The Python API: importable from `jit`, documented, and the README's example runs.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import backends
from jit import driver

ROOT = Path(__file__).resolve().parent.parent
PROGS = ROOT / "tests" / "progs"
BUILD = PROGS / "build"

# Fixtures that between them call helpers, reference maps and global data (with
# non-zero offsets), call and take the address of local functions, and tail-call.
FIXTURES = ("xdp_firewall", "global_data", "calls_deep", "bpf_loop", "tail_calls", "tc_nat")
# Every per-target fact below comes from the registry (Target.tools, Target.elf): a
# new backend gets these tests by registering.
TARGETS = {t.name: t for t in backends.targets()}
ARCHES = tuple(TARGETS)
# target -> the fixture flavour in its byte order
FLAVOUR = {name: "el3" if t.byteorder == "little" else "eb3" for name, t in TARGETS.items()}
# one target of each byte order, for the tests that need not run on all of them
ONE_PER_ORDER = tuple({t.byteorder: name for name, t in reversed(TARGETS.items())}.values())

# uapi helper numbers (include/uapi/linux/bpf.h) of the helpers the fixtures call
HELPER_NAMES = {1: "map_lookup_elem", 2: "map_update_elem", 9: "skb_store_bytes",
                10: "l3_csum_replace", 11: "l4_csum_replace", 26: "skb_load_bytes",
                28: "csum_diff", 164: "for_each_map_elem", 181: "loop", 189: "xdp_load_bytes"}
BPF_TAIL_CALL = 12          # a jump inside native code, not a call of anything external

# GNU objdump and capstone spell some instructions differently; same encoding
MNEMONIC_ALIASES = {("li", "ori"), ("dnegu", "dsubu"), ("negu", "subu"), ("nor", "not"),
                    ("move", "or"), ("move", "daddu"), ("move", "addu"), ("push", "str"),
                    ("pop", "ldr"), ("push", "stmdb"), ("pop", "ldm"), ("b", "beq"),
                    ("nop", "sll"), ("sll", "nop"), ("dneg", "dsub"),
                    # AArch64: a relocated movz holds 0 in the object (GNU prints movz),
                    # the linked address in the listing (capstone prints its mov alias)
                    ("movz", "mov"),
                    # RISC-V: objdump -M no-aliases (Toolchain.objdump_flags) vs capstone's aliases
                    ("addi", "mv"), ("addi", "li"), ("addi", "nop"), ("jalr", "ret"),
                    ("jalr", "jr"), ("addiw", "sext.w"), ("sub", "neg"), ("subw", "negw"),
                    ("jal", "j"), ("beq", "beqz"), ("bne", "bnez"), ("blt", "bltz"),
                    ("blt", "bgtz"), ("bge", "bgez"), ("bge", "blez"), ("xori", "not")}


# relocations whose field spans more than the instruction at their offset
RELOC_SPAN = {"R_RISCV_CALL_PLT": 8}        # auipc + jalr


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def binutil(arch: str, what: str) -> str:
    """The target's GNU binutils program (on a host of that machine, the host's if the
    cross one is missing)."""
    tools = TARGETS[arch].tools
    cross = tools.binutil(what)
    if shutil.which(cross):
        return cross
    if platform.machine() in tools.host and shutil.which(what):
        return what
    pytest.skip(f"{cross} is not installed")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


@functools.lru_cache(maxsize=None)
def compiled(name: str, arch: str, program: str | None = None):
    """(Program, Image, ELF bytes) for a fixture; skips if the backend is not there yet."""
    import backends
    try:
        backends.get(arch)
    except (ImportError, AttributeError) as e:
        pytest.skip(f"backend {arch} is not available: {e}")
    from jit.elfout import write_elf
    _, prog = driver.load(str(BUILD / f"{name}.{FLAVOUR[arch]}.o"), program=program)
    image = driver.compile_program(prog, arch)
    return prog, image, write_elf(image)


def object_file(tmp_path: Path, name: str, arch: str) -> Path:
    out = tmp_path / f"{name}.{arch}.o"
    out.write_bytes(compiled(name, arch)[2])
    return out


CASES = [(name, arch) for name in FIXTURES for arch in ARCHES]


# ------------------------------------------------------------------ listing parser

LISTING_INSN = re.compile(r"^; +(\d+): (.*)$")
LISTING_NATIVE = re.compile(r"^  +([0-9a-f]+):\t((?:[0-9a-f]{2} )+) *(\S+)(.*)$")


def parse_listing(text: str):
    """(source line above each pc, {native offset: (bytes, mnemonic)}, {pc: native offsets}).

    A run of eBPF instructions with no native lines between them shares the native
    code that follows (a pc with no code of its own is listed with the next one)."""
    source: dict[int, str] = {}
    native: dict[int, tuple[bytes, str]] = {}
    code_of: dict[int, list[int]] = {}
    pending_src = None
    group: list[int] = []
    after_native = True
    for line in text.splitlines():
        m = LISTING_NATIVE.match(line)
        if m:
            off = int(m[1], 16)
            native[off] = (bytes.fromhex(m[2].replace(" ", "")), m[3])
            for pc in group:
                code_of[pc].append(off)
            after_native = True
            continue
        m = LISTING_INSN.match(line)
        if m:
            pc = int(m[1])
            if after_native:
                group = []
                after_native = False
            group.append(pc)
            code_of[pc] = []
            if pending_src is not None:
                source[pc] = pending_src
                pending_src = None
            continue
        if re.match(r"^; +\(pc \d+, continued\)$", line):
            group, after_native = [int(re.search(r"\d+", line)[0])], False
            code_of.setdefault(group[0], [])
        elif line.startswith("; "):
            pending_src = line[2:]
        elif line.endswith(":") and not line.startswith(" "):
            group, after_native = [], True          # a function header
    return source, native, code_of


# ------------------------------------------------------------------ ELF: headers

@pytest.mark.parametrize("arch", ARCHES)
def test_readelf_header_names_the_target(tmp_path, arch):
    path = object_file(tmp_path, "xdp_firewall", arch)
    out = run([binutil(arch, "readelf"), "-h", str(path)])
    assert out.returncode == 0 and out.stderr == ""
    fields = dict(re.findall(r"^\s+([^:]+):\s+(.*?)\s*$", out.stdout, re.M))
    klass, data, machine, flags = TARGETS[arch].tools.readelf
    assert fields["Class"] == klass
    assert fields["Data"] == f"2's complement, {data}"
    assert fields["Type"].startswith("REL ")
    assert fields["Machine"] == machine
    assert fields["Flags"] == flags


@pytest.mark.parametrize("arch", ARCHES)
def test_e_flags_match_gnu_as(tmp_path, arch):
    """e_flags are GNU as's for the target's machine flags (with its directives, e.g.
    MIPS `.set noreorder`: we fill our own delay slots), plus what the target states
    in e_flags that gas keeps elsewhere (ElfSpec.flags_beyond_gas: ARM's float ABI,
    which gas keeps in .ARM.attributes)."""
    from elftools.elf.elffile import ELFFile
    target = TARGETS[arch]
    extra = target.elf.flags_beyond_gas
    src = tmp_path / "a.s"
    src.write_text(target.tools.as_prelude + "nop\n")
    ref = tmp_path / "ref.o"
    out = run([binutil(arch, "as"), *target.tools.as_flags, str(src), "-o", str(ref)])
    assert out.returncode == 0, out.stderr
    ours = object_file(tmp_path, "xdp_firewall", arch)
    with open(ref, "rb") as a, open(ours, "rb") as b:
        want, got = ELFFile(a).header, ELFFile(b).header
        assert got.e_flags == want.e_flags | extra
        assert (got.e_machine, got.e_ident.EI_CLASS, got.e_ident.EI_DATA) == \
            (want.e_machine, want.e_ident.EI_CLASS, want.e_ident.EI_DATA)


@pytest.mark.parametrize("name,arch", CASES)
def test_readelf_reads_without_warnings(tmp_path, name, arch):
    path = object_file(tmp_path, name, arch)
    readers = [[binutil(arch, "readelf"), "-a", "-W", str(path)]]
    if shutil.which("llvm-readelf-19"):
        readers.append(["llvm-readelf-19", "-a", str(path)])
    for cmd in readers:
        out = run(cmd)
        assert out.returncode == 0, (cmd[0], out.stderr)
        assert out.stderr == "", (cmd[0], out.stderr)
        assert "warning" not in out.stdout.lower(), cmd[0]
    # the symbol table names each function, defined in .text, with its size
    out = run([binutil(arch, "readelf"), "-s", "-W", str(path)])
    prog, image, _ = compiled(name, arch)
    syms = {cols[7]: cols for cols in (line.split() for line in out.stdout.splitlines())
            if len(cols) == 8 and cols[0].endswith(":")}
    for f in prog.functions:
        assert f.name in syms, f.name
        value, size, typ, bind, _, ndx = syms[f.name][1:7]
        assert (typ, bind, ndx) == ("FUNC", "GLOBAL", "1")
        assert int(size) > 0


# ------------------------------------------------------------------ ELF: disassembly

RELOC_IN_LINE = re.compile(r"\b([0-9a-f]+): (R_\w+)\t([^\s+]+?)(?:[+-]0x[0-9a-f]+)?(?=\s|$)")


def objdump_insns(arch: str, path: Path, relocs: bool = False):
    """{offset: (bytes as the target stores them, mnemonic)}, {offset: [(type, symbol)]}."""
    tools = TARGETS[arch].tools
    cmd = [binutil(arch, "objdump"), "-d", "-w", *tools.objdump_flags]
    out = run(cmd + (["-r"] if relocs else []) + [str(path)])
    assert out.returncode == 0 and out.stderr == "", out.stderr
    insns: dict[int, tuple[bytes, str]] = {}
    rels: dict[int, list[tuple[str, str]]] = {}
    word = TARGETS[arch].insn_align > 1          # RISC objdumps print words, not bytes
    order = TARGETS[arch].byteorder
    for line in out.stdout.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S+)", line)
        if m:
            hexed = m[2].replace(" ", "")
            raw = (int(hexed, 16).to_bytes(len(hexed) // 2, order) if word
                   else bytes.fromhex(hexed))
            insns[int(m[1], 16)] = (raw, m[3])
        # with -w, relocations follow the instruction on its line (MIPS: one line per type)
        for r in RELOC_IN_LINE.finditer(line):
            if r[2] != "R_MIPS_NONE":
                rels.setdefault(int(r[1], 16), []).append((r[2], r[3]))
    return insns, rels


def same_mnemonic(arch: str, gnu: str, ours: str) -> bool:
    if gnu == ours:
        return True
    # GNU spells the unsigned conditions cc/cs (ARM), capstone lo/hs
    gnu = re.sub(r"cc$", "lo", re.sub(r"cs$", "hs", gnu))
    if gnu == ours:
        return True
    return (gnu, ours) in MNEMONIC_ALIASES


@pytest.mark.parametrize("name,arch", CASES)
def test_objdump_disassembles_the_object_like_the_listing(tmp_path, name, arch):
    path = object_file(tmp_path, name, arch)
    _, image, _ = compiled(name, arch)
    _, ours, _ = parse_listing(image.listing(opcodes=True))
    theirs, rels = objdump_insns(arch, path, relocs=True)
    assert sorted(theirs) == sorted(ours)            # the same instruction boundaries
    relocated = set()
    # bytes a relocation's field spans from its offset (the rest: inside one instruction)
    span = {r: max(RELOC_SPAN.get(t, 1) for t, _ in v) for r, v in rels.items()}
    for off, (raw, _) in ours.items():
        if any(off < r + span[r] and r < off + len(raw) for r in rels):
            relocated.add(off)
    assert relocated, "the fixture references something"
    for off in sorted(ours):
        raw, mnemonic = ours[off]
        their_raw, their_mnemonic = theirs[off]
        assert same_mnemonic(arch, their_mnemonic, mnemonic), (hex(off), their_mnemonic, mnemonic)
        if off not in relocated:     # a relocated field holds 0 / the addend, not the address
            assert their_raw == raw, hex(off)


def expected_references(prog, image) -> dict[int, str]:
    """eBPF pc -> the symbol its native code must refer to: helpers by their kernel
    names, maps by name, global data by its map's name, functions by name."""
    pcs = dict(zip(prog.pcs, prog.insns))
    out = {}
    for pc, insn in pcs.items():
        if insn.opcode == 0x85 and insn.src == 0 and insn.imm != BPF_TAIL_CALL:
            assert insn.imm in HELPER_NAMES, f"add helper {insn.imm} to HELPER_NAMES"
            out[pc] = f"bpf_{HELPER_NAMES[insn.imm]}"
        elif insn.opcode == 0x18 and insn.src in (1, 2):
            m = prog.maps[insn.imm & 0xFFFF_FFFF]
            if insn.src == 1:
                out[pc] = f"{m.name}.map" if m.section else m.name
            else:
                out[pc] = m.name if m.section else f"{m.name}.value"
        elif insn.opcode == 0x18 and insn.src == 4:
            target = pc + 1 + ((insn.imm & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000
            out[pc] = next(f.name for f in prog.functions if f.start == target)
    return out


@pytest.mark.parametrize("name,arch", CASES)
def test_objdump_shows_a_relocation_at_each_reference(tmp_path, name, arch):
    path = object_file(tmp_path, name, arch)
    prog, image, _ = compiled(name, arch)
    _, native, code_of = parse_listing(image.listing(opcodes=True))
    _, rels = objdump_insns(arch, path, relocs=True)
    want = expected_references(prog, image)
    assert want
    for pc, symbol in want.items():
        spans = [(off, off + len(native[off][0])) for off in code_of[pc]]
        found = [(typ, sym) for at, rs in rels.items() for typ, sym in rs
                 if any(a <= at < b for a, b in spans)]
        assert any(sym == symbol for _, sym in found), (pc, symbol, found)
    types = {typ for rs in rels.values() for typ, _ in rs}
    assert types <= {rel.name for rel in TARGETS[arch].elf.relocs.values()}


@pytest.mark.parametrize("name,arch", CASES)
def test_linking_the_object_reproduces_the_runners_code(tmp_path, name, arch):
    """ld resolves every relocation to the address the runner gave the symbol: so each
    relocation has the right type, symbol and addend (REL: the addend in the field)."""
    from elftools.elf.elffile import ELFFile
    path = object_file(tmp_path, name, arch)
    prog, image, _ = compiled(name, arch)
    link = driver.linker(prog)
    defs = []
    for r in image.relocs:
        if r.sym.kind.name != "FUNC":
            defs += ["--defsym", f"{image.symbol_name(r.sym)}={link(r.sym):#x}"]
    out_path = tmp_path / "linked"
    out = run([binutil(arch, "ld"), *TARGETS[arch].tools.ld_flags, "-o", str(out_path),
               f"-Ttext={image.base:#x}", "-e", image.funcs[0].name, *defs, str(path)])
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr, out.stderr
    with open(out_path, "rb") as f:
        elf = ELFFile(f)
        text = elf.get_section_by_name(".text")
        assert text["sh_addr"] == image.base
        assert text.data() == image.code


# ------------------------------------------------------------------ source lines

def llvm_objdump_source(obj: Path) -> dict[str, dict[int, tuple[str, int, str]]]:
    """function -> {instruction index in it: (file, line, source text)} where
    `llvm-objdump-19 -S -l` shows a source line.  A line shown again after a
    line-0 gap in DWARF is dropped: BTF line info, which listings use, has no
    line-0 records, so for it the line never changed."""
    out = run([tool("llvm-objdump-19"), "-S", "-l", "--no-show-raw-insn", str(obj)], cwd=PROGS)
    assert out.returncode == 0, out.stderr
    funcs: dict[str, dict[int, tuple[str, int, str]]] = {}
    cur: dict | None = None
    base = where = pending = last = None
    for line in out.stdout.splitlines():
        m = re.match(r"^([0-9a-f]{16}) <(.+)>:$", line)
        if m:
            cur, base, where, pending, last = funcs.setdefault(m[2], {}), int(m[1], 16) // 8, \
                None, None, None
            continue
        if cur is None:
            continue
        m = re.match(r"^; (\S+):(\d+)$", line)
        if m:
            where = (m[1], int(m[2]))
            continue
        if re.match(r"^; [\w.]+\(\):$", line):         # the inlined function's name
            continue
        if line.startswith("; "):
            pending = line[2:].strip()
            continue
        m = re.match(r"^\s*(\d+):", line)
        if m and pending is not None:
            if where != last:
                cur[int(m[1]) - base] = (*where, pending)
            last, pending = where, None
    return funcs


def normalise_entry(ours: dict, theirs: dict) -> None:
    """At a function's first instruction DWARF (llvm-objdump) names the line of its `{`
    while BTF (bpftool, our listing) names its declaration: accept either there."""
    for name, lines in ours.items():
        mine = lines.get(0)
        text = mine[-1] if isinstance(mine, tuple) else mine or ""
        there = theirs.get(name, {}).get(0)
        if there and there[2] == "{" and re.search(rf"\b{re.escape(name)}\(", text):
            theirs[name][0] = mine if isinstance(mine, tuple) else (*there[:2], mine)


def texts(lines: dict) -> dict:
    return {k: v[2] for k, v in lines.items()}


@pytest.mark.parametrize("name,arch", [(n, a) for n in FIXTURES + ("xdp_lb", "loops")
                                       for a in ONE_PER_ORDER])
def test_listing_source_lines_match_llvm_objdump(name, arch):
    prog, image, _ = compiled(name, arch)
    source, _, _ = parse_listing(image.listing())
    ours: dict[str, dict[int, str]] = {}
    for f in prog.functions:
        ours[f.name] = {pc - f.start: text for pc, text in source.items()
                        if f.start <= pc < f.end}
    theirs = llvm_objdump_source(BUILD / f"{name}.{FLAVOUR[arch]}.o")
    normalise_entry(ours, theirs)
    assert sum(map(len, ours.values())) > 5
    for f in prog.functions:
        assert ours[f.name] == texts(theirs[f.name]), f.name


def test_linum_locations_match_llvm_objdump_and_the_source():
    prog, image, _ = compiled("calls_deep", ARCHES[0])
    theirs = llvm_objdump_source(BUILD / f"calls_deep.{FLAVOUR[ARCHES[0]]}.o")
    listing = image.listing(linum=True)
    located = re.findall(r"^; (.*) \[file:(\S+) line_num:(\d+) line_col:(\d+)\]\n; +(\d+): ",
                         listing, re.M)
    assert len(located) == listing.count("[file:") > 10
    for text, file, line, col, pc in located:
        f = prog.function_at(int(pc))
        if int(pc) != f.start:                 # (a function's first line: see normalise_entry)
            assert theirs[f.name][int(pc) - f.start] == (file, int(line), text)
        source = (PROGS / file).read_text().splitlines()[int(line) - 1]
        assert source.strip() == text
        assert int(col) <= len(source) + 1


@pytest.mark.parametrize("arch", ARCHES)
def test_listing_shows_every_ebpf_instruction_once(arch):
    prog, image, _ = compiled("calls_deep", arch)
    shown = [int(m) for m in re.findall(r"^; +(\d+): ", image.listing(), re.M)]
    assert shown == sorted(prog.pcs)


# ------------------------------------------------------------------ compile --json

def compile_json(name: str, arch: str, *extra: str) -> dict:
    out = run([sys.executable, "-m", "jit.cli", "compile", str(BUILD / f"{name}.{FLAVOUR[arch]}.o"),
               "--arch", arch, "--json", *extra], cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout
    doc = json.loads(out.stdout)
    # an object with several programs gives {"programs": [...]}: these tests read the first
    return doc["programs"][0] if "programs" in doc else doc


@pytest.mark.parametrize("arch", ARCHES)
def test_compile_json_has_the_documented_shape(tmp_path, arch):
    compiled("calls_deep", arch)              # skip if the backend is missing
    doc = compile_json("calls_deep", arch)
    assert {"arch", "program", "section", "file", "base", "size", "functions", "runtime",
            "relocs"} <= set(doc)
    assert doc["arch"] == arch
    prog, image, _ = compiled("calls_deep", arch)
    assert [f["name"] for f in doc["functions"]] == [f.name for f in prog.functions]
    theirs, _ = objdump_insns(arch, object_file(tmp_path, "calls_deep", arch), relocs=True)
    relocated = {r["offset"] for r in doc["relocs"]}
    for f in doc["functions"]:
        assert {"name", "offset", "size", "start_pc", "insns", "bpf_insns"} <= set(f)
        for insn in f["insns"]:
            assert {"pc", "bpf_pc", "operation", "operands", "opcodes"} <= set(insn)
            assert re.fullmatch(r"0x[0-9a-f]+", insn["pc"])
            assert all(re.fullmatch(r"0x[0-9a-f]{2}", b) for b in insn["opcodes"])
            assert isinstance(insn["operands"], list)
            off = int(insn["pc"], 16)
            raw = bytes(int(b, 16) for b in insn["opcodes"])
            if not any(off <= r < off + len(raw) for r in relocated):
                assert theirs[off][0] == raw, hex(off)
            if "src" in insn:
                assert {"file", "line_num", "line_col"} <= set(insn)
        for b in f["bpf_insns"]:
            assert {"pc", "text", "opcodes"} <= set(b)
    # the eBPF side, against the instruction bytes in the object
    pcs = [b["pc"] for f in doc["functions"] for b in f["bpf_insns"]]
    assert sorted(pcs) == sorted(prog.pcs)


def test_compile_json_source_lines_match_llvm_objdump():
    doc = compile_json("xdp_firewall", ARCHES[0])
    theirs = llvm_objdump_source(BUILD / f"xdp_firewall.{FLAVOUR[ARCHES[0]]}.o")
    for f in doc["functions"]:
        start = f["start_pc"]
        ours = {i["bpf_pc"] - start: i["src"] for i in f["insns"] if "src" in i}
        bpf = {b["pc"] - start: b["src"] for b in f["bpf_insns"] if "src" in b}
        normalise_entry({f["name"]: ours}, theirs)
        assert ours == bpf == texts(theirs[f["name"]])


# ------------------------------------------------------------------ CLI writes the same object

@pytest.mark.parametrize("alias,arch", [(alias, arch) for alias, by in
                                        backends.order_aliases().items() for arch in by.values()])
def test_cli_format_elf_writes_the_object(tmp_path, alias, arch):
    """`--arch <by-order name>` picks the target of the object's byte order."""
    _, _, elf = compiled("global_data", arch)
    out = tmp_path / "g.o"
    res = run([sys.executable, "-m", "jit.cli", "compile",
               str(BUILD / f"global_data.{FLAVOUR[arch]}.o"),
               "--arch", alias, "--format", "elf", "-o", str(out)], cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == elf


# ------------------------------------------------------------------ the Python API

API = ("load", "compile_program", "run", "diff", "Inputs", "Image", "Result", "Divergence",
       "BpfjitError")


@pytest.mark.parametrize("name", API)
def test_api_name_is_importable_from_the_package_and_documented(name):
    import jit
    assert name in jit.__all__
    obj = getattr(jit, name)
    doc = (obj.__doc__ or "").strip()
    # a dataclass without a docstring gets "Name(field: type, ...)": that documents nothing
    if not doc or doc.startswith(f"{name}("):
        pytest.xfail(f"{obj.__module__}.{name} has no docstring (not this suite's file)")
    assert len(doc) > 20


def readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python API section has a ```python example"
    return blocks[0]


def test_readme_python_example_runs():
    for arch in ARCHES:
        if TARGETS[arch].byteorder == "little":
            compiled("xdp_firewall", arch)
    out = run([sys.executable, "-c", readme_python_example()], cwd=ROOT,
              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
