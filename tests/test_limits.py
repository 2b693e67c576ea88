"""Limits: big programs, the instruction budget, the image-size limit, call depth, tail calls.

- Programs of 100,000 instructions (bench/genprog.py) compile on every backend
  and run to the interpreter's result; 1,000,000 instructions compile on every
  backend whose 1M compile takes well under a minute -- measured on this
  project's machine: x86-64 5, MIPS64 13, ARM32 13 CPU seconds, after 10 s of
  generating, loading and checking -- so today all of them, always.  A backend
  that gets slower than that goes in SLOW_1M, run only with BPFJIT_SLOW=1.
  Compile times are measured by bench/, never asserted here.
- The instruction budget stops a runaway loop on the interpreter and every
  backend with the same error ("instruction budget of N exhausted") at an eBPF
  pc inside the loop, exit 2 and one line from the CLI.
- driver.MAX_IMAGE, made small, refuses an image with a clear one-line error.
- Call depth: eight frames run everywhere; a ninth is refused identically by
  every command (tests/test_negative.py checks the wording).
- Tail calls: a program that tail-calls itself counts its entries in a map;
  the kernel allows 33 tail calls (MAX_TAIL_CALL_CNT), so it is entered 34
  times on the interpreter and on every backend.
"""
from __future__ import annotations

import os

import pytest

import backends

from jit import driver
from jit.program import MapDef, Object, from_bytecode
from tests.loader_fuzz import covered_arches, run_cli
from tests.test_faults import order_of, slot

SLOW = os.environ.get("BPFJIT_SLOW") == "1"
SLOW_1M: tuple[str, ...] = ()     # backends whose 1M compile takes minutes: BPFJIT_SLOW=1 only
M64 = (1 << 64) - 1


def raw(code: bytes, order: str = "little", maps=()):
    prog = from_bytecode(code, byteorder=order)
    prog.maps = list(maps)
    return Object(file=prog.file, programs=[prog], maps=prog.maps, byteorder=order), prog


# --------------------------------------------------------------------- big programs

def _genprog(n: int, order: str):
    from bench.genprog import generate_bytes
    return raw(generate_bytes(n, seed=3, order=order), order)


@pytest.fixture(scope="module")
def big_100k():
    return {order: _genprog(100_000, order) for order in ("little", "big")}


@pytest.mark.parametrize("arch", backends.names())
def test_100k_instructions_compile_and_agree(arch, big_100k):
    if arch not in covered_arches():
        pytest.skip(f"{arch} backend not there yet")
    obj, prog = big_100k[order_of(arch)]
    assert len(prog.insns) >= 100_000
    ref, divs = driver.diff(obj, prog, [arch], driver.Inputs(max_insns=1_000_000))
    assert ref.fault is None, ref.fault
    assert not divs, divs[0]


@pytest.mark.parametrize("arch", backends.names())
def test_1m_instructions_compile(arch):
    if arch not in covered_arches():
        pytest.skip(f"{arch} backend not there yet")
    if arch in SLOW_1M and not SLOW:
        pytest.skip(f"1M instructions on {arch} take minutes: set BPFJIT_SLOW=1")
    obj, prog = _genprog(1_000_000, order_of(arch))
    assert prog.n_slots >= 1_000_000
    image = driver.compile_program(prog, arch)
    assert len(image.code) >= 2 * 1_000_000               # at least two bytes per insn
    assert image.funcs[0].name == "main"


# --------------------------------------------------------------------- the instruction budget

def _loop(order: str) -> bytes:
    """r0 = 0; loop: r0 += 1; if r0 != 0 goto loop; exit  -- runs for 2^64 iterations."""
    return (slot(0xB7, 0, 0, 0, 0, order=order) + slot(0x07, 0, 0, 0, 1, order=order) +
            slot(0x55, 0, 0, -2, 0, order=order) + slot(0x95, order=order))


@pytest.mark.parametrize("budget", [1000, 50_000])
def test_budget_stops_a_runaway_loop_everywhere(tmp_path, budget):
    lines = {}
    for arch in ["interp"] + covered_arches():
        order = "little" if arch == "interp" else order_of(arch)
        path = str(tmp_path / f"loop-{order}.bin")
        with open(path, "wb") as f:
            f.write(_loop(order))
        argv = ["run", path, "--max-insns", str(budget)] + (["--bpfeb"] if order == "big" else [])
        if arch != "interp":
            argv += ["--arch", arch]
        code, out, err = run_cli(argv)
        assert code == 2, f"{arch}: exit {code}, {out!r} {err!r}"
        assert err.count("\n") == 1, err
        lines[arch] = err.strip().replace(path, "FILE")
    for arch, line in lines.items():
        head, _, msg = line.partition(": main: pc ")
        assert head == "bpfjit: FILE", line
        pc, _, what = msg.partition(": ")
        assert pc in ("1", "2"), f"{arch}: stopped at pc {pc}, outside the loop: {line}"
        assert what == f"instruction budget of {budget} exhausted", f"{arch}: {line}"


def test_budget_is_the_same_fault_in_a_diff():
    for arch in covered_arches():
        obj, prog = raw(_loop(order_of(arch)), order_of(arch))
        ref, divs = driver.diff(obj, prog, [arch], driver.Inputs(max_insns=5000))
        assert "budget" in str(ref.fault)
        assert not divs, divs[0]


def test_a_loop_that_finishes_within_the_budget_finishes_everywhere():
    """r0 counts to 1000 in a loop of 2 instructions: about 2000 executed, budget 3000."""
    def code(order):
        return (slot(0xB7, 0, 0, 0, 0, order=order) + slot(0x07, 0, 0, 0, 1, order=order) +
                slot(0x55, 0, 0, -2, 1000, order=order) + slot(0x95, order=order))
    for arch in covered_arches():
        obj, prog = raw(code(order_of(arch)), order_of(arch))
        ref, divs = driver.diff(obj, prog, [arch], driver.Inputs(max_insns=3000))
        assert ref.fault is None and ref.r0 == 1000
        assert not divs, divs[0]


# --------------------------------------------------------------------- the image-size limit

def test_image_size_limit(tmp_path, monkeypatch):
    """driver.MAX_IMAGE (64 MiB) made 4 KiB: a 2,000-instruction program is refused with
    one line that names the file, the function, the backend and both sizes."""
    from bench.genprog import generate_bytes
    monkeypatch.setattr(driver, "MAX_IMAGE", 4096)
    for arch in covered_arches():
        order = order_of(arch)
        path = str(tmp_path / f"big-{order}.bin")
        with open(path, "wb") as f:
            f.write(generate_bytes(2000, seed=1, order=order))
        argv = ["compile", path, "--arch", arch, "-o", os.devnull]
        code, out, err = run_cli(argv + (["--bpfeb"] if order == "big" else []))
        assert code == 2 and err.count("\n") == 1, err
        line = err.strip()
        assert line.startswith(f"bpfjit: {path}: main: the {arch} image is "), line
        assert "image-size limit" in line
        # the limit it states must be the one in force: 4096 bytes is not "0 MiB"
        assert "0 MiB" not in line and ("4096" in line or "4 KiB" in line), line


# --------------------------------------------------------------------- call depth

def _call_chain(frames: int, order: str, stack: int = 8) -> bytes:
    """main -> f1 -> ... -> f(frames-1); each stores its depth at r10-stack and, after its
    callee returns, adds the stored value to r0, so r0 = 0 + 1 + ... + (frames - 1)."""
    s = lambda *a: slot(*a, order=order)                      # noqa: E731
    out = []
    for k in range(frames - 1):                               # every function but the last
        out += [s(0x7A, 10, 0, -stack, k),                    # *(u64 *)(r10 - stack) = k
                s(0x85, 0, 1, 0, 3),                          # call the next function (+3)
                s(0x79, 1, 10, -stack),                       # r1 = *(u64 *)(r10 - stack)
                s(0x0F, 0, 1), s(0x95)]                       # r0 += r1; exit
    out += [s(0xB7, 0, 0, 0, frames - 1), s(0x95)]            # the last: r0 = frames - 1
    return b"".join(out)


def test_eight_frames_everywhere():
    want = 7 + sum(range(7))              # the last function's r0 = 7, plus 0 + 1 + ... + 6
    for arch in covered_arches():
        obj, prog = raw(_call_chain(8, order_of(arch)), order_of(arch))
        assert len(prog.functions) == 8
        ref, divs = driver.diff(obj, prog, [arch])
        assert ref.fault is None and ref.r0 == want, ref.fault
        assert not divs, divs[0]


def test_ninth_frame_refused_by_every_command(tmp_path):
    lines = set()
    for arch in covered_arches():
        order = order_of(arch)
        path = str(tmp_path / f"deep-{order}.bin")
        with open(path, "wb") as f:
            f.write(_call_chain(9, order))
        eb = ["--bpfeb"] if order == "big" else []
        for argv in (["check", path, *eb], ["run", path, *eb],
                     ["run", path, *eb, "--arch", arch],
                     ["compile", path, *eb, "--arch", arch, "-o", os.devnull]):
            code, _, err = run_cli(argv)
            assert code == 2 and err.count("\n") == 1, (argv, err)
            lines.add(err.replace(path, "FILE"))
    assert len(lines) == 1, lines
    assert "call chain of 9 frames is too deep" in lines.pop()


def test_frames_over_512_bytes_refused(tmp_path):
    """Frames add up along the call chain, each rounded up to 16 bytes as the kernel's
    verifier does for a JIT (round_up_stack_depth): seven frames using r10-72 need
    7 * 80 = 560 bytes (refused); six need 480 (allowed).  The last function of the
    chain uses no stack."""
    assert driver.analyse(raw(_call_chain(7, "little", stack=72))[1]) is not None
    path = str(tmp_path / "wide.bin")
    with open(path, "wb") as f:
        f.write(_call_chain(8, "little", stack=72))
    code, _, err = run_cli(["check", path])
    assert code == 2 and err.count("\n") == 1, err
    assert "combined stack of 560 bytes" in err and err.rstrip().endswith("exceeds 512"), err


def _chain_into_callback(frames: int, order: str) -> bytes:
    """frames-2 functions in a call chain, the last calling bpf_loop(1, cb, 0, 0) (helper
    181), whose callback cb calls g: the callback and g are frames too."""
    s = lambda *a: slot(*a, order=order)                      # noqa: E731
    k = frames - 2
    out = []
    for i in range(k - 1):                                    # f_i: r0 = i; call f_i+1; exit
        out += [s(0xB7, 0, 0, 0, i), s(0x85, 0, 1, 0, 1), s(0x95)]
    base = 3 * (k - 1)                                        # the last function's first slot
    cb = base + 7
    out += [s(0xB7, 1, 0, 0, 1),                              # r1 = 1 iteration
            s(0x18, 2, 4, 0, cb - (base + 1) - 1), s(0),      # r2 = &cb (LDDW src=4)
            s(0xB7, 3), s(0xB7, 4), s(0x85, 0, 0, 0, 181), s(0x95)]
    out += [s(0x85, 0, 1, 0, 1), s(0x95),                     # cb: call g; exit
            s(0xB7, 0), s(0x95)]                              # g: r0 = 0; exit
    return b"".join(out)


def test_callback_frames_count_towards_the_depth(tmp_path):
    """Eight frames of which the last two are a bpf_loop callback and its callee: the same
    result everywhere; one more frame is refused by every command, as a direct call is."""
    for arch in covered_arches():
        obj, prog = raw(_chain_into_callback(8, order_of(arch)), order_of(arch))
        ref, divs = driver.diff(obj, prog, [arch], driver.Inputs(mem=bytes(8)))
        assert ref.fault is None and ref.r0 == 1, ref.fault     # bpf_loop ran once
        assert not divs, divs[0]
    path = str(tmp_path / "deep-callback.bin")
    with open(path, "wb") as f:
        f.write(_chain_into_callback(9, "little"))
    lines = set()
    for argv in (["check", path], ["run", path], *(["run", path, "--arch", a]
                                                   for a in covered_arches("little"))):
        code, _, err = run_cli(argv)
        assert code == 2 and err.count("\n") == 1, (argv, err)
        lines.add(err)
    assert len(lines) == 1 and "call chain of 9 frames is too deep" in lines.pop()


# --------------------------------------------------------------------- tail calls

JMP = MapDef("jmp", 3, 4, 4, 1, prog_slots={0: "main"})     # PROG_ARRAY: slot 0 -> main
CNT = MapDef("cnt", 2, 4, 8, 1)                              # ARRAY of one u64


def _self_tail_call(order: str) -> bytes:
    """cnt += 1; tail_call(ctx, jmp, 0); r0 = cnt; exit."""
    s = lambda *a: slot(*a, order=order)                      # noqa: E731

    def lddw(dst, src, imm):
        return s(0x18, dst, src, 0, imm) + s(0)
    return b"".join([
        s(0xBF, 6, 1),                                        # r6 = r1 (ctx)
        lddw(7, 2, 1),                                        # r7 = &cnt[0]
        s(0x79, 1, 7, 0), s(0x07, 1, 0, 0, 1), s(0x7B, 7, 1, 0),   # cnt += 1
        s(0xBF, 1, 6), lddw(2, 1, 0), s(0xB7, 3, 0, 0, 0),    # r1 = ctx; r2 = jmp; r3 = 0
        s(0x85, 0, 0, 0, 12),                                 # tail_call
        s(0x79, 0, 7, 0), s(0x95),                            # r0 = cnt; exit
    ])


@pytest.mark.parametrize("arch", ["interp", *backends.names()])
def test_tail_call_limit_is_33(arch):
    if arch != "interp" and arch not in covered_arches():
        pytest.skip(f"{arch} backend not there yet")
    order = "little" if arch == "interp" else order_of(arch)
    obj, prog = raw(_self_tail_call(order), order, maps=[JMP, CNT])
    res = driver.run(obj, prog, arch, driver.Inputs(mem=bytes(16)))
    assert res.fault is None, res.fault
    assert res.r0 == 34, f"entered {res.r0} times, want 1 + 33 tail calls"
    tail_calls = [c for c in res.helper_calls if c[0] == 12]
    if arch == "interp":
        assert len(tail_calls) == 34          # 33 that jump, the 34th falls through
