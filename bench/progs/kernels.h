/* kernels.h: the compute kernels of bpfjit's benchmark corpus, written once.
 *
 * Each kernel is a `static __always_inline` function over the bytes [p, end)
 * and is used twice:
 *   - by an XDP program (fnv1a.c, jhash.c, ...), built for bpfel and bpfeb by
 *     build.sh, which bpfjit compiles and the kernel's own JIT loads;
 *   - by native.c, the same program bodies compiled by clang-19 -O2 for
 *     x86-64, ARMv7 and MIPS64 as freestanding functions: the code-size anchor.
 * BENCH_XDP expands to the same function body in both places, so the anchor
 * and the eBPF program do exactly the same work (context loads, bounds checks,
 * the kernel, the store of the result into the first 4 packet bytes).
 *
 * Every loop has a constant bound and checks each access against `end`, as
 * the kernel verifier demands; the bounds are kept modest (at most 128 bytes)
 * so the verifier's walk of the unrolled state space stays small.
 */
#ifndef BPFJIT_BENCH_KERNELS_H
#define BPFJIT_BENCH_KERNELS_H

typedef __UINT8_TYPE__ u8;
typedef __UINT16_TYPE__ u16;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;

#define __always_inline inline __attribute__((always_inline))
#ifdef __bpf__
#define SEC(name) __attribute__((section(name), used))
#else
#define SEC(name)
#endif

enum { XDP_ABORTED = 0, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };

/* uapi struct xdp_md: packet pointers are 32-bit fields the kernel rewrites */
struct xdp_md {
	u32 data;
	u32 data_end;
	u32 data_meta;
	u32 ingress_ifindex;
	u32 rx_queue_index;
	u32 egress_ifindex;
};

#define BENCH_BYTES 128			/* bytes of the packet a kernel covers */

/* ---------------------------------------------------------------- FNV-1a */

static __always_inline u32 k_fnv1a(const u8 *p, const u8 *end)
{
	u32 h = 2166136261u;		/* FNV offset basis */

	for (int i = 0; i < BENCH_BYTES; i++) {
		if (p + i + 1 > end)
			break;
		h = (h ^ p[i]) * 16777619u;	/* FNV prime */
	}
	return h;
}

/* ------------------------------------------------ jhash (lookup3 mixing) */

#define rol32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

static __always_inline u32 k_jhash(const u8 *p, const u8 *end)
{
	const u32 *w = (const u32 *)p;
	u32 a, b, c;

	a = b = c = 0xdeadbeef + BENCH_BYTES;
	for (int i = 0; i < BENCH_BYTES / 12; i++) {
		if ((const u8 *)(w + 3) > end)
			break;
		a += w[0];
		b += w[1];
		c += w[2];
		/* __jhash_mix */
		a -= c; a ^= rol32(c, 4);  c += b;
		b -= a; b ^= rol32(a, 6);  a += c;
		c -= b; c ^= rol32(b, 8);  b += a;
		a -= c; a ^= rol32(c, 16); c += b;
		b -= a; b ^= rol32(a, 19); a += c;
		c -= b; c ^= rol32(b, 4);  b += a;
		w += 3;
	}
	/* __jhash_final */
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

/* ------------------------------------- CRC-32 (IEEE, reflected, bitwise) */

#define CRC_BYTES 64			/* 8 inner steps per byte: 512 in all */

static __always_inline u32 k_crc32(const u8 *p, const u8 *end)
{
	u32 c = 0xFFFFFFFFu;

	for (int i = 0; i < CRC_BYTES; i++) {
		if (p + i + 1 > end)
			break;
		c ^= p[i];
		/* `POLY * (c & 1)`, not the usual `POLY & -(c & 1)`: clang turns
		 * the latter into `(c << 31) s>> 31 & POLY`, and the kernel's
		 * verifier (6.x) splits that [-1, 0] range into two states at each
		 * of the 512 steps and gives up at its 1M-instruction limit. */
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u * (c & 1));
	}
	return ~c;
}

/* ------------------------------------------------ sieve of Eratosthenes */

#define SIEVE_N 128

/* How many primes are below 64 + (p[0] & 63), sieved in a stack array. */
static __always_inline u32 k_sieve(const u8 *p, const u8 *end)
{
	u64 words[SIEVE_N / 8];		/* zeroed a word at a time: no memset call */
	u8 *composite = (u8 *)words;
	u32 limit, count = 0;

	if (p + 1 > end)
		return 0;
	limit = 64 + (p[0] & 63);
	for (int i = 0; i < SIEVE_N / 8; i++)
		words[i] = 0;
	for (u32 i = 2; i < SIEVE_N; i++) {
		if (i >= limit)
			break;
		if (composite[i])
			continue;
		count++;
		for (u32 j = i * i; j < SIEVE_N; j += i)
			composite[j] = 1;
	}
	return count;
}

/* ------------------------------------------------ popcount (SWAR, 32-bit) */

static __always_inline u32 pop32(u32 x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0F0F0F0Fu;
	return (x * 0x01010101u) >> 24;
}

static __always_inline u32 k_popcount(const u8 *p, const u8 *end)
{
	const u32 *w = (const u32 *)p;
	u32 total = 0;

	for (int i = 0; i < BENCH_BYTES / 4; i++) {
		if ((const u8 *)(w + i + 1) > end)
			break;
		total += pop32(w[i]) << (i & 3);	/* weight by position: not one ctpop of all */
	}
	return total;
}

/* ------------------------------------- a lexer state machine over bytes */

enum { S_IDLE, S_WORD, S_NUM, S_HEX0, S_HEX, S_SKIP };

/* Words, decimal and 0x-hex numbers; returns a digest of counts and values. */
static __always_inline u32 k_fsm(const u8 *p, const u8 *end)
{
	u32 state = S_IDLE, words = 0, nums = 0, val = 0, sum = 0;

	for (int i = 0; i < BENCH_BYTES; i++) {
		if (p + i + 1 > end)
			break;
		u32 c = p[i];
		u32 alpha = ((c | 0x20) - 'a') < 26;
		u32 digit = (c - '0') < 10;

		switch (state) {
		case S_IDLE:
			if (c == '0') {
				state = S_HEX0; nums++; val = 0;
			} else if (digit) {
				state = S_NUM; nums++; val = c - '0';
			} else if (alpha) {
				state = S_WORD; words++;
			} else if (c >= 0x80) {
				state = S_SKIP;
			}
			break;
		case S_WORD:
			if (!alpha && !digit)
				state = S_IDLE;
			break;
		case S_NUM:
			if (digit) {
				val = val * 10 + c - '0';
			} else {
				sum += val; state = S_IDLE;
			}
			break;
		case S_HEX0:
			if ((c | 0x20) == 'x') {
				state = S_HEX;
			} else if (digit) {
				state = S_NUM; val = c - '0';
			} else {
				state = S_IDLE;
			}
			break;
		case S_HEX:
			if (digit) {
				val = val << 4 | (c - '0');
			} else if (((c | 0x20) - 'a') < 6) {
				val = val << 4 | ((c | 0x20) - 'a' + 10);
			} else {
				sum ^= val; state = S_IDLE;
			}
			break;
		default:			/* S_SKIP: binary bytes until a control byte */
			if (c < 0x20)
				state = S_IDLE;
			break;
		}
	}
	return (words << 24) ^ (nums << 16) ^ sum ^ state;
}

/* ---------------------------------------- internet checksum (RFC 1071) */

static __always_inline u32 k_csum(const u8 *p, const u8 *end)
{
	const u16 *w = (const u16 *)p;
	u32 sum = 0;
	int i;

	for (i = 0; i < BENCH_BYTES / 2; i++) {
		if ((const u8 *)(w + i + 1) > end)
			break;
		sum += w[i];
	}
	/* an odd trailing byte counts as the high byte of a zero-padded word */
	if (i < BENCH_BYTES / 2 && p + 2 * i + 1 <= end)
		sum += p[2 * i];
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (u16)~sum;
}

/* ------------------------------------------------------ the program body */

/* The XDP program (or native anchor) `name`: run `kernel` over the packet,
 * store its result in the first 4 bytes of the packet, pass the frame. */
#define BENCH_XDP(name, kernel)						\
int name(struct xdp_md *ctx)						\
{									\
	u8 *data = (u8 *)(long)ctx->data;				\
	u8 *end = (u8 *)(long)ctx->data_end;				\
	u32 r = kernel(data, end);					\
									\
	if (data + 4 <= end)						\
		*(u32 *)data = r;					\
	return XDP_PASS;						\
}

#endif
