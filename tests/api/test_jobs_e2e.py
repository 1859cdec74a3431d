"""The whole service on real digits: API -> broker -> worker -> database -> API.

Every test here runs twice, on SQLite + SQLAlchemy transport and on
PostgreSQL + Redis.
"""

from __future__ import annotations

import json
import time

import httpx

from tests.helpers import all_points, job_spec, submit, wait_for, wait_for_progress


def test_submitted_job_trains_to_success_with_one_point_per_step(
    client: httpx.Client,
) -> None:
    response = client.post("/jobs", json=job_spec(iterations=300, eval_interval=25))

    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "queued"
    assert response.headers["location"] == f"/jobs/{created['id']}"

    job = wait_for(client, created["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == {"step": 300, "total": 300}

    points = all_points(client, created["id"], page=70)
    assert [p["step"] for p in points] == list(range(1, 301))
    eval_steps = [p["step"] for p in points if p["test_accuracy"] is not None]
    assert eval_steps == [*range(25, 301, 25)]
    # Adam at 0.01 learns the digits well within 300 steps.
    assert points[-1]["test_accuracy"] > 0.8
    assert job["summary"]["final_test_accuracy"] == points[-1]["test_accuracy"]
    best = max(p["test_accuracy"] for p in points if p["test_accuracy"] is not None)
    assert job["summary"]["best_test_accuracy"] == best
    assert job["summary"]["duration_s"] > 0
    assert job["started_at"] <= job["finished_at"]


def test_polling_while_running_returns_each_step_once_in_order(
    client: httpx.Client,
) -> None:
    job_id = submit(client, job_spec(iterations=1500, eval_interval=50))["id"]

    seen: list[int] = []
    after = 0
    status = "queued"
    while status not in {"succeeded", "failed"}:
        body = client.get(
            f"/jobs/{job_id}/metrics", params={"after_step": after, "limit": 97}
        ).json()
        status = body["status"]
        seen.extend(p["step"] for p in body["points"])
        assert body["next_after_step"] >= after
        after = body["next_after_step"]
        if not body["points"]:
            time.sleep(0.05)
    seen.extend(p["step"] for p in all_points(client, job_id) if p["step"] > after)

    assert status == "succeeded"
    assert seen == list(range(1, 1501))


def test_learning_rate_1e6_ends_diverged_within_a_few_steps(
    client: httpx.Client,
) -> None:
    job_id = submit(
        client, job_spec(optimizer="sgd", learning_rate=1e6, iterations=500)
    )["id"]

    job = wait_for(client, job_id)

    assert job["status"] == "diverged"
    diverged_at = job["summary"]["diverged_at"]
    points = all_points(client, job_id)
    assert [p["step"] for p in points] == list(range(1, diverged_at + 1))
    # The loss ran past training.max_loss (1e4 by default) and stopped there.
    assert points[-1]["loss"] > 1e4
    assert all(p["loss"] <= 1e4 for p in points[:-1])
    assert job["summary"]["final_loss"] is None


def test_non_finite_loss_is_served_as_null_in_valid_json(
    client: httpx.Client,
) -> None:
    # float32 ReLU activations overflow to inf at this rate; with no loss
    # bound the run goes on until the loss itself is no longer a number.
    spec = job_spec(optimizer="sgd", learning_rate=1e6, iterations=500)
    spec["model"] = {"activation": "relu", "weight_init": "he"}
    spec["training"] |= {"dtype": "float32", "max_loss": None}
    job_id = submit(client, spec)["id"]

    job = wait_for(client, job_id)

    assert job["status"] == "diverged"
    raw = client.get(f"/jobs/{job_id}/metrics", params={"limit": 10_000}).text
    assert "NaN" not in raw and "Infinity" not in raw
    points = json.loads(raw)["points"]
    assert points[-1]["step"] == job["summary"]["diverged_at"]
    assert points[-1]["loss"] is None
    assert all(p["loss"] is not None for p in points[:-1])


def test_cancelled_running_job_stops_quickly_and_keeps_its_points(
    client: httpx.Client,
) -> None:
    job_id = submit(client, job_spec(iterations=200_000, eval_interval=1000))["id"]
    wait_for_progress(client, job_id, 50)

    asked = time.monotonic()
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 202
    job = wait_for(client, job_id, timeout=10)
    stopped_after = time.monotonic() - asked

    assert job["status"] == "cancelled"
    assert stopped_after < 2.5
    points = all_points(client, job_id)
    assert len(points) >= 50
    assert [p["step"] for p in points] == list(range(1, len(points) + 1))


def test_cancelling_a_finished_job_is_a_conflict(client: httpx.Client) -> None:
    job_id = submit(client, job_spec(iterations=20))["id"]
    wait_for(client, job_id)

    response = client.post(f"/jobs/{job_id}/cancel")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"job {job_id} has already finished as succeeded"
    }


def test_ten_jobs_submitted_at_once_all_finish(client: httpx.Client) -> None:
    ids = [
        submit(client, job_spec(iterations=150, learning_rate=0.001 * (i + 1)))["id"]
        for i in range(10)
    ]

    jobs = [wait_for(client, job_id, timeout=180) for job_id in ids]

    assert [job["status"] for job in jobs] == ["succeeded"] * 10
    for job_id in ids:
        assert len(all_points(client, job_id)) == 150


def test_idempotency_key_returns_the_same_job(client: httpx.Client) -> None:
    spec = job_spec(iterations=20)
    key = f"retry-{time.time_ns()}"

    first = client.post("/jobs", json=spec, headers={"Idempotency-Key": key})
    second = client.post("/jobs", json=spec, headers={"Idempotency-Key": key})
    other_body = client.post(
        "/jobs", json=job_spec(iterations=21), headers={"Idempotency-Key": key}
    )

    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert other_body.status_code == 409
    assert "different request body" in other_body.json()["detail"]


def test_job_list_is_newest_first_with_cursor_and_filters(
    client: httpx.Client,
) -> None:
    marker = f"run-{time.time_ns()}"
    ids = [
        submit(client, job_spec(iterations=10, tags={"batch": marker, "n": str(i)}))[
            "id"
        ]
        for i in range(5)
    ]

    first = client.get("/jobs", params={"tag": f"batch:{marker}", "limit": 2}).json()
    second = client.get(
        "/jobs",
        params={"tag": f"batch:{marker}", "limit": 2, "cursor": first["next_cursor"]},
    ).json()
    third = client.get(
        "/jobs",
        params={"tag": f"batch:{marker}", "limit": 2, "cursor": second["next_cursor"]},
    ).json()
    both_tags = client.get("/jobs", params=[("tag", f"batch:{marker}"), ("tag", "n:3")])

    listed = [job["id"] for page in (first, second, third) for job in page["jobs"]]
    assert listed == sorted(ids, reverse=True)
    assert third["next_cursor"] is None
    assert [job["id"] for job in both_tags.json()["jobs"]] == [ids[3]]


def test_unknown_job_is_404_everywhere(client: httpx.Client) -> None:
    for path in (
        "/jobs/987654321",
        "/jobs/987654321/metrics",
        "/jobs/987654321/metrics.csv",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "job 987654321 not found"}
    assert client.post("/jobs/987654321/cancel").status_code == 404


def test_metrics_csv_holds_the_whole_series(client: httpx.Client) -> None:
    job_id = submit(client, job_spec(iterations=40, eval_interval=20))["id"]
    wait_for(client, job_id)

    response = client.get(f"/jobs/{job_id}/metrics.csv")

    lines = response.text.strip().split("\n")
    assert response.headers["content-type"].startswith("text/csv")
    assert lines[0] == "step,loss,train_accuracy,test_accuracy,learning_rate,elapsed_s"
    assert len(lines) == 41
    assert lines[20].split(",")[3] != ""  # step 20 is an evaluation step
    assert lines[19].split(",")[3] == ""


def test_datasets_lists_the_builtin_digits(client: httpx.Client) -> None:
    datasets = {d["name"]: d for d in client.get("/datasets").json()}

    assert datasets["mnist-10k"]["train_size"] == 8000
    assert datasets["mnist-10k"]["test_size"] == 2000
    assert datasets["mnist-10k"]["features"] == 784
    assert datasets["mnist-10k"]["classes"] == 10


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "database": None,
        "broker": None,
    }
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_a_running_jobs_window_keeps_growing_until_it_finishes(
    client: httpx.Client,
) -> None:
    job_id = submit(client, job_spec(iterations=4000, eval_interval=200))["id"]
    window = {"after_step": 0, "limit": 10_000}
    wait_for_progress(client, job_id, 100)

    early = client.get(f"/jobs/{job_id}/metrics", params=window).json()
    wait_for_progress(client, job_id, len(early["points"]) + 500)
    later = client.get(f"/jobs/{job_id}/metrics", params=window).json()
    wait_for(client, job_id)
    final = client.get(f"/jobs/{job_id}/metrics", params=window).json()
    again = client.get(f"/jobs/{job_id}/metrics", params=window).json()

    assert early["status"] == "running"
    assert len(early["points"]) < len(later["points"]) < len(final["points"]) == 4000
    assert final == again
