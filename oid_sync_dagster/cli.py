"""`oid-sync`: the terminal entry point. `dev` runs Dagster on this code location; `local-cdf` serves the local CDF."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from oid_sync_dagster import launcher  # standard library only: cheap to import

DEFAULT_PORT = 8765


def _local_cdf(args: argparse.Namespace) -> int:
    from oid_sync_dagster.local_cdf.server import LOOPBACK, serve_forever
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings

    settings = LocalCDFSettings(source_lag_ms=int(args.lag_hours * 3_600_000), history_days=args.history_days)
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.catalog_csv:
        settings.catalog_csv = Path(args.catalog_csv)
    base_url = f"http://{LOOPBACK}:{args.port}"
    client_id, client_secret = next(iter(settings.clients.items()))
    print(
        f"Local CDF on {base_url}\n"
        f"  source project : {settings.source_project} (synthetic OID, read only, {args.lag_hours:g} h behind now)\n"
        f"  target projects: any other name, e.g. {base_url}/api/v1/projects/oid-sync-target\n"
        f"  token URL      : {base_url}/oauth2/token\n"
        f"  client id      : {client_id}\n"
        f"  client secret  : {client_secret}  (a development credential of this loopback server)\n"
        f"  data directory : {settings.data_dir}\n"
        "Ctrl-C or SIGTERM stops it.",
        flush=True,
    )
    serve_forever(settings, args.port)
    return 0


def _dev(args: argparse.Namespace) -> int:
    return launcher.run_dev(port=args.port, dagster_home=args.dagster_home)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oid-sync", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("local-cdf", help="Serve the local CDF (synthetic OID + writable targets).")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT})")
    serve.add_argument("--data-dir", help="where target projects persist (default: $OID_SYNC_LOCAL_CDF_DIR or XDG)")
    serve.add_argument("--lag-hours", type=float, default=168.0, help="how far the source lags now (default 168)")
    serve.add_argument("--history-days", type=int, default=365, help="how far back the source goes (default 365)")
    serve.add_argument("--catalog-csv", help="serve this catalog CSV instead of the synthetic one")
    serve.set_defaults(run=_local_cdf)

    dev_port = launcher.DEFAULT_PORT
    dev = commands.add_parser(
        "dev",
        help="Run `dagster dev` (UI + daemon) on this code location with a persistent DAGSTER_HOME.",
        description="Run `dagster dev` on 127.0.0.1 with a persistent instance; Ctrl-C or SIGTERM stops it.",
    )
    dev.add_argument("--port", type=int, default=dev_port, help=f"webserver port on 127.0.0.1 (default {dev_port})")
    dev.add_argument(
        "--dagster-home",
        help="instance directory (default: $DAGSTER_HOME if set, else .oid_sync/dagster_home in the repository)",
    )
    dev.set_defaults(run=_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
