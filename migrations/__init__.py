"""Alembic migrations: the only source of the database schema."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config for these migrations, without an ini file.

    `env.py` reads the URL from here when given, else from the settings.
    """
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if database_url is not None:
        config.attributes["url"] = database_url
    return config


@functools.cache
def latest_revision() -> str | None:
    """The head revision these migrations lead to."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
