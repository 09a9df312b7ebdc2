"""The HTTP client of a remote fleet: :class:`aof.remote.client.RemoteFleet` speaks to
``aof serve``'s remote API with a bearer token (docs/json.md, "The remote API")."""
