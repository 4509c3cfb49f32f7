"""The viewer's HTML: small server-rendered pages; the charts draw themselves from the JSON (static/viewer.js).

Every value from a request or the store is escaped; the chart's settings travel as JSON in a non-executed script
element, so no value is ever spliced into JavaScript.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import urlencode

import numpy as np

from oid_sync_dagster.local_cdf.viewer import static
from oid_sync_dagster.local_cdf.viewer.params import WINDOWS


def _layout(title: str, body: str, *, charts: bool = False, nav: bool = True) -> str:
    scripts = ""
    if charts:
        scripts = (f'<script src="{static.PLOTLY_PATH}"></script>'
                   f'<script src="{static.VIEWER_JS_PATH}" defer></script>')  # fmt: skip
    links = '<nav><a href="/">Projects</a> <a href="/logout">Log out</a></nav>' if nav else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} - local CDF viewer</title>"
        f'<link rel=stylesheet href="{static.VIEWER_CSS_PATH}">{scripts}</head>'
        f"<body><header><strong>Local CDF viewer</strong>{links}</header><main>{body}</main></body></html>"
    )


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return str(np.datetime64(ms, "ms").astype("datetime64[s]")).replace("T", " ") + " UTC"


def _lag(ms: int | None) -> str:
    if ms is None:
        return "-"
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    minutes = ms // 60_000
    if minutes < 120:
        return f"{sign}{minutes} min" if minutes else f"{sign}{ms // 1000} s"
    hours = minutes / 60
    return f"{sign}{hours:.1f} h" if hours < 72 else f"{sign}{hours / 24:.1f} d"


def login(next_url: str, message: str | None = None) -> str:
    error = f"<p class=error role=alert>{escape(message)}</p>" if message else ""
    body = (
        "<h1>Log in</h1>"
        "<p>The viewer takes the same client credentials as the local CDF's token endpoint "
        "(printed by <code>oid-sync local-cdf</code>).</p>"
        f"{error}<form method=post action=/login>"
        f'<input type=hidden name=next value="{escape(next_url)}">'
        "<label>Client id <input name=client_id autocomplete=username required></label>"
        "<label>Client secret <input name=client_secret type=password autocomplete=current-password required></label>"
        "<button type=submit>Log in</button></form>"
    )
    return _layout("Log in", body, nav=False)


def error(status: int, message: str) -> str:
    title = {400: "Bad request", 401: "Not logged in", 404: "Not found"}.get(status, "Error")
    body = f"<h1>{status} {escape(title)}</h1><p class=error>{escape(message)}</p>"
    body += "<p><a href=/>Back to the projects</a></p>"
    return _layout(title, body)


def _series_href(project: str, xid: str, space: str | None, **extra: str) -> str:
    query = {"project": project, "xid": xid, **({"space": space} if space else {}), **extra}
    return f"/series?{urlencode(query)}"


def index(projects: list[tuple[str, bool, list[dict[str, Any]]]], now_ms: int) -> str:
    """`projects`: (name, is the synthetic source, its summaries)."""
    parts = [f"<h1>Projects</h1><p>Now: {_time(now_ms)}</p>"]
    for name, is_source, rows in projects:
        kind = "synthetic OID source, read only" if is_source else "target"
        overview = f' <a href="/overview?{urlencode({"project": name})}">plant overview</a>'
        parts.append(f"<section><h2 id=\"project-{escape(name)}\">{escape(name)}</h2>"
                     f"<p>{kind}, {len(rows)} series.{overview}</p>")  # fmt: skip
        if not rows:
            parts.append("</section>")
            continue
        parts.append("<table class=series><thead><tr><th>Name</th><th>Unit</th><th>Type</th><th>Points</th>"
                     "<th>Newest point</th><th>Lag</th></tr></thead><tbody>")  # fmt: skip
        for row in rows:
            count = "on demand" if row["count"] is None else f"{row['count']:,}"
            href = _series_href(name, row["xid"], row["space"])
            parts.append(
                f'<tr><td><a href="{escape(href)}">{escape(row["name"])}</a></td><td>{escape(row["unit"])}</td>'
                f"<td>{row['type']}</td><td class=num>{count}</td><td>{_time(row['newest'])}</td>"
                f"<td class=num>{_lag(row['lag_ms'])}</td></tr>"
            )
        parts.append("</tbody></table></section>")
    return _layout("Projects", "".join(parts))


def _config(config: dict[str, Any]) -> str:
    # "</" cannot close the element early inside JSON once escaped as "<\/".
    text = json.dumps(config).replace("</", "<\\/")
    return f'<script type="application/json" id="viewer-config">{text}</script>'


def _window_links(path: str, base: dict[str, str], current: str) -> str:
    links = []
    for name in WINDOWS:
        href = f"{path}?{urlencode({**base, 'window': name})}"
        cls = ' class="current" aria-current="page"' if name == current else ""
        links.append(f'<a href="{escape(href)}"{cls}>{"whole history" if name == "all" else name}</a>')
    return "<p class=windows>Window: " + " ".join(links) + "</p>"


def series(config: dict[str, Any], title: str, subtitle: str, base: dict[str, str], window: str) -> str:
    body = (
        f"<h1>{escape(title)}</h1><p>{escape(subtitle)}</p>"
        + _window_links("/series", base, window)
        + '<p class=live>Newest point: <span id=newest data-t="">-</span> '
        "<span id=mode></span> <span id=status role=status></span></p>"
        "<div id=chart class=chart></div>" + _config(config)
    )
    return _layout(title, body, charts=True)


def overview(
    config: dict[str, Any], project: str, roles: list[tuple[str, str]], base: dict[str, str], window: str
) -> str:
    listed = "".join(f"<li>{escape(role)}: {escape(name)}</li>" for role, name in roles)
    body = (
        f"<h1>Plant overview: {escape(project)}</h1><ul class=roles>{listed}</ul>"
        + _window_links("/overview", base, window)
        + '<p class=live>Newest point: <span id=newest data-t="">-</span> '
        "<span id=mode></span> <span id=status role=status></span></p>"
        "<div id=chart class=chart-tall></div>" + _config(config)
    )
    return _layout(f"Overview {project}", body, charts=True)
