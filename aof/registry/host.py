"""Hosts: ``hosts/<slug>.md``. A machine that runs agents (the local one is implicit)."""

from __future__ import annotations

from .spec import Field, Noun, integer, text, text_list

HOST = Noun(
    name="host",
    dir="hosts",
    fields=(
        Field("name", text, required=True, help="the host's display name"),
        Field("address", text, required=True, help="host name, IP or URL"),
        Field("platform", text, required=True, help="e.g. linux, macos"),
        Field("status", text, default="healthy"),
        Field("capacity_slots", integer(0), default=1),
        Field("labels", text_list),
    ),
)
