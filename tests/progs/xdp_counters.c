// SPDX-License-Identifier: MIT
/* xdp_counters: per-protocol packet and byte counters in a per-CPU array.
 *
 * Index: 0 not IP (or cut short), 1 TCP, 2 UDP, 3 ICMP/ICMPv6, 4 any other
 * IP protocol.  IPv4 and IPv6 both count; every packet passes.
 */
#include "net.h"

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, struct counter);
} proto_stats SEC(".maps");

static __always_inline __u32 classify(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 1;
	case IPPROTO_UDP:
		return 2;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 3;
	default:
		return 4;
	}
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct counter *c;
	__u32 idx = 0;

	if ((void *)(eth + 1) <= data_end) {
		if (eth->h_proto == bpf_htons(ETH_P_IP)) {
			struct iphdr *iph = (void *)(eth + 1);

			if ((void *)(iph + 1) <= data_end)
				idx = classify(iph->protocol);
		} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
			struct ipv6hdr *ip6 = (void *)(eth + 1);

			if ((void *)(ip6 + 1) <= data_end)
				idx = classify(ip6->nexthdr);
		}
	}
	c = bpf_map_lookup_elem(&proto_stats, &idx);
	if (!c)
		return XDP_ABORTED;
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, data_end - data);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
