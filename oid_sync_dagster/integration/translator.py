"""From a source series to its Dagster asset: key, group, description and metadata.

Like dagster-fivetran's DagsterFivetranTranslator: subclass OidSyncTranslator and pass it to the definitions
builder to change keys or groups. Groups are also the shards (one multi-asset per group), so a custom grouping
changes how work is split across steps too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

from oid_sync_dagster.sync.model import CatalogSeries

# A PI tag such as VAL_23-PT-92504:X.Value: plant prefix, system number, then ISA 5.1 instrument letters whose
# first letter is the measured variable (P pressure, T temperature, ...). Real names use '-' or '_'.
_TAG = re.compile(r"^[A-Z]+_\d+[-_]([A-Z]+)[-_]")
_FIRST_LETTER_GROUP = {
    "P": "pressure",
    "T": "temperature",
    "F": "flow",
    "L": "level",
    # Rotating equipment and its drives: speed, vibration, position, voltage, current, power, time, state.
    **dict.fromkeys("SVZEIJKY", "machine"),
}
GROUPS = ("pressure", "temperature", "flow", "level", "machine", "other")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def instrument_group(series: CatalogSeries) -> str:
    """The instrument group of a series from its tag (name, else metadata tag); 'other' when unparseable."""
    for text in (series.name, series.metadata.get("tag")):
        if text and (match := _TAG.match(text)):
            return _FIRST_LETTER_GROUP.get(match.group(1)[0], "other")
    return "other"


def asset_name(external_id: str) -> str:
    """An asset key part from an external id: 'pi:160696' -> 'pi_160696'."""
    return _UNSAFE.sub("_", external_id)


@dataclass(frozen=True)
class OidSyncTranslator:
    """Maps source series to AssetSpecs. Override any get_* method in a subclass.

    group_name: every series in this one group (and one shard), instead of the instrument group of its tag.
    """

    key_prefix: tuple[str, ...] = ("oid",)
    group_name: str | None = None

    def get_group_name(self, series: CatalogSeries) -> str:
        return self.group_name or instrument_group(series)

    def get_asset_key(self, series: CatalogSeries) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, self.get_group_name(series), asset_name(series.external_id)])

    def get_description(self, series: CatalogSeries) -> str:
        parts = [series.description or series.name or series.external_id]
        if series.name and series.description:
            parts.append(f"PI tag {series.name}")
        return " - ".join(parts)

    def get_metadata(self, series: CatalogSeries) -> dict[str, object]:
        return {
            "external_id": series.external_id,
            "name": series.name or "",
            "unit": series.unit or "",
            "type": series.type,
            "is_step": series.is_step,
        }

    def get_asset_spec(self, series: CatalogSeries, partitions_def: dg.PartitionsDefinition) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=self.get_asset_key(series),
            group_name=self.get_group_name(series),
            description=self.get_description(series),
            metadata=self.get_metadata(series),
            kinds={"cognite"},
            partitions_def=partitions_def,
            # Outputs are optional: a week is materialized per partition with its own metadata, or not at all.
            skippable=True,
        )
