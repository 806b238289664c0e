"""Anonymous usage statistics for leadership: counts and times, never a person."""
