"""Who holds an app and what was done to it: the lock, the audit trail, the operator."""
