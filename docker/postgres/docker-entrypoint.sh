#!/bin/sh
# Entrypoint of checklist/postgres: the part of the official image's entrypoint that testcontainers relies on.
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (scram-sha-256 over TCP; none: trust), POSTGRES_DB (default
# the user), PGDATA, PGPORT (default 5432) and POSTGRES_LISTEN_ADDRESSES (default 127.0.0.1: under host networking
# the server must not listen beyond the loopback). Arguments go to postgres after the defaults, so
# `-c name=value` overrides any of them. A throw-away database: durability is off.
set -eu

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        pwfile=/tmp/.postgres-password
        (umask 077 && printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile")
        initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C --no-sync > /dev/null
        : > "$pwfile"
        # Like the official image: any client with the password (a published port arrives from the bridge).
        printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    else
        initdb -D "$PGDATA" -U "$POSTGRES_USER" --auth=trust --encoding=UTF8 --locale=C --no-sync > /dev/null
    fi
    if [ "$POSTGRES_DB" != postgres ]; then
        # Single-user mode: no server, no socket; the session runs as the bootstrap superuser.
        printf 'CREATE DATABASE "%s"\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" postgres > /dev/null
    fi
fi

exec postgres -D "$PGDATA" \
    -c listen_addresses="${POSTGRES_LISTEN_ADDRESSES:-127.0.0.1}" \
    -c unix_socket_directories=/tmp \
    -c max_connections=200 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    "$@"
