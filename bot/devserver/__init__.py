"""A local Synapse for ``lotse demo`` and the end-to-end tests: loopback only, SQLite."""
