// SPDX-License-Identifier: MIT
/* stack_arrays: arrays on the stack indexed by loop variables, and stack
 * buffers filled by callees down a call chain -- the variable stack offsets
 * clang emits for ordinary code, which the verifier bounds with value ranges
 * (issue #18).
 *
 *   xdp_histo   a 400-byte histogram indexed by packet bytes, folded by a
 *               callee with its own 112-byte frame
 *   xdp_chain   five frames, each filling a buffer its caller passed down
 *   count_bytes a socket filter with a 104-byte table indexed by a loop
 *   xdp_fill    a 64-byte buffer in the caller's frame filled by one callee
 *               and summed by another, both indexing it by loop variables
 */
#include "net.h"

#define NOUNROLL _Pragma("clang loop unroll(disable)")

/* sum of words[0..n), n <= 24, through a copy in a 112-byte local frame */
static __noinline __u32 fold(__u32 *words, __u32 n)
{
	__u32 copy[28];
	__u32 h = 0, i;

	NOUNROLL
	for (i = 0; i < 28; i++)
		copy[i] = i < n && i < 24 ? words[i] : i;
	NOUNROLL
	for (i = 0; i < 28; i++)
		h = (h << 3) + copy[i] + (h >> 29);
	return h;
}

SEC("xdp")
int xdp_histo(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u32 hist[100];
	__u32 i;

	NOUNROLL
	for (i = 0; i < 100; i++)
		hist[i] = 0;
	NOUNROLL
	for (i = 0; i < 64; i++) {
		if (data + i + 1 > end)
			break;
		hist[data[i] & 63]++;
	}
	return fold(hist + (i & 7), 24) & 3;
}

static __noinline __u32 level5(__u8 *buf, __u32 n)
{
	__u8 own[32];
	__u32 i, h = 7;

	NOUNROLL
	for (i = 0; i < 32; i++)
		own[i] = (__u8)(i * 3 + n);
	NOUNROLL
	for (i = 0; i < 32; i++)
		h = h * 31 + own[i] + (i < n ? buf[i & 15] : 0);
	return h;
}

static __noinline __u32 level4(__u8 *buf, __u32 n)
{
	__u8 own[48];
	__u32 i;

	NOUNROLL
	for (i = 0; i < 48; i++)
		own[i] = buf[i & 15] ^ (__u8)i;
	return level5(own + (n & 15), n) + own[n & 31];
}

static __noinline __u32 level3(__u8 *buf, __u32 n)
{
	__u8 own[64];
	__u32 i;

	NOUNROLL
	for (i = 0; i < 64; i++)
		own[i] = buf[i & 31] + (__u8)n;
	return level4(own + (n & 31), n) ^ own[(n * 7) & 63];
}

static __noinline __u32 level2(__u8 *buf, __u32 n)
{
	__u8 own[48];
	__u32 i;

	NOUNROLL
	for (i = 0; i < 48; i++)
		own[i] = buf[i] - (__u8)i;
	return level3(own + (n & 15), n + 1);
}

SEC("xdp")
int xdp_chain(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u8 buf[96];
	__u32 i, n = (__u32)(end - data);

	NOUNROLL
	for (i = 0; i < 96; i++)
		buf[i] = (__u8)(i * 5 + n);
	return level2(buf + (n & 31), n) & 3;
}

SEC("socket")
int count_bytes(struct __sk_buff *skb)
{
	__u32 table[26];
	__u32 i, best = 0;

	NOUNROLL
	for (i = 0; i < 26; i++)
		table[i] = 0;
	NOUNROLL
	for (i = 0; i < 32; i++) {
		__u8 b = load_byte(skb, i & 15);
		table[b & 15] += 1;
	}
	NOUNROLL
	for (i = 0; i < 26; i++)
		if (table[i] > table[best])
			best = i;
	return best < 13 ? 0 : skb->len;
}

static __noinline __u32 fill(__u8 *out, __u32 seed)
{
	__u32 i;

	NOUNROLL
	for (i = 0; i < 64; i++)
		out[i] = (__u8)(i * 7 + seed);
	return out[seed & 63];
}

static __noinline __u32 sum_buf(__u8 *b, __u32 n)
{
	__u32 i, s = 0;

	NOUNROLL
	for (i = 0; i < n && i < 64; i++)
		s += b[i];
	return s;
}

SEC("xdp")
int xdp_fill(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u8 buf[64];
	__u32 n = (__u32)(end - data) & 63;

	return (fill(buf, n) + sum_buf(buf, n)) & 3;
}

char LICENSE[] SEC("license") = "GPL";
