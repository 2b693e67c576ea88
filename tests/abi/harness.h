/* What harness.c and the generated cases.c share (see harness.c). */
#include <stdint.h>

#define STACK_BYTES 8192        /* eBPF frames: 8 x 512, and room to spare */

struct hmap {                   /* a map as the helpers see it: the map symbol points here */
    uint32_t type, key_size, value_size, max_entries, stride;
    unsigned char *keys;        /* hash maps: max_entries keys */
    unsigned char *used;        /* hash maps: slot in use */
    unsigned char *values;      /* max_entries values, `stride` bytes apart */
    const unsigned char *init;  /* the values every case starts from (the rest zero) */
    uint64_t init_len;
};

#define BUF_BYTES 65536         /* the packet region, or the --mem block */
#define CTX_BYTES 4096

struct hcase {
    const char *name;
    void *entry;                /* the program's entry function */
    const unsigned char *buf_init;
    uint64_t buf_init_len, buf_len, mem_len;
    const unsigned char *ctx_init;
    uint64_t ctx_len;           /* 0: no context (r1 = buf, r2 = mem_len) */
    int nptrs;
    uint32_t ptrs[8][2];        /* (ctx offset, buf offset): 32-bit pointers into buf */
    int nmaps;
    struct hmap **maps;
    uint64_t pkt_data, pkt_end; /* LD_ABS/LD_IND's packet: [data, end) offsets into buf */
};

extern const struct hcase cases[];
extern const int ncases;

/* shims/<target>.S: eBPF r10 = fp, canaries in the callee-saved registers, call entry
   with eBPF r1 and r2; `bad` gets a bit per callee-saved register that changed.  Every
   field is 64 bits (offsets 0, 8, 16, 24, 32) so that one shim layout fits all targets. */
struct call { uint64_t entry, r1, r2, fp, bad; };
uint64_t call_bpf(struct call *c);
