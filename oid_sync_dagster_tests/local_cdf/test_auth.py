"""Authentication of the local CDF: OAuth2 client credentials, signed bearer tokens, request ids, loopback only."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import httpx2
import pytest
from cognite.client import CogniteClient
from cognite.client.credentials import OAuthClientCredentials, Token
from cognite.client.exceptions import CogniteNotFoundError, CogniteOAuthError, CogniteProjectAccessError

from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
from oid_sync_dagster_tests.conftest import FROZEN_NOW_S, make_client
from oid_sync_dagster_tests.local_cdf.conftest import MutableClock, api, error_of, fetch_token

WRONG_SECRET = "not-the-secret-3f9a1c"


def _form(cdf: RunningLocalCDF, **overrides: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": cdf.client_id, "client_secret": cdf.client_secret}
    form.update(overrides)
    return form


def _inspect(cdf: RunningLocalCDF, token: str) -> httpx2.Response:
    return httpx2.get(f"{cdf.base_url}/api/v1/token/inspect", headers={"authorization": f"Bearer {token}"})


def _list(cdf: RunningLocalCDF, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(f"{cdf.base_url}{api('target', '/timeseries/list')}", json={"limit": 1}, headers=headers)


# --- the token endpoint ---------------------------------------------------------------------------------


def test_sdk_client_credentials_in_the_form_body(local_cdf: RunningLocalCDF) -> None:
    client = make_client(local_cdf, "target")
    assert list(client.time_series.list(limit=None)) == []
    tokens = local_cdf.request_log.matching(r"^/oauth2/token$", "POST")
    assert [r.status for r in tokens] == [200]  # one token served every call so far
    inspection = client.iam.token.inspect()
    assert inspection.subject == local_cdf.client_id
    assert local_cdf.app.state.issuer.tokens_issued == 1


def test_token_response_shape(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(local_cdf.token_url, data=_form(local_cdf), headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert _inspect(local_cdf, body["access_token"]).status_code == 200


def test_token_via_http_basic_auth(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(
        local_cdf.token_url,
        data={"grant_type": "client_credentials"},
        auth=(local_cdf.client_id, local_cdf.client_secret),
    )
    assert response.status_code == 200, response.text
    assert _inspect(local_cdf, response.json()["access_token"]).json()["subject"] == local_cdf.client_id

    wrong = httpx2.post(
        local_cdf.token_url, data={"grant_type": "client_credentials"}, auth=(local_cdf.client_id, WRONG_SECRET)
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert WRONG_SECRET not in wrong.text


def test_token_via_the_entra_id_path(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(f"{local_cdf.base_url}/some-tenant/oauth2/v2.0/token", data=_form(local_cdf))
    assert response.status_code == 200
    assert _inspect(local_cdf, response.json()["access_token"]).status_code == 200


def test_wrong_secret_is_invalid_client_and_never_echoed(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(local_cdf.token_url, data=_form(local_cdf, client_secret=WRONG_SECRET))
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert isinstance(body["error_description"], str)
    assert WRONG_SECRET not in response.text
    assert all(WRONG_SECRET not in value for value in response.headers.values())

    client = make_client(local_cdf, "target", client_secret=WRONG_SECRET)
    with pytest.raises(CogniteOAuthError) as info:
        client.time_series.list(limit=1)
    assert info.value.error == "invalid_client"
    assert WRONG_SECRET not in str(info.value)
    assert WRONG_SECRET not in repr(info.value.args) and WRONG_SECRET not in info.value.description
    # The failed token request never reached the API.
    assert local_cdf.request_log.matching(r"/timeseries/list") == []


def test_unknown_client_is_invalid_client(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(local_cdf.token_url, data=_form(local_cdf, client_id="someone-else"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unsupported_grant_type(local_cdf: RunningLocalCDF) -> None:
    for grant in ("password", "authorization_code", ""):
        response = httpx2.post(local_cdf.token_url, data=_form(local_cdf, grant_type=grant))
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"
        assert local_cdf.client_secret not in response.text


def test_missing_secret_is_invalid_request(local_cdf: RunningLocalCDF) -> None:
    response = httpx2.post(
        local_cdf.token_url, data={"grant_type": "client_credentials", "client_id": local_cdf.client_id}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- bearer tokens on the API ---------------------------------------------------------------------------


def test_api_without_a_token_is_401_with_cdf_error_body(local_cdf: RunningLocalCDF) -> None:
    for headers in ({}, {"authorization": "Basic " + base64.b64encode(b"a:b").decode()}, {"authorization": "Bearer"}):
        response = _list(local_cdf, headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == 401
    response = httpx2.get(f"{local_cdf.base_url}/api/v1/token/inspect")
    assert response.status_code == 401
    error_of(response)


def test_tampered_tokens_are_rejected(local_cdf: RunningLocalCDF) -> None:
    token = fetch_token(local_cdf)
    assert _list(local_cdf, {"authorization": f"Bearer {token}"}).status_code == 200
    prefix, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    longer = base64.urlsafe_b64encode(json.dumps({**claims, "exp": claims["exp"] + 10**6}).encode())
    other_sub = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "admin"}).encode())
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    tampered = [
        f"{prefix}.{longer.decode().rstrip('=')}.{signature}",
        f"{prefix}.{other_sub.decode().rstrip('=')}.{signature}",
        f"{prefix}.{payload}.{flipped}",
        f"{prefix}.{payload}",
        f"other.{payload}.{signature}",
        "garbage",
    ]
    for bad in tampered:
        response = _list(local_cdf, {"authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
        assert error_of(response)["code"] == 401


def test_sdk_with_an_invalid_token_raises_project_access_error(local_cdf: RunningLocalCDF) -> None:
    from cognite.client import ClientConfig

    client = CogniteClient(
        ClientConfig(
            client_name="oid-sync-tests",
            project="target",
            credentials=Token("lcdf.e30.forged"),
            base_url=local_cdf.base_url,
        )
    )
    with pytest.raises(CogniteProjectAccessError) as info:
        client.time_series.list(limit=1)
    failed = local_cdf.request_log.matching(r"/timeseries/list$")
    assert [r.status for r in failed] == [401]
    assert info.value.x_request_id == failed[0].request_id
    assert failed[0].request_id in str(info.value)


def test_expired_token_is_rejected(tmp_path: Path) -> None:
    clock = MutableClock(FROZEN_NOW_S)
    settings = LocalCDFSettings(data_dir=tmp_path / "cdf", auth_clock=clock, token_ttl_s=600)
    with serve_in_thread(settings) as cdf:
        token = fetch_token(cdf)
        headers = {"authorization": f"Bearer {token}"}
        clock.advance(599)
        assert _list(cdf, headers).status_code == 200
        clock.advance(1)  # exactly at expiry: no longer valid
        response = _list(cdf, headers)
        assert response.status_code == 401
        assert "expired" in error_of(response)["message"]
        assert _inspect(cdf, token).status_code == 401
        assert _list(cdf, {"authorization": f"Bearer {fetch_token(cdf)}"}).status_code == 200


def test_token_inspect_returns_subject_and_projects(local_cdf: RunningLocalCDF, http: httpx2.Client) -> None:
    assert http.post(api("target", "/timeseries/list"), json={"limit": 1}).status_code == 200
    body = http.get("/api/v1/token/inspect").json()
    assert body["subject"] == local_cdf.client_id
    assert body["projects"] == [
        {"projectUrlName": "publicdata", "groups": [1]},
        {"projectUrlName": "target", "groups": [1]},
    ]
    acls = {next(k for k in cap if k != "projectScope") for cap in body["capabilities"]}
    assert {"timeSeriesAcl", "dataModelsAcl", "rawAcl", "extractionPipelinesAcl"} <= acls
    inspection = make_client(local_cdf, "publicdata").iam.token.inspect()
    assert inspection.subject == local_cdf.client_id
    assert [p.url_name for p in inspection.projects] == ["publicdata", "target"]


# --- request ids ----------------------------------------------------------------------------------------


def test_every_response_carries_a_unique_request_id(local_cdf: RunningLocalCDF, http: httpx2.Client) -> None:
    responses = [
        httpx2.post(local_cdf.token_url, data=_form(local_cdf)),
        httpx2.post(local_cdf.token_url, data=_form(local_cdf, client_secret=WRONG_SECRET)),
        httpx2.get(f"{local_cdf.base_url}/_local/health"),
        _list(local_cdf, {}),
        http.post(api("target", "/timeseries/list"), json={"limit": 1}),
        http.post(api("target", "/timeseries/byids"), json={"items": [{"externalId": "nope"}]}),
        http.post(api("target", "/no/such/route"), json={}),
        http.get("/api/v1/token/inspect"),
    ]
    assert [r.status_code for r in responses] == [200, 401, 200, 401, 200, 400, 404, 200]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    logged = list(local_cdf.request_log.records)[-len(ids) :]  # the http fixture fetched a token first
    assert [r.request_id for r in logged] == ids
    assert [r.status for r in logged] == [r.status_code for r in responses]


def test_sdk_exceptions_carry_the_request_id(local_cdf: RunningLocalCDF, target: CogniteClient) -> None:
    with pytest.raises(CogniteNotFoundError) as info:
        target.time_series.retrieve_multiple(external_ids=["nope"])
    (record,) = local_cdf.request_log.matching(r"/timeseries/byids$")
    assert record.status == 400
    assert info.value.x_request_id == record.request_id
    assert f"X-Request-ID: {record.request_id}" in str(info.value)


# --- where it listens, and restarts ---------------------------------------------------------------------


def _listeners(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port`, read from the kernel's tables."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.append(address)
    return found


def test_binds_to_loopback_only(local_cdf: RunningLocalCDF) -> None:
    url = httpx2.URL(local_cdf.base_url)
    assert local_cdf.base_url == f"http://127.0.0.1:{url.port}"
    assert local_cdf.token_url == f"{local_cdf.base_url}/oauth2/token"
    if not Path("/proc/net/tcp").exists():
        pytest.fail("this test reads the kernel's socket table from /proc/net/tcp (Linux)")
    assert url.port is not None
    assert _listeners(url.port) == ["0100007F"]  # 127.0.0.1, little-endian hex; nothing on IPv6
    # And a connection to a non-loopback address of this host is refused, when the host has one.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            own = probe.getsockname()[0]
        except OSError:
            own = "127.0.0.1"
    if not own.startswith("127."):
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(f"http://{own}:{url.port}/_local/health", timeout=5)


def test_tokens_survive_a_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    settings = LocalCDFSettings(data_dir=tmp_path / "cdf", clock=lambda: FROZEN_NOW_S)
    with serve_in_thread(settings) as first:
        token = fetch_token(first)
        assert _inspect(first, token).status_code == 200
    with serve_in_thread(LocalCDFSettings(data_dir=tmp_path / "cdf", clock=lambda: FROZEN_NOW_S)) as second:
        assert _inspect(second, token).status_code == 200
        assert _list(second, {"authorization": f"Bearer {token}"}).status_code == 200
    other = LocalCDFSettings(data_dir=tmp_path / "other", clock=lambda: FROZEN_NOW_S)
    with serve_in_thread(other) as third:
        assert _inspect(third, token).status_code == 401  # another data dir signs with another key


def test_sdk_credentials_refresh_is_not_needed_within_ttl(local_cdf: RunningLocalCDF) -> None:
    credentials = OAuthClientCredentials(
        token_url=local_cdf.token_url,
        client_id=local_cdf.client_id,
        client_secret=local_cdf.client_secret,
        scopes=[f"{local_cdf.base_url}/.default"],
    )
    name, value = credentials.authorization_header()
    assert name == "Authorization" and value.startswith("Bearer lcdf.")
    assert credentials.authorization_header() == (name, value)  # cached: expires_in 3600 is honoured
    assert local_cdf.app.state.issuer.tokens_issued == 1
