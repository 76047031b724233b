"""sd_notify(3) for `Type=notify`: a datagram to $NOTIFY_SOCKET, nothing if it is unset.

Small enough to own (the protocol is one sendto); READY, STATUS, RELOADING with
MONOTONIC_USEC, STOPPING and WATCHDOG. The watchdog pings come from the event
loop itself at half of $WATCHDOG_USEC, so a blocked loop misses them and systemd
restarts the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

log = logging.getLogger("outaged.systemd")


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path.startswith("@"):  # an abstract socket
            self.address = "\0" + path[1:]
        elif path.startswith("/"):
            self.address = path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._sock: socket.socket | None = None
        if self.address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def send(self, *lines: str) -> None:
        if self._sock is None or self.address is None:
            return
        try:
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:  # systemd gone: nothing to tell, nothing to stop for
            log.debug("sd_notify %s: %s", lines, exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading the configuration")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    async def watchdog(self) -> None:
        """Ping at half the watchdog interval, from the loop (runs until cancelled)."""
        if self.watchdog_s is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s / 2)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
