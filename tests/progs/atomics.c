// SPDX-License-Identifier: MIT
/* atomics: every BPF atomic operation, 64- and 32-bit, on a map value.
 *
 * With L = packet length, one run does, in this order:
 *   add64 += L            (BPF_ADD, result unused)
 *   fetched = add64_f += 3 (BPF_ADD | BPF_FETCH: old value kept)
 *   or64 |= 1 << (L & 63), and64 &= ~(1 << (L & 7)), xor64 ^= L * 0x0101
 *   old_xchg = xchg64 <- L                    (BPF_XCHG)
 *   old_cas = cmpxchg64(cas64, 0, L)          (BPF_CMPXCHG: only while 0)
 *   and the same on the 32-bit fields, fetch variants kept in the 32-bit olds.
 * Returns XDP_PASS, or XDP_ABORTED if the map lookup fails.
 */
#include "net.h"

struct atoms {
	__u64 add64;
	__u64 add64_f;
	__u64 or64;
	__u64 and64;
	__u64 xor64;
	__u64 xchg64;
	__u64 cas64;
	__u64 fetched;
	__u64 old_xchg;
	__u64 old_cas;
	__u32 add32;
	__u32 or32;
	__u32 and32;
	__u32 xor32;
	__u32 xchg32;
	__u32 cas32;
	__u32 old_or32;
	__u32 old_and32;
	__u32 old_xor32;
	__u32 old_cas32;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct atoms);
} atoms SEC(".maps");

SEC("xdp")
int xdp_atomics(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	struct atoms *a;
	__u32 zero = 0;

	a = bpf_map_lookup_elem(&atoms, &zero);
	if (!a)
		return XDP_ABORTED;

	__sync_fetch_and_add(&a->add64, len);
	a->fetched = __sync_fetch_and_add(&a->add64_f, 3);
	__sync_fetch_and_or(&a->or64, 1ULL << (len & 63));
	__sync_fetch_and_and(&a->and64, ~(1ULL << (len & 7)));
	__sync_fetch_and_xor(&a->xor64, len * 0x0101);
	a->old_xchg = __sync_lock_test_and_set(&a->xchg64, len);
	a->old_cas = __sync_val_compare_and_swap(&a->cas64, 0, len);

	__sync_fetch_and_add(&a->add32, (__u32)len);
	a->old_or32 = __sync_fetch_and_or(&a->or32, 1U << (len & 31));
	a->old_and32 = __sync_fetch_and_and(&a->and32, 0xFFFF00FFu);
	a->old_xor32 = __sync_fetch_and_xor(&a->xor32, (__u32)len << 8);
	__sync_lock_test_and_set(&a->xchg32, (__u32)len + 1);
	a->old_cas32 = __sync_val_compare_and_swap(&a->cas32, 7, (__u32)len);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
