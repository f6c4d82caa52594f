"""A minimal django-oauth-toolkit (DOT) deployment to compare Heimdall's OAuth endpoints with."""
