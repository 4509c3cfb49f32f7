"""The Dagster code location. Its assets, checks and sensors arrive with the code-location work; until then
the location loads empty, and the local CDF (`oid-sync local-cdf`) stands on its own."""

import dagster as dg

defs = dg.Definitions()
