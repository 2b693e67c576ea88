"""bpfjit: a multi-architecture eBPF JIT compiler with a reference interpreter.

The Python API for scripting JIT experiments (the CLI is a thin layer over it):

    >>> from jit import load, compile_program, run, diff
    >>> obj, prog = load("examples/xdp_firewall.o")
    >>> image = compile_program(prog, "mips")          # an Image: code, funcs, pc map
    >>> print(image.listing())
    >>> result = run(obj, prog, "arm32", Inputs(packet=bytes(64)))   # a Result: r0, regions, maps
    >>> ref, divergences = diff(obj, prog, ["x86_64", "arm32", "mips64el"], Inputs(packet=...))

Names are imported lazily so `import jit` stays cheap and has no side effects.
"""
from __future__ import annotations

__all__ = ["load", "compile_program", "run", "diff", "Inputs", "Image", "Result", "Divergence",
           "BpfjitError"]

_WHERE = {"load": "jit.driver", "compile_program": "jit.driver", "run": "jit.driver",
          "diff": "jit.driver", "Inputs": "jit.driver", "Divergence": "jit.driver",
          "Image": "jit.image", "Result": "jit.interp", "BpfjitError": "jit.errors"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'jit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
