#!/usr/bin/env python
"""manage.py of the django-oauth-toolkit comparison site (runs in bench/.venv-dot only)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dotbench.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
