// SPDX-License-Identifier: MIT
/* sdiv: signed division and remainder (cpu v4 SDIV/SMOD, sign-extending
 * loads and moves), with a portable fallback for older cpus so every build
 * computes the same thing.  C semantics: the quotient truncates toward zero,
 * the remainder takes the dividend's sign.
 *
 * Inputs from the frame (only when it is at least 18 bytes long):
 *   a64 = bytes 14..17 as a big-endian s32     b64 = last byte as s8 (-7 if 0),
 *                                              read with bpf_xdp_load_bytes
 *   a32 = ethertype as s16                     b32 = byte 15 as s8 (-3 if 0)
 * res[0..7] = a64/b64, a64%b64, a32/b32, a32%b32, a64/-3, a64%-3,
 *             a32/7, a32%7
 * Verdict: XDP_DROP for short frames, else XDP_PASS if a32/b32 >= 0,
 * XDP_TX if negative.
 */
#include "net.h"

__s64 res[8];

#ifdef __BPF_FEATURE_SDIV_SMOD
#define SDIV64(a, b) ((a) / (b))
#define SMOD64(a, b) ((a) % (b))
#define SDIV32(a, b) ((a) / (b))
#define SMOD32(a, b) ((a) % (b))
#else
static __always_inline __u64 abs64(__s64 v)
{
	return v < 0 ? -(__u64)v : (__u64)v;
}

static __always_inline __s64 sdiv64(__s64 a, __s64 b)
{
	__u64 q = abs64(a) / abs64(b);

	return (a < 0) != (b < 0) ? -(__s64)q : (__s64)q;
}

static __always_inline __s64 smod64(__s64 a, __s64 b)
{
	__u64 r = abs64(a) % abs64(b);

	return a < 0 ? -(__s64)r : (__s64)r;
}

#define SDIV64(a, b) sdiv64(a, b)
#define SMOD64(a, b) smod64(a, b)
#define SDIV32(a, b) ((__s32)sdiv64(a, b))
#define SMOD32(a, b) ((__s32)smod64(a, b))
#endif

SEC("xdp")
int xdp_sdiv(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__s64 a64, b64;
	__s32 a32, b32;
	__u64 len = data_end - data;
	__u8 last = 0;

	if (data + 18 > data_end)
		return XDP_DROP;
	/* keep clang from folding len - 1 into 32-bit pointer arithmetic,
	 * which the verifier refuses */
	asm volatile("" : "+r"(len));
	if (bpf_xdp_load_bytes(ctx, len - 1, &last, 1) < 0)
		return XDP_DROP;

	a64 = (__s32)((__u32)p[14] << 24 | (__u32)p[15] << 16 | (__u32)p[16] << 8 | p[17]);
	b64 = (__s8)last;
	if (!b64)
		b64 = -7;
	a32 = (__s16)((__u16)p[12] << 8 | p[13]);
	b32 = (__s8)p[15];
	if (!b32)
		b32 = -3;

	res[0] = SDIV64(a64, b64);
	res[1] = SMOD64(a64, b64);
	res[2] = SDIV32(a32, b32);
	res[3] = SMOD32(a32, b32);
	res[4] = SDIV64(a64, -3);
	res[5] = SMOD64(a64, -3);
	res[6] = SDIV32(a32, 7);
	res[7] = SMOD32(a32, 7);
	return res[2] >= 0 ? XDP_PASS : XDP_TX;
}

char _license[] SEC("license") = "GPL";
