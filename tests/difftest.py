"""Differential checking for tests: interpreter vs a backend, through the whole pipeline.

`check_program` runs a Program on the interpreter and on a backend with the
same inputs and asserts they agree on r0, every compared region, the helper
calls and the fault; on failure the message carries the first difference and
the native listing around the eBPF pc.
"""
from __future__ import annotations

from jit import driver, isa
from jit.program import Object, Program, from_bytecode


def program(insns, *, order: str = "little", maps=None, name: str = "main") -> Program:
    """A Program from Insn objects (or assembler text)."""
    if isinstance(insns, str):
        from jit.asm import assemble
        insns = assemble(insns)
    prog = from_bytecode(isa.encode(list(insns), order), byteorder=order, name=name)
    if maps:
        prog.maps = list(maps)
    return prog


def check_program(prog: Program, arch: str, *, obj: Object | None = None, mem: bytes | None = None,
                  packet: bytes | None = None, ctx: bytes | None = None, helpers=None,
                  max_insns: int = 100_000, cpu: str | None = None, harden: bool = False,
                  options: dict | None = None, map_seeds=None):
    """Assert that `arch` agrees with the interpreter; returns the interpreter's Result."""
    obj = obj or Object(file=prog.file, programs=[prog], maps=prog.maps, byteorder=prog.byteorder)
    inputs = driver.Inputs(mem=mem, packet=packet, ctx=ctx, helpers=helpers, max_insns=max_insns,
                           map_seeds=map_seeds or {})
    ref, divs = driver.diff(obj, prog, [arch], inputs, cpu=cpu, harden=harden, options=options)
    if divs:
        d = divs[0]
        raise AssertionError(f"{d.arch} diverges from the interpreter: {d.what}: expected "
                             f"{_show(d.expected)}, got {_show(d.got)} (pc {d.pc})\n{d.listing}")
    return ref


def _show(v):
    return f"0x{v:x}" if isinstance(v, int) else repr(v)
