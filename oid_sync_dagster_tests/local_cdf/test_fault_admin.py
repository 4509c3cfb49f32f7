"""The fault-injection admin endpoint `/_local/faults`: token-guarded, validated, seeded, and seen by the real SDK."""

from __future__ import annotations

import httpx2
import pytest
from cognite.client.data_classes import TimeSeriesWrite
from cognite.client.exceptions import CogniteAPIError, CogniteRequestError

from oid_sync_dagster.local_cdf.faults import Fault, FaultInjector
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.local_cdf.conftest import error_of, fetch_token


def _admin(cdf: RunningLocalCDF, method: str, body: object = None, token: str | None = None) -> httpx2.Response:
    headers = {"authorization": f"Bearer {token or fetch_token(cdf)}"}
    return httpx2.request(method, f"{cdf.base_url}/_local/faults", json=body, headers=headers)


def test_needs_a_valid_token(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(f"{local_cdf.base_url}/_local/faults", json={"rules": []})
    assert response.status_code == 401 and error_of(response)["code"] == 401
    assert _admin(local_cdf, "GET", token="not-a-token").status_code == 401


def test_scripted_faults_reach_the_sdk_then_clear(local_cdf: RunningLocalCDF) -> None:
    rule = {"path": "/timeseries/list$", "method": "POST", "status": 500, "message": "boom", "count": 2}
    added = _admin(local_cdf, "POST", {"rules": [rule]})
    assert added.status_code == 200
    assert added.json() == {
        "rules": [{"path": "/timeseries/list$", "method": "POST", "status": 500, "count": 1}] * 2,
        "injected": {},
    }
    client = make_client(local_cdf, "publicdata")
    for _ in range(2):  # a plain 500 is not retried by the SDK: each call meets one fault
        with pytest.raises(CogniteAPIError) as raised:
            client.time_series.list(limit=1)
        assert raised.value.code == 500 and raised.value.message == "boom"
    assert len(client.time_series.list(limit=1)) == 1  # the script is used up
    assert _admin(local_cdf, "GET").json() == {"rules": [], "injected": {"500": 2}}
    _admin(local_cdf, "POST", {"rules": [{**rule, "count": 5}]})
    assert _admin(local_cdf, "DELETE").json()["rules"] == []
    assert len(client.time_series.list(limit=1)) == 1


def test_rates_are_seeded_so_a_campaign_repeats(local_cdf: RunningLocalCDF) -> None:
    def campaign() -> list[int]:
        _admin(local_cdf, "DELETE")
        _admin(
            local_cdf,
            "POST",
            {"seed": 42, "rules": [{"path": "/timeseries/byids$", "status": 503, "rate": 0.5}]},
        )
        token = fetch_token(local_cdf)
        url = f"{local_cdf.base_url}/api/v1/projects/publicdata/timeseries/byids"
        body = {"items": [{"externalId": "pi:160030"}]}
        return [
            httpx2.post(url, json=body, headers={"authorization": f"Bearer {token}"}).status_code for _ in range(40)
        ]

    first, second = campaign(), campaign()
    assert first == second and set(first) == {200, 503}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rules": [{"status": 503, "count": 1}]}, "rules[1].path: a regular expression over the URL path is required"),
        ({"rules": [{"path": "(", "count": 1}]}, "rules[1].path: not a regular expression"),
        ({"rules": [{"path": "x", "status": 200, "count": 1}]}, "rules[1].status: an HTTP error status 400-599"),
        ({"rules": [{"path": "x"}]}, "rules[1]: give count (scripted), rate (seeded) or for_s (an outage"),
        ({"rules": [{"path": "x", "count": 1, "rate": 0.1}]}, "rules[1]: count (scripted) excludes rate and for_s"),
        ({"rules": [{"path": "x", "count": 1, "for_s": 5}]}, "rules[1]: count (scripted) excludes rate and for_s"),
        ({"rules": [{"path": "x", "for_s": 0}]}, "rules[1].for_s: seconds in (0, 3600]"),
        ({"rules": [{"path": "x", "rate": 1.5}]}, "rules[1].rate: a probability in (0, 1]"),
        ({"rules": [{"path": "x", "count": 0}]}, "rules[1].count: a positive integer"),
        ({"rules": [{"path": "x", "count": 1, "colour": "red"}]}, "rules[1]: unknown keys ['colour']"),
        ({"seed": "7", "rules": []}, "seed: an integer"),
    ],
)
def test_bad_rules_are_refused_whole(local_cdf: RunningLocalCDF, body: dict[str, object], message: str) -> None:
    good = {"path": "/timeseries/list$", "count": 1}
    response = _admin(local_cdf, "POST", {**body, "rules": [good, *body.get("rules", [])]})  # type: ignore[list-item]
    assert response.status_code == 400 and message in error_of(response)["message"]
    assert _admin(local_cdf, "GET").json()["rules"] == []  # nothing applied, not even the valid first rule


def test_admin_and_health_are_never_faulted(local_cdf: RunningLocalCDF) -> None:
    token = fetch_token(local_cdf)  # before the rule: the token endpoint is faulted like the API
    _admin(local_cdf, "POST", {"rules": [{"path": ".*", "status": 503, "rate": 1.0}]}, token=token)
    assert httpx2.post(local_cdf.token_url, data={"grant_type": "client_credentials"}).status_code == 503
    assert httpx2.get(f"{local_cdf.base_url}/_local/health").status_code == 200
    assert _admin(local_cdf, "DELETE", token=token).status_code == 200


def test_an_outage_fails_every_matching_request_until_it_ends(local_cdf: RunningLocalCDF) -> None:
    token = fetch_token(local_cdf)
    added = _admin(local_cdf, "POST", {"rules": [{"path": "^/oauth2/token$", "for_s": 600}]}, token=token)
    [rule] = added.json()["rules"]
    assert rule["path"] == "^/oauth2/token$" and rule["rate"] == 1.0 and 599 < rule["for_s"] <= 600
    for _ in range(3):
        assert httpx2.post(local_cdf.token_url, data={"grant_type": "client_credentials"}).status_code == 503
    assert _admin(local_cdf, "GET", token=token).json()["injected"] == {"503": 3}


def test_outages_end_by_the_injectors_clock() -> None:
    now = [100.0]
    faults = FaultInjector(clock=lambda: now[0])
    faults.outage("^/oauth2/token$", Fault(status=503), duration_s=30)
    assert faults.decide("POST", "/oauth2/token") == Fault(status=503)
    assert faults.decide("POST", "/api/v1/projects/p/timeseries/list") is None  # other paths unaffected
    now[0] = 129.999
    assert faults.decide("POST", "/oauth2/token") is not None
    now[0] = 130.0
    assert faults.decide("POST", "/oauth2/token") is None
    assert faults.describe() == {"rules": [], "injected": {"503": 2}}


def test_an_outage_from_its_first_match_lasts_its_duration_from_that_request() -> None:
    now = [100.0]
    faults = FaultInjector(clock=lambda: now[0])
    faults.outage("^/oauth2/token$", Fault(status=503), duration_s=30, from_first_match=True)
    now[0] = 500.0  # the client comes late (a loaded machine): the outage waits for it
    assert faults.decide("POST", "/api/v1/projects/p/timeseries/list") is None  # another path starts nothing
    assert faults.decide("POST", "/oauth2/token") == Fault(status=503)
    now[0] = 529.999
    assert faults.decide("POST", "/oauth2/token") is not None
    now[0] = 530.0
    assert faults.decide("POST", "/oauth2/token") is None
    assert faults.describe() == {"rules": [], "injected": {"503": 2}}


def test_an_applied_fault_commits_the_write_and_loses_its_answer(local_cdf: RunningLocalCDF) -> None:
    client = make_client(local_cdf, "target")
    client.time_series.create(TimeSeriesWrite(external_id="lost-answer"))
    rule = {"path": "/timeseries/data$", "method": "POST", "applied": True, "count": 1}
    assert _admin(local_cdf, "POST", {"rules": [{**rule, "status": 503}]}).status_code == 200
    # The SDK retries a datapoint insert answered 503: the retry writes the same points again, CDF overwrites them.
    client.time_series.data.insert([(1_000, 1.5), (2_000, 2.5)], external_id="lost-answer")
    assert len(local_cdf.request_log.matching("/timeseries/data$", "POST")) == 2
    # A connection broken after the commit is not retried by the SDK.
    assert _admin(local_cdf, "POST", {"rules": [{**rule, "drop": True}]}).status_code == 200
    with pytest.raises(CogniteRequestError):
        client.time_series.data.insert([(3_000, 3.5)], external_id="lost-answer")
    stored = client.time_series.data.retrieve_arrays(external_id="lost-answer", start=0, end=10_000)
    assert stored.timestamp.astype("datetime64[ms]").astype("int64").tolist() == [1_000, 2_000, 3_000]
    assert stored.value.tolist() == [1.5, 2.5, 3.5]
    assert _admin(local_cdf, "GET").json() == {"rules": [], "injected": {"applied-503": 1, "applied-drop": 1}}
    bad = _admin(local_cdf, "POST", {"rules": [{"path": "x", "applied": "yes", "count": 1}]})
    assert bad.status_code == 400 and error_of(bad)["message"] == "rules[0].applied: true or false"
