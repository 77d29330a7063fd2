#!/bin/sh
# The postgres image makes POSTGRES_USER its superuser; in local.env POSTGRES_USER is the
# dashboard's read-only role. Map the names here, inside the container, so local.env stays the
# single source of every credential and compose.yaml repeats none of them.
set -eu
export TRENDING_READER_USER="$POSTGRES_USER"
export TRENDING_READER_PASSWORD="$POSTGRES_PASSWORD"
export POSTGRES_USER="$TRENDING_ADMIN_USER"
export POSTGRES_PASSWORD="$TRENDING_ADMIN_PASSWORD"
exec docker-entrypoint.sh "$@"
