"""gunicorn entry point for Keystone.

Keystone configures oslo.config with the process command line, which under gunicorn holds gunicorn's
own flags and makes Keystone refuse to start; give it an empty command line before it loads.
"""

import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402

__all__ = ["application"]
