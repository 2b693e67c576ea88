// SPDX-License-Identifier: MIT
/* legacy_maps: a socket filter with pre-BTF maps, the `struct bpf_map_def`
 * in SEC("maps") that old samples and iproute2 objects still carry.
 *
 * counts[skb->protocol & 7] += 1 and bytes[0] += skb->len; keeps the whole
 * packet (returns skb->len) unless it is shorter than 20 bytes (returns 0).
 */
#include "bpf_base.h"

struct bpf_map_def SEC("maps") counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 8,
};

struct bpf_map_def SEC("maps") bytes = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

SEC("socket")
int legacy_counter(struct __sk_buff *skb)
{
	__u32 key = skb->protocol & 7, zero = 0;
	__u64 *v;

	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	v = bpf_map_lookup_elem(&bytes, &zero);
	if (v)
		*v += skb->len;
	return skb->len < 20 ? 0 : skb->len;
}

char _license[] SEC("license") = "GPL";
