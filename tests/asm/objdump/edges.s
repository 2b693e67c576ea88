# What llvm-objdump does at the edges, for `jit.asm.objdump` to match byte for
# byte (tests/test_disasm_objdump.py): a code section with no symbol at its
# start (llvm names the block after the section), an empty code section,
# two symbols at one address (the last in name order names the block), a
# local label that splits a function, branches before the section start
# (the address wraps) and past its end, zero runs shown as `...`, encodings
# that do not decode, an LDDW whose second slot has junk in the fields llvm
# ignores, relocations against a section, a global, a function and an
# undefined symbol, and a truncated last instruction.  Not a loadable program.
	.section	xdp,"ax",@progbits
	r0 = 1
	goto +1
	exit
	.globl	first
	.type	first,@function
first:
	r0 = 2
	exit
	.size	first, 16
	.globl	second
	.globl	second_alias
	.type	second,@function
second:
second_alias:
	if r1 > 3 goto +2
	r1 = counter ll
inner:
	call 1
	goto -5
	r2 = extern_thing ll
	call helper_fn
	if w1 s< 7 goto -100
	gotol +1000
	exit

	.section	sec_empty,"ax",@progbits

	.section	weird,"ax",@progbits
	.globl	odd
	.type	odd,@function
odd:
	r0 = 2
	.byte 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0
	.byte 0x07,0,0,0,0,0,0,0
	.byte 0xff,0x01,0,0,0,0,0,0
	.byte 0xb7,0x01,0x01,0,5,0,0,0
	.byte 0x18,0x01,0,0,5,0,0,0, 0xff,0xff,0xff,0xff,1,0,0,0
	exit
	.byte 0,0,0,0,0,0,0,0,0,0,0,0
	exit
	.byte 0x95,0,0

	.text
	.type	helper_fn,@function
helper_fn:
	r0 = 0
	exit

	.data
	.globl	counter
counter:
	.long	1
	.long	2
