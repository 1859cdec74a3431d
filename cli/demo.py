"""`trainjobs demo`: the classic optimizer comparison, through the HTTP API.

Starts the service on the embedded default (SQLite, no servers), submits a
784-40-20-10 sigmoid network trained with SGD, Momentum, AdaGrad, RMSProp and
Adam as one sweep, shows a progress bar per job, then prints the comparison
table and saves the chart the API draws. It stops what it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import httpx

from cli.stack import ServiceStack
from core.models import FINISHED_STATUSES

OPTIMIZERS = ["sgd", "momentum", "adagrad", "rmsprop", "adam"]
THRESHOLD = 0.8
REPO_ROOT = Path(__file__).resolve().parent.parent


def classic_spec(dataset: str, iterations: int) -> dict[str, Any]:
    """The classic experiment: sigmoid 784-40-20-10, N(0, 0.01^2) weights,
    batches of 100 drawn with replacement, test accuracy every 10 steps."""
    return {
        "dataset": dataset,
        "model": {
            "hidden_sizes": [40, 20],
            "activation": "sigmoid",
            "weight_init": 0.01,
        },
        "optimizer": {"name": "sgd", "learning_rate": 0.01},
        "training": {
            "iterations": iterations,
            "batch_size": 100,
            "eval_interval": 10,
            "seed": 0,
        },
    }


def resolve_dataset(name_or_path: str, env: dict[str, str], out: TextIO) -> str | None:
    """The dataset name to submit, installing or pointing at it as needed.

    A path to a folder is added to TRAINJOBS_DATA_DIRS and named by its
    folder; fashion-mnist is installed from Debian's package when missing
    and this user may install packages.
    """
    from core.datasets import find_dataset
    from core.errors import DatasetError

    candidate = Path(name_or_path).expanduser()
    if "/" in name_or_path or candidate.is_dir():
        if not candidate.is_dir():
            out.write(f"demo: {candidate} is not a folder\n")
            return None
        parent = str(candidate.resolve().parent)
        env["TRAINJOBS_DATA_DIRS"] = ":".join(
            filter(None, [parent, env.get("TRAINJOBS_DATA_DIRS")])
        )
        name_or_path = candidate.name

    dirs = [Path(p) for p in env.get("TRAINJOBS_DATA_DIRS", "").split(":") if p]
    home = Path(env["TRAINJOBS_HOME"])
    try:
        find_dataset(name_or_path, data_dirs=[*dirs, home / "datasets"])
        return name_or_path
    except DatasetError as missing:
        if name_or_path == "fashion-mnist":
            script = REPO_ROOT / "scripts" / "system-packages.sh"
            if script.exists():
                subprocess.run(["sh", str(script), "dataset"], check=False)
            try:
                find_dataset(name_or_path, data_dirs=[*dirs, home / "datasets"])
                return name_or_path
            except DatasetError:
                pass
        out.write(f"demo: {missing}\n")
        return None


class ProgressBoard:
    """One progress bar per job, redrawn in place on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.drawn = 0
        self.reported: dict[int, int] = {}

    def draw(self, jobs: list[dict[str, Any]]) -> None:
        if not self.tty:
            self._log_milestones(jobs)
            return
        width = min(40, max(shutil.get_terminal_size().columns - 50, 10))
        lines = []
        for job in jobs:
            step, total = job["progress"]["step"], job["progress"]["total"]
            filled = int(width * step / total) if total else 0
            bar = "#" * filled + "-" * (width - filled)
            lines.append(
                f"  {job['name'][:22]:22} [{bar}] {step:>5}/{total:<5} {job['status']}"
            )
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")
        self.out.write("".join(f"{line}\x1b[K\n" for line in lines))
        self.out.flush()
        self.drawn = len(lines)

    def _log_milestones(self, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            step, total = job["progress"]["step"], job["progress"]["total"]
            quarter = 4 * step // total if total else 0
            if job["status"] in FINISHED_STATUSES:
                quarter = 4
            if quarter > self.reported.get(job["id"], -1):
                self.reported[job["id"]] = quarter
                self.out.write(f"  {job['name']}: {step}/{total} {job['status']}\n")
        self.out.flush()


def format_table(comparison: dict[str, Any], jobs: dict[int, dict[str, Any]]) -> str:
    header = ("optimizer", "final acc", "best acc", f"step to {THRESHOLD:g}", "seconds")
    rows = [header]
    for run in comparison["runs"]:
        summary = run["summary"]
        crossing = summary["thresholds"].get(f"{THRESHOLD:g}")
        duration = jobs[run["job_id"]]["summary"]["duration_s"]
        rows.append(
            (
                run["optimizer"],
                _number(summary["final"]),
                _number(summary["best"]),
                "never" if crossing is None else str(crossing["step"]),
                "-" if duration is None else f"{duration:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    home = Path(os.environ.get("TRAINJOBS_HOME", Path.home() / ".trainjobs"))
    env = {
        "TRAINJOBS_HOME": str(home),
        **{k: v for k, v in os.environ.items() if k.startswith("TRAINJOBS_")},
    }
    # The demo is the embedded default, whatever a shell may have exported.
    env.pop("TRAINJOBS_DATABASE_URL", None)
    env.pop("TRAINJOBS_BROKER_URL", None)
    env["TRAINJOBS_QUEUE"] = f"demo-{os.getpid()}"

    dataset = resolve_dataset(args.dataset, env, out)
    if dataset is None:
        return 2

    chart_path = Path(args.chart or f"out/demo-{dataset}.png")
    out.write(
        f"trainjobs demo: {', '.join(OPTIMIZERS)} on {dataset} "
        f"(lr 0.01, {args.iterations} steps)\n"
    )
    with ServiceStack(env, home / "logs" / "demo") as stack:
        stack.migrate()
        stack.start_api()
        stack.start_worker(concurrency=args.concurrency)
        out.write(f"service up at {stack.base_url} (logs in {stack.log_dir})\n")

        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            response = client.post(
                "/sweeps",
                json={
                    "base": classic_spec(dataset, args.iterations),
                    "grid": {
                        "optimizer.name": OPTIMIZERS,
                        "optimizer.learning_rate": [0.01],
                    },
                    "seeds": [args.seed],
                },
            )
            if response.status_code != 201:
                out.write(f"demo: the API refused the sweep: {response.text}\n")
                return 1
            sweep_id = response.json()["id"]

            board = ProgressBoard(out)
            while True:
                sweep = client.get(
                    f"/sweeps/{sweep_id}", params={"max_points": 2}
                ).json()
                board.draw(sweep["jobs"])
                if all(job["status"] in FINISHED_STATUSES for job in sweep["jobs"]):
                    break
                time.sleep(0.25)

            job_ids = [job["id"] for job in sweep["jobs"]]
            jobs = {job_id: client.get(f"/jobs/{job_id}").json() for job_id in job_ids}
            params = {
                "job_ids": ",".join(map(str, job_ids)),
                "thresholds": f"{THRESHOLD}",
            }
            comparison = client.get("/compare", params=params).json()
            chart = client.get(
                "/compare/chart.png",
                params={
                    **params,
                    "title": f"Test accuracy on {dataset}, lr 0.01, seed {args.seed}",
                },
            )

    out.write("\n" + format_table(comparison, jobs) + "\n")
    failed = [job for job in jobs.values() if job["status"] != "succeeded"]
    for job in failed:
        out.write(f"{job['name']}: {job['status']} {job['error'] or ''}\n")
    chart_path.parent.mkdir(parents=True, exist_ok=True)
    chart_path.write_bytes(chart.content)
    out.write(f"\nchart: {chart_path.resolve()}\n")
    return 1 if failed else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", default="mnist-10k", help="a dataset name or folder"
    )
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--concurrency", type=int, default=2, help="jobs trained at once"
    )
    parser.add_argument(
        "--chart", help="where to write the PNG (default out/demo-<dataset>.png)"
    )
