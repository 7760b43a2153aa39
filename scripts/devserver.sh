#!/usr/bin/env bash
# Development server: Django's runserver plus one Celery worker with an embedded beat, on the
# filesystem broker (no external server). Ctrl-C stops both.
set -euo pipefail
PYTHON="${PYTHON:-.venv/bin/python}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
# The development settings, for the worker too: backoffice/celery.py (like wsgi/asgi) defaults to the
# production settings, which refuse the development key.
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-backoffice.settings}"
mkdir -p var/log
"$PYTHON" -m celery -A backoffice worker --beat --pool=solo --loglevel=INFO \
    --schedule var/celerybeat-schedule >var/log/celery.log 2>&1 &
CELERY_PID=$!
trap 'kill $CELERY_PID 2>/dev/null || true; wait $CELERY_PID 2>/dev/null || true' EXIT INT TERM
echo "Celery worker + beat running (pid $CELERY_PID, log var/log/celery.log)."
echo "Back office: http://$HOST:$PORT/admin/   API docs: http://$HOST:$PORT/api/docs/"
"$PYTHON" manage.py runserver "$HOST:$PORT"
