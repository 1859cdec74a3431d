"""Engines and sessions: one engine per process, created after any fork.

Celery's prefork pool forks worker processes from a parent that may already
hold connections; sharing a socket across processes corrupts it. The engine
is therefore cached per process id and built lazily on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_engines: dict[tuple[int, str], Engine] = {}
_factories: dict[tuple[int, str], sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; the busy timeout makes a
    # writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A new engine for `url`, tuned for the dialect."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine(url: str) -> Engine:
    """This process's engine for `url`."""
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        with _lock:
            engine = _engines.get(key)
            if engine is None:
                engine = _engines[key] = make_engine(url)
                _factories[key] = sessionmaker(engine, expire_on_commit=False)
    return engine


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    get_engine(url)
    factory = _factories[(os.getpid(), url)]
    with factory() as session, session.begin():
        yield session


def dispose_engines() -> None:
    """Close this process's pools (tests and shutdown)."""
    with _lock:
        for key in [k for k in _engines if k[0] == os.getpid()]:
            _engines.pop(key).dispose()
            _factories.pop(key, None)


def schema_missing(error: Exception) -> bool:
    """Whether a database error means the tables were never created."""
    text = str(error).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)
