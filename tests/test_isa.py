"""jit.isa decode/encode against hand-written slots (RFC 9669 layouts), both byte orders.

Slot layout: opcode, then the register byte (bpfel: src high nibble, dst low;
bpfeb: dst high, src low), off (s16) and imm (s32) in the object's byte order.
Each invalid encoding must raise IsaError naming the slot it is in.
"""
from __future__ import annotations

import pytest

from jit.errors import IsaError
from jit.isa import Insn, all_opcodes, decode, encode

EXIT_EL = bytes.fromhex("9500000000000000")
MOV_EL = bytes.fromhex("b701000005000000")             # r1 = 5


def slot(op: int, dst: int, src: int, off: int, imm: int, order: str) -> bytes:
    """One slot packed by hand, independently of jit.isa.encode."""
    regs = (src << 4 | dst) if order == "little" else (dst << 4 | src)
    return (bytes([op, regs]) + (off & 0xFFFF).to_bytes(2, order)
            + (imm & 0xFFFFFFFF).to_bytes(4, order))


ORDERS = ["little", "big"]


@pytest.mark.parametrize("order", ORDERS)
def test_decode_known_slots(order):
    data = (slot(0xB7, 1, 0, 0, 5, order)
            + slot(0xBF, 1, 2, 8, 0, order)                     # r1 = (s8)r2
            + slot(0x7B, 10, 1, -8, 0, order)                   # *(u64 *)(r10 - 8) = r1
            + slot(0x18, 3, 0, 0, 0x89ABCDEF, order) + slot(0, 0, 0, 0, 0x01234567, order)
            + slot(0xD7, 4, 0, 0, 64, order)                    # bswap64
            + slot(0x95, 0, 0, 0, 0, order))
    assert decode(data, order) == [
        Insn(0xB7, 1, 0, 0, 5), Insn(0xBF, 1, 2, 8, 0), Insn(0x7B, 10, 1, -8, 0),
        Insn(0x18, 3, 0, 0, 0x01234567_89ABCDEF), Insn(0xD7, 4, 0, 0, 64), Insn(0x95)]
    assert encode(decode(data, order), order) == data


def test_register_nibbles_swap_between_orders():
    assert decode(bytes.fromhex("bf21080000000000"), "little") == [Insn(0xBF, 1, 2, 8, 0)]
    assert decode(bytes.fromhex("bf12000800000000"), "big") == [Insn(0xBF, 1, 2, 8, 0)]


def _raises_at(data: bytes, order: str, pc: int) -> IsaError:
    with pytest.raises(IsaError) as e:
        decode(data, order)
    assert e.value.pc == pc and f"pc {pc}" in str(e.value)
    return e.value


@pytest.mark.parametrize("order", ORDERS)
def test_unknown_opcode_names_its_slot(order):
    data = (slot(0xB7, 1, 0, 0, 5, order) + slot(0xB7, 2, 0, 0, 5, order)
            + slot(0x8E, 0, 0, 0, 0, order))
    assert "unknown opcode" in _raises_at(data, order, 2).msg


@pytest.mark.parametrize("order", ORDERS)
def test_reserved_field_set_names_its_slot(order):
    # ALU64 ADD with K source but a source register: src is reserved.
    data = slot(0xB7, 1, 0, 0, 5, order) + slot(0x07, 1, 3, 0, 5, order)
    assert "reserved" in _raises_at(data, order, 1).msg


@pytest.mark.parametrize("order", ORDERS)
def test_reserved_off_on_exit_names_its_slot(order):
    data = slot(0x95, 0, 0, 1, 0, order)
    assert "reserved" in _raises_at(data, order, 0).msg


@pytest.mark.parametrize("order", ORDERS)
def test_bad_destination_register_names_its_slot(order):
    data = slot(0xB7, 1, 0, 0, 5, order) + slot(0xB7, 11, 0, 0, 5, order)
    assert "r11" in _raises_at(data, order, 1).msg


@pytest.mark.parametrize("order", ORDERS)
def test_bad_source_register_names_its_slot(order):
    data = slot(0x0F, 1, 12, 0, 0, order)
    assert "r12" in _raises_at(data, order, 0).msg


@pytest.mark.parametrize("order", ORDERS)
def test_truncated_lddw_names_its_slot(order):
    data = slot(0xB7, 1, 0, 0, 5, order) + slot(0x18, 1, 0, 0, 5, order)
    assert "truncated" in _raises_at(data, order, 1).msg


@pytest.mark.parametrize("order", ORDERS)
def test_lddw_second_slot_with_reserved_fields_names_that_slot(order):
    data = slot(0x18, 1, 0, 0, 5, order) + slot(0x95, 0, 0, 0, 0, order)
    assert "second slot" in _raises_at(data, order, 1).msg


@pytest.mark.parametrize("order", ORDERS)
def test_bad_byte_swap_width_names_its_slot(order):
    data = slot(0xDC, 1, 0, 0, 24, order)
    assert "24" in _raises_at(data, order, 0).msg


@pytest.mark.parametrize("order", ORDERS)
def test_unknown_atomic_operation_names_its_slot(order):
    data = slot(0xDB, 1, 2, 0, 0x10, order)                 # SUB is not an atomic op
    assert "atomic" in _raises_at(data, order, 0).msg


def test_length_not_a_multiple_of_eight():
    with pytest.raises(IsaError) as e:
        decode(EXIT_EL + MOV_EL[:5])
    assert e.value.pc == 1


def test_all_opcodes_is_the_rfc_9669_table():
    """The 125 opcodes of RFC 9669's instruction registry, derived class by class."""
    alu_codes = range(0x00, 0xD0, 0x10)                     # ADD .. ARSH
    expected = set()
    for cls in (0x04, 0x07):                                # ALU, ALU64
        for code in alu_codes:
            expected.add(cls | code)                        # K
            if code != 0x80:                                # NEG has no X form
                expected.add(cls | 0x08 | code)
    expected |= {0xD4, 0xDC, 0xD7}                          # le, be, bswap
    cond = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]
    for cls in (0x05, 0x06):                                # JMP, JMP32
        for code in cond:
            expected |= {cls | code, cls | 0x08 | code}
    expected |= {0x05, 0x06, 0x85, 0x95}                    # ja, gotol, call, exit
    expected |= {0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50}  # lddw, ld_abs, ld_ind
    expected |= {0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91}  # ldx mem, memsx
    expected |= {0x62, 0x6A, 0x72, 0x7A}                    # st
    expected |= {0x63, 0x6B, 0x73, 0x7B, 0xC3, 0xDB}        # stx mem, atomic
    assert len(expected) == 125
    assert set(all_opcodes()) == expected


# The decoder's per-opcode fast path must accept exactly what `check` accepts.
from hypothesis import given, settings, strategies as _st  # noqa: E402


@settings(max_examples=3000, deadline=None)
@given(_st.integers(0, 255).filter(lambda o: o != 0x18), _st.integers(0, 15), _st.integers(0, 15),
       _st.one_of(_st.sampled_from([0, 1, 8, 16, 32, 64, -1]), _st.integers(-0x8000, 0x7FFF)),
       _st.one_of(_st.sampled_from([0, 1, 16, 32, 64, 0x41, 0xE1, 0xF1, 12, -1]),
                  _st.integers(-2**31, 2**31 - 1)))
def test_decode_fast_path_agrees_with_check(op, dst, src, off, imm):
    from jit.isa import Insn, IsaError, check, decode, encode
    insn = Insn(op, dst, src, off, imm)
    try:
        check(insn)
        valid = True
    except IsaError:
        valid = False
    for order in ("little", "big"):
        try:
            got = decode(encode([insn], order), order)
            assert valid and got == [insn]
        except IsaError:
            assert not valid
