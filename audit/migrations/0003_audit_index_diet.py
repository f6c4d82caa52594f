"""The audit table's index diet: every token issuance inserts one event, and each index is paid
on that hot path (and again when the event is sealed).

Which query needs which index (audit.api, audit.services):

| query | index |
| --- | --- |
| list, newest first; an App's deletion | `(app, -id)` (so the foreign key's own index goes) |
| list `action=` / `actorId=` / `targetId=` | `(app, action, -id)` / `(app, actor_id, -id)` / `(app, target_id, -id)` |
| list `since`/`until`; prune by age | BRIN on `occurred_at` (PostgreSQL; was a b-tree) |
| sealing (`seq IS NULL`, id order) | `audit_event_unsealed` (partial) |
| verify, export, prune (by `seq`); no fork | unique `(app, seq)`, now partial on `seq IS NOT NULL` |

Dropped: the foreign key's index on `app_id`, the b-tree on `occurred_at`, and on PostgreSQL the
`varchar_pattern_ops` copies of `id` and `app_id` (no query uses LIKE on them). Unsealed events
no longer enter the unique `(app, seq)` index (a null position was indexed for nothing). The
constraint itself is unchanged: two sealed events of one App can never share a position.
"""

import django.db.models.deletion
from django.db import migrations, models

BRIN_NAME = "audit_event_occurred_brin"


def _pattern_indexes(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s"
        " AND indexdef LIKE %s",
        [table, "%varchar_pattern_ops%"],
    )
    return [row[0] for row in cursor.fetchall()]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("audit", "AuditEvent")._meta.db_table
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        for name in _pattern_indexes(cursor, table):
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {quote(BRIN_NAME)} ON {quote(table)} USING brin (occurred_at)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("audit", "AuditEvent")._meta.db_table
    quote = schema_editor.quote_name
    schema_editor.execute(f"DROP INDEX IF EXISTS {quote(BRIN_NAME)}")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {quote(table + '_id_like')} ON {quote(table)} (id varchar_pattern_ops)"
    )


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_chain"),
        ("tenants", "0002_app_tokens_valid_after"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="auditevent",
            name="audit_event_app_seq_unique",
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="app",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.app"
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="occurred_at",
            field=models.DateTimeField(),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("seq__isnull", False)), fields=("app", "seq"), name="audit_event_app_seq_unique"
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
