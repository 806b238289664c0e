"""Lotse: a self-hosted Matrix bot for social-work organisations."""

__version__ = "0.1.0"
