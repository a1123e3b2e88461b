"""Event schemas, features and entitlement plans over HTTP (docs/api.md §5)."""

from __future__ import annotations

import secrets
from typing import Any, cast

import httpx
import pytest

from tests.helpers import error_message, new_feature, new_plan, new_schema, ok_json
from tests.servers import Server, iter_pages


def _all(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], list(iter_pages(api, path, **params)))


def _schema_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "attributes": [{"name": "tokens", "defaultUnit": "None"}, {"name": "images"}],
        "dimensions": [{"name": "region"}],
        **extra,
    }


def _feature(api: httpx.Client, feature_id: str) -> dict[str, Any]:
    return ok_json(api.get(f"/features/{feature_id}"))


# --- event schemas ---------------------------------------------------------------------------


def test_create_event_schema_answers_201_and_reads_back(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-03-04T05:06:07Z")
    name = "ai usage_" + secrets.token_hex(3)
    body = _schema_body(name, description="tokens and images", filterFields=["region"])
    r = api.post("/event_schema", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == name
    assert created["version"] == 1 and isinstance(created["version"], int)
    assert created["status"] == "ACTIVE"
    assert created["description"] == "tokens and images"
    assert created["attributes"] == [{"name": "tokens", "defaultUnit": "None"}, {"name": "images"}]
    assert created["dimensions"] == [{"name": "region"}]
    assert created["filterFields"] == ["region"]
    assert created["createdAt"] == "2026-03-04T05:06:07Z"

    got = api.get(f"/event_schema/{name}")
    assert got.status_code == 200, got.text
    assert got.json() == created
    assert api.get(f"/event_schema/{name}", params={"version": 1}).json() == created
    assert "version 2" in error_message(
        api.get(f"/event_schema/{name}", params={"version": 2}), 404
    )
    assert "version" in error_message(
        api.get(f"/event_schema/{name}", params={"version": "x"}), 400
    )


def test_event_schema_enrichments_round_trip_in_togai_shape(api: httpx.Client) -> None:
    field = {
        "name": "price",
        "type": "ATTRIBUTE",
        "enrichmentType": "LOOKUP",
        "value": "model",
        "order": 1,
    }
    enrichments = {
        "dependencies": [{"type": "ATTRIBUTE", "key": "model", "name": "model"}],
        "fields": [field],
    }
    name = "enriched_" + secrets.token_hex(3)
    r = api.post("/event_schema", json=_schema_body(name, enrichments=enrichments))
    assert r.status_code == 201, r.text
    assert r.json()["enrichments"] == enrichments
    assert api.get(f"/event_schema/{name}").json()["enrichments"] == enrichments
    # Free-form values (numbers, unknown keys) are refused, not stored.
    for bad in ({"a": 1.5}, {"fields": [{**field, "order": 1.5}]}):
        other = "enriched_" + secrets.token_hex(3)
        message = error_message(
            api.post("/event_schema", json=_schema_body(other, enrichments=bad)), 400
        )
        assert "enrichments" in message
        error_message(api.get(f"/event_schema/{other}"), 404)


def test_event_schema_list_pages_and_filters(api: httpx.Client) -> None:
    names = sorted(new_schema(api) for _ in range(3))
    first = api.get("/event_schema", params={"pageSize": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [s["name"] for s in page["data"]] == names[:2]
    assert page["nextToken"]
    listed = [s["name"] for s in _all(api, "/event_schema", pageSize=2)]
    assert listed == names
    r = api.post(f"/event_schema/{names[0]}/deactivate")
    assert r.status_code == 200 and r.json()["status"] == "INACTIVE", r.text
    active = [s["name"] for s in _all(api, "/event_schema", status="ACTIVE")]
    assert active == names[1:]
    error_message(api.get("/event_schema", params={"pageSize": 51}), 400)
    error_message(api.get("/event_schema", params={"nextToken": page["nextToken"] + "x"}), 400)


def test_duplicate_event_schema_is_409(api: httpx.Client) -> None:
    name = new_schema(api)
    message = error_message(
        api.post("/event_schema", json=_schema_body(name, description="2nd")), 409
    )
    assert name in message
    assert api.get(f"/event_schema/{name}").json().get("description") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "bad/name"}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"attributes": None}, "attributes"),
        ({"dimensions": [{"label": "region"}]}, "dimensions[0]"),
        ({"attributes": [{"name": "tokens"}, {"name": "tokens"}]}, "attribute"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_event_schema_bad_input_is_400_naming_the_field(
    api: httpx.Client, change: dict[str, Any], field: str
) -> None:
    name = "s_" + secrets.token_hex(4)
    body = {**_schema_body(name), **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert field in error_message(api.post("/event_schema", json=body), 400)
    error_message(api.get(f"/event_schema/{name}"), 404)


def test_unknown_event_schema_is_404(api: httpx.Client) -> None:
    assert "nope" in error_message(api.get("/event_schema/nope"), 404)
    error_message(api.post("/event_schema/nope/activate"), 404)


# --- features --------------------------------------------------------------------------------


def test_create_feature_answers_200_with_generated_id(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-03-04T05:06:07Z")
    schema = new_schema(api, ("tokens", "images"))
    r = api.post(
        "/features",
        json={
            "name": "AI tokens",
            "billableName": "Tokens",
            "schemaAssociations": [{"schemaName": schema, "attributeName": "tokens"}],
        },
    )
    assert r.status_code == 200, r.text
    feature = r.json()
    assert feature["id"].startswith("feature.") and len(feature["id"]) <= 50
    assert feature["name"] == "AI tokens"
    assert feature["billableName"] == "Tokens"
    assert feature["displayName"] == "Tokens"
    assert feature["schemaAssociations"] == [{"schemaName": schema, "attributeName": "tokens"}]
    assert feature["valueType"] == "BOOLEAN"
    assert "allowedValues" not in feature
    assert feature["createdAt"] == "2026-03-04T05:06:07Z"
    assert _feature(api, feature["id"]) == feature


def test_feature_extensions_id_value_type_allowed_values(api: httpx.Client) -> None:
    key = "tier-" + secrets.token_hex(3)
    r = api.post(
        "/features",
        json={
            "id": key,
            "name": "Support tier",
            "schemaAssociations": [],
            "valueType": "ENUM",
            "allowedValues": ["basic", "gold"],
        },
    )
    assert r.status_code == 200, r.text
    feature = r.json()
    assert feature["id"] == key
    assert feature["displayName"] == "Support tier"
    assert feature["valueType"] == "ENUM"
    assert feature["allowedValues"] == ["basic", "gold"]
    assert feature["schemaAssociations"] == []
    for value_type in ("NUMERIC", "STRING", "BOOLEAN"):
        fid = new_feature(api, valueType=value_type)
        assert _feature(api, fid)["valueType"] == value_type


def test_duplicate_feature_id_is_409_and_keeps_the_original(api: httpx.Client) -> None:
    key = "seats-" + secrets.token_hex(3)
    new_feature(api, id=key, name="Seats", valueType="NUMERIC")
    r = api.post("/features", json={"id": key, "name": "Other", "schemaAssociations": []})
    assert key in error_message(r, 409)
    assert _feature(api, key)["name"] == "Seats"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schemaAssociations": []}, "name"),
        ({"name": "x"}, "schemaAssociations"),
        ({"name": "x", "schemaAssociations": [], "valueType": "COLOUR"}, "valueType"),
        ({"name": "x", "schemaAssociations": [], "valueType": "ENUM"}, "allowedValues"),
        (
            {"name": "x", "schemaAssociations": [], "valueType": "STRING", "allowedValues": ["a"]},
            "allowedValues",
        ),
        ({"name": "x", "schemaAssociations": [], "id": "y" * 51}, "id"),
        ({"name": "x", "schemaAssociations": [], "type": "METERED"}, "type"),
        ({"name": "x", "schemaAssociations": ["some_schema"]}, "schemaAssociations"),
        (
            {"name": "x", "schemaAssociations": [{"schemaName": "s", "attribute": "tokens"}]},
            "attribute",
        ),
    ],
)
def test_feature_bad_input_is_400_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    assert field in error_message(api.post("/features", json=body), 400)
    assert _all(api, "/features") == []


def test_feature_associations_must_name_real_schemas_and_attributes(api: httpx.Client) -> None:
    schema = new_schema(api, ("tokens",))
    missing = {"name": "x", "schemaAssociations": [{"schemaName": "nope", "attributeName": "t"}]}
    assert "nope" in error_message(api.post("/features", json=missing), 404)
    bad_attr = {
        "name": "x",
        "schemaAssociations": [{"schemaName": schema, "attributeName": "images"}],
    }
    assert "images" in error_message(api.post("/features", json=bad_attr), 400)
    twice = {
        "name": "x",
        "schemaAssociations": [
            {"schemaName": schema, "attributeName": "tokens"},
            {"schemaName": schema, "attributeName": "tokens"},
        ],
    }
    assert schema in error_message(api.post("/features", json=twice), 400)
    assert _all(api, "/features") == []


def test_list_features_pages_with_schema_count(api: httpx.Client) -> None:
    schema_a, schema_b = new_schema(api), new_schema(api)
    ids = sorted(
        [
            new_feature(api, [(schema_a, "tokens"), (schema_b, "tokens")]),
            new_feature(api, [(schema_a, "tokens")]),
            new_feature(api),
        ]
    )
    first = api.get("/features", params={"pageSize": 2})
    assert first.status_code == 200, first.text
    assert len(first.json()["data"]) == 2 and first.json()["nextToken"]
    listed = _all(api, "/features", pageSize=2)
    assert sorted(f["id"] for f in listed) == ids
    counts = sorted(f["schemaCount"] for f in listed)
    assert counts == [0, 1, 2]
    for item in listed:
        assert {"id", "name", "displayName", "schemaCount", "createdAt"} <= set(item)
    error_message(api.get("/features", params={"pageSize": 0}), 400)
    error_message(api.get("/features", params={"nextToken": "forged.token"}), 400)


def test_patch_feature_changes_names_and_associations(clock: Server, api: httpx.Client) -> None:
    clock.set_clock("2026-03-04T00:00:00Z")
    schema_a, schema_b = new_schema(api, ("tokens",)), new_schema(api, ("calls",))
    fid = new_feature(api, [(schema_a, "tokens")], name="Tokens")
    clock.set_clock("2026-03-05T00:00:00Z")
    r = api.patch(
        f"/features/{fid}",
        json={"schemaAssociations": [{"schemaName": schema_b, "attributeName": "calls"}]},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["name"] == "Tokens"
    assert patched["schemaAssociations"] == [{"schemaName": schema_b, "attributeName": "calls"}]
    assert patched["updatedAt"] == "2026-03-05T00:00:00Z"
    assert patched["createdAt"] == "2026-03-04T00:00:00Z"
    assert _feature(api, fid) == patched

    r = api.patch(f"/features/{fid}", json={"billableName": "Calls"})
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "Calls"
    assert r.json()["schemaAssociations"] == patched["schemaAssociations"]

    r = api.patch(f"/features/{fid}", json={"schemaAssociations": []})
    assert r.status_code == 200 and r.json()["schemaAssociations"] == [], r.text


def test_patch_feature_bad_input_changes_nothing(api: httpx.Client) -> None:
    schema = new_schema(api, ("tokens",))
    fid = new_feature(api, [(schema, "tokens")], name="Tokens")
    before = _feature(api, fid)
    bad_attr = [{"schemaName": schema, "attributeName": "nope"}]
    r = api.patch(f"/features/{fid}", json={"name": "Renamed", "schemaAssociations": bad_attr})
    assert "nope" in error_message(r, 400)
    unknown = [{"schemaName": "missing_schema", "attributeName": "tokens"}]
    r = api.patch(f"/features/{fid}", json={"name": "Renamed", "schemaAssociations": unknown})
    assert "missing_schema" in error_message(r, 404)
    assert "valueType" in error_message(
        api.patch(f"/features/{fid}", json={"valueType": "ENUM"}), 400
    )
    assert "name" in error_message(api.patch(f"/features/{fid}", json={"name": ""}), 400)
    assert _feature(api, fid) == before
    error_message(api.patch("/features/no-such-feature", json={"name": "Renamed"}), 404)
    error_message(api.get("/features/no-such-feature"), 404)


# --- entitlement plans -----------------------------------------------------------------------


def test_create_plan_answers_200_and_reads_back(api: httpx.Client) -> None:
    metered = new_feature(api, [(new_schema(api), "tokens")])
    flag = new_feature(api, valueType="BOOLEAN")
    plan_id = "pro-" + secrets.token_hex(3)
    r = api.post(
        "/entitlement_plans",
        json={
            "id": plan_id,
            "name": "Pro",
            "type": "BILLING",
            "cycle": "QUARTERLY",
            "features": [
                {"featureId": metered, "creditsPerCycle": 1000.5, "overagePerCycle": 0.3},
                {"featureId": flag, "value": "true"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert '"creditsPerCycle":1000.5' in r.text and '"overagePerCycle":0.3' in r.text
    plan = r.json()
    assert plan["id"] == plan_id
    assert (plan["name"], plan["type"], plan["cycle"]) == ("Pro", "BILLING", "QUARTERLY")
    assert plan["features"] == [
        {"featureId": metered, "creditsPerCycle": 1000.5, "overagePerCycle": 0.3},
        {"featureId": flag, "value": "true"},
    ]
    got = api.get(f"/entitlement_plans/{plan_id}")
    assert got.status_code == 200 and got.json() == plan, got.text
    generated = new_plan(api, [{"featureId": metered, "creditsPerCycle": 5}], "PURCHASE")
    assert api.get(f"/entitlement_plans/{generated}").json()["type"] == "PURCHASE"
    listed = [p["id"] for p in _all(api, "/entitlement_plans", pageSize=1)]
    assert sorted(listed) == sorted([plan_id, generated])


@pytest.mark.parametrize("cycle", ["WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "ANNUALLY"])
def test_plan_cycles(api: httpx.Client, cycle: str) -> None:
    fid = new_feature(api)
    plan_id = new_plan(api, [{"featureId": fid, "value": "true"}], cycle=cycle)
    assert api.get(f"/entitlement_plans/{plan_id}").json()["cycle"] == cycle


def test_plan_rules(api: httpx.Client) -> None:
    flag = new_feature(api, valueType="BOOLEAN")
    tier = new_feature(api, valueType="ENUM", allowedValues=["basic", "gold"])
    seats = new_feature(api, valueType="NUMERIC")
    metered = new_feature(api)

    def bad(features: list[dict[str, Any]], status: int = 400, **fields: Any) -> str:
        body = {"name": "P", "type": "BILLING", "features": features, **fields}
        return error_message(api.post("/entitlement_plans", json=body), status)

    assert "cycle" in bad([{"featureId": flag, "value": "true"}], cycle="DAILY")
    assert "type" in bad([{"featureId": flag, "value": "true"}], type="SUBSCRIPTION")
    assert "features" in bad([])
    assert "true" in bad([{"featureId": flag, "value": "yes"}])
    assert "gold" in bad([{"featureId": tier, "value": "platinum"}])
    assert "NUMERIC" in bad([{"featureId": seats, "value": "ten"}])
    assert metered in bad([{"featureId": metered}])
    assert "creditsPerCycle" in bad([{"featureId": metered, "creditsPerCycle": -1}])
    assert "creditsPerCycle" in bad([{"featureId": metered, "creditsPerCycle": "10"}])
    assert "validity" in bad([{"featureId": metered, "creditsPerCycle": 1, "validity": "30 days"}])
    assert "once" in bad(
        [{"featureId": flag, "value": "true"}, {"featureId": flag, "value": "true"}]
    )
    assert "overagePerCycle" in bad(
        [{"featureId": metered, "creditsPerCycle": 1, "overagePerCycle": 1}], type="PURCHASE"
    )
    assert "unknown" in bad([{"featureId": "unknown", "value": "true"}], 404)
    assert _all(api, "/entitlement_plans") == []

    plan_id = new_plan(api, [{"featureId": flag, "value": "true"}], id="p-" + secrets.token_hex(3))
    assert plan_id in bad([{"featureId": flag, "value": "false"}], 409, id=plan_id)
    error_message(api.get("/entitlement_plans/no-such-plan"), 404)


# --- tenancy ---------------------------------------------------------------------------------


def test_catalog_is_private_to_its_organization(server: Server, api: httpx.Client) -> None:
    schema = new_schema(api)
    fid = new_feature(api, [(schema, "tokens")], id="shared-key")
    plan_id = new_plan(api, [{"featureId": fid, "creditsPerCycle": 10}])
    with server.client() as other:
        error_message(other.get(f"/event_schema/{schema}"), 404)
        error_message(other.get(f"/features/{fid}"), 404)
        error_message(other.patch(f"/features/{fid}", json={"name": "Mine"}), 404)
        error_message(other.get(f"/entitlement_plans/{plan_id}"), 404)
        assert _all(other, "/event_schema") == []
        assert _all(other, "/features") == []
        assert _all(other, "/entitlement_plans") == []
        # Associating another tenant's schema fails as if it did not exist.
        r = other.post(
            "/features",
            json={
                "name": "x",
                "schemaAssociations": [{"schemaName": schema, "attributeName": "t"}],
            },
        )
        error_message(r, 404)
        # The same names are free in another organization.
        assert other.post("/event_schema", json=_schema_body(schema)).status_code == 201
        other_fid = new_feature(other, [(schema, "tokens")], id="shared-key", name="Theirs")
        assert other_fid == fid
        new_feature(api)
        token = api.get("/features", params={"pageSize": 1}).json()["nextToken"]
        error_message(other.get("/features", params={"pageSize": 1, "nextToken": token}), 400)
    assert _feature(api, fid)["name"] != "Theirs"
