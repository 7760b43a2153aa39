"""The Celery application, wired as the Celery docs describe for Django.

Fails closed like ``backoffice.wsgi``: a worker or beat started without ``DJANGO_SETTINGS_MODULE``
runs on ``backoffice.settings.production`` (which refuses the development key). ``make run``'s
``scripts/devserver.sh`` starts its worker with the development settings explicitly."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.production")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
