"""Charts drawn on the server as SVG (no script: nothing to allow in the CSP, and they
print). Colours from the DSFR's illustrative palette; each chart is an image whose
description is the table's summary, and the table itself follows it on the page."""

from __future__ import annotations

from markupsafe import Markup, escape

from backoffice.statistics.tables import Table

# DSFR tints: bleu France, menthe, terre battue, glycine, moutarde, cumulus, bourgeon,
# rouge Marianne, archipel, macaron (one per step of the longest démarche and more)
PALETTE = ("#000091", "#009081", "#ce614a", "#a558a0", "#c3992a", "#417dc4", "#68a532",
           "#e1000f", "#009099", "#e18b76")
WIDTH = 720
LEGEND_LINE = 18


def _legend_height(names: list[str]) -> int:
    lines, x = 1, 60
    for name in names:
        if x + 28 + 7 * len(name) > WIDTH:
            lines, x = lines + 1, 60
        x += 28 + 7 * len(name)
    return lines * LEGEND_LINE


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 1.0
    while top / step > 5:
        step *= 2 if str(int(step))[0] in "15" else 2.5
    return [i * step for i in range(int(top // step) + 2)]


def _frame(table: Table, height: int, body: str) -> Markup:
    title_id, desc_id = f"graphique-{table.id}-titre", f"graphique-{table.id}-resume"
    # every text drawn in the SVG went through escape(); the rest are numbers we computed
    return Markup(  # noqa: S704  # nosec B704
        f'<svg class="stat-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(table.title)}</title>'
        f'<desc id="{desc_id}">{escape(table.summary)}</desc>{body}</svg>')


def _legend(names: list[str], y: int) -> str:
    """Colour keys, on as many lines as they need (LEGEND_LINE apart)."""
    parts, x = [], 60
    for i, name in enumerate(names):
        if x + 28 + 7 * len(name) > WIDTH:
            x, y = 60, y + LEGEND_LINE
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{x + 16}" y="{y + 11}" font-size="12">{escape(name)}</text>')
        x += 28 + 7 * len(name)
    return "".join(parts)


def lines(table: Table) -> Markup:
    series = table.columns[1:]
    left, top, bottom = 50, 10, 230
    height = bottom + 30 + _legend_height(series) + 6
    top_value = max([_number(v) for r in table.rows for v in r[1:]] + [1])
    ticks = _ticks(top_value)
    scale = (bottom - top) / (ticks[-1] or 1)
    n = max(len(table.rows) - 1, 1)
    x_of = lambda i: left + i * (WIDTH - left - 20) / n  # noqa: E731
    parts = []
    for t in ticks:
        y = bottom - t * scale
        parts.append(f'<line x1="{left}" x2="{WIDTH - 20}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#dddddd"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{t:g}</text>')
    every = max(len(table.rows) // 8, 1)
    for i, row in enumerate(table.rows):
        if i % every == 0:
            parts.append(f'<text x="{x_of(i):.1f}" y="{bottom + 16}" font-size="11" '
                         f'text-anchor="middle">{escape(str(row[0])[:5])}</text>')
    for j, _ in enumerate(series):
        points = " ".join(f"{x_of(i):.1f},{bottom - _number(r[j + 1]) * scale:.1f}"
                          for i, r in enumerate(table.rows))
        parts.append(f'<polyline fill="none" stroke="{PALETTE[j % len(PALETTE)]}" '
                     f'stroke-width="2" points="{points}"/>')
    parts.append(_legend(series, bottom + 30))
    return _frame(table, height, "".join(parts))


def bars(table: Table, stacked: bool = False) -> Markup:
    columns = table.columns[table.value:] if stacked else [table.columns[table.value]]
    rows = table.rows
    label_width, bar_height = 200, 22
    height = max(len(rows), 1) * (bar_height + 6) + (
        20 + _legend_height(list(columns)) if stacked else 14)
    totals = [sum(_number(v) for v in r[table.value:]) if stacked else _number(r[table.value])
              for r in rows]
    scale = (WIDTH - label_width - 70) / (max(totals + [1]))
    parts = []
    for i, row in enumerate(rows):
        y = 6 + i * (bar_height + 6)
        parts.append(f'<text x="{label_width - 8}" y="{y + 15}" font-size="12" '
                     f'text-anchor="end">{escape(str(row[0])[:30])}</text>')
        x: float = label_width
        values = row[table.value:] if stacked else [row[table.value]]
        for j, value in enumerate(values):
            w = _number(value) * scale
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"/>')
            x += w
        shown = totals[i] if stacked else row[table.value]
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" font-size="12">'
                     f'{escape("—" if shown is None else f"{shown:g}")}</text>')
    if stacked:
        parts.append(_legend(list(columns), height - _legend_height(list(columns)) - 4))
    return _frame(table, height, "".join(parts))


def render(table: Table) -> Markup | None:
    if table.chart == "lines" and table.rows:
        return lines(table)
    if table.chart in ("bars", "stacked") and table.rows:
        return bars(table, stacked=table.chart == "stacked")
    return None
