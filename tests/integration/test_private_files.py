"""What OmniQ creates on a local disk is owner-only (0700 / 0600), whatever the umask.

Run in a fresh interpreter with a permissive umask (002: group-writable by default), which
must not leak into the files and directories of the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from omniq import OmniQ

    os.umask(0o002)
    root = Path(sys.argv[1])
    modes = {}

    def walk(top):
        for path in [top, *sorted(top.rglob("*"))]:
            modes[str(path)] = os.stat(path).st_mode & 0o777

    db_path = root / "sqlite" / "nested" / "shop.db"
    with OmniQ(project_name="shop", backend_type="sqlite", db_path=db_path) as oq:
        oq.start_worker(max_workers=1)
        task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 5})
        assert oq.get_result(task_id, timeout=30) == 32
        walk(root / "sqlite")  # while open: the -wal and -shm files exist
    with OmniQ(project_name="shop", backend_type="file", path=root / "files" / "nested") as oq:
        oq.start_worker(max_workers=1)
        task_id = oq.enqueue(func=pow, func_args={"base": 2, "exp": 5})
        assert oq.get_result(task_id, timeout=30) == 32
        walk(root / "files")
    print(json.dumps(modes))
    """
)


def test_files_and_directories_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIQ_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    modes = {Path(path): mode for path, mode in json.loads(done.stdout).items()}
    sqlite = tmp_path / "store" / "sqlite" / "nested"
    for name in ("shop.db", "shop.db-wal", "shop.db-shm"):
        assert sqlite / name in modes, sorted(modes)
    files = [path for path in modes if (tmp_path / "store" / "files") in path.parents]
    assert any(path.is_file() for path in files), sorted(modes)
    too_open = {
        str(path.relative_to(tmp_path)): oct(mode)
        for path, mode in modes.items()
        if mode != (0o700 if path.is_dir() else 0o600)
    }
    assert too_open == {}
