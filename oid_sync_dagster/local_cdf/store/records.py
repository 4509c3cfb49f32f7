"""The time-series resource as the API returns it, shared by the synthetic source and the SQLite targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TimeSeriesRecord:
    id: int
    external_id: str | None
    name: str | None
    is_string: bool
    is_step: bool
    created_time: int
    last_updated_time: int
    instance_id: tuple[str, str] | None = None
    description: str | None = None
    unit: str | None = None
    unit_external_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    asset_id: int | None = None
    data_set_id: int | None = None
    security_categories: list[int] = field(default_factory=list)

    @property
    def type(self) -> str:
        return "string" if self.is_string else "numeric"

    def identity(self) -> dict[str, Any]:
        """How CDF echoes a series in datapoint responses."""
        out: dict[str, Any] = {"id": self.id}
        if self.external_id is not None:
            out["externalId"] = self.external_id
        if self.instance_id is not None:
            out["instanceId"] = {"space": self.instance_id[0], "externalId": self.instance_id[1]}
        return out

    def to_json(self) -> dict[str, Any]:
        out = self.identity()
        out.update(
            name=self.name,
            isString=self.is_string,
            isStep=self.is_step,
            type=self.type,
            metadata=self.metadata,
            securityCategories=self.security_categories,
            createdTime=self.created_time,
            lastUpdatedTime=self.last_updated_time,
        )
        for key, value in (
            ("description", self.description),
            ("unit", self.unit),
            ("unitExternalId", self.unit_external_id),
            ("assetId", self.asset_id),
            ("dataSetId", self.data_set_id),
        ):
            if value is not None:
                out[key] = value
        return {k: v for k, v in out.items() if v is not None}
