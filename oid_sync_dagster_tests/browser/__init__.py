"""Dagster's UI in headless Chromium: the browser test and the README screenshot script."""
