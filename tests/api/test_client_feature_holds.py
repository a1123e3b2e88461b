"""The SDK's feature holds over a real server: the operations, and `reserve` as a context
manager (sync and async) that settles, or releases when the block raises or forgets to."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from grantledger.client import (
    ApiClient,
    AsyncApiClient,
    Configuration,
    FeatureHold,
    FeatureHoldsApi,
)
from grantledger.client.api.feature_holds_api import iso_duration
from grantledger.client.rest import ApiException
from tests.helpers import feature_credits, grant_entry, new_account, new_feature
from tests.servers import Server


def _configuration(server: Server, api: httpx.Client) -> Configuration:
    key = api.headers["Authorization"].removeprefix("Bearer ")
    return Configuration(host=server.base_url, access_token=key)


def test_reserve_settles_or_releases(server: Server, clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-05-01T10:00:00Z")
    account, tokens = new_account(api), new_feature(api, name="Tokens")
    grant_entry(api, account, tokens, 10000)
    with ApiClient(_configuration(server, api)) as client:
        holds = FeatureHoldsApi(client)
        with holds.reserve(account, {tokens: 4000}, expires_in=timedelta(minutes=5)) as hold:
            assert hold.hold is not None and hold.hold.status == "HELD"
            assert feature_credits(api, account, tokens)["balance"] == 6000
            settled = hold.settle({tokens: 3172})
        assert settled.status == "SETTLED" and settled.features[0].settled_units == 3172
        assert feature_credits(api, account, tokens)["balance"] == 6828

        with pytest.raises(RuntimeError), holds.reserve(account, {tokens: 500}) as failing:
            raise RuntimeError("the model call failed")
        assert holds.get_feature_hold(account, failing.hold_id).status == "RELEASED"
        with holds.reserve(account, {tokens: 500}) as forgotten:
            pass  # no settle: the units go back
        assert holds.get_feature_hold(account, forgotten.hold_id).status == "RELEASED"
        assert feature_credits(api, account, tokens)["balance"] == 6828

        with pytest.raises(ApiException) as refused, holds.reserve(account, {tokens: 7000}):
            pass
        assert refused.value.status == 403 and tokens in refused.value.body
        listed = list(holds.iter_feature_holds(account, page_size=1))
        assert all(isinstance(h, FeatureHold) for h in listed) and len(listed) == 3
        page = holds.list_feature_holds(account, status="SETTLED")
        assert [h.id for h in page.data] == [hold.hold_id]


def test_async_reserve_releases_on_an_exception(
    server: Server, clock: Server, api: httpx.Client
) -> None:
    clock.set_clock("2026-05-01T10:00:00Z")
    account, tokens = new_account(api), new_feature(api, name="Tokens")
    grant_entry(api, account, tokens, 100)

    async def flow() -> tuple[str, str]:
        async with AsyncApiClient(_configuration(server, api)) as client:
            holds = FeatureHoldsApi(client)
            with pytest.raises(ValueError):
                async with holds.reserve(account, {tokens: 60}) as failing:
                    raise ValueError("boom")
            async with holds.reserve(account, {tokens: "12.5"}) as used:
                await used.settle({tokens: Decimal("12.25")})
            gone = await holds.get_feature_hold(account, failing.hold_id)
            done = await holds.get_feature_hold(account, used.hold_id)
            return gone.status, done.status

    assert asyncio.run(flow()) == ("RELEASED", "SETTLED")
    assert feature_credits(api, account, tokens)["balance"] == 87.75


def test_iso_duration() -> None:
    assert iso_duration(timedelta(minutes=5)) == "PT300S"
    assert iso_duration(timedelta(seconds=1, microseconds=500)) == "PT1.000500S"


def test_the_readme_example_runs_as_written(
    server: Server, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re
    from pathlib import Path
    from types import SimpleNamespace

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r"LLM call behind a token balance.*?```python\n(.*?)```", readme, re.S)
    assert block is not None
    assert len(block.group(1).strip().splitlines()) == 5
    account = new_account(api, account_id="acme-main")
    new_feature(api, id="ai-tokens", name="AI tokens")
    grant_entry(api, account, "ai-tokens", 10000)
    monkeypatch.setenv("GRANTLEDGER_HOST", server.base_url)
    monkeypatch.setenv("GRANTLEDGER_API_KEY", api.headers["Authorization"].removeprefix("Bearer "))
    seen: list[Decimal] = []

    def call_model(prompt: str, max_tokens: int) -> SimpleNamespace:
        seen.append(Decimal(feature_credits(api, account, "ai-tokens")["balance"]))
        return SimpleNamespace(total_tokens=1234)

    names = {
        "FeatureHoldsApi": FeatureHoldsApi,
        "ApiClient": ApiClient,
        "Configuration": Configuration,
        "timedelta": timedelta,
        "call_model": call_model,
        "prompt": "hello",
    }
    exec(block.group(1), names)
    assert seen == [6000]  # the tokens were held while the model ran
    assert feature_credits(api, account, "ai-tokens")["balance"] == 10000 - 1234
