"""Heimdall's production settings, with a URLconf that adds the benchmark's ceiling view.

Everything else (middleware, database, logging, HEIMDALL knobs) is exactly `heimdall.settings`,
so `bench/hello` is served through the same stack as the product endpoints.
"""

from heimdall.settings import *  # noqa: F403

ROOT_URLCONF = "benchsite.urls"
