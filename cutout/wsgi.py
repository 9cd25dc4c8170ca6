import os

from django.core.wsgi import get_wsgi_application

from cutout.chunked import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cutout.settings")
application = ChunkedBodies(get_wsgi_application())
