"""The schema comes from migrations alone, and they match the models."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from core.models import Base
from migrations import alembic_config


def test_latest_revision_matches_the_models(database_url: str) -> None:
    # `database_url` is migrated to head by its fixture.
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), Base.metadata
        )
    engine.dispose()

    assert differences == []


def test_migrations_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    config = alembic_config(url)
    engine = create_engine(url)

    command.upgrade(config, "head")
    upgraded = set(inspect(engine).get_table_names())
    command.downgrade(config, "base")
    downgraded = set(inspect(engine).get_table_names())
    command.upgrade(config, "head")
    engine.dispose()

    assert {"jobs", "metrics", "metric_blocks", "sweeps", "job_tags"} <= upgraded
    assert downgraded == {"alembic_version"}
