// SPDX-License-Identifier: MIT
/* map_types: a router on an LPM trie that logs through a queue, a stack and
 * a ring buffer.
 *
 * routes (LPM_TRIE, key {prefixlen, IPv4 dst}) -> struct route {id, action}
 * For an IPv4 frame the longest matching route's id is pushed on `recent`
 * (QUEUE) and `history` (STACK), and a struct event {id, len, proto} goes to
 * the `events` ring buffer.  The verdict is the route's action; no route:
 * XDP_DROP and id 0xFFFF is pushed.  Non-IPv4: XDP_PASS, nothing logged.
 * When the queue head differs from the new id, the head is popped into `popped`.
 */
#include "net.h"

struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct route {
	__u32 id;
	__u32 action;
};

struct event {
	__u32 id;
	__u32 len;
	__u8 proto;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, struct route);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} history SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

__u32 popped;

SEC("xdp")
int xdp_route(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + ETH_HLEN;
	struct lpm_v4 key = { .prefixlen = 32 };
	struct event ev = {};
	struct route *rt;
	__u32 id, action, head;

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	__builtin_memcpy(key.addr, &iph->daddr, 4);
	rt = bpf_map_lookup_elem(&routes, &key);
	if (rt) {
		id = rt->id;
		action = rt->action;
	} else {
		id = 0xFFFF;
		action = XDP_DROP;
	}
	bpf_map_push_elem(&recent, &id, 0);
	bpf_map_push_elem(&history, &id, 0);
	if (bpf_map_peek_elem(&recent, &head) == 0 && head != id) {
		/* more than one entry queued: drain the oldest */
		if (bpf_map_pop_elem(&recent, &head) == 0)
			popped = head;
	}
	ev.id = id;
	ev.len = data_end - data;
	ev.proto = iph->protocol;
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
	return action;
}

char _license[] SEC("license") = "GPL";
