"""A local CDF: the CDF API subset oid_sync_dagster uses, served so the unmodified cognite-sdk works over HTTP.

This package stands alone: it imports nothing else from oid_sync_dagster.
"""
