"""The neural dashboard: metrics, learning curve and the pattern explorer."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as w

from voila_apps import widgets
from voila_apps.client import ApiClient, DashboardError


def success_rate(pattern: dict[str, Any]) -> str:
    trials = int(pattern["success_count"]) + int(pattern["failure_count"])
    return f"{pattern['success_count'] / trials:.0%}" if trials else "no outcomes yet"


class NeuralDashboard:
    def __init__(self) -> None:
        self.api: ApiClient | None = None
        self.title = w.HTML("<h2>Neural dashboard</h2>")
        self.metrics = widgets.grid([], columns=3)
        self.formula = w.HTML()
        self.curve = w.HTML()
        self.search = w.Text(placeholder="Search patterns, e.g. retry with backoff")
        self.search.continuous_update = False
        self.search.add_class("dz-search")
        self.search_button = w.Button(description="Search", icon="search")
        self.status = w.HTML()
        self.cards = w.VBox([])
        self.cards.add_class("dz-cards")
        self.search.observe(lambda _: self.run_search(), names="value")
        self.search_button.on_click(lambda _: self.run_search())
        self.widget = w.VBox(
            [
                widgets.style(),
                self.title,
                self.metrics,
                self.formula,
                w.HTML("<h3>Learning curve (30 days)</h3>"),
                self.curve,
                w.HTML("<h3>Pattern explorer</h3>"),
                w.HBox([self.search, self.search_button]),
                self.status,
                self.cards,
            ]
        )
        self.widget.add_class("dz-neural")

    def load(self, api: ApiClient) -> None:
        self.api = api
        try:
            me = api.get("me")
            metrics = api.get("dashboards/metrics")
            curve = api.get("dashboards/learning-curve", days=30)
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        self.title.value = f"<h2>Neural dashboard — {escape(me['name'])}</h2>"
        self.show_metrics(metrics)
        points = curve["points"]
        self.curve.value = widgets.line_chart(
            [p["day"] for p in points],
            {
                "patterns": [p["patterns"] for p in points],
                "gate pass rate": [p["pass_rate"] for p in points],
            },
        )
        self.run_search()

    def show_metrics(self, m: dict[str, Any]) -> None:
        quality = "—" if m["quality_score"] is None else f"{m['quality_score']:.0%}"
        self.metrics.children = [
            widgets.metric_card("Patterns learned", str(m["patterns_learned"]), "beyond the seed"),
            widgets.metric_card("Library size", str(m["library_size"]), "patterns you can use"),
            widgets.metric_card(
                "Projects accelerated",
                str(m["projects_accelerated"]),
                f"of {m['projects_total']} generated",
            ),
            widgets.metric_card("Hours saved", f"{m['hours_saved']:g} h", "estimated"),
            widgets.metric_card(
                "Cost saved", f"{m['cost_saved']:,.2f} {m['currency']}", "estimated"
            ),
            widgets.metric_card(
                "Quality score", quality, f"gate pass rate over {m['gates_run']} gates"
            ),
        ]
        self.formula.value = f'<p class="dz-formula"><i>{escape(m["formula"])}</i></p>'

    def run_search(self) -> None:
        if self.api is None:
            return
        query = self.search.value.strip()
        try:
            if query:
                found = self.api.post("patterns/search", {"query": query, "limit": 12})
                patterns = [r["pattern"] for r in found["results"]]
                summary = f"{len(patterns)} patterns for “{query}”"
            else:
                page = self.api.get("patterns", limit=12)
                patterns = page["items"]
                summary = (
                    f"{len(patterns)} of the {page['total']} patterns in your library; "
                    "search to find the rest"
                )
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        self.status.value = widgets.message(summary)
        self.cards.children = [self.card(p) for p in patterns]

    def card(self, pattern: dict[str, Any]) -> w.Widget:
        body = (
            f"<div>{escape(pattern['description'][:220])}</div>"
            f'<div class="dz-note">uses: {pattern["usage_count"]} · '
            f"success rate: {success_rate(pattern)}</div>"
        )
        html = w.HTML(
            widgets.card_html(
                pattern["title"], body, [pattern["kind"], pattern["language"], *pattern["tags"][:3]]
            )
        )
        html.add_class("dz-pattern-card")
        button = w.Button(description="Use this pattern", button_style="primary")
        result = w.HTML()
        button.on_click(lambda _: self.use(pattern, result))
        return w.VBox([html, w.HBox([button, result])])

    def use(self, pattern: dict[str, Any], result: w.HTML) -> None:
        assert self.api is not None
        try:
            applied = self.api.post(f"patterns/{pattern['id']}/apply")
        except DashboardError as exc:
            result.value = widgets.message(str(exc), "error")
            return
        files = ", ".join(f["path"] for f in applied["pattern"]["files"])
        result.value = widgets.message(f"Use recorded. Files: {files}")
