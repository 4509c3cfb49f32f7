"""`oid-sync`: the terminal entry point. `dev` runs Dagster on this code location, `sync` and `status` sync and
report from a terminal through it, `purge` deletes synced data, `local-cdf` serves the local CDF."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from oid_sync_dagster import launcher  # standard library only: cheap to import

DEFAULT_PORT = 8765


def _local_cdf(args: argparse.Namespace) -> int:
    from oid_sync_dagster.local_cdf.child import write_ready_file
    from oid_sync_dagster.local_cdf.server import LOOPBACK, bind_loopback, serve_forever, url_of
    from oid_sync_dagster.local_cdf.settings import LocalCDFSettings
    from oid_sync_dagster.local_cdf.viewer.links import viewer_url
    from oid_sync_dagster.local_cdf.viewer.session import link_token

    settings = LocalCDFSettings(source_lag_ms=int(args.lag_hours * 3_600_000), history_days=args.history_days)
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.catalog_csv:
        settings.catalog_csv = Path(args.catalog_csv)
    try:
        sock = bind_loopback(args.port)  # bound before the banner: with --port 0 it names the port the kernel gave
    except OSError as error:
        reason = error.strerror or error
        print(f"oid-sync local-cdf: cannot listen on {LOOPBACK}:{args.port} ({reason}); pick another --port,"
              " or --port 0 for any free one", file=sys.stderr)  # fmt: skip
        return 2
    base_url = url_of(sock)
    client_id, client_secret = next(iter(settings.clients.items()))
    print(
        f"Local CDF on {base_url}\n"
        f"  source project : {settings.source_project} (synthetic OID, read only, {args.lag_hours:g} h behind now)\n"
        f"  target projects: any other name, e.g. {base_url}/api/v1/projects/oid-sync-target\n"
        f"  token URL      : {base_url}/oauth2/token\n"
        f"  client id      : {client_id}\n"
        f"  client secret  : {client_secret}  (a development credential of this loopback server)\n"
        f"  data directory : {settings.data_dir}\n"
        # A signed read-only link (session.LINK_TTL_S): the secret itself never goes into a URL.
        f"  data viewer    : {viewer_url(base_url, link_token(settings))}\n"
        f"                   (or {viewer_url(base_url)} and log in with the client id and secret above)\n"
        "Ctrl-C or SIGTERM stops it.",
        flush=True,
    )
    ready_file = Path(args.ready_file) if args.ready_file else None
    serve_forever(settings, sock, on_started=(lambda: write_ready_file(ready_file, base_url)) if ready_file else None)
    return 0


def _dev(args: argparse.Namespace) -> int:
    return launcher.run_dev(port=args.port, dagster_home=args.dagster_home)


def _purge(args: argparse.Namespace) -> int:
    """Run the purge job through Dagster on the persistent instance, so the UI shows the same state afterwards."""
    import os

    if not args.all and not args.weeks:
        print("oid-sync purge: give --weeks W1,W2 or --all (all synced data of the series)", file=sys.stderr)
        return 2
    if not args.yes:
        print("oid-sync purge deletes synced target data; add --yes to confirm", file=sys.stderr)
        return 2
    home = launcher.resolve_dagster_home(args.dagster_home)
    launcher.ensure_instance_config(home)
    os.environ["DAGSTER_HOME"] = str(home)  # the instance, and the local CDF's data under it

    import dagster as dg

    from oid_sync_dagster.terminal.location import UsageError, load_location

    try:
        location = load_location()
    except UsageError as error:
        print(f"oid-sync purge: {error}", file=sys.stderr)
        return 2
    defs, names = location.defs, location.names

    weeks = [] if args.all else [w.strip() for w in args.weeks.split(",") if w.strip()]
    run_config = {"ops": {names.op("purge_synced_data"): {"config": {"weeks": weeks, "series": args.series}}}}
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(names.job("purge")).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False
        )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        reason = failure.message if failure else "see the run in the Dagster UI"
        print(f"oid-sync purge failed: {reason}", file=sys.stderr)
        return 1
    print(f"purged {args.series} for {'all time' if args.all else ', '.join(weeks)} (run {result.run_id})")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from oid_sync_dagster.terminal import sync_command

    return sync_command.run(args)


def _status(args: argparse.Namespace) -> int:
    from oid_sync_dagster.terminal import status_command

    return status_command.run(args)


def _add_terminal_commands(commands: argparse._SubParsersAction) -> None:
    from oid_sync_dagster.terminal import arguments  # standard library only, like the rest of the parser

    raw = argparse.RawDescriptionHelpFormatter  # the epilogs are laid out by hand (exit-code tables)
    sync = commands.add_parser(
        "sync",
        help=arguments.SYNC_HELP,
        description=arguments.SYNC_DESCRIPTION,
        epilog=arguments.SYNC_EPILOG,
        formatter_class=raw,
    )
    arguments.add_sync_arguments(sync)
    sync.set_defaults(run=_sync)
    status = commands.add_parser(
        "status",
        help=arguments.STATUS_HELP,
        description=arguments.STATUS_DESCRIPTION,
        epilog=arguments.STATUS_EPILOG,
        formatter_class=raw,
    )
    arguments.add_status_arguments(status)
    status.set_defaults(run=_status)


def _port(text: str) -> int:
    """A TCP port, 0 to 65535: argparse then names the option in its error, not a traceback from the socket."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oid-sync", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("local-cdf", help="Serve the local CDF (synthetic OID + writable targets).")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT}; 0: any free port)"
    )
    serve.add_argument(
        "--ready-file", help="once serving, write the base URL to this file (how a parent learns the port of --port 0)"
    )
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
    dev.add_argument("--port", type=_port, default=dev_port, help=f"webserver port on 127.0.0.1 (default {dev_port})")
    dev.add_argument(
        "--dagster-home",
        help="instance directory (default: $DAGSTER_HOME if set, else .oid_sync/dagster_home in the repository)",
    )
    dev.set_defaults(run=_dev)

    purge = commands.add_parser(
        "purge",
        help="Delete synced target data and sync state for weeks and series, and wipe their Dagster partitions.",
    )
    purge.add_argument("--weeks", help="comma-separated week partition keys (Mondays), e.g. 2026-11-16,2026-11-09")
    purge.add_argument("--all", action="store_true", help="all time (also clears the offset kept in the sync state)")
    purge.add_argument("--series", default="*", help="glob over source external ids (default: every series)")
    purge.add_argument("--dagster-home", help="instance directory (default as for `oid-sync dev`)")
    purge.add_argument("--yes", action="store_true", help="confirm: this deletes data in the target")
    purge.set_defaults(run=_purge)
    _add_terminal_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: 2 for bad usage, 0 for --help; returned, so callers get a code
        return exit_.code if isinstance(exit_.code, int) else 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
