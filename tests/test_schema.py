"""Alembic migrations build exactly the schema the models describe, and init is idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.instance import initialise
from storage.models import Base
from storage.schema import current_revision


def test_migrations_match_the_models(instance):
    with instance.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_init_is_idempotent(instance):
    revision = current_revision(instance.engine)
    assert revision is not None
    initialise(instance.config).dispose()
    assert current_revision(instance.engine) == revision
