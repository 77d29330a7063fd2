#!/bin/sh
# Creates the simulator's writer role, the dashboard's read-only role and, when local.env names
# it, the rollup service's role (writes only its own schema) from the environment.
# psql's :"name" and :'value' quoting make any role name or password safe.
# Run once by the postgres image on an empty data directory, as its superuser.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v reader="$TRENDING_READER_USER" -v reader_password="$TRENDING_READER_PASSWORD" \
  -v writer="$TRENDING_WRITER_USER" -v writer_password="$TRENDING_WRITER_PASSWORD" <<'SQL'
CREATE ROLE :"writer" LOGIN PASSWORD :'writer_password';
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
ALTER ROLE :"reader" SET default_transaction_read_only = on;

GRANT CONNECT ON DATABASE :"db" TO :"reader", :"writer";
GRANT USAGE ON SCHEMA public TO :"reader", :"writer";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO :"writer";
-- Tables the owner adds later are readable (and writable by the writer) as well.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO :"writer";
-- The simulator keeps batch_events current: a phase's end is written when it ends.
GRANT UPDATE, DELETE ON batch_events TO :"writer";
SQL

# The shared rollup (docs/deployment.md, "The shared rollup"): its role reads the tag tables
# like the dashboard and owns one schema, the only place it may write; the dashboard's role
# reads that schema.
if [ -n "${TRENDING_ROLLUP_USER:-}" ]; then
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" -v reader="$TRENDING_READER_USER" \
  -v rollup="$TRENDING_ROLLUP_USER" -v rollup_password="$TRENDING_ROLLUP_PASSWORD" \
  -v schema="${TRENDING_ROLLUP_SCHEMA:-trending_rollup}" <<'SQL'
CREATE ROLE :"rollup" LOGIN PASSWORD :'rollup_password';
GRANT CONNECT ON DATABASE :"db" TO :"rollup";
GRANT USAGE ON SCHEMA public TO :"rollup";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"rollup";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"rollup";
CREATE SCHEMA :"schema" AUTHORIZATION :"rollup";
GRANT USAGE ON SCHEMA :"schema" TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"rollup" IN SCHEMA :"schema" GRANT SELECT ON TABLES TO :"reader";
SQL
fi
