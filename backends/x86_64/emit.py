"""LIR -> x86-64 machine code: one method per LIR op type, encoders from enc.py.

This module owns instruction selection: which x86 instructions implement each
LIR op, with the short forms (imm8, rel8, disp8, 32-bit moves that zero-extend)
wherever they fit, and the irregular cases that x86's implicit registers
force: division through rax:rdx, variable shifts through cl, cmpxchg through
rax.  It does not own the register map (regs.py), the frame, prologue and
epilogue (abi.py) or byte-level encodings (enc.py).

Two kinds of op:
- "pure" ops, whose bytes depend only on their operands (ALU, loads,
  stores, atomics, constants): a method returns the bytes, and the emitter
  memoises them by the op's fields (everything but `pc`) for the compile
  and the set of live registers, so a 100k-op program encodes each distinct
  instruction once;
- control ops (branches, calls, exits, symbols, tail calls), which need the
  code buffer's labels, branch relaxation or fixed-size holes.

Every eBPF register sits in its own native register (regs.HOME, or a rotated
map), r11 and r9 are this module's temporaries; 32-bit x86 operations
zero-extend their destination, so ALU32 results need no extra instruction
(caps.alu32_zext).  The exceptions, where x86 does NOT write a 32-bit
destination, are handled where they occur: a successful 32-bit cmpxchg leaves
rax alone, so CMPXCHG W zero-extends r0 explicitly.  r10 (rbp) points into the
eBPF STACK region, not the native frame; the only code that moves it is the
`sub`/`add` bracket around a CallLocal (abi.py's diagram).
"""
from __future__ import annotations

from typing import Callable

from backends.base import CONTROL_OPS, EmitContext, PURE_OPS, bind_ops
from backends.x86_64 import enc
from backends.x86_64.abi import FuncFrame, func_frame
from backends.x86_64.enc import Alu as X, Cond as CC, Gpr, Mem, Shift
from backends.x86_64.regs import FP, HOME, ROTATABLE, TMP, TMP2, register_map
from jit import lir
from jit.buffer import BranchForm
from jit.errors import UnsupportedError
from jit.lir import AtomicOp, Cond, Imm, Op, Symbol, SymKind

RAX, RCX, RDX, RSP = Gpr.RAX, Gpr.RCX, Gpr.RDX, Gpr.RSP
M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF

# Absolute addresses (helpers, maps, the tail-call counter, function entries) are
# emitted in 32-bit forms when they are below 4 GiB; code within this distance
# of a target calls it pc-relatively.  The margin keeps a form chosen before
# layout valid for any code size a program can have.
NEAR = (1 << 31) - (1 << 28)
LOW = (1 << 32) - (1 << 28)

# LIR ALU ops that are one x86 group-1 instruction.
GROUP1 = {Op.ADD: X.ADD, Op.SUB: X.SUB, Op.OR: X.OR, Op.AND: X.AND, Op.XOR: X.XOR}
SHIFTS = {Op.LSH: Shift.SHL, Op.RSH: Shift.SHR, Op.ARSH: Shift.SAR}
DIVIDES = {Op.DIV: (False, RAX), Op.MOD: (False, RDX),        # (signed, result register)
           Op.SDIV: (True, RAX), Op.SMOD: (True, RDX)}
ATOMIC_ALU = {AtomicOp.ADD: X.ADD, AtomicOp.OR: X.OR, AtomicOp.AND: X.AND, AtomicOp.XOR: X.XOR}

# as module globals: reading an enum member costs ~150 ns on CPython 3.11
_MOV, _MUL, _AND, _SET = Op.MOV, Op.MUL, Op.AND, Cond.SET

# LIR condition -> the x86 condition after `cmp a, b` (SET: after `test a, b`).
JCC = {Cond.EQ: CC.E, Cond.NE: CC.NE, Cond.GT: CC.A, Cond.GE: CC.AE, Cond.LT: CC.B,
       Cond.LE: CC.BE, Cond.SGT: CC.G, Cond.SGE: CC.GE, Cond.SLT: CC.L, Cond.SLE: CC.LE,
       Cond.SET: CC.NE}


# ---------------------------------------------------------------- branch forms
# `disp` from the buffer is target - start of the branch; x86 counts from its end.

def _fits_rel8(size: int) -> Callable[[int], bool]:
    return lambda disp: -128 <= disp - size <= 127


def _always(disp: int) -> bool:
    return True


def _by_disp(encode_disp: Callable[[int], bytes]) -> Callable[[int, int], bytes]:
    """A BranchForm encoder that encodes each displacement once: a short form has
    only 256, and a program has thousands of branches."""
    done: dict[int, bytes] = {}

    def encode(disp: int, at: int) -> bytes:
        code = done.get(disp)
        if code is None:
            code = done[disp] = encode_disp(disp)
        return code
    return encode


def _jcc_forms(cc: CC) -> tuple:
    return (BranchForm(enc.JCC_REL8_SIZE, _fits_rel8(enc.JCC_REL8_SIZE),
                       _by_disp(lambda d: enc.jcc_rel8(cc, d - enc.JCC_REL8_SIZE))),
            BranchForm(enc.JCC_REL32_SIZE, _always,
                       lambda d, at: enc.jcc_rel32(cc, d - enc.JCC_REL32_SIZE)))


JCC_FORMS = {cc: _jcc_forms(cc) for cc in CC}
JMP_FORMS = (BranchForm(enc.JMP_REL8_SIZE, _fits_rel8(enc.JMP_REL8_SIZE),
                        _by_disp(lambda d: enc.jmp_rel8(d - enc.JMP_REL8_SIZE))),
             BranchForm(enc.JMP_REL32_SIZE, _always,
                        lambda d, at: enc.jmp_rel32(d - enc.JMP_REL32_SIZE)))
CALL_FORMS = (BranchForm(enc.CALL_REL32_SIZE, _always,
                         lambda d, at: enc.call_rel32(d - enc.CALL_REL32_SIZE)),)


# ---------------------------------------------------------------- small idioms

def mov_imm(dst: Gpr, value: int, bits: int) -> bytes:
    """dst = value (64-bit: value is a signed or unsigned 64-bit constant), shortest form."""
    if bits == 32:
        value &= M32
    else:
        value &= M64
    if value == 0:
        return enc.alu_rr(X.XOR, dst, dst, bits=32)              # 2-3 bytes, zero-extends
    if value <= M32:
        return enc.mov_r32_imm(dst, value)                        # 5-6 bytes, zero-extends
    if value >= (1 << 64) - (1 << 31):
        return enc.mov_r64_simm32(dst, value - (1 << 64))         # 7 bytes, sign-extends
    return enc.movabs(dst, value)                                 # 10 bytes


def mov_addr(dst: Gpr, addr: int) -> tuple[bytes, str, int]:
    """dst = an absolute address in a form whose size does not depend on the value:
    (bytes, ELF relocation kind, offset of the address field)."""
    if 0 <= addr <= M32:
        code = enc.mov_r32_imm(dst, addr)
        return code, "abs32", len(code) - 4
    code = enc.movabs(dst, addr)
    return code, "abs64", len(code) - 8


class Emitter:
    """Emits each function of one LirProgram into the compile's CodeBuffer (backends.base
    drives it: `function` per LirFunc, then `finish`)."""

    def __init__(self, ctx: EmitContext) -> None:
        self.ctx = ctx
        self.prog = prog = ctx.lir
        self.link = ctx.link
        self.base = ctx.base
        self.R = regmap = register_map(ctx.rotate)
        if regmap[:ROTATABLE] != HOME[:ROTATABLE] and any(f.calls or f.tail_calls
                                                          for f in prog.funcs):
            raise UnsupportedError("a rotated register map is for call-free programs only "
                                   "(helpers and subprograms expect System V's registers)")
        self.buf = ctx.buf
        self.relocs = ctx.relocs        # (label, delta, kind, sym): resolved after layout
        self.entries = [fl.entry for fl in ctx.funcs]    # function index -> entry label
        self.frame: FuncFrame | None = None
        self.call_local_frame = (b"", b"")   # code before and after a CallLocal (r10 down, up)
        self.exit_label = -1
        self.last_op = None
        self.inline_exit = False
        # ops whose bytes depend on their operands only: memoised by op[:-1]
        self.pure = bind_ops(self, PURE_OPS)
        # ops that place labels, branches or fixed-size holes in the buffer
        self.control = bind_ops(self, CONTROL_OPS)
        self.caches: dict = {}          # live natives -> op type -> op[:-1] -> bytes
        self.live: frozenset = frozenset()
        self.branch_cache: dict = {}    # Branch fields but target -> (flag-setting code, forms)
        self.flags_cache: dict = {}     # (is SET, width, a, b) -> flag-setting code
        self.helpers: dict = {}         # helper id -> (symbol, trampoline address)
        self.sites = ctx.sites          # ([absolute address], delta, kind, sym) of fixed holes

    # ------------------------------------------------------------ driver
    def function(self, f: lir.LirFunc) -> None:
        self.emit_function(f, f.index, self.ctx.funcs[f.index].tail)

    def finish(self) -> list:
        return []                       # no runtime routines

    def emit_function(self, f: lir.LirFunc, index: int, tail_label: int) -> None:
        buf = self.buf
        self.frame = ff = func_frame(f, self.R)
        # a callee's r10 is the bottom of this function's eBPF frame
        d = f.stack_depth
        if d == 128:                                     # +128 has no imm8 form, -128 has
            self.call_local_frame = (enc.alu_ri(X.ADD, FP, -d, bits=64),
                                     enc.alu_ri(X.SUB, FP, -d, bits=64))
        elif d:
            self.call_local_frame = (enc.alu_ri(X.SUB, FP, d, bits=64),
                                     enc.alu_ri(X.ADD, FP, d, bits=64))
        else:
            self.call_local_frame = (b"", b"")
        # natives holding an eBPF register this function uses; the others are free
        # scratch here (rax, rcx, rdx need no saving around div, shifts, cmpxchg)
        self.live = live = frozenset(self.R[r] for r in f.regs_used)
        caches = self.caches.get(live)
        if caches is None:
            caches = self.caches[live] = {t: {} for t in self.pure}
        buf.bind(self.entries[index])
        if index == 0 and self.prog.tail_calls:
            self.zero_tail_count()
        buf.bind(tail_label)                    # a tail call lands past the counter reset
        buf.emit(ff.prologue)
        self.exit_label = buf.new_label()
        self.inline_exit = len(ff.epilogue) <= enc.JMP_REL8_SIZE
        ops = f.ops
        self.last_op = ops[-1] if ops else None
        # op type -> (memo of its bytes by fields, or None for a control op; the method)
        how = {t: (caches[t], fn) for t, fn in self.pure.items()}
        how.update((t, (None, fn)) for t, fn in self.control.items())
        emit, mark, mark_emit, bind = buf.emit, buf.mark, buf.mark_emit, buf.bind
        Label = lir.Label
        last_pc = None
        for op in ops:
            t = type(op)
            if t is Label:
                bind(op.id)
                continue
            pc = op.pc
            h = how.get(t)
            if h is None:
                mark(pc)
                raise UnsupportedError(f"x86_64 has no emitter for LIR {t.__name__}", pc=pc)
            cache, fn = h
            if cache is not None:
                key = op[:-1]
                code = cache.get(key)
                if code is None:
                    if pc != last_pc:
                        mark(pc)                # an encoding error names this pc
                        last_pc = pc
                    code = cache[key] = fn(op)
                if pc != last_pc:
                    mark_emit(pc, code)
                    last_pc = pc
                else:
                    emit(code)
            else:
                if pc != last_pc:
                    mark(pc)
                    last_pc = pc
                fn(op)
        buf.bind(self.exit_label)
        buf.emit(ff.epilogue)

    def reloc_here(self, delta: int, kind: str, sym: Symbol) -> None:
        """Record a relocation `delta` bytes past the current position."""
        label = self.buf.new_label()
        self.buf.bind(label)
        self.relocs.append((label, delta, kind, sym))

    # ------------------------------------------------------------ ALU
    def emit_alu(self, op: lir.Alu) -> bytes:
        aop, bits = op.op, op.width
        D = self.R[op.dst]
        src = op.src
        if type(src) is Imm:
            return self.alu_imm(aop, bits, D, src.value)
        S = self.R[src]
        x = GROUP1.get(aop)
        if x is not None:
            return enc.alu_rr(x, D, S, bits=bits)
        if aop == _MOV:
            if D == S and bits == 64:
                return b""
            return enc.mov_rr(D, S, bits=bits)               # 32-bit: mov r32, r32 zero-extends
        if aop == _MUL:
            return enc.imul_rr(D, S, bits=bits)
        if aop in SHIFTS:
            return self.shift_by_reg(SHIFTS[aop], bits, D, S)
        return self.divide(aop, bits, D, S)

    def alu_imm(self, aop: Op, bits: int, D: Gpr, v: int) -> bytes:
        if bits == 32:
            v &= M32
        x = GROUP1.get(aop)
        if x is not None:
            if aop == _AND:
                # masks that are a zero-extending move: shorter than and r, imm32
                if v == 0xFF:
                    return enc.movzx_rr(D, D, src_bits=8)
                if v == 0xFFFF:
                    return enc.movzx_rr(D, D, src_bits=16)
                if v == M32 and bits == 32:
                    return enc.mov_rr(D, D, bits=32)
            return enc.alu_ri(x, D, v, bits=bits)
        if aop == _MOV:
            return mov_imm(D, v, bits)
        if aop == _MUL:
            return enc.imul_rri(D, D, v, bits=bits)
        if aop in SHIFTS:
            if v == 0:                                     # 32-bit: still zero-extends
                return enc.mov_rr(D, D, bits=32) if bits == 32 else b""
            return enc.shift_ri(SHIFTS[aop], D, v, bits=bits)
        # a divisor immediate goes through r11 (div/idiv take no immediate)
        return mov_imm(TMP, v, bits) + self.divide(aop, bits, D, TMP)

    def shift_by_reg(self, sh: Shift, bits: int, D: Gpr, S: Gpr) -> bytes:
        """D = D <sh> S through cl (the CPU masks the count to 5/6 bits, as eBPF wants).

        rcx holds an eBPF register (r4), so unless the count is already in it
        or this function never touches that register, rcx is saved around the
        shift (push/pop: 1 byte each; BMI2's shlx would need no cl, but it is
        not assumed)."""
        if S == RCX:
            return enc.shift_cl(sh, D, bits=bits)          # D may be rcx: count == value
        if D == RCX:
            return (enc.mov_rr(TMP, RCX, bits=64)          # r11 = value
                    + enc.mov_rr(RCX, S, bits=32)          # cl = count
                    + enc.shift_cl(sh, TMP, bits=bits)     # r11 = value <sh> count
                    + enc.mov_rr(RCX, TMP, bits=bits))     # rcx = result
        code = (enc.mov_rr(RCX, S, bits=32)               # cl = count (D == S reads it first)
                + enc.shift_cl(sh, D, bits=bits))
        return enc.push(RCX) + code + enc.pop(RCX) if RCX in self.live else code

    def divide(self, aop: Op, bits: int, D: Gpr, S: Gpr) -> bytes:
        """D = D / S or D % S through rdx:rax, which hold eBPF registers (r0, r3).

        The lowering has already dealt with a zero divisor and with -1 for the
        signed forms, so div/idiv cannot fault.  rax and rdx are saved unless
        D is the one receiving the result; a divisor living in rax or rdx is
        copied to r11 first, since they are about to be overwritten."""
        signed, result = DIVIDES[aop]
        live = self.live
        save_rax = D != RAX and RAX in live                    # (rax/rdx of an eBPF register
        save_rdx = D != RDX and RDX in live                    #  this function never uses: free)
        out = bytearray()
        if S == RAX or S == RDX:
            out += enc.mov_rr(TMP, S, bits=64)
            S = TMP
        if save_rax:
            out += enc.push(RAX)
        if save_rdx:
            out += enc.push(RDX)
        if D != RAX:
            out += enc.mov_rr(RAX, D, bits=bits)               # rax = dividend
        if signed:
            out += enc.cqo() if bits == 64 else enc.cdq()      # rdx = sign of rax
        else:
            out += enc.alu_rr(X.XOR, RDX, RDX, bits=32)        # rdx = 0
        out += (enc.idiv if signed else enc.div)(S, bits=bits)  # rax = quotient, rdx = remainder
        if D != result:
            out += enc.mov_rr(D, result, bits=bits)
        if save_rdx:
            out += enc.pop(RDX)
        if save_rax:
            out += enc.pop(RAX)
        return bytes(out)

    def emit_neg(self, op: lir.Neg) -> bytes:
        return enc.neg(self.R[op.dst], bits=op.width)

    def emit_movsx(self, op: lir.MovSx) -> bytes:
        D, S = self.R[op.dst], self.R[op.src]
        if op.bits == 32 and op.width == 32:
            return enc.mov_rr(D, S, bits=32)                   # nothing to extend within 32 bits
        return enc.movsx_rr(D, S, bits=op.width, src_bits=op.bits)

    def emit_zext(self, op: lir.Zext) -> bytes:
        D = self.R[op.dst]
        return enc.mov_rr(D, D, bits=32)

    def emit_bswap(self, op: lir.Bswap) -> bytes:
        D = self.R[op.dst]
        if op.bits == 16:
            return (enc.shift_ri(Shift.ROR, D, 8, bits=16)     # swap the low two bytes
                    + enc.movzx_rr(D, D, src_bits=16))         # zero-extend from 16
        return enc.bswap(D, bits=op.bits)                      # 32: zero-extends

    def emit_trunc(self, op: lir.Trunc) -> bytes:
        D = self.R[op.dst]
        if op.bits == 16:
            return enc.movzx_rr(D, D, src_bits=16)
        if op.bits == 32:
            return enc.mov_rr(D, D, bits=32)
        return b""

    def emit_load_imm(self, op: lir.LoadImm) -> bytes:
        return mov_imm(self.R[op.dst], op.value, 64)

    # ------------------------------------------------------------ memory
    def emit_load(self, op: lir.Load) -> bytes:
        D = self.R[op.dst]
        m = Mem(self.R[op.base], op.off)
        size = op.size
        if size == 8:
            return enc.mov_load(D, m, bits=64)
        if op.signed:
            return enc.movsx_load(D, m, bits=64, src_bits=size * 8)
        if size == 4:
            return enc.mov_load(D, m, bits=32)                 # zero-extends
        return enc.movzx_load(D, m, src_bits=size * 8)

    def emit_store(self, op: lir.Store) -> bytes:
        m = Mem(self.R[op.base], op.off)
        bits = op.size * 8
        src = op.src
        if type(src) is Imm:
            v = src.value
            if bits < 64:
                v &= (1 << bits) - 1
            return enc.mov_store_imm(m, v, bits=bits)         # 64: imm32 sign-extended
        return enc.mov_store(m, self.R[src], bits=bits)       # 8: sil/dil/bpl get a REX

    def emit_atomic(self, op: lir.Atomic) -> bytes:
        bits = op.size * 8
        B, S = self.R[op.base], self.R[op.src]
        m = Mem(B, op.off)
        aop = op.op
        if aop == AtomicOp.CMPXCHG:
            return self.cmpxchg(bits, B, op.off, S)
        if aop == AtomicOp.XCHG:
            return enc.xchg(m, S, bits=bits)                   # implicitly locked
        if not op.fetch:
            return enc.lock_alu(ATOMIC_ALU[aop], m, S, bits=bits)
        if aop == AtomicOp.ADD:
            return enc.lock_xadd(m, S, bits=bits)              # S = old (32: zero-extended)
        return self.fetch_loop(ATOMIC_ALU[aop], bits, B, op.off, S)

    def fetch_loop(self, x: X, bits: int, B: Gpr, off: int, S: Gpr) -> bytes:
        """S = atomic_fetch_<x>(B + off, S) for and/or/xor: a cmpxchg loop.

        cmpxchg compares with rax, which holds an eBPF register: rax is kept
        in r9 and put back, and an operand that lives in rax is read from r9
        instead.  When S itself is rax, the fetched value is its result and
        rax is not restored.  (The Linux JIT once got this case wrong:
        b29dd96b905f, "Fix BPF_FETCH atomic and/or/xor with r0 as src".)"""
        base = TMP2 if B == RAX else B
        src = TMP2 if S == RAX else S
        m = Mem(base, off)
        keep = RAX in self.live                            # else rax is free scratch here
        head = (enc.mov_rr(TMP2, RAX, bits=64) if keep else b"") + enc.mov_load(RAX, m, bits=bits)
        body = (enc.mov_rr(TMP, RAX, bits=bits)           # r11 = old
                + enc.alu_rr(x, TMP, src, bits=bits)       # r11 = old <x> src
                + enc.lock_cmpxchg(m, TMP, bits=bits))     # [m] == rax ? [m] = r11 : rax = [m]
        loop = body + enc.jcc_rel8(CC.NE, -(len(body) + enc.JCC_REL8_SIZE))   # lost a race: retry
        if S == RAX:
            return head + loop                             # rax = old (32: zero-extended)
        code = head + loop + enc.mov_rr(S, RAX, bits=bits)  # S = old
        return code + enc.mov_rr(RAX, TMP2, bits=64) if keep else code   # rax restored

    def cmpxchg(self, bits: int, B: Gpr, off: int, S: Gpr) -> bytes:
        """r0 = cmpxchg(B + off, r0, S): the x86 instruction compares with rax.

        With the kernel's map r0 is rax.  A 32-bit cmpxchg that succeeds does
        not write eax, so r0's upper half would survive: zero-extend it
        (the verifier does the same since 39491867ace5)."""
        R0 = self.R[0]
        if R0 == RAX:
            code = enc.lock_cmpxchg(Mem(B, off), S, bits=bits)
            return code + enc.mov_rr(RAX, RAX, bits=32) if bits == 32 else code
        # rotated map: r0 elsewhere, rax some other register; borrow rax, keep it in r9
        base = TMP2 if B == RAX else B
        src = TMP2 if S == RAX else S
        keep = RAX in self.live
        code = ((enc.mov_rr(TMP2, RAX, bits=64) if keep else b"")   # r9 = rax
                + enc.mov_rr(RAX, R0, bits=64)             # rax = r0
                + enc.lock_cmpxchg(Mem(base, off), src, bits=bits)
                + enc.mov_rr(R0, RAX, bits=bits))          # r0 = old (32: zero-extended)
        return code + enc.mov_rr(RAX, TMP2, bits=64) if keep else code   # rax restored

    # ------------------------------------------------------------ control flow
    def emit_branch(self, op: lir.Branch) -> None:
        key = op[:4]
        hit = self.branch_cache.get(key)
        if hit is None:
            cond, bits, a, b = key
            # the flags do not depend on the condition, only on whether it is SET
            flags = (cond == _SET, bits, a, b)
            code = self.flags_cache.get(flags)
            if code is None:
                code = self.flags_cache[flags] = self.compare(cond, bits, a, b)
            hit = self.branch_cache[key] = (code, JCC_FORMS[JCC[cond]])
        code, forms = hit
        self.buf.emit(code)
        self.buf.branch(op.target, forms)

    def compare(self, cond: Cond, bits: int, a: int, b) -> bytes:
        """The flag-setting instruction for `a <cond> b` (JCC[cond] is the jcc after it)."""
        A = self.R[a]
        if type(b) is not Imm:
            B = self.R[b]
            if cond == _SET:
                return enc.test_rr(A, B, bits=bits)
            return enc.alu_rr(X.CMP, A, B, bits=bits)
        v = b.value
        if bits == 32:
            v &= M32
        if cond == _SET:
            # a non-negative mask has no upper bits: the 32-bit test (no REX.W) is the same
            if bits == 64 and v >= 0:
                bits = 32
            return enc.test_ri(A, v, bits=bits)
        if v == 0:
            return enc.test_rr(A, A, bits=bits)     # same flags as cmp a, 0; shorter
        return enc.alu_ri(X.CMP, A, v, bits=bits)

    def emit_jump(self, op: lir.Jump) -> None:
        self.buf.branch(op.target, JMP_FORMS)

    def emit_exit(self, op: lir.Exit) -> None:
        if op is self.last_op:
            return                                         # the epilogue follows
        if self.inline_exit:
            self.buf.emit(self.frame.epilogue)             # `ret` or `pop; ret`: no longer than a jmp
        else:
            self.buf.branch(self.exit_label, JMP_FORMS)

    def emit_call_local(self, op: lir.CallLocal) -> None:
        down, up = self.call_local_frame
        self.buf.emit(down)                                # rbp = callee's r10
        self.buf.branch(self.entries[op.func], CALL_FORMS)
        self.buf.emit(up)                                  # rbp = this function's r10 again

    def emit_call_helper(self, op: lir.CallHelper) -> None:
        """r0 = helper(r1..r5): r1-r5 already sit in rdi, rsi, rdx, rcx, r8."""
        hit = self.helpers.get(op.id)
        if hit is None:
            sym = Symbol(SymKind.HELPER, op.id, f"helper_{op.id}")
            hit = self.helpers[op.id] = (sym, self.link(sym))
        sym, addr = hit
        if abs(addr - self.base) < NEAR:
            # call rel32, filled in once the layout is final; the hole's address is
            # also where the relocation goes (no label: helper calls are frequent)
            site = [0]
            self.sites.append((site, 1, "pcrel32", sym))

            def encode(addr_of, at):
                site[0] = at
                return enc.call_rel32(addr - at - enc.CALL_REL32_SIZE)
            self.buf.fixed(enc.CALL_REL32_SIZE, encode)
            return
        code, kind, delta = mov_addr(TMP, addr)            # far away: through r11
        self.reloc_here(delta, kind, sym)
        self.buf.emit(code + enc.call_r(TMP))

    def emit_load_addr(self, op: lir.LoadAddr) -> None:
        D = self.R[op.dst]
        sym = op.sym
        if sym.kind == SymKind.FUNC:
            label = self.entries[sym.index]
            if self.base < LOW:
                size, kind = len(enc.mov_r32_imm(D, 0)), "abs32"

                def encode(addr_of, at):
                    return enc.mov_r32_imm(D, addr_of(label))
            else:
                size, kind = len(enc.movabs(D, 0)), "abs64"

                def encode(addr_of, at):
                    return enc.movabs(D, addr_of(label))
            self.reloc_here(size - (4 if kind == "abs32" else 8), kind, sym)
            self.buf.fixed(size, encode)
            return
        code, kind, delta = mov_addr(D, self.link(sym) + op.addend)
        self.reloc_here(delta, kind, sym)
        self.buf.emit(code)

    def tail_count_addr(self) -> tuple[int, Symbol]:
        sym = Symbol(SymKind.TAIL_COUNT, 0, "tail_count")
        return self.link(sym), sym

    def zero_tail_count(self) -> None:
        """The entry's first instructions: tail_call_count = 0 (a tail call lands after them)."""
        addr, sym = self.tail_count_addr()
        code, kind, delta = mov_addr(TMP, addr)
        self.reloc_here(delta, kind, sym)
        self.buf.emit(code + enc.mov_store_imm(Mem(TMP, 0), 0, bits=32))

    def emit_tail_call(self, op: lir.TailCall) -> None:
        """bpf_tail_call(r1, r2 = prog array, r3 = index), in the kernel's order of checks.

        Only r9 and r11 are written before the jump, so a failed tail call
        falls through with every eBPF register as it was."""
        buf, R = self.buf, self.R
        out = buf.new_label()
        M = Mem
        R2, R3 = R[2], R[3]
        buf.emit(enc.mov_rr(TMP, R3, bits=32)                      # r11 = index (u32)
                 + enc.alu_mr(X.CMP, M(R2, 12), TMP, bits=32))     # max_entries vs index
        buf.branch(out, JCC_FORMS[CC.BE])                          # index >= max_entries
        addr, sym = self.tail_count_addr()
        code, kind, delta = mov_addr(TMP2, addr)                   # r9 = &tail_call_count
        self.reloc_here(delta, kind, sym)
        buf.emit(code + enc.alu_mi(X.CMP, M(TMP2, 0), lir.MAX_TAIL_CALLS, bits=32))
        buf.branch(out, JCC_FORMS[CC.AE])                          # count >= 33
        buf.emit(enc.alu_mi(X.ADD, M(TMP2, 0), 1, bits=32)         # count++, even for an empty slot
                 + enc.mov_load(TMP2, M(R2, 16), bits=64)          # r9 = slot array
                 + enc.shift_ri(Shift.SHL, TMP, 3, bits=64)        # r11 = index * 8
                 + enc.alu_rr(X.ADD, TMP, TMP2, bits=64)           # r11 = &slot
                 + enc.mov_load(TMP, M(TMP, 0), bits=64)           # r11 = target's tail entry
                 + enc.test_rr(TMP, TMP, bits=64))
        buf.branch(out, JCC_FORMS[CC.E])                           # empty slot
        buf.emit(self.frame.teardown + enc.jmp_r(TMP))             # this frame gone; r1 = ctx kept
        buf.bind(out)
