"""Local CDF throughput through the unmodified cognite-sdk, the server in its own process.

Measures, in one run (ratios are what to compare on a noisy machine):
- retrieval of every source series x 1 week with `retrieve_arrays` (points/s, best of 3);
- insertion of the same kind of data with `insert_multiple`, with the SDK's default gzip and without;
- the server's share: its CPU seconds over the wall time of each phase.

Run: `make bench` (or `.venv/bin/python -m benchmarks.local_cdf_bench [--days 7] [--insert-days 1]`).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from cognite.client import ClientConfig, CogniteClient, global_config
from cognite.client.credentials import OAuthClientCredentials
from cognite.client.data_classes import TimeSeriesWrite

from benchmarks._server import ServerProcess, local_cdf_process

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


def run(days: float, insert_days: float) -> dict[str, Any]:
    global_config.disable_pypi_version_check = True
    results: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version()}
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
    return results


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
