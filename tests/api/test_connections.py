"""Connection limits against a real `grantledger serve`, with raw sockets: header size and
count, slow headers, slow bodies, idle connections and the per-process connection cap."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.guarded import connect, read_until_closed, serving
from tests.conftest import database_url_for
from tests.servers import Server

LIMITS = {
    "GRANTLEDGER_HEADER_TIMEOUT": "1",
    "GRANTLEDGER_BODY_TIMEOUT": "1",
    "GRANTLEDGER_IDLE_TIMEOUT": "1.5",
    "GRANTLEDGER_MAX_CONNECTIONS": "20",
    "GRANTLEDGER_MAX_CONNECTIONS_PER_ADDRESS": "20",
    "GRANTLEDGER_FIRST_REQUEST_TIMEOUT": "1",
    "GRANTLEDGER_MAX_HEADER_BYTES": "16384",
    "GRANTLEDGER_MAX_HEADERS": "50",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def guarded(
    request: pytest.FixtureRequest,
    database_urls: dict[str, str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    url = database_url_for(request.param, database_urls)
    with serving(url, tmp_path_factory.mktemp("guarded"), **LIMITS) as srv:
        yield srv


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _message(raw: bytes) -> str:
    return str(json.loads(raw.partition(b"\r\n\r\n")[2])["message"])


def test_a_32_mib_header_is_refused_without_being_held(guarded: Server) -> None:
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 32 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass  # the server hung up mid-header, as it should
    raw, closed, _ = read_until_closed(sock, 5)
    assert closed
    assert sent < 32 * 1024 * 1024 or raw  # it stopped reading long before 32 MiB, or answered
    if raw:
        assert _status(raw) == 431
        assert "16384 bytes" in _message(raw)


@pytest.mark.parametrize("where", ["header", "url"])
def test_a_100_kb_head_sent_in_one_write_is_refused(guarded: Server, where: str) -> None:
    # The limit is per request, not per read of the socket: one write holding the whole
    # request is measured like a trickle.
    big = b"a" * 100_000
    if where == "header":
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n"
    else:
        head = b"GET /healthz?q=" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    sock = connect(guarded)
    sock.sendall(head)
    raw, closed, _ = read_until_closed(sock, 5)
    assert closed and _status(raw) == 431, raw[:200]
    assert "16384 bytes" in _message(raw)


def test_heads_just_under_the_limit_in_one_write_are_served(guarded: Server) -> None:
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 15_000 + b"\r\n\r\n")
    raw, _, _ = read_until_closed(sock, 1)
    assert _status(raw) == 200


def test_too_many_headers_is_431_json(guarded: Server) -> None:
    sock = connect(guarded)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(60))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    raw, closed, _ = read_until_closed(sock, 5)
    assert closed and _status(raw) == 431
    assert "at most 50 headers" in _message(raw)


def test_headers_at_the_limit_are_served(guarded: Server) -> None:
    headers = {f"x-h{i}": "v" * 100 for i in range(40)}
    assert httpx.get(guarded.base_url + "/healthz", headers=headers).status_code == 200


def test_a_slow_header_is_cut(guarded: Server) -> None:
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    raw, closed, elapsed = read_until_closed(sock, 5)
    assert closed and _status(raw) == 408
    assert 0.8 < elapsed < 3
    assert "headers not received within 1 s" in _message(raw)


def test_a_body_shorter_than_its_content_length_times_out(guarded: Server) -> None:
    key = guarded.key()
    sock = connect(guarded)
    sock.sendall(
        b"POST /customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + key.encode()
        + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":'
    )
    raw, closed, elapsed = read_until_closed(sock, 5)
    assert closed and _status(raw) == 408
    assert 0.8 < elapsed < 3
    assert "body not received within 1 s" in _message(raw)


def test_idle_connections_are_closed_fresh_and_after_a_request(guarded: Server) -> None:
    fresh = [connect(guarded) for _ in range(5)]
    used = connect(guarded)
    used.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    for sock in [*fresh, used]:
        _, closed, elapsed = read_until_closed(sock, 5)
        assert closed and elapsed < 3


def test_the_connection_cap_holds_and_frees(guarded: Server) -> None:
    held = [connect(guarded) for _ in range(20)]
    time.sleep(0.2)
    extra = connect(guarded)
    extra.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    raw, closed, _ = read_until_closed(extra, 3)
    assert closed and _status(raw) == 503
    assert "too many connections" in _message(raw)
    for sock in held:
        sock.close()
    time.sleep(0.3)
    assert httpx.get(guarded.base_url + "/healthz").status_code == 200


def test_keep_alive_still_serves_many_requests_on_one_connection(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.base_url) as client:
        for _ in range(50):
            assert client.get("/healthz").status_code == 200


def test_a_malformed_request_line_is_400_json(guarded: Server) -> None:
    sock = socket.create_connection(("127.0.0.1", guarded.port), timeout=5)
    sock.sendall(b"NOT A REQUEST\r\n\r\n")
    raw, closed, _ = read_until_closed(sock, 3)
    assert closed and _status(raw) == 400
    assert _message(raw)


# --- one client against the connection cap -----------------------------------------------------

FLOOD = {
    "GRANTLEDGER_MAX_CONNECTIONS": "40",
    "GRANTLEDGER_MAX_CONNECTIONS_PER_ADDRESS": "10",
    "GRANTLEDGER_FIRST_REQUEST_TIMEOUT": "3",
}


@pytest.fixture(scope="module")
def floodable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state = tmp_path_factory.mktemp("floodable")
    with serving(f"sqlite:///{state}/flood.db", state, **FLOOD) as srv:
        yield srv


def _silent(srv: Server, source: str, count: int) -> list[socket.socket]:
    """`count` connections from `source` that never send a byte (bounded: tens, for seconds)."""
    opened = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", srv.port))
        opened.append(sock)
    return opened


def _answered(srv: Server, source: str, path: str = "/healthz", key: str | None = None) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=srv.base_url, transport=transport, timeout=5) as client:
        return client.get(path, headers=headers).status_code


def _closed_by_server(sock: socket.socket, within: float) -> bool:  # float-ok: seconds
    return read_until_closed(sock, within)[1]


def test_one_silent_client_cannot_take_the_connections_of_others(floodable: Server) -> None:
    key = floodable.key()
    started = time.monotonic()
    flood = _silent(floodable, "127.0.0.31", 45)  # more than the whole cap
    try:
        # Past its share of 10, the flooder's connections are refused at once...
        refused = [sock for sock in flood if _closed_by_server(sock, 0.05)]
        assert len(refused) >= 35
        # ...and every other client is served meanwhile.
        codes = [_answered(floodable, "127.0.0.32", "/customers", key) for _ in range(20)]
        assert codes == [200] * 20
        # The ones it kept, having sent nothing, are closed within the first-request timeout.
        kept = [sock for sock in flood if sock not in refused]
        assert all(_closed_by_server(sock, 5) for sock in kept)
        assert time.monotonic() - started < 6
    finally:
        for sock in flood:
            sock.close()


def test_health_checks_are_answered_when_every_connection_is_taken(floodable: Server) -> None:
    sources = [f"127.0.0.{n}" for n in (41, 42, 43, 44)]
    flood = [sock for source in sources for sock in _silent(floodable, source, 10)]
    try:
        time.sleep(0.2)  # the 40 connections are the cap of this process
        assert _answered(floodable, "127.0.0.45", "/healthz") == 200
        assert _answered(floodable, "127.0.0.45", "/readyz") == 200
        # Anything else past the cap is refused, as before.
        assert _answered(floodable, "127.0.0.45", "/openapi.json") == 503
    finally:
        for sock in flood:
            sock.close()
