#!/bin/sh
# Rebuild the llvm-objdump oracles of tests/test_disasm_objdump.py (run from anywhere).
#
#   multi.s, edges.s            hand-written objects (see their comments), assembled
#                               by llvm-mc-19 as multi.{el,eb}.o and edges.{el,eb}.o
#   golden/<path>.d-r.txt       llvm-objdump-19 -d -r of every fixture object, run from
#                               the repository root so the file line names it the same way
#   golden/<path>.v4.txt        llvm-objdump-19 -d -r --mcpu=v4, for the v4 and hand-
#                               written objects (their 32-bit loads/stores print as wN)
#
# <path> is the object's path from the repository root with / as __.  The test
# compares bpfjit's output with these files without LLVM, and with llvm-objdump-19
# itself where it is installed.  Rerun this when a fixture object is rebuilt.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
MC=${MC:-llvm-mc-19}
OBJDUMP=${OBJDUMP:-llvm-objdump-19}

for name in multi edges; do
    for order in el eb; do
        "$MC" -triple "bpf$order" -filetype=obj -o "$here/$name.$order.o" "$here/$name.s"
    done
done

cd "$root"
rm -rf "$here/golden"
mkdir -p "$here/golden"
for obj in tests/progs/build/*.o examples/*.o bench/progs/build/*.o tests/asm/*.o \
           tests/asm/objdump/*.o; do
    [ -e "$obj" ] || continue
    flat=$(echo "$obj" | sed 's|/|__|g')
    "$OBJDUMP" -d -r "$obj" > "$here/golden/$flat.d-r.txt"
    case "$obj" in
        *4.o|tests/asm/objdump/*)
            "$OBJDUMP" -d -r --mcpu=v4 "$obj" > "$here/golden/$flat.v4.txt" ;;
    esac
done
