"""Fail closed (issue 12): the production entry points — WSGI, ASGI and the Celery app — load
``backoffice.settings.production`` unless told otherwise, so a server or worker started without
``DJANGO_SETTINGS_MODULE`` refuses the published development key instead of running with DEBUG on.
``manage.py``, ``make run`` (``scripts/devserver.sh``, its worker included) and the tests keep the
development settings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from backoffice.settings import DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SECRET = "k7#Lw2@pQ9!zR4$vT8^mN1&bX6*cY3(dF5)gH0_jK-eA+sU=iO~" * 2
PII_HASH_KEY = "Zq8vR2mT6wY1pL5nB9xC3kF7hJ0dG4sA"

WSGI = [sys.executable, "-c", "import backoffice.wsgi; from django.conf import settings; "
                              "print('started', settings.SETTINGS_MODULE, settings.DEBUG)"]
ASGI = [sys.executable, "-c", "import backoffice.asgi; from django.conf import settings; "
                              "print('started', settings.SETTINGS_MODULE, settings.DEBUG)"]
# The worker's own command line; the broker is never reached: the settings are read first.
WORKER = [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool=solo", "--loglevel=ERROR"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Django setting, key or database of the test run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "FIELD_ENCRYPTION", "PII_HASH", "DATABASE_URL", "CELERY_"))}
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603


@pytest.mark.parametrize("argv", [WSGI, ASGI, WORKER], ids=["wsgi", "asgi", "celery-worker"])
@pytest.mark.parametrize("env", [
    {},
    {"DJANGO_SECRET_KEY": DEVELOPMENT_SECRET_KEY, "PII_HASH_KEY": PII_HASH_KEY},
], ids=["no-settings-no-key", "no-settings-development-key"])
def test_entry_points_without_settings_refuse_the_development_key(argv, env):
    if env:
        env = {**env, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    result = run(argv, clean_env(**env))
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set to a private value" in result.stderr


@pytest.mark.parametrize("argv", [WSGI, ASGI], ids=["wsgi", "asgi"])
def test_entry_points_start_on_the_production_settings_with_their_keys(argv):
    env = clean_env(DJANGO_SECRET_KEY=PRODUCTION_SECRET, PII_HASH_KEY=PII_HASH_KEY,
                    FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    result = run(argv, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "started backoffice.settings.production False"


def test_an_explicit_settings_module_is_respected():
    result = run(WSGI, clean_env(DJANGO_SETTINGS_MODULE="backoffice.settings"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "started backoffice.settings True"


def test_manage_py_keeps_the_development_settings():
    result = run([sys.executable, "manage.py", "shell", "-c",
                  "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"], clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "backoffice.settings True"


def test_the_dev_server_script_runs_its_worker_and_server_on_the_development_settings(tmp_path):
    """``make run`` runs ``scripts/devserver.sh``; a stand-in interpreter records the settings module
    each of its two processes (the Celery worker with beat, then runserver) is started with."""
    record = tmp_path / "started.txt"
    fake_python = tmp_path / "python"
    # runserver (started second, in the foreground) waits until the background worker has been recorded:
    # the script's exit trap stops the worker as soon as runserver returns.
    fake_python.write_text(
        f'#!/bin/sh\necho "$DJANGO_SETTINGS_MODULE $1 $2" >> {record}\n'
        f'if [ "$2" = runserver ]; then i=0; while ! grep -q celery {record} && [ $i -lt 100 ]; do sleep 0.1; '
        f'i=$((i+1)); done; fi\n'
    )
    fake_python.chmod(0o755)
    result = run(["bash", str(ROOT / "scripts" / "devserver.sh")], clean_env(PYTHON=str(fake_python), PORT="8765"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(record.read_text().splitlines()) == [
        "backoffice.settings -m celery",
        "backoffice.settings manage.py runserver",
    ]
