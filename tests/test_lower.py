"""The common lowering: golden LIR listings for the rewrites every backend relies on."""
from jit import isa, lir
from jit.isa import Insn
from jit.lower import lower
from jit.program import MapDef, from_bytecode


def prog_of(*insns, maps=(), order="little"):
    p = from_bytecode(isa.encode(list(insns), order), byteorder=order)
    p.maps = list(maps)
    return p


def listing(p, **kw):
    lp = lower(p, alu32_zext=kw.pop("alu32_zext", True), **kw)
    return [lir.format_op(op) for f in lp.funcs for op in f.ops]


EXIT = Insn(isa.EXIT)


def alu(op, dst, src=0, imm=0, off=0, x=False, w64=True):
    cls = isa.Cls.ALU64 if w64 else isa.Cls.ALU
    return Insn(cls | op | (isa.Src.X if x else isa.Src.K), dst, src, off, imm)


def test_unsigned_div_by_register_is_guarded():
    got = listing(prog_of(alu(isa.Alu.DIV, 1, 2, x=True), EXIT))
    assert got == ["  if64 r2 eq #0x0 goto L3", "  div64 r1, r2", "  goto L2", "L3:",
                   "  mov64 r1, #0x0", "L2:", "  exit"]


def test_signed_mod32_guards_zero_and_minus_one():
    got = listing(prog_of(alu(isa.Alu.MOD, 1, 2, off=1, x=True, w64=False), EXIT))
    assert got == ["  if32 r2 eq #0x0 goto L3", "  if32 r2 eq #-0x1 goto L4", "  smod32 r1, r2",
                   "  goto L2", "L3:", "  mov32 r1, r1", "  goto L2", "L4:", "  mov32 r1, #0x0",
                   "L2:", "  exit"]


def test_division_by_constants_folds():
    p = prog_of(alu(isa.Alu.DIV, 1, imm=0), alu(isa.Alu.MOD, 2, imm=0, w64=False),
                alu(isa.Alu.DIV, 3, imm=-1, off=1), alu(isa.Alu.MOD, 4, imm=-1, off=1), EXIT)
    assert listing(p) == ["  mov64 r1, #0x0", "  mov32 r2, r2", "  neg64 r3", "  mov64 r4, #0x0",
                          "  exit"]


def test_zext_only_where_needed_and_only_without_alu32_zext():
    p = prog_of(alu(isa.Alu.ADD, 1, imm=5, w64=False), alu(isa.Alu.ADD, 2, imm=5, w64=False),
                EXIT)
    assert "  zext r1" not in listing(p)                      # x86-like target
    got = listing(p, alu32_zext=False, zext_needed={1})
    assert got == ["  add32 r1, #0x5", "  add32 r2, #0x5", "  zext r2", "  exit"]


def test_endian_ops_follow_the_program_byte_order():
    le16 = Insn(isa.Cls.ALU | isa.Alu.END | isa.Src.K, 1, imm=16)
    be32 = Insn(isa.Cls.ALU | isa.Alu.END | isa.Src.X, 1, imm=32)
    le64 = Insn(isa.Cls.ALU | isa.Alu.END | isa.Src.K, 1, imm=64)
    bswap16 = Insn(isa.Cls.ALU64 | isa.Alu.END, 1, imm=16)
    assert listing(prog_of(le16, be32, le64, bswap16, EXIT)) == [
        "  trunc16 r1", "  bswap32 r1", "  bswap16 r1", "  exit"]
    assert listing(prog_of(le16, be32, le64, bswap16, EXIT, order="big")) == [
        "  bswap16 r1", "  trunc32 r1", "  bswap64 r1", "  bswap16 r1", "  exit"]


def test_folds_noops_and_constant_branches():
    p = prog_of(alu(isa.Alu.ADD, 1, imm=0), alu(isa.Alu.MUL, 1, imm=1),
                alu(isa.Alu.MOV, 1, 1, x=True),
                Insn(isa.Cls.JMP | isa.Jmp.JEQ | isa.Src.X, 1, 1, 1),     # always
                Insn(isa.Cls.JMP | isa.Jmp.JNE | isa.Src.X, 2, 2, 1),     # never
                Insn(isa.Cls.JMP | isa.Jmp.JSET, 2, 0, 1, 0),            # never
                Insn(isa.JA, off=0), EXIT)
    # dropped branches leave their (now unused) target labels behind
    assert listing(p) == ["  goto L5", "L5:", "L6:", "L7:", "  exit"]


def test_lddw_symbols_and_calls():
    maps = [MapDef("counters", 2, 4, 8, 4), MapDef("prog.rodata", 2, 4, 16, 1, initial=b"")]
    p = prog_of(Insn(isa.LDDW, 1, 1, 0, 0), Insn(isa.LDDW, 2, 2, 0, (8 << 32) | 1),
                Insn(isa.LDDW, 3, 0, 0, 0x1122334455667788), Insn(isa.CALL, imm=1),
                Insn(isa.CALL, imm=12), EXIT, maps=maps)
    assert listing(p) == ["  r1 = &counters+0", "  r2 = &prog.rodata+8",
                          "  r3 = 0x1122334455667788", "  call helper#0x1", "  tail_call",
                          "  exit"]


def test_ld_abs_becomes_helper_call_and_bounds_exit():
    ldabs_h = Insn(isa.Cls.LD | isa.Mode.ABS | isa.Size.H, imm=12)
    got = listing(prog_of(ldabs_h, EXIT))
    assert got == ["  mov64 r2, #0xc", "  mov64 r1, r6", "  call helper#0x10002",
                   "  if64 r0 sge #0x0 goto L2", "  mov64 r0, #0x0", "  exit", "L2:", "  exit"]


def test_blinding_hides_immediates():
    p = prog_of(alu(isa.Alu.ADD, 1, imm=0x12345678), Insn(isa.LDDW, 2, 0, 0, 0xdeadbeefcafe),
                Insn(isa.Cls.ST | isa.Mode.MEM | isa.Size.W, 10, 0, -8, 0x7777),
                Insn(isa.Cls.JMP | isa.Jmp.JEQ, 1, 0, 0, 0x4444), EXIT)
    lp = lower(p, alu32_zext=True, harden=True, seed=1)
    imms = []
    for op in lp.funcs[0].ops:
        for fld in ("src", "b"):
            v = getattr(op, fld, None)
            if isinstance(v, lir.Imm):
                imms.append(v.value & 0xFFFFFFFF)
        if isinstance(op, lir.LoadImm):
            imms += [op.value & 0xFFFFFFFF, op.value >> 32]
    for secret in (0x12345678, 0xbeefcafe, 0xdead, 0x7777, 0x4444):
        assert secret not in imms
    assert "  add64 r1, ax" in [lir.format_op(o) for o in lp.funcs[0].ops]


def test_jump_targets_get_labels_for_jmp32_and_gotol():
    """Every JMP32 branch and gotol target is bound as a label (regression: JMP32 was missed)."""
    p = prog_of(Insn(isa.Cls.JMP32 | isa.Jmp.JGT | isa.Src.K, 1, 0, 1, 3),
                Insn(isa.GOTOL, imm=1), alu(isa.Alu.MOV, 0, imm=1), EXIT)
    assert listing(p) == ["  if32 r1 gt #0x3 goto L2", "  goto L3", "L2:", "  mov64 r0, #0x1",
                          "L3:", "  exit"]


def test_powers_of_two_become_shifts_and_masks():
    """Multiply, unsigned divide and unsigned modulo by 2^k are shifts and masks for every
    backend (issue 15: this was in the MIPS64 emitter only).  The immediate is read as
    the op reads it: ALU64 sign-extends (so -2^31 is no power of two), ALU32 takes the
    low 32 bits (so -2^31 is 2^31)."""
    D, M, MUL = isa.Alu.DIV, isa.Alu.MOD, isa.Alu.MUL
    p = prog_of(alu(MUL, 1, imm=8), alu(MUL, 2, imm=1 << 30, w64=False),
                alu(D, 3, imm=16), alu(D, 4, imm=-(1 << 31), w64=False),
                alu(M, 5, imm=64), alu(M, 6, imm=-(1 << 31), w64=False),
                alu(MUL, 7, imm=0), alu(MUL, 8, imm=-1, w64=False),
                alu(D, 9, imm=1, w64=False), alu(M, 1, imm=1), EXIT)
    assert listing(p) == ["  lsh64 r1, #0x3", "  lsh32 r2, #0x1e", "  rsh64 r3, #0x4",
                          "  rsh32 r4, #0x1f", "  and64 r5, #0x3f", "  and32 r6, #0x7fffffff",
                          "  mov64 r7, #0x0", "  neg32 r8", "  mov32 r9, r9", "  mov64 r1, #0x0",
                          "  exit"]


def test_what_is_not_a_power_of_two_stays_a_division():
    """ALU64 -2^31 is 0xffffffff80000000 unsigned; signed division rounds toward zero
    (a shift would not); hardened code keeps its blinded factor."""
    D = isa.Alu.DIV
    p = prog_of(alu(D, 1, imm=-(1 << 31)), alu(D, 2, imm=4, off=1), alu(isa.Alu.MUL, 3, imm=6),
                EXIT)
    assert listing(p) == ["  div64 r1, #-0x80000000", "  sdiv64 r2, #0x4", "  mul64 r3, #0x6",
                          "  exit"]
    hardened = listing(prog_of(alu(isa.Alu.MUL, 3, imm=8), EXIT), harden=True, seed=1)
    assert "  mul64 r3, ax" in hardened and not any("lsh" in line for line in hardened)
