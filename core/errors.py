"""Errors that `core` raises on purpose, so callers can map them to outcomes.

The tree::

    TrainjobsError
    ├── DatasetError            a dataset cannot be found, read or trusted
    │   ├── DatasetNotFound     no folder of that name on the search path
    │   └── DatasetFormatError  bad magic number, truncated file, counts disagree
    ├── SpecError               a job spec breaks a rule that needs the dataset
    ├── NotFound                no job or sweep with that id
    ├── Conflict                the request clashes with the current state
    └── LeaseLost               a worker no longer owns the job it is running

The API maps `NotFound` to 404, `Conflict` to 409 and `SpecError` or
`DatasetError` to 422. Anything else is a bug and surfaces as a 500.
"""

from __future__ import annotations


class TrainjobsError(Exception):
    """Base of every error raised on purpose by trainjobs."""


class DatasetError(TrainjobsError):
    """A dataset cannot be found, read or trusted."""


class DatasetNotFound(DatasetError):
    """No dataset folder of that name exists on the search path."""


class DatasetFormatError(DatasetError):
    """A dataset file is malformed: magic number, size or counts."""


class SpecError(TrainjobsError):
    """A job spec breaks a rule that can only be checked against its dataset.

    Attributes:
        loc: where the bad value sits in the spec, as in pydantic errors.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class NotFound(TrainjobsError):
    """No job or sweep with the given id."""


class Conflict(TrainjobsError):
    """The request clashes with the current state, e.g. cancelling a finished job."""


class LeaseLost(TrainjobsError):
    """The job is no longer this worker's: cancelled, finished or requeued."""
