"""Comparing runs through the service: compare, charts, sweeps and live events."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.helpers import all_points, job_spec, submit, wait_for


def finished_jobs(client: httpx.Client, *specs: dict[str, Any]) -> list[int]:
    ids = [submit(client, spec)["id"] for spec in specs]
    for job_id in ids:
        assert wait_for(client, job_id)["status"] == "succeeded"
    return ids


def test_compare_aligns_runs_and_summarises_exactly(client: httpx.Client) -> None:
    adam, sgd = finished_jobs(
        client,
        job_spec("adam", iterations=300, eval_interval=20),
        job_spec("sgd", iterations=200, eval_interval=25),
    )

    body = client.get(
        "/compare",
        params={"job_ids": f"{adam},{sgd}", "thresholds": "0.5,0.99"},
    ).json()

    assert body["metric"] == "test_accuracy"
    assert body["bucket_steps"] == 1
    assert body["steps"] == sorted({*range(20, 301, 20), *range(25, 201, 25)})
    adam_run, sgd_run = body["runs"]
    adam_points = {
        p["step"]: p["test_accuracy"]
        for p in all_points(client, adam)
        if p["test_accuracy"] is not None
    }
    assert adam_run["values"] == [adam_points.get(s) for s in body["steps"]]
    assert adam_run["summary"]["final"] == adam_points[300]
    assert adam_run["summary"]["best"] == max(adam_points.values())
    crossing = adam_run["summary"]["thresholds"]["0.5"]
    assert crossing["step"] == min(s for s, v in adam_points.items() if v >= 0.5)
    assert adam_run["summary"]["thresholds"]["0.99"] is None
    assert sgd_run["values"][body["steps"].index(220)] is None  # after its end


def test_compare_downsamples_loss_with_extremes(client: httpx.Client) -> None:
    (job_id,) = finished_jobs(client, job_spec("adam", iterations=600))

    body = client.get(
        "/compare", params={"job_ids": str(job_id), "metric": "loss", "max_points": 50}
    ).json()

    losses = [p["loss"] for p in all_points(client, job_id)]
    run = body["runs"][0]
    assert len(body["steps"]) <= 50
    assert body["steps"][0] == 1 and body["steps"][-1] == 600
    assert run["values"][0] == losses[0] and run["values"][-1] == losses[-1]
    assert max(run["max"]) == max(losses)
    assert min(run["min"]) == min(losses)


@pytest.mark.parametrize(
    ("params", "code", "detail"),
    [
        (
            {"job_ids": ",".join(str(i) for i in range(1, 52))},
            422,
            "job_ids: at most 50 jobs, got 51",
        ),
        (
            {"job_ids": "1,x"},
            422,
            "job_ids: must be comma-separated integers, got '1,x'",
        ),
        ({"job_ids": ""}, 422, "job_ids: give at least one job id"),
        (
            {"job_ids": "1", "thresholds": "a"},
            422,
            "thresholds: must be comma-separated numbers, got 'a'",
        ),
        (
            {"job_ids": "1", "thresholds": "nan"},
            422,
            "thresholds: values must be finite",
        ),
    ],
)
def test_compare_rejects_bad_queries(
    client: httpx.Client, params: dict[str, str], code: int, detail: str
) -> None:
    response = client.get("/compare", params=params)

    assert response.status_code == code
    assert response.json()["detail"][0]["msg"] == detail


def test_compare_names_unknown_jobs(client: httpx.Client) -> None:
    (job_id,) = finished_jobs(client, job_spec(iterations=10))

    response = client.get("/compare", params={"job_ids": f"{job_id},99999991,99999992"})

    assert response.status_code == 404
    assert response.json() == {"detail": "jobs not found: 99999991, 99999992"}


def test_charts_are_drawn_as_png_and_svg(client: httpx.Client) -> None:
    ids = finished_jobs(
        client,
        job_spec("adam", iterations=100, name="adam chart"),
        job_spec("rmsprop", iterations=100, name="rmsprop chart"),
    )
    params = {"job_ids": ",".join(map(str, ids))}

    png = client.get("/compare/chart.png", params=params)
    svg = client.get(
        "/compare/chart.svg", params={**params, "metric": "loss", "log_y": "true"}
    )

    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert svg.headers["content-type"] == "image/svg+xml"
    text = svg.text
    assert "<svg" in text and "adam chart" in text and "rmsprop chart" in text
    assert "iteration" in text


def test_sweep_runs_the_grid_per_seed_and_ranks_configurations(
    client: httpx.Client,
) -> None:
    base = job_spec("adam", iterations=200, eval_interval=20)
    base["optimizer"]["beta1"] = 0.9  # Adam-only: must not reach SGD's specs
    response = client.post(
        "/sweeps",
        json={
            "name": "paired",
            "base": base,
            "grid": {
                "optimizer.name": ["sgd", "adam"],
                "optimizer.learning_rate": [0.01],
            },
            "seeds": [0, 1],
        },
    )
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert sweep["job_count"] == 4
    assert response.headers["location"] == f"/sweeps/{sweep['id']}"
    for job in sweep["jobs"]:
        wait_for(client, job["id"])

    body = client.get(f"/sweeps/{sweep['id']}").json()

    assert body["status_counts"] == {"succeeded": 4}
    names = sorted(job["name"] for job in body["jobs"])
    assert names == [
        "paired adam lr=0.01 seed=0",
        "paired adam lr=0.01 seed=1",
        "paired sgd lr=0.01 seed=0",
        "paired sgd lr=0.01 seed=1",
    ]
    leader, second = body["configurations"]
    assert (leader["label"], leader["rank"]) == ("adam lr=0.01", 1)
    assert (second["label"], second["rank"]) == ("sgd lr=0.01", 2)
    assert (
        leader["final"]["n"] == 2 and leader["final"]["low"] < leader["final"]["high"]
    )
    assert len(leader["mean"]) == len(body["steps"]) == len(leader["high"])
    paired = second["paired_vs_leader"]
    assert paired["n"] == 2 and paired["mean"] < 0

    # Paired seeds: the same seed gives the same first batch and weights, so
    # the loss before the first update is identical whatever the optimizer.
    first_losses: dict[int, set[float]] = {}
    for job in body["jobs"]:
        first = all_points(client, job["id"])[0]
        first_losses.setdefault(job["seed"], set()).add(first["loss"])
    assert all(len(losses) == 1 for losses in first_losses.values())
    assert first_losses[0] != first_losses[1]


def test_sweep_rejects_an_invalid_combination_and_an_oversized_grid(
    client: httpx.Client,
) -> None:
    bad_value = client.post(
        "/sweeps",
        json={"base": job_spec(), "grid": {"optimizer.learning_rate": [0.1, -1.0]}},
    )
    too_big = client.post(
        "/sweeps",
        json={
            "base": job_spec(),
            "grid": {"optimizer.learning_rate": [0.001 * i for i in range(1, 51)]},
            "seeds": [0, 1, 2, 3, 4],
        },
    )

    assert bad_value.status_code == 422
    assert bad_value.json()["detail"][0]["msg"] == (
        "grid: configuration lr=-1.0 seed=0: optimizer.learning_rate: "
        "Input should be greater than 0"
    )
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["msg"] == (
        "grid: a sweep may create at most 200 jobs; 50 combinations x 5 seeds = 250"
    )


@pytest.mark.parametrize(
    ("grid", "base_change", "message"),
    [
        (
            {f"training.x{i}": list(range(50)) for i in range(8)},
            {},
            "grid: a sweep may create at most 200 jobs; this grid alone has "
            "39,062,500,000,000 combinations",
        ),
        (
            {"optimizer.learning_rate": [1, 1.0]},
            {},
            "grid: 'optimizer.learning_rate' lists 1.0 twice",
        ),
        (
            {"optimizer..learning_rate": [0.1]},
            {},
            "grid: 'optimizer..learning_rate' is not a spec field; use dotted paths "
            "such as 'optimizer.learning_rate' or 'model.activation'",
        ),
        (
            {"optimizer.name": ["sgd", "momentum"], "optimizer.momentum": [0.5]},
            {},
            "grid: configuration sgd momentum=0.5 seed=0: optimizer.momentum: sgd "
            "takes no 'momentum'; it takes learning_rate, max_grad_norm, schedule, "
            "weight_decay",
        ),
        (
            {"optimizer.learnig_rate": [0.1]},
            {},
            "grid: configuration learnig_rate=0.1 seed=0: optimizer.learnig_rate: "
            "adam takes no 'learnig_rate'; it takes beta1, beta2, eps, learning_rate, "
            "max_grad_norm, schedule, weight_decay",
        ),
        (
            {"optimizer.learning_rate": [0.1]},
            {"x": [[[[[[[[[[0]]]]]]]]]]},
            "base: must be nested at most 8 levels deep, as a job spec is",
        ),
    ],
    ids=["huge", "repeated", "empty-segment", "stray-grid-key", "typo", "deep-base"],
)
def test_sweep_refuses_grids_that_would_mislead(
    client: httpx.Client,
    grid: dict[str, Any],
    base_change: dict[str, Any],
    message: str,
) -> None:
    started = time.monotonic()
    response = client.post(
        "/sweeps", json={"base": {**job_spec(), **base_change}, "grid": grid}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == message
    assert time.monotonic() - started < 5


def test_concurrent_sweep_posts_with_one_key_create_one_sweep(
    client: httpx.Client, stack: Any
) -> None:
    key = f"sweep-{time.time_ns()}"
    body = {
        "base": job_spec(iterations=10),
        "grid": {"optimizer.learning_rate": [0.01]},
    }

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.base_url, timeout=60) as own:
            return own.post("/sweeps", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(post, range(10)))

    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["id"] for r in responses}) == 1


def test_charts_draw_names_with_markup_characters_as_written(
    client: httpx.Client,
) -> None:
    ids = finished_jobs(
        client,
        job_spec(iterations=20, name="$\\frac{a$ costs"),
        job_spec(iterations=20, name="_underscored"),
    )
    params = {"job_ids": ",".join(map(str, ids)), "title": "$$"}

    svg = client.get("/compare/chart.svg", params=params)
    png = client.get("/compare/chart.png", params=params)

    assert svg.status_code == png.status_code == 200
    assert "costs" in svg.text and "underscored" in svg.text


def test_compare_refuses_non_ascii_digits(client: httpx.Client) -> None:
    response = client.get("/compare", params={"job_ids": "\u00b2"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "job_ids"


def test_cancelling_a_sweep_cancels_what_has_not_finished(client: httpx.Client) -> None:
    sweep = client.post(
        "/sweeps",
        json={
            "base": job_spec(iterations=100_000),
            "grid": {"optimizer.learning_rate": [0.01, 0.02, 0.03]},
        },
    ).json()

    response = client.post(f"/sweeps/{sweep['id']}/cancel")

    assert response.status_code == 202
    statuses = {
        wait_for(client, job["id"], timeout=30)["status"] for job in sweep["jobs"]
    }
    assert statuses == {"cancelled"}


def read_events(
    response: httpx.Response, stop_after_metrics: int | None = None
) -> list[dict[str, Any]]:
    """Parse an SSE stream into events until it ends (or enough metrics)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    metrics_seen = 0
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
                if current["event"] == "metrics":
                    metrics_seen += 1
                    if (
                        stop_after_metrics is not None
                        and metrics_seen >= stop_after_metrics
                    ):
                        return events
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


def test_events_stream_state_and_points_and_resume_from_last_event_id(
    client: httpx.Client,
) -> None:
    job_id = submit(client, job_spec(iterations=2000, eval_interval=100))["id"]

    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = read_events(response, stop_after_metrics=2)
    last_id = [e for e in first if e["event"] == "metrics"][-1]["id"]
    with client.stream(
        "GET", f"/jobs/{job_id}/events", headers={"Last-Event-ID": last_id}
    ) as response:
        rest = read_events(response)

    steps = [
        p["step"]
        for e in first + rest
        if e["event"] == "metrics"
        for p in e["data"]["points"]
    ]
    assert steps == list(range(1, 2001))
    states = [e["data"]["status"] for e in first + rest if e["event"] == "state"]
    assert states[-1] == "succeeded"
    assert rest[-1] == {
        "event": "end",
        "data": {"status": "succeeded", "last_step": 2000},
    }
    running = [
        e["data"]
        for e in first + rest
        if e["event"] == "state" and e["data"]["status"] == "running"
    ]
    assert any(state["eta_s"] is not None for state in running)


def test_events_for_an_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get("/jobs/99999993/events")

    assert response.status_code == 404
    assert response.json() == {"detail": "job 99999993 not found"}
