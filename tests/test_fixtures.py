"""Every fixture in tests/progs, in all three builds, run on the interpreter
over a fixed packet set, against results derived from the C sources.

The packet set (PACKETS) is built here from header fields: valid frames of
every protocol the fixtures parse, and malformed ones (truncated at each
layer, wrong ethertype, IPv4 options and fragments, a bad IHL, bad TCP
options, zero length).  Expected values come from reading each fixture's C
source: verdict tables written by hand, and for arithmetic (hashes, CRCs,
checksums, divisions) small Python models of what the C computes.  Nothing
expected is produced by the code under test.  tests/test_fixtures_kernel.py
runs the same packets through the kernel.
"""
from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

import pytest

from jit.contexts import (NET_HELPERS, NetMaps, SK_BUFF, XDP_MD, ctx_field, csum_fold, kernel_helpers,
                          prepare, run, verdict_name)
from jit.elf import load
from jit.errors import RunError, UnsupportedError

PROGS = Path(__file__).parent / "progs"
BUILD = PROGS / "build"
BUILDS = ("el3", "el4", "eb3")
ORDER = {"el3": "little", "el4": "little", "eb3": "big"}
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
TC_ACT_UNSPEC, TC_ACT_OK, TC_ACT_SHOT = -1, 0, 2

# ====================================================================== the packet set

DST_MAC = bytes.fromhex("020000000002")
SRC_MAC = bytes.fromhex("020000000001")
OTHER_MAC = bytes.fromhex("020000000099")
BROADCAST = b"\xff" * 6
ETH_P_IP, ETH_P_ARP, ETH_P_8021Q, ETH_P_8021AD, ETH_P_IPV6 = 0x0800, 0x0806, 0x8100, 0x88A8, 0x86DD
TCP, UDP, ICMP, ICMPV6, HOPOPT = 6, 17, 1, 58, 0
SYN, ACK = 0x02, 0x10


def ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ip6(last: int) -> bytes:
    """fd00::<last>"""
    return bytes.fromhex("fd00") + bytes(12) + last.to_bytes(2, "big")


def ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    return ~ones_sum(data) & 0xFFFF


def eth(ethertype: int, dst: bytes = DST_MAC, src: bytes = SRC_MAC) -> bytes:
    return dst + src + ethertype.to_bytes(2, "big")


def vlan(vid: int, inner: int) -> bytes:
    return vid.to_bytes(2, "big") + inner.to_bytes(2, "big")


def ipv4(proto: int, src: bytes, dst: bytes, payload: bytes, *, options: bytes = b"",
         frag: int = 0x4000, ttl: int = 64, ihl: int | None = None) -> bytes:
    hl = 20 + len(options)
    ihl = hl // 4 if ihl is None else ihl
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, hl + len(payload), 1, frag, ttl, proto, 0,
                    src, dst) + options
    return h[:10] + checksum(h).to_bytes(2, "big") + h[12:] + payload


def pseudo_sum(proto: int, src: bytes, dst: bytes, segment: bytes) -> int:
    """The TCP/UDP checksum of `segment` (its own checksum field zeroed) with the pseudo-header."""
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(segment))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(segment), proto)
    return checksum(pseudo + segment)


def tcp(src: bytes, dst: bytes, sport: int, dport: int, *, flags: int = SYN,
        options: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, flags, 65535, 0, 0) + options
    return seg[:16] + pseudo_sum(TCP, src, dst, seg).to_bytes(2, "big") + seg[18:]


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return seg[:6] + (pseudo_sum(UDP, src, dst, seg) or 0xFFFF).to_bytes(2, "big") + seg[8:]


def icmp(typ: int, payload: bytes) -> bytes:
    msg = struct.pack("!BBHHH", typ, 0, 0, 1, 1) + payload
    return msg[:2] + checksum(msg).to_bytes(2, "big") + msg[4:]


def icmp6(src: bytes, dst: bytes, typ: int) -> bytes:
    msg = struct.pack("!BBHHH", typ, 0, 0, 1, 1)
    return msg[:2] + pseudo_sum(ICMPV6, src, dst, msg).to_bytes(2, "big") + msg[4:]


def ipv6(nexthdr: int, src: bytes, dst: bytes, payload: bytes) -> bytes:
    return struct.pack("!IHBB", 6 << 28, len(payload), nexthdr, 64) + src + dst + payload


A, B = ip("10.0.0.1"), ip("10.0.0.2")
DNS_SERVER, VIP, CLIENT = ip("10.0.0.53"), ip("10.0.0.100"), ip("10.0.0.7")
BLOCKED = ip("192.0.2.66")
S6, D6 = ip6(1), ip6(2)


def _packets() -> dict[str, bytes]:
    p: dict[str, bytes] = {}
    p["tcp4_syn"] = eth(ETH_P_IP) + ipv4(TCP, A, B, tcp(A, B, 12345, 80,
                                                        options=bytes([2, 4, 0x05, 0xB4])))
    p["udp4_dns"] = eth(ETH_P_IP) + ipv4(UDP, A, DNS_SERVER, udp(
        A, DNS_SERVER, 5353, 53, bytes.fromhex("123401000001000000000000")))
    p["icmp4_echo"] = eth(ETH_P_IP) + ipv4(ICMP, A, B, icmp(8, b"pingpong"))
    p["tcp6"] = eth(ETH_P_IPV6) + ipv6(TCP, S6, D6, tcp(S6, D6, 40000, 443, flags=ACK))
    p["udp6"] = eth(ETH_P_IPV6) + ipv6(UDP, S6, ip6(0x53), udp(S6, ip6(0x53), 1000, 53, b"abcd"))
    p["icmp6_echo"] = eth(ETH_P_IPV6) + ipv6(ICMPV6, S6, D6, icmp6(S6, D6, 128))
    hbh = bytes([TCP, 0, 1, 4, 0, 0, 0, 0])              # next TCP, 8 bytes, PadN
    p["ipv6_hbh_tcp"] = eth(ETH_P_IPV6) + ipv6(HOPOPT, S6, D6, hbh + tcp(S6, D6, 1234, 22))
    p["vlan_udp4"] = eth(ETH_P_8021Q) + vlan(100, ETH_P_IP) + ipv4(
        UDP, A, B, udp(A, B, 7777, 9999, b"vlan!!"))
    small = eth(ETH_P_IP) + ipv4(UDP, A, B, udp(A, B, 6000, 7000, b"hi"))
    p["udp4_padded"] = small + bytes(60 - len(small))     # padded to the Ethernet minimum
    p["qinq_tcp4"] = eth(ETH_P_8021AD) + vlan(10, ETH_P_8021Q) + vlan(20, ETH_P_IP) + ipv4(
        TCP, A, B, tcp(A, B, 5555, 22))
    p["arp"] = eth(ETH_P_ARP, dst=BROADCAST) + struct.pack(
        "!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, SRC_MAC, A, bytes(6), B)
    osrc, odst = ip("192.168.1.10"), ip("172.16.0.1")
    p["ipv4_opts"] = eth(ETH_P_IP) + ipv4(TCP, osrc, odst, tcp(osrc, odst, 40001, 80, flags=ACK),
                                          options=bytes([1, 1, 1, 0]))
    p["ipv4_frag_first"] = eth(ETH_P_IP) + ipv4(UDP, A, B, udp(A, B, 4000, 53, b"fragment"),
                                                frag=0x2000)
    p["ipv4_frag_later"] = eth(ETH_P_IP) + ipv4(UDP, A, B, bytes(range(16)), frag=0x0001)
    p["blocked_src"] = eth(ETH_P_IP) + ipv4(TCP, BLOCKED, B, tcp(BLOCKED, B, 1025, 443))
    p["lb_vip"] = eth(ETH_P_IP) + ipv4(TCP, CLIENT, VIP, tcp(CLIENT, VIP, 33333, 80))
    p["bad_ethertype"] = eth(0x1234, dst=OTHER_MAC) + b"\xab" * 46
    p["trunc_eth"] = p["tcp4_syn"][:10]
    p["trunc_ip4"] = p["tcp4_syn"][:24]
    p["trunc_tcp4"] = p["tcp4_syn"][:42]
    p["empty"] = b""
    p["jumbo_udp4"] = eth(ETH_P_IP) + ipv4(UDP, A, B, udp(A, B, 1024, 2048,
                                                          bytes(i * 7 & 0xFF for i in range(200))))
    p["ipv4_ttl1"] = eth(ETH_P_IP) + ipv4(TCP, A, B, tcp(A, B, 1111, 2222), ttl=1)
    p["ipv4_bad_ihl"] = eth(ETH_P_IP) + ipv4(TCP, A, B, tcp(A, B, 3333, 4444), ihl=3)
    # a SYN whose second option claims a length of 1
    p["tcp4_badopt"] = eth(ETH_P_IP) + ipv4(TCP, A, B, tcp(A, B, 12345, 8080,
                                                          options=bytes([1, 3, 1, 0])))
    return p


PACKETS: dict[str, bytes] = _packets()
SHORT = ("trunc_eth", "empty")          # under 14 bytes: no skb can be built, test_run refuses


def test_packet_set_is_what_the_expectations_assume():
    lengths = {k: len(v) for k, v in PACKETS.items()}
    assert lengths == {
        "tcp4_syn": 58, "udp4_dns": 54, "icmp4_echo": 50, "tcp6": 74, "udp6": 66,
        "icmp6_echo": 62, "ipv6_hbh_tcp": 82, "vlan_udp4": 52, "udp4_padded": 60,
        "qinq_tcp4": 62, "arp": 42, "ipv4_opts": 58, "ipv4_frag_first": 50,
        "ipv4_frag_later": 50, "blocked_src": 54, "lb_vip": 54, "bad_ethertype": 60,
        "trunc_eth": 10, "trunc_ip4": 24, "trunc_tcp4": 42, "empty": 0, "jumbo_udp4": 242,
        "ipv4_ttl1": 54, "ipv4_bad_ihl": 54, "tcp4_badopt": 58}
    # the IPv4 header checksums are valid (a header summing to 0xffff)
    assert ones_sum(PACKETS["tcp4_syn"][14:34]) == 0xFFFF
    assert ones_sum(PACKETS["ipv4_opts"][14:38]) == 0xFFFF


# ====================================================================== running fixtures

@functools.lru_cache(maxsize=None)
def obj(name: str, build: str):
    return load(BUILD / f"{name}.{build}.o")


@functools.lru_cache(maxsize=None)
def symbols(name: str) -> dict[str, tuple[str, int, int]]:
    """Global variables of a fixture: name -> (section, offset, size), read with
    pyelftools straight from the ELF symbol table (not through jit.elf)."""
    from elftools.elf.elffile import ELFFile
    out = {}
    with open(BUILD / f"{name}.el3.o", "rb") as f:
        e = ELFFile(f)
        for s in e.get_section_by_name(".symtab").iter_symbols():
            if s["st_info"]["type"] == "STT_OBJECT" and isinstance(s["st_shndx"], int):
                sec = e.get_section(s["st_shndx"]).name
                out[s.name] = (sec, s["st_value"], s["st_size"])
    return out


def run_fixture(name: str, build: str, packet: str | bytes, *, prog: str | None = None,
                seeds=None, ctx=None):
    o = obj(name, build)
    p = o.program(prog) if prog else o.programs[0]
    frame = PACKETS[packet] if isinstance(packet, str) else packet
    out = run(prepare(o, p, packet=frame, map_seeds=seeds, ctx=ctx))
    assert out.fault is None, out.fault
    return o, out


def var(name: str, o, out, symbol: str) -> bytes:
    """The bytes of a global variable after a run."""
    sec, off, size = symbols(name)[symbol]
    m = next(m for m in o.maps if m.section == sec)
    value = dict(out.maps[m.name]).get(bytes(4), bytes(m.value_size))
    return value[off:off + size]


def u(data: bytes, build: str, signed: bool = False) -> int:
    return int.from_bytes(data, ORDER[build], signed=signed)


def entries(out, mapname: str) -> dict[bytes, bytes]:
    return dict(out.maps[mapname])


def host(v: int, size: int, build: str) -> bytes:
    return (v & ((1 << (8 * size)) - 1)).to_bytes(size, ORDER[build])


ALL = [(b, p) for b in BUILDS for p in PACKETS]


def ids(params):
    return [f"{b}-{p}" for b, p in params]


# ====================================================================== xdp_parse

PARSE = {   # packet -> (verdict, (l3_proto, l4_proto, vlans, sport, dport, l4_off, flags, ip_len))
    "tcp4_syn": (XDP_PASS, (0x0800, 6, 0, 12345, 80, 34, 0, 44)),
    "udp4_dns": (XDP_PASS, (0x0800, 17, 0, 5353, 53, 34, 0, 40)),
    "icmp4_echo": (XDP_PASS, (0x0800, 1, 0, 8, 0, 34, 0, 36)),
    "tcp6": (XDP_PASS, (0x86DD, 6, 0, 40000, 443, 54, 0, 60)),
    "udp6": (XDP_PASS, (0x86DD, 17, 0, 1000, 53, 54, 0, 52)),
    "icmp6_echo": (XDP_PASS, (0x86DD, 58, 0, 128, 0, 54, 0, 48)),
    "ipv6_hbh_tcp": (XDP_PASS, (0x86DD, 6, 0, 1234, 22, 62, 4, 68)),
    "vlan_udp4": (XDP_PASS, (0x0800, 17, 1, 7777, 9999, 38, 0, 34)),
    "udp4_padded": (XDP_PASS, (0x0800, 17, 0, 6000, 7000, 34, 0, 30)),
    "qinq_tcp4": (XDP_PASS, (0x0800, 6, 2, 5555, 22, 42, 0, 40)),
    "arp": (XDP_PASS, (0x0806, 0, 0, 0, 0, 0, 0, 0)),
    "ipv4_opts": (XDP_PASS, (0x0800, 6, 0, 40001, 80, 38, 2, 44)),
    "ipv4_frag_first": (XDP_PASS, (0x0800, 17, 0, 4000, 53, 34, 8, 36)),
    "ipv4_frag_later": (XDP_PASS, (0x0800, 17, 0, 0, 0, 0, 1, 36)),
    "blocked_src": (XDP_PASS, (0x0800, 6, 0, 1025, 443, 34, 0, 40)),
    "lb_vip": (XDP_PASS, (0x0800, 6, 0, 33333, 80, 34, 0, 40)),
    "bad_ethertype": (XDP_PASS, (0x1234, 0, 0, 0, 0, 0, 0, 0)),
    "trunc_eth": (XDP_DROP, None),
    "trunc_ip4": (XDP_DROP, None),
    "trunc_tcp4": (XDP_DROP, None),
    "empty": (XDP_DROP, None),
    "jumbo_udp4": (XDP_PASS, (0x0800, 17, 0, 1024, 2048, 34, 0, 228)),
    "ipv4_ttl1": (XDP_PASS, (0x0800, 6, 0, 1111, 2222, 34, 0, 40)),
    "ipv4_bad_ihl": (XDP_DROP, None),
    "tcp4_badopt": (XDP_PASS, (0x0800, 6, 0, 12345, 8080, 34, 0, 44)),
}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_xdp_parse(build, packet):
    o, out = run_fixture("xdp_parse", build, packet)
    verdict, fields = PARSE[packet]
    assert out.r0 == verdict
    pfx = "<" if ORDER[build] == "little" else ">"
    got = struct.unpack(pfx + "HBBHHHHI", var("xdp_parse", o, out, "last"))
    assert got == (fields or (0,) * 8)
    assert u(var("xdp_parse", o, out, "packets_seen"), build) == 1


# ====================================================================== xdp_firewall

FIREWALL = {    # packet -> (verdict, verdicts index counted or None, blocked map hit or None)
    "tcp4_syn": (XDP_PASS, 0, None), "udp4_dns": (XDP_DROP, 2, ("port", 53)),
    "icmp4_echo": (XDP_PASS, 0, None), "tcp6": (XDP_PASS, None, None),
    "udp6": (XDP_PASS, None, None), "icmp6_echo": (XDP_PASS, None, None),
    "ipv6_hbh_tcp": (XDP_PASS, None, None), "vlan_udp4": (XDP_PASS, None, None),
    "udp4_padded": (XDP_PASS, 0, None), "qinq_tcp4": (XDP_PASS, None, None),
    "arp": (XDP_PASS, None, None), "ipv4_opts": (XDP_PASS, 0, None),
    "ipv4_frag_first": (XDP_DROP, 2, ("port", 53)), "ipv4_frag_later": (XDP_PASS, 0, None),
    "blocked_src": (XDP_DROP, 1, ("src", BLOCKED)), "lb_vip": (XDP_PASS, 0, None),
    "bad_ethertype": (XDP_PASS, None, None), "trunc_eth": (XDP_DROP, 3, None),
    "trunc_ip4": (XDP_DROP, 3, None), "trunc_tcp4": (XDP_PASS, 0, None),
    "empty": (XDP_DROP, 3, None), "jumbo_udp4": (XDP_PASS, 0, None),
    "ipv4_ttl1": (XDP_PASS, 0, None), "ipv4_bad_ihl": (XDP_DROP, 3, None),
    "tcp4_badopt": (XDP_PASS, 0, None),
}


def firewall_seeds(build: str) -> dict:
    return {"blocked_src": [(BLOCKED, bytes(8))],
            "blocked_ports": [(host(53, 2, build), bytes(8)), (host(23, 2, build), bytes(8))]}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_xdp_firewall(build, packet):
    o, out = run_fixture("xdp_firewall", build, packet, seeds=firewall_seeds(build))
    verdict, counted, hit = FIREWALL[packet]
    assert out.r0 == verdict
    want = {} if counted is None else {host(counted, 4, build): host(1, 8, build)}
    assert entries(out, "verdicts") == want
    src = {BLOCKED: host(1 if hit == ("src", BLOCKED) else 0, 8, build)}
    ports = {host(53, 2, build): host(1 if hit == ("port", 53) else 0, 8, build),
             host(23, 2, build): host(0, 8, build)}
    assert entries(out, "blocked_src") == src
    assert entries(out, "blocked_ports") == ports


# ====================================================================== xdp_counters

COUNTER_INDEX = {   # 0 not IP, 1 TCP, 2 UDP, 3 ICMP/ICMPv6, 4 other IP protocol
    "tcp4_syn": 1, "udp4_dns": 2, "icmp4_echo": 3, "tcp6": 1, "udp6": 2, "icmp6_echo": 3,
    "ipv6_hbh_tcp": 4, "vlan_udp4": 0, "udp4_padded": 2, "qinq_tcp4": 0, "arp": 0,
    "ipv4_opts": 1, "ipv4_frag_first": 2, "ipv4_frag_later": 2, "blocked_src": 1, "lb_vip": 1,
    "bad_ethertype": 0, "trunc_eth": 0, "trunc_ip4": 0, "trunc_tcp4": 1, "empty": 0,
    "jumbo_udp4": 2, "ipv4_ttl1": 1, "ipv4_bad_ihl": 1, "tcp4_badopt": 1,
}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_xdp_counters(build, packet):
    o, out = run_fixture("xdp_counters", build, packet)
    assert out.r0 == XDP_PASS
    value = host(1, 8, build) + host(len(PACKETS[packet]), 8, build)
    assert entries(out, "proto_stats") == {host(COUNTER_INDEX[packet], 4, build): value}


# ====================================================================== xdp_lb

BACKENDS = [(ip(f"10.1.0.{i}"), bytes.fromhex(f"02000000010{i}")) for i in range(1, 5)]


def lb_seeds(build: str) -> dict:
    return {"backends": [(host(i, 4, build), addr + mac + host(1, 2, build))
                         for i, (addr, mac) in enumerate(BACKENDS)]}


def lb_pick(saddr: bytes, sport: int) -> int:
    """pick(): multiplicative hash of the client address and port, modulo 4."""
    h = int.from_bytes(saddr, "big") * 0x9E3779B1 & M32
    h ^= sport
    h ^= h >> 16
    return h % 4


def lb_rewrite(frame: bytes) -> tuple[bytes, int]:
    """The frame xdp_lb sends back, its checksums recomputed from scratch."""
    idx = lb_pick(frame[26:30], int.from_bytes(frame[34:36], "big"))
    addr, mac = BACKENDS[idx]
    iph = bytearray(frame[14:34])
    iph[16:20] = addr
    iph[10:12] = b"\0\0"
    iph[10:12] = checksum(bytes(iph)).to_bytes(2, "big")
    seg = bytearray(frame[34:])
    seg[16:18] = b"\0\0"
    seg[16:18] = pseudo_sum(TCP, bytes(iph[12:16]), addr, bytes(seg)).to_bytes(2, "big")
    return mac + frame[0:6] + frame[12:14] + bytes(iph) + bytes(seg), idx


LB_DROP = {"trunc_eth", "trunc_ip4", "empty", "ipv4_bad_ihl"}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_xdp_lb(build, packet):
    o, out = run_fixture("xdp_lb", build, packet, seeds=lb_seeds(build))
    frame = PACKETS[packet]
    if packet == "lb_vip":
        want, idx = lb_rewrite(frame)
        assert out.r0 == XDP_TX
        assert out.packet == want
        assert entries(out, "lb_stats") == {host(idx, 4, build): host(1, 8, build)}
    else:
        assert out.r0 == (XDP_DROP if packet in LB_DROP else XDP_PASS)
        assert out.packet == frame
        assert entries(out, "lb_stats") == {}


def test_xdp_lb_spreads_clients_over_backends():
    """Regression guard for the hash: different client ports reach different backends."""
    seen = set()
    for sport in range(40000, 40040):
        frame = eth(ETH_P_IP) + ipv4(TCP, CLIENT, VIP, tcp(CLIENT, VIP, sport, 80))
        o, out = run_fixture("xdp_lb", "el3", frame, seeds=lb_seeds("el3"))
        want, idx = lb_rewrite(frame)
        assert out.packet == want
        seen.add(idx)
    assert seen == {0, 1, 2, 3}


# ====================================================================== tc_nat (sched_cls)

def nat_expected(frame: bytes) -> bytes:
    """udp to port 53 -> 127.0.0.53:5353, checksums by RFC 1624 incremental update
    (a first fragment does not hold the whole datagram to recompute from)."""
    new_ip, new_port = ip("127.0.0.53"), (5353).to_bytes(2, "big")
    iph = bytearray(frame[14:34])
    l4 = bytearray(frame[34:])
    old_ip, old_port = bytes(iph[16:20]), bytes(l4[2:4])

    def update(check: bytes, old: bytes, new: bytes) -> bytes:
        words = [~int.from_bytes(old[i:i + 2], "big") & 0xFFFF for i in range(0, len(old), 2)]
        words += [int.from_bytes(new[i:i + 2], "big") for i in range(0, len(new), 2)]
        s = ~int.from_bytes(check, "big") & 0xFFFF
        for w in words:
            s += w
            s = (s & 0xFFFF) + (s >> 16)
        return (~s & 0xFFFF).to_bytes(2, "big")

    iph[10:12] = update(bytes(iph[10:12]), old_ip, new_ip)
    iph[16:20] = new_ip
    l4[6:8] = update(update(bytes(l4[6:8]), old_ip, new_ip), old_port, new_port)
    l4[2:4] = new_port
    return frame[:14] + bytes(iph) + bytes(l4)


NAT_OK = {"udp4_dns", "ipv4_frag_first"}
NAT_SHOT = {"trunc_ip4"}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_tc_nat(build, packet):
    o = obj("tc_nat", build)
    if packet in SHORT:
        with pytest.raises(RunError, match="Ethernet header"):
            prepare(o, o.programs[0], packet=PACKETS[packet])
        return
    o, out = run_fixture("tc_nat", build, packet)
    frame = PACKETS[packet]
    mark = ctx_field(out.ctx, "sched_cls", "mark", ORDER[build])
    if packet in NAT_OK:
        assert out.r0 == TC_ACT_OK and out.verdict == "TC_ACT_OK"
        assert out.packet == nat_expected(frame)
        assert mark == 0x53
        assert u(var("tc_nat", o, out, "rewritten"), build) == 1
    else:
        want = TC_ACT_SHOT if packet in NAT_SHOT else TC_ACT_UNSPEC
        assert out.retval == want & M32               # an int return: w0 = -1 is 0xffffffff
        assert out.packet == frame
        assert mark == 0


def test_tc_nat_full_checksums_agree_with_incremental():
    """For a whole datagram the rewritten checksums are the ones recomputed from scratch."""
    o, out = run_fixture("tc_nat", "el3", "udp4_dns")
    f = out.packet
    assert ones_sum(f[14:34]) == 0xFFFF
    seg = f[34:]
    assert pseudo_sum(UDP, f[26:30], f[30:34], seg[:6] + b"\0\0" + seg[8:]) == \
        int.from_bytes(seg[6:8], "big")


# ====================================================================== socket filters

SNAPLEN = {   # packet -> bytes kept (skb->len is the frame minus its Ethernet header)
    "tcp4_syn": 44, "udp4_dns": 40, "icmp4_echo": 0, "tcp6": 60, "udp6": 52, "icmp6_echo": 48,
    "ipv6_hbh_tcp": 68, "vlan_udp4": 0, "udp4_padded": 42, "qinq_tcp4": 0, "arp": 0,
    "ipv4_opts": 44, "ipv4_frag_first": 36, "ipv4_frag_later": 36, "blocked_src": 40,
    "lb_vip": 40, "bad_ethertype": 0, "trunc_ip4": 0, "trunc_tcp4": 28, "jumbo_udp4": 42,
    "ipv4_ttl1": 40, "ipv4_bad_ihl": 40, "tcp4_badopt": 44,
}
# packets whose path ends in keep(): kept_bytes counts them (ICMP, non-IP and the
# LD_IND that falls off trunc_ip4 return without it)
SNAPLEN_NO_KEEP = {"icmp4_echo", "vlan_udp4", "qinq_tcp4", "arp", "bad_ethertype", "trunc_ip4"}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_socket_filter(build, packet):
    if packet in SHORT:
        o = obj("socket_filter", build)
        with pytest.raises(RunError, match="Ethernet header"):
            prepare(o, o.programs[0], packet=PACKETS[packet])
        return
    o, out = run_fixture("socket_filter", build, packet)
    assert out.r0 == SNAPLEN[packet]
    # test_run hands back the frame with the MAC header it pulled, zeroed
    assert out.packet == bytes(14) + PACKETS[packet][14:]
    kept = {} if packet in SNAPLEN_NO_KEEP or not SNAPLEN[packet] else \
        {bytes(4): host(SNAPLEN[packet], 8, build)}
    assert entries(out, "kept_bytes") == kept


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_legacy_maps(build, packet):
    if packet in SHORT:
        return
    o, out = run_fixture("legacy_maps", build, packet)
    frame = PACKETS[packet]
    length = len(frame) - 14
    protocol = int.from_bytes(frame[12:14], ORDER[build])     # __be16 as the host reads it
    assert out.r0 == (0 if length < 20 else length)
    assert entries(out, "counts") == {host(protocol & 7, 4, build): host(1, 8, build)}
    assert entries(out, "bytes") == ({bytes(4): host(length, 8, build)} if length else {})


# ====================================================================== calls_deep

def rol32(v: int, n: int) -> int:
    return (v << (n & 31) | v >> ((32 - n) & 31)) & M32


def mix(a: int, b: int, c: int) -> int:
    h = 5381
    for w in (a, b, c, a ^ b ^ c):
        h = (rol32(h, 5) + h + w) & M32
    return h


def flow_of(frame: bytes):
    """frame_flow(): XDP_DROP/XDP_PASS, or the flow hash."""
    if len(frame) < 14:
        return XDP_DROP
    if frame[0] & 1 or frame[12:14] != b"\x08\x00":
        return XDP_PASS
    if len(frame) < 34 or frame[14] & 0xF < 5:
        return XDP_DROP
    saddr, daddr = int.from_bytes(frame[26:30], "big"), int.from_bytes(frame[30:34], "big")
    ports = 0
    frag = int.from_bytes(frame[20:22], "big") & 0x1FFF
    if not frag and frame[23] in (TCP, UDP):
        l4 = 14 + (frame[14] & 0xF) * 4
        if l4 + 4 > len(frame):
            return XDP_DROP
        ports = int.from_bytes(frame[l4:l4 + 2], "big") << 16 | int.from_bytes(frame[l4 + 2:l4 + 4], "big")
    return ("flow", mix(saddr, daddr, ports))


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_calls_deep_xdp(build, packet):
    o, out = run_fixture("calls_deep", build, packet, prog="xdp_calls")
    want = flow_of(PACKETS[packet])
    if isinstance(want, tuple):
        assert out.r0 == XDP_PASS
        assert u(var("calls_deep", o, out, "last_flow"), build) == want[1]
        assert u(var("calls_deep", o, out, "flows"), build) == 1
    else:
        assert out.r0 == want
        assert u(var("calls_deep", o, out, "flows"), build) == 0


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_calls_deep_tc(build, packet):
    if packet in SHORT:
        return
    o, out = run_fixture("calls_deep", build, packet, prog="tc_calls")
    frame = PACKETS[packet]
    protocol = int.from_bytes(frame[12:14], ORDER[build])
    h = mix(len(frame), protocol, 1)                 # ifindex 1: the loopback device
    assert out.r0 == (TC_ACT_OK if h & 1 else TC_ACT_SHOT)


# ====================================================================== tail_calls

TAIL = {    # packet -> (verdict, hits index or None)
    "tcp4_syn": (XDP_PASS, 1), "udp4_dns": (XDP_PASS, 1), "icmp4_echo": (XDP_PASS, 1),
    "tcp6": (XDP_PASS, 2), "udp6": (XDP_PASS, 2), "icmp6_echo": (XDP_TX, 2),
    "ipv6_hbh_tcp": (XDP_PASS, 2), "vlan_udp4": (XDP_PASS, 0), "udp4_padded": (XDP_PASS, 1),
    "qinq_tcp4": (XDP_PASS, 0), "arp": (XDP_PASS, 0), "ipv4_opts": (XDP_PASS, 1),
    "ipv4_frag_first": (XDP_PASS, 1), "ipv4_frag_later": (XDP_PASS, 1),
    "blocked_src": (XDP_PASS, 1), "lb_vip": (XDP_PASS, 1), "bad_ethertype": (XDP_PASS, 0),
    "trunc_eth": (XDP_DROP, None), "trunc_ip4": (XDP_DROP, 1), "trunc_tcp4": (XDP_PASS, 1),
    "empty": (XDP_DROP, None), "jumbo_udp4": (XDP_PASS, 1), "ipv4_ttl1": (XDP_DROP, 1),
    "ipv4_bad_ihl": (XDP_PASS, 1), "tcp4_badopt": (XDP_PASS, 1),
}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_tail_calls(build, packet):
    o, out = run_fixture("tail_calls", build, packet, prog="dispatch")
    verdict, counted = TAIL[packet]
    assert out.r0 == verdict
    hits = [u(var("tail_calls", o, out, "hits")[8 * i:8 * i + 8], build) for i in range(3)]
    assert hits == [int(i == counted) for i in range(3)]
    tail_calls = [c for c in out.helper_calls if c[1] == "tail_call"]
    assert len(tail_calls) == (0 if counted is None else 1)


# ====================================================================== global_data

def global_data_class(frame: bytes) -> int:
    if len(frame) < 60:
        return 0
    return {b"\x08\x00": 1, b"\x86\xdd": 2}.get(frame[12:14], 3)


LABELS = {0: b"runt frame!\0", 1: b"IPv4 packet\0", 2: b"IPv6 packet\0", 3: b"not IP, eh?\0"}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_global_data(build, packet):
    o, out = run_fixture("global_data", build, packet)
    frame = PACKETS[packet]
    cls = global_data_class(frame)
    if cls == 0:
        assert out.r0 == XDP_DROP
    else:
        assert out.r0 == (XDP_TX if frame[:6] == DST_MAC else XDP_PASS)
    g = functools.partial(var, "global_data", o, out)
    assert u(g("packets"), build) == 101                 # .data starts it at 100
    assert u(g("bytes_seen"), build) == len(frame)
    assert u(g("last_class"), build) == b"siio"[cls]     # class_names[cls][0]
    hist = [u(g("histogram")[4 * i:4 * i + 4], build) for i in range(8)]
    assert hist == [int(i == min(len(frame) // 32, 7)) for i in range(8)]
    assert entries(out, "labels") == {host(cls, 4, build): LABELS[cls]}
    # the read-only data is untouched
    assert u(g("min_len"), build) == 60 and g("my_mac") == DST_MAC


# ====================================================================== loops

def loops_expected(frame: bytes):
    scan = frame[:64]
    s, zeros = sum(scan), scan.count(0)
    mss, aborted = 0, False
    if len(frame) >= 34 and frame[12:14] == b"\x08\x00" and frame[23] == TCP and frame[14] == 0x45 \
            and len(frame) >= 54 and frame[47] & SYN:
        opt, end = 54, 34 + (frame[46] >> 4) * 4
        for _ in range(8):
            if opt + 1 > len(frame) or opt >= end or frame[opt] == 0:
                break
            if frame[opt] == 1:
                opt += 1
                continue
            if opt + 2 > len(frame):
                break
            length = frame[opt + 1]
            if length < 2:
                aborted = True
                break
            if frame[opt] == 2 and length == 4:
                mss = int.from_bytes(frame[opt + 2:opt + 4], "big") if opt + 4 <= len(frame) else 0
                break
            opt += length
    verdict = XDP_ABORTED if aborted else (XDP_DROP if s & 1 else XDP_PASS)
    return verdict, s, zeros, mss


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_loops(build, packet):
    o, out = run_fixture("loops", build, packet)
    verdict, s, zeros, mss = loops_expected(PACKETS[packet])
    assert out.r0 == verdict
    g = functools.partial(var, "loops", o, out)
    assert (u(g("byte_sum"), build), u(g("zero_bytes"), build), u(g("mss"), build)) == (s, zeros, mss)


def test_loops_finds_the_mss_and_rejects_bad_options():
    assert loops_expected(PACKETS["tcp4_syn"])[3] == 1460
    assert loops_expected(PACKETS["tcp4_badopt"])[0] == XDP_ABORTED


# ====================================================================== alu32_hash

def fmix32(h: int) -> int:
    h ^= h >> 16
    h = h * 0x85EBCA6B & M32
    h ^= h >> 13
    h = h * 0xC2B2AE35 & M32
    return h ^ h >> 16


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_alu32_hash(build, packet):
    o, out = run_fixture("alu32_hash", build, packet)
    frame = PACKETS[packet]
    h = 2166136261
    for byte in frame[:32]:
        h = (h ^ byte) * 16777619 & M32
    h = fmix32(h ^ len(frame))
    b = (rol32(h, 13) * 16) >> 32
    assert out.r0 == (XDP_DROP if b & 1 else XDP_PASS)
    g = functools.partial(var, "alu32_hash", o, out)
    assert u(g("hash"), build) == h and u(g("bucket"), build) == b
    assert [u(g("buckets")[4 * i:4 * i + 4], build) for i in range(16)] == \
        [int(i == b) for i in range(16)]


# ====================================================================== sdiv

def cdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def cmod(a: int, b: int) -> int:
    return a - b * cdiv(a, b)


def s8(v: int) -> int:
    return v - 256 if v >= 128 else v


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_sdiv(build, packet):
    o, out = run_fixture("sdiv", build, packet)
    f = PACKETS[packet]
    res = [u(var("sdiv", o, out, "res")[8 * i:8 * i + 8], build, signed=True) for i in range(8)]
    if len(f) < 18:
        assert out.r0 == XDP_DROP and res == [0] * 8
        return
    a64 = int.from_bytes(f[14:18], "big", signed=True)
    b64 = s8(f[-1]) or -7
    a32 = int.from_bytes(f[12:14], "big", signed=True)
    b32 = s8(f[15]) or -3
    assert res == [cdiv(a64, b64), cmod(a64, b64), cdiv(a32, b32), cmod(a32, b32),
                   cdiv(a64, -3), cmod(a64, -3), cdiv(a32, 7), cmod(a32, 7)]
    assert out.r0 == (XDP_PASS if cdiv(a32, b32) >= 0 else XDP_TX)


def test_sdiv_covers_both_signs():
    signs = {(int.from_bytes(f[12:14], "big", signed=True) < 0) for f in PACKETS.values() if len(f) >= 18}
    assert signs == {True, False}


# ====================================================================== bswap

@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_bswap(build, packet):
    o, out = run_fixture("bswap", build, packet)
    f = PACKETS[packet]
    raw = var("bswap", o, out, "out")
    if len(f) < 22:
        assert out.r0 == XDP_DROP and raw == bytes(32)
        return
    order = ORDER[build]
    other = "big" if order == "little" else "little"
    h16, h32, h64 = f[12:14], f[14:18], f[14:22]
    pfx = "<" if order == "little" else ">"
    got = struct.unpack(pfx + "HHIIIQQ", raw)
    assert got == (int.from_bytes(h16, "big"),            # ntohs
                   int.from_bytes(h16, other),             # bswap16 of the host load
                   int.from_bytes(h32, "big"),             # ntohl
                   int.from_bytes(h32, other),             # bswap32
                   int.from_bytes(h32, "little"),          # le32 -> host
                   int.from_bytes(h64, "big"),             # be64 -> host
                   int.from_bytes(h64, other))             # bswap64
    assert out.r0 == XDP_PASS


# ====================================================================== crc32

@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_crc32(build, packet):
    o, out = run_fixture("crc32", build, packet)
    f = PACKETS[packet]
    crc = zlib.crc32(f[:96])
    assert u(var("crc32", o, out, "crc"), build) == crc
    assert u(var("crc32", o, out, "covered"), build) == min(len(f), 96)
    assert out.r0 == (XDP_DROP if crc & 3 == 3 else XDP_PASS)


# ====================================================================== atomics

ATOM_FIELDS = ("add64 add64_f or64 and64 xor64 xchg64 cas64 fetched old_xchg old_cas "
               "add32 or32 and32 xor32 xchg32 cas32 old_or32 old_and32 old_xor32 old_cas32").split()
ATOM_INITIAL = dict(add64=1000, add64_f=5, or64=0x100, and64=0xFF, xor64=0x5555, xchg64=77,
                    cas64=0, add32=10, or32=0x8000_0000, and32=M32, xor32=0x0F0F_0F0F,
                    xchg32=9, cas32=7)


def atoms_pack(values: dict, build: str) -> bytes:
    pfx = "<" if ORDER[build] == "little" else ">"
    return struct.pack(pfx + "10Q10I", *(values.get(k, 0) for k in ATOM_FIELDS))


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_atomics(build, packet):
    seeds = {"atoms": [(bytes(4), atoms_pack(ATOM_INITIAL, build))]}
    o, out = run_fixture("atomics", build, packet, seeds=seeds)
    n = len(PACKETS[packet])
    want = dict(add64=1000 + n, add64_f=8, fetched=5, or64=0x100 | 1 << (n & 63),
                and64=0xFF & ~(1 << (n & 7)), xor64=0x5555 ^ n * 0x0101, xchg64=n, old_xchg=77,
                cas64=n, old_cas=0, add32=10 + n, or32=0x8000_0000 | 1 << (n & 31),
                old_or32=0x8000_0000, and32=0xFFFF00FF, old_and32=M32,
                xor32=0x0F0F_0F0F ^ (n << 8 & M32), old_xor32=0x0F0F_0F0F, xchg32=n + 1,
                cas32=n, old_cas32=7)
    assert out.r0 == XDP_PASS
    assert entries(out, "atoms") == {bytes(4): atoms_pack(want, build)}


# ====================================================================== bpf_loop

@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_bpf_loop(build, packet):
    seeds = {"weights": [(host(i, 4, build), host(w, 8, build)) for i, w in enumerate([5, 7, 0, 9])]}
    o, out = run_fixture("bpf_loop", build, packet, seeds=seeds)
    f = PACKETS[packet]
    n = min(len(f), 48)
    g = functools.partial(var, "bpf_loop", o, out)
    assert u(g("loop_result"), build) == sum(i * b for i, b in enumerate(f[:n]))
    assert u(g("loop_calls"), build) == n
    # weights 5, 7, then 0 stops the walk: three elements visited
    assert (u(g("map_total"), build), u(g("map_visited"), build)) == (12, 3)
    assert out.r0 == XDP_PASS
    names = [c[1] for c in out.helper_calls]
    assert names.count("loop") == 1 and names.count("for_each_map_elem") == 1
    assert names.count("xdp_load_bytes") == n


# ====================================================================== xdp_adjust

def adjust_expected(frame: bytes, build: str):
    """(verdict, data_out, orig_len, meta_seen, new_len)"""
    n = len(frame)
    if n < 14:
        return XDP_DROP, frame, n, 0, 0
    if frame[12:14] == b"\x81\x00":
        frame = frame[:12] + frame[16:]
    if frame[12:14] == b"\x08\x00":
        if len(frame) < 34:
            return XDP_DROP, PACKETS_BY_FRAME[frame], n, 0, 0
        excess = len(frame) - 14 - int.from_bytes(frame[16:18], "big")
        if 0 < excess < 256:
            frame = frame[:len(frame) - excess]
    return XDP_PASS, host(n, 4, build) + frame, n, n, len(frame)


PACKETS_BY_FRAME = {v: v for v in PACKETS.values()}


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_xdp_adjust(build, packet):
    o, out = run_fixture("xdp_adjust", build, packet)
    verdict, data_out, orig, seen, new = adjust_expected(PACKETS[packet], build)
    assert out.r0 == verdict
    assert out.packet == data_out
    g = functools.partial(var, "xdp_adjust", o, out)
    assert (u(g("orig_len"), build), u(g("meta_seen"), build), u(g("new_len"), build)) == \
        (orig, seen, new)


def test_xdp_adjust_pops_the_vlan_tag_and_trims_padding():
    verdict, data_out, *_ = adjust_expected(PACKETS["vlan_udp4"], "el3")
    assert data_out[4:] == PACKETS["vlan_udp4"][:12] + PACKETS["vlan_udp4"][16:]
    verdict, data_out, *_ = adjust_expected(PACKETS["udp4_padded"], "el3")
    assert len(data_out) == 4 + 44


# ====================================================================== map_types

ROUTES = [((8, ip("10.0.0.0")), (1, XDP_PASS)), ((24, ip("10.0.0.0")), (2, XDP_TX)),
          ((32, ip("10.0.0.100")), (3, XDP_PASS)), ((16, ip("192.168.0.0")), (4, XDP_DROP))]


def route_seeds(build: str) -> dict:
    return {"routes": [(host(plen, 4, build) + addr, host(rid, 4, build) + host(act, 4, build))
                       for (plen, addr), (rid, act) in ROUTES],
            "recent": [(b"", host(7, 4, build))],
            "history": [(b"", host(9, 4, build))]}


def route_of(daddr: bytes) -> tuple[int, int]:
    best = None
    d = int.from_bytes(daddr, "big")
    for (plen, addr), (rid, act) in ROUTES:
        mask = (M32 << (32 - plen)) & M32
        if d & mask == int.from_bytes(addr, "big") and (best is None or plen > best[0]):
            best = (plen, rid, act)
    return (best[1], best[2]) if best else (0xFFFF, XDP_DROP)


@pytest.mark.parametrize("build,packet", ALL, ids=ids(ALL))
def test_map_types(build, packet):
    o, out = run_fixture("map_types", build, packet, seeds=route_seeds(build))
    f = PACKETS[packet]
    k = functools.partial(host, size=4, build=build)
    if len(f) < 34 or f[12:14] != b"\x08\x00":
        assert out.r0 == XDP_PASS
        assert entries(out, "recent") == {k(0): k(7)}
        assert entries(out, "history") == {k(0): k(9)}
        assert entries(out, "events") == {}
        assert u(var("map_types", o, out, "popped"), build) == 0
        return
    rid, action = route_of(f[30:34])
    assert out.r0 == action
    assert entries(out, "recent") == {k(0): k(rid)}          # 7 was popped
    assert u(var("map_types", o, out, "popped"), build) == 7
    assert out.maps["history"] == [(k(0), k(9)), (k(1), k(rid))]
    event = k(rid) + k(len(f)) + bytes([f[23]]) + bytes(7)
    assert entries(out, "events") == {k(0): event}


def test_map_types_routes_cover_every_outcome():
    got = {route_of(PACKETS[p][30:34]) for p in ("tcp4_syn", "lb_vip", "ipv4_opts", "udp4_dns")}
    assert got == {(2, XDP_TX), (3, XDP_PASS), (0xFFFF, XDP_DROP)}


# ====================================================================== tracing programs

@pytest.mark.parametrize("build", BUILDS)
def test_tracing_programs(build):
    o = obj("tracing", build)
    assert [(p.name, p.prog_type) for p in o.programs] == [
        ("open_probe", "kprobe"), ("tp_openat", "tracepoint"), ("raw_sys", "raw_tracepoint")]
    out = run(prepare(o, o.program("open_probe")))
    assert out.fault is None and out.r0 == 0
    pid = 4242                                        # jit.helpers.Env's current task
    k = functools.partial(host, build=build)
    assert entries(out, "calls") == {k(pid, 4): k(1, 8)}
    (key, event), = out.maps["events"]
    # regs[0] is 0: probe_read_kernel faults, so the event is marked truncated
    assert u(event[0:4], build, signed=True) == 1 and u(event[4:8], build) == pid
    bits = u(event[8:12], build)
    truncated = (bits >> 1 & 1) if ORDER[build] == "little" else (bits >> 30 & 1)
    assert truncated == 1
    assert any(c[1] == "probe_read_kernel" for c in out.helper_calls)

    out = run(prepare(o, o.program("tp_openat")))
    assert out.r0 == 0 and u(var("tracing", o, out, "tp_hits"), build) == 1
    args = k(0, 8) + k(257, 8)                        # raw_tp args: (regs, id) with id odd
    out = run(prepare(o, o.program("raw_sys"), ctx=args))
    assert out.r0 == 1


# ====================================================================== contexts, helpers, maps

def test_sk_buff_offsets_match_the_kernel_uapi(tmp_path):
    """Our __sk_buff/xdp_md tables against the installed uapi header, through clang."""
    import shutil
    import subprocess
    clang = shutil.which("clang-19") or shutil.which("clang")
    if clang is None or not Path("/usr/include/linux/bpf.h").exists():
        pytest.skip("needs clang and /usr/include/linux/bpf.h")
    checks = [f"_Static_assert(__builtin_offsetof(struct __sk_buff, {n}) == {off}, \"{n}\");"
              for n, (off, _) in SK_BUFF.items()]
    checks += [f"_Static_assert(__builtin_offsetof(struct xdp_md, {n}) == {off}, \"{n}\");"
               for n, off in XDP_MD.items()]
    checks.append("_Static_assert(sizeof(struct __sk_buff) == 192, \"size\");")
    src = tmp_path / "offsets.c"
    src.write_text("#include <linux/bpf.h>\n" + "\n".join(checks) + "\n")
    r = subprocess.run([clang, "-fsyntax-only", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_helper_ids_match_the_kernel_uapi():
    """Our helper ids against enum bpf_func_id in the installed uapi header."""
    import re
    header = Path("/usr/include/linux/bpf.h")
    if not header.exists():
        pytest.skip("needs /usr/include/linux/bpf.h")
    names = re.findall(r"FN\((\w+),", header.read_text())
    if not names:                                   # older headers: FN(name) in id order
        body = header.read_text().split("#define __BPF_FUNC_MAPPER", 1)[1].split("\n\n", 1)[0]
        names = re.findall(r"FN\((\w+)\)", body)
    for hid, h in kernel_helpers().items():
        if hid < len(names):
            assert names[hid] == h.name, (hid, h.name)
    assert NET_HELPERS[44].name == "xdp_adjust_head" and NET_HELPERS[190].name == "xdp_store_bytes"


def test_unimplemented_helper_is_named():
    o = obj("xdp_parse", "el3")
    p = prepare(o, o.programs[0], packet=PACKETS["tcp4_syn"])
    with pytest.raises(UnsupportedError, match=r"bpf_fib_lookup \(69\)"):
        p.env.helpers[69].fn(p.env, 0, 0, 0, 0, 0)


def test_verdict_names():
    assert verdict_name("xdp", 3) == "XDP_TX"
    assert verdict_name("sched_cls", M64) == "TC_ACT_UNSPEC"
    assert verdict_name("sched_act", 2) == "TC_ACT_SHOT"
    assert verdict_name("socket_filter", 2) is None


def _xdp_env(frame: bytes):
    o = obj("xdp_parse", "el3")
    return prepare(o, o.programs[0], packet=frame)


def test_xdp_context_layout():
    p = _xdp_env(PACKETS["tcp4_syn"])
    mem = p.env.memory
    data = mem.load(p.r1 + 0, 4)
    assert mem.load(p.r1 + 4, 4) - data == 58
    assert mem.load(p.r1 + 8, 4) == data                 # data_meta
    assert mem.load(p.r1 + 12, 4) == 1                   # ingress_ifindex: lo
    assert mem.read(data, 58) == PACKETS["tcp4_syn"]
    assert data < 1 << 32


def test_xdp_adjust_helpers_follow_the_kernel_limits():
    p = _xdp_env(PACKETS["tcp4_syn"])
    env, h = p.env, NET_HELPERS
    neg = lambda e: -e & M64                              # noqa: E731
    assert h[44].fn(env, p.r1, 45, 0, 0, 0) == neg(22)    # would leave under 14 bytes
    assert h[44].fn(env, p.r1, -(256 - 40) - 1, 0, 0, 0) == neg(22)   # into the xdp_frame
    assert h[44].fn(env, p.r1, -(256 - 40), 0, 0, 0) == 0
    assert h[65].fn(env, p.r1, 4096, 0, 0, 0) == neg(22)  # past the tailroom
    assert h[54].fn(env, p.r1, -4, 0, 0, 0) == neg(22)    # head is at the xdp_frame: no room
    p = _xdp_env(PACKETS["tcp4_syn"])
    env = p.env
    assert h[54].fn(env, p.r1, -3, 0, 0, 0) == neg(13)    # metadata not a multiple of 4
    assert h[54].fn(env, p.r1, -220, 0, 0, 0) == neg(22)  # 256 headroom - 40 xdp_frame = 216
    assert h[54].fn(env, p.r1, -8, 0, 0, 0) == 0
    data = env.memory.load(p.r1, 4)
    assert env.memory.load(p.r1 + 8, 4) == data - 8


def test_csum_helpers_match_full_recomputation():
    """l3/l4_csum_replace and csum_diff on a real header, against RFC 1071 from scratch."""
    o = obj("tc_nat", "el3")
    frame = bytearray(PACKETS["udp4_dns"])
    p = prepare(o, o.programs[0], packet=bytes(frame))
    env, skb = p.env, p.r1
    data = env.memory.load(skb + 76, 4)
    old = int.from_bytes(frame[30:34], "little")
    new = int.from_bytes(ip("10.9.8.7"), "little")
    assert NET_HELPERS[10].fn(env, skb, 24, old, new, 4) == 0
    assert NET_HELPERS[11].fn(env, skb, 40, old, new, 0x10 | 4) == 0
    env.memory.write(data + 30, ip("10.9.8.7"))
    f = env.memory.read(data, len(frame))
    assert ones_sum(f[14:34]) == 0xFFFF
    seg = f[34:]
    assert pseudo_sum(UDP, f[26:30], f[30:34], seg[:6] + b"\0\0" + seg[8:]) == \
        int.from_bytes(seg[6:8], "big")
    # csum_diff of 4 bytes -> 4 other bytes folds to the same update
    env.memory.write(data, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    diff = NET_HELPERS[28].fn(env, data, 4, data + 4, 4, 0)
    assert csum_fold(diff) == ~ones_sum(bytes([0xFE, 0xFD, 0xFC, 0xFB, 5, 6, 7, 8])) & 0xFFFF
    assert NET_HELPERS[28].fn(env, data, 3, data, 4, 0) == -22 & M64


def test_lpm_queue_stack_ringbuf_semantics():
    from jit.memory import Memory
    from jit.program import MapDef
    mem = Memory("little")
    maps = NetMaps(mem, [MapDef("lpm", 11, 8, 4, 4, 1), MapDef("q", 22, 0, 4, 2),
                         MapDef("s", 23, 0, 4, 2), MapDef("rb", 27, 0, 0, 32)])
    lpm, q, s, rb = (maps.map_addr(i) for i in range(4))
    key = lambda plen, a: plen.to_bytes(4, "little") + ip(a)     # noqa: E731
    assert maps.update(lpm, key(8, "10.0.0.0"), b"\x08\0\0\0", 0) == 0
    assert maps.update(lpm, key(24, "10.1.2.0"), b"\x18\0\0\0", 0) == 0
    assert maps.update(lpm, key(33, "10.1.2.0"), b"\0\0\0\0", 0) == -22
    assert mem.read(maps.lookup(lpm, key(32, "10.1.2.3")), 4) == b"\x18\0\0\0"
    assert mem.read(maps.lookup(lpm, key(32, "10.9.9.9")), 4) == b"\x08\0\0\0"
    assert maps.lookup(lpm, key(16, "10.1.2.3")) != 0       # only /8 fits in 16 bits
    assert mem.read(maps.lookup(lpm, key(16, "10.1.2.3")), 4) == b"\x08\0\0\0"
    assert maps.lookup(lpm, key(32, "11.0.0.1")) == 0
    assert maps.delete(lpm, key(8, "10.0.0.0")) == 0 and maps.lookup(lpm, key(32, "10.9.9.9")) == 0
    assert maps.push(q, b"a\0\0\0", 0) == 0 and maps.push(q, b"b\0\0\0", 0) == 0
    assert maps.push(q, b"c\0\0\0", 0) == -7                 # full: -E2BIG
    assert maps.push(q, b"c\0\0\0", 2) == 0                  # BPF_EXIST drops the oldest
    assert maps.pop(q) == b"b\0\0\0" and maps.pop(q, peek=True) == b"c\0\0\0"
    assert maps.push(s, b"a\0\0\0", 0) == 0 and maps.push(s, b"b\0\0\0", 0) == 0
    assert maps.pop(s) == b"b\0\0\0" and maps.pop(s) == b"a\0\0\0" and maps.pop(s) is None
    assert maps.ringbuf_output(rb, b"x" * 8, 0) == 0         # 16 bytes with the header
    assert maps.ringbuf_output(rb, b"y" * 9, 0) == -11       # 24 more do not fit: -EAGAIN
    assert maps.ringbuf_output(rb, b"z", 4) == -22
    assert maps.dump()["rb"] == [(bytes(4), b"x" * 8)]


def test_unsupported_map_type_is_named():
    from jit.memory import Memory
    from jit.program import MapDef
    with pytest.raises(UnsupportedError, match="sockmap"):
        NetMaps(Memory("little"), [MapDef("socks", 15, 4, 4, 4)])


def test_raw_programs_take_a_memory_block():
    from jit.program import from_bytecode
    from jit.isa import Insn, encode
    prog = from_bytecode(encode([Insn(0xBF, 0, 2), Insn(0x95)]))   # r0 = r2 (the length); exit
    p = prepare(None, prog, packet=b"\x01\x02\x03")
    assert run(p).r0 == 3


def test_outcome_describes_itself():
    o, out = run_fixture("xdp_firewall", "el3", "blocked_src", seeds=firewall_seeds("el3"))
    text = out.describe()
    assert text.splitlines()[0] == "r0 = 1 (0x1) (XDP_DROP)"
    assert "packet: 54 bytes" in text
    assert "map blocked_src: 1 entries\n  c0 00 02 42 -> 01 00 00 00 00 00 00 00" in text
