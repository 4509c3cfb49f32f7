"""Secrets stay secret, and the local CDF is a closed door.

A recognisable target client secret (the local CDF accepts it: settings.clients) drives catalog, one week of
history and realtime through Dagster (the product's resource_from_environment, so EnvVar references) and through
the engine, with DEBUG on for `oid_sync`, the SDK (`cognite.client`) and the HTTP stack (httpx2/httpcore, whose
predecessor urllib3 is listed too); then a run with a wrong secret fails. The secret, right or wrong, must appear
nowhere: captured log records (their message and every attribute, the SDK's redacted `extra` included), stdout
and stderr at the file-descriptor level, every Dagster event and run record serialized, run config, tags and
metadata, exception strings, reprs and tracebacks, the resource's repr and str, and every byte under the test's
temporary directory and the Dagster instance (event log databases, compute logs).

local_cdf/test_auth.py checks the token endpoint, tampered tokens and the in-thread server's socket; here the
child-process server (Dagster's local mode) binds loopback only, and every API route family refuses a missing,
invalid or expired token with the exact body.
"""

# No `from __future__ import annotations`: this module builds Dagster definitions.

import base64
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import dagster as dg
import httpx2
import pytest
from cognite.client.exceptions import CogniteOAuthError

from oid_sync_dagster.clients import clients_from_env
from oid_sync_dagster.config import load_config
from oid_sync_dagster.integration.assets import CATALOG_KEY, REALTIME_KEY
from oid_sync_dagster.integration.build import build_definitions
from oid_sync_dagster.integration.catalog_state import state_of
from oid_sync_dagster.integration.local_mode import running_local_cdf
from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.resources import OidSyncResource, resource_from_environment
from oid_sync_dagster.integration.translator import OidSyncTranslator, instrument_group
from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET, LocalCDFSettings
from oid_sync_dagster.sync.catalog import list_source_series
from oid_sync_dagster.sync.engine import SyncEngine
from oid_sync_dagster.sync.model import CatalogSeries
from oid_sync_dagster.sync.windows import history_weeks
from oid_sync_dagster_tests.conftest import make_client
from oid_sync_dagster_tests.dev_server import dagster_dev, ensure_target_catalog, quiesce, stop
from oid_sync_dagster_tests.graphql import poll
from oid_sync_dagster_tests.local_cdf.conftest import MutableClock, fetch_token
from oid_sync_dagster_tests.local_cdf.test_auth import _listeners

# Recognisable, and made of characters that no encoding on the way (form body, URL, JSON) changes.
SECRET = "Kq7ZsecretOidSync9XQ41"
WRONG = "Wr0ngSecretOidSync4PL7"
CLIENT = "oid-sync-secret-test"
REALTIME_PATH = ["oid", "realtime"]
LOGGERS = ("oid_sync", "cognite.client", "httpx2", "httpcore", "urllib3")


def forms(secret: str) -> list[str]:
    """The secret as any layer could carry it: itself, form-encoded, and inside HTTP Basic credentials."""
    return [secret, quote_plus(secret), base64.b64encode(f"{CLIENT}:{secret}".encode()).decode()]


def assert_absent(text: str, where: str) -> None:
    for secret in (SECRET, WRONG):
        for form in forms(secret):
            assert form not in text, f"{where} carries the secret ({form!r})"


def assert_no_file_holds_secrets(root: Path) -> int:
    """Every byte of every file under root; returns how many files were searched."""
    searched = 0
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (SECRET, WRONG):
                for form in forms(secret):
                    assert form.encode() not in data, f"{path} carries the secret ({form!r})"
            searched += 1
    return searched


@pytest.fixture
def cdf(tmp_path: Path) -> Iterator[RunningLocalCDF]:
    """Dagster runs on the wall clock; the dev client serves the (local) source, CLIENT with SECRET the target."""
    settings = LocalCDFSettings(
        data_dir=tmp_path / "local-cdf", clients={DEV_CLIENT_ID: DEV_CLIENT_SECRET, CLIENT: SECRET}
    )
    with serve_in_thread(settings) as running:
        yield running


@pytest.fixture
def environment(cdf: RunningLocalCDF, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A real-target environment (the CDF Toolkit's names) whose CDF and IdP are the local CDF, DEBUG logging."""
    config_file = tmp_path / "oid_sync.yaml"
    config_file.write_text("sync_configuration:\n  history_weeks: 1\nlogging:\n  log_level: DEBUG\n")
    env = {
        "OID_SYNC_CONFIG": str(config_file),
        "OID_SYNC_LOCAL_CDF_URL": cdf.base_url,
        "CDF_PROJECT": "target",
        "CDF_URL": cdf.base_url,
        "IDP_TOKEN_URL": cdf.token_url,
        "IDP_CLIENT_ID": CLIENT,
        "IDP_CLIENT_SECRET": SECRET,
    }
    monkeypatch.delenv("OPEN_ID_CLIENT_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def catalog(cdf: RunningLocalCDF) -> list[CatalogSeries]:
    series = list_source_series(make_client(cdf, "publicdata"), "pi:")
    return [s for s in series if instrument_group(s) == "pressure" and not s.is_string][:1] + [
        s for s in series if s.is_string
    ][:1]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Each record's message and all its attributes (the SDK's `extra`: headers, payloads) as text."""
    return "\n".join(f"{record.getMessage()} {vars(record)!r}" for record in caplog.records)


def exception_text(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), repr(error.args), *traceback.format_exception(error)])


def run_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run record (config, tags) and every event of the run, serialized as Dagster stores them."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    parts = [dg.serialize_value(run), repr(run.run_config), repr(run.tags)]
    parts += [dg.serialize_value(entry) for entry in instance.all_logs(run_id)]
    return "\n".join(parts)


def test_the_secret_appears_nowhere_in_dagster_runs_engine_logs_or_errors(
    cdf: RunningLocalCDF,
    environment: dict[str, str],
    catalog: list[CatalogSeries],
    debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resource = resource_from_environment()
    assert resource.target_client_secret == dg.EnvVar("IDP_CLIENT_SECRET")
    config = load_config(Path(environment["OID_SYNC_CONFIG"]))
    now = int(time.time() * 1000)  # one reading: the catalog's anchor, the sensor's clock and the week agree
    defs = build_definitions(state_of(catalog, now), config=config, resource=resource, clock=lambda: now)
    translator = OidSyncTranslator()
    week = history_weeks(now, 1)[0]
    texts: list[tuple[str, str]] = [("resource repr", repr(resource)), ("resource str", str(resource))]
    # private: the config dictionary Dagster stores for the resource has no public accessor
    texts.append(("resource config", repr(resource._convert_to_config_dictionary())))
    overrides = {"python_logs": {"python_log_level": "DEBUG", "managed_python_loggers": list(LOGGERS)}}
    with dg.instance_for_test(overrides=overrides) as instance:
        runs = {
            "catalog": dg.materialize(
                list(defs.assets or []), selection=[CATALOG_KEY], instance=instance, resources={"oid_sync": resource}
            ),
            "history": dg.materialize(
                list(defs.assets or []),
                selection=[translator.get_asset_key(s) for s in catalog],
                partition_key=key_of(week),
                instance=instance,
                resources={"oid_sync": resource},
            ),
            "realtime": dg.materialize(
                list(defs.assets or []), selection=[REALTIME_KEY], instance=instance, resources={"oid_sync": resource}
            ),
        }
        assert all(run.success for run in runs.values())
        written = {
            e.asset_key: e.materialization.metadata["oid_sync/points_written"].value
            for e in runs["history"].get_asset_materialization_events()
        }
        assert len(written) == 2 and all(points > 0 for points in written.values())  # type: ignore[operator]

        # The wrong secret: the same EnvVar now resolves to WRONG; the catalog step fails at once, not retried.
        monkeypatch.setenv("IDP_CLIENT_SECRET", WRONG)
        cdf.request_log.clear()
        failed = dg.materialize(
            list(defs.assets or []),
            selection=[CATALOG_KEY],
            instance=instance,
            resources={"oid_sync": resource},
            raise_on_error=False,
        )
        assert not failed.success
        assert [r.status for r in cdf.request_log.matching(r"^/oauth2/token$")] == [401]  # one attempt
        assert not [e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
        step_failures = [e for e in failed.all_events if e.is_step_failure]
        assert len(step_failures) == 1
        error = step_failures[0].step_failure_data.error
        assert error is not None and error.cls_name == "Failure"  # refusals_fail_at_once; the cause:
        assert error.cause is not None and error.cause.cls_name == "CogniteOAuthError"
        assert error.cause.message == (
            "cognite.client.exceptions.CogniteOAuthError: Error generating access token: 'invalid_client'. "
            f"Description: Client authentication failed for client id {CLIENT!r}.\n"
        )
        texts.append(("failed step error", error.to_string()))
        for name, run in {**runs, "failed": failed}.items():
            texts.append((f"{name} run records and events", run_text(instance, run.run_id)))
            texts.append((f"{name} result events", "\n".join(dg.serialize_value(e) for e in run.all_events)))
        # The resource as Dagster resolves it inside a run (EnvVar -> value) is checked separately below.
        instance_root = Path(instance.root_directory)
        searched = assert_no_file_holds_secrets(instance_root)
        assert searched > 3  # the event log, run and schedule databases at least

    # The engine, with the right secret and the wrong one.
    monkeypatch.setenv("IDP_CLIENT_SECRET", SECRET)
    clients = clients_from_env(config, os.environ)
    engine = SyncEngine.from_config(clients.source, clients.target, config)
    assert logging.getLogger("oid_sync").isEnabledFor(logging.DEBUG)
    engine.sync_catalog(catalog)
    weeks_result = engine.sync_weeks(catalog, [week])
    realtime = engine.sync_realtime(catalog)
    assert weeks_result.failed == realtime.failed == {}
    texts.append(("engine results", repr(weeks_result) + repr(realtime) + weeks_result.summary_line()))
    wrong = clients_from_env(config, {**os.environ, "IDP_CLIENT_SECRET": WRONG})
    wrong_engine = SyncEngine.from_config(wrong.source, wrong.target, config)
    texts.append(("clients", repr(wrong.target) + repr(wrong.target.config) + repr(vars(wrong.target.config))))
    with pytest.raises(CogniteOAuthError) as raised:
        wrong_engine.sync_weeks(catalog, [week])
    texts.append(("engine error", exception_text(raised.value)))

    captured = capfd.readouterr()
    texts += [("captured logs", log_text(debug_logs)), ("stdout", captured.out), ("stderr", captured.err)]
    # The searches can fail: the DEBUG logs hold the token fetches and the SDK's requests (with their redacted
    # headers and payloads), the errors hold the refusal.
    logs = texts[-3][1]
    assert "/oauth2/token" in logs and "401 Unauthorized" in logs
    assert "/timeseries/data" in logs and "'payload'" in logs and "'headers'" in logs
    assert "invalid_client" in dict(texts)["failed step error"] and "invalid_client" in dict(texts)["engine error"]
    assert "Bearer lcdf." not in "\n".join(text for _, text in texts)  # nor does an access token (SDK redacts it)
    for where, text in texts:
        assert_absent(text, where)
    assert assert_no_file_holds_secrets(tmp_path) > 3  # config, local CDF databases, signing key


def _command_lines() -> dict[int, str]:
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # gone meanwhile
    return lines


@pytest.mark.slow
def test_the_secret_appears_nowhere_across_oid_sync_dev_and_the_cli(
    cdf: RunningLocalCDF, environment: dict[str, str], tmp_path: Path
) -> None:
    """`oid-sync dev` (launcher, webserver, daemon, code server, run and step workers) syncs the live edge of a real
    target into CDF with the secret; then `oid-sync sync` and `oid-sync status`. The secret is in no process's
    output or command line, and in no file under DAGSTER_HOME (run and event storage, compute logs, the config)."""
    config_file = tmp_path / "dev.yaml"
    config_file.write_text("sync_configuration:\n  external_id_prefix: 'pi:1633'\n  history_weeks: 1\n")
    env = {**environment, "OID_SYNC_CONFIG": str(config_file)}
    target = make_client(cdf, "target")
    (tmp_path / "dev").mkdir()
    with dagster_dev(tmp_path / "dev", extra_env=env) as dev:
        ensure_target_catalog(dev.gql, dev.repo)
        realtime = poll("a realtime materialization", lambda: dev.gql.latest_materialization(REALTIME_PATH), 180)
        assert realtime["metadata"]["oid_sync/failed_series"] == 0, realtime
        assert len(target.time_series.list(limit=None)) == 13  # it wrote into the target with the secret's client
        seen = _command_lines()
        dagster_processes = [pid for pid, line in seen.items() if "dagster" in line]
        assert len(dagster_processes) >= 3, seen  # webserver, daemon, code server at least
        for pid, line in seen.items():
            assert_absent(line, f"the command line of process {pid}")
        quiesce(dev.gql, dev.repo)
        stop(dev.running)
        assert_absent(dev.running.output(last=1_000_000), "oid-sync dev's output")
    base = [sys.executable, "-m", "oid_sync_dagster.cli"]
    home = ["--dagster-home", str(tmp_path / "dev" / "dagster_home")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CDF_", "IDP_", "OID_SYNC_", "DAGSTER_"))}
    synced = subprocess.run(
        [*base, "sync", "--weeks", "1", "--series", "pi:16334*", *home],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert synced.returncode == 0, synced.stderr[-3000:]
    status = subprocess.run([*base, "status", *home], env={**clean, **env}, capture_output=True, text=True, timeout=300)
    assert status.returncode in (0, 1) and "series" in status.stdout, status.stderr[-3000:]
    for name, text in (("sync", synced.stdout + synced.stderr), ("status", status.stdout + status.stderr)):
        assert_absent(text, f"oid-sync {name}'s output")
    assert assert_no_file_holds_secrets(tmp_path / "dev" / "dagster_home") > 10


def test_the_resolved_resource_does_not_print_the_secret(environment: dict[str, str]) -> None:
    resource = resource_from_environment()
    with resource.process_config_and_initialize_cm() as resolved:
        assert resolved.target_client_secret == SECRET  # what the run worker holds
        assert_absent(repr(resolved), "the resolved resource's repr")
        assert_absent(str(resolved), "the resolved resource's str")


def test_a_wrong_secret_in_the_resource_fails_without_echoing_it(
    cdf: RunningLocalCDF, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDP_CLIENT_SECRET", WRONG)
    resource: OidSyncResource = resource_from_environment()
    with resource.process_config_and_initialize_cm() as resolved, pytest.raises(CogniteOAuthError) as raised:
        resolved.engine.sync_catalog([])
    assert_absent(exception_text(raised.value), "the error")
    assert [r.status for r in cdf.request_log.matching(r"^/oauth2/token$")] == [401]


# ---------- the local CDF: loopback only, and no token, no entry ----------


def test_the_child_process_local_cdf_listens_on_loopback_only(tmp_path: Path) -> None:
    # Dagster's local mode starts `oid-sync local-cdf` as a child process; test_auth covers the in-thread server.
    if not Path("/proc/net/tcp").exists():
        pytest.fail("this test reads the kernel's socket table from /proc/net/tcp (Linux)")
    with running_local_cdf(tmp_path / "child", "process") as base_url:
        port = httpx2.URL(base_url).port
        assert base_url == f"http://127.0.0.1:{port}" and port is not None
        assert _listeners(port) == ["0100007F"]  # 127.0.0.1 (little-endian hex), and nothing on IPv6


ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("timeseries-list", "POST", "/api/v1/projects/target/timeseries/list", {"limit": 1}),
    ("timeseries-create", "POST", "/api/v1/projects/target/timeseries", {"items": [{"externalId": "x"}]}),
    ("source-list", "POST", "/api/v1/projects/publicdata/timeseries/list", {"limit": 1}),
    ("datapoints-read", "POST", "/api/v1/projects/publicdata/timeseries/data/list", {"items": [{"externalId": "x"}]}),
    ("datapoints-latest", "POST", "/api/v1/projects/target/timeseries/data/latest", {"items": [{"externalId": "x"}]}),
    ("datapoints-insert", "POST", "/api/v1/projects/target/timeseries/data",
     {"items": [{"externalId": "x", "datapoints": [{"timestamp": 0, "value": 1.0}]}]}),
    ("datapoints-delete", "POST", "/api/v1/projects/target/timeseries/data/delete",
     {"items": [{"externalId": "x", "inclusiveBegin": 0, "exclusiveEnd": 1}]}),
    ("spaces-list", "GET", "/api/v1/projects/target/models/spaces", None),
    ("spaces-apply", "POST", "/api/v1/projects/target/models/spaces", {"items": [{"space": "sp"}]}),
    ("instances-byids", "POST", "/api/v1/projects/target/models/instances/byids",
     {"items": [{"space": "sp", "externalId": "n", "instanceType": "node"}]}),
    ("raw-dbs", "GET", "/api/v1/projects/target/raw/dbs", None),
    ("raw-create", "POST", "/api/v1/projects/target/raw/dbs", {"items": [{"name": "db"}]}),
    ("extpipes-list", "GET", "/api/v1/projects/target/extpipes", None),
    ("extpipes-runs", "POST", "/api/v1/projects/target/extpipes/runs",
     {"items": [{"externalId": "ep", "status": "success"}]}),
    ("datasets-list", "POST", "/api/v1/projects/target/datasets/list", {}),
    ("datasets-create", "POST", "/api/v1/projects/target/datasets", {"items": [{"externalId": "ds"}]}),
    ("token-inspect", "GET", "/api/v1/token/inspect", None),
    ("no-such-route", "POST", "/api/v1/projects/target/no/such/route", {}),  # no probing for routes either
]  # fmt: skip
TTL_S = 600


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningLocalCDF, str, str]]:
    """A local CDF, a token that has expired (its clock moved past the lifetime), and a valid one."""
    clock = MutableClock(time.time())
    settings = LocalCDFSettings(data_dir=tmp_path_factory.mktemp("door"), auth_clock=clock, token_ttl_s=TTL_S)
    with serve_in_thread(settings) as running:
        expired = fetch_token(running)
        clock.advance(TTL_S)
        yield running, expired, fetch_token(running)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Unauthorized: a bearer token is required."),
        ("Basic b2lkOnN5bmM=", "Unauthorized: a bearer token is required."),
        ("Bearer lcdf.e30.forged", "Unauthorized: the token is invalid."),
        ("Bearer {expired}", "Unauthorized: the token has expired."),
    ],
    ids=["none", "basic", "invalid", "expired"],
)
@pytest.mark.parametrize(("method", "path", "body"), [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES])
def test_every_api_route_refuses_without_a_valid_token(
    door: tuple[RunningLocalCDF, str, str],
    authorization: str | None,
    message: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    cdf, expired, valid = door
    headers = {} if authorization is None else {"authorization": authorization.replace("{expired}", expired)}
    response = httpx2.request(method, f"{cdf.base_url}{path}", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": message}}
    # With a valid token the same request reaches its handler (so the refusal was the token's, not the route's).
    served = httpx2.request(method, f"{cdf.base_url}{path}", json=body, headers={"authorization": f"Bearer {valid}"})
    assert served.status_code != 401 and served.status_code < 500, served.text


def test_refused_writes_changed_nothing(door: tuple[RunningLocalCDF, str, str]) -> None:
    cdf, expired, _ = door
    for authorization in ({}, {"authorization": f"Bearer {expired}"}, {"authorization": "Bearer lcdf.e30.forged"}):
        for _, method, path, body in ROUTES:
            if method == "POST" and "/projects/target/" in path:
                url = f"{cdf.base_url}{path.replace('/target/', '/refused-writes/')}"
                assert httpx2.request(method, url, json=body, headers=authorization).status_code == 401
    target = make_client(cdf, "refused-writes")  # the project only ever saw refused requests
    assert target.time_series.list(limit=None) == []
    assert target.data_modeling.spaces.list(limit=None, include_global=False) == []
    assert list(target.raw.databases.list(limit=None)) == []
    assert list(target.data_sets.list(limit=None)) == []
    assert list(target.extraction_pipelines.list(limit=None)) == []
