// SPDX-License-Identifier: MIT
/* bpf_loop: callbacks, the two ways a program hands the kernel a function.
 *
 *   bpf_loop(n, sum_byte, &lc, 0) with n = min(len, 48): the callback reads
 *     byte i with bpf_xdp_load_bytes and adds i * byte to lc.weighted
 *   bpf_for_each_map_elem(&weights, add_weight, &total, 0): sums the
 *     values of an array map, stopping after the element whose value is 0
 * Results: loop_result = weighted sum, loop_calls = callbacks run,
 * map_total, map_visited.  Verdict: XDP_PASS, XDP_DROP if bpf_loop failed.
 */
#include "net.h"

struct loop_ctx {
	struct xdp_md *xdp;
	__u64 weighted;
	__u32 calls;
};

struct walk_ctx {
	__u64 total;
	__u32 visited;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} weights SEC(".maps");

__u64 loop_result;
__u32 loop_calls;
__u64 map_total;
__u32 map_visited;

static long sum_byte(__u32 i, struct loop_ctx *lc)
{
	__u8 b = 0;

	if (bpf_xdp_load_bytes(lc->xdp, i, &b, 1) < 0)
		return 1;	/* stop */
	lc->weighted += (__u64)i * b;
	lc->calls++;
	return 0;
}

static long add_weight(void *map, __u32 *key, __u64 *value, struct walk_ctx *wc)
{
	wc->total += *value;
	wc->visited++;
	return *value == 0;	/* 1 stops the walk */
}

SEC("xdp")
int xdp_callbacks(struct xdp_md *ctx)
{
	struct loop_ctx lc = { .xdp = ctx };
	struct walk_ctx wc = {};
	__u32 n = ctx->data_end - ctx->data;
	long r;

	if (n > 48)
		n = 48;
	r = bpf_loop(n, sum_byte, &lc, 0);
	loop_result = lc.weighted;
	loop_calls = lc.calls;
	bpf_for_each_map_elem(&weights, add_weight, &wc, 0);
	map_total = wc.total;
	map_visited = wc.visited;
	return r < 0 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
