"""Running x86-64 images on an x86-64 Linux host: the glue code `jit.native` maps next to them.

This module owns the few machine-code routines (and C-library structures) that
join native eBPF code to a Python process, as pure functions returning bytes:

- `entry_thunk`: a C-callable function that sets rbp (eBPF r10, see abi.py)
  and calls an eBPF function as `RunSpec.enter` / `enter_call` enter it;
- `repeat_thunk`: the same call `count` times in a loop (the benchmark's
  timing loop, so that no Python runs between two calls);
- `helper_stub` and `helper_slot`: the trampoline page.  The code calls
  helper `id` at `runner.helper_addr(id)`; each slot loads the id and jumps to
  one stub, which calls a C callback (ctypes) with eBPF r1-r5, the id, the
  return address into the eBPF code and rbp;
- `signal_handler`: an SA_SIGINFO handler that copies the signal number, the
  fault address and the interrupted registers to a report page and exits the
  process (the run is in a child; the parent reads the page);
- `sigaction` / `stack_t`: glibc's structures for installing it;
- `fault_registers`: the report's registers by name.

It does not map memory, decide what runs, or know eBPF (jit/native.py does).
"""
from __future__ import annotations

import struct

from backends.x86_64 import enc
from backends.x86_64.enc import Alu, Cond, Gpr, Mem
from backends.x86_64.regs import FP

SYSCALL = b"\x0f\x05"           # syscall: rax = number, rdi... = arguments
SYS_EXIT_GROUP = 231

# struct ucontext_t (x86-64 Linux): uc_flags, uc_link, stack_t uc_stack (24 bytes), then
# mcontext_t whose first member is gregs[NGREG], in this order (<sys/ucontext.h> REG_*).
UC_MCONTEXT_GREGS = 40
GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
         "rdx", "rax", "rcx", "rsp", "rip", "eflags", "csgsfs", "err", "trapno", "oldmask",
         "cr2")
SIGINFO_ADDR = 16               # offsetof(siginfo_t, si_addr)

# The report page the handler writes: signal number, si_addr, the gregs, then MAGIC.
REPORT_SIGNO = 0
REPORT_ADDR = 8
REPORT_GREGS = 16
REPORT_MAGIC = REPORT_GREGS + 8 * len(GREGS)
REPORT_SIZE = REPORT_MAGIC + 8
MAGIC = 0x4B52_4F50_4552_4953   # "SIGREPORK", little-endian-ish: any fixed value will do

# x86 page-fault error code bits (the `err` greg of a SIGSEGV with trapno 14)
TRAP_PAGE_FAULT = 14
PF_WRITE = 1 << 1
PF_FETCH = 1 << 4


def entry_thunk() -> bytes:
    """uint64_t thunk(r1, r2, r3, r4, r5, const uint64_t block[2]): rbp = block[0] (eBPF
    r10), call block[1] with eBPF r1-r5 already in rdi, rsi, rdx, rcx, r8; return rax."""
    return b"".join((
        enc.push(Gpr.RBP),                          # C's rbp; rsp == 0 mod 16 from here
        enc.mov_load(FP, Mem(Gpr.R9, 0), bits=64),  # rbp = eBPF r10
        enc.mov_load(Gpr.R11, Mem(Gpr.R9, 8), bits=64),
        enc.call_r(Gpr.R11),                        # the eBPF function sees rsp == 8 mod 16
        enc.pop(Gpr.RBP),
        enc.ret(),
    ))


def repeat_thunk() -> bytes:
    """uint64_t repeat(r1, r2, count, _, _, const uint64_t block[2]): the entry thunk's
    call `count` (>= 1) times with the same r1 and r2; returns the last r0."""
    saved = (Gpr.RBP, Gpr.RBX, Gpr.R12, Gpr.R13, Gpr.R14)     # 5 pushes: rsp == 0 mod 16
    head = b"".join(enc.push(r) for r in saved) + b"".join((
        enc.mov_rr(Gpr.RBX, Gpr.RDI, bits=64),      # rbx = r1
        enc.mov_rr(Gpr.R12, Gpr.RSI, bits=64),      # r12 = r2
        enc.mov_rr(Gpr.R13, Gpr.RDX, bits=64),      # r13 = calls left
        enc.mov_rr(Gpr.R14, Gpr.R9, bits=64),       # r14 = block
    ))
    body = b"".join((
        enc.mov_rr(Gpr.RDI, Gpr.RBX, bits=64),
        enc.mov_rr(Gpr.RSI, Gpr.R12, bits=64),
        enc.mov_load(FP, Mem(Gpr.R14, 0), bits=64),
        enc.mov_load(Gpr.R11, Mem(Gpr.R14, 8), bits=64),
        enc.call_r(Gpr.R11),
        enc.alu_ri(Alu.SUB, Gpr.R13, 1, bits=64),   # calls left - 1
    ))
    back = enc.jcc_rel8(Cond.NE, -(len(body) + 2))  # jne rel8 is 2 bytes
    tail = b"".join(enc.pop(r) for r in reversed(saved)) + enc.ret()
    return head + body + back + tail


def helper_stub(callback: int) -> bytes:
    """Entered by a jump from a helper slot (r9 = the helper id, [rsp] = the return
    address into the eBPF code): calls the C function
    uint64_t callback(r1, r2, r3, r4, r5, id, return_address, rbp) and returns its
    result to the eBPF code in rax.  rsp is 8 mod 16 on entry (the eBPF code keeps a
    calling function's rsp 16-aligned), so one filler word keeps the callback aligned."""
    return b"".join((
        enc.mov_load(Gpr.R10, Mem(Gpr.RSP, 0), bits=64),   # r10 = return address (AX: dead)
        enc.alu_ri(Alu.SUB, Gpr.RSP, 8, bits=64),          # filler: rsp == 0 mod 16
        enc.push(FP),                                      # argument 8: eBPF r10
        enc.push(Gpr.R10),                                 # argument 7: the return address
        enc.movabs(Gpr.R11, callback),
        enc.call_r(Gpr.R11),
        enc.alu_ri(Alu.ADD, Gpr.RSP, 24, bits=64),
        enc.ret(),
    ))


HELPER_SLOT_BYTES = 11          # mov r9d, imm32 (6) + jmp rel32 (5)


def helper_slot(helper_id: int, at: int, stub: int) -> bytes:
    """The slot at address `at` for helper `helper_id`: r9 = id, jump to the stub."""
    load = enc.mov_r32_imm(Gpr.R9, helper_id)
    jump_end = at + len(load) + 5
    out = load + enc.jmp_rel32(stub - jump_end)
    assert len(out) == HELPER_SLOT_BYTES
    return out


def signal_handler(report: int, exit_code: int) -> bytes:
    """void handler(int sig, siginfo_t *info, ucontext_t *uc): copy sig, info->si_addr and
    uc's gregs to the page at `report`, mark it, and exit_group(exit_code).  Runs on the
    alternate signal stack; touches nothing but the report page."""
    out = [enc.movabs(Gpr.RAX, report),
           enc.mov_store(Mem(Gpr.RAX, REPORT_SIGNO), Gpr.RDI, bits=64),
           enc.mov_load(Gpr.R11, Mem(Gpr.RSI, SIGINFO_ADDR), bits=64),
           enc.mov_store(Mem(Gpr.RAX, REPORT_ADDR), Gpr.R11, bits=64)]
    for i in range(len(GREGS)):
        out.append(enc.mov_load(Gpr.R11, Mem(Gpr.RDX, UC_MCONTEXT_GREGS + 8 * i), bits=64))
        out.append(enc.mov_store(Mem(Gpr.RAX, REPORT_GREGS + 8 * i), Gpr.R11, bits=64))
    out += [enc.movabs(Gpr.R11, MAGIC),
            enc.mov_store(Mem(Gpr.RAX, REPORT_MAGIC), Gpr.R11, bits=64),
            enc.mov_r32_imm(Gpr.RDI, exit_code),
            enc.mov_r32_imm(Gpr.RAX, SYS_EXIT_GROUP),
            SYSCALL]
    return b"".join(out)


def read_report(page: bytes) -> tuple[int, int, dict[str, int]] | None:
    """(signal number, si_addr, registers by name) from a report page, or None if the
    handler never wrote it."""
    if struct.unpack_from("<Q", page, REPORT_MAGIC)[0] != MAGIC:
        return None
    signo, addr = struct.unpack_from("<QQ", page, REPORT_SIGNO)
    values = struct.unpack_from(f"<{len(GREGS)}Q", page, REPORT_GREGS)
    return signo & 0xFFFF_FFFF, addr, dict(zip(GREGS, values))


def fault_access(regs: dict[str, int]) -> str | None:
    """"read", "write" or "fetch" from a page fault's error code; None for other traps
    (a general-protection fault on a non-canonical address says neither)."""
    if regs.get("trapno") != TRAP_PAGE_FAULT:
        return None
    err = regs.get("err", 0)
    if err & PF_FETCH:
        return "fetch"
    return "write" if err & PF_WRITE else "read"


# glibc's struct sigaction on x86-64: handler, sa_mask (1024 bits), sa_flags, sa_restorer
SA_SIGINFO = 0x4
SA_ONSTACK = 0x0800_0000


def sigaction(handler: int, flags: int = SA_SIGINFO | SA_ONSTACK) -> bytes:
    """A struct sigaction that runs `handler` with every signal blocked meanwhile."""
    return struct.pack("<Q128siiQ", handler, b"\xff" * 128, flags, 0, 0)


def stack_t(sp: int, size: int) -> bytes:
    """A stack_t for sigaltstack: ss_sp, ss_flags, ss_size."""
    return struct.pack("<QiiQ", sp, 0, 0, size)
