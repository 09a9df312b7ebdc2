"""The dashboard server (``aof serve``): server-rendered pages with htmx, the JSON API under
``/api/``, live events over server-sent events, Prometheus ``/metrics`` and the MCP endpoint,
behind a token and a session cookie (docs/dashboard.md).

Starlette, uvicorn and Jinja2 are imported here only, and only by ``aof serve``.
"""
