"""The scheduler at work: the daemon's loop over one fleet root (ticks, the sweep of hand
edits, dispatch through the runner, reconcile), its watch over the runs it started
(:mod:`.supervise`), its file-change hints and its idle outlook."""
