// SPDX-License-Identifier: MIT
/* bswap: byte-order conversions of 16-, 32- and 64-bit fields (cpu v4
 * BSWAP, older cpus BPF_END to-be/to-le).
 *
 * From a frame of at least 22 bytes:
 *   out.ethertype  ntohs(h_proto)
 *   out.word       ntohl(bytes 14..17)
 *   out.dword      be64 -> host of bytes 14..21
 *   out.swapped16/32/64  __builtin_bswap of the host-order loads of the same bytes
 *   out.le32       bytes 14..17 read as little-endian, whatever the host
 * Verdict: XDP_DROP for short frames, else XDP_PASS.
 */
#include "net.h"

struct swaps {
	__u16 ethertype;
	__u16 swapped16;
	__u32 word;
	__u32 swapped32;
	__u32 le32;
	__u64 dword;
	__u64 swapped64;
};

struct swaps out;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be64_to_host(x) __builtin_bswap64(x)
#define le32_to_host(x) (x)
#else
#define be64_to_host(x) (x)
#define le32_to_host(x) __builtin_bswap32(x)
#endif

SEC("xdp")
int xdp_bswap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 h16;
	__u32 h32;
	__u64 h64;

	if (data + 22 > data_end)
		return XDP_DROP;
	__builtin_memcpy(&h16, data + 12, 2);
	__builtin_memcpy(&h32, data + 14, 4);
	__builtin_memcpy(&h64, data + 14, 8);

	out.ethertype = bpf_ntohs(h16);
	out.word = bpf_ntohl(h32);
	out.dword = be64_to_host(h64);
	out.swapped16 = __builtin_bswap16(h16);
	out.swapped32 = __builtin_bswap32(h32);
	out.swapped64 = __builtin_bswap64(h64);
	out.le32 = le32_to_host(h32);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
