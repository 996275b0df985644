"""tools.toml: the MCP servers the lab may use, one `[[server]]` table each, in the data
directory (an example: tools.example.toml in the repository).

A server is either a command the lab starts (`command`, `args`, `env`: spoken to over
its stdin and stdout) or an address (`url`, `headers`: streamable HTTP). `${NAME}` in an
env or header value is replaced, when the server starts, by the environment variable NAME
or the secrets.toml entry NAME; such values are secrets: never logged nor shown. `trusted`
servers' tools run when a model calls them, others' ask first; `[server.tools]` sets a policy
(run, ask, never) per tool. Mistakes are ConfigErrors naming the line, or the server and key."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.agents import POLICIES
from lib.core import ROOT, ConfigError, Settings, remember_secrets, secrets_path

FILE = "tools.toml"
EXAMPLE = ROOT / "tools.example.toml"
NAME = re.compile(r"[A-Za-z0-9_-]{1,24}")
START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0
KEYS = ("name", "command", "args", "env", "url", "headers", "trusted", "tools",
        "start_timeout", "call_timeout")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: str = ""                      # stdio: the program and its arguments
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)      # values may hold ${NAME}
    url: str = ""                          # streamable HTTP
    headers: dict[str, str] = field(default_factory=dict)  # values may hold ${NAME}
    trusted: bool = False
    policies: dict[str, str] = field(default_factory=dict)  # the server's tool -> policy
    start_timeout_s: float = START_TIMEOUT_S
    call_timeout_s: float = CALL_TIMEOUT_S

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def policy(self, tool: str) -> str:
        """A tool's policy: its own line in [server.tools], else run if trusted, else ask."""
        return self.policies.get(tool, "run" if self.trusted else "ask")

    @property
    def where(self) -> str:
        """What it runs or reaches, for a person (never a header or env value)."""
        return " ".join([self.command, *self.args]) if self.command else self.url


def tools_path(settings: Settings) -> Path:
    return settings.data_dir / FILE


_cache: dict[Path, tuple[tuple[int, int], tuple[ServerConfig, ...]]] = {}
_lock = threading.Lock()


def load_servers(path: Path) -> tuple[ServerConfig, ...]:
    """The servers in a tools.toml (none when it does not exist), read again when it
    changes. Raises ConfigError naming what is wrong."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return ()
    stamp = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    servers = parse_servers(path.read_text(encoding="utf-8"), str(path))
    with _lock:
        _cache[path] = (stamp, servers)
    return servers


def parse_servers(text: str, where: str = FILE) -> tuple[ServerConfig, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise ConfigError(f"{where} is not valid TOML: {exc}.") from None
    if unknown := sorted(set(data) - {"server"}):
        raise ConfigError(f"{where}: unknown top-level key {unknown[0]!r}; servers are "
                          "[[server]] tables.")
    tables = data.get("server", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{where}: `server` must be [[server]] tables, one per server.")
    servers = [_server(t, i, where) for i, t in enumerate(tables, 1)]
    names = [s.name for s in servers]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"{where}: two servers are named {dupes[0]!r}; names must differ.")
    return tuple(servers)


def _server(table: Any, number: int, where: str) -> ServerConfig:
    label = f"{where}: server #{number}"
    if not isinstance(table, dict):
        raise ConfigError(f"{label} must be a table.")
    name = table.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{label}: `name` must be 1 to 24 letters, digits, '_' or '-' "
                          f"(got {name!r}).")
    label = f"{where}: server {name!r}"
    if unknown := [k for k in table if k not in KEYS]:
        raise ConfigError(f"{label}: unknown key {unknown[0]!r}; the keys are "
                          f"{', '.join(KEYS)}.")

    def text(key: str) -> str:
        value = table.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"{label}: `{key}` must be a string.")
        return value

    def strings(key: str) -> dict[str, str]:
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{label}: `{key}` must be a table of strings, like "
                              f'{key} = {{ NAME = "value" }}.')
        return value

    def seconds(key: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not 0 < value <= MAX_TIMEOUT_S or math.isnan(value):
            raise ConfigError(f"{label}: `{key}` must be seconds, more than 0 and at most "
                              f"{MAX_TIMEOUT_S:g}.")
        return float(value)

    command, url = text("command").strip(), text("url").strip()
    if bool(command) == bool(url):
        raise ConfigError(f"{label} needs either `command` (a program the lab starts) or "
                          "`url` (a streamable HTTP server), not both.")
    if url and not re.match(r"https?://", url):
        raise ConfigError(f"{label}: `url` must start with http:// or https://.")
    args = table.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"{label}: `args` must be a list of strings.")
    if not command and (args or "env" in table):
        raise ConfigError(f"{label}: `args` and `env` are for a `command`.")
    if not url and "headers" in table:
        raise ConfigError(f"{label}: `headers` are for a `url`.")
    trusted = table.get("trusted", False)
    if not isinstance(trusted, bool):
        raise ConfigError(f"{label}: `trusted` must be true or false.")
    policies = strings("tools")
    if bad := [k for k, v in policies.items() if v not in POLICIES]:
        raise ConfigError(f"{label}: tools.{bad[0]} must be one of {', '.join(POLICIES)} "
                          f"(got {policies[bad[0]]!r}).")
    return ServerConfig(name, command, tuple(args), strings("env"), url,
                        strings("headers"), trusted, policies,
                        seconds("start_timeout", START_TIMEOUT_S),
                        seconds("call_timeout", CALL_TIMEOUT_S))


def expand_variables(values: dict[str, str], what: str) -> dict[str, str]:
    """Values with each ${NAME} replaced from the environment, then secrets.toml; the
    replaced values are remembered as secrets (blanked wherever they turn up in text).
    Raises ConfigError naming the variable, never a value."""
    names = {m.group(1) for v in values.values() for m in _VARIABLE.finditer(v)}
    found: dict[str, Any] = {n: os.environ.get(n) for n in names}
    if missing := [n for n in names if not found[n]]:
        secrets = _secrets()
        found |= {n: secrets.get(n) for n in missing}
    for key, value in values.items():
        for m in _VARIABLE.finditer(value):
            if not isinstance(found[m.group(1)], str) or not found[m.group(1)]:
                raise ConfigError(f"{what} {key} names ${{{m.group(1)}}}, which is set "
                                  "neither in the environment nor in secrets.toml.")
    remember_secrets(*(v for v in found.values() if isinstance(v, str)))
    return {k: _VARIABLE.sub(lambda m: found[m.group(1)], v) for k, v in values.items()}


def _secrets() -> dict[str, Any]:
    path = secrets_path()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # settings report a broken secrets file; here it holds nothing


def executable(command: str) -> str:
    """A bare program name is looked up on PATH, then beside the lab's Python (its
    virtualenv's bin, where `pip install` puts a server's script)."""
    if os.sep in command:
        return command
    found = shutil.which(command) or shutil.which(command, path=str(Path(sys.executable)
                                                                   .parent))
    return found or command
