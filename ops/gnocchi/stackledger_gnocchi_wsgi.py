"""Gunicorn entry point for the Gnocchi REST API.

Upstream's ``gnocchi.rest.wsgi`` builds the app from ``sys.argv``, which under gunicorn holds
gunicorn's own flags, so oslo.config would reject them. This module does the same thing as
``gnocchi.cli.api.wsgi()`` but hands oslo.config an empty argv and the config file named by
``GNOCCHI_CONFIG_FILE`` (set by ops/gnocchi.sh).
"""

import os

from gnocchi import opts, service
from gnocchi.rest import app as rest_app
from oslo_config import cfg


def _load() -> object:
    conf = cfg.ConfigOpts()
    opts.set_defaults()
    conf = service.prepare_service(args=[], conf=conf, default_config_files=[os.environ["GNOCCHI_CONFIG_FILE"]])
    return rest_app.load_app(conf)


application = _load()
