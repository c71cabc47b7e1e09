"""Migration operations for what only PostgreSQL has: applied there, nothing on another database.

A trigram index serves the admin's searches (``icontains`` is ``UPPER(column::text) LIKE UPPER('%…%')`` on
PostgreSQL, which a GIN index of ``gin_trgm_ops`` over that same expression answers). Models cannot declare
an index for one database only, so these indexes live in migrations alone: they leave the migration state
as it is, and ``makemigrations`` never sees them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import TrigramExtension
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

__all__ = ["AddTrigramIndex", "TrigramExtension"]


class AddTrigramIndex(Operation):
    """``CREATE INDEX <name> ON <model's table> USING gin (UPPER(<column>::text) gin_trgm_ops)`` on
    PostgreSQL (after ``TrigramExtension``); dropped on the way back; no-op elsewhere."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, *, model_name: str, column: str, name: str) -> None:
        self.model_name, self.column, self.name = model_name, column, name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {"model_name": self.model_name, "column": self.column, "name": self.name}
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = to_state.apps.get_model(app_label, self.model_name)._meta.db_table
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"CREATE INDEX {quote(self.name)} ON {quote(table)} "
            f"USING gin ((UPPER({quote(self.column)}::text)) gin_trgm_ops)"
        )

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(self.name)}")

    def describe(self) -> str:
        return f"Create trigram index {self.name} on {self.model_name}.{self.column} (PostgreSQL only)"

    @property
    def migration_name_fragment(self) -> str:
        return self.name.lower()
