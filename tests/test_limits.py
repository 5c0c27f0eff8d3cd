"""A real server cuts off clients that would hold it: slow or silent request heads,
oversized heads and bodies. Raw sockets, since an HTTP client library would not misbehave."""

import socket
import time
from pathlib import Path

import pytest

from tests.servers import running_server


def _answer(port: int, payload: bytes, wait: float) -> tuple[bytes, float]:
    """What the server sends back (b"" if it just closes), and after how long."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait)
        started = time.monotonic()
        if payload:
            sock.sendall(payload)
        try:
            data = sock.recv(200)
        except TimeoutError:
            data = b"<still open>"
        return data, time.monotonic() - started


@pytest.mark.slow
def test_slow_silent_and_oversized_clients_are_cut_off(
    test_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**test_env, "TRACKER_REQUEST_HEAD_SECONDS": "1.5"}
    with running_server(env, tmp_path / "server.log") as base:
        port = int(base.rsplit(":", 1)[1])
        silent, after = _answer(port, b"", wait=6)
        assert silent == b"" and 1.0 < after < 4, (silent, after)
        partial, after = _answer(port, b"GET /o/x HTTP/1.1\r\nHost: t\r\nUser-Ag", wait=6)
        assert partial == b"" and 1.0 < after < 4, (partial, after)

        huge = b"GET /o/x HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        answer, _ = _answer(port, huge, wait=6)
        assert answer.startswith(b"HTTP/1.1 431"), answer
        trickled = b"GET /o/x HTTP/1.1\r\nHost: t\r\n" + b"X-Many: y\r\n" * 3000  # no end
        answer, _ = _answer(port, trickled, wait=6)
        assert answer.startswith(b"HTTP/1.1 400") or answer == b"", answer

        body = (
            b"POST /consent/x HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-"
            b"urlencoded\r\nContent-Length: 10000000\r\n\r\n" + b"a=b&" * 50_000
        )
        answer, after = _answer(port, body, wait=6)
        assert answer[9:10] == b"4" and after < 3, answer  # a 4xx at once, not a wait

        # A well-behaved keep-alive client is not cut off between its requests.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(5)
            for _ in range(3):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                assert _response(sock).startswith(b"HTTP/1.1 200")
                time.sleep(1.0)


def _response(sock: socket.socket) -> bytes:
    """One whole response off a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(1000)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(1000)
    return head
