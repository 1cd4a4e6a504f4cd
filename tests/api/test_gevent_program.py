"""A gevent program (monkey-patched first, as under gunicorn or Flask with gevent) uses the
sync API with a gevent worker: the quick start, whole, in a fresh patched interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.targets("sqlite")

SCRIPT = """
from gevent import monkey
monkey.patch_all()

from omniq import OmniQ, TaskStatus

def add_numbers(x, y):
    return x + y

def shout(word):
    return word.upper()

with OmniQ(project_name="gevent_program", backend_type="sqlite") as oq:
    oq.start_worker(worker_type="gevent", max_workers=10)
    try:
        task_id = oq.enqueue(func=add_numbers, func_args={"x": 5, "y": 10})
        print(f"Result: {oq.get_result(task_id, timeout=10)}")
        ids = [oq.enqueue(func=shout, func_args={"word": w}) for w in ("a", "b", "c")]
        print("Results:", [oq.get_result(i, timeout=10) for i in ids])
        task = oq.get_task(ids[0])
        print("Status:", task.status is TaskStatus.COMPLETED)
    finally:
        oq.stop_worker()
print("Closed")
"""


def test_the_quick_start_runs_in_a_monkey_patched_program(tmp_path: Path, omniq_home: Path) -> None:
    path = tmp_path / "gevent_program.py"
    path.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60,
        env={"OMNIQ_HOME": str(omniq_home), "PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Result: 15", "Results: ['A', 'B', 'C']", "Status: True", "Closed",
    ]  # fmt: skip
    assert not re.search(r"Traceback|Error", done.stderr), done.stderr
