"""Run the Python blocks of one docs page, in order, in one namespace, as Quarto would.

Usage: ``python page_runner.py BLOCKS.json RESULTS.json`` (started by ``test_examples.py``
in a fresh process per page, in a temporary working directory, with ``OMNIQ_HOME`` set to a
temporary directory).

``BLOCKS.json`` is a list of ``{"where": "page.qmd:12", "code": "...", "cell": true}``.
Every block runs in the namespace of a fresh ``__main__`` module, as a Jupyter kernel runs
the cells of a document:

* a ``{python}`` cell runs while an event loop is running in the main thread, as in
  Jupyter: top-level ``await`` works and ``asyncio.run()`` fails, exactly as on render;
* a plain ```` ```python ```` block runs as a script would, with no loop running.

Each block's standard output is captured. ``RESULTS.json`` is rewritten after every block
(``{"where", "stdout", "error", "seconds"}``), so a page killed by the test's timeout still
shows which block was running. The runner fails the page if it leaves a non-daemon thread
running: a script doing the same would never exit.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import inspect
import io
import json
import os
import sys
import threading
import time
import traceback
import types
from pathlib import Path
from typing import Any


def _run_cell(
    code: types.CodeType, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> None:
    async def cell() -> None:
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result

    loop.run_until_complete(cell())


def _write(path: Path, results: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")


def main(blocks_path: Path, results_path: Path) -> int:
    blocks = json.loads(blocks_path.read_text(encoding="utf-8"))
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    namespace = module.__dict__
    kernel_loop = asyncio.new_event_loop()
    results: list[dict[str, Any]] = []
    for block in blocks:
        entry: dict[str, Any] = {"where": block["where"], "stdout": "", "error": None}
        results.append(entry)
        _write(results_path, results)  # shows the running block if the page times out
        buffer = io.StringIO()
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buffer):
                if block["cell"]:
                    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                    code = compile(block["code"], block["where"], "exec", flags=flags)
                    _run_cell(code, namespace, kernel_loop)
                else:
                    exec(compile(block["code"], block["where"], "exec"), namespace)
        except BaseException:  # SystemExit included: the page's code must not exit
            entry["error"] = traceback.format_exc()
        entry["stdout"] = buffer.getvalue()
        entry["seconds"] = round(time.perf_counter() - started, 3)
        _write(results_path, results)
        if entry["error"] is not None:
            break
    else:
        # The kernel loop is Jupyter's, not the page's: its executor threads are not leaks.
        kernel_loop.run_until_complete(kernel_loop.shutdown_default_executor())
        kernel_loop.close()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            lingering = [
                thread.name
                for thread in threading.enumerate()
                if thread is not threading.main_thread() and not thread.daemon
            ]
            if not lingering:
                break
            time.sleep(0.05)
        else:
            results.append(
                {
                    "where": "end of page",
                    "stdout": "",
                    "error": f"the page left non-daemon threads running: {lingering} "
                    "(a script doing this would not exit; close what it opened)",
                }
            )
            _write(results_path, results)
    sys.stdout.flush()
    os._exit(0)  # daemon threads and loops the page left behind end with the process


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
