/* call_bpf for x86-64 System V: eBPF r10 in rbp (backends/x86_64/abi.py), r1/r2 in rdi/rsi.
   Canaries in rbx, r12-r15; rbp must come back as it went in. */
        .intel_syntax noprefix
        .text
        .globl  call_bpf
        .type   call_bpf, @function
call_bpf:                               # rdi = struct call *
        push    rbp
        push    rbx
        push    r12
        push    r13
        push    r14
        push    r15
        push    rdi                     # 7 words: rsp is 16-aligned at the call
        mov     r11, [rdi]              # entry
        mov     rsi, [rdi + 16]         # eBPF r2
        mov     rbp, [rdi + 24]         # eBPF r10
        mov     rdi, [rdi + 8]          # eBPF r1
        movabs  rbx, 0x0b0b0b0b0b0b0b0b
        movabs  r12, 0x1c1c1c1c1c1c1c1c
        movabs  r13, 0x1d1d1d1d1d1d1d1d
        movabs  r14, 0x1e1e1e1e1e1e1e1e
        movabs  r15, 0x1f1f1f1f1f1f1f1f
        call    r11
        pop     rdi
        xor     ecx, ecx
        movabs  rdx, 0x0b0b0b0b0b0b0b0b
        cmp     rbx, rdx
        je      1f
        or      ecx, 1
1:      movabs  rdx, 0x1c1c1c1c1c1c1c1c
        cmp     r12, rdx
        je      2f
        or      ecx, 2
2:      movabs  rdx, 0x1d1d1d1d1d1d1d1d
        cmp     r13, rdx
        je      3f
        or      ecx, 4
3:      movabs  rdx, 0x1e1e1e1e1e1e1e1e
        cmp     r14, rdx
        je      4f
        or      ecx, 8
4:      movabs  rdx, 0x1f1f1f1f1f1f1f1f
        cmp     r15, rdx
        je      5f
        or      ecx, 16
5:      cmp     rbp, [rdi + 24]
        je      6f
        or      ecx, 32
6:      mov     [rdi + 32], rcx
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     rbx
        pop     rbp
        ret
        .size   call_bpf, .-call_bpf
        .section .note.GNU-stack,"",@progbits
