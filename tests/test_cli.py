"""`trainjobs up` on the embedded default: one command, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cli.stack import free_port
from tests.helpers import job_spec, submit, wait_for


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_up_serves_and_trains_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRAINJOBS_")},
        "TRAINJOBS_HOME": str(tmp_path / "home"),
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "trainjobs up never became ready"
            time.sleep(0.2)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            job = wait_for(client, submit(client, job_spec(iterations=50))["id"])
        children = children_of(up.pid)

        up.send_signal(signal.SIGINT)
        exit_code = up.wait(timeout=30)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()

    assert job["status"] == "succeeded"
    assert (tmp_path / "home" / "trainjobs.db").exists()
    assert len(children) == 2  # the API and the worker
    assert exit_code == 0
    for child in children:
        assert not Path(f"/proc/{child}").exists() or _is_zombie(child)


def _is_zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status
