"""``omniq status|tasks|schedules|results|events|purge|demo`` against a store they share."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from omniq import OmniQ, TaskStatus
from omniq.demo.tasks import digest
from omniq.exceptions import TaskFailedError

from . import jobs
from .conftest import Cli, wait_until


def failed_task(oq: OmniQ) -> str:
    """A task that failed for good (run by a worker in the test process)."""
    task_id = oq.enqueue(jobs.fails, {"message": "boom"}, max_retries=0, queue_name="ops")
    oq.start_worker(max_workers=1)
    with pytest.raises(TaskFailedError):
        oq.get_result(task_id, timeout=30)
    oq.stop_worker()
    return task_id


def test_status_json_matches_the_store(cli: Cli, oq: OmniQ) -> None:
    failed_task(oq)  # first: its worker would run the others
    oq.enqueue(jobs.add, {"x": 1, "y": 2}, queue_name="high")
    oq.enqueue(jobs.add, {"x": 1, "y": 2}, queue_name="high", run_in=3600)
    oq.schedule(jobs.add, {"x": 1, "y": 2}, interval=dt.timedelta(hours=1))
    stats = cli.json("status")
    queues = {q["queue_name"]: q for q in stats["queues"]}
    assert queues["high"]["counts"]["enqueued"] == 2
    assert (queues["high"]["due"], queues["high"]["delayed"]) == (1, 1)
    assert queues["ops"]["counts"]["failed"] == 1
    assert stats["schedules"] == {"active": 1}
    assert stats["workers"] == []
    assert stats == json.loads(json.dumps(stats))
    text = cli.run("status")
    assert text.returncode == 0, text.stderr
    assert "high" in text.stdout
    assert "Schedules: 1 active" in text.stdout


def test_tasks_list_show_retry_cancel(cli: Cli, oq: OmniQ) -> None:
    failed = failed_task(oq)  # first: its worker would run the other
    pending = oq.enqueue(jobs.add, {"x": 1, "y": 2}, name="adder")
    listed = cli.json("tasks list")
    assert [t["id"] for t in listed] == [pending, failed]
    assert [t["id"] for t in cli.json("tasks list", "--status", "failed")] == [failed]
    assert [t["id"] for t in cli.json("tasks list", "--queue", "default")] == [pending]
    assert [t["id"] for t in cli.json("tasks list", "--limit", "1")] == [pending]
    assert pending in cli.run("tasks list").stdout

    shown = cli.json("tasks show", failed)
    assert shown["task"]["status"] == "failed"
    assert (shown["task"]["attempts"], shown["task"]["retry_count"]) == (1, 0)
    assert {t["id"]: t["attempts"] for t in listed} == {pending: 0, failed: 1}
    assert "ValueError" in shown["task"]["error"]["traceback"]
    assert [e["type"] for e in shown["events"]][-1] == "failed"
    text = cli.run("tasks show", failed).stdout
    assert "error: builtins.ValueError: boom" in text
    assert re.search(r"attempts\s+│?\s*1 of 1", text), text
    assert re.search(r"\b1/1\b", cli.run("tasks list", "--status", "failed").stdout)
    assert "Traceback" in text  # the task's traceback, shown as data

    assert cli.json("tasks retry", failed)["retried"] is True
    task = oq.get_task(failed)
    assert task is not None
    assert task.status is TaskStatus.ENQUEUED
    for flags in ((), ("--json",)):  # refused: the documented error form, exit 1
        again = cli.run("tasks retry", pending, *flags)
        assert again.returncode == 1
        assert again.stderr.startswith("omniq: error: ")
        assert "not failed or expired" in again.stderr
        assert again.stdout == ""

    assert cli.json("tasks cancel", pending[:8]) == {  # a unique prefix is enough
        "task_id": pending, "cancelled": True, "status": "cancelled",
    }  # fmt: skip
    for flags in ((), ("--json",)):
        finished = cli.run("tasks cancel", pending, *flags)
        assert finished.returncode == 1
        assert finished.stderr.startswith("omniq: error: ")
        assert "already finished (cancelled): not cancelled" in finished.stderr


def test_a_task_id_prefix_is_accepted_where_an_id_is(cli: Cli, oq: OmniQ) -> None:
    ids = [oq.enqueue(jobs.add, {"x": i, "y": 1}) for i in range(40)]
    first = ids[0]
    prefix = next(first[:n] for n in range(1, 37) if sum(i.startswith(first[:n]) for i in ids) == 1)
    assert cli.json("tasks show", prefix)["task"]["id"] == first
    oq.start_worker(max_workers=1)
    assert oq.get_result(first, timeout=30) == 1
    assert cli.json("results get", prefix) == {"task_id": first, "result": 1}
    unknown = cli.run("tasks show", "zzzz")
    assert unknown.returncode == 1
    assert "TaskNotFoundError: no task with id 'zzzz'" in unknown.stderr
    shared = next(p for p in "0123456789abcdef" if sum(i.startswith(p) for i in ids) > 1)
    ambiguous = cli.run("tasks show", shared)
    assert ambiguous.returncode == 1
    assert f"task id prefix {shared!r} is ambiguous" in ambiguous.stderr


def test_results_get_json_prints_a_failure_as_json(cli: Cli, oq: OmniQ) -> None:
    failed = failed_task(oq)
    done = cli.run("results get", failed, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["task_id"], report["status"]) == (failed, "failed")
    assert report["error"]["type"] == "builtins.ValueError"
    assert report["error"]["message"] == "boom"


def test_json_times_are_iso_8601_events_included(cli: Cli, oq: OmniQ) -> None:
    task_id = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    shown = cli.json("tasks show", task_id)
    assert iso.match(shown["task"]["created_at"])
    assert all(iso.match(event["timestamp"]) for event in shown["events"])
    tail = cli.run("events tail", "--json")
    assert tail.returncode == 0, tail.stderr
    assert all(iso.match(json.loads(line)["timestamp"]) for line in tail.stdout.splitlines())


def test_schedule_intervals_read_like_durations(cli: Cli, oq: OmniQ) -> None:
    oq.schedule(jobs.add, {"x": 1, "y": 2}, interval=dt.timedelta(minutes=1, seconds=30))
    oq.schedule(jobs.add, {"x": 1, "y": 2}, interval=0.3)
    listed = cli.run("schedules list")
    assert listed.returncode == 0, listed.stderr
    assert "1m30s" in listed.stdout
    assert "300ms" in listed.stdout
    assert "0:00:00.3" not in listed.stdout


def test_purge_json_gives_counts_and_ids_only_when_verbose(cli: Cli, oq: OmniQ) -> None:
    failed_task(oq)
    done = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    oq.start_worker(max_workers=1)
    assert oq.get_result(done, timeout=30) == 3
    oq.stop_worker()
    counts = cli.json("purge", "--dry-run", "--older-than", "0")
    assert counts["tasks"] == 1
    assert counts["dry_run"] is True
    assert "task_ids" not in counts
    verbose = cli.json("purge", "--dry-run", "--older-than", "0", "--verbose")
    assert verbose["task_ids"] == [done]


def test_results_get(cli: Cli, oq: OmniQ) -> None:
    task_id = oq.enqueue(jobs.add, {"x": 20, "y": 22})
    pending = cli.run("results get", task_id)
    assert pending.returncode == 1
    assert "has no result yet (status enqueued)" in pending.stderr
    oq.start_worker(max_workers=1)
    oq.get_result(task_id, timeout=30)
    oq.stop_worker()
    assert cli.json("results get", task_id) == {"task_id": task_id, "result": 42}
    assert cli.run("results get", task_id).stdout.strip() == "42"
    failed = failed_task(oq)
    done = cli.run("results get", failed)
    assert done.returncode == 1
    assert done.stderr.startswith("omniq: error: TaskFailedError")
    assert "Traceback" not in done.stderr


def test_schedules_list_pause_resume_cancel(cli: Cli, oq: OmniQ) -> None:
    schedule_id = oq.schedule(jobs.add, {"x": 1, "y": 2}, interval=60, name="minutely")
    [listed] = cli.json("schedules list")
    assert (listed["id"], listed["status"], listed["name"]) == (schedule_id, "active", "minutely")
    assert cli.json("schedules pause", schedule_id)["status"] == "paused"
    schedule = oq.get_schedule(schedule_id)
    assert schedule is not None
    assert schedule.status.value == "paused"
    assert "unchanged" in cli.run("schedules pause", schedule_id).stdout
    assert cli.json("schedules resume", schedule_id)["status"] == "active"
    assert cli.json("schedules cancel", schedule_id)["status"] == "cancelled"
    assert schedule_id in cli.run("schedules list").stdout
    missing = cli.run("schedules pause", "nope")
    assert missing.returncode == 1
    assert missing.stderr == "omniq: error: ScheduleNotFoundError: no schedule with id 'nope'\n"


def test_events_tail_and_purge(cli: Cli, oq: OmniQ) -> None:
    first = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    second = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    lines = cli.run("events tail", "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["task_id"], e["type"]) for e in events] == [
        (first, "enqueued"), (second, "enqueued"),
    ]  # fmt: skip
    assert events[0]["cursor"] != events[1]["cursor"]  # opaque, one per event
    assert len(cli.run("events tail", "-n", "1").stdout.splitlines()) == 1

    oq.start_worker(max_workers=1)
    oq.get_result(second, timeout=30)
    oq.get_result(first, timeout=30)
    oq.stop_worker()
    dry = cli.json("purge", "--older-than", "0", "--dry-run", "--verbose")
    assert dry["dry_run"] is True
    assert (dry["tasks"], sorted(dry["task_ids"])) == (2, sorted([first, second]))
    assert oq.get_task(first) is not None
    assert cli.json("purge", "--older-than", "1d")["tasks"] == 0
    done = cli.run("purge", "--older-than", "0s")
    assert done.returncode == 0, done.stderr
    assert "deleted: 2 tasks" in done.stdout
    assert oq.get_task(first) is None
    vacuumed = cli.run("purge", "--older-than", "0s", "--vacuum")
    assert vacuumed.returncode == 0, vacuumed.stderr
    assert "vacuum: the store shrank by" in vacuumed.stdout
    bad = cli.run("purge", "--older-than", "soon")
    assert bad.returncode == 2
    assert "'soon' is not an age" in bad.stderr


@pytest.mark.timeout(60)
def test_events_tail_follow_prints_new_events_until_interrupted(cli: Cli, oq: OmniQ) -> None:
    first = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    out = cli.logs / "tail.out"
    with out.open("wb") as sink:
        follower = subprocess.Popen(
            [sys.executable, "-m", "omniq.cli", "events", "tail", "--follow", "--json",
             "--interval", "0.05", *cli.store],
            stdout=sink, stderr=subprocess.STDOUT, env={**cli.env, "PYTHONFAULTHANDLER": "1"},
        )  # fmt: skip
        try:
            wait_until(lambda: first in out.read_text(), 30, "the first event")
            second = oq.enqueue(jobs.add, {"x": 1, "y": 2})
            wait_until(lambda: second in out.read_text(), 30, "the new event")
            follower.send_signal(signal.SIGINT)
            try:
                code = follower.wait(30)
            except subprocess.TimeoutExpired:  # where it hangs: faulthandler's stacks
                follower.send_signal(signal.SIGABRT)
                follower.wait(10)
                raise AssertionError(f"no exit 30 s after Ctrl+C:\n{out.read_text()}") from None
            assert code == 0, out.read_text()
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["task_id"], e["type"]) for e in lines] == [
        (first, "enqueued"), (second, "enqueued"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "command", ["status", "tasks list", "schedules list", "purge --dry-run", "events tail"]
)
def test_read_commands_never_create_a_store(cli: Cli, tmp_path: Path, command: str) -> None:
    typo = tmp_path / "typo" / "queue.db"
    missing = cli.run(command, "--project", "cli", "--db-path", str(typo), store=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("omniq: error: ConfigurationError: no OmniQ store at ")
    assert str(typo) in missing.stderr
    assert not typo.parent.exists()

    home = Path(cli.env["OMNIQ_HOME"])
    mistyped = cli.run(command, "--project", "clii", store=False)  # the default file
    assert mistyped.returncode == 1
    assert "no OmniQ store at SQLiteBackend(project_name='clii'" in mistyped.stderr
    assert not home.exists() or not list(home.rglob("clii*"))


def test_a_memory_store_is_refused_by_read_commands(cli: Cli) -> None:
    done = cli.run("status", "--project", "cli", "--backend", "memory", store=False)
    assert done.returncode == 1
    assert "lives only in the process that opened it" in done.stderr


def test_read_commands_open_a_store_a_worker_created(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "made" / "queue.db"
    worker = cli.start("--project", "cli", "--db-path", str(db), name="creator")
    wait_until(db.exists, 30, "the worker to create its store")
    done = cli.run("status", "--json", "--project", "cli", "--db-path", str(db), store=False)
    assert done.returncode == 0, done.stderr
    worker.popen.send_signal(signal.SIGTERM)
    assert worker.wait_exit(30) == 0


def test_bad_input_is_one_line_and_a_non_zero_exit(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    unknown = cli.run("tasks show", "no-such-task")
    assert unknown.returncode == 1
    assert unknown.stderr == "omniq: error: TaskNotFoundError: no task with id 'no-such-task'\n"

    missing_config = cli.run("status", "--config", str(tmp_path / "nope.yaml"), store=False)
    assert missing_config.returncode == 1
    assert len(missing_config.stderr.splitlines()) == 1
    assert "nope.yaml" in missing_config.stderr

    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("project_name: [unclosed\n")
    unreadable = cli.run("status", "--config", str(bad_yaml), store=False)
    assert unreadable.returncode == 1
    assert len(unreadable.stderr.splitlines()) == 1

    backend = cli.run("status", "--backend", "oracle")
    assert backend.returncode == 1
    assert "task_queue.type: 'oracle' is not one of" in backend.stderr
    assert len(backend.stderr.splitlines()) == 1

    no_project = cli.run("status", store=False)
    assert no_project.returncode == 1
    assert "no project: pass --project NAME" in no_project.stderr

    debug = cli.run("tasks show", "no-such-task", "--debug")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr

    usage = cli.run("tasks list", "--status", "sleeping")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr

    no_module = cli.run("worker", "--import", "no_such_module_xyz")
    assert no_module.returncode == 1
    assert "--import 'no_such_module_xyz'" in no_module.stderr
    assert "Traceback" not in no_module.stderr


def test_config_file_and_environment(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    task_id = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    config = tmp_path / "omniq.yaml"
    config.write_text(
        f"project_name: cli\ntask_queue:\n  type: sqlite\n  config:\n    db_path: {cli.db}\n"
    )
    from_file = cli.run("tasks list", "--json", "--config", str(config), store=False)
    assert from_file.returncode == 0, from_file.stderr
    assert [t["id"] for t in json.loads(from_file.stdout)] == [task_id]
    cli.env["OMNIQ_PROJECT_NAME"] = "cli"
    cli.env["OMNIQ_TASK_QUEUE_CONFIG_DB_PATH"] = str(cli.db)
    from_env = cli.run("tasks list", "--json", store=False)
    assert from_env.returncode == 0, from_env.stderr
    assert [t["id"] for t in json.loads(from_env.stdout)] == [task_id]


def assert_demo_printed(stdout: str, db: Path) -> None:
    """The human output of the demo: the real results, then the summary and the file."""
    assert digest("document-0", rounds=200) in stdout
    assert "9,592" in stdout  # the primes below 100,000
    assert "https://example.org/feed: 200 OK after 3 attempts" in stdout
    assert "failed for good after 2 attempts with builtins.ConnectionError" in stdout
    assert "report 'delayed-0' ready (started" in stdout
    assert "3 runs: report 'heartbeat' ready" in stdout
    assert "Events of the flaky task" in stdout
    assert "attempt 3 of 4" in stdout
    assert "OmniQ demo summary" in stdout
    assert str(db) in stdout


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_json_has_the_summary_and_the_results(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = cli.run("demo", "--tasks", "50", "--json", "--db-path", str(db), store=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"completed": 50 + 5 + 4 + 1 + 3 + 3, "failed": 1}
    assert summary["db_path"] == str(db)
    assert summary["schedule"]["runs"] == 3
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    results = summary["results"]
    assert results["digest_of_document_0"] == digest("document-0", rounds=200)
    assert results["primes_below_100000"] == 9592
    assert results["flaky"] == {
        "result": "https://example.org/feed: 200 OK after 3 attempts",
        "attempts": 3,
    }
    assert results["doomed"] == {
        "error_type": "builtins.ConnectionError",
        "error_message": "https://example.org/down: connection reset (attempt 2)",
        "attempts": 2,
    }
    delayed = results["delayed"]
    assert delayed["report"] == "report 'delayed-0' ready"
    assert delayed["run_in_seconds"] == 0.5
    assert delayed["started_after_seconds"] >= 0.5 - 0.05
    assert results["schedule_runs"] == ["report 'heartbeat' ready"] * 3
    events = [event["type"] for event in results["flaky_events"]]
    assert (events[0], events.count("executing"), events[-1]) == ("enqueued", 3, "completed")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_prints_the_results_and_the_summary(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = cli.run("demo", "--tasks", "20", "--db-path", str(db), store=False)
    assert done.returncode == 0, done.stderr
    assert_demo_printed(done.stdout, db)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_removes_its_temporary_store_unless_asked_to_keep_it(cli: Cli, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    cli.env["TMPDIR"] = str(temp)
    done = cli.run("demo", "--tasks", "5", store=False)
    assert done.returncode == 0, done.stderr
    assert list(temp.iterdir()) == []
    assert "(temporary, removed)" in done.stdout
    assert "demo --keep" in done.stdout

    kept = cli.run("demo", "--tasks", "5", "--keep", "--json", store=False)
    assert kept.returncode == 0, kept.stderr
    summary = json.loads(kept.stdout)
    assert summary["kept"] is True
    db = Path(summary["db_path"])
    assert db.parent.parent == temp
    assert db.parent.name.startswith("omniq-demo-")
    assert db.exists()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_demos_closing_hint_runs_as_printed(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = cli.run("demo", "--tasks", "5", "--db-path", str(db), store=False)
    assert done.returncode == 0, done.stderr
    hint = next(line for line in done.stdout.splitlines() if line.startswith("Look inside: "))
    command = shlex.split(hint.removeprefix("Look inside: "))
    assert command[1:] == ["status", "--db-path", str(db)]
    env = {**cli.env, "PATH": "/usr/bin:/bin"}  # as in a shell without the venv activated
    status = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60,
                            check=False)  # fmt: skip
    assert status.returncode == 0, (hint, status.stderr)
    assert "completed" in status.stdout


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_python_m_omniq_demo_runs_the_same_demo(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = subprocess.run(
        [sys.executable, "-m", "omniq.demo", "--tasks", "30", "--db-path", str(db)],
        capture_output=True, text=True, env=cli.env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_demo_printed(done.stdout, db)


def test_reading_the_store_never_loads_its_pickles(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    marker = tmp_path / "loaded"
    trapped = oq.enqueue(jobs.add, {"x": jobs.BoobyTrap(str(marker)), "y": 1})
    plain = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    listed = cli.run("tasks list")
    assert listed.returncode == 0, listed.stderr
    assert not marker.exists()
    row = next(line for line in listed.stdout.splitlines() if trapped in line)
    assert "<pickled, not loaded: " in row
    assert "refers to io.open>" in row
    [found] = [t for t in cli.json("tasks list") if t["id"] == trapped]
    assert list(found["args"]) == ["(pickled, not loaded)"]
    assert [t["args"] for t in cli.json("tasks list") if t["id"] == plain] == [{"x": 1, "y": 2}]
    shown = cli.run("tasks show", trapped)
    assert shown.returncode == 0, shown.stderr
    assert not marker.exists()
    # Asked explicitly, the listing loads it (and so runs what it holds).
    assert cli.run("tasks list", "--unpickle").returncode == 0
    assert marker.exists()


def test_results_get_does_not_load_a_pickled_result(cli: Cli, oq: OmniQ, tmp_path: Path) -> None:
    marker = tmp_path / "loaded"
    task_id = oq.enqueue(jobs.booby_trap, {"marker": str(marker)})
    oq.start_worker(max_workers=1)
    wait_until(lambda: oq.get_task(task_id).status is TaskStatus.COMPLETED, 30, "the task")
    oq.stop_worker()
    done = cli.run("results get", task_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<pickled, not loaded: ")
    assert "refers to io.open" in done.stdout
    assert cli.json("results get", task_id)["result"].startswith("<pickled, not loaded: ")
    assert not marker.exists()
    assert cli.run("results get", task_id, "--unpickle").returncode == 0
    assert marker.exists()


def test_one_unreadable_row_does_not_break_the_listing(cli: Cli, oq: OmniQ) -> None:
    damaged = oq.enqueue(jobs.add, {"x": 1, "y": 2})
    intact = oq.enqueue(jobs.add, {"x": 3, "y": 4})
    oq.close()
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE tasks SET payload = ? WHERE id = ?", (b"\x99damaged", damaged))
    conn.close()
    listed = cli.run("tasks list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if damaged in line)
    assert "<unreadable: SerializationError: unknown payload format tag" in row  # may wrap
    assert intact in listed.stdout
    tasks = {t["id"]: t for t in cli.json("tasks list")}
    assert "unknown payload format tag 0x99" in tasks[damaged]["args"]["(unreadable)"]
    assert tasks[intact]["args"] == {"x": 3, "y": 4}
    # The operator can find it and cancel it.
    assert cli.run("tasks cancel", damaged).returncode == 0
    assert {t["id"]: t for t in cli.json("tasks list")}[damaged]["status"] == "cancelled"
