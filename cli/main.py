"""The `trainjobs` command: run the API, the workers, or both; migrate; datasets."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger("trainjobs")


def migrate(database_url: str | None = None) -> None:
    """Bring the database schema up to the latest Alembic revision."""
    from alembic import command

    from core.settings import get_settings
    from migrations import alembic_config

    command.upgrade(alembic_config(database_url or get_settings().database_url), "head")


def run_api(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "api.app:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def run_worker(concurrency: int, loglevel: str) -> None:
    import worker  # noqa: F401  (pins BLAS threads before NumPy loads)
    from worker.app import app

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def run_both(host: str, port: int, concurrency: int) -> int:
    """Start the API and one worker as child processes; stop both on Ctrl-C."""
    migrate()
    me = [sys.executable, "-m", "cli.main"]
    children = [
        subprocess.Popen([*me, "api", "--host", host, "--port", str(port)]),
        subprocess.Popen([*me, "worker", "--concurrency", str(concurrency)]),
    ]
    logger.info("trainjobs up on http://%s:%s (Ctrl-C stops)", host, port)

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)

    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    # A child that died on its own is a failure; one we stopped is not.
    return 0 if stopping else 1


def datasets_command(args: argparse.Namespace) -> int:
    from core.datasets import fetch_dataset, list_datasets
    from core.errors import DatasetError
    from core.settings import get_settings

    settings = get_settings()
    if args.datasets_command == "fetch":
        destination = Path(args.dest or settings.home / "datasets")
        try:
            path = fetch_dataset(args.name, destination)
        except DatasetError as exc:
            sys.stderr.write(f"trainjobs: {exc}\n")
            return 2
        sys.stdout.write(f"{args.name}: {path}\n")
        return 0

    for info in list_datasets(data_dirs=settings.data_dir_list):
        sys.stdout.write(
            f"{info.name:16} train={info.train_size:<6} test={info.test_size:<6} "
            f"features={info.features} classes={info.num_classes} {info.path}\n"
        )
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainjobs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="migrate, then run the API and one worker")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--concurrency", type=positive_int, default=1)

    api = commands.add_parser("api", help="run the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=positive_int, default=1, help="API processes")

    worker = commands.add_parser("worker", help="run a training worker")
    worker.add_argument(
        "--concurrency", type=positive_int, default=1, help="jobs at once"
    )
    worker.add_argument("--loglevel", default="INFO")

    commands.add_parser("migrate", help="apply database migrations")

    demo = commands.add_parser(
        "demo", help="compare five optimizers on real digits through the API"
    )
    from cli.demo import add_arguments

    add_arguments(demo)

    datasets = commands.add_parser("datasets", help="list or fetch datasets")
    dataset_commands = datasets.add_subparsers(dest="datasets_command", required=True)
    dataset_commands.add_parser("list", help="datasets on the search path")
    fetch = dataset_commands.add_parser("fetch", help="download and verify a dataset")
    fetch.add_argument("name", choices=["mnist", "fashion-mnist"])
    fetch.add_argument(
        "--dest", help="folder to put it in (default ~/.trainjobs/datasets)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from core.logconfig import configure_logging

    configure_logging(os.environ.get("TRAINJOBS_LOG_LEVEL", "INFO"))
    if args.command == "up":
        return run_both(args.host, args.port, args.concurrency)
    if args.command == "api":
        run_api(args.host, args.port, args.workers)
    elif args.command == "worker":
        run_worker(args.concurrency, args.loglevel)
    elif args.command == "migrate":
        migrate()
        logger.info("database is at the latest revision")
    elif args.command == "datasets":
        return datasets_command(args)
    elif args.command == "demo":
        from cli.demo import run_demo

        return run_demo(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
