// SPDX-License-Identifier: MIT
/* xdp_adjust: moving the packet's edges.
 *
 *  - an 802.1Q-tagged frame loses its tag: the MAC addresses move 4 bytes
 *    up and bpf_xdp_adjust_head(+4) drops the old start;
 *  - an IPv4 frame longer than its tot_len (Ethernet padding) is trimmed
 *    with bpf_xdp_adjust_tail;
 *  - every frame gets 4 bytes of metadata (bpf_xdp_adjust_meta(-4)) holding
 *    the original length, read back through data_meta.
 * Results: orig_len, new_len, meta_seen.  Verdict: XDP_PASS, XDP_DROP for
 * frames shorter than 14 bytes or when a helper fails, XDP_ABORTED if the
 * metadata does not read back.
 */
#include "net.h"

__u32 orig_len;
__u32 new_len;
__u32 meta_seen;

SEC("xdp")
int xdp_adjust(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 len = data_end - data;
	__u32 *meta;
	int i;

	orig_len = len;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;

	if (eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		__u8 *p = data;

		if (data + ETH_HLEN + 4 > data_end)
			return XDP_DROP;
		/* shift dst+src MAC 4 bytes towards the payload, over the tag */
		for (i = 11; i >= 0; i--)
			p[i + 4] = p[i];
		if (bpf_xdp_adjust_head(ctx, 4))
			return XDP_DROP;
	}

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		long excess;

		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
		/* 64-bit: the verifier refuses 32-bit arithmetic on packet pointers */
		excess = (long)(data_end - data) - ETH_HLEN - bpf_ntohs(iph->tot_len);
		if (excess > 0 && excess < 256 && bpf_xdp_adjust_tail(ctx, (int)-excess))
			return XDP_DROP;
	}

	if (bpf_xdp_adjust_meta(ctx, -4))
		return XDP_DROP;
	meta = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if ((void *)(meta + 1) > data)
		return XDP_ABORTED;
	*meta = len;
	meta_seen = *(volatile __u32 *)meta;
	new_len = ctx->data_end - ctx->data;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
