"""`python -m lib.mcp`: the lab as an MCP server over stdio (an IDE or desktop assistant
starts it), or with `--http` over streamable HTTP behind the API's keys
(PROMPTLAB_MCP_HOST, PROMPTLAB_MCP_PORT)."""

from __future__ import annotations

import argparse

from lib import telemetry
from lib.core import get_settings, setup_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lib.mcp", description=__doc__)
    parser.add_argument("--http", action="store_true",
                        help="serve streamable HTTP (a key from the app's API page as the "
                             "bearer token) instead of stdio")
    http = parser.parse_args(argv).http
    settings = get_settings()
    setup_logging(settings)
    telemetry.setup(settings)  # traces, when an OTLP endpoint is set
    from lib.mcp.serve import run_http, run_stdio  # the SDK, once the arguments are read

    (run_http if http else run_stdio)(settings)


if __name__ == "__main__":
    main()
