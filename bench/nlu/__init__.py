"""NLU benchmark: Palaver's default pipeline on BANKING77 (``python -m bench.nlu``)."""
