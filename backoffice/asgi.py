"""The ASGI application (``uvicorn backoffice.asgi:application`` and the like).

Fails closed like ``backoffice.wsgi``: the production settings unless ``DJANGO_SETTINGS_MODULE``
names others."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.production")
application = get_asgi_application()
