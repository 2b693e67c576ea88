# Every valid eBPF opcode (jit.isa.all_opcodes()) in LLVM BPF syntax, with operand
# variants: registers at both ends, offset and immediate limits, decimal and hex.
# Assembled by build.sh with llvm-mc-19 for bpfel and bpfeb; the .objdump files
# beside it are llvm-objdump-19 -d --mcpu=v4 of the results.
  .text
all_ops:

# ---- ALU64
  r1 += r2
  r0 += r10
  r10 += r0
  r9 += r9
  r0 += 0
  r3 += 1
  r6 += -1
  r9 += 42
  r1 += 0x7fffffff
  r4 += -0x80000000
  r7 += 0xffffffff
  r10 += -2147483648
  r1 -= r2
  r0 -= r10
  r10 -= r0
  r9 -= r9
  r0 -= 0
  r3 -= 1
  r6 -= -1
  r9 -= 42
  r1 -= 0x7fffffff
  r4 -= -0x80000000
  r7 -= 0xffffffff
  r10 -= -2147483648
  r1 *= r2
  r0 *= r10
  r10 *= r0
  r9 *= r9
  r0 *= 0
  r3 *= 1
  r6 *= -1
  r9 *= 42
  r1 *= 0x7fffffff
  r4 *= -0x80000000
  r7 *= 0xffffffff
  r10 *= -2147483648
  r1 /= r2
  r0 /= r10
  r10 /= r0
  r9 /= r9
  r0 /= 0
  r3 /= 1
  r6 /= -1
  r9 /= 42
  r1 /= 0x7fffffff
  r4 /= -0x80000000
  r7 /= 0xffffffff
  r10 /= -2147483648
  r1 |= r2
  r0 |= r10
  r10 |= r0
  r9 |= r9
  r0 |= 0
  r3 |= 1
  r6 |= -1
  r9 |= 42
  r1 |= 0x7fffffff
  r4 |= -0x80000000
  r7 |= 0xffffffff
  r10 |= -2147483648
  r1 &= r2
  r0 &= r10
  r10 &= r0
  r9 &= r9
  r0 &= 0
  r3 &= 1
  r6 &= -1
  r9 &= 42
  r1 &= 0x7fffffff
  r4 &= -0x80000000
  r7 &= 0xffffffff
  r10 &= -2147483648
  r1 <<= r2
  r0 <<= r10
  r10 <<= r0
  r9 <<= r9
  r0 <<= 0
  r3 <<= 1
  r6 <<= -1
  r9 <<= 42
  r1 <<= 0x7fffffff
  r4 <<= -0x80000000
  r7 <<= 0xffffffff
  r10 <<= -2147483648
  r1 >>= r2
  r0 >>= r10
  r10 >>= r0
  r9 >>= r9
  r0 >>= 0
  r3 >>= 1
  r6 >>= -1
  r9 >>= 42
  r1 >>= 0x7fffffff
  r4 >>= -0x80000000
  r7 >>= 0xffffffff
  r10 >>= -2147483648
  r1 %= r2
  r0 %= r10
  r10 %= r0
  r9 %= r9
  r0 %= 0
  r3 %= 1
  r6 %= -1
  r9 %= 42
  r1 %= 0x7fffffff
  r4 %= -0x80000000
  r7 %= 0xffffffff
  r10 %= -2147483648
  r1 ^= r2
  r0 ^= r10
  r10 ^= r0
  r9 ^= r9
  r0 ^= 0
  r3 ^= 1
  r6 ^= -1
  r9 ^= 42
  r1 ^= 0x7fffffff
  r4 ^= -0x80000000
  r7 ^= 0xffffffff
  r10 ^= -2147483648
  r1 s>>= r2
  r0 s>>= r10
  r10 s>>= r0
  r9 s>>= r9
  r0 s>>= 0
  r3 s>>= 1
  r6 s>>= -1
  r9 s>>= 42
  r1 s>>= 0x7fffffff
  r4 s>>= -0x80000000
  r7 s>>= 0xffffffff
  r10 s>>= -2147483648
  r1 s/= r2
  r0 s/= r10
  r10 s/= r0
  r9 s/= r9
  r0 s/= 0
  r3 s/= 1
  r6 s/= -1
  r9 s/= 42
  r1 s/= 0x7fffffff
  r4 s/= -0x80000000
  r7 s/= 0xffffffff
  r10 s/= -2147483648
  r1 s%= r2
  r0 s%= r10
  r10 s%= r0
  r9 s%= r9
  r0 s%= 0
  r3 s%= 1
  r6 s%= -1
  r9 s%= 42
  r1 s%= 0x7fffffff
  r4 s%= -0x80000000
  r7 s%= 0xffffffff
  r10 s%= -2147483648
  r1 = r2
  r0 = r10
  r10 = r0
  r9 = r9
  r0 = 0
  r5 = 1
  r10 = -1
  r4 = 42
  r9 = 0x7fffffff
  r3 = -0x80000000
  r8 = 0xffffffff
  r2 = -2147483648
  r0 = -r0
  r1 = -r1
  r10 = -r10
  r1 = (s8)r2
  r10 = (s8)r0
  r1 = (s16)r2
  r10 = (s16)r0
  r1 = (s32)r2
  r10 = (s32)r0

# ---- ALU32
  w1 += w2
  w0 += w10
  w10 += w0
  w9 += w9
  w0 += 0
  w3 += 1
  w6 += -1
  w9 += 42
  w1 += 0x7fffffff
  w4 += -0x80000000
  w7 += 0xffffffff
  w10 += -2147483648
  w1 -= w2
  w0 -= w10
  w10 -= w0
  w9 -= w9
  w0 -= 0
  w3 -= 1
  w6 -= -1
  w9 -= 42
  w1 -= 0x7fffffff
  w4 -= -0x80000000
  w7 -= 0xffffffff
  w10 -= -2147483648
  w1 *= w2
  w0 *= w10
  w10 *= w0
  w9 *= w9
  w0 *= 0
  w3 *= 1
  w6 *= -1
  w9 *= 42
  w1 *= 0x7fffffff
  w4 *= -0x80000000
  w7 *= 0xffffffff
  w10 *= -2147483648
  w1 /= w2
  w0 /= w10
  w10 /= w0
  w9 /= w9
  w0 /= 0
  w3 /= 1
  w6 /= -1
  w9 /= 42
  w1 /= 0x7fffffff
  w4 /= -0x80000000
  w7 /= 0xffffffff
  w10 /= -2147483648
  w1 |= w2
  w0 |= w10
  w10 |= w0
  w9 |= w9
  w0 |= 0
  w3 |= 1
  w6 |= -1
  w9 |= 42
  w1 |= 0x7fffffff
  w4 |= -0x80000000
  w7 |= 0xffffffff
  w10 |= -2147483648
  w1 &= w2
  w0 &= w10
  w10 &= w0
  w9 &= w9
  w0 &= 0
  w3 &= 1
  w6 &= -1
  w9 &= 42
  w1 &= 0x7fffffff
  w4 &= -0x80000000
  w7 &= 0xffffffff
  w10 &= -2147483648
  w1 <<= w2
  w0 <<= w10
  w10 <<= w0
  w9 <<= w9
  w0 <<= 0
  w3 <<= 1
  w6 <<= -1
  w9 <<= 42
  w1 <<= 0x7fffffff
  w4 <<= -0x80000000
  w7 <<= 0xffffffff
  w10 <<= -2147483648
  w1 >>= w2
  w0 >>= w10
  w10 >>= w0
  w9 >>= w9
  w0 >>= 0
  w3 >>= 1
  w6 >>= -1
  w9 >>= 42
  w1 >>= 0x7fffffff
  w4 >>= -0x80000000
  w7 >>= 0xffffffff
  w10 >>= -2147483648
  w1 %= w2
  w0 %= w10
  w10 %= w0
  w9 %= w9
  w0 %= 0
  w3 %= 1
  w6 %= -1
  w9 %= 42
  w1 %= 0x7fffffff
  w4 %= -0x80000000
  w7 %= 0xffffffff
  w10 %= -2147483648
  w1 ^= w2
  w0 ^= w10
  w10 ^= w0
  w9 ^= w9
  w0 ^= 0
  w3 ^= 1
  w6 ^= -1
  w9 ^= 42
  w1 ^= 0x7fffffff
  w4 ^= -0x80000000
  w7 ^= 0xffffffff
  w10 ^= -2147483648
  w1 s>>= w2
  w0 s>>= w10
  w10 s>>= w0
  w9 s>>= w9
  w0 s>>= 0
  w3 s>>= 1
  w6 s>>= -1
  w9 s>>= 42
  w1 s>>= 0x7fffffff
  w4 s>>= -0x80000000
  w7 s>>= 0xffffffff
  w10 s>>= -2147483648
  w1 s/= w2
  w0 s/= w10
  w10 s/= w0
  w9 s/= w9
  w0 s/= 0
  w3 s/= 1
  w6 s/= -1
  w9 s/= 42
  w1 s/= 0x7fffffff
  w4 s/= -0x80000000
  w7 s/= 0xffffffff
  w10 s/= -2147483648
  w1 s%= w2
  w0 s%= w10
  w10 s%= w0
  w9 s%= w9
  w0 s%= 0
  w3 s%= 1
  w6 s%= -1
  w9 s%= 42
  w1 s%= 0x7fffffff
  w4 s%= -0x80000000
  w7 s%= 0xffffffff
  w10 s%= -2147483648
  w1 = w2
  w0 = w10
  w10 = w0
  w9 = w9
  w0 = 0
  w5 = 1
  w10 = -1
  w4 = 42
  w9 = 0x7fffffff
  w3 = -0x80000000
  w8 = 0xffffffff
  w2 = -2147483648
  w0 = -w0
  w1 = -w1
  w10 = -w10
  w1 = (s8)w2
  w10 = (s8)w0
  w1 = (s16)w2
  w10 = (s16)w0

# ---- byte swaps
  r0 = be16 r0
  r1 = be16 r1
  r10 = be16 r10
  r0 = be32 r0
  r1 = be32 r1
  r10 = be32 r10
  r0 = be64 r0
  r1 = be64 r1
  r10 = be64 r10
  r0 = le16 r0
  r1 = le16 r1
  r10 = le16 r10
  r0 = le32 r0
  r1 = le32 r1
  r10 = le32 r10
  r0 = le64 r0
  r1 = le64 r1
  r10 = le64 r10
  r0 = bswap16 r0
  r1 = bswap16 r1
  r10 = bswap16 r10
  r0 = bswap32 r0
  r1 = bswap32 r1
  r10 = bswap32 r10
  r0 = bswap64 r0
  r1 = bswap64 r1
  r10 = bswap64 r10

# ---- loads
  w0 = *(u8 *)(r4 + 0)
  w1 = *(u8 *)(r5 + 1)
  w2 = *(u8 *)(r6 - 1)
  w3 = *(u8 *)(r7 + 0x7fff)
  w4 = *(u8 *)(r8 - 0x8000)
  w5 = *(u8 *)(r9 + 8)
  w6 = *(u8 *)(r10 - 16)
  w0 = *(u16 *)(r4 + 0)
  w1 = *(u16 *)(r5 + 1)
  w2 = *(u16 *)(r6 - 1)
  w3 = *(u16 *)(r7 + 0x7fff)
  w4 = *(u16 *)(r8 - 0x8000)
  w5 = *(u16 *)(r9 + 8)
  w6 = *(u16 *)(r10 - 16)
  w0 = *(u32 *)(r4 + 0)
  w1 = *(u32 *)(r5 + 1)
  w2 = *(u32 *)(r6 - 1)
  w3 = *(u32 *)(r7 + 0x7fff)
  w4 = *(u32 *)(r8 - 0x8000)
  w5 = *(u32 *)(r9 + 8)
  w6 = *(u32 *)(r10 - 16)
  r0 = *(u64 *)(r4 + 0)
  r1 = *(u64 *)(r5 + 1)
  r2 = *(u64 *)(r6 - 1)
  r3 = *(u64 *)(r7 + 0x7fff)
  r4 = *(u64 *)(r8 - 0x8000)
  r5 = *(u64 *)(r9 + 8)
  r6 = *(u64 *)(r10 - 16)
  r2 = *(s8 *)(r7 + 0)
  r3 = *(s8 *)(r8 + 1)
  r4 = *(s8 *)(r9 - 1)
  r5 = *(s8 *)(r10 + 0x7fff)
  r6 = *(s8 *)(r0 - 0x8000)
  r7 = *(s8 *)(r1 + 8)
  r8 = *(s8 *)(r2 - 16)
  r2 = *(s16 *)(r7 + 0)
  r3 = *(s16 *)(r8 + 1)
  r4 = *(s16 *)(r9 - 1)
  r5 = *(s16 *)(r10 + 0x7fff)
  r6 = *(s16 *)(r0 - 0x8000)
  r7 = *(s16 *)(r1 + 8)
  r8 = *(s16 *)(r2 - 16)
  r2 = *(s32 *)(r7 + 0)
  r3 = *(s32 *)(r8 + 1)
  r4 = *(s32 *)(r9 - 1)
  r5 = *(s32 *)(r10 + 0x7fff)
  r6 = *(s32 *)(r0 - 0x8000)
  r7 = *(s32 *)(r1 + 8)
  r8 = *(s32 *)(r2 - 16)

# ---- stores
  *(u8 *)(r1 + 0) = w6
  *(u8 *)(r3 + 0) = 0
  *(u8 *)(r2 + 1) = w7
  *(u8 *)(r4 + 1) = 1
  *(u8 *)(r3 - 1) = w8
  *(u8 *)(r5 - 1) = -1
  *(u8 *)(r4 + 0x7fff) = w9
  *(u8 *)(r6 + 0x7fff) = 42
  *(u8 *)(r5 - 0x8000) = w10
  *(u8 *)(r7 - 0x8000) = 0x7fffffff
  *(u8 *)(r6 + 8) = w0
  *(u8 *)(r8 + 8) = -0x80000000
  *(u8 *)(r7 - 16) = w1
  *(u8 *)(r9 - 16) = 0xffffffff
  *(u16 *)(r1 + 0) = w6
  *(u16 *)(r3 + 0) = 0
  *(u16 *)(r2 + 1) = w7
  *(u16 *)(r4 + 1) = 1
  *(u16 *)(r3 - 1) = w8
  *(u16 *)(r5 - 1) = -1
  *(u16 *)(r4 + 0x7fff) = w9
  *(u16 *)(r6 + 0x7fff) = 42
  *(u16 *)(r5 - 0x8000) = w10
  *(u16 *)(r7 - 0x8000) = 0x7fffffff
  *(u16 *)(r6 + 8) = w0
  *(u16 *)(r8 + 8) = -0x80000000
  *(u16 *)(r7 - 16) = w1
  *(u16 *)(r9 - 16) = 0xffffffff
  *(u32 *)(r1 + 0) = w6
  *(u32 *)(r3 + 0) = 0
  *(u32 *)(r2 + 1) = w7
  *(u32 *)(r4 + 1) = 1
  *(u32 *)(r3 - 1) = w8
  *(u32 *)(r5 - 1) = -1
  *(u32 *)(r4 + 0x7fff) = w9
  *(u32 *)(r6 + 0x7fff) = 42
  *(u32 *)(r5 - 0x8000) = w10
  *(u32 *)(r7 - 0x8000) = 0x7fffffff
  *(u32 *)(r6 + 8) = w0
  *(u32 *)(r8 + 8) = -0x80000000
  *(u32 *)(r7 - 16) = w1
  *(u32 *)(r9 - 16) = 0xffffffff
  *(u64 *)(r1 + 0) = r6
  *(u64 *)(r3 + 0) = 0
  *(u64 *)(r2 + 1) = r7
  *(u64 *)(r4 + 1) = 1
  *(u64 *)(r3 - 1) = r8
  *(u64 *)(r5 - 1) = -1
  *(u64 *)(r4 + 0x7fff) = r9
  *(u64 *)(r6 + 0x7fff) = 42
  *(u64 *)(r5 - 0x8000) = r10
  *(u64 *)(r7 - 0x8000) = 0x7fffffff
  *(u64 *)(r6 + 8) = r0
  *(u64 *)(r8 + 8) = -0x80000000
  *(u64 *)(r7 - 16) = r1
  *(u64 *)(r9 - 16) = 0xffffffff

# ---- atomics
  lock *(u32 *)(r1 + 0) += w2
  lock *(u32 *)(r1 + 0) |= w2
  lock *(u32 *)(r1 + 0) &= w2
  lock *(u32 *)(r1 + 0) ^= w2
  w3 = atomic_fetch_add((u32 *)(r10 + 0), w3)
  w3 = atomic_fetch_or((u32 *)(r10 + 0), w3)
  w3 = atomic_fetch_and((u32 *)(r10 + 0), w3)
  w3 = atomic_fetch_xor((u32 *)(r10 + 0), w3)
  w5 = xchg32_32(r9 + 0, w5)
  w0 = cmpxchg32_32(r1 + 0, w0, w8)
  lock *(u32 *)(r2 - 8) += w3
  lock *(u32 *)(r2 - 8) |= w3
  lock *(u32 *)(r2 - 8) &= w3
  lock *(u32 *)(r2 - 8) ^= w3
  w4 = atomic_fetch_add((u32 *)(r0 - 8), w4)
  w4 = atomic_fetch_or((u32 *)(r0 - 8), w4)
  w4 = atomic_fetch_and((u32 *)(r0 - 8), w4)
  w4 = atomic_fetch_xor((u32 *)(r0 - 8), w4)
  w6 = xchg32_32(r10 - 8, w6)
  w0 = cmpxchg32_32(r2 - 8, w0, w9)
  lock *(u32 *)(r3 + 0x7fff) += w4
  lock *(u32 *)(r3 + 0x7fff) |= w4
  lock *(u32 *)(r3 + 0x7fff) &= w4
  lock *(u32 *)(r3 + 0x7fff) ^= w4
  w5 = atomic_fetch_add((u32 *)(r1 + 0x7fff), w5)
  w5 = atomic_fetch_or((u32 *)(r1 + 0x7fff), w5)
  w5 = atomic_fetch_and((u32 *)(r1 + 0x7fff), w5)
  w5 = atomic_fetch_xor((u32 *)(r1 + 0x7fff), w5)
  w7 = xchg32_32(r0 + 0x7fff, w7)
  w0 = cmpxchg32_32(r3 + 0x7fff, w0, w10)
  lock *(u32 *)(r4 - 0x8000) += w5
  lock *(u32 *)(r4 - 0x8000) |= w5
  lock *(u32 *)(r4 - 0x8000) &= w5
  lock *(u32 *)(r4 - 0x8000) ^= w5
  w6 = atomic_fetch_add((u32 *)(r2 - 0x8000), w6)
  w6 = atomic_fetch_or((u32 *)(r2 - 0x8000), w6)
  w6 = atomic_fetch_and((u32 *)(r2 - 0x8000), w6)
  w6 = atomic_fetch_xor((u32 *)(r2 - 0x8000), w6)
  w8 = xchg32_32(r1 - 0x8000, w8)
  w0 = cmpxchg32_32(r4 - 0x8000, w0, w0)
  lock *(u64 *)(r1 + 0) += r2
  lock *(u64 *)(r1 + 0) |= r2
  lock *(u64 *)(r1 + 0) &= r2
  lock *(u64 *)(r1 + 0) ^= r2
  r3 = atomic_fetch_add((u64 *)(r10 + 0), r3)
  r3 = atomic_fetch_or((u64 *)(r10 + 0), r3)
  r3 = atomic_fetch_and((u64 *)(r10 + 0), r3)
  r3 = atomic_fetch_xor((u64 *)(r10 + 0), r3)
  r5 = xchg_64(r9 + 0, r5)
  r0 = cmpxchg_64(r1 + 0, r0, r8)
  lock *(u64 *)(r2 - 8) += r3
  lock *(u64 *)(r2 - 8) |= r3
  lock *(u64 *)(r2 - 8) &= r3
  lock *(u64 *)(r2 - 8) ^= r3
  r4 = atomic_fetch_add((u64 *)(r0 - 8), r4)
  r4 = atomic_fetch_or((u64 *)(r0 - 8), r4)
  r4 = atomic_fetch_and((u64 *)(r0 - 8), r4)
  r4 = atomic_fetch_xor((u64 *)(r0 - 8), r4)
  r6 = xchg_64(r10 - 8, r6)
  r0 = cmpxchg_64(r2 - 8, r0, r9)
  lock *(u64 *)(r3 + 0x7fff) += r4
  lock *(u64 *)(r3 + 0x7fff) |= r4
  lock *(u64 *)(r3 + 0x7fff) &= r4
  lock *(u64 *)(r3 + 0x7fff) ^= r4
  r5 = atomic_fetch_add((u64 *)(r1 + 0x7fff), r5)
  r5 = atomic_fetch_or((u64 *)(r1 + 0x7fff), r5)
  r5 = atomic_fetch_and((u64 *)(r1 + 0x7fff), r5)
  r5 = atomic_fetch_xor((u64 *)(r1 + 0x7fff), r5)
  r7 = xchg_64(r0 + 0x7fff, r7)
  r0 = cmpxchg_64(r3 + 0x7fff, r0, r10)
  lock *(u64 *)(r4 - 0x8000) += r5
  lock *(u64 *)(r4 - 0x8000) |= r5
  lock *(u64 *)(r4 - 0x8000) &= r5
  lock *(u64 *)(r4 - 0x8000) ^= r5
  r6 = atomic_fetch_add((u64 *)(r2 - 0x8000), r6)
  r6 = atomic_fetch_or((u64 *)(r2 - 0x8000), r6)
  r6 = atomic_fetch_and((u64 *)(r2 - 0x8000), r6)
  r6 = atomic_fetch_xor((u64 *)(r2 - 0x8000), r6)
  r8 = xchg_64(r1 - 0x8000, r8)
  r0 = cmpxchg_64(r4 - 0x8000, r0, r0)

# ---- legacy packet loads
  r0 = *(u8 *)skb[0]
  r0 = *(u8 *)skb[1]
  r0 = *(u8 *)skb[0x7fffffff]
  r0 = *(u8 *)skb[-1]
  r0 = *(u8 *)skb[-0x80000000]
  r0 = *(u8 *)skb[r0]
  r0 = *(u8 *)skb[r1]
  r0 = *(u8 *)skb[r10]
  r0 = *(u16 *)skb[0]
  r0 = *(u16 *)skb[1]
  r0 = *(u16 *)skb[0x7fffffff]
  r0 = *(u16 *)skb[-1]
  r0 = *(u16 *)skb[-0x80000000]
  r0 = *(u16 *)skb[r0]
  r0 = *(u16 *)skb[r1]
  r0 = *(u16 *)skb[r10]
  r0 = *(u32 *)skb[0]
  r0 = *(u32 *)skb[1]
  r0 = *(u32 *)skb[0x7fffffff]
  r0 = *(u32 *)skb[-1]
  r0 = *(u32 *)skb[-0x80000000]
  r0 = *(u32 *)skb[r0]
  r0 = *(u32 *)skb[r1]
  r0 = *(u32 *)skb[r10]

# ---- 64-bit immediates
  r0 = 0 ll
  r1 = 1 ll
  r2 = -1 ll
  r3 = 0x123456789abcdef0 ll
  r4 = 0x7fffffffffffffff ll
  r5 = -0x8000000000000000 ll
  r6 = 0xffffffffffffffff ll
  r7 = 0xffffffff ll
  r8 = 0x100000000 ll
  r9 = -4294967296 ll
  r10 = 81985529216486895 ll
  ld_pseudo r1, 1, 0
  ld_pseudo r2, 2, 1
  ld_pseudo r3, 3, 0x10
  ld_pseudo r4, 4, 0x7fffffff
  ld_pseudo r5, 5, 0xffffffff
  ld_pseudo r6, 6, -1

# ---- conditional jumps (numeric offsets)
  if r1 == r2 goto +0
  if r0 == r10 goto +1
  if r10 == r0 goto -1
  if r9 == r9 goto 0x7fff
  if r0 == 0 goto +0
  if r1 == 1 goto +1
  if r2 == -1 goto -1
  if r3 == 42 goto 0x7fff
  if r4 == 0x7fffffff goto -0x8000
  if r5 == -0x80000000 goto +12
  if r6 == 0xffffffff goto -32768
  if r7 == -2147483648 goto 32767
  if r1 != r2 goto +1
  if r0 != r10 goto -1
  if r10 != r0 goto 0x7fff
  if r9 != r9 goto -0x8000
  if r1 != 0 goto -1
  if r2 != 1 goto 0x7fff
  if r3 != -1 goto -0x8000
  if r4 != 42 goto +12
  if r5 != 0x7fffffff goto -32768
  if r6 != -0x80000000 goto 32767
  if r7 != 0xffffffff goto +0
  if r8 != -2147483648 goto +1
  if r1 > r2 goto -1
  if r0 > r10 goto 0x7fff
  if r10 > r0 goto -0x8000
  if r9 > r9 goto +12
  if r2 > 0 goto -0x8000
  if r3 > 1 goto +12
  if r4 > -1 goto -32768
  if r5 > 42 goto 32767
  if r6 > 0x7fffffff goto +0
  if r7 > -0x80000000 goto +1
  if r8 > 0xffffffff goto -1
  if r9 > -2147483648 goto 0x7fff
  if r1 >= r2 goto 0x7fff
  if r0 >= r10 goto -0x8000
  if r10 >= r0 goto +12
  if r9 >= r9 goto -32768
  if r3 >= 0 goto -32768
  if r4 >= 1 goto 32767
  if r5 >= -1 goto +0
  if r6 >= 42 goto +1
  if r7 >= 0x7fffffff goto -1
  if r8 >= -0x80000000 goto 0x7fff
  if r9 >= 0xffffffff goto -0x8000
  if r10 >= -2147483648 goto +12
  if r1 < r2 goto -0x8000
  if r0 < r10 goto +12
  if r10 < r0 goto -32768
  if r9 < r9 goto 32767
  if r4 < 0 goto +0
  if r5 < 1 goto +1
  if r6 < -1 goto -1
  if r7 < 42 goto 0x7fff
  if r8 < 0x7fffffff goto -0x8000
  if r9 < -0x80000000 goto +12
  if r10 < 0xffffffff goto -32768
  if r0 < -2147483648 goto 32767
  if r1 <= r2 goto +12
  if r0 <= r10 goto -32768
  if r10 <= r0 goto 32767
  if r9 <= r9 goto +0
  if r5 <= 0 goto -1
  if r6 <= 1 goto 0x7fff
  if r7 <= -1 goto -0x8000
  if r8 <= 42 goto +12
  if r9 <= 0x7fffffff goto -32768
  if r10 <= -0x80000000 goto 32767
  if r0 <= 0xffffffff goto +0
  if r1 <= -2147483648 goto +1
  if r1 s> r2 goto -32768
  if r0 s> r10 goto 32767
  if r10 s> r0 goto +0
  if r9 s> r9 goto +1
  if r6 s> 0 goto -0x8000
  if r7 s> 1 goto +12
  if r8 s> -1 goto -32768
  if r9 s> 42 goto 32767
  if r10 s> 0x7fffffff goto +0
  if r0 s> -0x80000000 goto +1
  if r1 s> 0xffffffff goto -1
  if r2 s> -2147483648 goto 0x7fff
  if r1 s>= r2 goto 32767
  if r0 s>= r10 goto +0
  if r10 s>= r0 goto +1
  if r9 s>= r9 goto -1
  if r7 s>= 0 goto -32768
  if r8 s>= 1 goto 32767
  if r9 s>= -1 goto +0
  if r10 s>= 42 goto +1
  if r0 s>= 0x7fffffff goto -1
  if r1 s>= -0x80000000 goto 0x7fff
  if r2 s>= 0xffffffff goto -0x8000
  if r3 s>= -2147483648 goto +12
  if r1 s< r2 goto +0
  if r0 s< r10 goto +1
  if r10 s< r0 goto -1
  if r9 s< r9 goto 0x7fff
  if r8 s< 0 goto +0
  if r9 s< 1 goto +1
  if r10 s< -1 goto -1
  if r0 s< 42 goto 0x7fff
  if r1 s< 0x7fffffff goto -0x8000
  if r2 s< -0x80000000 goto +12
  if r3 s< 0xffffffff goto -32768
  if r4 s< -2147483648 goto 32767
  if r1 s<= r2 goto +1
  if r0 s<= r10 goto -1
  if r10 s<= r0 goto 0x7fff
  if r9 s<= r9 goto -0x8000
  if r9 s<= 0 goto -1
  if r10 s<= 1 goto 0x7fff
  if r0 s<= -1 goto -0x8000
  if r1 s<= 42 goto +12
  if r2 s<= 0x7fffffff goto -32768
  if r3 s<= -0x80000000 goto 32767
  if r4 s<= 0xffffffff goto +0
  if r5 s<= -2147483648 goto +1
  if r1 & r2 goto -1
  if r0 & r10 goto 0x7fff
  if r10 & r0 goto -0x8000
  if r9 & r9 goto +12
  if r10 & 0 goto -0x8000
  if r0 & 1 goto +12
  if r1 & -1 goto -32768
  if r2 & 42 goto 32767
  if r3 & 0x7fffffff goto +0
  if r4 & -0x80000000 goto +1
  if r5 & 0xffffffff goto -1
  if r6 & -2147483648 goto 0x7fff
  if w1 == w2 goto +0
  if w0 == w10 goto +1
  if w10 == w0 goto -1
  if w9 == w9 goto 0x7fff
  if w0 == 0 goto +0
  if w1 == 1 goto +1
  if w2 == -1 goto -1
  if w3 == 42 goto 0x7fff
  if w4 == 0x7fffffff goto -0x8000
  if w5 == -0x80000000 goto +12
  if w6 == 0xffffffff goto -32768
  if w7 == -2147483648 goto 32767
  if w1 != w2 goto +1
  if w0 != w10 goto -1
  if w10 != w0 goto 0x7fff
  if w9 != w9 goto -0x8000
  if w1 != 0 goto -1
  if w2 != 1 goto 0x7fff
  if w3 != -1 goto -0x8000
  if w4 != 42 goto +12
  if w5 != 0x7fffffff goto -32768
  if w6 != -0x80000000 goto 32767
  if w7 != 0xffffffff goto +0
  if w8 != -2147483648 goto +1
  if w1 > w2 goto -1
  if w0 > w10 goto 0x7fff
  if w10 > w0 goto -0x8000
  if w9 > w9 goto +12
  if w2 > 0 goto -0x8000
  if w3 > 1 goto +12
  if w4 > -1 goto -32768
  if w5 > 42 goto 32767
  if w6 > 0x7fffffff goto +0
  if w7 > -0x80000000 goto +1
  if w8 > 0xffffffff goto -1
  if w9 > -2147483648 goto 0x7fff
  if w1 >= w2 goto 0x7fff
  if w0 >= w10 goto -0x8000
  if w10 >= w0 goto +12
  if w9 >= w9 goto -32768
  if w3 >= 0 goto -32768
  if w4 >= 1 goto 32767
  if w5 >= -1 goto +0
  if w6 >= 42 goto +1
  if w7 >= 0x7fffffff goto -1
  if w8 >= -0x80000000 goto 0x7fff
  if w9 >= 0xffffffff goto -0x8000
  if w10 >= -2147483648 goto +12
  if w1 < w2 goto -0x8000
  if w0 < w10 goto +12
  if w10 < w0 goto -32768
  if w9 < w9 goto 32767
  if w4 < 0 goto +0
  if w5 < 1 goto +1
  if w6 < -1 goto -1
  if w7 < 42 goto 0x7fff
  if w8 < 0x7fffffff goto -0x8000
  if w9 < -0x80000000 goto +12
  if w10 < 0xffffffff goto -32768
  if w0 < -2147483648 goto 32767
  if w1 <= w2 goto +12
  if w0 <= w10 goto -32768
  if w10 <= w0 goto 32767
  if w9 <= w9 goto +0
  if w5 <= 0 goto -1
  if w6 <= 1 goto 0x7fff
  if w7 <= -1 goto -0x8000
  if w8 <= 42 goto +12
  if w9 <= 0x7fffffff goto -32768
  if w10 <= -0x80000000 goto 32767
  if w0 <= 0xffffffff goto +0
  if w1 <= -2147483648 goto +1
  if w1 s> w2 goto -32768
  if w0 s> w10 goto 32767
  if w10 s> w0 goto +0
  if w9 s> w9 goto +1
  if w6 s> 0 goto -0x8000
  if w7 s> 1 goto +12
  if w8 s> -1 goto -32768
  if w9 s> 42 goto 32767
  if w10 s> 0x7fffffff goto +0
  if w0 s> -0x80000000 goto +1
  if w1 s> 0xffffffff goto -1
  if w2 s> -2147483648 goto 0x7fff
  if w1 s>= w2 goto 32767
  if w0 s>= w10 goto +0
  if w10 s>= w0 goto +1
  if w9 s>= w9 goto -1
  if w7 s>= 0 goto -32768
  if w8 s>= 1 goto 32767
  if w9 s>= -1 goto +0
  if w10 s>= 42 goto +1
  if w0 s>= 0x7fffffff goto -1
  if w1 s>= -0x80000000 goto 0x7fff
  if w2 s>= 0xffffffff goto -0x8000
  if w3 s>= -2147483648 goto +12
  if w1 s< w2 goto +0
  if w0 s< w10 goto +1
  if w10 s< w0 goto -1
  if w9 s< w9 goto 0x7fff
  if w8 s< 0 goto +0
  if w9 s< 1 goto +1
  if w10 s< -1 goto -1
  if w0 s< 42 goto 0x7fff
  if w1 s< 0x7fffffff goto -0x8000
  if w2 s< -0x80000000 goto +12
  if w3 s< 0xffffffff goto -32768
  if w4 s< -2147483648 goto 32767
  if w1 s<= w2 goto +1
  if w0 s<= w10 goto -1
  if w10 s<= w0 goto 0x7fff
  if w9 s<= w9 goto -0x8000
  if w9 s<= 0 goto -1
  if w10 s<= 1 goto 0x7fff
  if w0 s<= -1 goto -0x8000
  if w1 s<= 42 goto +12
  if w2 s<= 0x7fffffff goto -32768
  if w3 s<= -0x80000000 goto 32767
  if w4 s<= 0xffffffff goto +0
  if w5 s<= -2147483648 goto +1
  if w1 & w2 goto -1
  if w0 & w10 goto 0x7fff
  if w10 & w0 goto -0x8000
  if w9 & w9 goto +12
  if w10 & 0 goto -0x8000
  if w0 & 1 goto +12
  if w1 & -1 goto -32768
  if w2 & 42 goto 32767
  if w3 & 0x7fffffff goto +0
  if w4 & -0x80000000 goto +1
  if w5 & 0xffffffff goto -1
  if w6 & -2147483648 goto 0x7fff

# ---- unconditional jumps, calls, exit
  goto +0
  goto +1
  goto -1
  goto 0x7fff
  goto -0x8000
  goto +12
  goto -32768
  goto 32767
  gotol +0
  gotol -1
  gotol 0x7fff
  gotol -0x8000
  gotol +1000
  call 0
  call 1
  call 6
  call 0x7fffffff
  call -0x80000000
  call 0xffffffff
  call -1
  exit

# ---- label targets: local calls, gotol, goto and conditional jumps by name
back:
  call fwd
  call back
  call all_ops
  gotol fwd
  gotol back
  goto fwd
  goto back
  if r1 > 3 goto fwd
  if w1 s<= w2 goto back
  exit
fwd:
  r0 = 0
  exit
