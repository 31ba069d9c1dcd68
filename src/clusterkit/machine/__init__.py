"""Machine facts: where the course and its environment are, and what this machine's CPUs are."""
