"""OidSyncResource: secrets stay environment references; local mode is chosen exactly when nothing is configured."""

from __future__ import annotations

import dagster as dg
import pytest

from oid_sync_dagster.integration.resources import ENV_FIELDS, OidSyncResource, resource_from_environment

SECRET = "do-not-leak-7f3a"


def test_only_set_variables_become_env_vars() -> None:
    resource = resource_from_environment({"OPEN_ID_CLIENT_SECRET": SECRET, "CDF_PROJECT": "demo", "IDP_SCOPES": ""})
    assert resource.oid_client_secret == dg.EnvVar("OPEN_ID_CLIENT_SECRET")
    assert resource.target_project == dg.EnvVar("CDF_PROJECT")
    assert resource.target_scopes is None  # empty means unset
    assert all(getattr(resource, f) is None for f in ENV_FIELDS if f not in ("oid_client_secret", "target_project"))
    # private: the config dictionary Dagster stores for the resource has no public accessor
    assert SECRET not in repr(resource) and SECRET not in str(resource._convert_to_config_dictionary())


def test_modes() -> None:
    assert OidSyncResource().mode == "source=local target=local" and OidSyncResource().needs_local_cdf
    by_url = OidSyncResource(local_cdf_url="http://127.0.0.1:8765")
    assert not by_url.needs_local_cdf
    real = OidSyncResource(
        oid_client_secret=SECRET,
        target_project="demo",
        target_cluster="westeurope-1",
        target_token_url="https://login.example.com/token",
        target_client_id="app",
        target_client_secret=SECRET,
    )
    assert real.mode == "source=oid target=cdf" and not real.needs_local_cdf
    assert SECRET not in real.mode


def test_a_missing_env_var_fails_the_run_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OID_SYNC_TEST_ABSENT", raising=False)
    resource = OidSyncResource(target_client_secret=dg.EnvVar("OID_SYNC_TEST_ABSENT"))
    with (
        pytest.raises(dg.DagsterInvalidConfigError, match="OID_SYNC_TEST_ABSENT"),
        resource.process_config_and_initialize_cm(),
    ):
        pass
