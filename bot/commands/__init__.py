"""Commands: the table (registry), parsing and authorisation (dispatch), thin handlers."""
