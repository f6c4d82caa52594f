"""Bulk-seed Apps and memberships straight into bench/run.sh's throwaway database (--scale only).

    python bench/tools/scale_seed.py --apps-total N --members-per-app K [--keys]

Run with Heimdall's environment (DATABASE_URL, HEIMDALL_KEY_ENCRYPTION_KEY, DJANGO_SETTINGS_MODULE)
so table and column names come from the models themselves (`_meta`) and every column the model
declares gets its model default: nothing is hard-coded but the values that matter. Rows go in with
PostgreSQL COPY in one transaction, then VACUUM (ANALYZE). No application code runs and no change-log
rows are written: run.sh restarts the server afterwards.

- Apps `scale-000001`... are added until there are N Apps in all, each with K memberships
  (`usr_…` ids from core.ids, active, no role, no password) of identities `idn_…` drawn from a
  shared pool of max(K, N*K/10) identities, so a person belongs to about ten Apps.
- --keys: each new App gets a current and a next signing key like signing_keys_provision gives:
  distinct kids, the private half encrypted with core.crypto under the kid. One RSA key pair is
  generated and reused for every App (generating 2 x N RSA keys would take minutes); the tokens
  the scenarios use are signed by the `bench` App's own keys, made by the server.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps-total", type=int, required=True)
    parser.add_argument("--members-per-app", type=int, required=True)
    parser.add_argument("--keys", action="store_true")
    args = parser.parse_args()
    django.setup()

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.db import connection, models, transaction

    from accounts.models import Identity, Membership
    from core import crypto
    from core.context import system_scope
    from core.ids import new_id
    from tenants.models import App
    from tokens.models import SigningKey

    now = datetime.now(UTC)

    def copier(model, explicit: list[str]):  # type: ignore[no-untyped-def]
        """(column names, function(values) -> row) filling every other column with its default."""
        fields = [f for f in model._meta.concrete_fields]
        columns = [f.column for f in fields]
        template = []
        for field in fields:
            if field.attname in explicit:
                template.append(None)
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                template.append(now)
            elif field.has_default() or not field.null:
                value = field.get_default()
                template.append(json.dumps(value) if isinstance(field, models.JSONField) else value)
            else:
                template.append(None)
        slots = [fields.index(next(f for f in fields if f.attname == name)) for name in explicit]

        def row(*values):  # type: ignore[no-untyped-def]
            out = list(template)
            for slot, value in zip(slots, values, strict=True):
                out[slot] = value
            return out

        return model._meta.db_table, columns, row

    scope = system_scope(reason="bench seeding: rows of thousands of Apps")
    scope.__enter__()
    started = time.monotonic()
    existing_apps = App.objects.count()
    first = App.objects.filter(slug__startswith="scale-").count()
    to_add = max(0, args.apps_total - existing_apps)
    k = args.members_per_app
    pool_size = max(k, args.apps_total * k // 10, 1)
    existing_pool = Identity.objects.filter(email__startswith="scale-").count()

    with transaction.atomic(), connection.cursor() as wrapper:
        cur = wrapper.cursor  # psycopg's own cursor, for COPY

        def copy(table: str, columns: list[str], rows) -> int:  # type: ignore[no-untyped-def]
            n = 0
            sql = f'COPY "{table}" ({", ".join(f"{c!s}" for c in columns)}) FROM STDIN'
            with cur.copy(sql) as cp:
                for r in rows:
                    cp.write_row(r)
                    n += 1
            return n

        table, columns, row = copier(Identity, ["id", "email"])
        identity_ids = list(
            Identity.objects.filter(email__startswith="scale-").order_by("email").values_list("id", flat=True)
        )
        new_identities = [(new_id("idn"), f"scale-{i:07d}@bench.invalid") for i in range(existing_pool, pool_size)]
        copy(table, columns, (row(i, e) for i, e in new_identities))
        identity_ids += [i for i, _ in new_identities]

        table, columns, row = copier(App, ["id", "slug", "display_name"])
        apps = [(new_id("app"), f"scale-{first + n + 1:06d}") for n in range(to_add)]
        copy(table, columns, (row(a, s, f"Scale {s}") for a, s in apps))

        table, columns, row = copier(Membership, ["id", "app_id", "identity_id"])
        pool = len(identity_ids)

        def memberships():  # type: ignore[no-untyped-def]
            for index, (app_id, _) in enumerate(apps, start=first):
                for r in range(k):
                    yield row(new_id("usr"), app_id, identity_ids[(index * k + r) % pool])

        members = copy(table, columns, memberships())

        keys = 0
        if args.keys and apps:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            der = private.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            public_pem = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
            table, columns, row = copier(
                SigningKey, ["kid", "app_id", "status", "public_pem", "private_key_encrypted", "activated_at"]
            )

            def signing_keys():  # type: ignore[no-untyped-def]
                for app_id, _ in apps:
                    for status in ("current", "next"):
                        kid = new_id("key")
                        yield row(
                            kid, app_id, status, public_pem, crypto.encrypt_private_key(der, key_id=kid),
                            now if status == "current" else None,
                        )

            keys = copy(table, columns, signing_keys())
    # VACUUM as well as ANALYZE (autocommit, outside the COPY's transaction): a million freshly
    # inserted rows otherwise trigger autovacuum's insert threshold about a minute later, in the
    # middle of the measured runs (seen as 70-88% "other CPU" in the resync windows). A database
    # of that size in production is in vacuum's steady state, which this reproduces.
    with connection.cursor() as cur:
        for model in (App, Identity, Membership, SigningKey):
            cur.execute(f'VACUUM (ANALYZE) "{model._meta.db_table}"')
    print(
        json.dumps(
            {
                "apps_added": len(apps),
                "apps_total": App.objects.count(),
                "identities_added": len(new_identities),
                "memberships_added": members,
                "memberships_total": Membership.objects.count(),
                "signing_keys_added": keys,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
