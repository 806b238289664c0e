"""A case after consent: handing it over to a colleague and closing it (issue #11.6)."""
