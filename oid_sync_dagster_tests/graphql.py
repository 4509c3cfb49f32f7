"""Dagster's GraphQL API as the UI uses it, over plain urllib: for tests that drive a running `dagster dev`.

Standard library only, loopback only (never through an HTTP(S)_PROXY from the environment). Every call raises
`GraphQLError` on transport errors, GraphQL errors or an `...OrError` field that holds an error, so a test
fails with Dagster's own message. Waits poll with a deadline; nothing here sleeps as synchronisation beyond
the polling interval.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

AssetPath = Sequence[str]
T = TypeVar("T")

POLL_S = 1.0
# Terminal statuses of a PartitionBackfill (BulkActionStatus); COMPLETED is the deprecated spelling of success.
BACKFILL_SUCCESS = ("COMPLETED_SUCCESS", "COMPLETED")
BACKFILL_TERMINAL = (*BACKFILL_SUCCESS, "COMPLETED_FAILED", "FAILED", "CANCELED")
RUN_FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
BACKFILL_TAG = "dagster/backfill"

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_ERROR_FIELDS = "__typename ... on Error { message } ... on PythonError { stack }"
_METADATA = """metadataEntries { label __typename
    ... on IntMetadataEntry { intRepr } ... on FloatMetadataEntry { floatRepr }
    ... on TextMetadataEntry { text } ... on TimestampMetadataEntry { timestamp }
    ... on BoolMetadataEntry { boolValue } ... on UrlMetadataEntry { url } }"""


class GraphQLError(AssertionError):
    """A failed GraphQL call; an AssertionError so that pytest shows it as a test failure, not an error."""


class WaitTimeout(GraphQLError):
    """A `poll` that ran out of time (as opposed to a call that failed)."""


@dataclass(frozen=True)
class RepositorySelector:
    location: str
    name: str

    def as_input(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": self.name}


def asset_key_input(path: AssetPath) -> dict[str, list[str]]:
    return {"path": list(path)}


def metadata_values(entries: Iterable[dict[str, Any]]) -> dict[str, object]:
    """`metadataEntries` (selected with the fragment above) as {label: int | float | str | bool | timestamp | url}."""
    values: dict[str, object] = {}
    for entry in entries:
        if "intRepr" in entry:
            values[entry["label"]] = int(entry["intRepr"])
        elif "floatRepr" in entry:
            values[entry["label"]] = float(entry["floatRepr"])
        elif "text" in entry:
            values[entry["label"]] = entry["text"]
        elif "timestamp" in entry:
            values[entry["label"]] = entry["timestamp"]
        elif "boolValue" in entry:
            values[entry["label"]] = entry["boolValue"]
        elif "url" in entry:
            values[entry["label"]] = entry["url"]
    return values


def poll(what: str, probe: Callable[[], T | None], timeout_s: float, *, interval_s: float = POLL_S) -> T:
    """`probe()` until it returns something other than None, else fail after `timeout_s` saying `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)  # polling a remote API; there is no event to wait on


class DagsterGraphQL:
    """A client of one webserver's /graphql endpoint."""

    def __init__(self, base_url: str, *, timeout_s: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/graphql"
        self.timeout_s = timeout_s

    # ---------- transport ----------

    def execute(self, query: str, variables: dict[str, object] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise GraphQLError(f"HTTP {error.code} from {self.url}: {error.read()[:2000]!r}") from error
        if answer.get("errors"):
            raise GraphQLError(f"GraphQL errors: {json.dumps(answer['errors'])[:4000]}\nquery: {query}")
        return answer["data"]

    @staticmethod
    def unwrap(value: dict[str, Any], expected: str) -> dict[str, Any]:
        """`value` if its __typename is `expected`, else raise with the error it holds."""
        if value.get("__typename") != expected:
            raise GraphQLError(f"expected {expected}, got {json.dumps(value)[:4000]}")
        return value

    # ---------- workspace ----------

    def repository(self) -> RepositorySelector | None:
        """The one repository of the workspace once its location has loaded; None while it loads.

        Raises if the location failed to load (its PythonError) or there is not exactly one repository.
        """
        data = self.execute(
            """query Workspace { workspaceOrError { __typename
                ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename
                    ... on RepositoryLocation { repositories { name } }
                    ... on PythonError { message stack } } } }
                ... on PythonError { message } } }"""
        )
        workspace = self.unwrap(data["workspaceOrError"], "Workspace")
        selectors = []
        for entry in workspace["locationEntries"]:
            location = entry["locationOrLoadError"]
            if entry["loadStatus"] != "LOADED" or location is None:
                return None
            self.unwrap(location, "RepositoryLocation")
            selectors += [RepositorySelector(entry["name"], repo["name"]) for repo in location["repositories"]]
        if not selectors:
            return None
        if len(selectors) != 1:
            raise GraphQLError(f"expected one repository, found {selectors}")
        return selectors[0]

    def wait_for_repository(self, timeout_s: float) -> RepositorySelector:
        return poll("the code location to load", self.repository, timeout_s)

    def assets_in_group(self, repo: RepositorySelector, group: str) -> list[dict[str, Any]]:
        """The asset nodes of a group, by key: [{"path": [...], "metadata": {label: value}}]."""
        data = self.execute(
            f"""query Group($group: AssetGroupSelector!) {{ assetNodes(group: $group) {{
                assetKey {{ path }} {_METADATA} }} }}""",
            {"group": {"groupName": group, **repo.as_input()}},
        )
        nodes = [
            {"path": node["assetKey"]["path"], "metadata": metadata_values(node["metadataEntries"])}
            for node in data["assetNodes"]
        ]
        return sorted(nodes, key=lambda node: node["path"])

    def partition_keys(self, asset: AssetPath) -> list[str]:
        data = self.execute(
            """query Keys($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
                ... on AssetNode { partitionKeys } ... on Error { message } } }""",
            {"key": asset_key_input(asset)},
        )
        return list(self.unwrap(data["assetNodeOrError"], "AssetNode")["partitionKeys"])

    # ---------- sensors ----------

    def sensor(self, repo: RepositorySelector, name: str) -> dict[str, Any]:
        """{"name", "state": {"id", "status"}, "minIntervalSeconds"} of a sensor."""
        data = self.execute(
            """query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
                ... on Sensor { name minIntervalSeconds sensorState { id status } } ... on Error { message } } }""",
            {"selector": {**repo.as_input(), "sensorName": name}},
        )
        sensor = self.unwrap(data["sensorOrError"], "Sensor")
        state, interval = sensor["sensorState"], sensor["minIntervalSeconds"]
        return {"name": sensor["name"], "state": state, "minIntervalSeconds": interval}

    def stop_sensor(self, repo: RepositorySelector, name: str) -> str:
        """Turn a sensor off the way the UI's toggle does; returns its new status (STOPPED)."""
        state_id = self.sensor(repo, name)["state"]["id"]
        data = self.execute(
            f"""mutation Stop($id: String!) {{ stopSensor(id: $id) {{ {_ERROR_FIELDS}
                ... on StopSensorMutationResult {{ instigationState {{ status }} }} }} }}""",
            {"id": state_id},
        )
        return self.unwrap(data["stopSensor"], "StopSensorMutationResult")["instigationState"]["status"]

    def sensor_settled(self, repo: RepositorySelector, name: str) -> dict[str, Any]:
        """{"status", "ticks_in_flight"}: the sensor's stored status and whether a tick of it is STARTED."""
        data = self.execute(
            """query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
                ... on Sensor { sensorState { status ticks(limit: 1) { status } } } ... on Error { message } } }""",
            {"selector": {**repo.as_input(), "sensorName": name}},
        )
        state = self.unwrap(data["sensorOrError"], "Sensor")["sensorState"]
        return {"status": state["status"], "ticks_in_flight": any(t["status"] == "STARTED" for t in state["ticks"])}

    def stop_sensor_for_good(self, repo: RepositorySelector, name: str, timeout_s: float = 60.0) -> None:
        """Stop a sensor under a running daemon and see it stay stopped.

        The sensor daemon marks each tick on the sensor state it read when the tick began (dagster/_daemon/
        sensor.py, mark_sensor_state_for_tick), so a tick that read it just before the stop writes it back as
        running. Stop again until the stored status is STOPPED with no tick of the sensor in flight.
        """

        def settled() -> bool | None:
            seen = self.sensor_settled(repo, name)
            if seen["status"] != "STOPPED":
                self.stop_sensor(repo, name)
                return None
            return None if seen["ticks_in_flight"] else True

        if self.stop_sensor(repo, name) != "STOPPED":
            raise GraphQLError(f"stopSensor left {name} running")
        poll(f"sensor {name} to stay stopped", settled, timeout_s)

    # ---------- runs ----------

    def launch_run(
        self,
        repo: RepositorySelector,
        job: str,
        *,
        asset_selection: Sequence[AssetPath] | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """`launchRun` (the launchpad's and "Materialize" button's mutation); returns the run id."""
        selector: dict[str, object] = {**repo.as_input(), "jobName": job}
        if asset_selection is not None:
            selector["assetSelection"] = [asset_key_input(path) for path in asset_selection]
        params = {
            "selector": selector,
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        data = self.execute(
            f"""mutation Launch($params: ExecutionParams!) {{ launchRun(executionParams: $params) {{ {_ERROR_FIELDS}
                ... on LaunchRunSuccess {{ run {{ runId }} }} }} }}""",
            {"params": params},
        )
        return self.unwrap(data["launchRun"], "LaunchRunSuccess")["run"]["runId"]

    def runs(
        self, *, tags: dict[str, str] | None = None, statuses: Sequence[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Runs newest first: {"runId", "jobName", "status", "tags": {key: value}, "creationTime", "startTime",
        "endTime"}."""
        run_filter: dict[str, object] = {}
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if statuses:
            run_filter["statuses"] = list(statuses)
        data = self.execute(
            f"""query Runs($filter: RunsFilter, $limit: Int) {{ runsOrError(filter: $filter, limit: $limit) {{
                {_ERROR_FIELDS} ... on Runs {{ results {{ runId jobName status creationTime startTime endTime
                tags {{ key value }} }} }} }} }}""",
            {"filter": run_filter, "limit": limit},
        )
        results = self.unwrap(data["runsOrError"], "Runs")["results"]
        return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in results]

    def run(self, run_id: str) -> dict[str, Any]:
        return self.runs_by_id([run_id])[0]

    def runs_by_id(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        data = self.execute(
            f"""query Runs($ids: [String]) {{ runsOrError(filter: {{runIds: $ids}}) {{ {_ERROR_FIELDS}
                ... on Runs {{ results {{ runId jobName status creationTime startTime endTime
                tags {{ key value }} }} }} }} }}""",
            {"ids": list(run_ids)},
        )
        results = self.unwrap(data["runsOrError"], "Runs")["results"]
        return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in results]

    def wait_for_run(self, run_id: str, timeout_s: float) -> dict[str, Any]:
        """The run once it has finished (any outcome)."""
        return poll(
            f"run {run_id} to finish",
            lambda: run if (run := self.run(run_id))["status"] in RUN_FINISHED else None,
            timeout_s,
        )

    def run_errors(self, run_id: str, *, limit: int = 20) -> list[str]:
        """The error-level messages of a run's event log and its step failures' errors, oldest first."""
        data = self.execute(
            f"""query Logs($runId: ID!) {{ logsForRun(runId: $runId) {{ {_ERROR_FIELDS}
                ... on EventConnection {{ events {{ __typename
                    ... on MessageEvent {{ message level stepKey }}
                    ... on ExecutionStepFailureEvent {{ error {{ message }} }}
                    ... on RunFailureEvent {{ pipelineFailureError: error {{ message }} }} }} }} }} }}""",
            {"runId": run_id},
        )
        events = self.unwrap(data["logsForRun"], "EventConnection")["events"]
        lines = []
        for event in events:
            error = event.get("error") or event.get("pipelineFailureError")
            if error or event.get("level") in ("ERROR", "CRITICAL"):
                step = f"[{event['stepKey']}] " if event.get("stepKey") else ""
                detail = (error or {}).get("message", "")
                lines.append(f"{event['__typename']} {step}{event.get('message', '')} {detail}".rstrip())
        return lines[-limit:]

    # ---------- backfills ----------

    def launch_partition_backfill(
        self,
        *,
        asset_selection: Sequence[AssetPath],
        partition_names: Sequence[str],
        title: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """`launchPartitionBackfill` for a pure asset backfill, as the UI's backfill dialog sends it;
        returns the LaunchBackfillSuccess ({"backfillId", "launchedRunIds"})."""
        params: dict[str, object] = {
            "assetSelection": [asset_key_input(path) for path in asset_selection],
            "partitionNames": list(partition_names),
            "fromFailure": False,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        }
        if title is not None:
            params["title"] = title
        data = self.execute(
            f"""mutation Backfill($params: LaunchBackfillParams!) {{ launchPartitionBackfill(backfillParams: $params)
                {{ {_ERROR_FIELDS} ... on LaunchBackfillSuccess {{ backfillId launchedRunIds }} }} }}""",
            {"params": params},
        )
        return self.unwrap(data["launchPartitionBackfill"], "LaunchBackfillSuccess")

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        """{"id", "status", "numPartitions", "partitionNames", "isAssetBackfill", "assetSelection", "runs",
        "error", "timestamp", "endTimestamp"}, runs as [{"runId", "status", "tags"}]."""
        data = self.execute(
            f"""query Backfill($id: String!) {{ partitionBackfillOrError(backfillId: $id) {{ {_ERROR_FIELDS}
                ... on PartitionBackfill {{ id status numPartitions partitionNames isAssetBackfill timestamp
                    endTimestamp assetSelection {{ path }} error {{ message }}
                    runs {{ runId status tags {{ key value }} }} }} }} }}""",
            {"id": backfill_id},
        )
        backfill = self.unwrap(data["partitionBackfillOrError"], "PartitionBackfill")
        backfill["runs"] = [
            {**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in backfill["runs"]
        ]
        return backfill

    def wait_for_backfill(self, backfill_id: str, timeout_s: float) -> dict[str, Any]:
        """The backfill once it has reached a terminal status (any outcome)."""
        return poll(
            f"backfill {backfill_id} to finish",
            lambda: found if (found := self.backfill(backfill_id))["status"] in BACKFILL_TERMINAL else None,
            timeout_s,
        )

    # ---------- assets and checks ----------

    def latest_materialization(self, asset: AssetPath) -> dict[str, Any] | None:
        """The newest materialization of an asset ({"runId", "timestamp", "partition", "metadata"}), or None."""
        data = self.execute(
            f"""query Latest($key: AssetKeyInput!) {{ assetNodeOrError(assetKey: $key) {{ __typename
                ... on AssetNode {{ assetMaterializations(limit: 1) {{ runId timestamp partition {_METADATA} }} }}
                ... on Error {{ message }} }} }}""",
            {"key": asset_key_input(asset)},
        )
        events = self.unwrap(data["assetNodeOrError"], "AssetNode")["assetMaterializations"]
        return _with_metadata(events[0]) if events else None

    def partition_record(self, asset: AssetPath, partitions: Sequence[str], check_name: str) -> dict[str, Any]:
        """What the asset page shows for some partitions of one asset, in one query:

        {"materialized_ranges": [(start_key, end_key)], "latest": {partition: materialization or None},
         "check": {partition: latest execution of `check_name` or None}}; a materialization is {"runId",
         "partition", "metadata"}, an execution {"runId", "status", "partition", "passed", "severity",
         "description", "metadata"}.
        """
        aliases = {f"p{i}": partition for i, partition in enumerate(partitions)}
        execution_fields = "\n".join(
            f"""{alias}: assetCheckExecutions(assetKey: $key, checkName: $check, partition: "{partition}", limit: 1)
                {{ runId status partition evaluation {{ success severity description {_METADATA} }} }}"""
            for alias, partition in aliases.items()
        )
        data = self.execute(
            f"""query Record($key: AssetKeyInput!, $check: String!, $partitions: [String!]) {{
                assetNodeOrError(assetKey: $key) {{ __typename ... on Error {{ message }}
                    ... on AssetNode {{
                        assetPartitionStatuses {{ __typename
                            ... on TimePartitionStatuses {{ ranges {{ startKey endKey status }} }} }}
                        latestMaterializationByPartition(partitions: $partitions) {{ runId partition {_METADATA} }}
                    }} }}
                {execution_fields} }}""",
            {"key": asset_key_input(asset), "check": check_name, "partitions": list(partitions)},
        )
        node = self.unwrap(data["assetNodeOrError"], "AssetNode")
        executions = {partition: data[alias] for alias, partition in aliases.items()}
        return _partition_record(node, partitions, executions)

    # ---------- instance and bulk reads ----------

    def daemon_statuses(self) -> dict[str, dict[str, Any]]:
        """{daemonType: {"required", "healthy", "lastHeartbeatTime", "errors": [message]}}, as Deployment >
        Daemons shows them (read from the instance's storage, so they prove the daemon shares it)."""
        data = self.execute(
            """query Daemons { instance { daemonHealth { allDaemonStatuses {
                daemonType required healthy lastHeartbeatTime lastHeartbeatErrors { message } } } } }"""
        )
        return {
            status["daemonType"]: {
                "required": status["required"],
                "healthy": status["healthy"],
                "lastHeartbeatTime": status["lastHeartbeatTime"],
                "errors": [error["message"] for error in status["lastHeartbeatErrors"]],
            }
            for status in data["instance"]["daemonHealth"]["allDaemonStatuses"]
        }

    def asset_nodes(self) -> list[dict[str, Any]]:
        """Every asset node of the workspace, by key: [{"path", "groupName", "isPartitioned", "metadata"}]."""
        data = self.execute(
            f"""query All {{ assetNodes {{ assetKey {{ path }} groupName isPartitioned {_METADATA} }} }}"""
        )
        nodes = [
            {
                "path": node["assetKey"]["path"],
                "groupName": node["groupName"],
                "isPartitioned": node["isPartitioned"],
                "metadata": metadata_values(node["metadataEntries"]),
            }
            for node in data["assetNodes"]
        ]
        return sorted(nodes, key=lambda node: node["path"])

    def partition_records(
        self, assets: Sequence[AssetPath], partitions: Sequence[str], check_name: str, *, per_query: int = 25
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        """`partition_record` for many assets, `per_query` assets per request (hundreds of assets in seconds);
        keyed by the asset's path as a tuple, each value shaped as `partition_record`'s."""
        records: dict[tuple[str, ...], dict[str, Any]] = {}
        for first in range(0, len(assets), per_query):
            chunk = [tuple(path) for path in assets[first : first + per_query]]
            fields, variables = [], {"check": check_name, "partitions": list(partitions)}
            for i, path in enumerate(chunk):
                variables[f"k{i}"] = asset_key_input(path)
                fields.append(
                    f"""a{i}: assetNodeOrError(assetKey: $k{i}) {{ __typename ... on Error {{ message }}
                        ... on AssetNode {{
                            assetPartitionStatuses {{ __typename
                                ... on TimePartitionStatuses {{ ranges {{ startKey endKey status }} }} }}
                            latestMaterializationByPartition(partitions: $partitions) {{
                                runId partition {_METADATA} }} }} }}"""
                )
                fields += [
                    f"""a{i}p{j}: assetCheckExecutions(assetKey: $k{i}, checkName: $check,
                        partition: {json.dumps(partition)}, limit: 1) {{ runId status partition
                        evaluation {{ success severity description {_METADATA} }} }}"""
                    for j, partition in enumerate(partitions)
                ]
            declared = ", ".join(f"$k{i}: AssetKeyInput!" for i in range(len(chunk)))
            data = self.execute(
                f"""query Records($check: String!, $partitions: [String!], {declared}) {{ {" ".join(fields)} }}""",
                variables,
            )
            for i, path in enumerate(chunk):
                node = self.unwrap(data[f"a{i}"], "AssetNode")
                executions = {partition: data[f"a{i}p{j}"] for j, partition in enumerate(partitions)}
                records[path] = _partition_record(node, partitions, executions)
        return records


def _partition_record(
    node: dict[str, Any],
    partitions: Sequence[str],
    executions: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """One asset's record from an AssetNode and its latest check execution per partition (`partition_records`)."""
    statuses = DagsterGraphQL.unwrap(node["assetPartitionStatuses"], "TimePartitionStatuses")
    checks: dict[str, dict[str, Any] | None] = {}
    for partition, found in executions.items():
        if not found:
            checks[partition] = None
            continue
        evaluation = found[0]["evaluation"] or {}
        checks[partition] = {
            "runId": found[0]["runId"],
            "status": found[0]["status"],
            "partition": found[0]["partition"],
            "passed": evaluation.get("success"),
            "severity": evaluation.get("severity"),
            "description": evaluation.get("description"),
            "metadata": metadata_values(evaluation.get("metadataEntries", [])),
        }
    return {
        "materialized_ranges": [
            (r["startKey"], r["endKey"]) for r in statuses["ranges"] if r["status"] == "MATERIALIZED"
        ],
        "latest": {
            partition: (_with_metadata(event) if event else None)
            for partition, event in zip(partitions, node["latestMaterializationByPartition"], strict=True)
        },
        "check": checks,
    }


def _with_metadata(event: dict[str, Any]) -> dict[str, Any]:
    event = dict(event)
    event["metadata"] = metadata_values(event.pop("metadataEntries", []))
    return event
