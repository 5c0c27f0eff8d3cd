"""An SVG bar chart of human, proxy and machine events per hour, drawn on the server.

Suppressed cells ("< k") are drawn as dashed outlines at the height of k, so the chart never
shows a small figure it may not show as a number. The page puts the same figures in a table
beside it, for screen readers and for reading without pictures.
"""

from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["COLOURS", "render_chart"]

COLOURS = {"human": "#1b6e3a", "proxy": "#2b5fb4", "machine": "#b3541e"}
_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 720, 240, 48, 40, 16


def render_chart(hourly: Sequence[dict[str, Any]], kind: str, k: int, title: str) -> str:
    """``hourly`` entries as the report gives them; ``kind`` is 'opens' or 'clicks'."""
    values = [[entry[kind][v] for v in COLOURS] for entry in hourly]
    top = max([k, *(v for row in values for v in row if v is not None)])
    slot = (_WIDTH - _LEFT - 8) / max(len(hourly), 1)
    bar = max(min(slot / 4, 18), 2)
    plot = _HEIGHT - _BOTTOM - _TOP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img"'
        f' aria-labelledby="chart-{kind}-title" class="chart">',
        f'<title id="chart-{kind}-title">{escape(title)}</title>',
        f'<line x1="{_LEFT}" y1="{_HEIGHT - _BOTTOM}" x2="{_WIDTH - 4}" y2="{_HEIGHT - _BOTTOM}"'
        ' stroke="#555" stroke-width="1"/>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{_LEFT - 6}" y="{_HEIGHT - _BOTTOM}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, (entry, row) in enumerate(zip(hourly, values, strict=True)):
        x0 = _LEFT + index * slot + (slot - 3 * bar) / 2
        for offset, (verdict, value) in enumerate(zip(COLOURS, row, strict=True)):
            parts.append(_bar(x0 + offset * bar, bar, value, top, plot, k, verdict))
        if len(hourly) <= 24 or index % max(len(hourly) // 12, 1) == 0:
            label = entry["hour"][5:13].replace("T", " ") + "h"
            parts.append(
                f'<text x="{x0 + 1.5 * bar:.1f}" y="{_HEIGHT - _BOTTOM + 14}"'
                f' text-anchor="middle" font-size="10">{escape(label)}</text>'
            )
    for offset, (verdict, colour) in enumerate(COLOURS.items()):
        x = _LEFT + offset * 110
        parts.append(
            f'<rect x="{x}" y="{_HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{_HEIGHT - 5}" font-size="11">{verdict}</text>'
        )
    parts.append(
        f'<text x="{_LEFT + 340}" y="{_HEIGHT - 5}" font-size="11">'
        f"dashed: fewer than {k}, not shown</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(
    x: float, width: float, value: int | None, top: int, plot: float, k: int, verdict: str
) -> str:
    base = _HEIGHT - _BOTTOM
    if value is None:
        height = plot * k / top
        return (
            f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{width - 1:.1f}"'
            f' height="{height:.1f}" fill="none" stroke="{COLOURS[verdict]}"'
            f' stroke-dasharray="3 2"><title>{verdict}: fewer than {k}</title></rect>'
        )
    height = plot * value / top
    return (
        f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{width - 1:.1f}"'
        f' height="{height:.1f}" fill="{COLOURS[verdict]}">'
        f"<title>{verdict}: {value}</title></rect>"
    )
