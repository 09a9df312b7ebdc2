"""Syncing hosts from their hostd: one host by its URL, or every host whose address is one.

Each host is read (:class:`aof.registry.hostd.Hostd`) and brought into the registry by
:meth:`aof.registry.entries.Registry.sync_host`, one commit per host. Syncing every host
goes on past a host that fails and reports it; syncing one URL raises its error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AofError
from .hostd import Hostd

if TYPE_CHECKING:
    from .entries import Registry


def host_urls(registry: Registry) -> list[str]:
    """The addresses of the registry's hosts that are hostd URLs (http:// or https://)."""
    return [
        str(h["address"])
        for h in registry.rows("host")
        if str(h.get("address", "")).startswith(("http://", "https://"))
    ]


def sync_hosts(
    registry: Registry,
    base_url: str | None = None,
    *,
    auth_token: str | None = None,
    register_missing: bool = False,
    team: str | None = None,
    prune: bool = False,
) -> dict[str, Any]:
    """Sync the hostd at ``base_url`` (its error raised), or without one every host whose
    address is a URL (a failing host listed under ``failed`` with its error, the others
    synced). ``{"synced": [<sync_host result>...], "failed": [{"address", "error"}...]}``."""
    urls = [base_url] if base_url else host_urls(registry)
    synced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for url in urls:
        try:
            client = Hostd(str(url), auth_token)
            synced.append(
                registry.sync_host(
                    client.base_url,
                    client.host(),
                    client.projects(),
                    register_missing=register_missing,
                    team=team,
                    prune=prune,
                )
            )
        except AofError as exc:
            if base_url:
                raise
            failed.append({"address": url, "error": str(exc)})
    return {"synced": synced, "failed": failed}
