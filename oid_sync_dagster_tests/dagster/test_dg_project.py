"""The `dg` CLI, offline: this repository as a `dg` project, and a team's own throwaway project that adds the
component with one `defs.yaml` (importable by path, nothing downloaded), materializes one week of one group
against the local CDF, and gets the shifted source point by point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cognite.client import CogniteClient
from cognite.client.data_classes.data_modeling import NodeId

from oid_sync_dagster.integration.partitions import key_of
from oid_sync_dagster.integration.translator import instrument_group
from oid_sync_dagster.local_cdf.server import RunningLocalCDF
from oid_sync_dagster.sync.catalog import list_source_series
from oid_sync_dagster.sync.windows import MINUTE_MS, WEEK_MS, Window, history_weeks, shift
from oid_sync_dagster_tests.sync.conftest import assert_same_points, read_points

REPO_ROOT = Path(__file__).resolve().parents[2]
DG = str(Path(sys.executable).parent / "dg")
OFFSET = WEEK_MS + 10 * MINUTE_MS
NOT_INHERITED = ("DAGSTER_", "CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_")


def _dg(args: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DG, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, f"dg {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def _environment(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    # The venv's own tools, as an activated venv has them; DAGSTER_HOME empty: Dagster's defaults, in a temp dir.
    env |= {"DAGSTER_HOME": str(home), "VIRTUAL_ENV": str(Path(sys.executable).parents[1]), "NO_COLOR": "1"}
    return env | extra


def test_this_repository_is_a_dg_project(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    checked = _dg(["check", "defs"], REPO_ROOT, env)
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = json.loads(_dg(["list", "defs", "--json"], REPO_ROOT, env).stdout)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    series = {key for key in keys if key.count("/") == 2 and key.split("/")[1] not in ("source_catalog",)}
    assert len(series) == 363, len(series)
    assert {"oid/source_catalog", "oid/target_catalog", "oid/realtime"} <= keys
    assert len(listed["asset_checks"]) == 363 + 4  # a `complete` check per series; catalog 2, realtime 2
    assert {sensor["name"] for sensor in listed["sensors"]} == {"oid_history_sensor", "oid_realtime_sensor"}
    components = _dg(["list", "components", "--json"], REPO_ROOT, env).stdout
    assert "oid_sync_dagster.OidSyncComponent" in {c["key"] for c in json.loads(components)["items"]}


@pytest.mark.slow
def test_a_team_adds_the_component_to_its_own_dg_project(
    tmp_path: Path, live_cdf: RunningLocalCDF, source: CogniteClient, target_client: CogniteClient
) -> None:
    project = tmp_path / "team_project"
    package = project / "team_project"
    (package / "defs").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "team_project"\nversion = "0.0.1"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "team_project"\n'
    )
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n@dg.definitions\ndef defs() -> dg.Definitions:\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    (package / "defs" / "__init__.py").write_text("")
    # What the README tells a team to write: `dg scaffold defs` writes the same file with the type line.
    # The project importable by path; what PYTHONPATH already holds stays (under faketime: its sitecustomize).
    inherited = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    pythonpath = os.pathsep.join([str(project), *inherited])  # absolute: dg runs in the project's directory
    env = _environment(tmp_path / "home", PYTHONPATH=pythonpath, OID_SYNC_LOCAL_CDF_URL=live_cdf.base_url)
    (tmp_path / "home").mkdir()
    _dg(["scaffold", "defs", "oid_sync_dagster.OidSyncComponent", "cdf_sync"], project, env)
    defs_yaml = package / "defs" / "cdf_sync" / "defs.yaml"
    assert defs_yaml.read_text().splitlines()[0] == "type: oid_sync_dagster.OidSyncComponent"
    # `dg launch` materializes in its own process without a code server, so the catalog state lives in the project
    # (LOCAL_FILESYSTEM, refreshed by `dg` in development), not in a code server's snapshot.
    defs_yaml.write_text(
        "type: oid_sync_dagster.OidSyncComponent\nattributes:\n  config:\n    sync_configuration:\n"
        "      history_weeks: 2\n  defs_state:\n    management_type: LOCAL_FILESYSTEM\n"
    )
    _dg(["check", "defs"], project, env)
    now_ms = int(time.time() * 1000)
    week = history_weeks(now_ms, 1)[0]
    _dg(["launch", "--assets", "oid/target_catalog"], project, env)
    launched = _dg(["launch", "--assets", "group:pressure", "--partition", key_of(week)], project, env)
    assert "RUN_SUCCESS" in launched.stdout + launched.stderr
    pressure = [s for s in list_source_series(source, "pi:") if instrument_group(s) == "pressure"]
    assert len(pressure) > 10
    window = Window(week, week + WEEK_MS)
    for item in pressure:
        wanted = read_points(source, item.external_id, shift(window, -OFFSET))
        wanted.timestamps = wanted.timestamps + OFFSET
        got = read_points(target_client, NodeId("oid_sync", item.external_id), window)
        assert_same_points(got, wanted)
        assert len(got) > 0, item.external_id


@pytest.fixture
def target_client(live_cdf: RunningLocalCDF) -> CogniteClient:
    from oid_sync_dagster_tests.conftest import make_client

    return make_client(live_cdf, "oid-sync")  # the resource's default local target project
