// SPDX-License-Identifier: MIT
/* tc_nat: destination NAT for DNS on the tc hook, done the skb way.
 *
 * IPv4 UDP to port 53 is redirected to RESOLVER:5353: the address and port
 * are written with bpf_skb_store_bytes and both checksums fixed with
 * bpf_l3_csum_replace / bpf_l4_csum_replace (the UDP one through the
 * pseudo-header flag).  Rewritten packets get skb->mark = 0x53 and return
 * TC_ACT_OK; other packets return TC_ACT_UNSPEC (-1), cut-short ones
 * TC_ACT_SHOT.  Everything is read through bpf_skb_load_bytes.
 */
#include "net.h"

#define RESOLVER 0x7f000035	/* 127.0.0.53 */
#define DNS_PORT 53
#define RESOLVER_PORT 5353

#define IP_CSUM_OFF (ETH_HLEN + 10)
#define IP_DST_OFF (ETH_HLEN + 16)

__u64 rewritten;

SEC("tc")
int tc_dns_nat(struct __sk_buff *skb)
{
	__be32 old_ip, new_ip = bpf_htonl(RESOLVER);
	__be16 old_port, new_port = bpf_htons(RESOLVER_PORT);
	struct iphdr iph;
	struct udphdr uh;
	__u32 l4_off;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)) < 0)
		return TC_ACT_SHOT;
	if (iph.ihl < 5 || iph.protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC;
	if (iph.frag_off & bpf_htons(IP_OFFSET))
		return TC_ACT_UNSPEC;
	l4_off = ETH_HLEN + iph.ihl * 4;
	if (bpf_skb_load_bytes(skb, l4_off, &uh, sizeof(uh)) < 0)
		return TC_ACT_SHOT;
	if (uh.dest != bpf_htons(DNS_PORT))
		return TC_ACT_UNSPEC;

	old_ip = iph.daddr;
	old_port = uh.dest;
	/* UDP checksum first: the pseudo-header flag folds the address change in */
	if (uh.check) {
		bpf_l4_csum_replace(skb, l4_off + 6, old_ip, new_ip, BPF_F_PSEUDO_HDR | 4);
		bpf_l4_csum_replace(skb, l4_off + 6, old_port, new_port, 2);
	}
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ip, new_ip, 4);
	bpf_skb_store_bytes(skb, IP_DST_OFF, &new_ip, 4, 0);
	bpf_skb_store_bytes(skb, l4_off + 2, &new_port, 2, 0);
	skb->mark = 0x53;
	__sync_fetch_and_add(&rewritten, 1);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
