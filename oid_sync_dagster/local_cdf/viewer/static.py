"""Static files: plotly's JavaScript out of the installed plotly package, and the viewer's own script and style.

plotly ships its browser bundle inside the Python package (plotly/package_data/plotly.min.js), so the viewer
serves one file from disk and nothing is fetched from the internet. The version is in the path, so browsers
cache it for good and a plotly upgrade is a new URL.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

_HERE = Path(__file__).resolve().parent / "static"
_PLOTLY_VERSION = importlib.metadata.version("plotly")
PLOTLY_PATH = f"/static/plotly-{_PLOTLY_VERSION}.min.js"
VIEWER_JS_PATH = "/static/viewer.js"
VIEWER_CSS_PATH = "/static/viewer.css"
_FOREVER = "public, max-age=31536000, immutable"


@cache
def plotly_js() -> Path:
    """The bundle's path, found without importing plotly (its import is slow and the server needs none of it)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("plotly is not installed; the viewer serves its JavaScript from the plotly package")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


async def plotly(_: Request) -> Response:
    return FileResponse(plotly_js(), media_type="text/javascript", headers={"cache-control": _FOREVER})


async def viewer_js(_: Request) -> Response:
    # Short caching: the script changes with the package, and its URL does not.
    return FileResponse(_HERE / "viewer.js", media_type="text/javascript", headers={"cache-control": "no-cache"})


async def viewer_css(_: Request) -> Response:
    return FileResponse(_HERE / "viewer.css", media_type="text/css", headers={"cache-control": "no-cache"})
