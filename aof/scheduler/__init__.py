"""The scheduler: a pure planner (``plan``) over a snapshot of the fleet root (``snapshot``)."""
