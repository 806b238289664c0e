"""Office hours and absences: what protects workers' private time (issue #11.5)."""
