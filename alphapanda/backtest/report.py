"""The backtest report as a terminal table and as one self-contained HTML page.

The page has no script and loads nothing: the charts are inline SVG drawn here (equity and
drawdown over event time per broker, total PnL per strategy), so it opens on a machine without
internet and can be mailed as one file.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

__all__ = ["format_table", "render_html"]

COLUMNS = [
    ("trades", "trades", "{:d}"), ("win_rate", "win %", "pct"), ("realized_pnl", "realized", "{:,.2f}"),
    ("unrealized_pnl", "unrealized", "{:,.2f}"), ("total_pnl", "total", "{:,.2f}"),
    ("commissions", "commissions", "{:,.2f}"), ("max_drawdown", "max DD", "{:,.2f}"),
    ("sharpe", "Sharpe", "{:.2f}"), ("exposure_time", "exposure", "pct"),
]


def _cell(value, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "pct":
        return f"{value * 100:.1f}%"
    return fmt.format(value)


def _rows(report: dict) -> list[tuple[str, str, dict]]:
    rows = []
    for strategy_id, stats in report["strategies"].items():
        for broker, per_broker in stats["brokers"].items():
            rows.append((strategy_id, broker, per_broker))
    for broker, stats in report["broker_stats"].items():
        rows.append(("ALL", broker, stats))
    return rows


def format_table(report: dict) -> str:
    header = ["strategy", "broker"] + [label for _, label, _ in COLUMNS]
    body = [[s, b] + [_cell(stats.get(key), fmt) for key, _, fmt in COLUMNS] for s, b, stats in _rows(report)]
    widths = [max(len(str(row[i])) for row in [header] + body) for i in range(len(header))]
    lines = [
        f"backtest of {report['tape']}: {report['ticks']:,} ticks ({report['invalid_lines']} invalid lines), "
        f"{report['fills']:,} fills, {report['first_tick_at']} .. {report['last_tick_at']}, "
        f"{report['wall_seconds']:.1f} s",
        "  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))),
    ]
    for row in body:
        lines.append("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    for name, summary in report["brokers"].items():
        lines.append(f"{name} portfolio at the end: realized {summary['realized_pnl']:,.2f}, unrealized "
                     f"{summary['unrealized_pnl']:,.2f}, total {summary['total_pnl']:,.2f}, "
                     f"{summary['fills']} fills")
    lines.append(f"Sharpe: {report['definitions']['sharpe']}")
    return "\n".join(lines)


# -- SVG ---------------------------------------------------------------------------------------

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
WIDTH, HEIGHT, PAD = 860, 260, 48


def _parse(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def _line_chart(title: str, series: dict[str, list[list]], *, fill_below_zero: bool = False) -> str:
    points = [(_parse(at), value) for pts in series.values() for at, value in pts]
    if not points:
        return f'<figure><figcaption>{html.escape(title)}</figcaption><p class="empty">no data</p></figure>'
    xs, ys = [p[0] for p in points], [p[1] for p in points] + [0.0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return PAD + (y1 - y) / (y1 - y0) * (HEIGHT - 2 * PAD)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
             f'<line class="axis" x1="{PAD}" y1="{sy(0):.1f}" x2="{WIDTH - PAD}" y2="{sy(0):.1f}"/>']
    for value in (y0, y1):
        parts.append(f'<text class="tick" x="{PAD - 4}" y="{sy(value) + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
    for x, anchor in ((x0, "start"), (x1, "end")):
        label = datetime.fromtimestamp(x, timezone.utc).strftime("%Y-%m-%d %H:%M")
        parts.append(f'<text class="tick" x="{sx(x):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="{anchor}">{label}</text>')
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(_parse(at)):.1f},{sy(v):.1f}" for at, v in pts)
        if fill_below_zero and pts:
            first, last = sx(_parse(pts[0][0])), sx(_parse(pts[-1][0]))
            parts.append(f'<polygon fill="{color}" fill-opacity="0.25" points="{first:.1f},{sy(0):.1f} {path} {last:.1f},{sy(0):.1f}"/>')
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        legend.append(f'<span style="color:{color}">&#9632;</span> {html.escape(name)}')
    parts.append("</svg>")
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}<div class="legend">{" ".join(legend)}</div></figure>'


def _drawdowns(series: dict[str, list[list]]) -> dict[str, list[list]]:
    out = {}
    for name, pts in series.items():
        peak, rows = float("-inf"), []
        for at, value in pts:
            peak = max(peak, value)
            rows.append([at, value - peak])
        out[name] = rows
    return out


def _bar_chart(title: str, bars: list[tuple[str, float]]) -> str:
    if not bars:
        return f'<figure><figcaption>{html.escape(title)}</figcaption><p class="empty">no trades</p></figure>'
    row, label_w = 26, 220
    height = PAD + row * len(bars)
    top = max(max(abs(v) for _, v in bars), 1e-9)
    mid = label_w + (WIDTH - label_w - PAD) / 2
    half = (WIDTH - label_w - PAD) / 2
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{html.escape(title)}">',
             f'<line class="axis" x1="{mid:.1f}" y1="8" x2="{mid:.1f}" y2="{height - 8}"/>']
    for i, (name, value) in enumerate(bars):
        y = 16 + i * row
        w = abs(value) / top * half
        x = mid if value >= 0 else mid - w
        color = "#2ca02c" if value >= 0 else "#d62728"
        parts.append(f'<text class="tick" x="{label_w - 8}" y="{y + 13}" text-anchor="end">{html.escape(name)}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{color}"/>')
        # Beside the bar's end, on the other side of the axis for a loss: never over the label.
        tx, anchor = (x + w + 4, "start") if value >= 0 else (mid + 4, "start")
        parts.append(f'<text class="tick" x="{tx:.1f}" y="{y + 13}" text-anchor="{anchor}">{value:,.2f}</text>')
    parts.append("</svg>")
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}</figure>'


def render_html(report: dict) -> str:
    curves = report["curves"]
    brokers = curves["brokers"]
    bars = [(f"{s} ({b})", stats["total_pnl"]) for s, st in report["strategies"].items()
            for b, stats in st["brokers"].items()]
    header = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS)
    rows = "".join(
        f"<tr><td>{html.escape(s)}</td><td>{html.escape(b)}</td>"
        + "".join(f'<td class="num">{_cell(stats.get(key), fmt)}</td>' for key, _, fmt in COLUMNS) + "</tr>"
        for s, b, stats in _rows(report)
    )
    definitions = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in report["definitions"].items())
    summary = (f"{report['ticks']:,} ticks ({report['invalid_lines']} invalid lines), {report['fills']:,} fills, "
               f"event time {report['first_tick_at']} to {report['last_tick_at']}; starting cash "
               f"{report['starting_cash']:,.0f} per broker")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest: {html.escape(report['tape'])}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; }}
table {{ border-collapse: collapse; width: 100%; margin: 1em 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 1.5em 0; }} figcaption {{ font-weight: 600; margin-bottom: .3em; }}
svg {{ width: 100%; height: auto; background: #fafafa; }}
.axis {{ stroke: #999; stroke-width: 1; }} .tick {{ font-size: 11px; fill: #555; }}
.legend {{ font-size: 12px; }} .empty {{ color: #888; }} dt {{ font-weight: 600; }} dd {{ margin: 0 0 .5em 1em; }}
</style></head><body>
<h1>Backtest of {html.escape(report['tape'])}</h1>
<p>{html.escape(summary)}</p>
<table><thead><tr><th>strategy</th><th>broker</th>{header}</tr></thead><tbody>{rows}</tbody></table>
{_line_chart("Equity over event time (realized + unrealized PnL), per broker", brokers)}
{_line_chart("Drawdown from the running peak, per broker", _drawdowns(brokers), fill_below_zero=True)}
{_line_chart("Equity per strategy", curves["strategies"])}
{_bar_chart("Total PnL per strategy", bars)}
<h2>Definitions</h2><dl>{definitions}</dl>
</body></html>
"""
