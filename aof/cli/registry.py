"""``aof team|project|host|schedule|agent ...``: the registry commands.

Each noun's group is generated from its spec (:mod:`aof.cli.registry_crud`: create, get,
list, update, delete); the verbs of one noun join it here: placements, ``ao`` and
discovery of projects (:mod:`aof.cli.registry_projects`), team overrides and schedule
evaluation (:mod:`aof.cli.registry_teams`), host sync (:mod:`aof.cli.registry_hosts`).
"""

from __future__ import annotations

from ..registry import NOUNS
from .registry_crud import EXAMPLES, make_group
from .registry_hosts import host_list, host_sync, host_token
from .registry_projects import discover_cmd, project_ao, project_host
from .registry_teams import schedule_eval, team_override

team = make_group(NOUNS["team"])
project = make_group(NOUNS["project"])
host = make_group(NOUNS["host"])
schedule = make_group(NOUNS["schedule"])
# `aof agent list` lists running agents (aof.cli.agents); the profiles are `agent profiles`.
agent = make_group(
    NOUNS["agent"],
    list_name="profiles",
    help="Agent profiles (agents/<slug>.md: create, get, profiles, update, delete) and agent "
    "sessions: coder agents started on branches at once (spawn, fanout, multi), steered "
    "(prompt), watched (list, logs, attach) and stopped (kill).\n\n\b\nExample:\n"
    f"  {EXAMPLES['agent']}\n"
    '  aof agent spawn fix-login --prompt "Fix the login redirect" --project site\n'
    "  aof agent list",
)


project.add_command(project_host)
project.add_command(project_ao)
project.add_command(discover_cmd)
team.add_command(team_override)
schedule.add_command(schedule_eval)
host.add_command(host_sync)
host.add_command(host_list)  # in place of the generic list: with heartbeats
host.add_command(host_token)
