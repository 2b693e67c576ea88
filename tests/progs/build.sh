#!/bin/sh
# Rebuild bpfjit's fixture objects: every tests/progs/*.c in three flavours,
#   build/NAME.el3.o   -target bpfel -mcpu=v3
#   build/NAME.el4.o   -target bpfel -mcpu=v4
#   build/NAME.eb3.o   -target bpfeb -mcpu=v3
# plus build/NAME.BUILD.btf.txt, the `bpftool btf dump file ... format raw`
# oracle that tests/test_btf.py compares our BTF parser against.
# The .o files are committed so the tests run on machines without clang.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
BPFTOOL=${BPFTOOL:-bpftool}
mkdir -p build
for src in *.c; do
	name=${src%.c}
	for flavour in el3:bpfel:v3 el4:bpfel:v4 eb3:bpfeb:v3; do
		tag=${flavour%%:*}
		rest=${flavour#*:}
		target=${rest%%:*}
		cpu=${rest#*:}
		# -fdebug-prefix-map keeps this machine's paths out of the objects
		"$CLANG" -O2 -g -target "$target" -mcpu="$cpu" -Wall -Werror \
			-fdebug-prefix-map="$PWD"=. -Iinclude \
			-c "$src" -o "build/$name.$tag.o"
		if command -v "$BPFTOOL" >/dev/null 2>&1; then
			"$BPFTOOL" btf dump file "build/$name.$tag.o" format raw > "build/$name.$tag.btf.txt"
		fi
	done
done
