"""The dashboard's ASGI application (Starlette): pages, actions, sign-in.

Every route is listed in :func:`routes`; :func:`create_app` takes more (``extra_routes``),
so another endpoint (e.g. ``/metrics``) is one more entry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from omniq.api import OmniQ
from omniq.core import validation as check
from omniq.dashboard import display, security
from omniq.dashboard.activity import Activity
from omniq.dashboard.middleware import SecurityHeadersMiddleware, SignInMiddleware
from omniq.dashboard.reading import CountsCache, browse_tasks, schedule_runs
from omniq.dashboard.settings import DashboardSettings, is_loopback
from omniq.exceptions import (
    ConfigurationError,
    OmniQError,
    ScheduleNotFoundError,
    TaskNotFoundError,
)
from omniq.models.task import TaskStatus
from omniq.monitoring.prometheus import render_store_metrics
from omniq.storage.admin import TaskFilter

__all__ = ["Dashboard", "create_app"]

PAGE_SIZE = 50
#: Most tasks one "retry all shown" acts on (one page of the failed view).
RETRY_ALL_LIMIT = PAGE_SIZE
_STATUSES = [status.value for status in TaskStatus]
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]", "testserver"]

Handler = Callable[[Request], Awaitable[Response]]


class Dashboard:
    """The pages and actions over one open OmniQ (its state: counts cache, activity).

    Args:
        oq: An open OmniQ whose serializer shows pickles as placeholders (see
            :func:`omniq.cli.connect.open_omniq`).
        settings: How it is served.
        counter: A second open OmniQ on the same store for the overview's counts (its own
            connection: pages do not wait behind a count that scans millions of tasks);
            ``None``: ``oq``.
    """

    def __init__(
        self, oq: OmniQ, settings: DashboardSettings, counter: OmniQ | None = None
    ) -> None:
        self.oq = oq
        self.settings = settings
        self.counter = counter or oq
        self.counts = CountsCache(self.counter)
        self.activity = Activity(oq)
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("omniq.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.globals.update(stamp=display.stamp, stamp_ts=display.stamp_ts, ago=display.ago,
                           one_line=display.one_line)  # fmt: skip
        self.templates = Jinja2Templates(env=env)

    # -- rendering -------------------------------------------------------------------------

    def render(self, request: Request, name: str, context: dict[str, Any],
               status_code: int = 200) -> Response:  # fmt: skip
        """A page: the template with what every page needs (CSRF token, mode, notice)."""
        csrf = security.csrf_token(request)
        response = self.templates.TemplateResponse(
            request,
            name,
            {
                "csrf": csrf,
                "csrf_field": security.CSRF_FIELD,
                "actions": self.settings.actions_enabled,
                "read_only": self.settings.read_only,
                "has_token": self.settings.token is not None,
                "notice": request.query_params.get("notice", ""),
                "project": self.oq.config.project_name,
                "statuses": _STATUSES,
                **context,
            },
            status_code=status_code,
        )
        if request.cookies.get(security.CSRF_COOKIE) != csrf:
            response.set_cookie(security.CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    # -- pages -----------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        """Queues with counts, live workers and what they run, charts, recent events."""
        overview = await self.counts.get()
        await self.activity.refresh()
        return self.render(request, "overview.html", {
            "page": "overview", "o": overview, "stats": overview.stats,
            "recent": list(reversed(self.activity.recent)), "now": time.time(),
        })  # fmt: skip

    async def activity_json(self, request: Request) -> Response:
        """The charts' data: per-minute throughput and latency of the last hour."""
        await self.activity.refresh()
        series = self.activity.series()
        return JSONResponse({
            "minutes": series.minutes, "completed": series.completed, "failed": series.failed,
            "p50": series.p50, "p99": series.p99, "events_seen": series.events_seen,
        })  # fmt: skip

    async def task_list(self, request: Request) -> Response:
        """Tasks, filtered and paginated (newest first)."""
        return await self._tasks_page(request, "tasks", None)

    async def failed(self, request: Request) -> Response:
        """Failed tasks, with "retry all shown"."""
        return await self._tasks_page(request, "failed", (TaskStatus.FAILED,))

    async def _tasks_page(
        self, request: Request, page: str, statuses: tuple[TaskStatus, ...] | None
    ) -> Response:
        params = request.query_params
        text = {key: params.get(key, "").strip() for key in ("status", "queue", "name", "tag", "q")}
        if statuses is None and text["status"]:
            if text["status"] not in _STATUSES:
                raise HTTPException(400, f"status {text['status']!r} is not one of "
                                         f"{', '.join(_STATUSES)}")  # fmt: skip
            statuses = (TaskStatus(text["status"]),)
        where = TaskFilter(
            statuses=statuses,
            queue_name=text["queue"] or None,
            name=text["name"] or None,
            tag=text["tag"] or None,
            id_prefix=text["q"] or None,
        )
        before = params.get("before") or None
        try:
            found = await browse_tasks(self.oq, where, before, PAGE_SIZE)
        except ConfigurationError as exc:
            raise HTTPException(400, str(exc)) from None
        if text["q"] and len(found.tasks) == 1 and before is None and page == "tasks":
            return RedirectResponse(f"/tasks/{found.tasks[0].id}", status_code=303)
        kept = {key: value for key, value in text.items() if value}
        next_url = None
        if found.next_cursor is not None:
            next_url = f"{request.url.path}?{urlencode({**kept, 'before': found.next_cursor})}"
        first_url = f"{request.url.path}?{urlencode(kept)}" if before else None
        return self.render(request, "tasks.html", {
            "page": page, "tasks": found.tasks, "filters": text, "next_url": next_url,
            "first_url": first_url, "complete": found.complete, "paged": before is not None,
        })  # fmt: skip

    async def task_detail(self, request: Request) -> Response:
        """One task: fields, arguments, result, error and traceback, events, actions."""
        given = request.path_params["task_id"]
        task = await self.oq.get_task_async(given)
        if task is None:
            found = await browse_tasks(self.oq, TaskFilter(id_prefix=given), None, 2)
            if len(found.tasks) != 1:
                return self.render(request, "not_found.html", {
                    "page": "tasks", "what": f"task {given!r}",
                    "why": "several tasks' ids start with it" if found.tasks else "no such task",
                }, status_code=404)  # fmt: skip
            return RedirectResponse(f"/tasks/{found.tasks[0].id}", status_code=303)
        events = await self.oq.get_events_async(task.id)
        result = None
        result_error = ""
        if task.status is TaskStatus.COMPLETED:
            try:
                result = display.shown(await self.oq.get_result_async(task.id, timeout=0))
            except OmniQError as exc:
                result_error = f"{type(exc).__name__}: {exc}"
        return self.render(request, "task.html", {
            "page": "tasks", "task": task, "events": events, "result": result,
            "result_error": result_error,
            "arguments": display.arguments(task.args, task.kwargs),
            "can_retry": task.status in (TaskStatus.FAILED, TaskStatus.EXPIRED),
            "can_cancel": not task.status.is_final,
        })  # fmt: skip

    async def schedules(self, request: Request) -> Response:
        """Every schedule with its next run and latest runs."""
        found = await self.oq.list_schedules_async()
        runs = {schedule.id: await schedule_runs(self.oq, schedule) for schedule in found}
        return self.render(request, "schedules.html", {
            "page": "schedules", "schedules": found, "runs": runs,
        })  # fmt: skip

    # -- actions ---------------------------------------------------------------------------

    async def _action_form(self, request: Request) -> FormData:
        """The form of an allowed action; refuses it when actions are off or it is forged."""
        if not self.settings.actions_enabled:
            why = ("the dashboard is read-only (--read-only)" if self.settings.read_only
                   else "actions need a token: start the dashboard with --token")  # fmt: skip
            raise HTTPException(403, f"action refused: {why}")
        form = await request.form()
        if security.bearer(request):
            return form
        if not security.origin_ok(request):
            raise HTTPException(403, "action refused: it came from another site (Origin)")
        submitted = form.get(security.CSRF_FIELD)
        if not security.csrf_ok(request, submitted if isinstance(submitted, str) else None):
            raise HTTPException(403, "action refused: missing or wrong CSRF token; reload "
                                     "the page and try again")  # fmt: skip
        return form

    def _back(self, form: FormData, fallback: str, notice: str) -> Response:
        target = form.get("next")
        url = security.local_path(target if isinstance(target, str) else "", fallback)
        separator = "&" if "?" in url else "?"
        return RedirectResponse(f"{url}{separator}{urlencode({'notice': notice})}",
                                status_code=303)  # fmt: skip

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``: the store's Prometheus metrics, read from the store on each scrape.

        Read on the counting connection, so a scrape never delays a page. With a token, a
        scraper signs in with ``Authorization: Bearer TOKEN``.
        """
        body, content_type = await render_store_metrics(self.counter, request.headers.get("accept"))
        return Response(body, media_type=content_type)

    async def retry(self, request: Request) -> Response:
        """Retry one failed or expired task."""
        return await self._act_on_task(
            request,
            self.oq.retry_async,
            done="task {id} enqueued again",
            refused="task {id} is {state}, not failed or expired: not retried",
        )

    async def cancel(self, request: Request) -> Response:
        """Cancel one task (a running one once its worker notices)."""
        return await self._act_on_task(
            request,
            self.oq.cancel_async,
            done="task {id}: cancel requested (status now {state})",
            refused="task {id} had already finished ({state}): not cancelled",
        )

    async def _act_on_task(
        self,
        request: Request,
        act: Callable[[str], Awaitable[bool]],
        done: str,
        refused: str,
    ) -> Response:
        """Run ``act`` on the task of the URL; back to the page with a notice of the outcome."""
        form = await self._action_form(request)
        task_id = _task_id(request)
        acted = await act(task_id)
        task = await self.oq.get_task_async(task_id)
        state = "" if task is None else task.status.value
        notice = (done if acted else refused).format(id=task_id, state=state)
        await self.counts.fresh()
        return self._back(form, f"/tasks/{task_id}", notice)

    async def retry_shown(self, request: Request) -> Response:
        """Retry every task listed by the failed view the form came from."""
        form = await self._action_form(request)
        ids = [value for value in form.getlist("task_id") if isinstance(value, str)]
        if len(ids) > RETRY_ALL_LIMIT:
            raise HTTPException(400, f"{len(ids)} tasks: at most {RETRY_ALL_LIMIT} at once")
        retried = 0
        for task_id in ids:
            check.check_id(task_id, "task_id")
            with contextlib.suppress(OmniQError):
                retried += await self.oq.retry_async(task_id)
        await self.counts.fresh()
        skipped = len(ids) - retried
        notice = f"{retried} task(s) enqueued again" + (
            f"; {skipped} were no longer failed" if skipped else "")  # fmt: skip
        return self._back(form, "/failed", notice)

    async def steer_schedule(self, request: Request) -> Response:
        """Pause, resume or cancel a schedule."""
        form = await self._action_form(request)
        schedule_id = request.path_params["schedule_id"]
        verb = request.path_params["verb"]
        method = {"pause": self.oq.pause_schedule_async, "resume": self.oq.resume_schedule_async,
                  "cancel": self.oq.cancel_schedule_async}.get(verb)  # fmt: skip
        if method is None:
            raise HTTPException(404, f"no schedule action {verb!r} (pause, resume or cancel)")
        changed = await method(schedule_id)
        schedule = await self.oq.get_schedule_async(schedule_id)
        state = "" if schedule is None else schedule.status.value
        notice = (
            f"schedule {schedule_id} is now {state}"
            if changed
            else f"schedule {schedule_id} is {state}: unchanged"
        )
        return self._back(form, "/schedules", notice)

    # -- signing in ------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        """The sign-in form (GET) and its check (POST)."""
        target = security.local_path(request.query_params.get("next", "/"), "/")
        if self.settings.token is None:
            return RedirectResponse(target, status_code=303)
        error = ""
        if request.method == "POST":
            form = await request.form()
            given = form.get("token")
            if not security.origin_ok(request):
                error = "Sign-in refused: the form came from another site."
            elif isinstance(given, str) and security.token_matches(given, self.settings.token):
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(security.SESSION_COOKIE,
                                    security.session_value(self.settings.token),
                                    httponly=True, samesite="strict")  # fmt: skip
                return response
            else:
                error = "Wrong token."
        return self.render(request, "login.html", {"page": "login", "next": target,
                                                   "error": error},
                           status_code=401 if error else 200)  # fmt: skip

    async def logout(self, request: Request) -> Response:
        """Forget the session cookie."""
        if not security.origin_ok(request):
            raise HTTPException(403, "sign-out refused: the form came from another site")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(security.SESSION_COOKIE)
        return response


def _task_id(request: Request) -> str:
    task_id = str(request.path_params["task_id"])
    check.check_id(task_id, "task_id")
    return task_id


def routes(dashboard: Dashboard) -> list[BaseRoute]:
    """Every route of the dashboard, in one place."""
    d = dashboard
    return [
        Route("/", d.overview, name="overview"),
        Route("/api/activity", d.activity_json, name="activity"),
        Route("/tasks", d.task_list, name="tasks"),
        Route("/tasks/{task_id}", d.task_detail, name="task"),
        Route("/tasks/{task_id}/retry", d.retry, methods=["POST"]),
        Route("/tasks/{task_id}/cancel", d.cancel, methods=["POST"]),
        Route("/failed", d.failed, name="failed"),
        Route("/failed/retry", d.retry_shown, methods=["POST"]),
        Route("/schedules", d.schedules, name="schedules"),
        Route("/schedules/{schedule_id}/{verb}", d.steer_schedule, methods=["POST"]),
        Route("/login", d.login, methods=["GET", "POST"], name="login"),
        Route("/logout", d.logout, methods=["POST"]),
        Route("/metrics", d.metrics, name="metrics"),
        Mount("/static", StaticFiles(packages=[("omniq.dashboard", "static")]), name="static"),
    ]


def create_app(
    oq: OmniQ,
    settings: DashboardSettings,
    extra_routes: Sequence[BaseRoute] = (),
    counter: OmniQ | None = None,
) -> Starlette:
    """The dashboard application over an open OmniQ.

    Args:
        oq: An open OmniQ reading the store for display (pickles never loaded: see
            :func:`omniq.cli.connect.open_omniq`).
        settings: Address, token and mode; checked first.
        extra_routes: More routes (e.g. ``/metrics``); they sit behind the same sign-in.
        counter: A second open OmniQ on the same store that counts for the overview (so a
            long count never delays a page); ``None``: ``oq`` counts too.

    Returns:
        The ASGI app.

    Raises:
        ConfigurationError: Bad settings.
        UnsafeBindError: A non-loopback host without a token.
    """
    settings.check()
    dashboard = Dashboard(oq, settings, counter)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await dashboard.counts.close()

    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(SignInMiddleware, token=settings.token),
    ]
    if is_loopback(settings.host):  # a DNS-rebinding page cannot reach it under its own name
        middleware.insert(1, Middleware(TrustedHostMiddleware, allowed_hosts=_LOOPBACK_HOSTS))
    app = Starlette(
        routes=[*routes(dashboard), *extra_routes],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _error_page(dashboard),
            OmniQError: _error_page(dashboard),
        },
    )
    app.state.dashboard = dashboard
    app.state.started = time.time()
    return app


def _error_page(dashboard: Dashboard) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            status, detail = exc.status_code, str(exc.detail)
        else:  # a refused request: an unknown task or schedule, a bad id...
            missing = isinstance(exc, TaskNotFoundError | ScheduleNotFoundError)
            status, detail = (404 if missing else 400), f"{type(exc).__name__}: {exc}"
        return dashboard.render(request, "error.html", {"page": "", "status": status,
                                                        "detail": detail},
                                status_code=status)  # fmt: skip

    return handle
