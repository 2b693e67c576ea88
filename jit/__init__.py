"""bpfjit: a multi-architecture eBPF JIT compiler with a reference interpreter.

The Python API for scripting JIT experiments (the CLI is a thin layer over it):

    >>> import backends
    >>> from jit import load, compile_program, run, diff
    >>> obj, prog = load("examples/xdp_firewall.o")
    >>> arch = backends.names()[0]                      # any name `bpfjit compile --help` lists
    >>> image = compile_program(prog, arch)             # an Image: code, funcs, pc map
    >>> print(image.listing())
    >>> result = run(obj, prog, arch, Inputs(packet=bytes(64)))   # a Result: r0, regions, maps
    >>> ref, divergences = diff(obj, prog, list(backends.names()), Inputs(packet=...))
    >>> s = Session(obj, prog, [arch])                  # compile once, run many inputs
    >>> for frame in read_capture("trace.pcapng"):      # maps carried frame to frame
    ...     ref, divergences = s.diff(Inputs(packet=frame))

Names are imported lazily so `import jit` stays cheap and has no side effects.
"""
from __future__ import annotations

__all__ = ["load", "compile_program", "run", "diff", "Inputs", "Image", "Result", "Divergence",
           "BpfjitError", "Session", "read_capture"]

_WHERE = {"load": "jit.driver", "compile_program": "jit.driver", "run": "jit.driver",
          "diff": "jit.driver", "Inputs": "jit.driver", "Divergence": "jit.driver",
          "Image": "jit.image", "Result": "jit.interp", "BpfjitError": "jit.errors",
          "Session": "jit.session", "read_capture": "jit.session"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'jit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
