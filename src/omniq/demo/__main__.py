"""``python -m omniq.demo``: the same demo as ``omniq demo`` (see :mod:`omniq.cli.demo`).

It takes the same options (``--tasks``, ``--db-path``, ``--concurrency``, ``--json``).
"""

from omniq.cli.demo import demo

if __name__ == "__main__":
    demo(prog_name="python -m omniq.demo")
