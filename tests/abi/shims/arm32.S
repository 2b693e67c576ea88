/* call_bpf for ARM32 AAPCS (hard-float): eBPF r1 in r0:r1, r2 in r2:r3, r10 in ip
   (backends/arm32/abi.py).  Canaries in r4-r11, the AAPCS callee-saved registers. */
        .syntax unified
        .arm
        .text
        .globl  call_bpf
        .type   call_bpf, %function
        .macro  canary reg, value
        movw    \reg, #(\value & 0xffff)
        movt    \reg, #(\value >> 16)
        .endm
        .macro  check reg, value, bit
        movw    ip, #(\value & 0xffff)
        movt    ip, #(\value >> 16)
        cmp     \reg, ip
        orrne   r3, r3, #\bit
        .endm
call_bpf:                               @ r0 = struct call *
        push    {r4-r11, ip, lr}        @ 10 words: sp stays 8-aligned
        push    {r0, r1}                @ [sp] = the struct (r1: filler)
        ldr     ip, [r0, #24]           @ eBPF r10
        ldr     r2, [r0, #16]           @ eBPF r2, low word
        ldr     r3, [r0, #20]           @ high word
        ldr     r1, [r0, #12]           @ eBPF r1, high word
        ldr     lr, [r0, #0]            @ entry
        ldr     r0, [r0, #8]            @ eBPF r1, low word
        canary  r4, 0x04040404
        canary  r5, 0x05050505
        canary  r6, 0x06060606
        canary  r7, 0x07070707
        canary  r8, 0x08080808
        canary  r9, 0x09090909
        canary  r10, 0x0a0a0a0a
        canary  r11, 0x0b0b0b0b
        blx     lr
        ldr     r2, [sp]                @ the struct; r0:r1 = eBPF r0
        mov     r3, #0
        check   r4, 0x04040404, 1
        check   r5, 0x05050505, 2
        check   r6, 0x06060606, 4
        check   r7, 0x07070707, 8
        check   r8, 0x08080808, 16
        check   r9, 0x09090909, 32
        check   r10, 0x0a0a0a0a, 64
        check   r11, 0x0b0b0b0b, 128
        str     r3, [r2, #32]
        mov     r3, #0
        str     r3, [r2, #36]
        add     sp, sp, #8
        pop     {r4-r11, ip, pc}
        .size   call_bpf, .-call_bpf
        .section .note.GNU-stack,"",%progbits
