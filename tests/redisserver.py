"""A throwaway Redis server on 127.0.0.1, from Debian's `redis-server` package, for tests and
benchmarks: one server per session (`redis_server`), emptied before each test that asks for
it (`redis_url`); `RedisServer` alone for a test that stops and restarts its own (an outage).

Nothing is saved to disk. If the server cannot start, this raises: a test that needs it fails
(it is never skipped).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port

BINARY = "/usr/bin/redis-server"


class RedisServer:
    """A redis-server process: `start`, `stop` (an outage) and `start` again on its port."""

    def __init__(self) -> None:
        if not Path(BINARY).exists():
            raise RuntimeError(f"Redis is not installed ({BINARY}); `make test-deps` installs "
                               "Debian's redis-server package")
        self.dir = Path(tempfile.mkdtemp(prefix="promptlab-redis-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start (again, on the same port once it has one); return when it answers PING."""
        import redis

        for _ in range(5):  # another process may take a free port first: try another
            port = self.port or free_port()
            self.proc = subprocess.Popen(
                [BINARY, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no", "--dir", str(self.dir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if client.ping():
                        self.port = port
                        return
                except redis.ConnectionError:
                    pass  # still starting: the loop's condition is the wait
            self.stop()
        raise RuntimeError("redis-server did not start on 127.0.0.1")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, empty: what PROMPTLAB_REDIS_URL names in a test."""
    if redis_server.proc is None:  # a test stopped it
        redis_server.start()
    redis_server.flush()
    return redis_server.url
