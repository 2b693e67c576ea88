// SPDX-License-Identifier: MIT
/* loops: bounded loops over packet bytes and TCP options.
 *
 *   byte_sum   sum of the first min(len, 64) bytes
 *   zero_bytes how many of those are zero
 *   mss        the MSS option of an IPv4 TCP SYN (0 if none), found by walking
 *              at most 8 options
 * Verdict: XDP_PASS if byte_sum is even, XDP_DROP if odd; XDP_ABORTED when
 * the TCP options are malformed (an option length under 2).
 */
#include "net.h"

#define SCAN 64
#define MAX_OPTS 8

__u32 byte_sum;
__u32 zero_bytes;
__u16 mss;

static __always_inline int tcp_mss(void *data, void *data_end, __u16 *out)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = data + ETH_HLEN;
	struct tcphdr *th;
	__u8 *opt, *opt_end;
	int i;

	*out = 0;
	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	if (iph->protocol != IPPROTO_TCP || iph->ihl != 5)
		return 0;
	th = (void *)(iph + 1);
	if ((void *)(th + 1) > data_end || !(th->flags & TCP_SYN))
		return 0;
	opt = (void *)(th + 1);
	opt_end = (void *)th + (th->doff_res >> 4) * 4;
	for (i = 0; i < MAX_OPTS; i++) {
		__u8 kind, len;

		if ((void *)(opt + 1) > data_end || opt >= opt_end)
			return 0;
		kind = opt[0];
		if (kind == 0)		/* end of options */
			return 0;
		if (kind == 1) {	/* NOP */
			opt++;
			continue;
		}
		if ((void *)(opt + 2) > data_end)
			return 0;
		len = opt[1];
		if (len < 2)
			return -1;
		if (kind == 2 && len == 4) {
			if ((void *)(opt + 4) > data_end)
				return 0;
			*out = (__u16)opt[2] << 8 | opt[3];
			return 0;
		}
		opt += len;
	}
	return 0;
}

SEC("xdp")
int xdp_loops(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 sum = 0, zeros = 0;
	__u16 m;
	int i;

	for (i = 0; i < SCAN; i++) {
		__u8 *p = data + i;

		if ((void *)(p + 1) > data_end)
			break;
		sum += *p;
		zeros += *p == 0;
	}
	byte_sum = sum;
	zero_bytes = zeros;
	if (tcp_mss(data, data_end, &m) < 0)
		return XDP_ABORTED;
	mss = m;
	return sum & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
