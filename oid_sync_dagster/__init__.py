"""oid_sync_dagster: mirror Cognite Open Industrial Data into your CDF project, time-shifted to look live."""
