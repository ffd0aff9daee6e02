"""Assistant quality tooling: data validation, NLU and story tests, reports."""
