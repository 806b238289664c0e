"""Retention: policies admins write, enforced on real messages, with evidence."""
