"""The change log that keeps every Heimdall process's in-memory authorization state fresh."""

from __future__ import annotations

from django.db import models


class StateChange(models.Model):
    """One change to something `/v1/authorize` caches: an App, its keys, roles, a subject, a jti.

    Written in the same transaction as the change itself; on PostgreSQL a NOTIFY in that
    transaction wakes every process at commit. Rows older than an hour are pruned.
    """

    kind = models.CharField(max_length=16)  # core.changes: app | subject | jti
    app_id = models.CharField(max_length=40, null=True)
    key = models.CharField(max_length=128, blank=True, default="")
    data = models.JSONField(null=True)
    created_at = models.DateTimeField(db_index=True)


class ThrottleHit(models.Model):
    """One counted attempt against a limiter key (core.throttle). Keys are keyed digests or ids,
    never a raw email or secret; rows older than the window are swept."""

    key = models.CharField(max_length=80)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["key", "created_at"])]
