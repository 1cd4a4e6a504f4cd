"""A program's ``__main__`` functions run as themselves in its own workers (module state is
shared, as the program's author expects), and by value in a worker of another process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.targets("sqlite")

PROGRAM = """
import sys
from omniq import OmniQ

seen = []

def record(x):
    seen.append(x)
    return len(seen)

with OmniQ(project_name="main_functions", backend_type="sqlite") as oq:
    oq.start_worker(worker_type=sys.argv[1], max_workers=2)
    ids = [oq.enqueue(func=record, func_args={"x": i}) for i in range(3)]
    results = sorted(oq.get_result(task_id, timeout=10) for task_id in ids)
    print(results, sorted(seen))
"""


@pytest.mark.parametrize("worker_type", ["thread_pool", "async"])
def test_a_main_function_changes_its_modules_state_in_the_programs_worker(
    tmp_path: Path, omniq_home: Path, worker_type: str
) -> None:
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(path), worker_type], capture_output=True, text=True, timeout=60,
        env={"OMNIQ_HOME": str(omniq_home), "PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[1, 2, 3] [0, 1, 2]"]
