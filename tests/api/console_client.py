"""A console user without a browser: httpx with the console's cookie, Origin and CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.servers import Server

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def text_by_testid(html: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert found, f"no data-testid={name} in the page"
    return found.group(1).strip()


class Console:
    def __init__(self, server: Server, key: str) -> None:
        self.base = server.base_url
        self.http = httpx.Client(base_url=self.base, headers={"Origin": self.base}, timeout=60)
        form = self.http.get("/console")
        token = _CSRF.search(form.text)
        assert token, form.text
        r = self.http.post("/console/sign-in", data={"csrf": token.group(1), "apiKey": key})
        assert r.status_code == 303, r.text
        self.csrf = _CSRF.search(self.http.get("/console/accounts").text).group(1)  # type: ignore[union-attr]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def act(self, account_id: str, action: str, **fields: str) -> httpx.Response:
        """Post the action's form, then confirm it as the confirmation page asks."""
        url = f"/console/accounts/{account_id}/actions/{action}"
        first = self.http.post(url, data={"csrf": self.csrf, **fields})
        if first.status_code != 200:
            return first
        page = first.text.split('data-testid="confirm-page"', 1)[1]
        return self.http.post(url, data=dict(_HIDDEN.findall(page)))

    def close(self) -> None:
        self.http.close()
