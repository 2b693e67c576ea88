"""Hypothesis strategies for eBPF programs, built on the generator in jit/gen.py.

A drawn program is `jit.testing.gen.generate(seed, config)`: hypothesis draws the
knobs that matter for shrinking (the size, the mem block, which features) and
a seed for the rest, so a failing example shrinks towards a small program with
few features, and its seed regenerates it anywhere:

    jit.testing.gen.generate(seed, jit.testing.gen.GenConfig(size=..., features=..., ...))

(`controlled_cases` hands hypothesis every random choice instead, which shrinks
further but draws each program about a hundred times slower.)
"""
from __future__ import annotations

import os

from hypothesis import strategies as st

from jit.testing import gen

# Features whose programs make no call of any kind: what register-map rotation needs.
CALL_FREE = frozenset({"alu", "jmp", "loop", "stack", "mem", "map", "atomic", "far"})

SEEDS = st.integers(min_value=0, max_value=(1 << 63) - 1)


def examples(default: int) -> int:
    """`default` scaled by BPFJIT_FUZZ_EXAMPLES (a multiplier; 1 when unset)."""
    try:
        scale = float(os.environ.get("BPFJIT_FUZZ_EXAMPLES", "1"))
    except ValueError:
        scale = 1.0
    return max(1, int(default * scale))


@st.composite
def configs(draw, order: str = "little", features: frozenset = gen.FEATURES,
            max_size: int = 30) -> gen.GenConfig:
    """A GenConfig: size, mem block and a (non-empty) subset of `features`."""
    feats = sorted(features)
    keep = draw(st.lists(st.sampled_from(feats), unique=True, min_size=1)
                if draw(st.booleans()) else st.just(feats))
    if "alu" in features and "alu" not in keep:
        keep = [*keep, "alu"]
    return gen.GenConfig(size=draw(st.integers(1, max_size)), byteorder=order,
                         features=frozenset(keep),
                         mem_size=draw(st.sampled_from((64, 256, 1024, 4096, 8200))))


@st.composite
def cases(draw, order: str = "little", features: frozenset = gen.FEATURES,
          max_size: int = 30) -> gen.Case:
    """A valid generated program set with its inputs (see jit.testing.gen)."""
    cfg = draw(configs(order, features, max_size))
    seed = draw(SEEDS)
    return gen.generate(seed, cfg)


def call_free_cases(order: str = "little", max_size: int = 30):
    """Programs with no helper, local or tail call (rotation applies to these)."""
    return cases(order, CALL_FREE, max_size)


@st.composite
def controlled_cases(draw, order: str = "little", features: frozenset = gen.FEATURES):
    """Every choice of the generator made by hypothesis (slow, shrinks best)."""
    rnd = draw(st.randoms(use_true_random=False))
    return gen.generate(rnd, gen.GenConfig(byteorder=order, features=features))


def describe(case: gen.Case) -> str:
    """How to get this case back, for failure messages."""
    return (f"{case.n_insns} instructions using {', '.join(sorted(case.features)) or '-'}; "
            f"regenerate with jit.testing.gen.generate({case.seed}, {case.config!r})")
