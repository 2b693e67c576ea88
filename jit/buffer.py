"""The code buffer every backend emits into: bytes, labels, fixups, branch relaxation.

A backend appends raw machine code (`emit`, `word`), binds labels, and for each
branch to a label gives the list of encodings it has from shortest to longest
(`BranchForm`).  `finish` lays the code out: every branch starts in its shortest
form; a pass computes all offsets and moves each branch whose displacement does
not fit to its next longer form.  Forms only ever grow, so the sizes are
monotone and the loop converges (at most one step per form per branch); a hard
pass limit guards against a backend whose `fits` is not monotone, and a final
check re-encodes everything and verifies that no size changed.

Absolute references that are only known once the layout is final (a function's
native address for an LDDW src=4) use `fixed`: a fixed-size hole filled in at
`finish` with the label addresses known.

How positions are kept (the buffer is on every backend's hot path): all the
code goes into one bytearray in which each branch and hole holds a placeholder
of its shortest size, so a position recorded while emitting (a label, a mark, a
ref) is just the bytearray's length at the time -- the offset it would have if
no branch grew.  Only branches change size, so after relaxation a position's
final offset is that plus the growth of the branches before it: one prefix sum
over the branches and holes (`itertools.accumulate`), never a walk over every
piece of code, per pass.

This module knows no machine and no eBPF.  Byte order belongs here: `word`
emits a 32-bit instruction word in the buffer's order.
"""
from __future__ import annotations

import struct
from array import array
from bisect import bisect_left
from itertools import accumulate, compress, count, islice, repeat
from operator import add, ne
from typing import Callable, NamedTuple, Sequence

from jit.errors import EncodingError


class BranchForm(NamedTuple):
    """One encoding of a branch: its size, whether a displacement fits, and the bytes.

    `disp` is target offset minus the offset of the first byte of this branch.
    `encode(disp, at)` also receives `at`, the absolute address of the branch.
    """
    size: int
    fits: Callable[[int], bool]
    encode: Callable[[int, int], bytes]


class _Branch:
    __slots__ = ("label", "forms", "form", "pc")

    def __init__(self, label: int, forms: Sequence[BranchForm], pc: int) -> None:
        self.label = label
        self.forms = forms
        self.form = 0
        self.pc = pc


class _Fixed:
    __slots__ = ("size", "encode", "pc")

    def __init__(self, size: int, encode: Callable[[Callable[[int], int], int], bytes],
                 pc: int) -> None:
        self.size = size
        self.encode = encode
        self.pc = pc


class Assembled(NamedTuple):
    code: bytes
    labels: dict          # label id -> offset
    pc_map: list          # sorted (native offset, eBPF pc)
    passes: int
    refs: list = []       # (offset, kind, payload) recorded with `ref`, in emission order


# struct packers for `words` by count: one C call instead of a to_bytes per word
_PACK = {order: [struct.Struct(f"{'<' if order == 'little' else '>'}{n}I").pack
                 for n in range(9)] for order in ("little", "big")}


class CodeBuffer:
    MAX_PASSES = 64

    def __init__(self, byteorder: str = "little") -> None:
        self.byteorder = byteorder
        self._pack = _PACK.get(byteorder)   # None for an unknown order: to_bytes complains
        self._code = bytearray()            # all code, each branch/hole as zeros of its first size
        self._starts: list[int] = []        # position of each branch and hole, in order
        self._specials: list = []           # the _Branch or _Fixed at each of those positions
        self._labels: dict[int, int] = {}   # label -> position
        self._next_label = 0
        self._mark_at = array("q")          # positions of the marks ...
        self._mark_pc: list[int] = []       # ... and their eBPF pcs
        self._refs: list[tuple[int, str, object]] = []
        self.pc = -1                        # the eBPF pc being emitted (for error messages)

    # ------------------------------------------------------------ emitting
    def emit(self, data: bytes) -> None:
        self._code += data

    def word(self, w: int) -> None:
        """A 32-bit instruction word in the buffer's byte order."""
        self._code += w.to_bytes(4, self.byteorder)

    def words(self, ws: Sequence[int]) -> None:
        """32-bit instruction words in the buffer's byte order."""
        try:
            self._code += self._pack[len(ws)](*ws)      # up to 8 words: one C call
            return
        except (TypeError, IndexError, struct.error):
            pass            # not a short sequence, or out of range: to_bytes says so as `word` does
        order = self.byteorder
        code = self._code
        for w in ws:
            code += w.to_bytes(4, order)

    def new_label(self) -> int:
        self._next_label += 1
        return self._next_label - 1

    def reserve_labels(self, n: int) -> int:
        """Reserve n consecutive label ids (e.g. the lowering's); returns the first."""
        first = self._next_label
        self._next_label += n
        return first

    def bind(self, label: int) -> None:
        if label in self._labels:
            raise EncodingError(f"label {label} bound twice", pc=self.pc)
        self._labels[label] = len(self._code)

    def mark(self, pc: int) -> None:
        """The next byte emitted belongs to eBPF instruction `pc`."""
        self.pc = pc
        self._mark_at.append(len(self._code))
        self._mark_pc.append(pc)

    def mark_emit(self, pc: int, data: bytes) -> None:
        """`mark(pc)` then `emit(data)`: one call on an emitter's per-instruction path."""
        self.pc = pc
        code = self._code
        self._mark_at.append(len(code))
        self._mark_pc.append(pc)
        code += data

    def ref(self, kind: str, payload: object) -> None:
        """Record that the next byte emitted starts a reference (e.g. a relocation):
        resolved to its final offset by `finish`, whatever relaxation moves."""
        self._refs.append((len(self._code), kind, payload))

    def branch(self, label: int, forms: Sequence[BranchForm]) -> None:
        size = forms[0].size
        if size <= 0:
            # a position equal to an empty branch's would be ambiguous (before or after it?)
            raise EncodingError(f"a branch's shortest form must have bytes, not {size}",
                                pc=self.pc)
        self._starts.append(len(self._code))
        self._specials.append(_Branch(label, forms, self.pc))
        self._code += bytes(size)

    def fixed(self, size: int, encode: Callable[[Callable[[int], int], int], bytes]) -> None:
        """A hole of `size` bytes filled by encode(address_of_label, at) once the layout is final."""
        self._starts.append(len(self._code))
        self._specials.append(_Fixed(size, encode, self.pc))
        self._code += bytes(size)

    def offset_hint(self) -> int:
        """Bytes emitted so far assuming every branch keeps its shortest form.

        Exact for a machine whose branches have one size; otherwise use `ref`,
        which follows relaxation."""
        return len(self._code)

    # ------------------------------------------------------------ layout
    def _relax(self) -> tuple[list[int], int]:
        """Grow branches until every displacement fits; (growth prefix sums, passes).

        grown[k] is how many bytes the first k branches and holes grew in all,
        so a position p ends up at p + grown[bisect_left(starts, p)].
        """
        starts, specials, labels = self._starts, self._specials, self._labels
        # each branch as (its index among the specials, the index of the first
        # special at or after its target, target position - branch position)
        todo = []
        extra = [0] * len(specials)         # bytes each special has grown by
        for j, s in enumerate(specials):
            if type(s) is _Branch:
                at = labels.get(s.label)
                if at is None:
                    raise EncodingError(f"branch to unbound label {s.label}", pc=s.pc)
                todo.append((j, bisect_left(starts, at), at - starts[j], s))
                if s.form:
                    extra[j] = s.forms[s.form].size - s.forms[0].size
        passes = 0
        while True:
            passes += 1
            if passes > self.MAX_PASSES:
                raise EncodingError(f"branch sizes did not converge in {self.MAX_PASSES} passes")
            grown = list(accumulate(extra, initial=0))
            changed = False
            for j, kt, dist, b in todo:
                disp = dist + grown[kt] - grown[j]
                forms = b.forms
                form = b.form
                if forms[form].fits(disp):
                    continue
                while True:
                    form += 1
                    if form == len(forms):
                        raise EncodingError(
                            f"branch displacement {disp} is out of range of every form", pc=b.pc)
                    if forms[form].fits(disp):
                        break
                b.form = form
                extra[j] = forms[form].size - forms[0].size
                changed = True
            if not changed:
                return grown, passes

    def finish(self, base: int = 0) -> Assembled:
        """Relax branches until sizes converge, then encode.  `base` is the load address."""
        starts, specials, code = self._starts, self._specials, self._code
        grown, passes = self._relax()

        def final(p: int) -> int:
            return p + grown[bisect_left(starts, p)]

        label_offs = {lab: final(p) for lab, p in self._labels.items()}

        def addr_of(label: int) -> int:
            return base + label_offs[label]

        # splice: the code between specials as it is, each special encoded in its final form
        out = bytearray()
        view = memoryview(code)
        prev = 0
        for j, s in enumerate(specials):
            at = starts[j]
            out += view[prev:at]
            here = at + grown[j]
            if type(s) is _Branch:
                forms = s.forms
                form = forms[s.form]
                data = form.encode(label_offs[s.label] - here, base + here)
                size = form.size
                prev = at + forms[0].size
            else:
                data = s.encode(addr_of, base + here)
                size = s.size
                prev = at + size
            if len(data) != size:
                raise EncodingError(f"encoding is {len(data)} bytes, layout assumed {size}",
                                    pc=s.pc)
            out += data
        out += view[prev:]
        view.release()
        refs = [(final(p), kind, payload) for p, kind, payload in self._refs]
        return Assembled(bytes(out), label_offs, self._pc_map(grown), passes, refs)

    def _pc_map(self, grown: list[int]) -> list[tuple[int, int]]:
        """(final offset, pc) of every mark: the marks between two specials that grew
        all move by the same amount, so each run is shifted in one C-level map."""
        at, pcs, starts = self._mark_at, self._mark_pc, self._starts
        if not grown[-1]:
            return list(zip(at, pcs))
        out: list[tuple[int, int]] = []
        lo = 0
        shift = 0
        for j in compress(count(), map(ne, islice(grown, 1, None), grown)):   # j grew
            # marks at or before its start move by the growth before it
            hi = bisect_left(at, starts[j] + 1, lo)
            out += zip(map(add, at[lo:hi], repeat(shift)), pcs[lo:hi])
            lo, shift = hi, grown[j + 1]
        out += zip(map(add, at[lo:], repeat(shift)), pcs[lo:])
        return out
