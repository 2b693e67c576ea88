# Five XDP programs in one section, two of them calling one .text subprogram:
# `bpfjit disasm` must show all five (each under its own header), and check,
# info and cfg cover every program.  Assembled by build.sh with llvm-mc-19.
	.text
	.type	clamp,@function
clamp:
	r0 = r1
	if r0 < 64 goto +1
	r0 = 64
	exit
	.size	clamp, 32

	.section	xdp,"ax",@progbits
	.globl	xdp_pass
	.type	xdp_pass,@function
xdp_pass:
	r0 = 2
	exit
	.size	xdp_pass, 16

	.globl	xdp_drop
	.type	xdp_drop,@function
xdp_drop:
	r0 = 1
	exit
	.size	xdp_drop, 16

	.globl	xdp_len
	.type	xdp_len,@function
xdp_len:
	r2 = *(u32 *)(r1 + 4)
	r1 = *(u32 *)(r1 + 0)
	r2 -= r1
	r1 = r2
	call clamp
	exit
	.size	xdp_len, 48

	.globl	xdp_count
	.type	xdp_count,@function
xdp_count:
	r0 = 0
	r1 = 10
.Lloop:
	r0 += r1
	r1 += -1
	if r1 != 0 goto .Lloop
	r1 = r0
	call clamp
	exit
	.size	xdp_count, 64

	.globl	xdp_branch
	.type	xdp_branch,@function
xdp_branch:
	r0 = 2
	r2 = *(u32 *)(r1 + 0)
	w2 &= 1
	if w2 == 0 goto +1
	r0 = 1
	exit
	.size	xdp_branch, 48

	.section	license,"aw",@progbits
	.globl	_license
_license:
	.asciz	"GPL"
