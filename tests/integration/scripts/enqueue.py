"""Enqueue tasks from this process, print their ids as one JSON line, and exit.

Usage: ``python enqueue.py --db PATH --func MODULE:NAME --args-json '[{...}, ...]'
[--one-by-one] [--go-file PATH] [--options-json '{...}']``

The function is imported by name, so it is the very same object the tests reference and is
stored by reference. With ``--go-file`` the process prints ``READY`` once its store is open
and waits (at most 30 s) for that file before enqueueing, so several enqueuers can be
started at the same instant.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

from omniq import OmniQ


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--project", default="it")
    parser.add_argument("--func", required=True)
    parser.add_argument("--args-json", required=True)
    parser.add_argument("--options-json", default="{}")
    parser.add_argument("--one-by-one", action="store_true")
    parser.add_argument("--go-file")
    args = parser.parse_args()

    module_name, _, name = args.func.partition(":")
    func = getattr(importlib.import_module(module_name), name)
    args_list = json.loads(args.args_json)
    options = json.loads(args.options_json)

    with OmniQ(project_name=args.project, db_path=args.db) as oq:
        if args.go_file:
            print("READY", flush=True)
            deadline = time.monotonic() + 30
            while not os.path.exists(args.go_file):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{args.go_file} did not appear")
                time.sleep(0.005)
        if args.one_by_one:
            ids = [oq.enqueue(func, func_args=item, **options) for item in args_list]
        else:
            ids = oq.enqueue_many(func, args_list, **options)
    print(json.dumps(ids), flush=True)


if __name__ == "__main__":
    main()
