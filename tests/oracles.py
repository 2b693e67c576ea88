"""Independent assemblers used as oracles by the encoder tests.

Each function assembles a block of text with an external tool and returns the
bytes of .text, or None when the tool is not installed (tests then skip with a
reason).  Nothing here is on the product path.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

def _tools(arch: str):
    import backends
    return backends.target(arch).tools


def gnu_as_command(arch: str) -> tuple[str, list[str], str]:
    """(GNU as binary, flags, directives put before the text) from the target's Toolchain."""
    t = _tools(arch)
    return t.binutil("as"), list(t.as_flags), t.as_prelude


OBJCOPY = ("llvm-objcopy-19", "llvm-objcopy", "objcopy")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def _objcopy() -> str | None:
    for name in OBJCOPY:
        if have(name):
            return name
    return None


def _text_of(obj: str) -> bytes:
    tool = _objcopy()
    if tool is None:
        raise RuntimeError("no objcopy to extract .text")
    out = obj + ".bin"
    subprocess.run([tool, "-O", "binary", "--only-section=.text", obj, out], check=True,
                   capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def gnu_as(arch: str, text: str) -> bytes | None:
    """Assemble `text` with the GNU cross assembler for `arch`; None if not installed.

    GNU as pads MIPS .text to 16 bytes: callers compare only the prefix they expect.
    """
    tool, flags, prelude = gnu_as_command(arch)
    if not have(tool) or _objcopy() is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.s")
        obj = os.path.join(d, "t.o")
        with open(src, "w") as f:
            f.write(prelude + text + "\n")
        r = subprocess.run([tool, *flags, "-o", obj, src], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"{tool} rejected:\n{text}\n{r.stderr}")
        return _text_of(obj)


def llvm_mc(arch: str, text: str) -> bytes | None:
    """Assemble `text` with llvm-mc-19 for `arch`; None if not installed."""
    if not have("llvm-mc-19") or _objcopy() is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.s")
        obj = os.path.join(d, "t.o")
        prelude = _tools(arch).as_prelude
        with open(src, "w") as f:
            f.write(prelude + text + "\n")
        r = subprocess.run(["llvm-mc-19", *_tools(arch).llvm_mc, "-filetype=obj", "-o", obj, src],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"llvm-mc-19 rejected:\n{text}\n{r.stderr}")
        return _text_of(obj)


def keystone(arch: str, text: str) -> bytes | None:
    """Assemble with keystone 0.9.2; None if keystone is missing or does not know the text.

    keystone returns (None, 0) instead of raising for instructions it lacks
    (MIPS64r2, ARM divides without `.cpu cortex-a15`), so None means "no opinion".
    """
    try:
        import keystone as ks  # type: ignore[import-not-found]
    except ImportError:
        return None
    names = _tools(arch).keystone
    if not names:
        return None
    a = getattr(ks, names[0])
    m = 0
    for mode in names[1:]:
        m |= getattr(ks, mode)
    try:
        enc, _ = ks.Ks(a, m).asm(text)
    except ks.KsError:
        return None
    return None if enc is None else bytes(enc)
