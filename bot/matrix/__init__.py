"""The Matrix layer: the only package that talks to the homeserver. No domain logic here."""
