"""The billing dashboard, for platform admins: subscriptions by plan, MRR, trials and their
conversion, churn, usage per plan, the largest organisations and paid bundle revenue.

The numbers come from ``GET /dashboards/billing`` (``api.billing.analytics`` says what each
means); anyone but a platform admin gets the api's refusal as a message.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as w

from voila_apps import widgets
from voila_apps.client import ApiClient, DashboardError


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency.upper()}"


def share(rate: float) -> str:
    return f"{rate:.1%}"


def table(css: str, head: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are escaped here."""
    top = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table class='{css}'><tr>{top}</tr>{body}</table>"


def plans_html(data: dict[str, Any]) -> str:
    statuses = sorted({s for plan in data["plans"] for s in plan["statuses"]})
    rows = [
        [
            plan["plan_name"],
            *(str(plan["statuses"].get(s, 0)) for s in statuses),
            str(plan["total"]),
            str(plan["seats"]),
            money(plan["mrr_cents"], data["currency"]),
        ]
        for plan in data["plans"]
    ]
    return table("dz-billing-plans", ["plan", *statuses, "total", "seats", "MRR"], rows)


def usage_html(data: dict[str, Any]) -> str:
    meters = sorted({m for plan in data["usage"] for m in plan["meters"]})
    rows = [
        [plan["plan_name"], str(plan["people"]), *(f"{plan['meters'][m]:,}" for m in meters)]
        for plan in data["usage"]
    ]
    return table("dz-billing-usage", ["plan", "people", *meters], rows)


def organisations_html(data: dict[str, Any]) -> str:
    if not data["organisations"]:
        return widgets.message("No organisations yet.")
    rows = [
        [
            org["name"],
            org["slug"],
            org["plan_code"] or "—",
            str(org["members"]),
            "no cap" if org["seats"] is None else str(org["seats"]),
            str(org["subscribed_seats"]),
        ]
        for org in data["organisations"]
    ]
    head = ["organisation", "slug", "plan", "members", "seat cap", "subscribed seats"]
    return table("dz-billing-organisations", head, rows)


def definitions_html(data: dict[str, Any]) -> str:
    items = "".join(
        f"<li><b>{escape(name)}</b>: {escape(text)}</li>"
        for name, text in data["definitions"].items()
    )
    return f"<ul class='dz-billing-definitions dz-note'>{items}</ul>"


class BillingDashboard:
    def __init__(self) -> None:
        self.status = w.HTML(widgets.message("Waiting for the page's visitor…"))
        self.cards = widgets.grid([], columns=4)
        self.plans = w.HTML()
        self.usage_title = w.HTML("<h3>Usage per plan</h3>")
        self.usage = w.HTML()
        self.organisations = w.HTML()
        self.definitions = w.HTML()
        self.widget = w.VBox(
            [
                widgets.style(),
                w.HTML("<h2>Billing</h2>"),
                self.status,
                self.cards,
                w.HTML("<h3>Subscriptions by plan and status</h3>"),
                self.plans,
                self.usage_title,
                self.usage,
                w.HTML("<h3>Largest organisations</h3>"),
                self.organisations,
                w.HTML("<h3>What the numbers mean</h3>"),
                self.definitions,
            ]
        )
        self.widget.add_class("dz-billing")

    def load(self, api: ApiClient) -> None:
        try:
            data = api.get("dashboards/billing")
        except DashboardError as exc:
            self.status.value = widgets.message(str(exc), "error")
            return
        self.show(data)

    def show(self, data: dict[str, Any]) -> None:
        currency = data["currency"]
        days = data["window_days"]
        trials, churn, bundles = data["trials"], data["churn"], data["bundles"]
        self.status.value = widgets.message(
            f"As of {data['generated_at'][:16].replace('T', ' ')} UTC; trials, churn and "
            f"window revenue over the last {days} days; amounts in {currency.upper()}."
        )
        self.cards.children = [
            widgets.metric_card(
                "MRR",
                money(data["mrr_cents"], currency),
                f"ARR {money(data['arr_cents'], currency)}",
            ),
            widgets.metric_card(
                "Active subscriptions",
                str(data["active"]),
                f"{data['past_due']} past due · {data['subscriptions']} in all",
            ),
            widgets.metric_card("Trials now", str(trials["now"]), "trialing subscriptions"),
            widgets.metric_card(
                "Trial conversion",
                share(trials["conversion_rate"]),
                f"{trials['converted']} of {trials['ended']} trials ended in {days} days",
            ),
            widgets.metric_card(
                "Churn",
                share(churn["rate"]),
                f"{churn['churned']} of {churn['active_at_start']} paying; "
                f"{churn['canceled']} canceled in all",
            ),
            widgets.metric_card(
                "Bundle revenue",
                money(bundles["net_cents"], currency),
                f"net of {bundles['refunds']} refunds; "
                f"{money(bundles['net_cents_in_window'], currency)} in {days} days",
            ),
        ]
        self.plans.value = plans_html(data)
        self.usage_title.value = (
            f"<h3>Usage per plan (the {data['usage_days']} days from {data['usage_from']})</h3>"
        )
        self.usage.value = usage_html(data)
        self.organisations.value = organisations_html(data)
        self.definitions.value = definitions_html(data)
