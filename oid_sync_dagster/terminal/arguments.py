"""The `sync` and `status` subcommands' arguments and help texts (standard library only: see the package doc)."""

from __future__ import annotations

import argparse
import textwrap

from oid_sync_dagster.terminal import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE

SYNC_HELP = "Sync the target catalog, N weeks of history and the live edge through Dagster, with a progress bar."
SYNC_DESCRIPTION = textwrap.fill(
    "Sync from a terminal: the target catalog, the history of the N newest closed weeks for the series matching "
    "GLOB, then one realtime pass (of every series: the live edge is one asset). Runs the code location's own jobs "
    "in this process on the persistent Dagster instance (DAGSTER_HOME resolved as for `oid-sync dev`), so the UI "
    "shows the same runs, partitions and checks afterwards. Progress goes to stderr (a live bar on a terminal, "
    "plain lines otherwise), the summary to stdout.",
    100,
)
SYNC_EPILOG = f"""examples:
  oid-sync sync --weeks 1 --series 'pi:1606*'
  oid-sync sync                  # every history week of every series

exit codes:
  {EXIT_OK}  every selected series is complete for every selected week, and the realtime pass had no failure
  {EXIT_INCOMPLETE}  some series or weeks failed or are incomplete (named in the summary); the others are done
     (also: the source or target could not be reached, so nothing ran)
  {EXIT_USAGE}  usage or configuration error (bad arguments, a GLOB matching nothing, an invalid OID_SYNC_CONFIG)
  130  interrupted (Ctrl-C); the run in flight is marked canceled, finished weeks stay recorded"""

STATUS_HELP = "Completeness per group and week, and the live edge's lag, from the Dagster instance."
STATUS_DESCRIPTION = textwrap.fill(
    "Completeness per instrument group and week (series complete / series in the group), and the live edge's lag, "
    "from the persistent Dagster instance: a (series, week) is complete when its partition is materialized and its "
    "latest `complete` check did not fail (the rule the history sensor uses). Rows are weeks, newest first.",
    100,
)
STATUS_EPILOG = f"""cells:
  12/12 ✓  every series of the group is complete for the week
  10/12    some are missing or their check failed (`oid-sync sync` or the history sensor syncs them again)
  —        nothing recorded for the group's series in that week

exit codes:
  {EXIT_OK}  everything shown is complete, and the last realtime pass had no failed series
  {EXIT_INCOMPLETE}  something shown is incomplete or failed (or no realtime pass is recorded)
  {EXIT_USAGE}  usage or configuration error, or the instance has nothing recorded yet"""


def _common(parser: argparse.ArgumentParser, weeks_help: str, series_help: str) -> None:
    parser.add_argument("--weeks", type=int, metavar="N", help=weeks_help)
    parser.add_argument("--series", default="*", metavar="GLOB", help=series_help)
    parser.add_argument("--dagster-home", metavar="DIR", help="instance directory (default as for `oid-sync dev`)")


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    _common(
        parser,
        "the N newest closed weeks (default: every history week; 0: catalog and realtime only)",
        "glob over source external ids, e.g. 'pi:1606*' (default: every series)",
    )


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser, "the N newest closed weeks (default: every history week)", "only series matching this glob")
