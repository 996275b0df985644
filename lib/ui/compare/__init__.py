"""The Compare pages: a new comparison (variants, input, checks, forecast, run) and a saved run."""
