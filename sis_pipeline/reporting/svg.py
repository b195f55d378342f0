"""Bar charts as inline SVG, drawn here: the report is one file that opens offline, with no script or font to fetch.

Each bar carries its run and value (`data-run`, `data-value`) and a tooltip, so a reader can hover and
a test can read the chart back.
"""

from html import escape

WIDTH, HEIGHT, MARGIN = 640, 180, 36
STATUS_COLOURS = {"success": "#3b7dd8", "failed": "#d8453b", "held": "#d89a3b", "running": "#999999"}


def bar_chart(title: str, points: list[dict], value_key: str, unit: str = "") -> str:
    """One bar per run (oldest left), coloured by the run's status; a run without the value draws no bar."""
    values = [point[value_key] or 0 for point in points]
    top = max(values, default=0) or 1
    plot_width, plot_height = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    slot = plot_width / max(len(points), 1)
    bars = []
    for position, (point, value) in enumerate(zip(points, values, strict=True)):
        height = plot_height * value / top
        x, y = MARGIN + position * slot + slot * 0.1, MARGIN + plot_height - height
        tooltip = f"{point['started_at'][:16]} {point['status']}: {value:g}{unit}"
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{height:.1f}" '
            f'fill="{STATUS_COLOURS.get(point["status"], "#999999")}" data-run="{escape(point["run_id"])}" '
            f'data-value="{value:g}"><title>{escape(tooltip)}</title></rect>'
        )
    axis = MARGIN + plot_height
    return "\n".join(
        [
            f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" aria-label="{escape(title)}" data-metric="{value_key}">',
            f'<text x="{MARGIN}" y="20" font-size="13" font-family="sans-serif">{escape(title)}</text>',
            f'<line x1="{MARGIN}" y1="{axis}" x2="{WIDTH - MARGIN}" y2="{axis}" stroke="#444"/>',
            f'<text x="{WIDTH - MARGIN}" y="{MARGIN - 4}" font-size="11" text-anchor="end" font-family="sans-serif">'
            f"max {max(values, default=0):g}{unit}</text>",
            *bars,
            f'<text x="{MARGIN}" y="{HEIGHT - 10}" font-size="11" font-family="sans-serif">{len(points)} runs, oldest left</text>',
            "</svg>",
        ]
    )
