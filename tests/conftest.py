"""Shared fixtures. The end-to-end fixtures (Synapse, personas, the bot) are in tests/e2e."""
