"""An API request answers with the model it names, or fails; a key made with this flag lets its
requests fall back down the catalog's chains unless a request says otherwise."""

NAME = "0022_api_key_fallbacks"
STEP = """
        ALTER TABLE api_keys ADD COLUMN fallbacks INTEGER NOT NULL DEFAULT 0;
    """
