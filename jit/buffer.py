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

This module knows no machine and no eBPF.  Byte order belongs here: `word`
emits a 32-bit instruction word in the buffer's order.
"""
from __future__ import annotations

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


class CodeBuffer:
    MAX_PASSES = 64

    def __init__(self, byteorder: str = "little") -> None:
        self.byteorder = byteorder
        self._items: list = []           # bytes | _Branch | _Fixed
        self._cur = bytearray()
        self._labels: dict[int, int] = {}   # label -> item index it precedes
        self._next_label = 0
        self._marks: list[tuple[int, int, int]] = []   # (item index, offset in it, pc)
        self._refs: list[tuple[int, int, str, object]] = []
        self._flushed = 0                   # bytes in _items, every branch at its first form
        self.pc = -1                        # the eBPF pc being emitted (for error messages)

    # ------------------------------------------------------------ emitting
    def emit(self, data: bytes) -> None:
        self._cur += data

    def word(self, w: int) -> None:
        """A 32-bit instruction word in the buffer's byte order."""
        self._cur += w.to_bytes(4, self.byteorder)

    def words(self, ws: Sequence[int]) -> None:
        order = self.byteorder
        cur = self._cur
        for w in ws:
            cur += w.to_bytes(4, order)

    def _flush(self) -> None:
        if self._cur:
            self._flushed += len(self._cur)
            self._items.append(bytes(self._cur))
            self._cur = bytearray()

    def new_label(self) -> int:
        self._next_label += 1
        return self._next_label - 1

    def reserve_labels(self, n: int) -> int:
        """Reserve n consecutive label ids (e.g. the lowering's); returns the first."""
        first = self._next_label
        self._next_label += n
        return first

    def bind(self, label: int) -> None:
        self._flush()
        if label in self._labels:
            raise EncodingError(f"label {label} bound twice", pc=self.pc)
        self._labels[label] = len(self._items)

    def mark(self, pc: int) -> None:
        """The next byte emitted belongs to eBPF instruction `pc`."""
        self.pc = pc
        self._marks.append((len(self._items), len(self._cur), pc))

    def ref(self, kind: str, payload: object) -> None:
        """Record that the next byte emitted starts a reference (e.g. a relocation):
        resolved to its final offset by `finish`, whatever relaxation moves."""
        self._refs.append((len(self._items), len(self._cur), kind, payload))

    def branch(self, label: int, forms: Sequence[BranchForm]) -> None:
        self._flush()
        self._flushed += forms[0].size
        self._items.append(_Branch(label, forms, self.pc))

    def fixed(self, size: int, encode: Callable[[Callable[[int], int], int], bytes]) -> None:
        """A hole of `size` bytes filled by encode(address_of_label, at) once the layout is final."""
        self._flush()
        self._flushed += size
        self._items.append(_Fixed(size, encode, self.pc))

    def offset_hint(self) -> int:
        """Bytes emitted so far assuming every branch keeps its shortest form.

        Exact for a machine whose branches have one size; otherwise use `ref`,
        which follows relaxation."""
        return self._flushed + len(self._cur)

    # ------------------------------------------------------------ layout
    def _offsets(self) -> list[int]:
        offs = [0] * (len(self._items) + 1)
        pos = 0
        i = 0
        for item in self._items:
            offs[i] = pos
            t = type(item)
            if t is bytes:
                pos += len(item)
            elif t is _Branch:
                pos += item.forms[item.form].size
            else:
                pos += item.size
            i += 1
        offs[i] = pos
        return offs

    def finish(self, base: int = 0) -> Assembled:
        """Relax branches until sizes converge, then encode.  `base` is the load address."""
        self._flush()
        labels = self._labels
        branches = [(i, it) for i, it in enumerate(self._items) if type(it) is _Branch]
        for _, b in branches:
            if b.label not in labels:
                raise EncodingError(f"branch to unbound label {b.label}", pc=b.pc)
        passes = 0
        while True:
            passes += 1
            if passes > self.MAX_PASSES:
                raise EncodingError(f"branch sizes did not converge in {self.MAX_PASSES} passes")
            offs = self._offsets()
            changed = False
            for i, b in branches:
                disp = offs[labels[b.label]] - offs[i]
                form = b.form
                while not b.forms[form].fits(disp):
                    form += 1
                    if form == len(b.forms):
                        raise EncodingError(
                            f"branch displacement {disp} is out of range of every form", pc=b.pc)
                if form != b.form:
                    b.form = form
                    changed = True
            if not changed:
                break
        offs = self._offsets()

        def addr_of(label: int) -> int:
            return base + offs[labels[label]]

        out = bytearray()
        for i, item in enumerate(self._items):
            t = type(item)
            if t is bytes:
                out += item
                continue
            if t is _Branch:
                form = item.forms[item.form]
                data = form.encode(offs[labels[item.label]] - offs[i], base + offs[i])
                size = form.size
            else:
                data = item.encode(addr_of, base + offs[i])
                size = item.size
            if len(data) != size:
                raise EncodingError(f"encoding is {len(data)} bytes, layout assumed {size}",
                                    pc=item.pc)
            out += data
        pc_map = [(offs[idx] + intra, pc) for idx, intra, pc in self._marks]
        label_offs = {lab: offs[idx] for lab, idx in labels.items()}
        refs = [(offs[idx] + intra, kind, payload) for idx, intra, kind, payload in self._refs]
        return Assembled(bytes(out), label_offs, pc_map, passes, refs)
