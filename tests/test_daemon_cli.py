"""`outaged run` and `outaged check` from the command line (issue 7 §8).

A second instance runs from flags alone (no YAML); errors before the daemon
started say what is wrong and never "outaged stopped". Real processes on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from outaged.cli.daemon import listen_address
from tests.citygen import write_city
from tests.daemon import outaged_command, outaged_env

START_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def outaged(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        outaged_command(*args),
        env=outaged_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def running(*args: str, cwd: Path) -> Iterator[tuple[int, Path]]:
    """`outaged run ARGS` until it logs that it is ready; yields (port, log file)."""
    log = cwd / f"run-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            outaged_command("run", *args),
            env=outaged_env(),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_S
        marker = "ready on http://"
        while marker not in (text := log.read_text(encoding="utf-8", errors="replace")):
            assert proc.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        port = int(text.split(marker, 1)[1].split()[0].rsplit(":", 1)[1])
        yield port, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            finally:
                proc.kill()
    assert proc.returncode == 0, log.read_text(encoding="utf-8")


def ready(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


def test_a_second_instance_runs_from_flags_alone(tmp_path: Path) -> None:
    city = write_city(tmp_path / "city", metros=2, communities=1)
    off = tmp_path / "probes-off.yaml"  # the first instance as a config file would say it
    first_port = free_port()
    off.write_text(
        f"topology: {city}\nstate_dir: {tmp_path / 'one'}\n"
        f"api:\n  listen: 127.0.0.1\n  port: {first_port}\n",
        encoding="utf-8",
    )
    second_port = free_port()
    with (
        running("--config", str(off), cwd=tmp_path) as (port, _),
        running(
            "--listen",
            f"127.0.0.1:{second_port}",
            "--state-dir",
            str(tmp_path / "two"),
            "--topology",
            str(city),
            cwd=tmp_path,
        ) as (port_two, log_two),
    ):
        assert (port, port_two) == (first_port, second_port)
        assert ready(port)["status"] == ready(port_two)["status"] == "ready"
        assert (tmp_path / "two" / "outaged.db").is_file()
        assert f"ready on http://127.0.0.1:{second_port} " in log_two.read_text(encoding="utf-8")
        # A token for the second instance, without YAML either.
        done = outaged(
            "token",
            "create",
            "--name",
            "newcomer",
            "--role",
            "viewer",
            "--state-dir",
            str(tmp_path / "two"),
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{port_two}/api/v1/whoami",
            headers={"Authorization": f"Bearer {done.stdout.strip()}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"name": "newcomer", "role": "viewer"}
    # --listen wins over the config file's api section.
    third = free_port()
    with running("--config", str(off), "--listen", f"127.0.0.1:{third}", cwd=tmp_path) as (
        port,
        _,
    ):
        assert port == third


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8471", ("127.0.0.1", 8471)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:8471", ("::1", 8471)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert listen_address(text) == expected


@pytest.mark.parametrize("text", ["8470", "127.0.0.1:http", "127.0.0.1:70000", "::1:80", ":80"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected HOST:PORT"):
        listen_address(text)


def test_bad_listen_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    done = outaged("run", "--listen", "::1:80", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--listen" in done.stderr and "HOST:PORT" in done.stderr, done.stderr
    assert not (tmp_path / "state").exists()


def test_errors_before_the_start_never_say_outaged_stopped(tmp_path: Path) -> None:
    city = write_city(tmp_path / "city", metros=2, communities=1)
    missing = tmp_path / "nowhere.yaml"
    done = outaged("run", "--topology", str(missing), "--state-dir", "s1", cwd=tmp_path)
    assert done.returncode == 2
    assert f"error: {missing}: cannot read" in done.stderr, done.stderr
    assert "stopped" not in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("api:\n  port: http\n", encoding="utf-8")
    done = outaged("run", "--config", str(bad), cwd=tmp_path)
    assert done.returncode == 2 and "api.port" in done.stderr, done.stderr
    assert "stopped" not in done.stderr
    # The port is taken: the error names the address; the daemon never was ready.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = outaged(
            "run",
            "--topology",
            str(city),
            "--state-dir",
            "s2",
            "--listen",
            f"127.0.0.1:{port}",
            cwd=tmp_path,
        )
    assert done.returncode == 2, done.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "outaged stopped" not in done.stderr and "ready on" not in done.stderr
