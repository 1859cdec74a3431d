"""Bad input never gets a 500: each malformed request gets a 4xx that names
the field and the rule.

The table sends one malformed request per row and expects exactly one error:
for a 422 the exact `field` and the exact `msg` (or, where part of it depends
on the machine, its exact beginning); for a 413 or 415 the exact `detail`.
A body that is not JSON is a 422 on the field `body`, like every other bad
body. A few rows are positive controls that must be accepted. Afterwards,
nothing stored before the table may have changed, and the only new jobs are
the positive controls'.

Every test here runs twice, on SQLite + SQLAlchemy transport and on
PostgreSQL + Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import httpx
import pytest

from cli.stack import ServiceStack
from tests.helpers import job_spec, submit, wait_for

JSON = {"Content-Type": "application/json"}
TOO_LARGE = "request body is larger than 1,000,000 bytes"
PLAIN_DATASET = (
    "must be a plain name of letters, digits, '.', '_' or '-' "
    "(at most 64, no '/' or '..'), got "
)
TAG_KEY = "tag keys are 1-64 letters, digits, '.', '_' or '-', got "
OPTIMIZERS = "'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'"


def spec(**changes: Any) -> dict[str, Any]:
    """A small valid spec; `model` and `training` changes merge into defaults."""
    body = job_spec(iterations=10, eval_interval=5)
    for key, value in changes.items():
        if key in {"model", "training"} and isinstance(value, dict):
            value = {**body.get(key, {}), **value}
        body[key] = value
    return body


def opt(name: str = "adam", **fields: Any) -> dict[str, Any]:
    """An optimizer section: `name` at 0.01 plus `fields`."""
    return {"name": name, "learning_rate": 0.01, **fields}


def chunks(total: int, size: int = 65_536) -> Iterator[bytes]:
    """A streamed body with no Content-Length: `total` bytes of whitespace."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


@dataclass(frozen=True)
class Bad:
    """One request to POST /jobs and the answer it must get.

    `body` goes out as JSON, or as is when it is bytes (for tokens such as
    NaN that `json.dumps` would not write); `stream` streams that many bytes
    chunked instead. A 422 must hold exactly one error on `field` whose
    `msg` is `f"{field}: {rule}"` (or starts with it, for `prefix`); any
    other status must come with exactly `{"detail": detail}`.
    """

    body: Any = None
    field: str = ""
    rule: str = ""
    status: int = 422
    detail: str = ""
    headers: dict[str, str] = dataclass_field(default_factory=lambda: dict(JSON))
    prefix: bool = False
    stream: int | None = None

    def send(self, client: httpx.Client) -> httpx.Response:
        content: bytes | Iterator[bytes]
        if self.stream is not None:
            content = chunks(self.stream)
        elif isinstance(self.body, bytes):
            content = self.body
        else:
            content = json.dumps(self.body).encode()
        return client.post("/jobs", content=content, headers=self.headers)


def no(case_id: str, body: Any, fld: str, rule: str, **options: Any) -> Any:
    """A body that must get a 422 on `fld` saying `rule`."""
    marks = options.pop("marks", ())
    return pytest.param(Bad(body, fld, rule, **options), id=case_id, marks=marks)


def refused(case_id: str, status: int, detail: str, **options: Any) -> Any:
    """A request that must get `status` with exactly `detail`."""
    return pytest.param(Bad(status=status, detail=detail, **options), id=case_id)


GE = "Input should be greater than or equal to"
LE = "Input should be less than or equal to"
NOT_INT = "Input should be a valid integer"
BIGINT_MAX = 2**63 - 1
HUGE = "99999999999999999999"

POST_CASES = [
    # -- wrong types: strict, so nothing is coerced ------------------------------
    no(
        "string-for-number",
        spec(optimizer=opt(learning_rate="0.1")),
        "optimizer.learning_rate",
        "Input should be a valid number, got '0.1'",
    ),
    no(
        "number-for-string",
        spec(name=5),
        "name",
        "Input should be a valid string, got 5",
    ),
    no(
        "bool-for-int",
        spec(training={"iterations": True}),
        "training.iterations",
        f"{NOT_INT}, got true",
    ),
    no(
        "float-for-int",
        spec(training={"iterations": 10.5}),
        "training.iterations",
        f"{NOT_INT}, got 10.5",
    ),
    no(
        "whole-float-for-int",
        spec(training={"batch_size": 100.0}),
        "training.batch_size",
        f"{NOT_INT}, got 100.0",
    ),
    no(
        "list-for-object",
        spec(model=[40, 20]),
        "model",
        "Input should be a JSON object, got [40, 20]",
    ),
    no(
        "string-for-list",
        spec(model={"hidden_sizes": "40,20"}),
        "model.hidden_sizes",
        "Input should be a valid list, got '40,20'",
    ),
    no(
        "string-for-bool",
        spec(model={"batch_norm": "yes"}),
        "model.batch_norm",
        "Input should be a valid boolean, got 'yes'",
    ),
    no(
        "null-for-required-object",
        spec(optimizer=None),
        "optimizer",
        "Input should be a JSON object, got null",
    ),
    no(
        "null-for-required-number",
        spec(optimizer=opt(learning_rate=None)),
        "optimizer.learning_rate",
        "Input should be a valid number, got null",
    ),
    no(
        "list-for-tags",
        spec(tags=["a:b"]),
        "tags",
        'Input should be a JSON object, got ["a:b"]',
    ),
    # -- out of range --------------------------------------------------------------
    no(
        "learning-rate-zero",
        spec(optimizer=opt(learning_rate=0)),
        "optimizer.learning_rate",
        "Input should be greater than 0, got 0",
    ),
    no(
        "learning-rate-negative",
        spec(optimizer=opt(learning_rate=-0.1)),
        "optimizer.learning_rate",
        "Input should be greater than 0, got -0.1",
    ),
    no(
        "momentum-one",
        spec(optimizer=opt("momentum", momentum=1.0)),
        "optimizer.momentum",
        "must be in [0, 1), got 1.0",
    ),
    no(
        "beta1-one",
        spec(optimizer=opt("adam", beta1=1.0)),
        "optimizer.beta1",
        "must be in [0, 1), got 1.0",
    ),
    no(
        "beta2-above-one",
        spec(optimizer=opt("adamw", beta2=1.5)),
        "optimizer.beta2",
        "must be in [0, 1), got 1.5",
    ),
    no(
        "dropout-one",
        spec(model={"dropout": 1}),
        "model.dropout",
        "must be in [0, 1), got 1.0",
    ),
    *[
        no(
            f"{name.replace('_', '-')}-{value}",
            spec(training={name: value}),
            f"training.{name}",
            f"{rule}, got {value}",
        )
        for name, value, rule in [
            ("iterations", 0, f"{GE} 1"),
            ("iterations", 1_000_001, f"{LE} 1000000"),
            ("batch_size", 0, f"{GE} 1"),
            ("eval_interval", 0, f"{GE} 1"),
            ("seed", -1, f"{GE} 0"),
            ("seed", 2**32, f"{LE} 4294967295"),
        ]
    ],
    *[
        no(
            f"weight-init-{value}",
            spec(model={"weight_init": value}),
            "model.weight_init",
            f"must be a standard deviation in (0, 10] or 'xavier' or 'he', got {shown}",
        )
        for value, shown in [
            (0, "0"),
            (-0.5, "-0.5"),
            (10.5, "10.5"),
            ("lecun", "'lecun'"),
        ]
    ],
    no(
        "unknown-activation",
        spec(model={"activation": "gelu"}),
        "model.activation",
        "Input should be 'sigmoid', 'relu' or 'tanh', got 'gelu'",
    ),
    # -- non-finite numbers, as raw tokens Python's JSON parser reads --------------
    no(
        "nan-token",
        b'{"optimizer": {"name": "adam", "learning_rate": NaN}}',
        "optimizer.learning_rate",
        "Input should be a finite number, got NaN",
    ),
    no(
        "infinity-token",
        b'{"optimizer": {"name": "sgd", "learning_rate": Infinity}}',
        "optimizer.learning_rate",
        "Input should be a finite number, got Infinity",
    ),
    no(
        "minus-infinity-token",
        b'{"optimizer": {"name": "sgd", "learning_rate": 0.1},'
        b' "training": {"max_loss": -Infinity}}',
        "training.max_loss",
        "Input should be a finite number, got -Infinity",
    ),
    no(
        "float-overflowing-to-infinity",
        b'{"optimizer": {"name": "adam", "learning_rate": 1e400}}',
        "optimizer.learning_rate",
        "Input should be a finite number, got Infinity",
    ),
    # -- choice of optimizer and schedule ------------------------------------------
    no(
        "unknown-optimizer",
        spec(optimizer=opt("lbfgs")),
        "optimizer.name",
        f"must be one of {OPTIMIZERS}, got 'lbfgs'",
    ),
    no(
        "optimizer-name-not-a-string",
        spec(optimizer=opt(7)),
        "optimizer.name",
        f"must be one of {OPTIMIZERS}, got 7",
    ),
    no(
        "schedule-without-kind",
        spec(optimizer=opt(schedule={"warmup_steps": 5})),
        "optimizer.schedule.kind",
        "Field required",
    ),
    no(
        "optimizer-without-name",
        spec(optimizer={"learning_rate": 0.01}),
        "optimizer.name",
        "Field required",
    ),
    no("missing-optimizer", {"dataset": "mnist-10k"}, "optimizer", "Field required"),
    no(
        "unknown-schedule",
        spec(optimizer=opt(schedule={"kind": "linear"})),
        "optimizer.schedule.kind",
        "must be one of 'constant', 'step', 'cosine', got 'linear'",
    ),
    no(
        "warmup-beyond-iterations",
        spec(optimizer=opt(schedule={"kind": "constant", "warmup_steps": 11})),
        "optimizer.schedule.warmup_steps",
        "must be at most training.iterations (10), got 11",
    ),
    no(
        "cosine-warmup-leaves-no-steps",
        spec(optimizer=opt(schedule={"kind": "cosine", "warmup_steps": 10})),
        "optimizer.schedule.warmup_steps",
        "must be less than training.iterations (10), got 10",
    ),
    no(
        "cosine-ending-above-its-start",
        spec(optimizer=opt(schedule={"kind": "cosine", "min_lr": 10})),
        "optimizer.schedule.min_lr",
        "must be at most optimizer.learning_rate (0.01), got 10",
    ),
    no(
        "batch-too-big-for-the-widest-layer",
        spec(
            dataset="fashion-mnist",
            model={"hidden_sizes": [4096]},
            training={"batch_size": 30000},
        ),
        "training.batch_size",
        "a batch of 30,000 rows through a layer of 4,096 units holds 122,880,000 "
        "numbers; the limit is 67,108,864 (use a smaller batch or narrower layers)",
    ),
    # -- extra fields, at every level ----------------------------------------------
    no(
        "momentum-on-sgd",
        spec(optimizer=opt("sgd", momentum=0.9)),
        "optimizer.momentum",
        "sgd takes no 'momentum'; it takes learning_rate, max_grad_norm, "
        "schedule, weight_decay",
    ),
    *[
        no(f"extra-{case_id}", body, fld, "Extra inputs are not permitted")
        for case_id, body, fld in [
            ("top-level", spec(epochs=3), "epochs"),
            ("in-model", spec(model={"layers": 3}), "model.layers"),
            ("in-training", spec(training={"lr": 0.1}), "training.lr"),
            (
                "in-schedule",
                spec(optimizer=opt(schedule={"kind": "cosine", "gamma": 0.5})),
                "optimizer.schedule.gamma",
            ),
        ]
    ],
    # -- size limits ---------------------------------------------------------------
    no(
        "nine-hidden-layers",
        spec(model={"hidden_sizes": [10] * 9}),
        "model.hidden_sizes",
        "List should have at most 8 items, not 9",
    ),
    no(
        "layer-over-4096-units",
        spec(model={"hidden_sizes": [40, 4097]}),
        "model.hidden_sizes.1",
        f"{LE} 4096, got 4097",
    ),
    no(
        "over-ten-million-parameters",
        spec(model={"hidden_sizes": [4096, 4096, 4096]}),
        "model.hidden_sizes",
        "the network would have 36,818,954 parameters on 'mnist-10k'; "
        "the limit is 10,000,000",
    ),
    no(
        "batch-larger-than-training-set",
        spec(training={"batch_size": 8001}),
        "training.batch_size",
        "must be at most the training set size 8,000 of 'mnist-10k', got 8,001",
    ),
    no(
        "hundred-thousand-hidden-sizes",
        spec(model={"hidden_sizes": [1] * 100_000}),
        "model.hidden_sizes",
        "List should have at most 8 items, not 100000",
    ),
    refused("body-over-1mb", 413, TOO_LARGE, body=spec(name="x" * 1_000_001)),
    refused("chunked-body-over-1mb", 413, TOO_LARGE, stream=1_000_001),
    # -- not JSON, or not a JSON object --------------------------------------------
    no(
        "not-json",
        b"optimizer=adam",
        "body",
        "Invalid JSON: Expecting value at line 1 column 1",
    ),
    no(
        "truncated-json",
        b'{"optimizer": {',
        "body",
        "Invalid JSON: Expecting property name enclosed in double quotes "
        "at line 1 column 16",
    ),
    no(
        "trailing-data",
        b'{"a": 1}}',
        "body",
        "Invalid JSON: Extra data at line 1 column 9",
    ),
    no(
        "not-utf8",
        b'{"name": "caf\xe9"}',
        "body",
        "Invalid JSON: not UTF-8 text (invalid continuation byte at byte 13)",
    ),
    no(
        "nested-too-deep",
        b"[" * 100_000 + b"]" * 100_000,
        "body",
        "Invalid JSON: arrays or objects nested too deeply",
    ),
    no(
        "integer-with-5000-digits",
        b'{"training": {"seed": ' + b"9" * 5000 + b"}}",
        "body",
        "Invalid JSON: a number has too many digits",
    ),
    no("empty-body", b"", "body", "Field required: send the request as a JSON object"),
    no(
        "json-null",
        b"null",
        "body",
        "Input should be a JSON object, got null",
    ),
    no("json-list", b'["adam"]', "body", 'Input should be a JSON object, got ["adam"]'),
    no("json-string", b'"adam"', "body", "Input should be a JSON object, got 'adam'"),
    no("json-number", b"42", "body", "Input should be a JSON object, got 42"),
    # -- content type --------------------------------------------------------------
    *[
        refused(
            f"content-type-{shown}",
            415,
            f"Content-Type must be application/json, got {shown!r}",
            body=spec(),
            headers=headers,
        )
        for shown, headers in [
            ("text/plain", {"Content-Type": "text/plain"}),
            (
                "application/x-www-form-urlencoded",
                {"Content-Type": "application/x-www-form-urlencoded"},
            ),
            ("none", {}),
        ]
    ],
    # -- unicode -------------------------------------------------------------------
    no(
        "nul-in-name",
        spec(name="run\x00one"),
        "name",
        "must not contain control characters, got '\\x00'",
    ),
    no(
        "escape-in-name",
        spec(name="\x1b[31mred"),
        "name",
        "must not contain control characters, got '\\x1b'",
    ),
    no(
        "c1-control-in-tag-value",
        spec(tags={"note": "a\x85b"}),
        "tags.note",
        "must not contain control characters, got '\\x85'",
    ),
    no(
        "lone-surrogate-in-name",
        b'{"name": "a\\ud800b", "optimizer": {"name": "adam", "learning_rate": 0.1}}',
        "name",
        "Input should be valid unicode text (no lone surrogates), got 'a\\ud800b'",
    ),
    no(
        "lone-surrogate-tag-key",
        b'{"tags": {"\\udc00": "x"},'
        b' "optimizer": {"name": "adam", "learning_rate": 0.1}}',
        "tags",
        f"{TAG_KEY}'\\udc00'",
    ),
    # -- dataset names: plain names only, and only ones that exist -----------------
    *[
        no(
            f"dataset-{case_id}",
            spec(dataset=name),
            "dataset",
            f"{PLAIN_DATASET}{name!r}",
        )
        for case_id, name in [
            ("parent-path", "../etc"),
            ("nested-path", "a/b"),
            ("absolute-path", "/abs"),
            ("dot-dot", ".."),
            ("trailing-dot-dot", "mnist-10k/.."),
            ("unicode", "мнист"),
            ("empty", ""),
        ]
    ],
    no(
        "dataset-unknown",
        spec(dataset="no-such-set"),
        "dataset",
        "'no-such-set' not found; available: ",
        prefix=True,
    ),
    # -- tags ------------------------------------------------------------------------
    no(
        "too-many-tags",
        spec(tags={f"k{i}": "v" for i in range(21)}),
        "tags",
        "at most 20 tags, got 21",
    ),
    no(
        "tag-key-with-space", spec(tags={"bad key": "v"}), "tags", f"{TAG_KEY}'bad key'"
    ),
    no("tag-key-empty", spec(tags={"": "v"}), "tags", f"{TAG_KEY}''"),
    no(
        "tag-value-number",
        spec(tags={"run": 1}),
        "tags.run",
        "Input should be a valid string, got 1",
    ),
    no(
        "tag-value-too-long",
        spec(tags={"run": "x" * 201}),
        "tags.run",
        "String should have at most 200 characters",
    ),
    # -- name and headers ------------------------------------------------------------
    no("name-empty", spec(name=""), "name", "String should have at least 1 character"),
    no(
        "name-too-long",
        spec(name="x" * 201),
        "name",
        "String should have at most 200 characters",
    ),
    no(
        "idempotency-key-too-long",
        spec(),
        "Idempotency-Key",
        "String should have at most 200 characters",
        headers={**JSON, "Idempotency-Key": "k" * 201},
    ),
]

# Accepted: unicode text is fine where control characters are not, and a
# batch may be the whole training set.
GOOD_CASES = [
    pytest.param(
        spec(name="训练 🚀 テスト", tags={"note": "学习率 ✓"}), id="unicode-text"
    ),
    pytest.param(spec(training={"batch_size": 8000}), id="batch-of-whole-training-set"),
]


def lookup(
    path: str, status: int, fld: str = "", rule: str = "", marks: Any = ()
) -> Any:
    """A GET (or "POST /path") and its answer; for a 404, `rule` is the detail."""
    return pytest.param(path, status, fld, rule, id=path, marks=marks)


# `{job}` stands for a job that exists.
LOOKUP_CASES = [
    lookup(
        "/jobs/abc",
        422,
        "job_id",
        f"{NOT_INT}, unable to parse string as an integer, got abc",
    ),
    lookup(
        "/jobs/1.5",
        422,
        "job_id",
        f"{NOT_INT}, unable to parse string as an integer, got 1.5",
    ),
    lookup(f"/jobs/{BIGINT_MAX}", 404, rule=f"job {BIGINT_MAX} not found"),
    *[
        lookup(path, 422, fld, rule)
        for path, fld, rule in [
            ("/jobs/0", "job_id", f"{GE} 1, got 0"),
            ("/jobs/-1", "job_id", f"{GE} 1, got -1"),
            (f"/jobs/-{HUGE}", "job_id", f"{GE} 1, got -{HUGE}"),
            (f"/jobs/{HUGE}", "job_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (f"/jobs/{HUGE}/metrics", "job_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (f"/jobs/{HUGE}/metrics.csv", "job_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (f"POST /jobs/{HUGE}/cancel", "job_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (f"/jobs?sweep_id={HUGE}", "sweep_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (f"/jobs/{HUGE}/events", "job_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (f"/sweeps/{HUGE}", "sweep_id", f"{LE} {BIGINT_MAX}, got {HUGE}"),
            (
                f"POST /sweeps/{HUGE}/cancel",
                "sweep_id",
                f"{LE} {BIGINT_MAX}, got {HUGE}",
            ),
            # Steps are 32-bit INTEGERs in the metrics table, and never above
            # MAX_ITERATIONS anyway.
            (
                "/jobs/{job}/metrics?after_step=3000000000",
                "after_step",
                f"{LE} 1000000, got 3000000000",
            ),
        ]
    ],
    lookup("/jobs?limit=0", 422, "limit", f"{GE} 1, got 0"),
    lookup("/jobs?limit=10000", 422, "limit", f"{LE} 200, got 10000"),
    lookup(
        "/jobs?limit=ten",
        422,
        "limit",
        f"{NOT_INT}, unable to parse string as an integer, got ten",
    ),
    lookup(
        "/jobs?cursor=xyz",
        422,
        "cursor",
        "String should match pattern '^[0-9]{1,18}$', got xyz",
    ),
    lookup(
        "/jobs?status=bogus",
        422,
        "status",
        "unknown status 'bogus'; one of queued, running, succeeded, failed, "
        "cancelled, diverged",
    ),
    lookup("/jobs?tag=nocolon", 422, "tag", "must look like key:value, got 'nocolon'"),
    lookup("/jobs?tag=:value", 422, "tag", "must look like key:value, got ':value'"),
    lookup(
        "/jobs?tag=run:a%00b",
        422,
        "tag",
        "must not contain control characters, got 'run:a\\x00b'",
    ),
    lookup("/jobs/{job}/metrics?after_step=-1", 422, "after_step", f"{GE} 0, got -1"),
    lookup("/jobs/{job}/metrics?limit=0", 422, "limit", f"{GE} 1, got 0"),
    lookup("/jobs/{job}/metrics?limit=100001", 422, "limit", f"{LE} 10000, got 100001"),
]


@dataclass
class Ledger:
    """What the store held before the table, and what the table added."""

    sentinel: dict[str, Any]
    ids_before: set[int]
    accepted: list[int] = dataclass_field(default_factory=list)


def all_job_ids(client: httpx.Client) -> set[int]:
    ids: set[int] = set()
    params: dict[str, Any] = {"limit": 200}
    while True:
        page = client.get("/jobs", params=params).json()
        ids.update(job["id"] for job in page["jobs"])
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]


@pytest.fixture(scope="module")
def ledger(stack: ServiceStack) -> Iterator[Ledger]:
    """A finished job made before the table, and every id there was then.

    Module-scoped, so pytest keeps this module's tests together per backend
    and no other module's jobs land between the snapshot and the check.
    """
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        created = submit(http, spec(name="made before the table", tags={"k": "v"}))
        finished = wait_for(http, created["id"])
        yield Ledger(sentinel=finished, ids_before=all_job_ids(http))


@pytest.mark.parametrize("case", POST_CASES)
def test_malformed_job_submission_gets_a_4xx_naming_the_field_and_rule(
    client: httpx.Client, ledger: Ledger, case: Bad
) -> None:
    response = case.send(client)

    assert response.status_code == case.status, response.text
    if case.status != 422:
        assert response.json() == {"detail": case.detail}
        return
    detail = response.json()["detail"]
    assert [error["field"] for error in detail] == [case.field], detail
    expected = f"{case.field}: {case.rule}"
    if case.prefix:
        assert detail[0]["msg"].startswith(expected), detail
    else:
        assert detail[0]["msg"] == expected


def test_unknown_dataset_message_lists_the_ones_there_are(
    client: httpx.Client, ledger: Ledger
) -> None:
    response = client.post("/jobs", json=spec(dataset="no-such-set"))

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["field"] == "dataset"
    available = error["msg"].split("available: ", 1)[1].split("; ")[0].split(", ")
    assert "mnist-10k" in available


@pytest.mark.parametrize("body", GOOD_CASES)
def test_well_formed_edge_cases_are_accepted(
    client: httpx.Client, ledger: Ledger, body: dict[str, Any]
) -> None:
    response = client.post("/jobs", json=body)

    assert response.status_code == 201, response.text
    created = response.json()
    ledger.accepted.append(created["id"])
    assert created["spec"]["name"] == body.get("name")
    assert created["tags"] == body.get("tags", {})


@pytest.mark.parametrize(("path", "status", "fld", "rule"), LOOKUP_CASES)
def test_malformed_job_lookups_get_a_4xx_naming_the_parameter(
    client: httpx.Client, ledger: Ledger, path: str, status: int, fld: str, rule: str
) -> None:
    method, _, url = path.rpartition(" ")
    response = client.request(method or "GET", url.format(job=ledger.sentinel["id"]))

    assert response.status_code == status, response.text
    if status == 422:
        detail = response.json()["detail"]
        assert [error["field"] for error in detail] == [fld], detail
        assert detail[0]["msg"] == f"{fld}: {rule}"
    else:
        assert response.json() == {"detail": rule}


def test_bad_input_table_changed_nothing_stored(
    client: httpx.Client, ledger: Ledger
) -> None:
    """Runs after the table (pytest keeps file order): the job made before it
    is unchanged, and the only new jobs are the accepted positive controls."""
    ids_after = all_job_ids(client)

    assert ledger.ids_before <= ids_after
    assert ids_after - ledger.ids_before == set(ledger.accepted)
    assert len(ledger.accepted) == len(GOOD_CASES)
    assert client.get(f"/jobs/{ledger.sentinel['id']}").json() == ledger.sentinel


def test_thousands_of_bad_fields_get_a_short_answer(client: httpx.Client) -> None:
    body = {**spec(), **{f"field{i}": i for i in range(5000)}}

    response = client.post("/jobs", json=body)

    detail = response.json()["detail"]
    assert response.status_code == 422
    assert len(detail) == 21
    assert detail[-1]["msg"] == "body: 4,980 more errors not listed"
