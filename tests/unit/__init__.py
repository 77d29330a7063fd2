"""Pure: no database, no server, no browser."""
