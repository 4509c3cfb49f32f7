"""SQLite persistence of the writable (target) projects: one database file per project, WAL mode."""
