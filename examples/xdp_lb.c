// SPDX-License-Identifier: MIT
/* xdp_lb: a layer-4 load balancer that rewrites headers in place.
 *
 * TCP to the virtual address VIP:80 is sent back out (XDP_TX) to one of four
 * backends: the destination IP and MAC become the backend's, the old
 * destination MAC becomes the source, and the IPv4 and TCP checksums are
 * updated incrementally with bpf_csum_diff (RFC 1624).  The backend is
 * chosen by a multiplicative hash of the client address and port.
 * Anything else passes; a cut-short packet or an unconfigured backend drops.
 */
#include "net.h"

#define VIP 0x0a000064		/* 10.0.0.100 */
#define VIP_PORT 80
#define N_BACKENDS 4

struct backend {
	__be32 ip;
	__u8 mac[ETH_ALEN];
	__u16 weight;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, N_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, N_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} lb_stats SEC(".maps");

static __always_inline __u16 csum_fold(__u32 csum)
{
	csum = (csum & 0xffff) + (csum >> 16);
	csum = (csum & 0xffff) + (csum >> 16);
	return (__u16)~csum;
}

/* The checksum after replacing the 4 bytes `old` with `new` (RFC 1624 eqn 3). */
static __always_inline __u16 csum_replace4(__u16 check, __be32 old, __be32 new)
{
	__u32 seed = ~(__u32)check & 0xffff;

	return csum_fold(bpf_csum_diff(&old, 4, &new, 4, seed));
}

static __always_inline __u32 pick(__be32 saddr, __be16 sport)
{
	__u32 h = bpf_ntohl(saddr) * 0x9E3779B1u;

	h ^= bpf_ntohs(sport);
	h ^= h >> 16;
	return h % N_BACKENDS;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct backend *be;
	struct iphdr *iph;
	struct tcphdr *th;
	__be32 old_daddr;
	__u64 *n;
	__u32 idx;
	int i;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->ihl < 5)
		return XDP_DROP;
	if (iph->daddr != bpf_htonl(VIP) || iph->protocol != IPPROTO_TCP)
		return XDP_PASS;
	if (iph->frag_off & bpf_htons(IP_OFFSET))
		return XDP_PASS;
	th = (void *)iph + iph->ihl * 4;
	if ((void *)(th + 1) > data_end)
		return XDP_DROP;
	if (th->dest != bpf_htons(VIP_PORT))
		return XDP_PASS;

	idx = pick(iph->saddr, th->source);
	be = bpf_map_lookup_elem(&backends, &idx);
	if (!be || !be->ip)
		return XDP_DROP;

	old_daddr = iph->daddr;
	iph->daddr = be->ip;
	iph->check = csum_replace4(iph->check, old_daddr, be->ip);
	/* the TCP checksum covers the pseudo-header, so it sees the new address too */
	th->check = csum_replace4(th->check, old_daddr, be->ip);

#pragma unroll
	for (i = 0; i < ETH_ALEN; i++) {
		eth->h_source[i] = eth->h_dest[i];
		eth->h_dest[i] = be->mac[i];
	}

	n = bpf_map_lookup_elem(&lb_stats, &idx);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
