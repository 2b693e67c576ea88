// SPDX-License-Identifier: MIT
/* socket_filter: a classic snap-length filter, written with the legacy
 * packet loads (LD_ABS / LD_IND) the way tcpdump-style filters are.
 *
 * The socket sees the packet from the network header on.  The return value
 * is how many bytes to keep: all of TCP to port 80, 64 bytes of other TCP,
 * 42 bytes of UDP, nothing of ICMP, all of IPv6, nothing of anything else.
 */
#include "net.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} kept_bytes SEC(".maps");

static __always_inline int keep(struct __sk_buff *skb, __u32 n)
{
	__u32 zero = 0;
	__u64 *total = bpf_map_lookup_elem(&kept_bytes, &zero);

	if (n > skb->len)
		n = skb->len;
	if (total)
		__sync_fetch_and_add(total, n);
	return n;
}

SEC("socket")
int snaplen_filter(struct __sk_buff *skb)
{
	__u32 vihl, proto, ihl;

	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return keep(skb, skb->len);
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;

	vihl = load_byte(skb, 0);
	if ((vihl >> 4) != 4)
		return 0;
	ihl = (vihl & 0xf) * 4;
	proto = load_byte(skb, 9);
	if (proto == IPPROTO_ICMP)
		return 0;
	if (proto == IPPROTO_UDP)
		return keep(skb, 42);
	if (proto != IPPROTO_TCP)
		return 0;
	/* LD_IND: a load past the end ends the program with 0 */
	if (load_half(skb, ihl + 2) == 80)
		return keep(skb, skb->len);
	return keep(skb, 64);
}

char _license[] SEC("license") = "GPL";
