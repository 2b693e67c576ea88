// SPDX-License-Identifier: MIT
/* xdp_parse: a full header parser, Ethernet -> up to two VLAN tags ->
 * IPv4 (options, fragments) / IPv6 (up to two extension headers) -> TCP/UDP/ICMP.
 *
 * What it found goes into the global `last` (.bss); the verdict is XDP_DROP
 * for a header that is cut short or impossible, XDP_PASS for everything else.
 */
#include "net.h"

#define F_FRAGMENT 1	/* IPv4 fragment with a non-zero offset: no L4 header */
#define F_IP_OPTIONS 2	/* IPv4 header longer than 20 bytes */
#define F_IPV6_EXT 4	/* at least one IPv6 extension header skipped */
#define F_MORE_FRAGS 8	/* IPv4 MF bit set */

struct parse_result {
	__u16 l3_proto;		/* ethertype after the VLAN tags, host order */
	__u8 l4_proto;		/* IP protocol / IPv6 next header, 0 if no IP */
	__u8 vlans;		/* VLAN tags skipped */
	__u16 sport;		/* host order, 0 without TCP/UDP */
	__u16 dport;
	__u16 l4_off;		/* offset of the L4 header from the frame start */
	__u16 flags;		/* F_* */
	__u32 ip_len;		/* IPv4 tot_len or IPv6 payload_len + 40 */
};

struct parse_result last;
__u64 packets_seen;

static __always_inline int is_vlan(__u16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

static __always_inline int is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == 0 || nexthdr == 43 || nexthdr == 60;	/* hop-by-hop, routing, dest opts */
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct parse_result r = {};
	struct ethhdr *eth = data;
	void *cur;
	__u16 proto;
	__u8 l4;
	int i;

	packets_seen++;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	proto = eth->h_proto;
	cur = eth + 1;

#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *vh = cur;

		if (!is_vlan(proto))
			break;
		if ((void *)(vh + 1) > data_end)
			return XDP_DROP;
		proto = vh->h_vlan_encapsulated_proto;
		cur = vh + 1;
		r.vlans++;
	}
	r.l3_proto = bpf_ntohs(proto);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur;
		__u32 hlen;

		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
		if (iph->version != 4 || iph->ihl < 5)
			return XDP_DROP;
		hlen = iph->ihl * 4;
		if (hlen > 20)
			r.flags |= F_IP_OPTIONS;
		if (cur + hlen > data_end)
			return XDP_DROP;
		r.ip_len = bpf_ntohs(iph->tot_len);
		l4 = iph->protocol;
		if (iph->frag_off & bpf_htons(IP_MF))
			r.flags |= F_MORE_FRAGS;
		if (iph->frag_off & bpf_htons(IP_OFFSET)) {
			r.flags |= F_FRAGMENT;
			r.l4_proto = l4;
			last = r;
			return XDP_PASS;
		}
		cur += hlen;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;

		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		if ((ip6->vtc >> 4) != 6)
			return XDP_DROP;
		r.ip_len = bpf_ntohs(ip6->payload_len) + 40;
		l4 = ip6->nexthdr;
		cur = ip6 + 1;
		for (i = 0; i < 2; i++) {
			__u8 *ext = cur;

			if (!is_ipv6_ext(l4))
				break;
			if ((void *)(ext + 8) > data_end)
				return XDP_DROP;
			l4 = ext[0];
			r.flags |= F_IPV6_EXT;
			/* hdr_ext_len counts 8-byte units after the first 8 */
			cur += (ext[1] + 1) * 8;
		}
	} else {
		last = r;
		return XDP_PASS;
	}

	r.l4_proto = l4;
	r.l4_off = cur - data;
	if (l4 == IPPROTO_TCP) {
		struct tcphdr *th = cur;

		if ((void *)(th + 1) > data_end)
			return XDP_DROP;
		if ((th->doff_res >> 4) < 5)
			return XDP_DROP;
		r.sport = bpf_ntohs(th->source);
		r.dport = bpf_ntohs(th->dest);
	} else if (l4 == IPPROTO_UDP) {
		struct udphdr *uh = cur;

		if ((void *)(uh + 1) > data_end)
			return XDP_DROP;
		r.sport = bpf_ntohs(uh->source);
		r.dport = bpf_ntohs(uh->dest);
	} else if (l4 == IPPROTO_ICMP || l4 == IPPROTO_ICMPV6) {
		__u8 *icmp = cur;

		if ((void *)(icmp + 4) > data_end)
			return XDP_DROP;
		/* type and code stand in for the ports */
		r.sport = icmp[0];
		r.dport = icmp[1];
	}
	last = r;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
