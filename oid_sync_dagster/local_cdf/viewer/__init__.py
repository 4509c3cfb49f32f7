"""A read-only data viewer on the local CDF's own loopback server: projects, series charts, a plant overview.

Pages live at the server's root (`/`, `/series`, `/overview`), their JSON under `/data/`, static files under
`/static/` (plotly's JavaScript comes out of the installed plotly package; nothing is fetched from the internet).
Nothing here is imported by the API routes; `links` is importable on its own (the Dagster layer builds URLs with it).
"""
