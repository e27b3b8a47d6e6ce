#!/bin/sh
# Entrypoint of the tg_parser image.
#
# A first argument that is an option or a tg-parser command runs tg-parser:
#   docker run IMAGE db upgrade        → tg-parser db upgrade
#   docker run IMAGE --help            → tg-parser --help
# Anything else runs as given (celery, alembic, python, sh):
#   docker run IMAGE celery -A tasks worker -Q ingest,process,topics,export,celery
# exec keeps the command as PID 1 so it receives SIGTERM itself (celery's warm shutdown).
set -eu

case "${1:-}" in
    ""|-*|run|import|process|topicize|export|channels|db|dlq|runs|health|auth)
        set -- tg-parser "$@"
        ;;
esac

exec "$@"
