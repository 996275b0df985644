"""`python -m lib.api`: serve the HTTP API (PROMPTLAB_API_HOST, PROMPTLAB_API_PORT)."""

from lib.api.server import serve

if __name__ == "__main__":
    serve()
