"""The Dagster layer: resources, translator, assets, checks, sensors. It calls the engine and nothing calls it."""
