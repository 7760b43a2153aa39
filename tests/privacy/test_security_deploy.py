"""Production settings: ``manage.py check --deploy`` passes with no warning when the required
environment is set, and refuses to start without the secrets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env_overrides: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_ENCRYPTION", "PII_HASH"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "backoffice.settings.production",
        "DJANGO_SECRET_KEY": "k7#Lw2@pQ9!zR4$vT8^mN1&bX6*cY3(dF5)gH0_jK-eA+sU=iO~" * 2,
        "FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        "PII_HASH_KEY": "Zq8vR2mT6wY1pL5nB9xC3kF7hJ0dG4sA",
        "DJANGO_ALLOWED_HOSTS": "backoffice.example.com",
        "DJANGO_ADMIN_URL": "ops-7f3a91/",
    })
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(  # noqa: S603 - fixed argument list, our own manage.py
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_passes_with_no_warning():
    result = run_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr.replace("AXES: BEGIN", "")


@pytest.mark.parametrize("overrides, expected", [
    ({"ADMIN_URL": "admin/"}, "privacy.W001"),
    ({"PII_HASH_KEY": "short"}, "privacy.E003"),
    ({"FIELD_ENCRYPTION_KEYS": ["not-a-fernet-key"]}, "privacy.E002"),
    ({"FIELD_ENCRYPTION_KEYS": []}, "privacy.E001"),
    ({"SESSION_COOKIE_AGE": 24 * 3600}, "privacy.W002"),
], ids=["default-admin-url", "short-hash-key", "bad-encryption-key", "no-encryption-key", "day-long-sessions"])
def test_the_deploy_checks_report_weak_settings(settings, overrides, expected):
    from privacy.checks import check_privacy_settings

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.PII_HASH_KEY = "Zq8vR2mT6wY1pL5nB9xC3kF7hJ0dG4sA"
    settings.ADMIN_URL = "ops-7f3a91/"
    assert check_privacy_settings() == []
    for key, value in overrides.items():
        setattr(settings, key, value)
    assert [problem.id for problem in check_privacy_settings()] == [expected]


@pytest.mark.parametrize("missing", ["FIELD_ENCRYPTION_KEYS", "PII_HASH_KEY"])
def test_production_refuses_to_start_without_its_keys(monkeypatch, missing):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("PII_HASH_KEY", "Zq8vR2mT6wY1pL5nB9xC3kF7hJ0dG4sA")
    monkeypatch.delenv(missing)
    monkeypatch.delitem(sys.modules, "backoffice.settings.production", raising=False)
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS and PII_HASH_KEY"):
        import backoffice.settings as base

        monkeypatch.setattr(base, "SECRET_KEY", "k7#Lw2@pQ9!zR4$vT8^mN1&bX6*cY3(dF5)gH0_jK-eA+sU=iO~")
        importlib.import_module("backoffice.settings.production")


def test_production_refuses_to_start_without_a_secret_key():
    result = run_check(DJANGO_SECRET_KEY=None)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr
