"""Benchmark-only Django site: Heimdall's settings and URLs plus a bare `bench/hello` view."""
