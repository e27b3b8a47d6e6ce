#!/usr/bin/env bash
# Restore a tg_parser backup made by deploy/backup.sh (pg_dump -Fc) with
# pg_restore --clean --if-exists: existing tables are dropped and recreated.
#
# Usage:
#   deploy/restore.sh --yes DUMP
#
#   DUMP    A custom-format dump file; "-" reads it from stdin.
#   --yes   Required: restoring replaces what the database holds now.
#
# Connection: DATABASE_URL (as tg_parser uses it; a "+psycopg" driver suffix is
# stripped for libpq) or, when DATABASE_URL is unset, libpq's PGHOST, PGPORT,
# PGUSER, PGPASSWORD, PGDATABASE. The target database must exist (it may be
# empty). Owners and grants are not restored (--no-owner --no-privileges), so
# the dump can be restored as another role. The restore runs in one
# transaction: on any error nothing changes.
#
# Examples:
#   DATABASE_URL=postgresql+psycopg://tg:tg@localhost:5432/tg_parser deploy/restore.sh --yes tg.dump
#   PGHOST=db PGUSER=tg PGDATABASE=tg_parser deploy/restore.sh --yes /backups/nightly.dump
#
# Stop the workers and beat first; run `tg-parser db current` afterwards.
# Exit status: 0 done, 1 pg_restore failed, 2 usage.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

die_usage() {
    echo "restore.sh: $*" >&2
    echo "Try 'deploy/restore.sh --help'." >&2
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
        *) die_usage "DATABASE_URL is not a PostgreSQL URL (${url%%:*}://…); restores need PostgreSQL" ;;
    esac
    local rest="${url#*://}"
    local authority="${rest%%[/?]*}"
    if [[ "$authority" == *@* ]]; then
        local userinfo="${authority%@*}"
        local hostpart="${authority##*@}"
        if [[ "$userinfo" == *:* ]]; then
            local password="${userinfo#*:}"
            PGPASSWORD="$(printf '%b' "${password//%/\\x}")"
            export PGPASSWORD
            userinfo="${userinfo%%:*}"
        fi
        rest="${userinfo}@${hostpart}${rest#"$authority"}"
    fi
    LIBPQ_URI="postgresql://${rest}"
}

main() {
    local confirmed=0
    while (($#)); do
        case "$1" in
            -h | --help) usage; exit 0 ;;
            -y | --yes) confirmed=1; shift ;;
            --) shift; break ;;
            -) break ;;
            -*) die_usage "unknown option: $1" ;;
            *) break ;;
        esac
    done
    (($# == 1)) || die_usage "expected one DUMP argument, got $#"
    local dump="$1"
    ((confirmed)) || die_usage "refusing to overwrite the database without --yes"
    if [[ "$dump" != "-" && ! -r "$dump" ]]; then
        die_usage "cannot read dump file: $dump"
    fi
    command -v pg_restore >/dev/null || { echo "restore.sh: pg_restore not found on PATH" >&2; exit 1; }

    resolve_connection
    local -a conn=()
    if [[ -n "$LIBPQ_URI" ]]; then
        conn=(--dbname="$LIBPQ_URI")
    else
        # pg_restore writes to stdout unless told a database; PGDATABASE or the user name.
        conn=(--dbname="${PGDATABASE:-${PGUSER:-$(id -un)}}")
    fi
    local -a source=()
    [[ "$dump" != "-" ]] && source=("$dump")

    pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error \
        --single-transaction --no-password "${conn[@]}" "${source[@]}"
    echo "restore.sh: restored ${dump/#-/stdin}" >&2
}

main "$@"
