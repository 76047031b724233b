"""ICMP echo engine: many hosts over one socket per address family.

`icmplib.async_multiping` opens a socket per host in flight; here every request
goes out of one shared socket (see `icmp_socket`), requests are sent in small
batches between which replies are drained, and a token bucket caps the global
packet rate, so probing 100,000 elements a minute costs a few descriptors and
a few percent of a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from outaged.errors import ProbeError
from outaged.probes.icmp_rate import TokenBucket
from outaged.probes.icmp_socket import IcmpChannel

_BATCH = 128  # requests sent between two reads of the replies
_BLOCKED_PAUSE_S = 0.001


@dataclass(frozen=True, slots=True)
class PingResult:
    """Echo requests sent to one address in one `ping_many` call, and the replies.

    `sent` counts requests attempted, including those the kernel refused at once
    (no route): they are lost like any unanswered request.
    """

    address: str
    sent: int
    received: int
    rtts_ms: tuple[float, ...]

    @property
    def ok(self) -> bool:
        return self.received > 0

    @property
    def loss(self) -> float:
        """Share of requests without a reply in time, 0.0 to 1.0."""
        return 1.0 - self.received / self.sent if self.sent else 1.0

    @property
    def avg_rtt_ms(self) -> float | None:
        return sum(self.rtts_ms) / len(self.rtts_ms) if self.rtts_ms else None


class _Call:
    """One `ping_many` call: knows when every request it sent is answered."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.outstanding = 0
        self.last_sent_at = 0.0
        self.all_sent = False
        self.done = asyncio.Event()

    def answered(self) -> None:
        self.outstanding -= 1
        if self.all_sent and self.outstanding == 0:
            self.done.set()


class _Target:
    """One address of one call; the reply handler of its requests."""

    __slots__ = ("address", "call", "channel", "in_flight", "rtts_ms", "sent")

    def __init__(self, address: str, channel: IcmpChannel, call: _Call) -> None:
        self.address = address
        self.channel = channel
        self.call = call
        self.sent = 0
        self.rtts_ms: list[float] = []
        self.in_flight: list[int] = []

    def on_reply(self, rtt_s: float) -> None:
        if rtt_s <= self.call.timeout:
            self.rtts_ms.append(rtt_s * 1000.0)
        self.call.answered()

    def send(self) -> None:
        sequence = self.channel.send(self.address, self)  # may raise BlockingIOError
        self.sent += 1
        if sequence is not None:
            self.in_flight.append(sequence)
            self.call.outstanding += 1

    def lose(self) -> None:
        self.sent += 1

    def result(self, address: str) -> PingResult:
        rtts = tuple(self.rtts_ms)
        return PingResult(address=address, sent=self.sent, received=len(rtts), rtts_ms=rtts)


class IcmpEngine:
    """Async context manager; opens one socket per address family on first use.

    `privileged`: True for raw sockets (CAP_NET_RAW), False for datagram sockets
    (net.ipv4.ping_group_range), None to try raw first. `rate_pps` caps the echo
    requests of every concurrent `ping_many` together; `burst` requests may go
    out back to back (default: 10 ms worth). `clock` is monotonic seconds.
    """

    def __init__(
        self,
        *,
        privileged: bool | None = None,
        rate_pps: float = 10_000.0,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._privileged = privileged
        self._clock = clock
        self._bucket = TokenBucket(rate_pps, burst or max(1, int(rate_pps / 100)), clock())
        self._channels: dict[socket.AddressFamily, IcmpChannel] = {}

    @property
    def privileged(self) -> bool | None:
        """The mode in use once a socket is open (raw: True), else what was asked."""
        for channel in self._channels.values():
            return channel.privileged
        return self._privileged

    async def __aenter__(self) -> IcmpEngine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self, family: socket.AddressFamily) -> None:
        """Open the socket of `family` now, so that a missing permission is a
        ProbeError at startup rather than at the first probe."""
        self._channel(family)

    def close(self) -> None:
        """Close the sockets; safe to call twice. Calls still in flight time out."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    async def ping_many(
        self,
        addresses: Sequence[str],
        *,
        count: int = 1,
        interval: float = 0.0,
        timeout: float = 1.0,
    ) -> dict[str, PingResult]:
        """Send `count` echo requests to each address, `interval` s apart, and wait
        up to `timeout` s for each reply. Returns a result for every address given."""
        if count < 1 or interval < 0 or timeout <= 0:
            raise ValueError(
                f"need count >= 1, interval >= 0, timeout > 0: {count}, {interval}, {timeout}"
            )
        call = _Call(timeout)
        canonical = {address: _canonical(address) for address in addresses}
        targets: dict[str, _Target] = {}
        for text, family in canonical.values():
            if text not in targets:
                targets[text] = _Target(text, self._channel(family), call)
        if not targets:
            return {}
        try:
            await self._send_rounds(call, list(targets.values()), count, interval)
            if call.outstanding:
                await _wait(call.done, call.last_sent_at + timeout - self._clock())
        finally:
            for target in targets.values():
                for sequence in target.in_flight:
                    target.channel.forget(target.address, sequence)
        return {address: targets[text].result(address) for address, (text, _) in canonical.items()}

    async def _send_rounds(
        self, call: _Call, targets: list[_Target], count: int, interval: float
    ) -> None:
        start = self._clock()
        for round_ in range(count):
            if round_:
                await asyncio.sleep(max(0.0, start + round_ * interval - self._clock()))
            await self._send_round(targets, call.timeout)
        call.last_sent_at = self._clock()
        call.all_sent = True

    async def _send_round(self, targets: list[_Target], timeout: float) -> None:
        done = 0
        blocked_since: float | None = None
        while done < len(targets):
            now = self._clock()
            granted = self._bucket.take(min(_BATCH, len(targets) - done), now)
            if not granted:
                await asyncio.sleep(self._bucket.wait_s(now))
                continue
            try:
                for target in targets[done : done + granted]:
                    target.send()
                    done += 1
            except BlockingIOError:
                # Socket buffer full: let the replies and the link catch up, then retry.
                # A host we cannot send to within `timeout` has lost that request.
                if blocked_since is None:
                    blocked_since = now
                elif now - blocked_since > timeout:
                    targets[done].lose()
                    done += 1
                    blocked_since = None
                self._drain()
                await asyncio.sleep(_BLOCKED_PAUSE_S)
                continue
            blocked_since = None
            self._drain()  # interleaved reads keep the receive buffer from overflowing
            await asyncio.sleep(0)

    def _drain(self) -> None:
        for channel in self._channels.values():
            channel.drain()

    def _channel(self, family: socket.AddressFamily) -> IcmpChannel:
        channel = self._channels.get(family)
        if channel is None:
            channel = IcmpChannel(family, self.privileged, self._clock)
            self._channels[family] = channel
        return channel


def _canonical(address: str) -> tuple[str, socket.AddressFamily]:
    """The text form the kernel reports as a reply's source, and the family."""
    host, percent, scope = address.partition("%")  # IPv6 link-local: fe80::1%eth0
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            text = socket.inet_ntop(family, socket.inet_pton(family, host))
        except OSError:
            continue
        if family == socket.AF_INET6 or not percent:
            return text + percent + scope, family
    raise ProbeError(f"not an IP address: {address!r}")


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), max(0.0, seconds))
