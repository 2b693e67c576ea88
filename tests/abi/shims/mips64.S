/* call_bpf for MIPS64 n64: eBPF r1/r2 in a0/a1, r10 in fp ($30), t9 = the callee
   (backends/mips64/abi.py).  Canaries in s0-s7 and gp; fp must come back as it went in. */
        .set    noreorder
        .set    noat
        .text
        .globl  call_bpf
        .type   call_bpf, @function
        .ent    call_bpf
        .macro  check reg, value, bit
        li      $t1, \value
        beq     \reg, $t1, 9f
        nop
        ori     $t0, $t0, \bit
9:
        .endm
call_bpf:                               # a0 = struct call *
        daddiu  $sp, $sp, -96
        sd      $ra, 0($sp)
        sd      $s0, 8($sp)
        sd      $s1, 16($sp)
        sd      $s2, 24($sp)
        sd      $s3, 32($sp)
        sd      $s4, 40($sp)
        sd      $s5, 48($sp)
        sd      $s6, 56($sp)
        sd      $s7, 64($sp)
        sd      $gp, 72($sp)
        sd      $fp, 80($sp)
        sd      $a0, 88($sp)
        ld      $t9, 0($a0)             # entry
        ld      $a1, 16($a0)            # eBPF r2
        ld      $fp, 24($a0)            # eBPF r10
        ld      $a0, 8($a0)             # eBPF r1
        li      $s0, 0x10101010
        li      $s1, 0x11111111
        li      $s2, 0x12121212
        li      $s3, 0x13131313
        li      $s4, 0x14141414
        li      $s5, 0x15151515
        li      $s6, 0x16161616
        li      $s7, 0x17171717
        li      $gp, 0x1c1c1c1c
        jalr    $t9
        nop
        ld      $a0, 88($sp)
        move    $t0, $zero
        check   $s0, 0x10101010, 1
        check   $s1, 0x11111111, 2
        check   $s2, 0x12121212, 4
        check   $s3, 0x13131313, 8
        check   $s4, 0x14141414, 16
        check   $s5, 0x15151515, 32
        check   $s6, 0x16161616, 64
        check   $s7, 0x17171717, 128
        check   $gp, 0x1c1c1c1c, 256
        ld      $t1, 24($a0)
        beq     $fp, $t1, 8f
        nop
        ori     $t0, $t0, 512
8:      sd      $t0, 32($a0)
        ld      $ra, 0($sp)
        ld      $s0, 8($sp)
        ld      $s1, 16($sp)
        ld      $s2, 24($sp)
        ld      $s3, 32($sp)
        ld      $s4, 40($sp)
        ld      $s5, 48($sp)
        ld      $s6, 56($sp)
        ld      $s7, 64($sp)
        ld      $gp, 72($sp)
        ld      $fp, 80($sp)
        jr      $ra
        daddiu  $sp, $sp, 96
        .end    call_bpf
        .size   call_bpf, .-call_bpf
        .section .note.GNU-stack,"",@progbits
