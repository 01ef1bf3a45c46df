"""What the user sees: streams, TTY detection, --json, tables, progress. Used by cli/ only."""
