"""The bpf_conformance test format: parsing `.data` files, running them, and the plugin.

This module owns three things:

  * the `.data` text format of the public bpf_conformance suite
    (https://github.com/Alan-Jowett/bpf_conformance): `parse(text) -> Case`;
  * running a Case on the interpreter or a backend and judging the outcome
    (`run_case`, `judge`, `run_dir`, `main_conformance` for `bpfjit
    conformance`);
  * the suite's plugin protocol (`plugin_main`, installed as
    `bpfjit-conformance-plugin` and runnable as `python -m jit.testing.conformance`),
    so the suite's own runner can drive bpfjit.

It does not own the assembler syntax (`jit.asm.assemble_conformance`), what an
instruction means (`jit.interp`), the helpers (`jit.helpers.CONFORMANCE`) or
how a backend compiles and runs a program (`jit.driver`).

The `.data` format, as the suite's parser (src/bpf_test_parser.cc) reads it:
any line containing `--` starts a section, chosen by the first of these words
it contains: `asm`, `result`, `mem`, `raw`, `no register offset` and ` c`
(both ignored), `error`.  Lines before the first section are ignored, as are
empty lines; in `asm` a `#` starts a comment.  `result` is the last non-empty
line, hex when it contains `0x`, else decimal.  `mem` is whitespace-separated
hex bytes.  `error` is the last non-empty line.  `raw` is whitespace-separated
64-bit numbers, each one instruction slot as a little-endian host reads it;
when present it replaces `asm`.  A file with neither `result` nor `error` is
skipped.  Our own files also allow `#` comments in `mem`.

How a Case runs (every arch alike): the program is assembled (or taken from
`raw`), encoded as little-endian bytecode and decoded back with validation,
so asm and raw programs fail the same way; the static checks of
`jit.analysis` run next with the conformance helper set; then the program
runs with r1 = the address of the `mem` block and r2 = its length (both 0
without one), exactly as the suite's plugins call a program.  Any failure at
any stage is the Case's error, a single line.  An expected `error` matches
when it equals that line, occurs in it, or is a regular expression found in
it: our messages are our own, so our corpus names the essential words.

Plugin protocol (what the suite's runner, src/bpf_conformance.cc, does):
argv[1] is the memory as hex bytes when there is any (omitted otherwise;
older runners pass an empty string), followed by the plugin options (newer
runners split `--plugin_options` on spaces, older ones pass it as one
argument) and `--elf` when the runner sends an ELF object instead of
bytecode.  stdin carries the program as hex bytes on one line.  On success
the plugin prints r0 in hex (no prefix) and exits 0.  On failure it exits
non-zero; the runner then compares the plugin's output (stdout, or stderr
when stdout is empty) with the test's expected error string, so we print the
one-line error on stdout (and, for people, on stderr) and exit 1; misuse of
the plugin itself exits 2.  Our options: `--arch NAME` (default interp),
`--xdp` for the runner's `--xdp_prolog true` mode (the runner then prepends
code that reads r1 as a struct xdp_md; an ELF `xdp` section implies it),
`--max-insns N`, `--no-check`, `--program HEX` instead of stdin, `--debug`.
A big-endian arch runs the little-endian bytecode as a big-endian machine.

Imports of the pipeline are local to the functions that need them: the suite's
runner starts the plugin once per test case, so each start loads only what that
case runs (the interpreter alone needs no backend, assembler or ELF reader).
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from jit.errors import BpfjitError
from jit.program import Object, Program, from_bytecode

M64 = (1 << 64) - 1

# Executed-instruction budget for one case: far above what any corpus program
# needs, low enough that a runaway loop fails in about a second.
DEFAULT_BUDGET = 250_000


# --------------------------------------------------------------------- the format

@dataclass(frozen=True)
class Case:
    """One `.data` file.  `raw` holds 64-bit slot values; `result` is the expected r0."""
    asm: str = ""
    mem: bytes = b""
    result: int | None = None
    error: str | None = None
    raw: tuple[int, ...] | None = None
    name: str = "<text>"


class FormatError(BpfjitError):
    """A `.data` file that does not follow the format (not a failure of the program)."""


_SECTIONS = (  # (word to look for, section), in the order the suite's parser tries them
    ("asm", "asm"), ("result", "result"), ("mem", "mem"), ("raw", "raw"),
    ("no register offset", None), (" c", None), ("error", "error"),
)


def _section_of(line: str, name: str, lineno: int) -> str | None:
    for word, section in _SECTIONS:
        if word in line:
            return section
    raise FormatError(f"line {lineno}: unknown section {line.strip()!r}", file=name)


def _number(text: str, what: str, name: str) -> int:
    t = text.strip()
    try:
        return int(t, 16) if "0x" in t.lower() else int(t, 10)
    except ValueError:
        raise FormatError(f"{what} {t!r} is not a number", file=name) from None


def parse(text: str, name: str = "<text>") -> Case:
    """A Case from the text of a `.data` file (see the module docstring for the rules)."""
    section: str | None = None
    asm: list[str] = []
    mem: list[str] = []
    raw: list[str] = []
    result: str | None = None
    error: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        if "--" in line:
            section = _section_of(line, name, lineno)
            continue
        if not line.strip():
            continue
        if section == "asm":
            asm.append(line.split("#", 1)[0])
        elif section == "result":
            result = line
        elif section == "mem":
            mem.append(line.split("#", 1)[0])
        elif section == "error":
            error = line.strip()
        elif section == "raw":
            raw.append(line.split("#", 1)[0])
    return Case(
        asm="\n".join(asm),
        mem=_hex_bytes(" ".join(mem), name),
        result=None if result is None else _number(result, "result", name) & M64,
        error=error,
        raw=tuple(_number(t, "raw slot", name) & M64 for t in " ".join(raw).split()) or None,
        name=name,
    )


def parse_file(path: str | os.PathLike) -> Case:
    p = Path(path)
    return parse(p.read_text(), p.name)


def _hex_bytes(text: str, name: str = "<hex>") -> bytes:
    """Whitespace-separated hex bytes (`0a`, `0x0a`); a token without spaces may hold several."""
    out = bytearray()
    for tok in text.split():
        try:
            if tok.lower().startswith("0x"):
                v = int(tok, 16)
                if v > 0xFF:
                    raise ValueError
                out.append(v)
            elif len(tok) == 1:
                out.append(int(tok, 16))
            else:
                out += bytes.fromhex(tok)
        except ValueError:
            raise FormatError(f"{tok!r} is not a hex byte", file=name) from None
    return bytes(out)


def program_bytes(case: Case) -> bytes:
    """The case's program as little-endian bytecode, as the suite hands it to a plugin.

    Assembly that names invalid instructions (`%r11`, `callx`) is encoded as
    written: rejecting it is the loader's job, as it is in the suite."""
    from jit.asm import assemble_conformance  # local: plugin start-up
    from jit.isa import encode  # local: plugin start-up
    if case.raw is not None:
        return b"".join(v.to_bytes(8, "little") for v in case.raw)
    return encode(assemble_conformance(case.asm, validate=False), "little")


# --------------------------------------------------------------------- running

class Outcome(NamedTuple):
    """How one run ended: r0, or the one-line error that stopped it (r0 then None).

    `internal` marks a bug or a missing piece in bpfjit (an unexpected Python
    exception), which never counts as the error a case expects."""
    r0: int | None
    error: str | None = None
    internal: bool = False


# runner(prog, mem, arch) -> (r0, error): how to run a checked Program on a
# non-interpreter arch instead of `jit.driver.run` (tests plug fakes in here).
Runner = Callable[[Program, bytes, str], "tuple[int | None, str | None]"]


def load_program(data: bytes, *, name: str = "main", file: str = "<conformance>") -> Program:
    """Decode (and validate) little-endian bytecode into a Program."""
    return from_bytecode(data, byteorder="little", file=file, name=name)


def target_order(arch: str) -> str:
    """The byte order `arch` runs programs in ("little" for the interpreter and unknown names)."""
    if arch == "interp":
        return "little"
    try:
        import backends  # local: plugin start-up
        return backends.TARGET_ORDER[backends.canonical(arch, "little")]
    except (ImportError, KeyError, BpfjitError):
        return "little"


def for_order(prog: Program, order: str) -> Program:
    """The same instructions as a program of the given byte order.

    The suite's bytecode is little-endian; a big-endian machine runs it the
    way a big-endian eBPF runtime would: memory reads and writes, and the
    meaning of LE/BE, follow the machine.  Only cases that look at memory
    byte by byte, or use LE/BE, then differ from their `result`."""
    if prog.byteorder == order:
        return prog
    from dataclasses import replace
    return replace(prog, byteorder=order)


def facts_for(prog: Program, *, check: bool = True):
    """jit.analysis facts for the conformance helper set; raise the first problem when checking."""
    from jit import analysis  # local: plugin start-up
    from jit.helpers import CONFORMANCE  # local: plugin start-up
    facts = analysis.facts_unchecked(prog, helpers=CONFORMANCE)
    if check:
        if facts.problems:
            raise facts.problems[0]
    return facts


def run_program(prog: Program, mem: bytes, arch: str = "interp", *,
                runner: Runner | None = None, max_insns: int = DEFAULT_BUDGET,
                check: bool = True, byteorder: str | None = None) -> Outcome:
    """Check and run an already loaded Program; never raises for what the program does.

    The program runs in `arch`'s byte order (see `for_order`); `byteorder`
    makes the interpreter a machine of the other order."""
    if byteorder is not None and arch != "interp":
        raise ValueError("byteorder applies to the interpreter only")
    try:
        prog = for_order(prog, byteorder or target_order(arch))
        facts = facts_for(prog, check=check)
        if arch == "interp":
            return _run_interp(prog, mem, max_insns, facts)
        if runner is not None:
            r0, err = runner(prog, mem, arch)
            return Outcome(None if err else (r0 or 0) & M64, err)
        return _run_driver(prog, mem, arch, max_insns, facts)
    except BpfjitError as e:
        return Outcome(None, _one_line(e))
    except Exception as e:  # noqa: BLE001 - one broken backend must not stop a whole table
        if os.environ.get("BPFJIT_DEBUG"):
            raise
        return Outcome(None, f"internal error: {type(e).__name__}: {_one_line(e)}", internal=True)


def run_case(case: Case, arch: str = "interp", *, runner: Runner | None = None,
             max_insns: int = DEFAULT_BUDGET, byteorder: str | None = None) -> Outcome:
    """Load, check and run `case` on `arch` ("interp" or a backend name)."""
    try:
        prog = load_program(program_bytes(case), file=case.name)
    except BpfjitError as e:
        return Outcome(None, _one_line(e))
    except ValueError as e:  # the assembler's own operand errors
        return Outcome(None, f"{case.name}: {e}")
    return run_program(prog, case.mem, arch, runner=runner, max_insns=max_insns,
                       byteorder=byteorder)


def _run_interp(prog: Program, mem: bytes, max_insns: int, facts) -> Outcome:
    from jit import interp  # local: plugin start-up
    if prog.prog_type == "xdp":
        # The suite's --xdp_prolog mode: r1 is an xdp_md whose data/data_end
        # frame the memory, and the prolog the runner adds loads r1/r2 from it.
        from jit import contexts  # local: plugin start-up
        env, r1, r2 = contexts.prepare(None, prog, packet=mem, helpers="conformance")[:3]
    else:
        env, r1, r2 = interp.setup(prog, mem=mem or None, helpers="conformance")
    # The frames the checks measured, as jit.driver gives the interpreter too.
    res = interp.run(prog, env=env, r1=r1, r2=r2, max_insns=max_insns,
                     stack_depths=facts.depths)
    return _outcome(res)


def _run_driver(prog: Program, mem: bytes, arch: str, max_insns: int, facts) -> Outcome:
    """Compile for `arch` and run under Unicorn through `jit.driver.run`."""
    from jit import driver  # local: plugin start-up
    obj = Object(file=prog.file, programs=[prog], maps=[], byteorder=prog.byteorder)
    if prog.prog_type == "xdp":
        inputs = driver.Inputs(packet=mem, helpers="conformance", max_insns=max_insns)
    else:
        inputs = driver.Inputs(mem=mem or None, helpers="conformance", max_insns=max_insns)
    return _outcome(driver.run(obj, prog, arch, inputs, facts=facts))


def _outcome(res) -> Outcome:
    if res.fault is not None:
        return Outcome(None, _one_line(res.fault))
    return Outcome(res.r0 & M64)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


# --------------------------------------------------------------------- judging

class Verdict(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    ERROR = "ERROR"      # the case could not be run at all (bad file)


def error_matches(expected: str, actual: str) -> bool:
    """Equal, a substring, or a regular expression found in the actual message."""
    if expected == actual or expected in actual:
        return True
    try:
        return re.search(expected, actual) is not None
    except re.error:
        return False


def judge(case: Case, outcome: Outcome) -> tuple[Verdict, str]:
    """PASS/FAIL/SKIP with a one-line reason."""
    if outcome.internal:
        return Verdict.FAIL, outcome.error or "internal error"
    if case.error is not None:
        if outcome.error is None:
            return Verdict.FAIL, f"r0 = 0x{outcome.r0:x}, expected an error matching {case.error!r}"
        if error_matches(case.error, outcome.error):
            return Verdict.PASS, ""
        return Verdict.FAIL, f"error {outcome.error!r} does not match {case.error!r}"
    if case.result is None:
        return Verdict.SKIP, "no result or error section"
    if outcome.error is not None:
        return Verdict.FAIL, f"{outcome.error} (expected r0 = 0x{case.result:x})"
    if outcome.r0 != case.result:
        return Verdict.FAIL, f"r0 = 0x{outcome.r0:x}, expected 0x{case.result:x}"
    return Verdict.PASS, ""


def evaluate(case: Case, arch: str = "interp", *, runner: Runner | None = None,
             max_insns: int = DEFAULT_BUDGET) -> tuple[Verdict, str]:
    """Run `case` on `arch` and judge it.

    The corpus's results assume a little-endian machine.  On a big-endian
    arch, a case whose `result` the big-endian interpreter does not reproduce
    depends on byte order: it is judged against that interpreter's r0
    instead, and says so."""
    outcome = run_case(case, arch, runner=runner, max_insns=max_insns)
    if (outcome.internal or case.result is None or arch == "interp"
            or target_order(arch) != "big"):
        return judge(case, outcome)
    ref = run_case(case, "interp", byteorder="big", max_insns=max_insns)
    if judge(case, ref)[0] is Verdict.PASS:
        return judge(case, outcome)      # byte-order neutral: the expected result stands
    if ref.error is None and outcome.error is None and ref.r0 == outcome.r0:
        return Verdict.PASS, "byte-order dependent: matches the big-endian interpreter"
    got = f"r0 = 0x{outcome.r0:x}" if outcome.error is None else outcome.error
    want = f"0x{ref.r0:x}" if ref.error is None else ref.error
    return Verdict.FAIL, f"{got}; byte-order dependent: the big-endian interpreter gives {want}"


# --------------------------------------------------------------------- a folder of cases

@dataclass(frozen=True)
class Row:
    file: str
    arch: str
    verdict: Verdict
    detail: str = ""


@dataclass
class Report:
    arches: list[str]
    rows: list[Row] = field(default_factory=list)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.verdict in (Verdict.FAIL, Verdict.ERROR)]

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self, arch: str) -> dict[Verdict, int]:
        out = {v: 0 for v in Verdict}
        for r in self.rows:
            if r.arch == arch:
                out[r.verdict] += 1
        return out


def expand_arches(arches: str | Iterable[str]) -> list[str]:
    """"interp", "all" (interp and every backend) or a comma-separated list."""
    names = arches.split(",") if isinstance(arches, str) else list(arches)
    out: list[str] = []
    for n in (x.strip() for x in names):
        if not n:
            continue
        if n == "all":
            from backends import ALL  # local: plugin start-up
            out += ["interp", *ALL]
        else:
            out.append(n)
    return list(dict.fromkeys(out))


def data_files(path: str | os.PathLike) -> list[Path]:
    """The `.data` files of a folder (sorted), or the one file named."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise BpfjitError("no such file or folder", file=str(p))
    return sorted(p.glob("*.data"))


def run_dir(path: str | os.PathLike, arches: str | Iterable[str] = "interp", *,
            runner: Runner | None = None, max_insns: int = DEFAULT_BUDGET) -> Report:
    """Run every `.data` file under `path` on every arch."""
    archlist = expand_arches(arches)
    report = Report(archlist)
    for f in data_files(path):
        try:
            case = parse_file(f)
        except (BpfjitError, OSError, UnicodeDecodeError) as e:
            for arch in archlist:
                report.rows.append(Row(f.name, arch, Verdict.ERROR, _one_line(e)))
            continue
        for arch in archlist:
            if case.result is None and case.error is None:
                report.rows.append(Row(f.name, arch, Verdict.SKIP, "no result or error section"))
                continue
            verdict, detail = evaluate(case, arch, runner=runner, max_insns=max_insns)
            report.rows.append(Row(f.name, arch, verdict, detail))
    return report


def format_report(report: Report) -> str:
    """A plain-text table: one line per file, one column per arch, then the failures."""
    files = list(dict.fromkeys(r.file for r in report.rows))
    cell = {(r.file, r.arch): r.verdict.value for r in report.rows}
    width = max([len("file")] + [len(f) for f in files])
    cols = [max(len(a), 5) for a in report.arches]
    lines = ["  ".join(["file".ljust(width)] + [a.ljust(w) for a, w in zip(report.arches, cols)])
             .rstrip()]
    for f in files:
        lines.append("  ".join([f.ljust(width)] + [cell.get((f, a), "").ljust(w)
                                                    for a, w in zip(report.arches, cols)]).rstrip())
    if report.failures:
        lines += ["", "failures:"]
        lines += [f"  {r.file} [{r.arch}]: {r.detail}" for r in report.failures]
    lines.append("")
    for a in report.arches:
        c = report.counts(a)
        lines.append(f"{a}: {c[Verdict.PASS]} passed, {c[Verdict.FAIL]} failed, "
                     f"{c[Verdict.ERROR]} errors, {c[Verdict.SKIP]} skipped")
    return "\n".join(lines)


def main_conformance(path: str | os.PathLike, arches: str | Iterable[str] = "interp", *,
                     runner: Runner | None = None, out=None) -> int:
    """`bpfjit conformance DIR --arch ...`: print the table; 0 when everything passed, else 1.

    An unknown arch or a folder without `.data` files raises BpfjitError (the
    CLI's exit status 2)."""
    archlist = expand_arches(arches)
    if runner is None:
        for a in archlist:
            if a != "interp":
                import backends  # local: plugin start-up
                backends.canonical(a, "little")      # BpfjitError naming the known ones
    if not data_files(path):
        raise BpfjitError("no .data files here", file=str(path))
    report = run_dir(path, archlist, runner=runner)
    print(format_report(report), file=out or sys.stdout)
    return 0 if report.ok else 1


# --------------------------------------------------------------------- the plugin

PLUGIN_USAGE = ("usage: bpfjit-conformance-plugin [MEMORY-HEX] [--arch ARCH] [--elf] [--xdp] "
                "[--program PROGRAM-HEX] [--max-insns N] [--no-check] [--debug]\n"
                "  reads the program as hex bytes on stdin (or --program); prints r0 in hex\n"
                "  --elf   stdin holds an ELF object (its `main`, or first program)\n"
                "  --xdp   run as an XDP program, the memory as its packet (for the\n"
                "          runner's --xdp_prolog true; an ELF `xdp` section implies it)")


class _UsageError(Exception):
    pass


@dataclass
class PluginArgs:
    memory: bytes = b""
    arch: str = "interp"
    elf: bool = False
    program: str | None = None
    max_insns: int = DEFAULT_BUDGET
    check: bool = True
    debug: bool = False
    xdp: bool = False


def parse_plugin_args(argv: list[str]) -> PluginArgs:
    """The runner's argv: an optional memory argument, then options.

    Options may arrive as one argument holding several words (older runners
    pass `--plugin_options` whole), so every argument is split on whitespace;
    empty arguments are ignored.  The first argument not starting with `--`
    (possibly empty) is the memory."""
    args = PluginArgs()
    rest = list(argv)
    if rest and not rest[0].startswith("--"):
        args.memory = _hex_bytes(rest.pop(0), "memory")
    words = [w for a in rest for w in a.split()]
    it = iter(words)
    for w in it:
        key, eq, val = w.partition("=")

        def value() -> str:
            if eq:
                return val
            nxt = next(it, None)
            if nxt is None:
                raise _UsageError(f"{key} needs a value")
            return nxt
        if key == "--arch":
            args.arch = value()
        elif key == "--elf":
            args.elf = True
        elif key == "--program":
            args.program = value()
        elif key == "--max-insns":
            try:
                args.max_insns = int(value(), 0)
            except ValueError:
                raise _UsageError("--max-insns needs a number") from None
        elif key == "--no-check":
            args.check = False
        elif key == "--xdp":
            args.xdp = True
        elif key == "--debug":
            args.debug = True
        elif key in ("--interpret", "--interp"):
            args.arch = "interp"
        else:
            raise _UsageError(f"unexpected argument {w!r}")
    return args


def _plugin_program(args: PluginArgs, text: str) -> Program:
    data = _hex_bytes(text, "program")
    if not args.elf:
        prog = load_program(data)
        if args.xdp:
            prog.prog_type = "xdp"
        return prog
    from jit import elf  # local: plugin start-up
    obj = elf.load(data, file="<elf>")
    for p in obj.programs:           # the runner names its function `main`
        if p.name == "main":
            return p
    if not obj.programs:
        raise BpfjitError("the ELF object holds no program", file="<elf>")
    return obj.programs[0]


def plugin_main(argv: list[str] | None = None) -> int:
    """The bpf_conformance plugin: exit 0 and r0 in hex, 1 when the program fails, 2 on misuse."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--help"], ["-h"]):
        print(PLUGIN_USAGE)
        return 0
    try:
        args = parse_plugin_args(argv)
        text = args.program if args.program is not None else sys.stdin.read()
    except (_UsageError, BpfjitError) as e:
        print(f"bpfjit-conformance-plugin: {e}\n{PLUGIN_USAGE}", file=sys.stderr)
        return 2
    try:
        prog = _plugin_program(args, text)
    except BpfjitError as e:
        return _plugin_fail(_one_line(e))
    except Exception as e:  # noqa: BLE001 - a plugin must answer, never dump a traceback
        return _plugin_fail(f"internal error: {type(e).__name__}: {e}")
    if args.debug:
        _debug_listing(prog, args)
    try:
        outcome = run_program(prog, args.memory, args.arch, max_insns=args.max_insns,
                              check=args.check)
    except Exception as e:  # noqa: BLE001
        if os.environ.get("BPFJIT_DEBUG"):
            raise
        return _plugin_fail(f"internal error: {type(e).__name__}: {e}")
    if outcome.error is not None:
        return _plugin_fail(outcome.error)
    print(f"{outcome.r0:x}")
    return 0


def _plugin_fail(msg: str) -> int:
    # stdout is what the runner compares with `-- error`; stderr is for people.
    print(msg)
    print(f"bpfjit-conformance-plugin: {msg}", file=sys.stderr)
    return 1


def _debug_listing(prog: Program, args: PluginArgs) -> None:
    from jit.asm import listing  # local: plugin start-up
    print(f"arch {args.arch}, memory {len(args.memory)} bytes, {prog.n_slots} slots",
          file=sys.stderr)
    print(listing(prog.insns), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(plugin_main())
