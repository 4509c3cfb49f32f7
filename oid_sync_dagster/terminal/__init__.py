"""The terminal workflow: `oid-sync sync` (a one-shot sync with a progress bar) and `oid-sync status` (completeness
per group and week). Both work through Dagster's own APIs on the persistent instance, so the UI shows the same.

This package's top level and `arguments` stay import-light: `oid-sync dev` and `oid-sync local-cdf` build the same
parser and must not pay for importing Dagster.
"""

EXIT_OK = 0  # everything selected (or shown) is complete
EXIT_INCOMPLETE = 1  # some series or weeks failed or are incomplete; the others are done
EXIT_USAGE = 2  # bad arguments or configuration (or, for status, nothing recorded yet)
