// SPDX-License-Identifier: MIT
/* tail_calls: a dispatcher that tail-calls per-protocol handlers through a
 * prog array initialised in the object (`.values = { [0] = &handle_ipv4, ... }`).
 *
 *   dispatch (xdp) --bpf_tail_call(jump_table, 0)--> handle_ipv4 (xdp)
 *                  --bpf_tail_call(jump_table, 1)--> handle_ipv6 (xdp)
 *                  --bpf_tail_call(jump_table, 2)--> (empty slot: falls through)
 *
 * Each handler counts itself in `hits` and returns its own verdict; the
 * dispatcher returns XDP_PASS when a tail call does not happen and XDP_DROP
 * for a frame shorter than an Ethernet header.  All three live in one
 * section, so they also test "every global function of a section is a program".
 */
#include "net.h"

int handle_ipv4(struct xdp_md *ctx);
int handle_ipv6(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int(struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = {
		[0] = (void *)&handle_ipv4,
		[1] = (void *)&handle_ipv6,
	},
};

/* hits[0] dispatcher fall-through, [1] IPv4 handler, [2] IPv6 handler */
__u64 hits[3];

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &jump_table, 0);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &jump_table, 1);
	else
		bpf_tail_call(ctx, &jump_table, 2);
	__sync_fetch_and_add(&hits[0], 1);
	return XDP_PASS;
}

SEC("xdp")
int handle_ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + ETH_HLEN;

	__sync_fetch_and_add(&hits[1], 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	/* drop anything with a TTL that would expire here */
	return iph->ttl <= 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int handle_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + ETH_HLEN;

	__sync_fetch_and_add(&hits[2], 1);
	if ((void *)(ip6 + 1) > data_end)
		return XDP_DROP;
	/* bounce ICMPv6 back out, pass the rest */
	return ip6->nexthdr == IPPROTO_ICMPV6 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
