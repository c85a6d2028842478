"""The pattern marketplace: featured bundles, categories, ratings, installs."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as w

from api.core.names import API_PREFIX
from voila_apps import widgets
from voila_apps.client import ApiClient, DashboardError

ALL = "All categories"


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def stars(average: float | None, count: int) -> str:
    if average is None:
        return "no ratings yet"
    shown = round(average)
    return f"{'★' * shown}{'☆' * (5 - shown)} {average:.1f} ({counted(count, 'rating')})"


class Marketplace:
    def __init__(self) -> None:
        self.api: ApiClient | None = None
        self.category = w.Dropdown(description="Category", options=[ALL])
        self.query = w.Text(placeholder="Search bundles")
        self.query.continuous_update = False
        self.status = w.HTML(widgets.message("Waiting for the page's visitor…"))
        self.featured = w.VBox([])
        self.bundles = w.VBox([])
        self.bundles.add_class("dz-bundles")
        self.library = w.HTML()
        self.category.observe(lambda _: self.refresh(), names="value")
        self.query.observe(lambda _: self.refresh(), names="value")
        self.widget = w.VBox(
            [
                widgets.style(),
                w.HTML("<h2>Pattern marketplace</h2>"),
                w.HBox([self.category, self.query]),
                self.status,
                self.bundles,
                w.HTML("<h3>Your library from the marketplace</h3>"),
                self.library,
            ]
        )
        self.widget.add_class("dz-marketplace")

    def load(self, api: ApiClient) -> None:
        self.api = api
        try:
            categories = api.get("marketplace/categories")
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        labels = [f"{c['category']} ({c['bundles']})" for c in categories]
        pairs = zip(labels, [c["category"] for c in categories], strict=True)
        self.category.options = [(ALL, ALL), *pairs]
        self.refresh()

    def refresh(self) -> None:
        if self.api is None:
            return
        category = None if self.category.value == ALL else self.category.value
        try:
            bundles = self.api.get("marketplace/bundles", category=category, q=self.query.value)
            library = self.api.get("marketplace/library")
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        featured = sum(1 for b in bundles if b["featured"])
        self.status.value = widgets.message(f"{len(bundles)} bundles, {featured} featured")
        self.bundles.children = [self.card(b) for b in bundles]
        if library:
            items = "".join(
                f"<li>{escape(p['title'])} <i>({escape(p['bundle_title'])})</i></li>"
                for p in library
            )
            self.library.value = f"<ul class='dz-library'>{items}</ul>"
        else:
            self.library.value = widgets.message("Install a free bundle to add its patterns here.")

    def card(self, bundle: dict[str, Any]) -> w.Widget:
        includes = "".join(f"<li>{escape(p['title'])}</li>" for p in bundle["patterns"])
        featured = " · featured" if bundle["featured"] else ""
        body = (
            f"<div>{escape(bundle['description'])}</div>"
            f"<div class='dz-note'>by {escape(bundle['author'])} · "
            f"<b class='dz-price'>{escape(bundle['price_label'])}</b>{featured} · "
            f"{stars(bundle['rating_average'], bundle['rating_count'])} · "
            f"{counted(bundle['downloads'], 'download')}</div><ul>{includes}</ul>"
        )
        html = w.HTML(widgets.card_html(bundle["title"], body, [bundle["category"]]))
        html.add_class("dz-bundle-card")
        result = w.HTML()
        action: w.Widget
        if bundle["price_cents"] == 0 or bundle.get("owned"):
            button = w.Button(
                description="Installed" if bundle["installed"] else "Install",
                button_style="success",
                disabled=bundle["installed"],
            )
            button.on_click(lambda _: self.install(bundle, result))
            action = button
        elif bundle["purchase_available"]:
            # Paying happens at Stripe, from the bundle's page on the platform (same origin).
            action = w.HTML(
                f"<a class='dz-buy jupyter-button mod-primary' target='_blank' rel='noopener' "
                f"href='{API_PREFIX}accounts/billing/bundles/{escape(str(bundle['id']))}'>"
                f"Buy {escape(bundle['price_label'])}</a>"
            )
        else:
            action = w.Button(description=f"Buy {bundle['price_label']}", disabled=True)
            result.value = widgets.message(bundle["purchase_note"] or "")
        rating = w.Dropdown(
            options=[("Rate…", 0)] + [(f"{n} ★", n) for n in range(1, 6)],
            value=bundle["my_rating"] or 0,
            layout=w.Layout(width="110px"),
        )
        rating.observe(lambda change: self.rate(bundle, change["new"], result), names="value")
        return w.VBox([html, w.HBox([action, rating, result])])

    def install(self, bundle: dict[str, Any], result: w.HTML) -> None:
        assert self.api is not None
        try:
            installed = self.api.post(f"marketplace/bundles/{bundle['id']}/install")
        except DashboardError as exc:
            result.value = widgets.message(str(exc), "error")
            return
        result.value = widgets.message(f"Installed: {installed['added_patterns']} patterns added")
        self.refresh()

    def rate(self, bundle: dict[str, Any], value: int, result: w.HTML) -> None:
        if not value or self.api is None:
            return
        try:
            self.api.put(f"marketplace/bundles/{bundle['id']}/rating", {"stars": value})
        except DashboardError as exc:
            result.value = widgets.message(str(exc), "error")
            return
        self.refresh()
