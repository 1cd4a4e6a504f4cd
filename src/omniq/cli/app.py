"""The command group and the error handling around it."""

from __future__ import annotations

import os
import sys

import click

from omniq._version import __version__
from omniq.cli.dashboard import dashboard
from omniq.cli.demo import demo
from omniq.cli.maintenance import events, purge
from omniq.cli.schedules import schedules
from omniq.cli.status import status
from omniq.cli.tasks import results, tasks
from omniq.cli.worker import worker
from omniq.exceptions import OmniQError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="omniq")
def cli() -> None:
    """OmniQ: run workers, see and steer what the queue holds.

    Every command finds its store from --config FILE, OMNIQ_* environment variables
    (e.g. OMNIQ_PROJECT_NAME) and flags (--project, --backend, --db-path), in that order
    of precedence (flags win).
    """


for command in (worker, demo, status, tasks, schedules, results, events, purge, dashboard):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it).

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("OMNIQ_DEBUG", "") not in ("", "0")
    try:
        code = cli.main(args, prog_name="omniq", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("omniq: interrupted", err=True)
        return 130
    except click.UsageError as exc:  # a usage mistake: click's usage line, exit 2
        if debug:
            raise
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:  # a refused action: the documented error form
        if debug:
            raise
        click.echo(f"omniq: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except (OmniQError, OSError) as exc:
        if debug:
            raise
        message = str(exc) if not isinstance(exc, KeyError) else str(exc.args[0])
        click.echo(f"omniq: error: {type(exc).__name__}: {message}", err=True)
        return 1
    return code if isinstance(code, int) else 0
