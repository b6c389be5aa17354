"""Migration tests move the schema back and forth; each leaves it as the rest expect."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to_latest() -> None:
    """Every app forward to its last migration (the schema the rest of the tests use)."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
