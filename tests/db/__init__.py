"""Against a real PostgreSQL, in this process (and the CLI's own processes)."""
