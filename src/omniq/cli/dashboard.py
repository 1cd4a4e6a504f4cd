"""``omniq dashboard``: the web dashboard over a store (the ``omniq[dashboard]`` extra)."""

from __future__ import annotations

import click

from omniq.cli.connect import StoreOptions, open_omniq, store_options
from omniq.dashboard.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    DashboardSettings,
    token_from_env,
)
from omniq.exceptions import ConfigurationError

__all__ = ["dashboard"]


@click.command()
@store_options
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Anything but loopback needs --token.")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port (0: a free one; --log-level info prints which).")  # fmt: skip
@click.option(
    "--token",
    help=f"Secret a visitor types to sign in; it also allows actions (default: ${TOKEN_ENV}). "
    "Without one the dashboard only shows the store.",
)
@click.option("--read-only", is_flag=True, help="Hide and refuse every action (retry, cancel...).")
@click.option("--log-level", type=click.Choice(["warning", "info", "debug"]), default="warning",
              show_default=True, help="uvicorn's log level (info logs every request).")  # fmt: skip
def dashboard(
    store: StoreOptions, host: str, port: int, token: str | None, read_only: bool, log_level: str
) -> None:
    """Serve a web dashboard of the store: queues, workers, tasks, failures, schedules.

    It listens on 127.0.0.1:8080 by default, shows pickled arguments and results as type and
    size only (never loads them), and updates itself from the event log. Retry, cancel and
    schedule actions need --token (or $OMNIQ_DASHBOARD_TOKEN); --read-only hides them.
    """
    settings = DashboardSettings(host=host, port=port, token=token_from_env(token),
                                 read_only=read_only)  # fmt: skip
    settings.check()  # before opening the store: a refused bind touches nothing
    try:
        from omniq.dashboard.server import serve
    except ImportError as exc:  # the extra is not installed
        raise ConfigurationError(
            f"omniq dashboard needs the dashboard extra ({exc.name} is missing): "
            "pip install 'omniq[dashboard]'"
        ) from None
    # Two handles on the store: the overview's counts (a scan on a big store) run on their
    # own connection, so pages never wait behind one.
    with open_omniq(store) as oq, open_omniq(store) as counter:
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        mode = ("read-only" if read_only else "actions on" if settings.token
                else "view only: actions need --token")  # fmt: skip
        where = f"http://{shown}:{port}" if port else f"a free port of {host}"
        click.echo(f"OmniQ dashboard on {where} ({mode}); Ctrl-C stops it", err=True)
        serve(oq, settings, log_level=log_level, counter=counter)
