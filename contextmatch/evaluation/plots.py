"""Small SVG plots for results files (no plotting dependency): precision-recall curves."""

from __future__ import annotations

from html import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def pr_curve_svg(curves: dict, width: int = 520, height: int = 400, title: str = "Skill-XL report half, top-5") -> str:
    """An SVG of precision (y) against recall (x) for each named curve (``{"points": [{"precision", "recall",
    "threshold"}...], "chosen_threshold": t}``), with the chosen threshold of each marked.

    >>> svg = pr_curve_svg({"a": {"chosen_threshold": 0.5, "points": [
    ...     {"threshold": 0.5, "precision": 0.4, "recall": 0.3}, {"threshold": 0.6, "precision": 0.5, "recall": 0.2}]}})
    >>> svg.startswith("<svg") and svg.count("<polyline") == 1 and svg.count("<circle") == 1
    True
    """
    left, right, top, bottom = 56, 16, 32, 48
    span_x = max([p["recall"] for c in curves.values() for p in c["points"]] + [0.1])
    span_y = max([p["precision"] for c in curves.values() for p in c["points"]] + [0.1])
    span_x, span_y = min(1.0, round(span_x + 0.05, 1)), min(1.0, round(span_y + 0.05, 1))

    def x(value):
        return left + value / span_x * (width - left - right)

    def y(value):
        return height - bottom - value / span_y * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for i in range(6):
        gx, gy = span_x * i / 5, span_y * i / 5
        parts.append(f'<line x1="{x(gx):.1f}" y1="{y(0):.1f}" x2="{x(gx):.1f}" y2="{y(span_y):.1f}" stroke="#ddd"/>')
        parts.append(f'<line x1="{x(0):.1f}" y1="{y(gy):.1f}" x2="{x(span_x):.1f}" y2="{y(gy):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{x(gx):.1f}" y="{height - bottom + 16}" text-anchor="middle">{gx:.2f}</text>')
        parts.append(f'<text x="{left - 6}" y="{y(gy) + 4:.1f}" text-anchor="end">{gy:.2f}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">recall</text>')
    parts.append(f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(top + height - bottom) / 2})">precision</text>')
    for n, (name, curve) in enumerate(curves.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{x(p['recall']):.1f},{y(p['precision']):.1f}" for p in curve["points"])
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        chosen = next((p for p in curve["points"] if p["threshold"] == curve["chosen_threshold"]), None)
        if chosen:
            parts.append(f'<circle cx="{x(chosen["recall"]):.1f}" cy="{y(chosen["precision"]):.1f}" r="5" '
                         f'fill="{colour}"/>')
        parts.append(f'<text x="{width - right - 8}" y="{top + 16 + 16 * n}" text-anchor="end" fill="{colour}">'
                     f'{escape(name)} (dot: chosen threshold)</text>')
    parts.append("</svg>\n")
    return "\n".join(parts)
