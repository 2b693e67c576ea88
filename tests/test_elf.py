"""jit.elf on the committed fixture objects: sections and program types, symbols,
relocations (found through sh_info), the libbpf layout of subprograms,
global-data maps, both byte orders, and clean one-line errors for every kind
of broken file.  Expectations come from the C sources, libbpf's documented
rules, and the ELF read independently with pyelftools."""
from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from jit.elf import internal_map_name, load, object_name, prog_type_for_section
from jit.errors import BpfjitError, ElfError, UnsupportedError
from jit.isa import CALL, LDDW

PROGS = Path(__file__).parent / "progs"
BUILD = PROGS / "build"


def obj(name: str, build: str = "el3"):
    return load(BUILD / f"{name}.{build}.o")


# ---------------------------------------------------------------- section names

@pytest.mark.parametrize("section,ptype", [
    ("xdp", "xdp"), ("xdp.frags", "xdp"), ("xdp/devmap", "xdp"), ("xdp.frags/cpumap", "xdp"),
    ("socket", "socket_filter"), ("sk_skb", "sk_skb"), ("sk_skb/stream_verdict", "sk_skb"),
    ("tc", "sched_cls"), ("classifier", "sched_cls"), ("tc/ingress", "sched_cls"),
    ("tcx/egress", "sched_cls"), ("action", "sched_act"),
    ("kprobe/do_sys_open", "kprobe"), ("kretprobe/do_sys_open", "kprobe"), ("kprobe", "kprobe"),
    ("uprobe//bin/bash:readline", "kprobe"), ("usdt/x:y:z", "kprobe"),
    ("tracepoint/syscalls/sys_enter_openat", "tracepoint"), ("tp/sched/sched_switch", "tracepoint"),
    ("raw_tracepoint/sys_enter", "raw_tracepoint"), ("raw_tp/sys_enter", "raw_tracepoint"),
    ("raw_tp.w/x", "raw_tracepoint_writable"),
    ("fentry/do_unlinkat", "tracing"), ("fexit/do_unlinkat", "tracing"), ("fentry.s/x", "tracing"),
    ("tp_btf/sched_switch", "tracing"), ("iter/task", "tracing"), ("freplace/x", "ext"),
    ("lsm/file_open", "lsm"), ("lsm.s/bprm_committed_creds", "lsm"),
    ("cgroup_skb/ingress", "cgroup_skb"), ("cgroup_skb/egress", "cgroup_skb"),
    ("cgroup/skb", "cgroup_skb"), ("cgroup/sock_create", "cgroup_sock"),
    ("cgroup/connect4", "cgroup_sock_addr"), ("cgroup/sysctl", "cgroup_sysctl"),
    ("cgroup/getsockopt", "cgroup_sockopt"), ("cgroup/dev", "cgroup_device"),
    ("sockops", "sock_ops"), ("sk_msg", "sk_msg"), ("flow_dissector", "flow_dissector"),
    ("perf_event", "perf_event"), ("syscall", "syscall"), ("sk_lookup", "sk_lookup"),
    ("lwt_xmit", "lwt_xmit"), ("struct_ops/tcp_init", "struct_ops"), ("netfilter", "netfilter"),
    # libbpf >= 1.0 matches exactly: these it does not know
    ("xdp_prog", "raw"), ("kprobex", "raw"), ("socketfilter", "raw"), ("tcx", "raw"), ("", "raw"),
])
def test_section_names_map_to_libbpf_program_types(section, ptype):
    assert prog_type_for_section(section) == ptype


def test_internal_map_names_follow_libbpf():
    # libbpf.c's own example: object 'my_object_name', section '.rodata'
    assert internal_map_name("my_object_name", ".rodata") == "my_objec.rodata"
    assert internal_map_name("my_object_name", ".bss") == "my_objec.bss"
    assert internal_map_name("prog", ".data") == "prog.data"
    # a second dot: the section name alone, cut to 15 characters
    assert internal_map_name("prog", ".rodata.str1.1") == ".rodata.str1.1"
    assert internal_map_name("prog", ".data.very_long_name") == ".data.very_long"
    assert internal_map_name("a-b", ".bss") == "a_b.bss"          # sanitised for the kernel
    assert object_name("dir/xdp_firewall.el3.o") == "xdp_firewall"


# ---------------------------------------------------------------- what each fixture holds

def summary(o):
    return ([(p.name, p.section, p.prog_type) for p in o.programs],
            [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags) for m in o.maps])


@pytest.mark.parametrize("build", ["el3", "el4", "eb3"])
def test_programs_and_maps_of_the_fixtures(build):
    assert summary(obj("xdp_firewall", build)) == (
        [("xdp_firewall", "xdp", "xdp")],
        [("blocked_src", 1, 4, 8, 1024, 0), ("blocked_ports", 1, 2, 8, 64, 1),
         ("verdicts", 2, 4, 8, 4, 0)])
    assert summary(obj("tail_calls", build))[0] == [
        ("handle_ipv4", "xdp", "xdp"), ("handle_ipv6", "xdp", "xdp"), ("dispatch", "xdp", "xdp")]
    assert summary(obj("calls_deep", build))[0] == [
        ("xdp_calls", "xdp", "xdp"), ("tc_calls", "tc", "sched_cls")]
    assert summary(obj("socket_filter", build))[0] == [("snaplen_filter", "socket", "socket_filter")]
    assert summary(obj("tracing", build))[0] == [
        ("open_probe", "kprobe/do_sys_openat2", "kprobe"),
        ("tp_openat", "tracepoint/syscalls/sys_enter_openat", "tracepoint"),
        ("raw_sys", "raw_tp/sys_enter", "raw_tracepoint")]
    assert summary(obj("map_types", build))[1] == [
        ("routes", 11, 8, 8, 16, 1), ("recent", 22, 0, 4, 8, 0), ("history", 23, 0, 4, 8, 0),
        ("events", 27, 0, 0, 4096, 0), ("map_type.bss", 2, 4, 4, 1, 0)]
    o = obj("xdp_parse", build)
    assert o.license == "GPL" and all(p.license == "GPL" for p in o.programs)
    assert o.byteorder == ("big" if build == "eb3" else "little")


def test_prog_array_initialisers():
    jt = obj("tail_calls").maps[0]
    assert (jt.name, jt.type, jt.prog_slots) == ("jump_table", 3, {0: "handle_ipv4", 1: "handle_ipv6"})


def test_legacy_maps_section():
    """struct bpf_map_def in SEC("maps"): libbpf 1.x refuses it; we read it like libbpf 0.x."""
    o = obj("legacy_maps")
    assert summary(o)[1] == [("counts", 2, 4, 8, 8, 0), ("bytes", 6, 4, 8, 1, 0)]
    lddws = [i for i in o.programs[0].insns if i.opcode == LDDW]
    assert sorted(i.imm for i in lddws if i.src == 1) == [0, 1]


# ---------------------------------------------------------------- relocations

def test_map_relocations_become_map_indices():
    o = obj("xdp_firewall")
    refs = [i.imm for i in o.programs[0].insns if i.opcode == LDDW]
    assert all(i.src == 1 for i in o.programs[0].insns if i.opcode == LDDW)
    # the C looks up blocked_src, blocked_ports and verdicts (the latter from two paths at least)
    assert set(refs) == {0, 1, 2}


def test_global_data_maps_and_offsets():
    o = obj("global_data")
    maps = {m.section: m for m in o.maps if m.section}
    assert [m.name for m in o.maps] == ["labels", "global_d.rodata", "global_d.data",
                                        "global_d.bss", ".data.stats", ".rodata.str1.1",
                                        ".rodata.cst32"]
    assert maps[".rodata"].flags == 0x80 and maps[".data"].flags == 0      # BPF_F_RDONLY_PROG
    assert maps[".data"].initial == struct.pack("<QI", 100, 7)              # packets, last_class
    assert maps[".rodata"].initial[:4] == struct.pack("<I", 60)
    assert maps[".rodata"].initial[4:10] == bytes.fromhex("020000000002")
    assert maps[".bss"].initial == bytes(8) and maps[".data.stats"].value_size == 32
    index = {m.section: i for i, m in enumerate(o.maps)}
    prog = o.programs[0]
    value_refs = [(i.imm & 0xFFFFFFFF, i.imm >> 32) for i in prog.insns
                  if i.opcode == LDDW and i.src == 2]
    strings = maps[".rodata.str1.1"].initial
    labels = {strings[off:off + 12] for m, off in value_refs if m == index[".rodata.str1.1"]}
    assert labels == {b"runt frame!\0", b"IPv4 packet\0", b"IPv6 packet\0", b"not IP, eh?\0"}
    assert (index[".data"], 8) in value_refs                                  # last_class
    assert (index[".rodata"], 4) in value_refs                                # my_mac
    assert (index[".rodata.cst32"], 0) in value_refs                          # class_names


def test_relocation_sections_are_found_through_sh_info(tmp_path):
    """Renaming .relxdp (its name is only a convention) changes nothing."""
    data = bytearray((BUILD / "xdp_firewall.el3.o").read_bytes())
    at = data.find(b".relxdp\0")
    assert at > 0
    data[at:at + 4] = b".zzz"
    renamed = tmp_path / "renamed.o"
    renamed.write_bytes(bytes(data))
    with open(renamed, "rb") as f:
        assert ".relxdp" not in [s.name for s in ELFFile(f).iter_sections()]
    assert load(renamed).programs[0].insns == obj("xdp_firewall").programs[0].insns


# ---------------------------------------------------------------- subprograms

def call_graph(prog) -> dict[str, set[str]]:
    """Function -> the functions its local calls and callback addresses land on (starts only)."""
    starts = {f.start: f.name for f in prog.functions}
    graph: dict[str, set[str]] = {f.name: set() for f in prog.functions}
    for pc, insn in zip(prog.pcs, prog.insns):
        if (insn.opcode == CALL and insn.src == 1) or (insn.opcode == LDDW and insn.src == 4):
            imm = insn.imm & 0xFFFFFFFF
            target = pc + 1 + (imm - (1 << 32) if imm >> 31 else imm)
            assert target in starts, (pc, target)
            graph[prog.function_at(pc).name].add(starts[target])
    return graph


@pytest.mark.parametrize("build", ["el3", "el4", "eb3"])
def test_subprograms_are_appended_in_libbpf_order(build):
    o = obj("calls_deep", build)
    xdp, tc = o.program("xdp_calls"), o.program("tc_calls")
    # libbpf appends each subprogram where it is first reached, depth first
    # (the order bpftool's `prog dump xlated` shows for the loaded program)
    assert [f.name for f in xdp.functions] == ["xdp_calls", "frame_flow", "ipv4_flow",
                                               "l4_ports", "mix", "rol32"]
    assert [f.name for f in tc.functions] == ["tc_calls", "mix", "rol32"]
    # the call graph of the C source
    assert call_graph(xdp) == {"xdp_calls": {"frame_flow"}, "frame_flow": {"ipv4_flow"},
                               "ipv4_flow": {"l4_ports", "mix"}, "l4_ports": set(),
                               "mix": {"rol32"}, "rol32": set()}
    assert call_graph(tc) == {"tc_calls": {"mix"}, "mix": {"rol32"}, "rol32": set()}
    # each program has its own copy: the same bytes of mix() in both
    def body(prog, name):
        f = next(f for f in prog.functions if f.name == name)
        return [i for pc, i in zip(prog.pcs, prog.insns) if f.start <= pc < f.end and i.opcode != CALL]
    assert body(xdp, "mix") == body(tc, "mix")
    for prog in (xdp, tc):
        assert prog.functions[-1].end == prog.n_slots == sum(i.slots for i in prog.insns)


def test_callbacks_are_function_addresses():
    prog = obj("bpf_loop").programs[0]
    assert [f.name for f in prog.functions] == ["xdp_callbacks", "sum_byte", "add_weight"]
    assert call_graph(prog)["xdp_callbacks"] == {"sum_byte", "add_weight"}
    assert sum(1 for i in prog.insns if i.opcode == LDDW and i.src == 4) == 2


def test_a_program_without_calls_has_one_function():
    prog = obj("xdp_parse").programs[0]
    assert [(f.name, f.start, f.end) for f in prog.functions] == [("xdp_parse", 0, prog.n_slots)]


# ---------------------------------------------------------------- byte orders

@pytest.mark.parametrize("name", ["alu32_hash", "atomics", "bpf_loop", "crc32", "legacy_maps",
                                  "sdiv"])
def test_both_byte_orders_give_the_same_instructions(name):
    """These fixtures have no byte-order-dependent C, so bpfel and bpfeb code agree."""
    le, be = obj(name, "el3"), obj(name, "eb3")
    assert [p.insns for p in le.programs] == [p.insns for p in be.programs]
    assert [p.functions for p in le.programs] == [p.functions for p in be.programs]
    assert [(m.name, m.type, m.key_size, m.value_size) for m in le.maps] == \
        [(m.name, m.type, m.key_size, m.value_size) for m in be.maps]


def test_big_endian_global_data_keeps_its_bytes():
    le, be = obj("global_data", "el3"), obj("global_data", "eb3")
    data = {m.section: m.initial for m in be.maps if m.section}
    assert data[".data"] == struct.pack(">QI", 100, 7)
    assert {m.section: m.initial for m in le.maps if m.section}[".rodata.str1.1"] == \
        data[".rodata.str1.1"]


# ---------------------------------------------------------------- errors

GOOD = BUILD / "calls_deep.el3.o"


def err_of(data: bytes, name: str = "broken.o") -> ElfError:
    with pytest.raises(ElfError) as e:
        load(data, file=name)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{name}: "), msg
    return e.value


def test_not_an_elf_file():
    assert "not an ELF file" in str(err_of(b"#!/bin/sh\necho hi\n"))
    assert "not an ELF file" in str(err_of(b""))


def test_missing_file():
    with pytest.raises(ElfError, match="nope.o: cannot read"):
        load(Path("nope.o"))


def test_not_a_bpf_object():
    data = bytearray(GOOD.read_bytes())
    data[18:20] = (62).to_bytes(2, "little")                        # EM_X86_64
    assert "not a BPF object (e_machine 62" in str(err_of(bytes(data)))
    data = bytearray(GOOD.read_bytes())
    data[4] = 1                                                     # ELFCLASS32
    assert "not a 64-bit ELF" in str(err_of(bytes(data)))
    data = bytearray(GOOD.read_bytes())
    data[16:18] = (2).to_bytes(2, "little")                         # ET_EXEC
    assert "not a relocatable object" in str(err_of(bytes(data)))
    data = bytearray(GOOD.read_bytes())
    data[5] = 7
    assert "byte order" in str(err_of(bytes(data)))


@pytest.mark.parametrize("cut", [4, 20, 63, 64, 200, 1000, 3000, -200, -65, -1])
def test_truncated_objects(cut):
    data = GOOD.read_bytes()
    e = err_of(data[:cut])
    assert any(w in str(e) for w in ("truncated", "not an ELF")), e


def test_section_past_the_end_of_the_file():
    data = bytearray(GOOD.read_bytes())
    with open(GOOD, "rb") as f:
        e = ELFFile(f)
        idx = next(i for i, s in enumerate(e.iter_sections()) if s.name == "xdp")
        shoff = e.header.e_shoff
    struct.pack_into("<Q", data, shoff + 64 * idx + 24, len(data) + 100)   # sh_offset
    assert "section 'xdp'" in str(err_of(bytes(data))) and "runs past the end" in str(err_of(bytes(data)))


def test_relocation_against_unknown_symbol():
    data = bytearray(GOOD.read_bytes())
    with open(GOOD, "rb") as f:
        e = ELFFile(f)
        rel = e.get_section_by_name(".relxdp")
        off = rel.header.sh_offset
    r_offset, r_info = struct.unpack_from("<QQ", data, off)
    struct.pack_into("<QQ", data, off, r_offset, 9999 << 32 | (r_info & 0xFFFFFFFF))
    e = err_of(bytes(data))
    assert e.func == "xdp_calls" and e.pc == r_offset // 8
    assert "unknown symbol index 9999" in str(e)


def test_relocation_in_the_middle_of_an_instruction():
    data = bytearray(GOOD.read_bytes())
    with open(GOOD, "rb") as f:
        off = ELFFile(f).get_section_by_name(".relxdp").header.sh_offset
    entries = [struct.unpack_from("<QQ", data, off + 16 * i) for i in range(3)]
    i, (r_offset, r_info) = next((i, e) for i, e in enumerate(entries) if e[1] & 0xFF == 1)
    struct.pack_into("<QQ", data, off + 16 * i, r_offset + 8, r_info)   # an LDDW's second slot
    assert "not at the start of an instruction" in str(err_of(bytes(data)))


def test_invalid_instruction_names_function_and_pc():
    data = bytearray(GOOD.read_bytes())
    with open(GOOD, "rb") as f:
        off = ELFFile(f).get_section_by_name("tc").header.sh_offset
    data[off + 16] = 0xFF                                           # slot 2 of tc_calls
    e = err_of(bytes(data))
    assert (e.func, e.pc) == ("tc_calls", 2) and "invalid instruction" in str(e)


def test_random_corruption_never_leaks_a_python_exception():
    """Mutated objects either load or fail with a BpfjitError, never anything else."""
    rng = random.Random(20240611)
    good = GOOD.read_bytes()
    failures = 0
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            data[at] = rng.randrange(256)
        try:
            load(bytes(data), file="fuzz.o")
        except BpfjitError as e:
            assert "\n" not in str(e)
            failures += 1
    assert failures > 0


# ---------------------------------------------------------------- objects built on the spot

CLANG = shutil.which("clang-19")


def compile_c(tmp_path: Path, source: str) -> Path:
    src = tmp_path / "t.c"
    src.write_text(source)
    out = tmp_path / "t.o"
    subprocess.run([CLANG, "-O2", "-g", "-target", "bpfel", "-c", str(src), "-o", str(out)],
                   check=True, capture_output=True)
    return out


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_static_program_is_refused_like_libbpf(tmp_path):
    o = compile_c(tmp_path, '__attribute__((section("xdp"), used)) static int f(void *c) '
                            '{ return 2; }\n')
    with pytest.raises(ElfError, match="is static"):
        load(o)


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_object_without_sections_uses_its_global_functions(tmp_path):
    o = load(compile_c(tmp_path, "int add(int a, int b) { return a + b; }\n"))
    assert [(p.name, p.section, p.prog_type) for p in o.programs] == [("add", ".text", "raw")]


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_extern_kfunc_call_is_unsupported(tmp_path):
    o = compile_c(tmp_path, 'extern int bpf_kfunc_x(int) __attribute__((section(".ksyms")));\n'
                            '__attribute__((section("xdp"), used)) int f(void *c) '
                            '{ return bpf_kfunc_x(1); }\n')
    with pytest.raises(UnsupportedError, match="bpf_kfunc_x"):
        load(o)


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_unknown_section_is_a_raw_program(tmp_path):
    o = load(compile_c(tmp_path, '__attribute__((section("mystery"), used)) int f(void *c) '
                                 '{ return 1; }\n'))
    assert [(p.name, p.prog_type) for p in o.programs] == [("f", "raw")]


def test_object_program_lookup():
    o = obj("tail_calls")
    assert o.program("dispatch").name == "dispatch"
    with pytest.raises(BpfjitError, match="no program 'nope'"):
        o.program("nope")


def test_examples_are_loadable_copies_of_fixtures():
    examples = sorted((PROGS.parent.parent / "examples").glob("*.o"))
    assert len(examples) >= 3
    for path in examples:
        ex, fx = load(path), obj(path.stem)
        assert [(p.name, p.insns) for p in ex.programs] == [(p.name, p.insns) for p in fx.programs]
