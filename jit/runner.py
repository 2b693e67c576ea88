"""Run an Image under Unicorn with the interpreter's memory and helpers.

The runner owns nothing of the program's state: the regions of `jit.memory`
(context, packet, maps, global data) are mapped into the emulator with
`mem_map_ptr`, so native code and the Python helpers read and write the very
same bytearrays the interpreter would.  What it adds is machine plumbing:

- code at CODE_BASE, a native stack at NATIVE_STACK_BASE; the eBPF stack is the
  interpreter's STACK region, frames laid out as the interpreter lays them out: the
  entry function's r10 is STACK_TOP (`enter` gets it), a callee's r10 the bottom of
  its caller's frame (the code does that), a callback's the bottom of the frame of
  the function that called the helper (`enter_call` gets it);
- a trampoline page at HELPER_BASE, one slot per helper id: a code hook on the
  slot reads the arguments per the target's C ABI (the backend's RunSpec),
  calls the same Python helper the interpreter calls, writes the result back,
  and the slot's own return instruction goes back to the JIT code;
- a sentinel return address: the entry function returns to it and emulation
  stops there (`until`);
- an instruction budget (native instructions; a runaway loop stops with the
  same error kind as the interpreter's budget);
- faults mapped back to the eBPF pc through the image's offset map.

It knows no machine itself: everything machine-specific comes from the
backend's `run` spec.
"""
from __future__ import annotations

import ctypes
from typing import Any

from jit import memory as M
from jit.errors import BpfjitError, MemoryFault, RunError, UnsupportedError
from jit.helpers import Helper, Unwind
from jit.interp import DEFAULT_STACK_DEPTH, STACK_TOP, Result
from jit.isa import Cls
from jit.lir import LD_ABS_HELPER

LD_ABS_IDS = tuple(LD_ABS_HELPER.values())

HELPER_SLOT = 16
HELPER_SIZE = 0x20_0000            # ids up to 0x1ffff (the internal LD_ABS ids are 0x1000x)
SENTINEL = M.HELPER_BASE + HELPER_SIZE - 0x100
CALLBACK_SENTINEL = SENTINEL + 0x40         # where a callback run by a helper returns to
NATIVE_STACK_SIZE = 0x10_0000
TAIL_COUNT_ADDR = M.NATIVE_STACK_BASE      # u32 tail-call counter: the stack's far end, never reached
NATIVE_BUDGET_PER_INSN = 64        # native instructions allowed per eBPF instruction of budget


def helper_addr(helper_id: int) -> int:
    return M.HELPER_BASE + helper_id * HELPER_SLOT


def _ld_abs(size: int):
    """The lowering's LD_ABS/LD_IND helper: r0 = big-endian packet[s32(r2)], or -1 out of bounds.

    Mirrors the interpreter's LD_ABS (the packet is env.packet; the offset an int).
    """
    def fn(env: Any, ctx: int, off: int, *_: int) -> int:
        pkt = env.packet
        if pkt is None:
            raise RunError("LD_ABS/LD_IND with no packet")
        o = off & 0xFFFFFFFF
        o = o - (1 << 32) if o & 0x80000000 else o
        data, end = pkt
        if o < 0 or data + o + size > end:
            return (1 << 64) - 1
        return int.from_bytes(env.memory.read(data + o, size), "big")
    return fn


def internal_helpers() -> dict:
    """Helpers only native code calls (the lowering's expansions); never logged as calls."""
    return {hid: Helper(hid, f"ld_abs{size * 8}", _ld_abs(size), 2)
            for size, hid in LD_ABS_HELPER.items()}


def _page(n: int) -> int:
    return (n + 0xFFF) & ~0xFFF


class _Stop(Exception):
    pass


def run(images: list, env: Any, r1: int, r2: int = 0, *, helpers: dict,
        max_insns: int = 1_000_000, count_insns: bool = False) -> Any:
    """Run images[0]'s entry function once, on an emulator of its own; the other
    images are tail-call targets (already written into their prog arrays by the caller).

    Returns an interpreter-compatible `Result`.  With `count_insns`, a code
    hook counts the native instructions executed (for the benchmarks).
    """
    return Emulator(images, helpers).run(env, r1, r2, max_insns=max_insns,
                                         count_insns=count_insns)


class Emulator:
    """One Unicorn instance for one set of images, reused run after run.

    What is set up once: the CPU, the code, the trampoline page and its hooks,
    the native stack.  What each run brings: its memory (`env`), whose regions
    are mapped with `mem_map_ptr` unless the very same region is mapped already
    (a map carried from the run before stays mapped), and the registers, put
    back to the state of a fresh CPU before the entry function is entered.
    Setting up is what made a one-packet run cost more than the interpreter.
    """

    def __init__(self, images: list, helpers: dict) -> None:
        from unicorn import (UC_HOOK_CODE, UC_HOOK_MEM_FETCH_PROT, UC_HOOK_MEM_FETCH_UNMAPPED,
                             UC_HOOK_MEM_READ_PROT, UC_HOOK_MEM_READ_UNMAPPED,
                             UC_HOOK_MEM_WRITE_PROT, UC_HOOK_MEM_WRITE_UNMAPPED, UC_PROT_EXEC,
                             UC_PROT_READ, UC_TLB_VIRTUAL, Uc)
        self.images = images
        self.image = image = images[0]
        self.helpers = helpers
        self.spec = spec = image.backend.run
        self.uc = uc = Uc(spec.uc_arch, spec.uc_mode)
        if spec.uc_cpu is not None:
            uc.ctl_set_cpu_model(spec.uc_cpu)
        # Addresses are used as they are, with no MMU: a wild pointer anywhere in the 64-bit
        # space is an unmapped access the hooks see, at the faulting instruction (with the
        # CPU's own translation MIPS raises an address error with no pc for addresses outside
        # its 32-bit segments, and x86 folds non-canonical addresses).
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)

        # The native stack is a region of the run's memory, not only of the emulator:
        # helpers get pointers into it (a map key on the stack) and must read them.
        self.native_stack = M.Region.zeroed("native_stack", M.NATIVE_STACK_BASE,
                                            NATIVE_STACK_SIZE, M.Perm.RW)
        self._stack_view = (ctypes.c_char * NATIVE_STACK_SIZE).from_buffer(self.native_stack.data)
        self.native_stack_addr = ctypes.addressof(self._stack_view)
        self.mapped: dict[int, tuple[Any, Any]] = {}   # base -> (region, its ctypes view)

        # code: all images laid out at their own bases (the caller chose them)
        for img in {id(i): i for i in images}.values():     # an image may be listed twice
            uc.mem_map(img.base, _page(len(img.code)) or 0x1000, UC_PROT_READ | UC_PROT_EXEC)
            uc.mem_write(img.base, img.code)

        # helper trampolines: one page of slots written in one go
        uc.mem_map(M.HELPER_BASE, HELPER_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        slot = spec.helper_slot()
        ids = sorted({hid for hid in list(helpers) + list(LD_ABS_IDS)
                      if 0 <= hid * HELPER_SLOT < HELPER_SIZE - 0x1000})
        if ids:
            page = bytearray((ids[-1] + 1) * HELPER_SLOT)
            for hid in ids:
                page[hid * HELPER_SLOT:hid * HELPER_SLOT + len(slot)] = slot
            uc.mem_write(M.HELPER_BASE, bytes(page))

        self.internal = internal_helpers()
        self.env: Any = None
        self.state: dict = {}
        uc.hook_add(UC_HOOK_CODE, self._on_helper, begin=M.HELPER_BASE,
                    end=M.HELPER_BASE + HELPER_SIZE - 1)
        uc.hook_add(UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_READ_PROT, self._fault_hook("read"))
        uc.hook_add(UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_WRITE_PROT,
                    self._fault_hook("write"))
        uc.hook_add(UC_HOOK_MEM_FETCH_UNMAPPED | UC_HOOK_MEM_FETCH_PROT,
                    self._fault_hook("fetch"))
        self.fresh = uc.context_save()             # the registers of a CPU that never ran
        self.lo = min(img.base for img in images)
        self.hi = max(img.base + len(img.code) for img in images)

    # ------------------------------------------------------------ memory

    def _map_regions(self, memory) -> None:
        """Map the run's regions; keep those already mapped, unmap those gone."""
        from unicorn import UC_PROT_READ, UC_PROT_WRITE
        uc = self.uc
        want = {}
        for region in memory.regions:
            if M.HELPER_BASE <= region.base < M.NATIVE_STACK_BASE or not region.data:
                continue
            want[region.base] = region
        for base, (region, _view) in list(self.mapped.items()):
            if want.get(base) is not region:
                uc.mem_unmap(base, len(region.data))
                del self.mapped[base]
        for base, region in want.items():
            if base in self.mapped:
                continue
            perms = 0
            if region.perms & M.Perm.R:
                perms |= UC_PROT_READ
            if region.perms & M.Perm.W:
                perms |= UC_PROT_WRITE
            size = len(region.data)
            view = (ctypes.c_char * size).from_buffer(region.data)
            uc.mem_map_ptr(base, size, perms, ctypes.addressof(view))
            self.mapped[base] = (region, view)

    # ------------------------------------------------------------ hooks

    def _on_helper(self, uc_, address, size, _):
        hid = (address - M.HELPER_BASE) // HELPER_SLOT
        if (address - M.HELPER_BASE) % HELPER_SLOT:
            return
        spec, env, state = self.spec, self.env, self.state
        internal = self.internal
        h = internal.get(hid) or self.helpers.get(hid)
        try:
            if h is None:
                raise UnsupportedError(f"helper {hid} is not in this run's helper set")
            args = spec.helper_args(uc_)
            if hid not in internal:
                env.calls.append((hid, h.name, tuple(args[:h.nargs])))
            value = h.fn(env, *args)
            spec.set_return(uc_, value & 0xFFFFFFFFFFFFFFFF)
        except _Stop:                   # a nested callback run already recorded why
            uc_.emu_stop()
            return
        except BaseException as e:      # noqa: BLE001 - re-raised after emu_stop
            state["error"] = e
            state["native_pc"] = _return_address(uc_, spec)
            uc_.emu_stop()

    def _fault_hook(self, kind):
        def on_fault(uc_, access, address, size, value, _):
            self.state["fault"] = (kind, address, size, uc_.reg_read(self.spec.pc_reg))
            return False
        return on_fault

    def _on_code(self, uc_, address, size, _):
        self.state["count"] += 1

    # ------------------------------------------------------------ running

    def call_func(self, addr: int, a1: int, a2: int, a3: int, a4: int, a5: int) -> int:
        """Run the eBPF function at native address `addr` to its exit (bpf_loop callbacks):
        a nested emulation below the current stack, as a bpf-to-bpf call would enter it."""
        from unicorn import UcError
        uc, spec, state = self.uc, self.spec, self.state
        if not hasattr(spec, "enter_call"):
            raise UnsupportedError(f"callbacks are not supported on {self.image.arch}")
        if state["depth"] >= 8:
            raise RunError("call depth exceeds 8 frames")
        saved = uc.context_save()
        cb_sp = uc.reg_read(spec.sp_reg) - 0x400
        spec.enter_call(uc, addr, cb_sp, (a1, a2, a3, a4, a5), CALLBACK_SENTINEL,
                        _callback_fp(uc, spec, self.images))
        state["depth"] += 1
        try:
            uc.emu_start(addr, CALLBACK_SENTINEL, count=state["budget"])
        except UcError as e:            # a fault inside the callback: the program's fault
            raise _fault_from(state, e, self.images, uc, spec) from None
        finally:
            state["depth"] -= 1
        if state["error"] is not None or state["fault"] is not None:
            raise _Stop()
        if uc.reg_read(spec.pc_reg) != CALLBACK_SENTINEL:
            raise RunError(f"instruction budget of {state['max_insns']} exhausted")
        value = spec.result(uc)
        uc.context_restore(saved)
        return value

    def run(self, env: Any, r1: int, r2: int = 0, *, max_insns: int = 1_000_000,
            count_insns: bool = False) -> Any:
        """Run the entry function on `env`'s memory; an interpreter-compatible `Result`."""
        from unicorn import UC_HOOK_CODE, UcError
        uc, spec, images = self.uc, self.spec, self.images
        if not any(r.name == "native_stack" for r in env.memory.regions):
            ctypes.memset(self.native_stack_addr, 0, NATIVE_STACK_SIZE)   # as a fresh stack
            env.memory.add(self.native_stack)
        self._map_regions(env.memory)
        uc.context_restore(self.fresh)
        budget = max_insns * NATIVE_BUDGET_PER_INSN + 10_000
        self.env = env
        self.state = state = {"error": None, "fault": None, "count": 0, "depth": 0,
                              "budget": budget, "max_insns": max_insns}
        env.call_func = self.call_func
        counter = (uc.hook_add(UC_HOOK_CODE, self._on_code, begin=self.lo, end=self.hi - 1)
                   if count_insns else None)
        sp = M.NATIVE_STACK_BASE + NATIVE_STACK_SIZE - 0x100
        spec.enter(uc, self.image.entry, sp, r1, r2, SENTINEL, STACK_TOP)
        fault = None
        r0 = 0
        try:
            uc.emu_start(self.image.entry, SENTINEL, count=budget)
        except UcError as e:
            fault = _fault_from(state, e, images, uc, spec)
        else:
            if state["error"] is not None:
                fault = _helper_error(state, images)
            elif uc.reg_read(spec.pc_reg) != SENTINEL:
                fault = RunError(f"instruction budget of {max_insns} exhausted")
                fault.pc = _pc_at(images, uc.reg_read(spec.pc_reg))
        finally:
            if counter is not None:
                uc.hook_del(counter)
        if fault is None:
            r0 = spec.result(uc) & 0xFFFFFFFFFFFFFFFF
        elif isinstance(fault, Unwind):     # the conformance `unwind` helper stops the program
            r0 = 0
            fault = None
        self.env = None
        res = Result(r0=r0, fault=fault, helper_calls=env.calls, trace=env.trace,
                     regions=env.memory.snapshot(), maps=env.maps.dump())
        res.native_insns = state["count"]
        return res


def _callback_fp(uc, spec, images) -> int:
    """r10 of a callback a helper runs: the bottom of the calling function's eBPF frame
    (its r10 less its stack depth), where the interpreter opens the callback's frame."""
    ret = spec.return_address(uc)
    img = next((i for i in images if i.pc_of(ret) is not None), None)
    func = img.func_of(ret) if img is not None else None
    if func is None:
        raise RunError(f"a callback requested from 0x{ret:x}, outside the program's code")
    return spec.frame_pointer(uc) - img.stack_depths.get(func.start_pc, DEFAULT_STACK_DEPTH)


def _return_address(uc, spec) -> int | None:
    try:
        return spec.return_address(uc)
    except Exception:   # noqa: BLE001 - only for error messages
        return None


def _pc_at(images, addr):
    for img in images:
        pc = img.pc_of(addr)
        if pc is not None:
            return pc
    return None


def _helper_error(state, images):
    e = state["error"]
    nat = state.get("native_pc")
    pc = _pc_at(images, nat) if nat is not None else None
    if isinstance(e, Unwind):
        return e
    if isinstance(e, BpfjitError):
        if e.pc is None:
            e.pc = pc
        return e
    raise e


def _fault_from(state, err, images, uc, spec):
    if state["error"] is not None:
        return _helper_error(state, images)
    f = state["fault"]
    if f is not None:
        kind, addr, size, native = f
        pc = _pc_at(images, native)
        if kind == "fetch":
            return RunError(f"jump to unmapped address 0x{addr:x}", pc=pc)
        # a backend's own trap for an address its instructions cannot form (ARM32: a
        # pointer with a non-zero upper word) says which eBPF address it stands for
        start = spec.trap_address(uc, native) if hasattr(spec, "trap_address") else None
        if start is None:
            start = _access_start(uc, spec, images, native)
        return MemoryFault(kind, addr if start is None else start,
                           ebpf_access_size(images, native, size), pc=pc, native_pc=native)
    native = uc.reg_read(spec.pc_reg)
    return RunError(f"the emulated CPU stopped: {err}", pc=_pc_at(images, native))


def ebpf_access_size(images, native: int, size: int) -> int:
    """The size of the eBPF load, store or atomic whose native code at `native` faulted,
    as the interpreter reports it: a backend may split one access into halves or bytes
    (ARM32 word pairs, MIPS ldl/ldr and byte pairs), so the native access's `size` is
    not the program's.  `size` where the instruction is no memory access."""
    from bisect import bisect_left
    for img in images:
        pc = img.pc_of(native)
        if pc is None:
            continue
        prog = img.program
        i = bisect_left(prog.pcs, pc)
        if i < len(prog.pcs) and prog.pcs[i] == pc:
            op = prog.insns[i][0]
            if op & 7 in (Cls.LDX, Cls.ST, Cls.STX):
                return _ACCESS_BYTES[op & 0x18]
        return size
    return size


_ACCESS_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}    # the size field: W, H, B, DW


def _access_start(uc, spec, images, native: int) -> int | None:
    """The eBPF address of the access whose native load or store at `native` faulted.

    Unicorn reports an address the native instruction touched: the first unmapped byte
    of an access that runs into a guard page (or, for a store split into bytes, the
    last), and a backend may split one eBPF access into halves (ARM32 word pairs, MIPS
    ldl/ldr and byte pairs).  The eBPF access starts at the lowest address that the
    memory operands with the faulting instruction's base register name within that
    eBPF instruction's native code: base + the least displacement.  None when the
    code there has no memory operand (the hook's address is used as it is)."""
    import capstone
    img = next((i for i in images if i.pc_of(native) is not None), None)
    span = img.span_of(native) if img is not None else None
    if span is None:
        return None
    md = capstone.Cs(spec.cs_arch, spec.cs_mode)
    md.detail = True
    code = img.code[span[0] - img.base:span[1] - img.base]
    mems = [(i.address, i.reg_name(op.mem.base), op.mem.disp, getattr(op.mem, "index", 0))
            for i in md.disasm(code, span[0]) for op in i.operands
            if op.type == capstone.CS_OP_MEM and op.mem.base]
    at = [m for m in mems if m[0] == native]
    if len(at) != 1 or at[0][3]:
        return None
    base = at[0][1]
    reg = spec.uc_reg(base)
    if reg is None:
        return None
    disp = min(d for _, b, d, _ in mems if b == base)
    mask = (1 << img.backend.target.abi.word * 8) - 1
    return (uc.reg_read(reg) + disp) & mask
