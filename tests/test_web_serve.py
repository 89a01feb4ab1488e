"""``syndicate serve`` as a process: starts, answers, stops on SIGTERM with exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import free_port, run_syndicate


def _start(cwd: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "syndicate", "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("syndicate serve did not answer")


def test_serve_answers_and_stops_on_sigterm_with_exit_0(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_config()
    port = free_port()
    process = _start(tmp_path, port)
    try:
        response = _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        assert (response.status_code, response.text) == (200, "ok")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"at http://127.0.0.1:{port}/" in out
    assert "Traceback" not in err


def test_serve_says_in_one_line_that_the_port_is_taken(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_config()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_syndicate("serve", "--port", str(port), cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another server runs there; choose another with --port)"
    ]


def test_serve_refuses_a_port_out_of_range(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_config()
    done = run_syndicate("serve", "--port", "70000", cwd=tmp_path)
    assert done.returncode == 2
    assert "70000" in done.stderr
