"""The `bpfjit` command line: a thin layer over `jit.driver`.

This module owns argument parsing, output formatting (plain text when piped,
rich tables and colour on a terminal, `--json` for machines) and exit codes:
0 ok, 1 a divergence or failed conformance case, 2 bad input (one line on
stderr naming the file, function and eBPF pc; never a traceback).  It computes
nothing itself.

Project modules are imported inside the subcommand that uses them (`# local:
start-up`): `bpfjit --help` and each subcommand load only what they run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterable

from jit.errors import BpfjitError

EXAMPLES = {
    "run": "bpfjit run examples/xdp_firewall.o --packet 'ffffffffffff0000000000010800...'\n"
           "  bpfjit run prog.bin --mem input.bin --helpers conformance\n"
           "  bpfjit run examples/xdp_firewall.o --arch {by_order} --pcap trace.pcapng",
    "disasm": "bpfjit disasm examples/xdp_firewall.o -r        # as llvm-objdump-19 -d -r\n"
              "  bpfjit disasm prog.o --program xdp_calls --mcpu=v4\n"
              "  bpfjit disasm prog.o --xlated      # after map and subprogram relocation",
    "cfg": "bpfjit cfg examples/bpf_loop.o -o loop.svg\n"
           "  bpfjit cfg prog.o --program xdp_calls > calls.dot",
    "completion": "bpfjit completion bash > /etc/bash_completion.d/bpfjit\n"
                  "  bpfjit completion zsh > \"${{fpath[1]}}/_bpfjit\"",
    "compile": "bpfjit compile examples/xdp_firewall.o --arch {by_order}\n"
               "  bpfjit compile prog.o --arch {with_cpu} --cpu {cpu} --format hex -o prog.hex",
    "check": "bpfjit check examples/xdp_firewall.o",
    "info": "bpfjit info examples/xdp_firewall.o --json",
    "diff": "bpfjit diff examples/xdp_firewall.o --arch all --packet pkt.bin\n"
            "  bpfjit diff examples/xdp_firewall.o --pcap trace.pcap --json",
    "fuzz": "bpfjit fuzz --arch all --count 1000 --seed 1",
    "conformance": "bpfjit conformance tests/conformance --arch all",
}


# llvm's BPF CPU names, as jit.asm.CPUS (not imported: --help stays cheap)
CPUS = ("generic", "v1", "v2", "v3", "v4")


def _registry_help() -> dict:
    """Names for help texts, from the backend registry (no architecture is named here)."""
    import backends  # local: start-up
    targets = backends.targets()
    with_cpu = next((t for t in targets if len(t.cpus) > 1), None)
    cpus = []
    for t in targets:
        if t.cpus:
            models = ", ".join(f"{c.name}{' (default)' if i == 0 else ''}"
                               + (f": {c.note}" if c.note else "")
                               for i, c in enumerate(t.cpus))
            cpus.append(f"{t.name}: {models}")
    return {
        "arches": backends.help_text(),
        "default": targets[0].name,
        "by_order": next(iter(backends.order_aliases()), targets[0].name),
        "with_cpu": with_cpu.name if with_cpu else targets[0].name,
        "cpu": with_cpu.cpus[-1].name if with_cpu else "",
        "cpus": "; ".join(cpus) or "no target has CPU models",
    }


def _add_prog(p: argparse.ArgumentParser) -> None:
    p.add_argument("prog", help="an eBPF ELF object (.o) or raw bytecode (a file of 8-byte slots)")
    p.add_argument("--section", help="the program's ELF section (e.g. xdp)")
    p.add_argument("--program", help="the program's function name")
    p.add_argument("--bpfeb", action="store_true",
                   help="raw bytecode is big-endian (bpfeb); ELF objects say their own order")


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mem", help="raw runs: a file whose bytes r1 points to (r2 = its length)")
    p.add_argument("--packet", help="the packet: a file, or hex bytes")
    p.add_argument("--pcap", metavar="FILE",
                   help="run every frame of a pcap or pcapng capture in order on one program "
                        "instance, maps carried from frame to frame")
    p.add_argument("--ctx", help="a raw context block (file) for program types without a layout")
    p.add_argument("--map", action="append", default=[], metavar="NAME=FILE",
                   help="put FILE's entries into map NAME before the run (format below)")
    p.add_argument("--helpers", choices=["kernel", "conformance"], default=None,
                   help="helper set (default: kernel; conformance for bpf_conformance programs)")
    p.add_argument("--max-insns", type=int, default=1_000_000,
                   help="instruction budget (executed eBPF instructions)")
    p.add_argument("--cpu", help="the CPU model of targets that have several: "
                   + _registry_help()["cpus"])
    p.add_argument("--harden", action="store_true", help="constant blinding")
    p.add_argument("--no-kernel-rules", action="store_true",
                   help="run frames the kernel's BPF_PROG_TEST_RUN refuses with EINVAL (XDP "
                   "and skb frames under 14 bytes, IPv4 skbs under 34, IPv6 skbs under 54, "
                   "skbs over 3712)")


def parser() -> argparse.ArgumentParser:
    names = _registry_help()
    ap = argparse.ArgumentParser(
        prog="bpfjit", description="A multi-architecture eBPF JIT compiler (targets: "
        f"{names['arches']}) with a reference interpreter and differential testing.",
        epilog="exit status: 0 ok, 1 divergence, 2 bad input")
    ap.add_argument("--version", action=_Version, nargs=0,
                    help="print the version of bpfjit and exit")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_,
                              epilog="example:\n  " + EXAMPLES[name].format(**names),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = cmd("run", "run a program on the interpreter or a backend and print r0")
    _add_prog(p)
    _add_inputs(p)
    p.add_argument("--arch", default="interp",
                   help=f"interp (default), {names['arches']}")
    p.add_argument("--native", action="store_true",
                   help="run the backend's code on this CPU (in a child process) instead of "
                        "under Unicorn: the host's own architecture only")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.epilog += "\n\n" + MAP_FILE_HELP

    p = cmd("disasm", "print an object's eBPF code exactly as llvm-objdump-19 -d does: every "
                      "program, as written (before relocation)")
    _add_prog(p)
    p.add_argument("--mcpu", choices=CPUS, default=None,
                   help="decode for this LLVM BPF CPU, as llvm-objdump --mcpu (default: "
                   "llvm's, generic: 8/16/32-bit loads and stores name rN, and of the 32-bit "
                   "atomics only add decodes; v3 and v4 name wN)")
    p.add_argument("-r", "--reloc", action="store_true",
                   help="show each relocation under its instruction, as llvm-objdump -r")
    p.add_argument("--no-show-raw-insn", action="store_true",
                   help="leave out the instruction bytes, as llvm-objdump does")
    p.add_argument("--xlated", action="store_true",
                   help="show the loaded programs instead: maps and global data as ld_pseudo "
                   "indices, subprograms appended and calls relocated (bpftool's xlated)")

    p = cmd("compile", "compile to native code: a listing, raw bytes, hex or an ELF object")
    _add_prog(p)
    p.add_argument("--arch", default=names["default"],
                   help=f"{names['arches']} (default: {names['default']})")
    p.add_argument("--cpu", help="the CPU model of targets that have several: " + names["cpus"])
    p.add_argument("--harden", action="store_true", help="constant blinding, masks fresh "
                   "from the OS each time (the listing names the seed)")
    p.add_argument("--seed", type=int, default=None,
                   help="with --harden: the seed of the blinding masks, to reproduce an image")
    p.add_argument("--format", choices=["listing", "bin", "hex", "elf"], default="listing")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.add_argument("--linum", action="store_true", help="add file, line and column to source lines")
    p.add_argument("--opcodes", action="store_true", help="show native instruction bytes")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = cmd("check", "run the safety checks; exit 0, or 2 with the reasons")
    _add_prog(p)
    p.add_argument("--helpers", choices=["kernel", "conformance"], default=None)

    p = cmd("info", "per program and function: instructions, stack, callees, helpers, maps")
    _add_prog(p)
    p.add_argument("--json", action="store_true")

    p = cmd("diff", "run the interpreter and every backend on the same inputs and compare")
    _add_prog(p)
    _add_inputs(p)
    p.add_argument("--arch", default="all",
                   help=f"all, or a comma-separated list of: {names['arches']}")
    p.add_argument("--json", action="store_true")

    p = cmd("fuzz", "generate random valid programs and diff every backend against the "
                    "interpreter")
    p.add_argument("--arch", default="all")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=None, help="instructions per generated program")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: one per core this process may use; "
                        "1 runs in this process)")
    p.add_argument("--out", default="fuzz-findings", help="where reproducers are saved")
    p.add_argument("--replay", help="replay a saved reproducer file")

    p = cmd("conformance", "run a folder of bpf_conformance .data files")
    p.add_argument("dir")
    p.add_argument("--arch", default="interp", help="interp, all, or a comma-separated list")

    p = cmd("cfg", "draw the control-flow graph of the loaded programs (Graphviz DOT, or SVG, "
                   "PNG, PDF through Graphviz's dot), as bpftool prog dump xlated visual")
    _add_prog(p)
    p.add_argument("-o", "--output", help="write here: .dot/.gv as DOT, .svg/.png/.pdf through "
                   "dot (default: DOT on stdout)")
    p.add_argument("--mcpu", choices=CPUS, default=None, help="instruction text as "
                   "llvm-objdump --mcpu (see disasm)")

    p = cmd("completion", "print a shell completion script for bpfjit")
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    return ap


MAP_FILE_HELP = """\
--map NAME=FILE puts entries into the map NAME (the name in the object's .maps
or maps section) before the run, as `bpftool map update` would.  FILE is text,
one entry a line:

    KEYHEX VALUEHEX        # the key's and the value's bytes, in memory order

Each is the map's key_size and value_size bytes in hex (`:` may separate
bytes: 0a:00:00:01); `#` starts a comment; blank lines are skipped.  For an
array the key is the u32 index in the object's byte order (01000000 is 1 in a
bpfel object); for a prog array the value is a u32 slot.  Give --map once per
map.  Example, a 4-byte key and an 8-byte value:

    # verdicts: 10.0.0.1 -> drop
    0a000001 0100000000000000"""


def _version() -> str:
    """The installed distribution's version."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("bpfjit")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """--version, looked up only when asked for (importlib.metadata costs tens of ms)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {_version()}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BpfjitError as e:
        if e.file is None:
            e.file = getattr(args, "prog", None)
        _fail(str(e))
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback on the user's terminal
        if os.environ.get("BPFJIT_DEBUG"):
            raise
        where = getattr(args, "prog", None) or "bpfjit"
        _fail(f"{where}: internal error: {type(e).__name__}: {e} "
              "(set BPFJIT_DEBUG=1 for a traceback)")
        return 2


def _fail(line: str) -> None:
    """One line on stderr; names from a corrupted object may hold control characters,
    which are escaped so the message stays one line and cannot drive the terminal."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
    print(f"bpfjit: {safe}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    return COMMANDS[args.cmd](args)


# ------------------------------------------------------------------ commands

def _load(args: argparse.Namespace):
    from jit import driver  # local: start-up
    return driver.load(args.prog, program=args.program, section=args.section,
                       byteorder="big" if args.bpfeb else "little")


def _inputs(args: argparse.Namespace):
    from jit import driver  # local: start-up
    seeds: dict = {}
    for spec in args.map:
        name, _, path = spec.partition("=")
        if not path:
            raise BpfjitError(f"--map {spec!r}: expected NAME=FILE")
        seeds[name] = _read_map_seed(path)
    return driver.Inputs(mem=driver.read_bytes_arg(args.mem, "mem"),
                         packet=driver.read_bytes_arg(args.packet, "packet"),
                         ctx=driver.read_bytes_arg(args.ctx, "ctx"), map_seeds=seeds,
                         helpers=args.helpers, max_insns=args.max_insns,
                         kernel_rules=not args.no_kernel_rules)


def _read_map_seed(path: str) -> list:
    """A map seed file: one entry per line, `KEYHEX VALUEHEX` (spaces inside hex allowed with ':')."""
    pairs = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.split("#")[0].strip()
                if not line:
                    continue
                try:
                    k, v = line.split()
                    pairs.append((bytes.fromhex(k.replace(":", "")),
                                  bytes.fromhex(v.replace(":", ""))))
                except ValueError:
                    raise BpfjitError(f"line {n}: expected 'KEYHEX VALUEHEX'",
                                      file=path) from None
    except OSError as e:
        raise BpfjitError(f"cannot read --map file: {e.strerror}", file=path) from None
    except UnicodeDecodeError:
        raise BpfjitError("--map file is not text (KEYHEX VALUEHEX lines)", file=path) from None
    return pairs


def cmd_run(args: argparse.Namespace) -> int:
    from jit import driver  # local: start-up
    obj, prog = _load(args)
    if args.pcap:
        return _run_pcap(args, obj, prog)
    if args.native and args.arch == driver.INTERP:
        raise BpfjitError("--native runs a backend's code: give --arch (the host's own)")
    result = driver.run(obj, prog, args.arch, _inputs(args), cpu=args.cpu, harden=args.harden,
                        native=args.native)
    if result.fault is not None:
        f = result.fault
        f.where(file=prog.file, func=_func_name(prog, f.pc))
        if args.json:
            # a document even when the run faults: the fault, then exit 2 as the one-line error does
            doc = result_json(obj, prog, result)
            doc["fault"] = {"kind": getattr(f, "kind", type(f).__name__), "pc": f.pc,
                            "address": getattr(f, "addr", None), "message": str(f)}
            emit_json(doc)
            return 2
        raise f
    if args.json:
        emit_json(result_json(obj, prog, result))
        return 0
    if prog.prog_type in ("raw", ""):
        print(f"0x{result.r0:x}")
    else:
        print(_describe_result(obj, prog, result))
    for line in result.trace:
        print(f"trace: {line}", file=sys.stderr)
    return 0


def _func_name(prog, pc):
    if pc is None:
        return None
    try:
        return prog.function_at(pc).name
    except KeyError:
        return None


def _describe_result(obj, prog, result) -> str:
    try:
        from jit import contexts  # local: start-up
        return contexts.report(obj, prog, result)
    except (ImportError, AttributeError):
        return f"return value: 0x{result.r0:x}"


def result_json(obj, prog, result) -> dict:
    return {
        "program": prog.name, "section": prog.section, "retval": result.r0,
        "fault": None if result.fault is None else str(result.fault),
        "helper_calls": [{"id": h, "name": n, "args": list(a)} for h, n, a in result.helper_calls],
        "trace": list(result.trace),
        "regions": {k: v.hex() for k, v in result.regions.items()},
        "maps": {name: [{"key": k.hex(), "value": v.hex()} for k, v in entries]
                 for name, entries in result.maps.items()},
        "insns_executed": result.insns_executed,
        **_outputs_json(prog, result),
    }


def _outputs_json(prog, result) -> dict:
    """packet_out (the frame from data to data_end, as the program left it) and ctx_out
    (mark, priority, cb for skb programs), as BPF_PROG_TEST_RUN's data_out and ctx_out."""
    from jit import contexts  # local: start-up
    try:
        out = contexts.outcome(prog, result)
    except (KeyError, ValueError, AttributeError):
        return {"packet_out": None, "ctx_out": None}
    kind = contexts.context_kind(prog.prog_type).ctx
    packet, ctx_out = out.packet, None
    if kind == "xdp" and out.ctx is not None and packet is not None:
        meta = (contexts.ctx_field(out.ctx, prog.prog_type, "data", prog.byteorder)
                - contexts.ctx_field(out.ctx, prog.prog_type, "data_meta", prog.byteorder))
        packet = packet[meta:]
    elif kind == "skb" and out.ctx is not None:
        def f(name):
            return contexts.ctx_field(out.ctx, prog.prog_type, name, prog.byteorder)
        ctx_out = {"mark": f("mark"), "priority": f("priority"),
                   "cb": [int.from_bytes(out.ctx[48 + 4 * i:52 + 4 * i], prog.byteorder)
                          for i in range(5)]}
    elif kind not in ("xdp", "skb"):
        packet = None
    return {"packet_out": None if packet is None else packet.hex(), "ctx_out": ctx_out}


def _programs(args: argparse.Namespace):
    """The object and the programs a command covers: the one --program names, every
    program of --section, or every program of the object (raw bytecode: its one)."""
    obj, prog = _load(args)      # says what the object has when the selection matches nothing
    if args.program:
        return obj, [prog]
    return obj, [p for p in obj.programs if args.section is None or p.section == args.section]


def _read_prog(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise BpfjitError(f"cannot read: {e.strerror}", file=path) from None


def cmd_disasm(args: argparse.Namespace) -> int:
    from jit import asm  # local: start-up
    data = _read_prog(args.prog)
    show_bytes = not args.no_show_raw_insn
    if args.xlated or data[:4] != b"\x7fELF":
        # the loaded programs (raw bytecode has nothing else to show)
        obj, progs = _programs(args)
        for prog in progs:
            sys.stdout.write(asm.program_listing(
                prog.name, prog.section, [(f.name, f.start) for f in prog.functions],
                prog.insns, prog.byteorder, mcpu=args.mcpu, show_bytes=show_bytes))
        return 0
    symbols = None
    if args.program:
        # the program's own symbol and those of the subprograms it calls
        _, prog = _load(args)
        symbols = [f.name for f in prog.functions]
    sections = [args.section] if args.section and not args.program else None
    sys.stdout.write(asm.objdump(data, args.prog, mcpu=args.mcpu, relocs=args.reloc,
                                 show_bytes=show_bytes, sections=sections, symbols=symbols))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from jit import driver  # local: start-up
    if args.seed is not None and not args.harden:
        raise BpfjitError("--seed is the seed of --harden's blinding masks: give --harden too")
    obj, progs = _programs(args)
    if len(progs) > 1:
        return _compile_all(args, progs)
    prog = progs[0]
    image = driver.compile_program(prog, args.arch, cpu=args.cpu, harden=args.harden,
                                   seed=args.seed)
    if args.json:
        from jit.image import image_json  # local: start-up
        emit_json(image_json(image))
        return 0
    if args.format == "listing":
        # written as it is made: a large program's listing is never held whole
        data: bytes | str | Iterable[str] = image.iter_listing(linum=args.linum,
                                                                opcodes=args.opcodes)
    elif args.format == "hex":
        data = image.to_hex()
    elif args.format == "bin":
        data = image.to_bin()
    else:
        from jit.elfout import write_elf  # local: start-up
        data = write_elf(image)
    _write(args.output, data)
    return 0


def _compile_all(args: argparse.Namespace, progs: list) -> int:
    """Every program of the object (or of --section), each under its own header; --json
    gives {"programs": [image document, ...]}.  bin/hex/elf hold one program: --program."""
    from jit import driver  # local: start-up
    if args.format != "listing" and not args.json:
        names = ", ".join(p.name for p in progs)
        raise BpfjitError(f"--format {args.format} writes one program; give --program "
                          f"(one of: {names})", file=args.prog)
    images = [(p, driver.compile_program(p, args.arch, cpu=args.cpu, harden=args.harden,
                                         seed=args.seed)) for p in progs]
    if args.json:
        from jit.image import image_json  # local: start-up
        emit_json({"programs": [dict(image_json(img), program=p.name, section=p.section)
                                for p, img in images]})
        return 0

    def chunks():
        for i, (p, img) in enumerate(images):
            yield f"{chr(10) if i else ''}; program {p.name} (section {p.section})\n"
            yield from img.iter_listing(linum=args.linum, opcodes=args.opcodes)
    _write(args.output, chunks())
    return 0


def _write(path: str | None, data: bytes | str | Iterable[str]) -> None:
    """Write bytes, text, or text in chunks (an iterable of str) to `path` or stdout."""
    chunks = [data] if isinstance(data, (bytes, str)) else data
    if path is None or path == "-":
        out = sys.stdout.buffer if isinstance(data, bytes) else sys.stdout
        for chunk in chunks:
            out.write(chunk)
        return
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(path, mode) as f:
            for chunk in chunks:
                f.write(chunk)
    except OSError as e:                # a directory, no such folder, no permission
        raise BpfjitError(f"cannot write -o: {e.strerror}", file=path) from None


def cmd_check(args: argparse.Namespace) -> int:
    from jit import analysis, driver  # local: start-up
    obj, progs = _programs(args)
    failed = False
    for prog in progs:
        problems = analysis.check(prog, helpers=driver.helper_set(args.helpers, prog))
        problems += driver.map_problems(prog)          # the limits compile applies
        for p in problems:
            _fail(str(p))
        if problems:
            failed = True
        else:
            print(f"{prog.file}: {prog.name}: ok")
    return 2 if failed else 0


def cmd_info(args: argparse.Namespace) -> int:
    from jit import analysis, driver  # local: start-up
    obj, progs = _programs(args)
    infos = []
    for prog in progs:
        facts = analysis.facts_unchecked(prog, helpers=driver.helper_set(None, prog))
        infos.append(_name_helpers(analysis.describe(prog, facts)))
    if args.json:
        emit_json(infos)
        return 0
    if _tty():
        _rich_info(infos)
        return 0
    for info in infos:
        print(format_info(info))
    return 0


def _name_helpers(info: dict) -> dict:
    """Every helper id in an `info` document gets its uapi name (jit.helper_names),
    also the ones bpfjit does not implement."""
    from jit.helper_names import helper_name  # local: start-up
    for entries in [info.get("helpers") or []] + [f.get("helpers") or []
                                                   for f in info.get("functions", [])]:
        for h in entries:
            if isinstance(h, dict) and h.get("name") is None and isinstance(h.get("id"), int):
                h["name"] = helper_name(h["id"])
    return info


def _tty() -> bool:
    """Colour and tables only for a person at a terminal (and not with NO_COLOR)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _rich_info(infos: list) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console()
    for info in infos:
        t = Table(title=f"{info.get('name')}  [dim]{info.get('section', '')}[/dim]")
        for col in ("function", "start", "insns", "stack", "callees", "helpers", "maps"):
            t.add_column(col)
        for fn in info.get("functions", []):
            def names(key):
                return ", ".join(_item_name(v) for v in fn.get(key) or [])
            stack = str(fn.get("stack_depth", ""))
            if fn.get("depth_reason"):
                stack += f" ({fn['depth_reason']})"
            t.add_row(str(fn.get("name")), str(fn.get("start", "")), str(fn.get("insns", "")),
                      stack, names("callees"), names("helpers"), names("maps"))
        console.print(t)


def format_info(info: dict) -> str:
    """bpftool-like text for one program's `describe` dict."""
    lines = []
    head = [f"{info.get('name', '?')}:"]
    for key in ("type", "section", "insns", "stack_total"):
        if key in info:
            head.append(f"{key} {info[key]}")
    lines.append("  ".join(head))
    for fn in info.get("functions", []):
        parts = [f"  func {fn.get('name')}"]
        for key in ("start", "insns", "stack_depth"):
            if key in fn:
                parts.append(f"{key} {fn[key]}")
        if fn.get("stack_reason"):
            parts.append(f"({fn['stack_reason']})")
        lines.append("  ".join(parts))
        for key in ("callees", "helpers", "maps"):
            vals = fn.get(key)
            if vals:
                shown = ", ".join(_item_name(v) for v in vals)
                lines.append(f"      {key}: {shown}")
    for problem in info.get("problems", []):
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)


def _item_name(v) -> str:
    """A helper, map or callee entry of `describe` as text (a name may be unknown)."""
    if isinstance(v, dict):
        return str(v.get("name") or v.get("id") or v.get("index") or "?")
    return str(v)


def cmd_diff(args: argparse.Namespace) -> int:
    from jit import driver  # local: start-up
    obj, prog = _load(args)
    arches = driver.arches_for(args.arch, prog)
    if args.pcap:
        return _diff_pcap(args, obj, prog, arches)
    ref, divergences = driver.diff(obj, prog, arches, _inputs(args), cpu=args.cpu,
                                   harden=args.harden)
    if args.json:
        emit_json({"reference": result_json(obj, prog, ref), "arches": arches,
                   "divergences": [{"arch": d.arch, "what": d.what, "expected": repr(d.expected),
                                    "got": repr(d.got), "pc": d.pc} for d in divergences]})
        return 1 if divergences else 0
    if _tty():
        _rich_diff(prog, arches, ref, divergences)
    for d in divergences:
        print(f"{prog.file}: {prog.name}: {d.arch}: {d.what} differs: interpreter "
              f"{_show(d.expected)}, {d.arch} {_show(d.got)}"
              + (f" (pc {d.pc})" if d.pc is not None else ""))
        if d.listing:
            print(d.listing)
    if not divergences and not _tty():
        r0 = "fault" if ref.fault is not None else f"r0 = 0x{ref.r0:x}"
        print(f"{prog.file}: {prog.name}: {', '.join(arches)} agree with the interpreter ({r0})")
    return 1 if divergences else 0


def _rich_diff(prog, arches, ref, divergences) -> None:
    from rich.console import Console
    from rich.table import Table
    bad = {d.arch: d for d in divergences}
    t = Table(title=f"{prog.file}: {prog.name}")
    t.add_column("arch")
    t.add_column("result")
    t.add_column("detail")
    r0 = "fault" if ref.fault is not None else f"r0 = 0x{ref.r0:x}"
    t.add_row("interp", "[bold]reference[/bold]", r0)
    import backends  # local: start-up
    for arch in arches:
        d = bad.get(backends.canonical(arch, prog.byteorder))
        if d is None:
            t.add_row(arch, "[green]agrees[/green]", "")
        else:
            t.add_row(arch, "[red]diverges[/red]", f"{d.what}: {_show(d.expected)} vs {_show(d.got)}")
    Console().print(t)


def _show(v) -> str:
    return f"0x{v:x}" if isinstance(v, int) else str(v)


# ------------------------------------------------------------------ --pcap

def _capture(args: argparse.Namespace):
    """(frames, inputs template) for --pcap: the other inputs apply to every frame."""
    from jit import session  # local: start-up
    if args.packet is not None or args.mem is not None:
        raise BpfjitError("--pcap gives the frames: not with --packet or --mem")
    if getattr(args, "native", False):
        raise BpfjitError("--pcap runs under Unicorn or the interpreter, not with --native")
    return session.read_capture(args.pcap), _inputs(args)


def _frame_json(prog, fr) -> dict:
    from jit.contexts import verdict_name  # local: start-up
    doc: dict = {"frame": fr.number, "length": len(fr.frame), "refused": fr.refused}
    res = fr.result
    if res is not None:
        doc.update({"retval": res.r0, "verdict": verdict_name(prog.prog_type, res.r0),
                    "fault": None if res.fault is None else str(res.fault),
                    "helper_calls": [{"id": h, "name": n, "args": list(a)}
                                     for h, n, a in res.helper_calls],
                    "trace": list(res.trace), "insns_executed": res.insns_executed})
    return doc


def _maps_json(maps: dict) -> dict:
    return {name: [{"key": k.hex(), "value": v.hex()} for k, v in entries]
            for name, entries in maps.items()}


def _frame_row(prog, fr) -> str:
    from jit.contexts import verdict_name  # local: start-up
    if fr.refused is not None:
        return f"{fr.number:>6}  {len(fr.frame):>5}  refused: {fr.refused}"
    res = fr.result
    if res.fault is not None:
        return f"{fr.number:>6}  {len(fr.frame):>5}  fault: {res.fault.msg}"
    verdict = verdict_name(prog.prog_type, res.r0) or ""
    return f"{fr.number:>6}  {len(fr.frame):>5}  {f'0x{res.r0:x}':<12}  {verdict}"


def _print_maps(maps: dict, frames: int) -> None:
    print(f"maps after {frames} frame{'s' if frames != 1 else ''}:")
    for name, items in maps.items():
        print(f"map {name}: {len(items)} entries")
        for k, v in items:
            print(f"  {k.hex(' ') or '-'} -> {v.hex(' ')}")


def _run_pcap(args: argparse.Namespace, obj, prog) -> int:
    """run --pcap: every frame on one engine; a table of verdicts and the final maps."""
    from jit import driver, session  # local: start-up
    frames, template = _capture(args)
    arch = args.arch
    if arch != driver.INTERP:
        arch = driver.arches_for(arch, prog)[0]
    s = session.Session(obj, prog, [] if arch == driver.INTERP else [arch],
                        helpers=template.helpers, cpu=args.cpu, harden=args.harden)
    runs = session.run_capture(s, frames, arch, template)
    maps = s.maps(arch)
    if args.json:
        emit_json({"program": prog.name, "section": prog.section, "arch": arch,
                   "frames": [_frame_json(prog, fr) for fr in runs], "maps": _maps_json(maps)})
    else:
        print(f"{'frame':>6}  {'bytes':>5}  {'r0':<12}  verdict")
        for fr in runs:
            print(_frame_row(prog, fr))
        _print_maps(maps, len(runs))
    faulted = [fr.result.fault for fr in runs if fr.result is not None and fr.result.fault]
    if faulted:
        f = faulted[0]
        raise f.where(file=prog.file, func=_func_name(prog, f.pc))
    return 0


def _diff_pcap(args: argparse.Namespace, obj, prog, arches: list[str]) -> int:
    """diff --pcap: every frame on the interpreter and each backend, each carrying its
    own maps, up to the first frame where a backend differs."""
    from jit import session  # local: start-up
    frames, template = _capture(args)
    s = session.Session(obj, prog, arches, helpers=template.helpers, cpu=args.cpu,
                        harden=args.harden)
    runs = session.diff_capture(s, frames, template)
    first = next((fr for fr in runs if fr.divergences), None)
    maps = s.maps()
    if args.json:
        doc = {"program": prog.name, "section": prog.section, "arches": arches,
               "frames": [], "first_divergence": None if first is None else first.number,
               "maps": _maps_json(maps)}
        for fr in runs:
            row = _frame_json(prog, fr)
            row["divergences"] = [{"arch": d.arch, "what": d.what, "expected": repr(d.expected),
                                   "got": repr(d.got), "pc": d.pc} for d in fr.divergences]
            doc["frames"].append(row)
        emit_json(doc)
        return 1 if first is not None else 0
    print(f"{'frame':>6}  {'bytes':>5}  {'r0':<12}  verdict")
    for fr in runs:
        print(_frame_row(prog, fr))
    _print_maps(maps, len(runs))
    if first is None:
        print(f"{prog.file}: {prog.name}: {', '.join(arches)} agree with the interpreter on "
              f"all {len(runs)} frames")
        return 0
    print(f"{prog.file}: {prog.name}: frame {first.number} is the first where a backend "
          f"differs ({len(frames) - first.number} later frames not run)")
    for d in first.divergences:
        print(f"{prog.file}: {prog.name}: frame {first.number}: {d.arch}: {d.what} differs: "
              f"interpreter {_show(d.expected)}, {d.arch} {_show(d.got)}"
              + (f" (pc {d.pc})" if d.pc is not None else ""))
        if d.listing:
            print(d.listing)
    return 1


def cmd_conformance(args: argparse.Namespace) -> int:
    from jit.testing import conformance  # local: start-up
    return conformance.main_conformance(args.dir, args.arch)


def cmd_fuzz(args: argparse.Namespace) -> int:
    from jit.testing import fuzz  # local: start-up
    return fuzz.main_fuzz(args)


def cmd_cfg(args: argparse.Namespace) -> int:
    from jit import cfg, driver  # local: start-up
    obj, progs = _programs(args)
    helpers = driver.helper_set(None, progs[0]) if progs else None
    dot = cfg.to_dot(progs, helpers=helpers, mcpu=args.mcpu, name=f"CFG of {args.prog}")
    if args.output is None or args.output == "-":
        sys.stdout.write(dot)
    else:
        cfg.render(dot, args.output)
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    try:
        import shtab
    except ImportError:
        raise BpfjitError("shell completion needs the shtab package (pip install shtab)") from None
    sys.stdout.write(shtab.complete(parser(), shell=args.shell))
    return 0


COMMANDS = {"run": cmd_run, "disasm": cmd_disasm, "compile": cmd_compile, "check": cmd_check,
            "info": cmd_info, "diff": cmd_diff, "conformance": cmd_conformance, "fuzz": cmd_fuzz,
            "cfg": cmd_cfg, "completion": cmd_completion}


def emit_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.exit(main())
