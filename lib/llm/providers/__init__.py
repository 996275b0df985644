"""Adapters behind the provider protocol; callers use lib.llm, not these modules."""
