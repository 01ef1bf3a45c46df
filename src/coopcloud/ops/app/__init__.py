"""An app's hands-on operations: lifecycle, ps, logs, containers, restart, secrets, volumes, status."""
