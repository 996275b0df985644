"""Who made an API key, once sign-in is on: the key's calls are theirs (the ledger row's user,
under their budget, in Costs by user), as the app's calls are."""

NAME = "0018_api_key_owners"
STEP = """
        ALTER TABLE api_keys ADD COLUMN owner TEXT;
    """
