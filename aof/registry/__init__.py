"""The fleet registry: teams, projects, hosts, schedules and agents, one card per entry."""

from __future__ import annotations

from .agent import AGENT
from .host import HOST
from .project import PROJECT
from .schedule import SCHEDULE
from .spec import Field, Noun
from .team import TEAM

NOUNS: dict[str, Noun] = {n.name: n for n in (TEAM, PROJECT, HOST, SCHEDULE, AGENT)}

__all__ = ["AGENT", "HOST", "NOUNS", "PROJECT", "SCHEDULE", "TEAM", "Field", "Noun"]
