"""WSGI entry point: `gunicorn heimdall.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")

application = get_wsgi_application()
