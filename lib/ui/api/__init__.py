"""The API page: its keys, and how to call the API."""
