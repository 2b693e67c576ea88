// SPDX-License-Identifier: MIT
/* xdp_firewall: drop IPv4 packets from blocked sources or to blocked ports.
 *
 * blocked_src:   IPv4 source address (network order) -> hit counter
 * blocked_ports: TCP/UDP destination port (host order) -> hit counter
 * verdicts:      [0] passed, [1] dropped by source, [2] dropped by port,
 *                [3] dropped as malformed
 * Non-IPv4 frames pass uncounted; later fragments pass (no ports to check).
 */
#include "net.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);
	__type(value, __u64);
} blocked_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u16);
	__type(value, __u64);
} blocked_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

enum { V_PASS, V_DROP_SRC, V_DROP_PORT, V_MALFORMED };

static __always_inline int count(__u32 which, int action)
{
	__u64 *n = bpf_map_lookup_elem(&verdicts, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
	return action;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__u64 *hits;
	__u16 port;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return count(V_MALFORMED, XDP_DROP);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ihl < 5)
		return count(V_MALFORMED, XDP_DROP);

	hits = bpf_map_lookup_elem(&blocked_src, &iph->saddr);
	if (hits) {
		__sync_fetch_and_add(hits, 1);
		return count(V_DROP_SRC, XDP_DROP);
	}
	if (iph->frag_off & bpf_htons(IP_OFFSET))
		return count(V_PASS, XDP_PASS);
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return count(V_PASS, XDP_PASS);

	l4 = (void *)iph + iph->ihl * 4;
	/* both TCP and UDP keep the destination port at offset 2 */
	if (l4 + 4 > data_end)
		return count(V_MALFORMED, XDP_DROP);
	port = bpf_ntohs(*(__be16 *)(l4 + 2));
	hits = bpf_map_lookup_elem(&blocked_ports, &port);
	if (hits) {
		__sync_fetch_and_add(hits, 1);
		return count(V_DROP_PORT, XDP_DROP);
	}
	return count(V_PASS, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
