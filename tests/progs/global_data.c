// SPDX-License-Identifier: MIT
/* global_data: every flavour of global data libbpf turns into a map.
 *
 *   .rodata        const volatile configuration (as a skeleton would set it)
 *   .data          initialised counters
 *   .bss           zero-initialised state
 *   .data.stats    a custom data section
 *   .rodata.str1.1 string literals, stored into a map by address
 *
 * The verdict: XDP_DROP for packets shorter than min_len, XDP_TX for frames
 * to the configured MAC, XDP_PASS otherwise.
 */
#include "net.h"

const volatile __u32 min_len = 60;
const volatile __u8 my_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };
static const char class_names[4][8] = { "short", "ipv4", "ipv6", "other" };

__u64 packets = 100;		/* .data: starts counting at 100 */
__u32 last_class = 7;		/* .data */
__u64 bytes_seen;		/* .bss */
__u32 histogram[8] SEC(".data.stats");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, char[12]);
} labels SEC(".maps");

/* the string literals below live in .rodata.str1.1; each is 12 bytes with
 * its NUL, the map value size, because the helper reads a whole value */
static __noinline void label(__u32 cls, const char *text)
{
	bpf_map_update_elem(&labels, &cls, text, BPF_ANY);
}

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ethhdr *eth = data;
	__u32 cls, bucket;
	int i, mine = 1;

	packets++;
	bytes_seen += len;
	bucket = len / 32;
	if (bucket > 7)
		bucket = 7;
	histogram[bucket]++;

	if (len < min_len || (void *)(eth + 1) > data_end) {
		cls = 0;
		label(cls, "runt frame!");
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		cls = 1;
		label(cls, "IPv4 packet");
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		cls = 2;
		label(cls, "IPv6 packet");
	} else {
		cls = 3;
		label(cls, "not IP, eh?");
	}
	last_class = class_names[cls][0];
	if (cls == 0)
		return XDP_DROP;
	for (i = 0; i < ETH_ALEN; i++)
		if (eth->h_dest[i] != my_mac[i])
			mine = 0;
	return mine ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
