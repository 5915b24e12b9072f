#!/bin/sh
# Entrypoint of the CI's local/postgres:15 image (built from Debian packages, no registry).
# It does what the official postgres image's entrypoint does with POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB and PGDATA, so testcontainers' PostgresContainer works with it:
# on an empty PGDATA, initdb with that user and password, password logins over TCP from
# anywhere, the database created; then the server in the foreground, as PID 1.
# Extra arguments go to postgres (e.g. `-c fsync=off`).
set -eu

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
    echo "postgres-entrypoint: run as the postgres user (the image's USER), not as root" >&2
    exit 1
fi

# The rootfs made by mmdebstrap has no /run/postgresql.
socket_dir=/run/postgresql
if [ ! -d "$socket_dir" ] || [ ! -w "$socket_dir" ]; then
    socket_dir="${TMPDIR:-/tmp}"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres-entrypoint: POSTGRES_PASSWORD is empty; set it, as with the official image" >&2
        exit 1
    fi
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    pwfile="$(mktemp)"
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as upstream.
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    trap - EXIT
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        # Single-user mode needs no socket and no running server. Identifier quoting: "" for ".
        db_ident="$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')"
        printf 'CREATE DATABASE "%s";\n' "$db_ident" \
            | postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    echo "postgres-entrypoint: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$socket_dir" "$@"
