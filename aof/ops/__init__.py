"""Whole-fleet operations over the service: the janitor (doctor), lint, the sweep of hand
edits, overviews, the machine check, the root's editor schemas and reconcile."""
