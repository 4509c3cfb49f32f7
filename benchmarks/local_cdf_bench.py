"""Local CDF throughput through the unmodified cognite-sdk, the server in its own process.

Measures, in one run (ratios are what to compare on a noisy machine):
- retrieval of every source series x 1 week with `retrieve_arrays` (points/s, best of 3);
- insertion of the same kind of data with `insert_multiple`, with the SDK's default gzip and without;
- the server's protobuf ingest limit: the same points as `DataPointInsertionRequest` bodies (encoded beforehand,
  untimed, at most 100k points a body), posted by a bare httpx client from 4 threads, and how fast the encoder
  builds those bodies;
- the server's share: its CPU seconds over the wall time of each phase;
- the synthetic source's generation speed in this process, without the server: ms per 100k points.

Run: `make bench` (or `.venv/bin/python -m benchmarks.local_cdf_bench [--days 7] [--insert-days 1]`).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from cognite.client import ClientConfig, CogniteClient, global_config
from cognite.client.credentials import OAuthClientCredentials
from cognite.client.data_classes import TimeSeriesWrite

from benchmarks._server import ServerProcess, local_cdf_process
from oid_sync_dagster.local_cdf.synthetic import SyntheticSource, synthetic_catalog
from oid_sync_dagster.wire.insert_protobuf import InsertItem, encode_insert_request

DAY_MS = 86_400_000
LAG_MS = 168 * 3_600_000


def client(server: ServerProcess, project: str) -> CogniteClient:
    credentials = OAuthClientCredentials(
        token_url=server.token_url,
        client_id=server.client_id,
        client_secret=server.client_secret,
        scopes=[f"{server.base_url}/.default"],
    )
    config = ClientConfig(
        client_name="oid-sync-bench", project=project, credentials=credentials, base_url=server.base_url
    )
    return CogniteClient(config)


def measure(server: ServerProcess, work: Any) -> tuple[float, float, Any]:
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    result = work()
    wall = time.perf_counter() - t0
    return wall, (server.cpu_seconds() - cpu0) / wall, result


def generation(days: float) -> dict[str, Any]:
    """Every synthetic series over `days`, generated in process (best of 3): ms per 100k points, all and analog."""
    catalog = synthetic_catalog()
    end = int(time.time() * 1000) // DAY_MS * DAY_MS
    source = SyntheticSource(catalog, history_start_ms=end - int(days * DAY_MS))
    start = end - int(days * DAY_MS)
    out: dict[str, Any] = {"days": days}
    for label, kinds in (("all", {"analog", "digital", "string", "step"}), ("analog", {"analog"})):
        series = [s for s in catalog if s.kind in kinds]
        best, points = math.inf, 0
        for _ in range(3):
            t0 = time.perf_counter()
            points = sum(len(source.points(s, start, end).timestamps) for s in series)
            best = min(best, time.perf_counter() - t0)
        out[label] = {"series": len(series), "points": points, "ms_per_100k": round(best * 1e8 / points, 2)}
    return out


def run(days: float, insert_days: float) -> dict[str, Any]:
    global_config.disable_pypi_version_check = True
    results: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version()}
    results["generate"] = generation(days)
    with local_cdf_process() as server:
        source = client(server, "publicdata")
        series = source.time_series.list(external_id_prefix="pi:", limit=None)
        xids = [s.external_id for s in series]
        end = int(time.time() * 1000) - LAG_MS
        start = end - int(days * DAY_MS)

        best = None
        for _ in range(3):
            wall, share, arrays = measure(
                server,
                lambda: source.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end),
            )
            points = sum(len(a) for a in arrays)
            if best is None or wall < best[0]:
                best = (wall, share, points)
        assert best is not None
        results["retrieve"] = {
            "series": len(xids), "days": days, "points": best[2], "wall_s": round(best[0], 3),
            "points_per_s": round(best[2] / best[0]), "server_cpu_share": round(best[1], 3),
        }  # fmt: skip

        insert_start = end - int(insert_days * DAY_MS)
        data = source.time_series.data.retrieve_arrays(external_id=xids, start=insert_start, end=end)
        points = sum(len(a) for a in data)
        for label, gzip in (("insert_gzip", True), ("insert_plain", False)):
            global_config.disable_gzip = not gzip
            target = client(server, f"bench-{label.replace('_', '-')}")
            target.time_series.create(
                [TimeSeriesWrite(external_id=s.external_id, is_string=s.is_string) for s in series]
            )
            items = [{"external_id": a.external_id, "datapoints": a} for a in data]
            wall, share, _ = measure(server, lambda t=target, i=items: t.time_series.data.insert_multiple(i))
            check = target.time_series.data.retrieve_arrays(external_id=xids, start=insert_start, end=end)
            assert sum(len(a) for a in check) == points, "insert lost points"
            results[label] = {
                "points": points, "wall_s": round(wall, 3), "points_per_s": round(points / wall),
                "server_cpu_share": round(share, 3),
            }  # fmt: skip
        global_config.disable_gzip = False
        results["insert_protobuf"] = protobuf_ingest(server, series, data, xids, insert_start, end, points)
    return results


def protobuf_bodies(data: Any, series: Any) -> tuple[list[bytes], float]:
    """Request bodies of at most 100k points (whole series; pieces of a series beyond that), and encoder seconds."""
    string = {s.external_id: s.is_string for s in series}
    items = []
    for array in data:
        ts = array.timestamp.astype("datetime64[ms]").astype(np.int64)
        for start in range(0, len(ts), 100_000):
            stop = start + 100_000
            status = None if array.status_code is None else array.status_code[start:stop]
            items.append(
                InsertItem(ts[start:stop], array.value[start:stop], string[array.external_id], status,
                           external_id=array.external_id)
            )  # fmt: skip
    bodies, batch, size, encode_s = [], [], 0, 0.0
    for item in [*items, None]:
        if item is None or size + len(item.timestamps) > 100_000:
            t0 = time.perf_counter()
            bodies.append(encode_insert_request(batch))
            encode_s += time.perf_counter() - t0
            batch, size = [], 0
        if item is not None:
            batch.append(item)
            size += len(item.timestamps)
    return [b for b in bodies if b], encode_s


def protobuf_ingest(
    server: ServerProcess, series: Any, data: Any, xids: list[str], start: int, end: int, points: int
) -> dict[str, Any]:
    target = client(server, "bench-insert-protobuf")
    target.time_series.create([TimeSeriesWrite(external_id=s.external_id, is_string=s.is_string) for s in series])
    bodies, encode_s = protobuf_bodies(data, series)
    token = httpx.post(
        server.token_url,
        data={"grant_type": "client_credentials", "client_id": server.client_id, "client_secret": server.client_secret},
    ).json()["access_token"]
    url = f"{server.base_url}/api/v1/projects/bench-insert-protobuf/timeseries/data"
    headers = {"authorization": f"Bearer {token}", "content-type": "application/protobuf"}
    with httpx.Client(timeout=120, headers=headers) as http, ThreadPoolExecutor(4) as pool:

        def post(body: bytes) -> None:
            http.post(url, content=body).raise_for_status()

        wall, share, _ = measure(server, lambda: list(pool.map(post, bodies)))
    check = target.time_series.data.retrieve_arrays(external_id=xids, start=start, end=end)
    assert sum(len(a) for a in check) == points, "protobuf insert lost points"
    return {
        "points": points, "bodies": len(bodies), "wall_s": round(wall, 3), "points_per_s": round(points / wall),
        "server_cpu_share": round(share, 3), "encode_points_per_s": round(points / encode_s),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0, help="retrieval window per series (default 7)")
    parser.add_argument("--insert-days", type=float, default=1.0, help="insert window per series (default 1)")
    parser.add_argument("--out", default="benchmarks/results/local_cdf.json")
    args = parser.parse_args()
    results = run(args.days, args.insert_days)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
