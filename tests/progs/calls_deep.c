// SPDX-License-Identifier: MIT
/* calls_deep: bpf-to-bpf calls five frames deep, every frame with its own
 * stack, packet pointers and stack pointers passed down the chain.
 *
 *   xdp_calls -> frame_flow -> ipv4_flow -> l4_ports
 *                                       -> mix -> rol32
 *   tc_calls  -> mix -> rol32            (a second program sharing .text)
 *
 * xdp_calls stores the flow hash of an IPv4 packet in `last_flow` and
 * passes; non-IPv4 passes untouched; a header cut short drops.
 */
#include "net.h"

__u32 last_flow;
__u32 flows;

static __noinline __u32 rol32(__u32 v, __u32 n)
{
	volatile __u32 keep[2];

	keep[0] = v << (n & 31);
	keep[1] = v >> ((32 - n) & 31);
	return keep[0] | keep[1];
}

static __noinline __u32 mix(__u32 a, __u32 b, __u32 c)
{
	volatile __u32 words[4];
	__u32 h = 5381;
	int i;

	words[0] = a;
	words[1] = b;
	words[2] = c;
	words[3] = a ^ b ^ c;
	for (i = 0; i < 4; i++)
		h = rol32(h, 5) + h + words[i];
	return h;
}

/* 0 and the two ports in *out for TCP/UDP, 0 and *out = 0 for other
 * protocols, -1 if the ports are cut short */
static __noinline int l4_ports(void *l4, void *data_end, __u8 proto, __u32 *out)
{
	volatile __u16 ports[2];

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		*out = 0;
		return 0;
	}
	if (l4 + 4 > data_end)
		return -1;
	ports[0] = bpf_ntohs(*(__be16 *)l4);
	ports[1] = bpf_ntohs(*(__be16 *)(l4 + 2));
	*out = (__u32)ports[0] << 16 | ports[1];
	return 0;
}

static __noinline int ipv4_flow(struct iphdr *iph, void *data_end, __u32 *flow)
{
	volatile __u32 addrs[2];
	__u32 ports = 0;

	if ((void *)(iph + 1) > data_end || iph->ihl < 5)
		return -1;
	addrs[0] = bpf_ntohl(iph->saddr);
	addrs[1] = bpf_ntohl(iph->daddr);
	if (!(iph->frag_off & bpf_htons(IP_OFFSET)) &&
	    l4_ports((void *)iph + iph->ihl * 4, data_end, iph->protocol, &ports) < 0)
		return -1;
	*flow = mix(addrs[0], addrs[1], ports);
	return 0;
}

/* 1: not IPv4, 0: *flow set, -1: cut short */
static __noinline int frame_flow(struct xdp_md *ctx, __u32 *flow)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile __u8 dst_mac[ETH_ALEN];
	struct ethhdr *eth = data;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;
	for (i = 0; i < ETH_ALEN; i++)
		dst_mac[i] = eth->h_dest[i];
	if (dst_mac[0] & 1)	/* multicast/broadcast destination */
		return 1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return 1;
	return ipv4_flow((void *)(eth + 1), data_end, flow);
}

SEC("xdp")
int xdp_calls(struct xdp_md *ctx)
{
	volatile __u64 pad[2] = {};
	__u32 flow = 0;
	int r;

	r = frame_flow(ctx, &flow);
	pad[0] = r;
	if (r < 0)
		return XDP_DROP;
	if (r > 0)
		return XDP_PASS;
	last_flow = flow;
	flows += 1 + pad[1];
	return XDP_PASS;
}

SEC("tc")
int tc_calls(struct __sk_buff *skb)
{
	__u32 h = mix(skb->len, skb->protocol, skb->ifindex);

	return h & 1 ? TC_ACT_OK : TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
