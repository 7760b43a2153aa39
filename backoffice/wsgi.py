"""The WSGI application for production servers (``gunicorn backoffice.wsgi``).

Fails closed: without ``DJANGO_SETTINGS_MODULE`` it loads ``backoffice.settings.production``, which
turns DEBUG off and refuses to start with the published development key or without the keys of
personal data. The development set-up names its settings explicitly (``manage.py``, ``make run``'s
``scripts/devserver.sh``, pytest's ``DJANGO_SETTINGS_MODULE`` in ``pyproject.toml``)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.production")
application = get_wsgi_application()
