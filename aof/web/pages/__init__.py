"""The dashboard's pages and their JSON twins (docs/dashboard.md, docs/json.md).

Each view is a read of the fleet (a plain function of a :class:`aof.Fleet` in one of the
``*data`` modules, tested on its own) and a template; the route handlers between them are
thin. Pages are complete without JavaScript; htmx refreshes the part of a page an event on
``/api/events`` concerns, never on a timer.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route


def routes() -> list[BaseRoute]:
    """The pages (``/``, ``/attention``, ``/tasks/{id}``, ``/agents``, ``/fleet``, ``/cost``,
    ``/audit``, ``/knowledge``) and their JSON under ``/api/``."""
    from . import api, views

    return [
        Route("/", views.board, name="board"),
        Route("/attention", views.attention, name="attention"),
        Route("/tasks/{id}", views.task, name="task"),
        Route("/agents", views.agents, name="agents"),
        Route("/fleet", views.fleet, name="fleet"),
        Route("/cost", views.cost, name="cost"),
        Route("/audit", views.audit, name="audit"),
        Route("/knowledge", views.knowledge, name="knowledge"),
        Route("/api/board", api.board),
        Route("/api/attention", api.attention),
        Route("/api/agents", api.agents),
        Route("/api/fleet", api.fleet),
        Route("/api/cost", api.cost),
        Route("/api/audit", api.audit),
        Route("/api/knowledge", api.knowledge),
    ]
