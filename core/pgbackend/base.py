"""PostgreSQL, with the session's row-level-security settings kept equal to the code's context.

Django's postgresql backend plus `sync_settings` around every statement (heimdall.settings points
postgres:// URLs here; core.rls explains the policies). Before a statement runs, the context's
(App id, system) pair is compared with what the session was last given (`rls_settings`); only when
they differ is one `SELECT set_config(...)` sent first. The settings are session-level, so a run
of statements in one context costs one round trip, in autocommit as in a transaction; the next
request on a reused connection (CONN_MAX_AGE) gets its own settings before its first statement.

What the session holds is forgotten whenever it may be wrong: a new connection, a close, a
rollback or a rollback to a savepoint (each may undo a set_config sent inside it).

This module imports no models (Django loads it while models are being defined).
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from core import context

APP_SETTING = "heimdall.app_id"
SYSTEM_SETTING = "heimdall.system"

_SET_SQL = f"SELECT set_config('{APP_SETTING}', %s, false), set_config('{SYSTEM_SETTING}', %s, false)"

# Statements that touch no rows need no settings: Django's savepoint handling. (A set_config sent
# just before ROLLBACK TO SAVEPOINT would be undone by it, and then wrongly remembered.)
_ROWLESS = ("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ")

# Round trips spent on set_config in this process (measurement only: benchmarks and tests read it).
stats = {"set_config": 0}


def wanted() -> tuple[str, str]:
    """The (app id, system) settings the current context needs ("" for none)."""
    app = context.current_app()
    return (str(app.pk) if app is not None else "", "on" if context.in_system_scope() else "")


def sync_settings(execute: Any, sql: str, params: Any, many: bool, ctx: dict[str, Any]) -> Any:
    """Execute wrapper: give the session the context's settings, then run the statement."""
    db = ctx["connection"]
    want = wanted()
    if db.rls_settings != want and not (isinstance(sql, str) and sql.startswith(_ROWLESS)):
        db.validate_no_broken_transaction()  # the error the statement itself would have raised
        db.rls_settings = None  # unknown until the set_config has succeeded
        with db.wrap_database_errors, db.connection.cursor() as cursor:
            cursor.execute(_SET_SQL, want)
        db.rls_settings = want
        stats["set_config"] += 1
    return execute(sql, params, many, ctx)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (app id, system) the session was last given; None: unknown, set before the next statement.
        self.rls_settings: tuple[str, str] | None = None
        self.execute_wrappers.append(sync_settings)

    def get_new_connection(self, conn_params: Any) -> Any:
        self.rls_settings = None
        return super().get_new_connection(conn_params)

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # private in django-stubs
        finally:
            self.rls_settings = None

    def _savepoint_rollback(self, sid: str) -> None:
        try:
            super()._savepoint_rollback(sid)  # type: ignore[misc]  # private in django-stubs
        finally:
            self.rls_settings = None

    def _close(self) -> None:
        self.rls_settings = None
        super()._close()  # type: ignore[misc]  # private in django-stubs
