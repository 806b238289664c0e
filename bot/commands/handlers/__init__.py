"""Thin handlers: parse arguments, call the domain, render the reply from the catalog."""
