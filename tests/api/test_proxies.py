"""Behind a TLS-terminating reverse proxy (a real one the test starts, tests/tls_proxy.py): the
console signs in over https with a `Secure` cookie, and each client behind the proxy has its
own failure budget — while the same headers from anyone but the trusted proxy change nothing."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.guarded import serving
from tests.servers import Server, free_port
from tests.tls_proxy import TlsProxy

PROXY_SOURCE = "127.0.0.3"  # the proxy connects to the server from here, and only it is trusted


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TlsProxy]]:
    state = tmp_path_factory.mktemp("behind-proxy")
    env = {
        "GRANTLEDGER_TRUSTED_PROXIES": f"{PROXY_SOURCE}, 10.99.0.0/16",
        "GRANTLEDGER_AUTH_FAILURE_LIMIT": "0.1:5",
    }
    with serving(f"sqlite:///{state}/proxied.db", state, **env) as srv:
        proxy = TlsProxy(state, srv.port, PROXY_SOURCE)
        try:
            yield srv, proxy
        finally:
            proxy.close()


def _client(base_url: str, proxy: TlsProxy, source: str = "127.0.0.1") -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(proxy.cert))
    transport = httpx.HTTPTransport(verify=verify, local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, timeout=10)


def _sign_in(client: httpx.Client, origin: str, key: str) -> httpx.Response:
    form = client.get("/console")
    assert form.status_code == 200, form.text
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    return client.post(
        "/console/sign-in", data={"csrf": token.group(1), "apiKey": key}, headers={"Origin": origin}
    )


def test_the_console_signs_in_through_the_tls_proxy_with_a_secure_cookie(
    behind: tuple[Server, TlsProxy],
) -> None:
    srv, proxy = behind
    with _client(proxy.base_url, proxy) as browser:
        answer = _sign_in(browser, proxy.base_url, srv.key())
        assert answer.status_code == 303, answer.text
        cookie = answer.headers["set-cookie"]
        assert "gl_console=" in cookie and "secure" in cookie.lower()
        # The session works through the proxy (a Secure cookie goes back over https).
        assert browser.get("/console/accounts").status_code == 200


def test_forwarded_headers_from_anyone_else_change_nothing(behind: tuple[Server, TlsProxy]) -> None:
    srv, proxy = behind
    forged = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": f"localhost:{proxy.port}",
        "X-Forwarded-For": "10.20.30.40",
    }
    with httpx.Client(base_url=srv.base_url, headers=forged, timeout=10) as direct:
        answer = _sign_in(direct, proxy.base_url, srv.key())
        assert answer.status_code == 403 and "another origin" in answer.text
        assert "secure" not in answer.headers.get("set-cookie", "").lower()


def test_each_client_behind_the_proxy_has_its_own_failure_budget(
    behind: tuple[Server, TlsProxy],
) -> None:
    _, proxy = behind
    wrong = {"Authorization": "Bearer gl_wrong-key"}
    with _client(proxy.base_url, proxy, "127.0.0.4") as first:
        codes = [first.get("/customers", headers=wrong).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        # Claiming another address to the proxy does not reset it: the proxy appends the real one.
        spoofed = {**wrong, "X-Forwarded-For": "10.77.0.1"}
        assert first.get("/customers", headers=spoofed).status_code == 429
    with _client(proxy.base_url, proxy, "127.0.0.5") as second:
        assert second.get("/customers", headers=wrong).status_code == 401


def test_a_bad_trusted_proxies_setting_is_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GRANTLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "GRANTLEDGER_TRUSTED_PROXIES": "10.0.0.1, not-an-address",
    }
    done = subprocess.run(
        [sys.executable, "-m", "grantledger", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "GRANTLEDGER_TRUSTED_PROXIES" in done.stderr and "not-an-address" in done.stderr
