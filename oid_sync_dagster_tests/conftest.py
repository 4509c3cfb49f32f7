"""Shared fixtures: a real local CDF on loopback and unmodified cognite-sdk clients talking to it over HTTP."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cognite.client import ClientConfig, CogniteClient, global_config
from cognite.client.credentials import OAuthClientCredentials

from oid_sync_dagster.local_cdf.server import RunningLocalCDF, serve_in_thread
from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

# No machine here reaches PyPI's web API; the SDK would otherwise probe it from a thread on first use.
global_config.disable_pypi_version_check = True

SHARED_CATALOG = Path(__file__).resolve().parents[2] / "shared" / "data" / "oid_pi_timeseries_metadata.csv"

# A fixed "now" (Tuesday 2026-11-24 12:00:00 UTC) keeps the synthetic source's live edge where tests expect it.
FROZEN_NOW_S = 1_795_521_600.0


def make_client(cdf: RunningLocalCDF, project: str, *, timeout: int = 60, **credential_args: object) -> CogniteClient:
    credentials = OAuthClientCredentials(
        token_url=cdf.token_url,
        client_id=str(credential_args.pop("client_id", cdf.client_id)),
        client_secret=str(credential_args.pop("client_secret", cdf.client_secret)),
        scopes=[f"{cdf.base_url}/.default"],
        **credential_args,  # type: ignore[arg-type]
    )
    return CogniteClient(
        ClientConfig(
            client_name="oid-sync-tests",
            project=project,
            credentials=credentials,
            base_url=cdf.base_url,
            timeout=timeout,
        )
    )


@pytest.fixture
def frozen_settings(tmp_path: Path) -> LocalCDFSettings:
    return LocalCDFSettings(data_dir=tmp_path / "local-cdf", clock=lambda: FROZEN_NOW_S)


@pytest.fixture
def local_cdf(frozen_settings: LocalCDFSettings) -> Iterator[RunningLocalCDF]:
    with serve_in_thread(frozen_settings) as cdf:
        yield cdf


@pytest.fixture
def client_factory(local_cdf: RunningLocalCDF) -> Callable[..., CogniteClient]:
    def factory(project: str = "target", **kwargs: object) -> CogniteClient:
        return make_client(local_cdf, project, **kwargs)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def source(client_factory: Callable[..., CogniteClient]) -> CogniteClient:
    return client_factory("publicdata")


@pytest.fixture
def target(client_factory: Callable[..., CogniteClient]) -> CogniteClient:
    return client_factory("target")


def pytest_configure(config: pytest.Config) -> None:
    """Python's own SIGINT handler, as in a terminal, in the main process and every xdist worker.

    A suite started in the background of a non-interactive shell (`make test &`, some CI runners) inherits SIGINT
    ignored. Dagster's in-process execution copies SIGINT's disposition onto SIGTERM (its interrupt handling maps
    one to the other), so SIGTERM became ignored in the worker and in every process a later test started: Dagster's
    compute-log `tail` children then shrug off terminate(), and each step waits 30 s for them.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _signal_dispositions_restored() -> Iterator[None]:
    """Whatever a test's in-process Dagster did to SIGINT and SIGTERM is undone before the next test."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in before.items():
        if handler is not None and signal.getsignal(signum) != handler:
            signal.signal(signum, handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `slow` tests (a minute or two each: whole Dagster stacks) first, by their `rank` (lowest first, default 1),
    the rest in collection order: with xdist workers fed one test at a time (Makefile), a long test started last
    would leave the other workers idle."""

    def order(item: pytest.Item) -> tuple[int, int]:
        slow = item.get_closest_marker("slow")
        return (0, int(slow.kwargs.get("rank", 1))) if slow is not None else (1, 0)

    items.sort(key=order)
