"""The orchestration view: a job's agent graph, tasks, quality gates and live log."""

from __future__ import annotations

import asyncio
import contextlib
from html import escape
from typing import Any

import ipywidgets as w

from voila_apps import widgets
from voila_apps.client import ApiClient, DashboardError

STATUS_COLOURS = {"done": "#1a7f37", "running": "#0969da", "failed": "#cf222e"}
REFRESH_ON = ("step.completed", "gate.result", "project.finished", "job.attempt", "project.failed")
LOG_LINES = 300
POLL_SECONDS = 2.0


def graph_svg(hierarchy: dict[str, list[str]], status: dict[str, str]) -> str:
    """Orchestrator on top, phases below, their agents at the bottom, coloured by status."""
    root = "orchestrator"
    phases = hierarchy.get(root, [])
    leaves = [(phase, agent) for phase in phases for agent in hierarchy.get(phase, [])]
    width, height, box_w = max(120 * len(leaves), 400), 200, 108
    parts = [
        f'<svg class="dz-graph" width="{width}" height="{height}" font-size="11" '
        'font-family="system-ui" xmlns="http://www.w3.org/2000/svg">'
    ]
    status = dict(status)
    for phase in phases:
        states = {status.get(agent, "pending") for agent in hierarchy.get(phase, [])}
        status[phase] = next(
            (s for s in ("failed", "running") if s in states),
            "done" if states == {"done"} else "pending",
        )
    centre = {root: (width / 2, 20)}
    for i, phase in enumerate(phases):
        centre[phase] = ((i + 0.5) * width / max(len(phases), 1), 95)
    for i, (_, agent) in enumerate(leaves):
        centre[agent] = ((i + 0.5) * width / max(len(leaves), 1), 170)
    for parent, children in hierarchy.items():
        for child in children:
            (x1, y1), (x2, y2) = centre[parent], centre[child]
            parts.append(
                f'<line x1="{x1}" y1="{y1 + 12}" x2="{x2}" y2="{y2 - 12}" stroke="#8c959f"/>'
            )
    for name, (x, y) in centre.items():
        colour = STATUS_COLOURS.get(status.get(name, ""), "#6e7781")
        parts.append(
            f'<rect x="{x - box_w / 2}" y="{y - 12}" width="{box_w}" height="24" rx="6" '
            f'fill="white" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{x}" y="{y + 4}" text-anchor="middle" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _timing(task: dict[str, Any]) -> str:
    return "" if task["timing_ms"] is None else f"{task['timing_ms']:.0f} ms"


def tasks_html(tasks: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(t['agent'])}</td><td class='dz-status-{t['status']}'>{t['status']}"
        f"</td><td>{_timing(t)}</td><td>{escape(t['decision'] or '')}</td></tr>"
        for t in tasks
    )
    return (
        "<table class='dz-tasks'><tr><th>agent</th><th>status</th><th>time</th>"
        f"<th>decision</th></tr>{rows}</table>"
    )


def gates_html(gates: list[dict[str, Any]]) -> str:
    if not gates:
        return widgets.message("No quality gate has run yet.")
    rows = "".join(
        f"<tr><td>{escape(g['gate'])}</td><td>{'passed' if g['passed'] else 'FAILED'}</td>"
        f"<td>{escape(', '.join(f'{k}={v}' for k, v in g['metrics'].items()))}</td></tr>"
        for g in gates
    )
    head = "<tr><th>gate</th><th>result</th><th>metrics</th></tr>"
    return f"<table class='dz-gates'>{head}{rows}</table>"


def queue_html(queue: dict[str, Any]) -> str:
    """The pool the visitor's jobs run in; an organisation's admins see all its jobs."""
    whose = "Your organisation's" if queue["pool"] == "organisation" else "Your"
    head = (
        f"<p>{whose} generation pool runs {queue['size']} job(s) at once: "
        f"{queue['running']} running, {queue['waiting']} waiting.</p>"
    )
    if not queue["jobs"]:
        return head
    rows = "".join(
        f"<tr><td>{escape(job['description'][:80])}</td><td>{escape(job['owner'])}</td>"
        f"<td>{job['state']}</td><td>{job['slot'] + 1}</td></tr>"
        for job in queue["jobs"]
    )
    columns = "<tr><th>job</th><th>owner</th><th>state</th><th>slot</th></tr>"
    return f"{head}<table class='dz-queue'>{columns}{rows}</table>"


class OrchestrationView:
    def __init__(self) -> None:
        self.api: ApiClient | None = None
        self.project_id: str | None = None
        self.follow_task: asyncio.Task[None] | None = None
        self.poll_task: asyncio.Task[None] | None = None
        self.lines: list[str] = []
        self.projects = w.Dropdown(description="Job", options=[], layout=w.Layout(width="60%"))
        self.follow_newest = w.Checkbox(value=True, description="Follow my newest job")
        self.status = w.HTML(widgets.message("Waiting for the page's visitor…"))
        self.progress = w.FloatProgress(min=0, max=1, description="Progress")
        self.graph = w.HTML()
        self.tasks = w.HTML()
        self.gates = w.HTML()
        self.queue = w.HTML()
        self.log = w.HTML()
        self.log.add_class("dz-log")
        self.projects.observe(self._picked, names="value")
        self.widget = w.VBox(
            [
                widgets.style(),
                w.HTML("<h2>Agent orchestration</h2>"),
                w.HBox([self.projects, self.follow_newest]),
                self.status,
                self.progress,
                w.HTML("<h3>Agent hierarchy</h3>"),
                self.graph,
                w.HTML("<h3>Task queue</h3>"),
                self.tasks,
                w.HTML("<h3>Quality gates</h3>"),
                self.gates,
                w.HTML("<h3>Live log</h3>"),
                self.log,
                w.HTML("<h3>Generation pool</h3>"),
                self.queue,
            ]
        )
        self.widget.add_class("dz-orchestration")

    def load(self, api: ApiClient) -> None:
        self.api = api
        self.refresh_projects()
        self.poll_task = asyncio.ensure_future(self._poll_projects())

    def refresh_projects(self) -> None:
        assert self.api is not None
        try:
            projects = self.api.get("projects")
            self.queue.value = queue_html(self.api.get("dashboards/queue"))
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        options = [(f"{p['description'][:60]} · {p['status']}", p["id"]) for p in projects]
        if not options:
            self.status.value = widgets.message(
                "No generation jobs yet: start one from JupyterLab or the api; it appears here."
            )
            return
        current = self.projects.value
        self.projects.options = options
        newest = options[0][1]
        if self.follow_newest.value and newest != self.project_id:
            self.projects.value = newest
        elif current in [value for _, value in options]:
            self.projects.value = current

    async def _poll_projects(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            self.refresh_projects()

    def _picked(self, change: dict[str, Any]) -> None:
        project_id = change["new"]
        if project_id is None or project_id == self.project_id:
            return
        self.project_id = project_id
        self.lines = []
        self.log.value = ""
        if self.follow_task is not None:
            self.follow_task.cancel()
        self.refresh_summary()
        self.follow_task = asyncio.ensure_future(self._follow(project_id))

    def refresh_summary(self) -> None:
        assert self.api is not None and self.project_id is not None
        try:
            summary = self.api.get(f"dashboards/orchestration/{self.project_id}")
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        status = {t["agent"]: t["status"] for t in summary["tasks"]}
        self.status.value = widgets.message(f"{summary['description'][:120]} — {summary['status']}")
        self.progress.value = summary["progress"]
        self.graph.value = graph_svg(summary["hierarchy"], status)
        self.tasks.value = tasks_html(summary["tasks"])
        self.gates.value = gates_html(summary["gates"])

    async def _follow(self, project_id: str) -> None:
        assert self.api is not None
        with contextlib.suppress(asyncio.CancelledError):
            try:
                async for event in self.api.follow(f"ws/orchestration/{project_id}"):
                    self.add_line(event)
                    if event["type"] in REFRESH_ON:
                        self.refresh_summary()
            except Exception as exc:  # shown to the visitor, not raised
                self.status.value = widgets.message(f"The live log stopped: {exc}", "error")

    def add_line(self, event: dict[str, Any]) -> None:
        step = f" [{event['step']}]" if event.get("step") else ""
        detail = event.get("payload", {}).get("path") or ""
        self.lines.append(f"#{event['seq']} {event['type']}{step} {detail}".rstrip())
        self.lines = self.lines[-LOG_LINES:]
        body = "\n".join(escape(line) for line in reversed(self.lines))
        self.log.value = (
            f"<pre class='dz-log-lines' style='max-height:260px;overflow:auto'>{body}</pre>"
        )
