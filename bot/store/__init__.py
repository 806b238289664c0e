"""All SQL lives in this package: the connection and migrations in ``db``, queries per domain."""
