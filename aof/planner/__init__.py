"""The planner: a pure function from a snapshot of the fleet root (its inputs), the time and
the configuration to a plan; desired state of teams from their schedules."""
