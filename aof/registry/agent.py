"""Agent profiles: ``agents/<slug>.md``. Roles, capabilities, coder, model, concurrency."""

from __future__ import annotations

from .spec import Field, Noun, integer, slug, slug_list, text, text_list

AGENT = Noun(
    name="agent",
    dir="agents",
    fields=(
        Field("team", slug, ref="team"),
        Field("roles", text_list),
        Field("capabilities", text_list),
        Field("coder", text),
        Field("model", text),
        Field("concurrency", integer(1), default=1),
        Field("projects", slug_list, ref="project", help="projects it may work on (all if absent)"),
    ),
)
