"""URLs of viewer pages: the one place their shape is spelled out (the CLI and the Dagster layer build them here).

Standard library only: importing this costs nothing and pulls in no server code.
"""

from __future__ import annotations

from urllib.parse import urlencode

# How far the target runs behind its source: the sync's default offset (1 week + 10 minutes).
DEFAULT_OFFSET = "1w10m"


def viewer_url(base_url: str, token: str | None = None) -> str:
    """The index page; with `token`, a link that logs the browser in (see session.link_token)."""
    root = base_url.rstrip("/") + "/"
    return f"{root}?{urlencode({'token': token})}" if token else root


def series_url(
    base_url: str, project: str, external_id: str, *, space: str | None = None, offset_ms: int | None = None
) -> str:
    """A series' chart. `external_id` is the series' external id, or with `space` its data-modeling node's;
    `offset_ms`: how far the target runs behind its source (default DEFAULT_OFFSET)."""
    params = {"project": project, "xid": external_id, **({"space": space} if space else {})}
    if offset_ms is not None:
        params["offset"] = str(offset_ms)
    return f"{base_url.rstrip('/')}/series?{urlencode(params)}"


def overview_url(base_url: str, project: str) -> str:
    return f"{base_url.rstrip('/')}/overview?{urlencode({'project': project})}"
