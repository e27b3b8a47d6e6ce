#!/usr/bin/env bash
# Back up the tg_parser PostgreSQL database with pg_dump (custom format, -Fc).
#
# Usage:
#   deploy/backup.sh [OUTPUT]
#
#   OUTPUT  Dump file to write. Default: $BACKUP_DIR/tg_parser-<UTC time>.dump
#           (BACKUP_DIR defaults to the current directory). "-" writes to stdout.
#
# Connection: DATABASE_URL (as tg_parser uses it; a "+psycopg" driver suffix is
# stripped for libpq) or, when DATABASE_URL is unset, libpq's PGHOST, PGPORT,
# PGUSER, PGPASSWORD, PGDATABASE. A password in the URL is handed to pg_dump
# through PGPASSWORD, never on its command line.
#
# Examples:
#   DATABASE_URL=postgresql+psycopg://tg:tg@localhost:5432/tg_parser deploy/backup.sh
#   PGHOST=db PGUSER=tg PGDATABASE=tg_parser deploy/backup.sh /backups/nightly.dump
#   docker compose exec -T postgres pg_dump -Fc -U tg tg_parser > tg_parser.dump  # inside compose
#
# Restore with deploy/restore.sh. Exit status: 0 done, 1 pg_dump failed, 2 usage.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

die_usage() {
    echo "backup.sh: $*" >&2
    echo "Try 'deploy/backup.sh --help'." >&2
    exit 2
}

# Turn DATABASE_URL into a libpq URI without the password, and PGPASSWORD.
# Sets LIBPQ_URI (empty when DATABASE_URL is unset: libpq reads PG* itself).
resolve_connection() {
    LIBPQ_URI=""
    local url="${DATABASE_URL:-}"
    [[ -z "$url" ]] && return 0
    case "$url" in
        postgresql+*://* | postgres+*://*) url="postgresql://${url#*://}" ;;
        postgresql://* | postgres://*) ;;
        *) die_usage "DATABASE_URL is not a PostgreSQL URL (${url%%:*}://…); backups need PostgreSQL" ;;
    esac
    local rest="${url#*://}"
    local authority="${rest%%[/?]*}"
    if [[ "$authority" == *@* ]]; then
        local userinfo="${authority%@*}"
        local hostpart="${authority##*@}"
        if [[ "$userinfo" == *:* ]]; then
            local password="${userinfo#*:}"
            # Percent-decode (%40 → @) the way libpq would.
            PGPASSWORD="$(printf '%b' "${password//%/\\x}")"
            export PGPASSWORD
            userinfo="${userinfo%%:*}"
        fi
        rest="${userinfo}@${hostpart}${rest#"$authority"}"
    fi
    LIBPQ_URI="postgresql://${rest}"
}

main() {
    local output=""
    while (($#)); do
        case "$1" in
            -h | --help) usage; exit 0 ;;
            --) shift; break ;;
            -) break ;;
            -*) die_usage "unknown option: $1" ;;
            *) break ;;
        esac
    done
    (($# <= 1)) || die_usage "expected at most one OUTPUT argument, got $#"
    output="${1:-}"
    command -v pg_dump >/dev/null || { echo "backup.sh: pg_dump not found on PATH" >&2; exit 1; }

    resolve_connection
    local -a conn=()
    [[ -n "$LIBPQ_URI" ]] && conn=(--dbname="$LIBPQ_URI")

    if [[ "$output" == "-" ]]; then
        pg_dump --format=custom --no-password "${conn[@]}"
        return
    fi
    if [[ -z "$output" ]]; then
        output="${BACKUP_DIR:-.}/tg_parser-$(date -u +%Y%m%dT%H%M%SZ).dump"
    fi
    mkdir -p "$(dirname -- "$output")"
    # Write next to the target and rename: a failed dump never leaves a
    # truncated file under the final name.
    # Global, not local: the EXIT trap runs after main's locals are gone.
    PARTIAL="${output}.partial.$$"
    trap 'rm -f -- "$PARTIAL"' EXIT
    pg_dump --format=custom --no-password --file="$PARTIAL" "${conn[@]}"
    pg_restore --list "$PARTIAL" >/dev/null  # the archive is readable
    mv -f -- "$PARTIAL" "$output"
    trap - EXIT
    echo "backup.sh: wrote $output ($(wc -c <"$output" | tr -d ' ') bytes)" >&2
}

main "$@"
