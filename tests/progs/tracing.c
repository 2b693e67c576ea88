// SPDX-License-Identifier: MIT
/* tracing: probe-style programs (kprobe, tracepoint, raw tracepoint) and
 * the BTF they bring: enums, a 64-bit enum, bitfields, a union, a float, a
 * forward-declared struct, decl and type tags.
 *
 * open_probe (kprobe/do_sys_openat2): counts calls per pid in `calls`, copies
 *   8 bytes of kernel memory from the first argument into the event, sends
 *   it to `events` and keeps it in `last_event`.
 * tp_openat (tracepoint/syscalls/sys_enter_openat): counts into `tp_hits`.
 * raw_sys (raw_tp/sys_enter): returns the syscall number's parity.
 */
#include "bpf_base.h"

#define __user __attribute__((btf_type_tag("user")))
#define __tagged __attribute__((btf_decl_tag("bpfjit:counter")))

enum event_kind { EV_OPEN = 1, EV_TP = 2, EV_RAW = -1 };
enum big_flags : unsigned long long { FLAG_HUGE = 1ULL << 40 };

struct task_struct;

struct event {
	enum event_kind kind;
	__u32 pid;
	__u32 is_root : 1, truncated : 1, cpu : 14, spare : 16;
	union {
		__u64 raw;
		__u8 bytes[8];
	} head;
	float load;
	enum big_flags flags;
	struct task_struct *task;
	const char __user *filename;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u32 target_tgid = 0;
__u64 tp_hits __tagged;
struct event last_event;	/* a global of the type puts it (and its kinds) in BTF */

SEC("kprobe/do_sys_openat2")
int open_probe(struct pt_regs *ctx)
{
	struct event ev = {};
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	__u64 one = 1, *n;

	if (target_tgid && pid != target_tgid)
		return 0;
	n = bpf_map_lookup_elem(&calls, &pid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &pid, &one, BPF_NOEXIST);

	ev.kind = EV_OPEN;
	ev.pid = pid;
	ev.is_root = pid == 1;
	ev.flags = FLAG_HUGE;
	ev.filename = (const char __user *)ctx->regs[1];
	if (bpf_probe_read_kernel(&ev.head, sizeof(ev.head), (void *)ctx->regs[0]) < 0)
		ev.truncated = 1;
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
	last_event = ev;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_openat(void *ctx)
{
	__sync_fetch_and_add(&tp_hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_sys(__u64 *ctx)
{
	return ctx[1] & 1;
}

char _license[] SEC("license") = "GPL";
