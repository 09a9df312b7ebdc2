"""Notifications: service events routed by aof.yaml's rules to channels, delivered by the
daemon.

The pipeline calls :func:`aof.notify.hook.on_record` after each audit record is appended;
when a rule could route the event the record raises (:mod:`aof.notify.events`), the hook
appends it to the outbox under ``.aof/notify/`` (:mod:`aof.notify.outbox`) and returns: no
network, no third-party import. The daemon's delivery worker (:mod:`aof.notify.worker`)
reads the outbox from a cursor, routes (:mod:`aof.notify.route`) and sends each event
(:mod:`aof.notify.channels`: Apprise URLs, ``file:``, ``command:``) with retries, storm
digests and a record of every attempt (:mod:`aof.notify.state`). :mod:`aof.notify.listing`
answers ``aof notify list`` and ``aof notify test``. docs/notifications.md is the user's
side of it.
"""
