"""Bringing in clients who have no account yet: invitations, pairing, the join page."""
