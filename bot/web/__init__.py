"""Lotse's own small web pages (the join page for invitations)."""
