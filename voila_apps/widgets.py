"""Building blocks the dashboards share: cards, grids, messages, a small SVG chart."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import ipywidgets as w

STYLE = """
<style>
.dz-card{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;background:#fff;
  font-family:system-ui,sans-serif;min-height:70px}
.dz-card h4{margin:0 0 4px;font-size:14px;color:#1f2328}
.dz-card .dz-value{font-size:26px;font-weight:600;color:#0969da}
.dz-card .dz-note{font-size:12px;color:#57606a}
.dz-message{font-family:system-ui,sans-serif;font-size:13px;padding:6px 10px;border-radius:6px}
.dz-error{background:#ffebe9;color:#82071e}
.dz-info{background:#ddf4ff;color:#0a3069}
.dz-tag{display:inline-block;background:#eaeef2;border-radius:10px;padding:0 8px;
  margin-right:4px;font-size:11px}
</style>
"""


def style() -> w.HTML:
    return w.HTML(STYLE)


def metric_card(title: str, value: str, note: str = "") -> w.HTML:
    return w.HTML(
        f'<div class="dz-card dz-metric"><h4>{escape(title)}</h4>'
        f'<div class="dz-value">{escape(value)}</div>'
        f'<div class="dz-note">{escape(note)}</div></div>'
    )


def card_html(title: str, body: str, tags: Sequence[str] = ()) -> str:
    """A card's HTML; ``body`` is already-escaped HTML."""
    chips = "".join(f'<span class="dz-tag">{escape(t)}</span>' for t in tags)
    return f'<div class="dz-card"><h4>{escape(title)}</h4>{chips}<div>{body}</div></div>'


def grid(children: Sequence[w.Widget], columns: int = 3) -> w.GridBox:
    return w.GridBox(
        list(children),
        layout=w.Layout(grid_template_columns=f"repeat({columns}, 1fr)", grid_gap="10px"),
    )


def message(text: str, kind: str = "info") -> str:
    return f'<div class="dz-message dz-{kind}">{escape(text)}</div>'


def line_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    width: int = 640,
    height: int = 180,
) -> str:
    """An inline SVG line chart; each series is scaled to its own maximum."""
    colours = ["#0969da", "#1a7f37", "#bf3989", "#9a6700"]
    pad = 30
    n = max(len(labels), 2)
    step = (width - 2 * pad) / (n - 1)
    parts = [
        f'<svg class="dz-chart" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui" font-size="11">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#8c959f"/>',
    ]
    for index, (name, values) in enumerate(series.items()):
        known = [v for v in values if v is not None]
        top = max(known) if known and max(known) > 0 else 1.0
        colour = colours[index % len(colours)]
        points = [
            f"{pad + i * step:.1f},{height - pad - (v / top) * (height - 2 * pad):.1f}"
            for i, v in enumerate(values)
            if v is not None
        ]
        if points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
        parts.append(
            f'<text x="{pad + index * 200}" y="14" fill="{colour}">{escape(name)} '
            f"(max {top:g})</text>"
        )
    if labels:
        parts.append(f'<text x="{pad}" y="{height - 8}">{escape(labels[0])}</text>')
        parts.append(
            f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
