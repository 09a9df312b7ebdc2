"""What happened and who did it: the audit trail, the git committer (the one git runner),
the person at this machine, and the pre-commit hook."""
