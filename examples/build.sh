#!/bin/sh
# Rebuild the example objects the way a user would:
#   clang -O2 -g -target bpf -c prog.c -o prog.o
# (copies of tests/progs fixtures; bpfjit loads them as libbpf would).
set -eu
cd "$(dirname "$0")"
for src in *.c; do
	${CLANG:-clang-19} -O2 -g -target bpfel -mcpu=v3 -Iinclude \
		-fdebug-prefix-map="$PWD"=. -c "$src" -o "${src%.c}.o"
done
