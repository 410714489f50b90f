"""Queue definitions and their queries."""
