# Credentials are per App: the password moves from the identity to each membership.

from django.db import migrations, models


def copy_passwords(apps, schema_editor):
    """Each membership gets the identity's password where that App trusted it (the rule this
    replaces: a password set by one App's admin was trusted by that App only)."""
    Membership = apps.get_model("accounts", "Membership")
    for membership in Membership.objects.select_related("identity").exclude(identity__password_hash=None):
        identity = membership.identity
        if identity.password_app_id in (None, membership.app_id):
            membership.password_hash = identity.password_hash
            membership.password_changed_at = identity.password_changed_at
            membership.save(update_fields=["password_hash", "password_changed_at"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_delete_loginfailure_alter_refreshtoken_revoked_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='membership',
            name='password_changed_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name='membership',
            name='password_hash',
            field=models.CharField(max_length=255, null=True),
        ),
        migrations.RunPython(copy_passwords, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='identity',
            name='password_app_id',
        ),
        migrations.RemoveField(
            model_name='identity',
            name='password_changed_at',
        ),
        migrations.RemoveField(
            model_name='identity',
            name='password_hash',
        ),
    ]
