"""Togai's official client against `/ingest`, `/ingestBatch` and the Event Management API, on
SQLite and PostgreSQL: every answer parses into the client's models, and what the models say
is what the ledger did (feature credits read through the client too)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from togai_client import EventIngestionApi, EventManagementApi
from togai_client.exceptions import BadRequestException, NotFoundException
from togai_client.models import (
    Attribute,
    Event,
    EventCorrectionRequest,
    EventsCorrectionResponse,
    EventWithStatusAndEventPipelineInfo,
    GetEventResponse,
    GetEventsResponse,
    IngestBatchEventRequest,
    IngestEventRequest,
    IngestEventResponse,
)

from tests.api.test_conformance_credits import frozen_client
from tests.api.test_conformance_entitlements import Entitled, fails
from tests.servers import Server

WHEN = datetime(2030, 6, 15, 11, 0)  # naive: the client sends no offset, the server reads UTC


class Events(Entitled):
    def __init__(self, server: Server, key: str | None) -> None:
        super().__init__(server, key)
        self.ingestion = EventIngestionApi(self.api_client)
        self.management = EventManagementApi(self.api_client)

    def world(self, granted: int = 10) -> tuple[str, str, str]:
        """An account with `granted` tokens in one entry; its schema and feature."""
        account = self.new_account()
        schema = self.new_schema("tokens")
        feature = self.new_feature("tokens " + secrets.token_hex(2), (schema, "tokens"))
        self.post(
            f"/accounts/{account}/features/{feature}/entries",
            {"granted": granted, "effectiveFrom": "2030-06-01T00:00:00Z"},
        )
        return account, schema, feature

    def balance(self, account: str, feature: str) -> tuple[Any, Any]:
        got = self.entitlements.get_feature_credits(account, feature)
        return got.balance, got.granted


def event(account: str, schema: str, tokens: str, event_id: str | None = None) -> Event:
    return Event(
        schema_name=schema,
        id=event_id or "evt-" + secrets.token_hex(6),
        timestamp=WHEN,
        account_id=account,
        attributes=[Attribute(name="tokens", value=tokens)],
        dimensions={"region": "eu"},
    )


@pytest.fixture
def ev(server: Server) -> Iterator[Events]:
    yield from frozen_client(server, Events)


def test_ingest_draws_what_is_covered_and_records_the_shortfall(ev: Events) -> None:
    account, schema, feature = ev.world(granted=10)
    answer = ev.ingestion.ingest(IngestEventRequest(event=event(account, schema, "4", "e-1")))
    assert isinstance(answer, IngestEventResponse)
    assert answer.success is True and answer.status_code == 202
    assert answer.details is not None and answer.details["eventId"] == "e-1"
    assert ev.balance(account, feature) == (6, 10)
    short = ev.ingestion.ingest(IngestEventRequest(event=event(account, schema, "9", "e-2")))
    assert isinstance(short, IngestEventResponse) and short.details is not None
    assert Decimal(str(short.details["shortfall"][feature])) == 3
    assert ev.balance(account, feature) == (0, 10)
    # A producer's retry is recorded once: answered 202 as a repeat, nothing drawn again.
    again = ev.ingestion.ingest(IngestEventRequest(event=event(account, schema, "4", "e-1")))
    assert isinstance(again, IngestEventResponse) and again.details is not None
    assert again.details["repeat"] is True
    # ... with the reference of what was recorded the first time, so the producer can find it.
    assert again.details["referenceId"] == answer.details["referenceId"] is not None
    assert ev.balance(account, feature) == (0, 10)

    listed = ev.management.get_events(account_id=account)
    assert isinstance(listed, GetEventsResponse)
    # (The server clock is frozen: both were received at one instant, so no order between them.)
    assert sorted(e.event_payload.id for e in listed.events) == ["e-1", "e-2"]
    [newest] = [e for e in listed.events if e.event_payload.id == "e-2"]
    assert newest.ingestion_status.status == "INGESTION_COMPLETED_EVENT_METERED"
    assert "shortfall" in (newest.ingestion_status.status_description or "")
    assert newest.source is not None and newest.source.type == "INGEST"


def test_ingest_batch_answers_202_or_207_naming_the_failures(ev: Events) -> None:
    account, schema, feature = ev.world(granted=100)
    good = [event(account, schema, "1") for _ in range(5)]
    done = ev.ingestion.ingest_batch(IngestBatchEventRequest(events=good))
    assert isinstance(done, IngestEventResponse) and done.status_code == 202
    assert ev.balance(account, feature) == (95, 100)
    mixed = [
        event(account, schema, "2"),
        event("acc-nobody-" + secrets.token_hex(3), schema, "1"),
        event(account, "no such schema", "1"),
        event(account, schema, "3"),
    ]
    answer = ev.ingestion.ingest_batch_with_http_info(IngestBatchEventRequest(events=mixed))
    assert answer.status_code == 207
    parsed = answer.data
    assert isinstance(parsed, IngestEventResponse)
    assert parsed.success is False and parsed.details is not None
    assert [f["index"] for f in parsed.details["failures"]] == [1, 2]
    assert [f["statusCode"] for f in parsed.details["failures"]] == [400, 400]
    assert "acc-nobody" in parsed.details["failures"][0]["message"]
    assert "no such schema" in parsed.details["failures"][1]["message"]
    assert parsed.details["recorded"] == 2
    assert ev.balance(account, feature) == (90, 100)


def test_get_single_event_and_empty_lists(ev: Events) -> None:
    account, schema, _ = ev.world()
    ev.event(account, schema, "e-9", at=WHEN, tokens="2")
    listed = ev.management.get_events(account_id=account, page_size=1)
    assert isinstance(listed, GetEventsResponse)
    reference = listed.events[0].reference_id
    got = ev.management.get_single_event(reference)
    assert isinstance(got, GetEventResponse)
    [one] = got.events
    assert isinstance(one, EventWithStatusAndEventPipelineInfo)
    assert one.source is not None and one.source.id == "ENTITLED"
    assert one.event_pipeline_info.feature_details is not None
    assert one.event_pipeline_info.feature_details.mapped_attribute == "tokens"
    assert one.event_pipeline_info.account is not None
    assert one.event_pipeline_info.account.id == account
    fails(
        NotFoundException,
        lambda: ev.management.get_single_event("evt.unknown"),
        404,
        declared=False,
    )
    # A filter that matches nothing answers 204: the client returns None instead of failing
    # to parse an empty GetEventsResponse (it requires one event).
    assert ev.management.get_events(account_id="acc-none") is None
    message = fails(BadRequestException, lambda: ev.management.get_events(status="NOPE"), 400)
    assert "status must be one of" in message


def test_undo_gives_the_units_back_once(ev: Events) -> None:
    account, schema, feature = ev.world(granted=10)
    ev.event(account, schema, "e-undo", at=WHEN, tokens="10")
    assert ev.balance(account, feature) == (0, 10)
    named = EventCorrectionRequest(event=event(account, schema, "10", "e-undo"))
    done = ev.management.event_correction("UNDO", False, named)
    assert isinstance(done, EventsCorrectionResponse)
    [info] = done.data
    assert info.status == "REVERTED" and info.reason
    assert info.ingestion_status.status == "REVERTED"
    assert ev.balance(account, feature) == (10, 10)
    again = ev.management.event_correction("UNDO", event_correction_request=named)
    assert isinstance(again, EventsCorrectionResponse)
    assert again.data[0].status == "FAILED" and "already reverted" in again.data[0].reason
    assert ev.balance(account, feature) == (10, 10)
    listed = ev.management.get_events(account_id=account, status="REVERTED")
    assert isinstance(listed, GetEventsResponse)
    [shown] = ev.management.get_single_event(listed.events[0].reference_id).events
    assert shown.event_pipeline_info.status_before_reverting == (
        "INGESTION_COMPLETED_EVENT_METERED"
    )


def test_redo_event_rejudges_a_corrected_payload(ev: Events) -> None:
    account, schema, feature = ev.world(granted=10)
    ev.event(account, schema, "e-redo", at=WHEN, tokens="8")
    corrected = EventCorrectionRequest(event=event(account, schema, "3", "e-redo"))
    done = ev.management.event_correction("REDO_EVENT", event_correction_request=corrected)
    assert isinstance(done, EventsCorrectionResponse)
    assert [d.status for d in done.data] == ["REVERTED_AND_REINGESTED"] * 2
    assert ev.balance(account, feature) == (7, 10)
    # Judged again and refused: FAILED, nothing changes.
    too_much = EventCorrectionRequest(event=event(account, schema, "11", "e-redo"))
    refused = ev.management.event_correction("REDO_EVENT", event_correction_request=too_much)
    assert isinstance(refused, EventsCorrectionResponse)
    assert refused.data[0].status == "FAILED"
    assert ev.balance(account, feature) == (7, 10)


def test_correction_bad_input_is_400(ev: Events) -> None:
    account, schema, _ = ev.world()
    named = EventCorrectionRequest(event=event(account, schema, "1", "e-x"))
    message = fails(
        BadRequestException,
        lambda: ev.management.event_correction("DROP", event_correction_request=named),
        400,
    )
    assert "action must be one of" in message
    fails(
        NotFoundException,
        lambda: ev.management.event_correction("UNDO", event_correction_request=named),
        404,
        declared=False,
    )


def test_a_feature_hold_settlement_is_listed_as_an_event_the_client_parses(ev: Events) -> None:
    account, _, feature = ev.world(granted=10)
    path = f"/accounts/{account}/feature_holds"
    ev.post(path, {"id": "job-1", "features": [{"featureId": feature, "units": 4}]}, 201)
    ev.post(f"{path}/job-1/settle", {"features": [{"featureId": feature, "units": 12.5}]})
    listed = ev.management.get_events(account_id=account)
    assert isinstance(listed, GetEventsResponse)
    [settled] = listed.events  # the reservation is not usage: only the settlement is listed
    assert settled.source is not None and settled.source.type == "FEATURE_HOLD_SETTLE"
    payload = settled.event_payload
    assert (payload.schema_name, payload.id, payload.account_id) == (
        "FEATURE_HOLD_SETTLE",
        "job-1",
        account,
    )
    assert [(a.name, a.value) for a in payload.attributes] == [(feature, "12.5")]
    assert payload.dimensions == {"holdId": "job-1"}
    one = ev.management.get_single_event(settled.reference_id)
    assert isinstance(one, GetEventResponse) and one.events[0].event_payload.id == "job-1"
