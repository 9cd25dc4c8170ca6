"""The web app's views, one module per URL group (see :mod:`cutout.web.urls`)."""
