"""The `dg` project's definitions folder: `dg` loads every `defs.yaml` below it (see oid_sync/defs.yaml)."""
