"""One ICMP socket per address family, shared by every echo request in flight.

Replies are matched by (source address, sequence number), plus the identifier on
raw sockets: a raw socket sees every ICMP packet of the host, other pings' too.
On datagram ("unprivileged") sockets the kernel rewrites the identifier to the
socket's port and delivers only replies that carry it, so it cannot be checked
there and the source address is what tells two hosts apart.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPSocketError, SocketPermissionError

from outaged.errors import ProbeError
from outaged.probes.icmp_packet import (
    ECHO_REPLY_V4,
    ECHO_REPLY_V6,
    ECHO_REQUEST_V4,
    ECHO_REQUEST_V6,
    EchoTemplate,
    parse_echo_reply,
)

Clock = Callable[[], float]

_SOL_RAW = 255  # <linux/socket.h>; ICMP_FILTER is option 1 at this level
_ICMP_FILTER = 1
_ICMP6_FILTER = 1  # at IPPROTO_ICMPV6
_SO_RCVBUFFORCE = 33  # root may exceed net.core.rmem_max
_RCVBUF = 4 << 20  # replies to a burst of 10,000 requests fit
_RECV_SIZE = 2048
_DRAIN_MAX = 4096  # replies read per call before the event loop gets a turn
_PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


class ReplyHandler(Protocol):
    def on_reply(self, rtt_s: float) -> None: ...


class IcmpChannel:
    """An open ICMP socket of one family, read by the event loop as replies arrive."""

    def __init__(self, family: socket.AddressFamily, privileged: bool | None, clock: Clock) -> None:
        self.family = family
        self._icmp, self.privileged = _open(family, privileged)
        self._sock: socket.socket = self._icmp.sock
        self._sock.setblocking(False)
        _enlarge_receive_buffer(self._sock)
        if self.privileged:
            _accept_echo_replies_only(self._sock, family)
        v4 = family == socket.AF_INET
        self._ident = int.from_bytes(os.urandom(2), "big")
        self._template = EchoTemplate(ECHO_REQUEST_V4 if v4 else ECHO_REQUEST_V6, self._ident)
        self._reply_type = ECHO_REPLY_V4 if v4 else ECHO_REPLY_V6
        self._ip_header = v4 and self.privileged
        self._clock = clock
        self._sequence = int.from_bytes(os.urandom(2), "big")
        self._pending: dict[tuple[str, int], tuple[float, ReplyHandler]] = {}
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self.drain)

    def send(self, address: str, handler: ReplyHandler) -> int | None:
        """Send one echo request to `address` (canonical text form).

        Returns its sequence number while it is in flight, or None when the kernel
        refused it outright (no route, link down): that request is lost.
        Raises BlockingIOError when the socket cannot take more right now.
        """
        # One counter for the socket; a number still in flight to the same host is skipped.
        sequence = (self._sequence + 1) & 0xFFFF
        key = (address, sequence)
        if key in self._pending:
            sequence = self._free_sequence(address)
            key = (address, sequence)
        self._sequence = sequence
        sent_at = self._clock()
        try:
            self._sock.sendto(self._template.packet(sequence), (address, 0))
        except BlockingIOError:
            raise
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # a full queue, not an unreachable host
                raise BlockingIOError(exc.errno, exc.strerror) from exc
            return None
        self._pending[key] = (sent_at, handler)
        return sequence

    def forget(self, address: str, sequence: int) -> None:
        self._pending.pop((address, sequence), None)

    def drain(self) -> None:
        """Read the replies that have arrived and hand each to its request's handler."""
        sock, pending, clock = self._sock, self._pending, self._clock
        for _ in range(_DRAIN_MAX):
            try:
                data, source = sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # a stray error report on the socket: nothing to match
                continue
            now = clock()
            parsed = parse_echo_reply(data, ip_header=self._ip_header, reply_type=self._reply_type)
            if parsed is None or (self.privileged and parsed[0] != self._ident):
                continue
            entry = pending.pop((source[0], parsed[1]), None)
            if entry is not None:
                entry[1].on_reply(now - entry[0])

    def close(self) -> None:
        if not self._icmp.is_closed:
            self._loop.remove_reader(self._sock.fileno())
            self._icmp.close()
        self._pending.clear()

    def _free_sequence(self, address: str) -> int:
        for step in range(1, 0x10000):
            sequence = (self._sequence + step) & 0xFFFF
            if (address, sequence) not in self._pending:
                return sequence
        raise ProbeError(f"65,536 echo requests to {address} in flight: no sequence left")


def _open(
    family: socket.AddressFamily, privileged: bool | None
) -> tuple[ICMPv4Socket | ICMPv6Socket, bool]:
    kind = ICMPv4Socket if family == socket.AF_INET else ICMPv6Socket
    modes = (True, False) if privileged is None else (privileged,)
    for mode in modes:
        try:
            return kind(privileged=mode), mode
        except SocketPermissionError:
            continue
        except ICMPSocketError as exc:
            raise ProbeError(f"cannot open an {family.name} ICMP socket: {exc}") from exc
    raise ProbeError(_permission_message(modes))


def _permission_message(modes: tuple[bool, ...]) -> str:
    reasons = []
    if True in modes:
        reasons.append(
            "raw ICMP sockets need CAP_NET_RAW (run as root, or "
            "`setcap cap_net_raw+ep` on the interpreter, or AmbientCapabilities=CAP_NET_RAW)"
        )
    if False in modes:
        try:
            allowed = " ".join(_PING_GROUP_RANGE.read_text().split())
        except OSError:
            allowed = "unreadable"
        reasons.append(
            f"datagram ICMP sockets need this process's group (gid {os.getgid()}) inside "
            f'net.ipv4.ping_group_range (now "{allowed}"; e.g. '
            f"sysctl -w net.ipv4.ping_group_range='0 2147483647')"
        )
    return "cannot open an ICMP socket: " + "; ".join(reasons)


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
    except PermissionError:  # without CAP_NET_ADMIN: capped by net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)


def _accept_echo_replies_only(sock: socket.socket, family: socket.AddressFamily) -> None:
    """Kernel-side filter: a raw socket would otherwise queue every ICMP packet,
    our own echo requests on loopback included."""
    if family == socket.AF_INET:
        blocked = 0xFFFFFFFF & ~(1 << ECHO_REPLY_V4)  # a set bit drops that type
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", blocked))
    else:
        words = [0xFFFFFFFF] * 8  # struct icmp6_filter: a set bit blocks
        words[ECHO_REPLY_V6 >> 5] &= ~(1 << (ECHO_REPLY_V6 & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *words))
