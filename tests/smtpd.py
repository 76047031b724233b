"""A real SMTP server process (aiosmtpd) on loopback, for the e-mail tests.

    with SmtpServer(tmp_path / "mail", port, starttls=True, auth=("u", "p")) as smtp:
        ...                       # the daemon sends to 127.0.0.1:port
        smtp.wait_for(3)          # the parsed messages, each with X-Rcpt-To

`python -m tests.smtpd ...` is the server itself: every accepted message is
stored in a Maildir with the envelope recipients in an `X-Rcpt-To` header.
`stop()` and `start()` again on the same port simulate an SMTP outage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import email
import email.policy
import ipaddress
import mailbox
import signal
import socket
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.daemon import outaged_env

START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), also usable as the CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SmtpServer:
    def __init__(
        self,
        maildir: Path,
        port: int,
        *,
        tls: tuple[Path, Path] | None = None,
        smtps: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.maildir = maildir
        self.port = port
        self.tls = tls
        self.smtps = smtps
        self.auth = auth
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        argv = [sys.executable, "-m", "tests.smtpd", "--port", str(self.port)]
        argv += ["--maildir", str(self.maildir)]
        if self.tls is not None:
            argv += ["--cert", str(self.tls[0]), "--key", str(self.tls[1])]
            if self.smtps:
                argv.append("--smtps")
        if self.auth is not None:
            argv += ["--auth", f"{self.auth[0]}:{self.auth[1]}"]
        self.proc = subprocess.Popen(argv, env=outaged_env(), stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "ready", or EOF if it died
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"the SMTP server did not start: {line!r}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def messages(self) -> list[EmailMessage]:
        if not (self.maildir / "new").exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        found: list[EmailMessage] = []
        for key in sorted(box.keys()):
            raw = box.get_bytes(key)
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[EmailMessage]:
        """At least `count` messages (and a moment for any extra one to arrive)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            found = self.messages()
            if len(found) >= count:
                time.sleep(0.3)
                return self.messages()
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages())} messages, expected {count}")


def delivered(mails: list[EmailMessage]) -> list[str]:
    """The outbox rows the mails delivered (a digest's parts), by Message-ID token."""
    rows: list[str] = []
    for mail in mails:
        parts = mail.get("X-Outaged-Digest-Of")
        rows += str(parts).split() if parts else [str(mail["Message-ID"]).strip("<>").split("@")[0]]
    return rows


# ---- the server process --------------------------------------------------


class _Store:
    def __init__(self, maildir: Path) -> None:
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        head = f"X-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        head += f"X-Received-At: {time.time():.6f}\r\n".encode()
        self.box.add(head + envelope.original_content)
        return "250 OK stored"


async def _serve(args: argparse.Namespace) -> None:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    handler = _Store(Path(args.maildir))
    context: ssl.SSLContext | None = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    user, _, password = (args.auth or "").partition(":")

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (user, password)
        return AuthResult(success=ok)

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="smtp.test",
            tls_context=None if args.smtps else context,
            require_starttls=context is not None and not args.smtps,
            auth_required=bool(args.auth),
            auth_require_tls=context is not None,
            authenticator=authenticate if args.auth else None,
            timeout=30,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", args.port, ssl=context if args.smtps else None
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--smtps", action="store_true")
    parser.add_argument("--auth")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
