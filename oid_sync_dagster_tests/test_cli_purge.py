"""`oid-sync purge` from a terminal: refuses without a scope or confirmation, runs the Dagster job otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from oid_sync_dagster.cli import main
from oid_sync_dagster.integration.purge import PURGE_JOB


def test_purge_needs_a_scope_and_a_yes(capsys: object) -> None:
    assert main(["purge", "--series", "pi:1*"]) == 2
    assert "give --weeks W1,W2 or --all" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["purge", "--all"]) == 2
    assert "add --yes to confirm" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_purge_runs_the_job_on_the_persistent_instance(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CDF_", "IDP_", "OID_SYNC_", "OPEN_ID_", "DAGSTER_"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "oid_sync_dagster.cli", "purge", "--all", "--yes", "--dagster-home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("purged * for all time (run ")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_run_records(filters=dg.RunsFilter(job_name=PURGE_JOB))
        assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
    assert (home / "local-cdf").is_dir()  # local mode keeps the target's data beside Dagster's record
