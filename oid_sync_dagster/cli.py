"""`oid-sync`: the terminal entry point. For now it serves the local CDF; sync and status commands follow."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
