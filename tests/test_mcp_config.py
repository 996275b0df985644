"""tools.toml: what a server table may hold, the errors that name the line or the server and
key, tool names within the 64-character rule, policies, and ${NAME} values from the
environment or secrets.toml (remembered as secrets, never in an error)."""

from __future__ import annotations

import pytest

from lib.agents import registered_tools
from lib.core import ROOT, ConfigError, redact
from lib.mcp import (
    RemoteTool,
    ServerStatus,
    expand_variables,
    load_servers,
    parse_servers,
    server_tools,
    tool_name,
)


def test_the_example_in_the_repository_is_valid():
    time, git = load_servers(ROOT / "tools.example.toml")
    assert (time.name, time.transport, time.trusted) == ("time", "stdio", True)
    assert git.policy("git_commit") == "never" and git.policy("git_status") == "run"
    assert git.policy("git_diff") == "ask" and time.policy("get_current_time") == "run"


def test_an_http_server_and_its_defaults():
    [web] = parse_servers('[[server]]\nname = "web"\nurl = "https://mcp.example.com/mcp"\n'
                          'headers = { Authorization = "Bearer ${T}" }\ncall_timeout = 5\n')
    assert (web.transport, web.headers, web.start_timeout_s, web.call_timeout_s) == (
        "http", {"Authorization": "Bearer ${T}"}, 20.0, 5.0)
    assert web.where == "https://mcp.example.com/mcp"


@pytest.mark.parametrize("text,message", [
    ('[[server]]\nname = "a"\ncommand "x"\n', "(at line 3, column 9)"),
    ('[[server]]\nname = "a"\ncomand = "x"\n', "server 'a': unknown key 'comand'"),
    ('[[server]]\nname = "a"\ncommand = "x"\nurl = "http://h"\n', "either `command`"),
    ('[[server]]\nname = "a"\n', "either `command`"),
    ('[[server]]\nname = "a b"\ncommand = "x"\n', "server #1: `name` must be"),
    ('[[server]]\nname = "a"\ncommand = "x"\n[[server]]\nname = "a"\ncommand = "y"\n',
     "two servers are named 'a'"),
    ('[[server]]\nname = "a"\ncommand = "x"\n[server.tools]\nrm = "sometimes"\n',
     "tools.rm must be one of run, ask, never"),
    ('[[server]]\nname = "a"\ncommand = "x"\ntrusted = "yes"\n', "`trusted` must be true"),
    ('[[server]]\nname = "a"\ncommand = "x"\nstart_timeout = 0\n', "`start_timeout` must be"),
    ('[[server]]\nname = "a"\nurl = "ftp://h"\n', "must start with http"),
    ('[[server]]\nname = "a"\nurl = "http://h"\nargs = ["x"]\n', "are for a `command`"),
    ('[[server]]\nname = "a"\ncommand = "x"\nheaders = { A = "b" }\n', "are for a `url`"),
    ('[[server]]\nname = "a"\ncommand = "x"\nenv = { A = 1 }\n', "`env` must be a table"),
    ('[servers]\nname = "a"\n', "unknown top-level key 'servers'"),
])
def test_mistakes_name_the_line_or_the_server_and_key(text, message):
    with pytest.raises(ConfigError) as info:
        parse_servers(text, "tools.toml")
    assert message in str(info.value) and str(info.value).startswith("tools.toml")


def test_a_changed_file_is_read_again(tmp_path):
    path = tmp_path / "tools.toml"
    assert load_servers(path) == ()  # none yet: no servers
    path.write_text('[[server]]\nname = "a"\ncommand = "x"\n')
    assert [s.name for s in load_servers(path)] == ["a"]
    path.write_text('[[server]]\nname = "bb"\ncommand = "x"\n')
    assert [s.name for s in load_servers(path)] == ["bb"]


def test_tool_names_keep_to_the_rule():
    assert tool_name("git", "git_status", set()) == "git__git_status"
    assert tool_name("fs", "read.file/v2", set()) == "fs__read_file_v2"
    long = tool_name("a" * 24, "b" * 60, set())
    assert len(long) == 64 and long.startswith("a" * 24 + "__b")
    # Two remote names that read the same here stay apart.
    assert tool_name("fs", "read_file", {"fs__read_file"}) != "fs__read_file"


def test_tools_carry_their_server_policy_and_annotations():
    [cfg] = parse_servers('[[server]]\nname = "s"\ncommand = "x"\n[server.tools]\n'
                          'drop = "never"\nghost = "run"\n')
    listed = (RemoteTool("look", "Look around.", {"type": "object", "properties": {}},
                         {"readOnlyHint": True}),
              RemoteTool("drop", "", {"type": "object"}, {"destructiveHint": True}, "Drop"),
              RemoteTool("bad", "Refers out.", {"type": "object", "properties": {
                  "x": {"$ref": "https://example.com/schema"}}}, {}))
    found = server_tools(ServerStatus(cfg, "ready", tools=listed))
    look, drop = found.tools
    assert (look.name, look.policy, look.server, look.annotations) == (
        "s__look", "ask", "s", {"readOnlyHint": True})
    assert (drop.policy, drop.description) == ("never", "Drop")
    assert [p.split(":")[0] for p in found.problems] == [
        "bad is left out", "tools.toml sets a policy for ghost, which s does not list."]


def test_values_come_from_the_environment_then_secrets_and_are_secrets(monkeypatch, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('FROM_SECRETS = "secret-from-file-123"\n')
    monkeypatch.setenv("PROMPTLAB_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("FROM_ENV", "secret-from-env-456")
    values = {"A": "Bearer ${FROM_ENV}", "B": "${FROM_SECRETS}", "C": "plain"}
    assert expand_variables(values, "header") == {
        "A": "Bearer secret-from-env-456", "B": "secret-from-file-123", "C": "plain"}
    assert redact("sent secret-from-file-123") == "sent [redacted]"
    with pytest.raises(ConfigError) as info:
        expand_variables({"A": "${FROM_ENV} ${NOT_SET_ANYWHERE}"}, "header")
    assert str(info.value) == ("header A names ${NOT_SET_ANYWHERE}, which is set neither in "
                               "the environment nor in secrets.toml.")


def test_a_broken_tools_toml_leaves_the_built_ins(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "tools.toml").write_text("[[server]\n")
    assert {"calculator", "current_time"} <= set(registered_tools())
    assert not any("__" in name for name in registered_tools())
