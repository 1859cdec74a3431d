"""Settings read from `TRAINJOBS_*` environment variables, once per process.

With nothing set, everything lives under `~/.trainjobs`: a SQLite database
and a SQLite-backed Celery broker, so one machine needs no servers at all.
Production points `TRAINJOBS_DATABASE_URL` at PostgreSQL and
`TRAINJOBS_BROKER_URL` at Redis.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Passwords that only ever belong in an example file.
_PLACEHOLDER_PASSWORDS = ("changeme", "change-me", "password", "example")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAINJOBS_", frozen=True)

    home: Path = Field(default_factory=lambda: Path.home() / ".trainjobs")
    database_url: str = ""
    broker_url: str = ""
    data_dirs: str = ""
    # Workers consume this queue; separate deployments sharing one broker
    # (or test runs) keep apart by naming their own.
    queue: str = Field(default="trainjobs", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"

    # A running job writes its metrics and heartbeat this often; it is also
    # how quickly it notices a cancel request.
    flush_interval_s: float = Field(default=0.5, gt=0, le=60)
    # A running job whose heartbeat is older than this is presumed dead and
    # requeued by the sweeper. Must be well above flush_interval_s.
    heartbeat_timeout_s: float = Field(default=30.0, gt=0)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    # Deliveries of one job before it is failed for good.
    max_attempts: int = Field(default=3, ge=1, le=100)
    # Celery's redis transport redelivers unacknowledged messages after this
    # long; it must exceed the longest job, or jobs run twice.
    visibility_timeout_s: int = Field(default=12 * 3600, ge=60)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_placeholders(self) -> Settings:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{self.home / 'trainjobs.db'}"
            )
        if not self.broker_url:
            object.__setattr__(
                self, "broker_url", f"sqla+sqlite:///{self.home / 'broker.db'}"
            )
        if self.environment == "production":
            for url_name in ("database_url", "broker_url"):
                url = getattr(self, url_name).lower()
                if any(f":{word}@" in url for word in _PLACEHOLDER_PASSWORDS):
                    raise ValueError(
                        f"TRAINJOBS_{url_name.upper()} uses a placeholder password; "
                        "set a real one before running in production"
                    )
        return self

    @property
    def data_dir_list(self) -> list[Path]:
        """`data_dirs` split on ':', then where `trainjobs datasets fetch` puts
        downloads; the system and built-in folders are searched after these."""
        user = [Path(part) for part in self.data_dirs.split(":") if part]
        return [*user, self.home / "datasets"]

    @property
    def heartbeat_timeout(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.heartbeat_timeout_s)

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings
