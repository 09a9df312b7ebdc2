"""aof's MCP server: the fleet's tools for agents and operators (``aof mcp serve``).

:func:`aof.mcp.server.build` makes the server over a fleet root; ``aof/mcp/agent_tools.py``
and ``aof/mcp/operator_tools.py`` are its two tool profiles, ``aof/mcp/callers.py`` says who
is calling, ``aof/mcp/http.py`` serves it over streamable HTTP with a bearer token. The
``mcp`` package is imported only here (about 0.6 s), never by another command.
"""
