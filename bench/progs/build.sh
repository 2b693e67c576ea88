#!/bin/sh
# Rebuild the benchmark corpus objects (committed, so the bench runs without clang):
#   build/NAME.el3.o   -target bpfel -mcpu=v3
#   build/NAME.eb3.o   -target bpfeb -mcpu=v3
# for every bench/progs/*.c except native.c (the native anchor, which
# bench/anchors.py compiles itself at bench time).
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
mkdir -p build
for src in *.c; do
	name=${src%.c}
	[ "$name" = native ] && continue
	for flavour in el3:bpfel eb3:bpfeb; do
		tag=${flavour%%:*}
		target=${flavour#*:}
		# -fdebug-prefix-map keeps this machine's paths out of the objects
		"$CLANG" -O2 -g -target "$target" -mcpu=v3 -Wall -Werror \
			-fdebug-prefix-map="$PWD"=. -c "$src" -o "build/$name.$tag.o"
	done
done
