"""The door: authentication before the body, cheap wrong keys, rate limits, key revocation."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.guarded import connect, read_until_closed, serving
from tests.conftest import database_url_for
from tests.servers import Server, run_cli


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limited(
    request: pytest.FixtureRequest,
    database_urls: dict[str, str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """Two workers, each enforcing half of 20 requests/s with a burst of 20 per key."""
    url = database_url_for(request.param, database_urls)
    env = {"GRANTLEDGER_RATE_LIMIT": "20:20", "GRANTLEDGER_AUTH_FAILURE_LIMIT": "5:30"}
    with serving(url, tmp_path_factory.mktemp("limited"), workers=2, **env) as srv:
        yield srv


def test_malformed_json_without_a_key_is_401(server: Server) -> None:
    answer = httpx.post(server.base_url + "/customers", content=b"{not json")
    assert answer.status_code == 401
    assert "Authorization" in answer.json()["message"]


def test_an_unauthenticated_body_is_never_read(server: Server) -> None:
    sock = connect(server)
    sock.sendall(
        b"POST /customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1048576\r\n\r\n"
    )
    # Not one byte of the promised megabyte is sent: the answer comes anyway, and the
    # connection closes so the body is never read.
    raw, closed, elapsed = read_until_closed(sock, 5)
    assert raw.startswith(b"HTTP/1.1 401")
    assert closed and elapsed < 2


def _checkouts(srv: Server) -> float:  # float-ok: a metric value
    text = httpx.get(srv.base_url + "/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("grantledger_db_pool_checkouts_total"))
    return float(line.rpartition(" ")[2])  # float-ok: a metric value


def test_a_repeated_wrong_key_costs_no_database_round_trip(server: Server) -> None:
    wrong = {"Authorization": "Bearer gl_wrong" + str(time.monotonic_ns())}
    assert httpx.get(server.base_url + "/customers", headers=wrong).status_code == 401
    before = _checkouts(server)
    for _ in range(30):
        assert httpx.get(server.base_url + "/customers", headers=wrong).status_code == 401
    # The one checkout between the two scrapes is a scrape's own read of the outbox backlog.
    assert _checkouts(server) == before + 1


def test_a_wrong_key_is_401_on_any_path_and_a_right_key_gets_404_for_no_endpoint(
    server: Server,
) -> None:
    wrong = {"Authorization": "Bearer x"}
    assert httpx.get(server.base_url + "/customers", headers=wrong).status_code == 401
    assert httpx.get(server.base_url + "/no/such/thing", headers=wrong).status_code == 401
    assert httpx.get(server.base_url + "/no/such/thing").status_code == 401
    with server.client() as own:
        assert own.get("/no/such/thing").status_code == 404


def test_a_limited_tenant_keeps_being_served_at_the_rate_and_others_are_unaffected(
    limited: Server,
) -> None:
    noisy, quiet = limited.client(), limited.client()
    with noisy, quiet:
        statuses = [noisy.get("/customers").status_code for _ in range(120)]
        assert 429 in statuses
        refused = noisy.get("/customers")
        while refused.status_code != 429:
            refused = noisy.get("/customers")
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        assert "rate limit of 20 requests per second" in refused.json()["message"]
        # The other tenant is served at once, while the noisy one is refused.
        assert quiet.get("/customers").status_code == 200
        # Held to the rate, the noisy tenant keeps being served: 8 requests/s for 2 s.
        served = 0
        for _ in range(16):
            time.sleep(0.125)
            served += noisy.get("/customers").status_code == 200
        assert served >= 14


def test_failed_authentication_is_limited_per_address(limited: Server) -> None:
    statuses = [
        httpx.get(limited.base_url + "/customers", headers={"Authorization": "Bearer bad"})
        for _ in range(60)
    ]
    codes = [s.status_code for s in statuses]
    assert codes[0] == 401 and 429 in codes
    refused = next(s for s in statuses if s.status_code == 429)
    assert "failed authentications" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1


def test_keys_list_revoke_rotate_and_revocation_reaches_every_process(limited: Server) -> None:
    org = "keys-" + str(time.monotonic_ns())
    made = run_cli(limited.database_url, "keys", "create", "--org", org, "--name", "ci")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    client = limited.client(key)
    # Warm both workers' caches with the key (new connections spread over the workers).
    for _ in range(10):
        assert (
            httpx.get(
                limited.base_url + "/customers", headers={"Authorization": f"Bearer {key}"}
            ).status_code
            == 200
        )
    listed = run_cli(limited.database_url, "keys", "list", "--org", org)
    assert listed.returncode == 0, listed.stderr
    assert key[:8] in listed.stdout and "\tci\t" in listed.stdout
    assert key not in listed.stdout
    revoked = run_cli(limited.database_url, "keys", "revoke", "--org", org, "--prefix", key[:8])
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(1.1)
    for _ in range(10):
        answer = httpx.get(
            limited.base_url + "/customers", headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 401
    client.close()
    rotated = run_cli(limited.database_url, "keys", "rotate", "--org", org)
    assert rotated.returncode == 0, rotated.stderr
    fresh = rotated.stdout.strip()
    with limited.client(fresh) as c:
        assert c.get("/customers").status_code == 200
    listed = run_cli(limited.database_url, "keys", "list", "--org", org)
    assert listed.stdout.count("\n") == 3  # header + two keys, the first revoked
    assert fresh not in listed.stdout


def test_keys_on_an_unknown_org_and_a_bad_revoke_are_one_line_exit_2(pg_url: str) -> None:
    unknown = run_cli(pg_url, "keys", "list", "--org", "no-such-org-here")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0 and "no organization" in unknown.stderr
    neither = run_cli(pg_url, "keys", "revoke", "--org", "x")
    assert neither.returncode == 2 and "--prefix" in neither.stderr


@pytest.fixture(scope="module")
def strict(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker allowing 10 failed authentications per address, refilled once in 10 s."""
    env = {"GRANTLEDGER_AUTH_FAILURE_LIMIT": "0.1:10"}
    with serving(pg_url, tmp_path_factory.mktemp("strict"), **env) as srv:
        yield srv


def _random_key() -> str:
    return "gl_" + secrets.token_hex(20)


def _from(address: str, srv: Server, key: str | None = None) -> httpx.Client:
    """A client connecting from another loopback address: its own failure budget."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=srv.base_url, transport=transport, headers=headers, timeout=10)


def test_guessing_keys_on_a_path_with_no_endpoint_is_counted_and_costs_no_lookup(
    strict: Server,
) -> None:
    before, started = _checkouts(strict), time.monotonic()
    with _from("127.0.0.21", strict) as guesser:
        codes = [
            guesser.get(
                f"/no/such/path/{i}", headers={"Authorization": f"Bearer {_random_key()}"}
            ).status_code
            for i in range(40)
        ]
    # Judged as on any endpoint: 401 while the address has failures left, then 429.
    assert codes == [401] * 10 + [429] * 30, codes
    # Each 401 cost one key lookup; a 429 costs none, but for one probe a second that lets a
    # right key in (service/operations/attempts.py); the scrape reads the backlog once.
    probes = math.ceil(time.monotonic() - started) + 1
    assert _checkouts(strict) - before <= 10 + probes + 1


def test_a_blocked_address_keeps_using_the_key_it_uses(strict: Server) -> None:
    with _from("127.0.0.22", strict, strict.key()) as own, _from("127.0.0.22", strict) as other:
        assert own.get("/customers").status_code == 200
        wrong = {"Authorization": f"Bearer {_random_key()}"}
        while other.get("/customers", headers=wrong).status_code != 429:
            pass
        # Its own key, served moments ago, is still served: no lockout of the right key.
        assert own.get("/customers").status_code == 200
        assert other.get("/customers", headers=wrong).status_code == 429


def test_two_authorization_headers_are_refused(server: Server) -> None:
    key = server.key()
    sock = connect(server)
    sock.sendall(
        b"GET /customers HTTP/1.1\r\nHost: x\r\n"
        + b"Authorization: Bearer "
        + key.encode()
        + b"\r\nAuthorization: Bearer gl_someone-else\r\n\r\n"
    )
    raw, _, _ = read_until_closed(sock, 2)
    assert raw.startswith(b"HTTP/1.1 400"), raw
    assert b"one Authorization header" in raw
    # Whichever comes first or last: neither silently wins.
    sock = connect(server)
    sock.sendall(
        b"GET /customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gl_someone-else\r\n"
        + b"Authorization: Bearer "
        + key.encode()
        + b"\r\n\r\n"
    )
    raw, _, _ = read_until_closed(sock, 2)
    assert raw.startswith(b"HTTP/1.1 400"), raw
