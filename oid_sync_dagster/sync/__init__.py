"""The sync engine: plain Python over two CogniteClients, never importing Dagster (see DESIGN.md)."""
