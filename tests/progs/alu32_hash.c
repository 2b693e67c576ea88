// SPDX-License-Identifier: MIT
/* alu32_hash: 32-bit arithmetic as a flow hasher does it.
 *
 * FNV-1a over the first min(len, 32) bytes, then murmur3's fmix32, a
 * rotate, and a reduction into 16 buckets by multiply-shift.  Everything is
 * __u32, so clang emits ALU32 (w registers) and JMP32.
 *   hash    the fmix32 result         bucket  (rotl(hash, 13) * 16) >> 32 style
 * Verdict: XDP_PASS for an even bucket, XDP_DROP for an odd one.
 */
#include "net.h"

__u32 hash;
__u32 bucket;
__u32 buckets[16];

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

SEC("xdp")
int xdp_hash(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 h = 2166136261u;	/* FNV offset basis */
	__u32 b;
	int i;

	for (i = 0; i < 32; i++) {
		__u8 *p = data + i;

		if ((void *)(p + 1) > data_end)
			break;
		h ^= *p;
		h *= 16777619u;		/* FNV prime */
	}
	h = fmix32(h ^ (__u32)(data_end - data));
	hash = h;
	b = (__u32)(((__u64)rotl32(h, 13) * 16) >> 32);
	bucket = b;
	buckets[b & 15]++;
	return b & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
