"""The dashboard at `/`: served as self-contained HTML, and driven in chromium.

The browser test uses Debian's /usr/bin/chromium through the Python
`playwright` package (never `playwright install`). Without either it skips,
except under CI (`CI=true`), where a missing browser is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.routes.dashboard import STATIC_FILES
from cli.stack import ServiceStack
from tests.conftest import IN_CI, Backend
from tests.helpers import FINISHED, job_spec, submit, wait_for, wait_for_progress

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "out" / "screenshots"

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
# Long enough to still be training when the page has listed the sweep (its
# lists refresh every 3 s): about 20 s per job here, where 1,500 take ~2.5 s.
ITERATIONS = 12_000
EVAL_INTERVAL = 50
TIMEOUT_MS = 20_000
MAX_COMPARE = 50  # runs GET /compare accepts
# A sweep wider than a comparison, cancelled before it gets far into its plan.
WIDE_SEEDS = 15  # x 4 configurations = 60 jobs
WIDE_ITERATIONS = 500_000


def require_browser() -> None:
    """Skip (or fail under CI) when chromium or playwright is missing."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not missing:
        return
    message = f"the browser test needs {' and '.join(missing)}"
    if IN_CI:
        pytest.fail(f"{message}; CI must run browser tests", pytrace=False)
    pytest.skip(message)


@dataclass
class PageWatch:
    """What the page did besides rendering: requests, dialogs, errors."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def page(stack: ServiceStack) -> Iterator[Page]:
    """A fresh chromium tab the size of a laptop screen."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def poll(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Call `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def chart_points(page: Page, job_ids: list[int]) -> dict[int, int]:
    """Points drawn per job's line; also checks the count matches the path."""
    drawn = page.evaluate(
        """ids => ids.map(id => {
            const path = document.querySelector(
                `[data-testid=chart-line][data-job-id="${id}"]`);
            return path && [Number(path.dataset.points), path.getAttribute("d")];
        })""",
        job_ids,
    )
    counts = {}
    for job_id, line in zip(job_ids, drawn, strict=True):
        if line is None:
            counts[job_id] = 0
            continue
        points, path = line
        assert points == 0 or path.count("M") + path.count("L") == points
        counts[job_id] = points
    return counts


def latest_compare(watch: PageWatch) -> str:
    return next(url for url in reversed(watch.requests) if "/compare?" in url)


def compared_ids(url: str) -> list[int]:
    return [int(i) for i in parse_qs(urlsplit(url).query)["job_ids"][0].split(",")]


def drawable_points(client: httpx.Client, watch: PageWatch) -> dict[int, int]:
    """Points per job in the page's latest GET /compare, asked again."""
    body = client.get(latest_compare(watch)).json()
    return {
        run["job_id"]: sum(value is not None for value in run["values"])
        for run in body["runs"]
    }


def wait_for_value(locator: Locator, expected: float, what: str) -> None:
    """Poll an element's `data-value` until it parses to `expected`."""
    poll(
        lambda: float(locator.get_attribute("data-value") or "nan") == expected,
        f"{what} to show {expected}",
        timeout=TIMEOUT_MS / 1000,
    )


def summary_row(page: Page, job_id: int) -> Locator:
    return page.locator(f'[data-testid=summary-row][data-job-id="{job_id}"]')


def job_row(page: Page, job_id: int) -> Locator:
    return page.locator(f'[data-testid=job-row][data-job-id="{job_id}"]')


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_dashboard_is_served_as_html_that_loads_only_relative_urls(
    client: httpx.Client,
) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>trainjobs</title>" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    references = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', response.text)
    assert references == ["data:,", "static/style.css", "static/app.js"]
    for name in STATIC_FILES:
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(
            "text/css" if name.endswith(".css") else "text/javascript"
        )
        # No absolute or protocol-relative URL, nor a stylesheet fetching one.
        forbidden = r"url\((?!#)|@import" if name.endswith(".css") else r"[\"'`]//"
        assert not re.search(rf"https?:|{forbidden}", asset.text, re.IGNORECASE)
    assert not re.search(r"https?:|//[a-z0-9]", response.text, re.IGNORECASE)


def test_dashboard_serves_only_its_own_static_files(client: httpx.Client) -> None:
    response = client.get("/static/dashboard.py")

    assert response.status_code == 404
    assert response.json() == {"detail": "no static file 'dashboard.py'"}


@pytest.mark.browser
def test_dashboard_follows_a_sweep_live_and_matches_the_job_summaries(
    stack: ServiceStack, client: httpx.Client, backend: Backend, page: Page
) -> None:
    from playwright.sync_api import expect

    watch = PageWatch()
    watch.attach(page)
    page.goto(f"{stack.base_url}/")
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()

    # 1. A hostile job name is listed, charted and summarised as text.
    hostile = submit(client, job_spec(iterations=20, name=HOSTILE_NAME))["id"]
    row = page.locator(f'[data-testid=job-row][data-job-id="{hostile}"]')
    expect(row.get_by_test_id("job-name")).to_have_text(
        HOSTILE_NAME, timeout=TIMEOUT_MS
    )
    row.get_by_test_id("job-select").check()
    expect(summary_row(page, hostile).get_by_test_id("summary-name")).to_have_text(
        HOSTILE_NAME, timeout=TIMEOUT_MS
    )
    expect(page.get_by_test_id("legend-item")).to_have_text([f"{HOSTILE_NAME}×"])
    assert page.locator("img").count() == 0
    row.get_by_test_id("job-select").uncheck()
    expect(page.get_by_test_id("summary-row")).to_have_count(0)

    # 2. A sweep starts; the page lists it and selects all its jobs.
    response = client.post(
        "/sweeps",
        json={
            "name": "optimizers",
            "base": job_spec(iterations=ITERATIONS, eval_interval=EVAL_INTERVAL),
            "grid": {
                "optimizer.name": ["sgd", "adam"],
                "optimizer.learning_rate": [0.01],
            },
            "seeds": [0],
        },
    )
    assert response.status_code == 201, response.text
    sweep = response.json()
    names = {job["id"]: job["name"] for job in sweep["jobs"]}
    ids = sorted(names)
    sweep_row = page.locator(f'[data-testid=sweep-row][data-sweep-id="{sweep["id"]}"]')
    sweep_row.get_by_test_id("sweep-select").click(timeout=TIMEOUT_MS)

    # 3. One line per job, and they grow while the jobs train.
    expect(page.get_by_test_id("chart-line")).to_have_count(len(ids))
    first = poll(
        lambda: (c := chart_points(page, ids)) and all(c.values()) and c,
        "a first point on every line",
        timeout=120,
    )
    statuses = {client.get(f"/jobs/{job_id}").json()["status"] for job_id in ids}
    assert not statuses & FINISHED, f"jobs ended before the page drew {first}"
    assert all(count < ITERATIONS // EVAL_INTERVAL for count in first.values())
    expect(page.get_by_test_id("live")).to_have_attribute("data-streams", str(len(ids)))
    poll(
        lambda: all(
            now > first[job_id] for job_id, now in chart_points(page, ids).items()
        ),
        "every line to grow",
    )
    expect(page.get_by_test_id("summary-row")).to_have_count(len(ids))
    for job_id in ids:
        expect(summary_row(page, job_id).get_by_test_id("summary-name")).to_have_text(
            names[job_id]
        )
        # GET /jobs has no test accuracy before the end; the list shows the
        # newest the page has seen instead.
        so_far = job_row(page, job_id).get_by_test_id("job-final")
        expect(so_far).to_have_attribute("data-latest", re.compile(r"^[01](\.\d+)?$"))
        expect(so_far).to_contain_text(re.compile(r"^\d+\.\d%\s*so far$"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-live-{backend.name}.png"))

    # 4. Once they finish, the streams close and the table matches the API.
    jobs = {job_id: wait_for(client, job_id, timeout=180) for job_id in ids}
    assert {job["status"] for job in jobs.values()} == {"succeeded"}
    for job_id in ids:
        expect(summary_row(page, job_id).get_by_test_id("status")).to_have_text(
            "succeeded", timeout=TIMEOUT_MS
        )
    expect(page.get_by_test_id("live")).to_have_attribute("data-streams", "0")
    poll(
        lambda: chart_points(page, ids) == drawable_points(client, watch),
        "the chart to draw every point of the last comparison",
        timeout=TIMEOUT_MS / 1000,
    )
    for job_id, job in jobs.items():
        expected = job["summary"]["final_test_accuracy"]
        cell = summary_row(page, job_id).get_by_test_id("summary-final")
        assert float(cell.get_attribute("data-value") or "nan") == expected
        shown = float(cell.inner_text().rstrip("%")) / 100
        assert shown == pytest.approx(expected, abs=5e-5)
        listed = job_row(page, job_id)
        expect(listed.get_by_test_id("status")).to_have_text("succeeded")
        wait_for_value(
            listed.get_by_test_id("job-final"), expected, f"job {job_id} in the list"
        )
        expect(listed.get_by_test_id("job-final")).not_to_have_attribute(
            "data-latest", re.compile(".*")
        )

    # 5. A sweep wider than a comparison: the first 50 jobs are selected and
    #    the page says so. Its runs stopped early, so the x-axis spans the
    #    steps they recorded, not the 500k they planned.
    page.get_by_test_id("clear-selection").click()
    grid = {
        "optimizer": [
            {"name": "sgd", "learning_rate": 0.1},
            {"name": "adam", "learning_rate": 0.001},
        ],
        "model.hidden_sizes": [[16], [32, 16]],
    }
    response = client.post(
        "/sweeps",
        json={
            "name": "wide",
            "base": job_spec(iterations=WIDE_ITERATIONS, eval_interval=EVAL_INTERVAL),
            "grid": grid,
            "seeds": list(range(WIDE_SEEDS)),
        },
    )
    assert response.status_code == 201, response.text
    wide = response.json()
    wide_ids = sorted(job["id"] for job in wide["jobs"])
    wait_for_progress(client, wide_ids[0], EVAL_INTERVAL * 4)
    for job_id in wide_ids:
        assert client.post(f"/jobs/{job_id}/cancel").status_code == 202
    for job_id in wide_ids:
        wait_for(client, job_id, timeout=60)

    wide_row = page.locator(f'[data-testid=sweep-row][data-sweep-id="{wide["id"]}"]')
    listed_grid = next(s for s in client.get("/sweeps").json() if s["id"] == wide["id"])
    cell = wide_row.get_by_test_id("sweep-grid")
    expect(cell).to_contain_text("hidden_sizes: [16], [32,16]", timeout=TIMEOUT_MS)
    expect(cell).to_contain_text('optimizer: {"name":"sgd",')
    expect(cell).not_to_contain_text("[object Object]")
    expect(cell).to_have_attribute(
        "title",
        "\n".join(f"{path}: {compact(v)}" for path, v in listed_grid["grid"].items()),
    )

    wide_row.get_by_test_id("sweep-select").click()
    expect(page.get_by_test_id("selection-info")).to_have_text(
        f"{MAX_COMPARE} runs selected"
    )
    expect(page.get_by_test_id("selection-notice")).to_have_text(
        f"Showing {MAX_COMPARE} of {len(wide_ids)} jobs of wide: "
        f"/compare takes at most {MAX_COMPARE} runs at once."
    )
    expect(page.get_by_test_id("legend-item")).to_have_count(MAX_COMPARE)
    legend = page.get_by_test_id("legend-item").evaluate_all(
        "items => items.map(item => Number(item.dataset.jobId))"
    )
    assert legend == wide_ids[:MAX_COMPARE]
    expect(wide_row.get_by_test_id("sweep-select")).to_have_text("Deselect its jobs")

    def axis_end() -> tuple[float, list[int]] | None:
        url = latest_compare(watch)
        if compared_ids(url) != wide_ids[:MAX_COMPARE]:
            return None
        steps: list[int] = client.get(url).json()["steps"]
        end = float(page.get_by_test_id("chart").get_attribute("data-x-end") or "0")
        return (end, steps) if end == max(1, steps[-1] if steps else 0) else None

    end, steps = poll(axis_end, "the x-axis to end at the last compared step", 20)
    assert EVAL_INTERVAL * 4 <= end < WIDE_ITERATIONS, steps[-5:]
    page.mouse.move(0, 0)
    page.screenshot(
        path=str(SCREENSHOTS / f"dashboard-wide-{backend.name}.png"), full_page=True
    )

    wide_row.get_by_test_id("sweep-select").click()
    expect(page.get_by_test_id("legend-item")).to_have_count(0)
    expect(page.get_by_test_id("selection-notice")).to_be_hidden()
    expect(wide_row.get_by_test_id("sweep-select")).to_have_text("Select all its jobs")
    sweep_row.get_by_test_id("sweep-select").click()
    expect(page.get_by_test_id("summary-row")).to_have_count(len(ids))

    # 6. Nothing left the machine, nothing ran that should not have.
    assert watch.dialogs == []
    assert watch.errors == []
    foreign = [
        url
        for url in watch.requests
        if not url.startswith((f"{stack.base_url}/", "data:"))
    ]
    assert foreign == []

    shot = SCREENSHOTS / f"dashboard-{backend.name}.png"
    page.mouse.move(0, 0)
    page.screenshot(path=str(shot), full_page=True)
