"""`bpfjit fuzz`: random valid programs, diffed on every backend, minimized when they diverge.

This module owns the fuzzing campaign and its artifacts: which backends take
part, how each generated program is diffed against the interpreter, how a
divergence is cut down to a small reproducer (delta debugging over the
instructions, then simpler immediates and inputs, keeping the program valid and
the divergence alive), the reproducer file format, and `--replay`.  Programs
come from `jit.testing.gen`; running and comparing them is `jit.driver`'s.

Every program is generated once per byte order from the same seed: bpfel for
x86_64, arm32 and mips64el, bpfeb for mips64.  Program `i` of a campaign with
seed `S` has generator seed `S * 2^32 + i`, so any one of them can be
regenerated alone (`jit.testing.gen.generate(seed, GenConfig(byteorder=...))`).

Reproducer file (JSON, one object):

    format      "bpfjit-repro/1"
    arch        the backend that diverged; options: backend options or null
    byteorder   "little" | "big"
    programs    [{"name", "hex"}]: raw bytecode, the entry program first
    maps        [{"name", "type", "key_size", "value_size", "max_entries", "flags",
                  "prog_slots": {slot: program name}}]
    mem         hex of the --mem block; map_seeds: {map: [[key hex, value hex]]}
    max_insns   the instruction budget: a few times what the interpreter needs, so a
                miscompiled loop that never ends stops in milliseconds
    divergence  {"what", "expected", "got", "pc"}: what the diff reported
    seed        the generator seed (null once minimized programs differ from it)
    note, listing, native   for people (ignored when loading): where the case came
                from, the eBPF listing, the native listing near the pc

`--jobs J` runs programs in J spawned processes (default: one per core the
process may use; Unicorn engines never cross processes); the parent collects the results, then the same pool minimizes every
divergence (the first few of each arch and kind with the full budget) and the
files are written.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import backends
from jit import driver, interp, isa
from jit.asm import listing
from jit.testing import gen
from jit.errors import BpfjitError
from jit.isa import Insn
from jit.program import MapDef
from jit.session import Session

FORMAT = "bpfjit-repro/1"
SEED_STRIDE = 1 << 32
# Every divergence is minimized; the first few of each (arch, kind) get the full budget,
# the rest (most often the same bug again) a small one, so a badly broken backend
# cannot keep a campaign minimizing for hours.
FULL_MINIMIZE_PER_KIND = 2
MINIMIZE_TRIALS = 600
MINIMIZE_SECONDS = 60.0
QUICK_TRIALS = 150
QUICK_SECONDS = 20.0


# --------------------------------------------------------------------- backends

def smoke(arch: str) -> str | None:
    """None if `arch` compiles and runs `r0 = 1; exit` like the interpreter, else why not."""
    order = backends.TARGET_ORDER[backends.canonical(arch, "little")]
    case = gen.Case(programs=[gen.make_program([gen.mov(0, imm=1), gen.EXIT], order, "main", [])],
                    maps=[], mem=bytes(8), byteorder=order)
    try:
        d = diff_case(case, arch)
    except Exception as e:          # noqa: BLE001 - any failure means "not ready"
        return f"{type(e).__name__}: {e}"
    return None if d is None else f"diverges on a trivial program: {d.what}"


def available(arch: str) -> str | None:
    """None if the backend package loads, else the reason it does not."""
    try:
        backends.get(arch)
    except Exception as e:          # noqa: BLE001 - a backend still being written
        return f"{type(e).__name__}: {e}"
    return None


def choose_arches(spec: str) -> tuple[list[str], dict[str, str]]:
    """(arches to fuzz, {arch: why skipped}).  `all` takes every backend that is ready."""
    if spec == "all":
        chosen, skipped = [], {}
        for a in backends.ALL:
            why = available(a) or smoke(a)
            if why is None:
                chosen.append(a)
            else:
                skipped[a] = why
        return chosen, skipped
    chosen = []
    for name in spec.split(","):
        name = name.strip()
        if not name:
            continue
        if name in backends.order_aliases():       # every byte order's target
            chosen += list(backends.order_aliases()[name].values())
            continue
        a = backends.canonical(name)
        why = available(a)
        if why is not None:
            raise BpfjitError(f"backend {a} is not available: {why}")
        chosen.append(a)
    return list(dict.fromkeys(chosen)), {}


def order_of(arch: str) -> str:
    return backends.TARGET_ORDER[arch]


# --------------------------------------------------------------------- one diff

def kind_of(what: str) -> str:
    """The class of a divergence: r0, fault, region, helper, compile or crash."""
    return what.split()[0] if what else "?"


def _safe(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return [_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _safe(x) for k, x in v.items()}
    return repr(v)


def reference(case: gen.Case, max_insns: int | None = None):
    """The interpreter's Result for a case."""
    obj = case.obj()
    return driver.run(obj, case.prog, driver.INTERP, case.inputs(max_insns or 1_000_000))


def session_for(case: gen.Case, arches: list[str], *, options: dict | None = None,
                harden: bool = False) -> Session:
    """A Session for `case`: analysed once, each backend compiled once on first use."""
    return Session(case.obj(), case.prog, arches, helpers=case.inputs(1).helpers,
                   options=options, harden=harden)


def diff_case(case: gen.Case, arch: str, *, options: dict | None = None,
              max_insns: int | None = None, ref=None, harden: bool = False,
              images: list | None = None, session: Session | None = None
              ) -> driver.Divergence | None:
    """Run `case` on the interpreter and on `arch`; the first difference, or None.

    A backend that refuses or crashes on a valid program is a divergence too
    (`what` = "compile" for a BpfjitError, "crash" for anything else).  `images`:
    what driver.compile_for_run made for this case and arch, if the caller has it;
    `session`: the case's Session (`session_for`, with the same options), shared by
    the arches of one case so that it is analysed and compiled once.
    """
    if session is None:
        session = session_for(case, [arch], options=options, harden=harden)
    inputs = case.inputs(max_insns or 1_000_000)
    if ref is None:
        ref = session.run(inputs, carry=False)
    if max_insns is None and ref.fault is None:
        # the native budget is a multiple of this: a miscompiled loop that never
        # ends should cost milliseconds, not minutes
        inputs.max_insns = max(10_000, 4 * ref.insns_executed)
    engine = session.engine(arch)
    try:
        if images is None:
            images = engine.prepared().images
        else:
            engine.images = images
    except BpfjitError as e:
        return driver.Divergence(arch, "compile error", None, str(e), e.pc)
    except Exception as e:          # noqa: BLE001 - a backend bug, reported as such
        return driver.Divergence(arch, "crash while compiling", None, _crash(e))
    try:
        got = engine.run(inputs, carry=False)
    except Exception as e:          # noqa: BLE001
        return driver.Divergence(arch, "crash while running", None, _crash(e))
    d = driver.first_difference(driver.comparable(ref), driver.comparable(got))
    if d is None:
        return None
    what, exp, res = d
    pc = getattr(got.fault, "pc", None)
    if pc is None:
        pc = getattr(ref.fault, "pc", None)
    return driver.Divergence(images[0].arch, what, exp, res, pc, _native_near(images[0], pc))


def _crash(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def _native_near(image, pc: int | None, context: int = 40) -> str:
    try:
        lines = image.listing().splitlines()
    except Exception:   # noqa: BLE001 - a listing is a courtesy in a report
        return ""
    if pc is None:
        return "\n".join(lines[:context * 2])
    for i, line in enumerate(lines):
        head = line[2:].split(":")[0].strip() if line.startswith("; ") else ""
        if head.isdigit() and int(head) >= pc - 2:
            return "\n".join(lines[max(0, i - 2):i + context])
    return "\n".join(lines[:context * 2])


# --------------------------------------------------------------------- minimizing

def _link(insns: list[Insn]) -> list[tuple[Insn, int | None]]:
    """Each instruction with the *index* of the instruction it targets (jumps, calls)."""
    pcs = isa.slot_pcs(insns)
    index = {pc: i for i, pc in enumerate(pcs)}
    end = pcs[-1] + insns[-1].slots if insns else 0
    index[end] = len(insns)
    out = []
    for insn, pc in zip(insns, pcs):
        tgt = None
        if (insn.is_jmp and (insn.is_cond_jump or insn.is_ja)) or insn.is_local_call \
                or (insn.is_lddw and insn.src == isa.Pseudo.FUNC):
            rel = isa.s32(insn.imm) if (insn.is_gotol or insn.is_call or insn.is_lddw) \
                else insn.off
            tgt = index.get(pc + 1 + rel)
        out.append((insn, tgt))
    return out


def _unlink(items: list[tuple[Insn, int | None]], keep: list[bool]) -> list[Insn] | None:
    """The kept instructions with targets moved to the next kept one; None if impossible."""
    n = len(items)
    nxt = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        nxt[i] = i if keep[i] else nxt[i + 1]
    new_index = {}
    out_items = []
    for i, (insn, tgt) in enumerate(items):
        if keep[i]:
            new_index[i] = len(out_items)
            out_items.append((insn, tgt))
    new_index[n] = len(out_items)
    pcs = isa.slot_pcs([i for i, _ in out_items])
    end = (pcs[-1] + out_items[-1][0].slots) if out_items else 0
    pcs.append(end)
    out = []
    for j, (insn, tgt) in enumerate(out_items):
        if tgt is not None:
            t = new_index[nxt[tgt]]
            if t >= len(out_items):
                return None
            rel = pcs[t] - (pcs[j] + 1)
            if insn.is_gotol or insn.is_call:
                insn = insn._replace(imm=rel)
            elif insn.is_lddw:
                insn = insn._replace(imm=(insn.imm & ~0xFFFF_FFFF) | (rel & 0xFFFF_FFFF))
            else:
                if not -0x8000 <= rel <= 0x7FFF:
                    return None
                insn = insn._replace(off=rel)
        out.append(insn)
    return out


def _simpler(insn: Insn) -> list[Insn]:
    """Simpler versions of one instruction, simplest first (same shape, smaller numbers)."""
    out = []
    if insn.is_lddw and insn.src == 0:
        for v in (0, 1):
            if insn.imm != v:
                out.append(insn._replace(imm=v))
    elif insn.is_cond_jump:
        out.append(Insn(isa.JA, 0, 0, insn.off, 0))
    elif insn.is_alu and insn.source == isa.Src.K and insn.code not in (isa.Alu.END,
                                                                         isa.Alu.NEG):
        zero_ok = insn.code not in (isa.Alu.DIV, isa.Alu.MOD)
        for v in ((0, 1) if zero_ok else (1,)):
            if insn.imm != v:
                out.append(insn._replace(imm=v))
    elif insn.cls == isa.Cls.ST and insn.imm not in (0,):
        out.append(insn._replace(imm=0))
    return out


@dataclass
class _Minimizer:
    case: gen.Case
    still: Callable[[gen.Case], bool]
    trials: int = 0
    max_trials: int = MINIMIZE_TRIALS
    deadline: float = 0.0

    def budget_left(self) -> bool:
        return self.trials < self.max_trials and time.monotonic() < self.deadline

    def test(self, cand: gen.Case) -> bool:
        self.trials += 1
        try:
            if gen.validate(cand):
                return False
            return self.still(cand)
        except Exception:       # noqa: BLE001 - a candidate that breaks the pipeline is not kept
            return False

    def try_insns(self, k: int, insns: list[Insn] | None) -> bool:
        if insns is None or not insns:
            return False
        cand = self.case.with_insns(k, insns)
        if self.test(cand):
            self.case = cand
            return True
        return False

    def ddmin(self, k: int) -> None:
        """Remove chunks of program k's instructions, halving the chunk size."""
        n = len(self.case.programs[k].insns)
        chunk = max(1, n // 2)
        while chunk >= 1 and self.budget_left():
            items = _link(self.case.programs[k].insns)
            n = len(items)
            i = 0
            removed = False
            while i < n and self.budget_left():
                keep = [not (i <= j < i + chunk) for j in range(n)]
                if self.try_insns(k, _unlink(items, keep)):
                    items = _link(self.case.programs[k].insns)
                    n = len(items)
                    removed = True
                else:
                    i += chunk
            if not removed:
                chunk //= 2

    def simplify(self, k: int) -> None:
        i = 0
        while i < len(self.case.programs[k].insns) and self.budget_left():
            insns = self.case.programs[k].insns
            for alt in _simpler(insns[i]):
                if self.try_insns(k, insns[:i] + [alt] + insns[i + 1:]):
                    break
            i += 1

    def inputs(self) -> None:
        for name in list(self.case.map_seeds):
            if self.case.map_seeds[name] and self.budget_left():
                seeds = dict(self.case.map_seeds)
                seeds[name] = []
                cand = replace(self.case, map_seeds=seeds)
                if self.test(cand):
                    self.case = cand
        if any(self.case.mem) and self.budget_left():
            cand = replace(self.case, mem=bytes(len(self.case.mem)))
            if self.test(cand):
                self.case = cand

    def run(self) -> gen.Case:
        for k in range(len(self.case.programs)):
            self.ddmin(k)
        for k in range(len(self.case.programs)):
            self.simplify(k)
        for k in range(len(self.case.programs)):
            self.ddmin(k)
        self.inputs()
        return self.case


def minimize(case: gen.Case, arch: str, *, options: dict | None = None,
             kind: str | None = None, max_trials: int = MINIMIZE_TRIALS,
             seconds: float = MINIMIZE_SECONDS) -> gen.Case:
    """A smaller valid case on which `arch` still diverges the same way (same `kind_of`)."""
    first = diff_case(case, arch, options=options)
    if first is None:
        return case
    kind = kind or kind_of(first.what)
    ref0 = reference(case)
    faulted = ref0.fault is not None
    budget = max(2_000, ref0.insns_executed * 2)       # candidates that loop stop early

    def still(cand: gen.Case) -> bool:
        ref = reference(cand, budget)
        if (ref.fault is not None) != faulted or not well_defined(cand, ref, budget):
            return False
        d = diff_case(cand, arch, options=options, max_insns=budget, ref=ref)
        return d is not None and kind_of(d.what) == kind

    m = _Minimizer(case, still, max_trials=max_trials, deadline=time.monotonic() + seconds)
    out = m.run()
    return replace(out, seed=case.seed if out is case else None)


def well_defined(case: gen.Case, ref, max_insns: int) -> bool:
    """False if the case's result depends on what the spec leaves open, which cutting
    instructions out of a generated program can bring about (the analysis does not
    reject it): frame bytes read before they are written (the run is repeated with
    the frame full of garbage), or r0 read after a tail call without being set."""
    for p in case.programs:
        if not _r0_set_after_tail_calls(p.insns):
            return False
    obj = case.obj()
    inputs = case.inputs(max_insns)
    env, r1, r2, hs = driver.prepare(obj, case.prog, inputs)
    stack = env.memory.region("stack").data
    stack[:] = bytes((0xA5 + 0x3B * i) & 0xFF for i in range(8)) * (len(stack) // 8)
    facts = driver.analyse(case.prog, hs)
    other = interp.run(case.prog, env=env, r1=r1, r2=r2, helpers=hs, max_insns=max_insns,
                       stack_depths=facts.depths, programs=obj.programs,
                       depths_of=lambda p: driver.analyse(p, hs).depths)
    return _stackless(driver.comparable(other)) == _stackless(driver.comparable(ref))


def _stackless(facts: dict) -> dict:
    """The facts without the stack region's bytes (the garbage run leaves its garbage
    in every byte the program did not write)."""
    return {**facts, "regions": {k: v for k, v in facts["regions"].items() if k != "stack"}}


def _r0_set_after_tail_calls(insns: list[Insn]) -> bool:
    """After each tail call, r0 is written before it is read (straight-line look ahead)."""
    for i, insn in enumerate(insns):
        if not (insn.is_helper_call and insn.imm == 12):
            continue
        for nxt in insns[i + 1:]:
            if nxt.is_exit:
                return False
            if nxt.is_call or (nxt.is_jmp and not nxt.is_cond_jump):
                break
            if 0 in _reads(nxt):
                return False
            if nxt.is_jmp:
                break
            if nxt.is_ldabs or (nxt.dst == 0 and (nxt.is_alu or nxt.cls == isa.Cls.LDX
                                                  or nxt.is_lddw)):
                break
    return True


def _reads(insn: Insn) -> set[int]:
    """The registers an (ALU, jump, load or store) instruction reads."""
    cls = insn.cls
    x = insn.source == isa.Src.X
    if insn.is_alu:
        if insn.code == isa.Alu.END or insn.code == isa.Alu.NEG:
            return {insn.dst}
        if insn.code == isa.Alu.MOV:
            return {insn.src} if x else set()
        return {insn.dst, insn.src} if x else {insn.dst}
    if insn.is_cond_jump:
        return {insn.dst, insn.src} if x else {insn.dst}
    if cls == isa.Cls.LDX:
        return {insn.src}
    if cls == isa.Cls.ST:
        return {insn.dst}
    if cls == isa.Cls.STX:
        extra = {0} if insn.mode == isa.Mode.ATOMIC and insn.imm == isa.Atomic.CMPXCHG else set()
        return {insn.dst, insn.src} | extra
    if cls == isa.Cls.LD and insn.mode == isa.Mode.IND:
        return {insn.src}
    return set()


# --------------------------------------------------------------------- reproducer files

def case_to_json(case: gen.Case, arch: str, div: driver.Divergence | None, *,
                 options: dict | None = None, max_insns: int = 1_000_000,
                 note: str = "") -> dict:
    return {
        "format": FORMAT,
        "arch": arch,
        "options": options,
        "byteorder": case.byteorder,
        "seed": case.seed,
        "max_insns": max_insns,
        "programs": [{"name": p.name, "hex": isa.encode(p.insns, case.byteorder).hex()}
                     for p in case.programs],
        "maps": [{"name": m.name, "type": m.type, "key_size": m.key_size,
                  "value_size": m.value_size, "max_entries": m.max_entries, "flags": m.flags,
                  "prog_slots": {str(k): v for k, v in sorted(m.prog_slots.items())}}
                 for m in case.maps],
        "mem": case.mem.hex(),
        "map_seeds": {k: [[a.hex(), b.hex()] for a, b in v] for k, v in case.map_seeds.items()},
        "divergence": None if div is None else {
            "what": div.what, "expected": _safe(div.expected), "got": _safe(div.got),
            "pc": div.pc},
        "note": note,
        "listing": "\n".join(f"; {p.name}\n" + _clip(listing(p.insns, case.byteorder,
                                                              show_bytes=False))
                             for p in case.programs),
        "native": "" if div is None else _clip(div.listing),
    }


def _clip(text: str, head: int = 150, tail: int = 20) -> str:
    lines = text.splitlines()
    if len(lines) <= head + tail + 1:
        return text
    return "\n".join(lines[:head] + [f"... {len(lines) - head - tail} more lines ..."]
                     + lines[-tail:])


def case_from_json(data: dict, file: str = "<repro>") -> tuple[gen.Case, dict]:
    """(the case, the rest of the file) from a reproducer object."""
    if data.get("format") != FORMAT:
        raise BpfjitError(f"not a bpfjit reproducer (format {data.get('format')!r}, "
                          f"expected {FORMAT!r})", file=file)
    try:
        order = data["byteorder"]
        maps = [MapDef(m["name"], int(m["type"]), int(m["key_size"]), int(m["value_size"]),
                       int(m["max_entries"]), int(m.get("flags", 0)),
                       prog_slots={int(k): v for k, v in m.get("prog_slots", {}).items()})
                for m in data["maps"]]
        programs = []
        for p in data["programs"]:
            code = bytes.fromhex(p["hex"])
            insns = isa.decode(code, order)
            programs.append(gen.make_program(insns, order, p["name"], maps, file=file))
        if not programs:
            raise ValueError("no programs")
        if not isinstance(data["arch"], str):
            raise TypeError("arch is not a name")
        case = gen.Case(programs=programs, maps=maps, mem=bytes.fromhex(data["mem"]),
                        map_seeds={k: [(bytes.fromhex(a), bytes.fromhex(b)) for a, b in v]
                                   for k, v in data.get("map_seeds", {}).items()},
                        byteorder=order, seed=data.get("seed"))
    except (KeyError, TypeError, ValueError) as e:
        raise BpfjitError(f"malformed reproducer: {type(e).__name__}: {e}", file=file) from None
    except BpfjitError as e:
        raise e.where(file=file)
    return case, data


def save(path: str, case: gen.Case, arch: str, div: driver.Divergence | None, **kw) -> str:
    """Write a reproducer; its budget is a few times what the interpreter needs, so a
    replayed runaway loop stops quickly."""
    if "max_insns" not in kw:
        ref = reference(case)
        kw["max_insns"] = max(10_000, 4 * ref.insns_executed)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(case_to_json(case, arch, div, **kw), f, indent=1)
        f.write("\n")
    return path


def load(path: str) -> tuple[gen.Case, dict]:
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise BpfjitError(f"cannot read: {e.strerror}", file=path) from None
    except json.JSONDecodeError as e:
        raise BpfjitError(f"not JSON: {e}", file=path) from None
    return case_from_json(data, file=path)


def replay(path: str, arches: list[str] | None = None) -> list[driver.Divergence]:
    """Run a reproducer again on its arch (or `arches`); the divergences it still shows."""
    case, meta = load(path)
    out = []
    for arch in arches or [meta["arch"]]:
        if order_of(arch) != case.byteorder:
            continue
        d = diff_case(case, arch, options=meta.get("options"), max_insns=meta.get("max_insns"))
        if d is not None:
            out.append(d)
    return out


# --------------------------------------------------------------------- the campaign

@dataclass(frozen=True)
class Finding:
    index: int                  # program number in the campaign
    seed: int                   # generator seed
    arch: str
    what: str
    expected: Any
    got: Any
    pc: int | None
    path: str = ""
    minimized: bool = False
    insns: int = 0              # instructions after minimizing (or as generated)

    @property
    def kind(self) -> str:
        return kind_of(self.what)


@dataclass
class Summary:
    programs: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    gen_errors: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def program_seed(campaign_seed: int, index: int) -> int:
    return campaign_seed * SEED_STRIDE + index


def _config(order: str, size: int | None) -> gen.GenConfig:
    return gen.GenConfig(byteorder=order, size=size)


def _check_one(task: tuple) -> dict:
    """Worker: generate program `index` in each byte order and diff it on its arches."""
    campaign_seed, index, arches, options, size = task
    seed = program_seed(campaign_seed, index)
    out: dict = {"index": index, "runs": {}, "findings": [], "gen_errors": []}
    for order in ("little", "big"):
        mine = [a for a in arches if order_of(a) == order]
        if not mine:
            continue
        try:
            case = gen.generate(seed, _config(order, size))
            problems = gen.validate(case)
            if problems:
                out["gen_errors"].append(f"seed {seed} ({order}): {problems[0]}")
                continue
            session = session_for(case, mine, options=options)
            ref = session.run(case.inputs(1_000_000), carry=False)
        except Exception as e:      # noqa: BLE001 - a generator bug must not stop the campaign
            out["gen_errors"].append(f"seed {seed} ({order}): {_crash(e)}")
            continue
        for arch in mine:
            d = diff_case(case, arch, options=options, ref=ref, session=session)
            out["runs"][arch] = out["runs"].get(arch, 0) + 1
            if d is not None:
                out["findings"].append(Finding(index, seed, arch, d.what, _safe(d.expected),
                                               _safe(d.got), d.pc, insns=case.n_insns))
    return out


def _minimize_one(task: tuple) -> Finding:
    """Worker: regenerate, minimize and save one finding."""
    finding, options, size, out_dir, budget = task
    case = gen.generate(finding.seed, _config(order_of(finding.arch), size))
    small = case
    if budget is not None:
        trials, seconds = budget
        small = minimize(case, finding.arch, options=options, kind=finding.kind,
                         max_trials=trials, seconds=seconds)
    d = diff_case(small, finding.arch, options=options)
    name = f"seed{finding.seed}-{finding.arch}.json"
    path = save(os.path.join(out_dir, name), small, finding.arch, d, options=options,
                note=f"campaign program {finding.index}, generator seed {finding.seed}, "
                     f"{case.n_insns} instructions minimized to {small.n_insns}")
    return replace(finding, path=path, minimized=budget is not None, insns=small.n_insns)


class _Progress:
    """rich.progress on a terminal, else a plain line every `step` programs on stderr."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.found = 0
        self.rich = None
        self.step = max(1, min(100, total // 10))
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            try:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                           TimeElapsedColumn)
                from rich.console import Console
                self.rich = Progress(TextColumn("fuzz"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[found]} divergences"),
                                     TimeElapsedColumn(), console=Console(stderr=True),
                                     transient=True)
                self.task = self.rich.add_task("fuzz", total=total, found=0)
                self.rich.start()
            except ImportError:
                self.rich = None

    def advance(self, found: int) -> None:
        self.done += 1
        self.found += found
        if self.rich is not None:
            self.rich.update(self.task, advance=1, found=self.found)
        elif self.enabled and (self.done % self.step == 0 or self.done == self.total):
            print(f"fuzz: {self.done}/{self.total} programs, {self.found} divergences",
                  file=sys.stderr, flush=True)

    def note(self, line: str) -> None:
        if self.rich is not None:
            self.rich.console.print(f"fuzz: {line}")
        elif self.enabled:
            print(f"fuzz: {line}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.rich is not None:
            self.rich.stop()


def campaign(count: int, seed: int, arches: list[str], *, jobs: int = 1, out: str | None = None,
             options: dict | None = None, size: int | None = None, minimize_findings: bool = True,
             progress: bool = True) -> Summary:
    """Generate `count` programs and diff each on `arches`; save reproducers in `out`."""
    t0 = time.monotonic()
    summary = Summary(programs=count, runs={a: 0 for a in arches})
    tasks = [(seed, i, tuple(arches), options, size) for i in range(count)]
    bar = _Progress(count, progress)
    pool = None
    try:
        if jobs > 1:
            import multiprocessing
            pool = multiprocessing.get_context("spawn").Pool(jobs)
            results = pool.imap_unordered(_check_one, tasks, chunksize=2)
        else:
            results = map(_check_one, tasks)
        for r in results:
            for a, n in r["runs"].items():
                summary.runs[a] = summary.runs.get(a, 0) + n
            summary.findings += r["findings"]
            summary.gen_errors += r["gen_errors"]
            for f in r["findings"]:         # said at once: a long campaign may be cut short
                bar.note(f"divergence: program {f.index} (seed {f.seed}) on {f.arch}: {f.what}")
            for e in r["gen_errors"]:
                bar.note(f"generator error: {e}")
            bar.advance(len(r["findings"]) + len(r["gen_errors"]))
        bar.close()
        summary.findings.sort(key=lambda f: (f.index, f.arch))
        if out is not None and summary.findings:
            per_kind: dict[tuple[str, str], int] = {}
            mtasks = []
            for f in summary.findings:
                key = (f.arch, f.kind)
                per_kind[key] = per_kind.get(key, 0) + 1
                full = per_kind[key] <= FULL_MINIMIZE_PER_KIND
                budget = None if not minimize_findings else \
                    (MINIMIZE_TRIALS, MINIMIZE_SECONDS) if full else (QUICK_TRIALS, QUICK_SECONDS)
                mtasks.append((f, options, size, out, budget))
            if progress and minimize_findings:
                print(f"fuzz: minimizing {len(mtasks)} divergences into {out}",
                      file=sys.stderr, flush=True)
            if pool is not None:
                summary.findings = list(pool.imap(_minimize_one, mtasks))
            else:
                summary.findings = [_minimize_one(t) for t in mtasks]
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    summary.seconds = time.monotonic() - t0
    return summary


def report(summary: Summary, seed: int, file=None) -> None:
    file = file or sys.stdout               # looked up now: a default bound at import goes stale
    p = lambda *a: print(*a, file=file)     # noqa: E731
    p(f"fuzz: {summary.programs} programs from seed {seed} in {summary.seconds:.1f} s")
    for a, why in summary.skipped.items():
        p(f"  {a:9s} skipped: {why}")
    by_arch: dict[str, int] = {}
    for f in summary.findings:
        by_arch[f.arch] = by_arch.get(f.arch, 0) + 1
    for a, n in summary.runs.items():
        p(f"  {a:9s} {n:6d} runs  {by_arch.get(a, 0):4d} divergences")
    if summary.gen_errors:
        p(f"  generator errors: {len(summary.gen_errors)} (a bug in jit/gen.py)")
        for e in summary.gen_errors[:5]:
            p(f"    {e}")
    p(f"divergences: {len(summary.findings)}")
    for f in summary.findings[:20]:
        where = f" -> {f.path}" if f.path else ""
        p(f"  program {f.index} (seed {f.seed}) on {f.arch}: {f.what}: expected "
          f"{_show(f.expected)}, got {_show(f.got)}{where}")
    if len(summary.findings) > 20:
        p(f"  ... and {len(summary.findings) - 20} more")


def _show(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"0x{v:x}"
    s = repr(v)
    return s if len(s) <= 120 else s[:117] + "..."


# --------------------------------------------------------------------- the command

def default_jobs() -> int:
    """Every core this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:          # not Linux
        return os.cpu_count() or 1


def main_fuzz(args) -> int:
    """`bpfjit fuzz`: exit 0 when nothing diverged, 1 otherwise (2 for bad input, raised)."""
    if args.replay:
        return _main_replay(args)
    if args.count < 0:
        raise BpfjitError("--count must be at least 0")
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise BpfjitError("--out is where reproducers are saved: a folder, not a file",
                          file=args.out)
    jobs = default_jobs() if getattr(args, "jobs", None) is None else args.jobs
    if jobs < 1:
        raise BpfjitError("--jobs must be at least 1")
    arches, skipped = choose_arches(args.arch)
    if not arches:
        reasons = "; ".join(f"{a}: {w}" for a, w in skipped.items())
        raise BpfjitError(f"no backend is ready to fuzz ({reasons})")
    summary = campaign(args.count, args.seed, arches, jobs=min(jobs, max(1, args.count)),
                       out=args.out,
                       size=getattr(args, "size", None))
    summary.skipped = skipped
    report(summary, args.seed)
    return 1 if summary.findings or summary.gen_errors else 0


def _main_replay(args) -> int:
    case, meta = load(args.replay)
    if args.arch == "all":
        arches = [meta["arch"]]
    else:
        arches = [a for a in choose_arches(args.arch)[0] if order_of(a) == case.byteorder]
    divs = []
    for arch in arches:
        d = diff_case(case, arch, options=meta.get("options"), max_insns=meta.get("max_insns"))
        if d is None:
            print(f"{args.replay}: {arch} agrees with the interpreter")
        else:
            divs.append(d)
            print(f"{args.replay}: {arch} diverges: {d.what}: expected {_show(d.expected)}, "
                  f"got {_show(d.got)}" + (f" (pc {d.pc})" if d.pc is not None else ""))
            if d.listing:
                print(d.listing)
    recorded = meta.get("divergence")
    if recorded:
        print(f"recorded: {recorded['what']}: expected {_show(recorded['expected'])}, "
              f"got {_show(recorded['got'])}")
    return 1 if divs else 0
