/* The platform-ABI harness: calls bpfjit's `compile --format elf` objects as C functions.
 *
 * Linked (by the target's own cross gcc and ld) with cases.c, which the test generates
 * (inputs, maps, and one `struct hcase` per program), the programs' objects (symbols
 * renamed per case), and the target's entry shim (shims/<target>.S): call_bpf() sets
 * eBPF r10 as the backend's entry convention wants, fills every callee-saved register
 * with a canary, calls the program, and reports in *bad a bit per canary that did not
 * survive.  The helpers the programs call are here, in C, compiled by the target's gcc:
 * map lookup, update and delete on array and hash maps, csum_diff, and the lowering's
 * LD_ABS/LD_IND calls.  Each helper also checks the
 * stack pointer's alignment where a call arrives (SP_ALIGN, SP_RESIDUE from the test's
 * target table: what the psABI promises a callee).
 *
 * Output, one block per case, read by tests/abi/test_platform_abi.py:
 *   case NAME
 *   r0 HEX16 bad HEX align N
 *   buf HEX             (the packet / memory block after the run)
 *   ctx HEX             (the context after the run; empty without one)
 *   map I KEYHEX VALUEHEX   (one line per element present; arrays: non-zero elements)
 *   end
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "harness.h"

uint32_t bpf_tail_call_cnt;
unsigned char bpf_stack[STACK_BYTES] __attribute__((aligned(16)));
unsigned char harness_buf[BUF_BYTES] __attribute__((aligned(16)));
unsigned char harness_ctx[CTX_BYTES] __attribute__((aligned(16)));
static int misaligned;

/* The stack pointer as a leaf function sees it: the caller's sp less what a call pushes.
   noipa: gcc must not drop the alignment it would keep for an unknown callee. */
__attribute__((noipa)) static uintptr_t leaf_sp(void) {
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__arm__) || defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#elif defined(__mips__)
    __asm__ volatile("move %0, $sp" : "=r"(sp));
#elif defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#else
    sp = SP_RESIDUE;
#endif
    return sp;
}

__attribute__((noipa)) static void check_align(void) {
    if (leaf_sp() % SP_ALIGN != SP_RESIDUE)
        misaligned++;
}

/* ---------------------------------------------------------------- maps */

static int is_array(const struct hmap *m) { return m->type == 2 || m->type == 6; }

static uint32_t index_of(const void *key) {
    uint32_t i;
    memcpy(&i, key, 4);          /* in the target's own byte order, as the program wrote it */
    return i;
}

static int64_t find(const struct hmap *m, const void *key) {
    for (uint32_t s = 0; s < m->max_entries; s++)
        if (m->used[s] && memcmp(m->keys + (uint64_t)s * m->key_size, key, m->key_size) == 0)
            return s;
    return -1;
}

uint64_t bpf_map_lookup_elem(uint64_t map, uint64_t key) {
    struct hmap *m = (struct hmap *)(uintptr_t)map;
    const void *k = (const void *)(uintptr_t)key;
    check_align();
    if (is_array(m)) {
        uint32_t i = index_of(k);
        return i < m->max_entries ? (uint64_t)(uintptr_t)(m->values + (uint64_t)i * m->stride) : 0;
    }
    int64_t s = find(m, k);
    return s < 0 ? 0 : (uint64_t)(uintptr_t)(m->values + (uint64_t)s * m->stride);
}

#define E(n) ((uint64_t)(int64_t)-(n))
uint64_t bpf_map_update_elem(uint64_t map, uint64_t key, uint64_t value, uint64_t flags) {
    struct hmap *m = (struct hmap *)(uintptr_t)map;
    const void *k = (const void *)(uintptr_t)key, *v = (const void *)(uintptr_t)value;
    check_align();
    if (flags > 2)
        return E(22);                                   /* EINVAL */
    if (is_array(m)) {
        uint32_t i = index_of(k);
        if (i >= m->max_entries) return E(7);           /* E2BIG */
        if (flags == 1) return E(17);                   /* NOEXIST: EEXIST */
        memcpy(m->values + (uint64_t)i * m->stride, v, m->value_size);
        return 0;
    }
    int64_t s = find(m, k);
    if (s >= 0) {
        if (flags == 1) return E(17);
        memcpy(m->values + (uint64_t)s * m->stride, v, m->value_size);
        return 0;
    }
    if (flags == 2) return E(2);                        /* EXIST: ENOENT */
    for (uint32_t f = 0; f < m->max_entries; f++) {     /* the lowest free slot, as jit/maps.py */
        if (!m->used[f]) {
            m->used[f] = 1;
            memcpy(m->keys + (uint64_t)f * m->key_size, k, m->key_size);
            memcpy(m->values + (uint64_t)f * m->stride, v, m->value_size);
            return 0;
        }
    }
    return E(7);
}

uint64_t bpf_map_delete_elem(uint64_t map, uint64_t key) {
    struct hmap *m = (struct hmap *)(uintptr_t)map;
    check_align();
    if (is_array(m)) return E(22);
    int64_t s = find(m, (const void *)(uintptr_t)key);
    if (s < 0) return E(2);
    m->used[s] = 0;
    return 0;
}

/* ---------------------------------------------------------------- checksums */

/* As the kernel's BPF_CALL_5 wrappers take them: every argument a u64, the 32-bit ones
   truncated here, in C (on n64 gcc's truncation sign-extends, as the ABI keeps them). */
static uint32_t add32(uint32_t a, uint32_t b) {
    uint64_t s = (uint64_t)a + b;
    return (uint32_t)s + (uint32_t)(s >> 32);   /* end-around carry, as csum_add */
}

uint64_t bpf_csum_diff(uint64_t from, uint64_t from_size64, uint64_t to, uint64_t to_size64,
                       uint64_t seed64) {
    uint32_t from_size = (uint32_t)from_size64, to_size = (uint32_t)to_size64;
    uint32_t s = (uint32_t)seed64, w;
    check_align();
    if (((from_size | to_size) & 3) || (uint64_t)from_size + to_size > 512)
        return E(22);
    for (uint32_t i = 0; i < from_size; i += 4) {
        memcpy(&w, (const unsigned char *)(uintptr_t)from + i, 4);
        s = add32(s, ~w);
    }
    for (uint32_t i = 0; i < to_size; i += 4) {
        memcpy(&w, (const unsigned char *)(uintptr_t)to + i, 4);
        s = add32(s, w);
    }
    return s;
}

/* ---------------------------------------------------------------- LD_ABS / LD_IND */

/* The lowering turns LD_ABS/LD_IND into a call (jit/lir.py LD_ABS_HELPER, ids 0x10000 + size):
   r0 = the big-endian value at packet data + (s32)off, or -1 when it is out of bounds. */
static const unsigned char *pkt_data, *pkt_end;

static uint64_t ld_abs(uint64_t off, int size) {
    int32_t o = (int32_t)(uint32_t)off;
    check_align();
    if (o < 0 || pkt_data + o + size > pkt_end)
        return ~(uint64_t)0;
    uint64_t v = 0;
    for (int i = 0; i < size; i++)
        v = v << 8 | pkt_data[o + i];
    return v;
}

uint64_t bpf_helper_65537(uint64_t ctx, uint64_t off) { (void)ctx; return ld_abs(off, 1); }
uint64_t bpf_helper_65538(uint64_t ctx, uint64_t off) { (void)ctx; return ld_abs(off, 2); }
uint64_t bpf_helper_65540(uint64_t ctx, uint64_t off) { (void)ctx; return ld_abs(off, 4); }

/* ---------------------------------------------------------------- running */

static void hex(const unsigned char *p, uint64_t n) {
    static const char digits[] = "0123456789abcdef";
    for (uint64_t i = 0; i < n; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

static int nonzero(const unsigned char *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i]) return 1;
    return 0;
}

static void dump_map(int i, const struct hmap *m) {
    for (uint32_t s = 0; s < m->max_entries; s++) {
        const unsigned char *v = m->values + (uint64_t)s * m->stride;
        if (is_array(m) ? !nonzero(v, m->value_size) : !m->used[s])
            continue;
        printf("map %d ", i);
        if (is_array(m)) hex((const unsigned char *)&s, 4);
        else hex(m->keys + (uint64_t)s * m->key_size, m->key_size);
        putchar(' ');
        hex(v, m->value_size);
        putchar('\n');
    }
}

int main(void) {
    uint64_t bad = 0;
    check_align();              /* calibration: a C caller, so this must hold */
    if (misaligned) {
        printf("calibration: sp %% %d != %d in a leaf called from C\n", SP_ALIGN, SP_RESIDUE);
        return 2;
    }
    for (int c = 0; c < ncases; c++) {
        const struct hcase *k = &cases[c];
        uint64_t r1, r2;
        misaligned = 0;
        bpf_tail_call_cnt = 0;
        memset(bpf_stack, 0, sizeof bpf_stack);
        memset(harness_buf, 0, sizeof harness_buf);
        memcpy(harness_buf, k->buf_init, k->buf_init_len);
        pkt_data = harness_buf + k->pkt_data;
        pkt_end = harness_buf + k->pkt_end;
        for (int i = 0; i < k->nmaps; i++) {
            struct hmap *m = k->maps[i];
            if (!m) continue;
            memset(m->values, 0, (uint64_t)m->max_entries * m->stride);
            memcpy(m->values, m->init, m->init_len);
            if (m->used) memset(m->used, 0, m->max_entries);
        }
        if (k->ctx_len) {       /* pointer fields of the context point into the packet */
            memset(harness_ctx, 0, sizeof harness_ctx);
            memcpy(harness_ctx, k->ctx_init, k->ctx_len);
            for (int f = 0; f < k->nptrs; f++) {
                uint32_t p = (uint32_t)(uintptr_t)(harness_buf + k->ptrs[f][1]);
                memcpy(harness_ctx + k->ptrs[f][0], &p, 4);
            }
            r1 = (uint64_t)(uintptr_t)harness_ctx;
            r2 = 0;
        } else {
            r1 = k->mem_len ? (uint64_t)(uintptr_t)harness_buf : 0;
            r2 = k->mem_len;
        }
        printf("case %s\n", k->name);
        fflush(stdout);
        struct call call = {(uint64_t)(uintptr_t)k->entry, r1, r2,
                            (uint64_t)(uintptr_t)(bpf_stack + STACK_BYTES), 0};
        uint64_t r0 = call_bpf(&call);
        bad = call.bad;
        printf("r0 %016llx bad %llx align %d\nbuf ", (unsigned long long)r0,
               (unsigned long long)bad, misaligned);
        hex(harness_buf, k->buf_len);
        printf("\nctx ");
        hex(harness_ctx, k->ctx_len);
        putchar('\n');
        for (int i = 0; i < k->nmaps; i++)
            if (k->maps[i]) dump_map(i, k->maps[i]);
        printf("end\n");
        fflush(stdout);
    }
    return 0;
}
