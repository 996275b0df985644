"""MCP servers as tool sources, against real servers on this machine: the reference time and
git servers (installed from PyPI, not written here), a server written to misbehave (slow
start, crash mid-call, a call never answered, a huge result, a line that is not JSON-RPC)
and a streamable-HTTP server behind a bearer token. Each failure is a clear error, nothing
hangs, and no server process outlives its use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes import FakeProvider, ok, scripted
from support import TIME_SERVER, listening_port

from lib import chat
from lib.agents import (
    AgentRun,
    RunFinished,
    ToolFinished,
    registered_tools,
    run_tool,
    tool_sources,
)
from lib.core import ROOT
from lib.llm import CallContext, CallSpec, ChatRequest, Message, ModelInfo, Stop, ToolCall, Usage
from lib.mcp import configured, manager

FIXTURES = Path(__file__).parent / "fixtures"
MISBEHAVING = FIXTURES / "mcp_misbehaving.py"
PAID = ModelInfo("m", "openai", "Paid model", 8000, 1000, input=1.0, output=2.0)


@pytest.fixture
def tools_toml(data_dir):
    """Write the data directory's tools.toml; afterwards every server is stopped."""
    def write(text: str) -> Path:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "tools.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    yield write
    manager().configure(())


def misbehaving(name: str, *flags: str, **keys) -> str:
    """A [[server]] table for the misbehaving server."""
    args = ", ".join(f'"{a}"' for a in (str(MISBEHAVING), *flags))
    extra = "".join(f"\n{k} = {v}" for k, v in keys.items())
    return f'[[server]]\nname = "{name}"\ncommand = "{sys.executable}"\nargs = [{args}]{extra}\n'


def children(word: str) -> list[int]:
    """This process's child processes whose command line holds `word`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # it ended while we looked
        if int(stat[stat.rindex(")") + 2:].split()[1]) == os.getpid() and word in cmdline:
            found.append(int(proc.name))
    return found


def gone(pid: int, timeout_s: float = 30.0) -> bool:
    """Ended and reaped, no process, not even a zombie, within `timeout_s`: a crash is
    reported as soon as the server's output closes, and reaped by its connection just after
    (under load that was after the check)."""
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # a poll for the condition, not a wait for time
    return True


def call(name: str, **arguments):
    return run_tool(registered_tools()[name], ToolCall("c1", name, arguments, "{}"), {})


# -- the reference servers ------------------------------------------------------------------

def test_the_time_server_lists_its_tools_and_answers(tools_toml):
    tools_toml(TIME_SERVER)
    offered = registered_tools()
    assert {"time__get_current_time", "time__convert_time"} <= set(offered)
    assert list(offered).index("calculator") < list(offered).index("time__get_current_time")
    now = offered["time__get_current_time"]
    assert tool_sources()["time__get_current_time"] == "MCP server time"
    assert (now.server, now.policy) == ("time", "ask")  # not trusted: ask first
    assert now.annotations["readOnlyHint"] is True and now.parameters["required"] == ["timezone"]
    [pid] = children("mcp-server-time")

    paris = call("time__get_current_time", timezone="Europe/Paris")
    assert not paris.is_error and '"timezone": "Europe/Paris"' in paris.content
    assert paris.server == "time"
    nowhere = call("time__get_current_time", timezone="Nowhere/Special")
    assert nowhere.is_error and "Invalid timezone" in nowhere.content  # the server's isError
    wrong = call("time__get_current_time", timezone=3)
    assert wrong.is_error and "timezone" in wrong.content  # checked here, before any call
    manager().configure(())
    assert gone(pid)


def test_the_git_server_over_a_throwaway_repository(tools_toml, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "notes.txt").write_text("one\n")
    subprocess.run([*git, "add", "notes.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First notes"], check=True)
    tools_toml(f"""
        [[server]]
        name = "git"
        command = "mcp-server-git"
        args = ["--repository", "{repo}"]

        [server.tools]
        git_status = "run"
        git_commit = "never"
        """)
    offered = registered_tools()
    assert "git__git_commit" not in offered  # never: not offered at all
    assert offered["git__git_status"].policy == "run"
    assert offered["git__git_log"].policy == "ask"
    assert offered["git__git_reset"].annotations["destructiveHint"] is True
    [status] = configured(start=False)
    assert "git__git_commit" in [t.name for t in status.tools]  # the Tools page shows it

    clean = call("git__git_status", repo_path=str(repo))
    assert not clean.is_error and "nothing to commit" in clean.content
    log = call("git__git_log", repo_path=str(repo))
    assert not log.is_error and "First notes" in log.content and log.server == "git"


def test_the_bundled_model_calls_an_mcp_tool_and_the_trace_keeps_its_server(tools_toml,
                                                                              settings, app):
    from fakes import chat_turn

    from lib.chat import TurnOptions
    from lib.llm import LocalProvider, bundled_model_path

    path = bundled_model_path()
    if path is None:
        pytest.skip("the bundled model is not installed")
    tools_toml(TIME_SERVER + "trusted = true\n")
    now = registered_tools()["time__get_current_time"]
    model = ModelInfo("smollm2-135m-instruct", "local", "SmolLM2", 4096, 512)
    turn = chat_turn(settings, None, model, "What time is it in Paris?",
                     TurnOptions(tools=(now,), tool_choice=now.name, temperature=0.0,
                                 max_tokens=96, max_steps=3),
                     calls=scripted(settings, LocalProvider(path, 4096)))
    list(turn)
    [_, reply] = chat.list_messages(settings.db, turn.conversation_id)
    first = reply.meta["steps"][0]["calls"][0]
    assert first["name"] == "time__get_current_time" and first["server"] == "time"
    # What came back is the server's: the time, or its own word on a zone it does not know.
    assert '"datetime"' in first["result"] or "get_current_time" in first["result"]
    trace = chat.run_trace(settings.db, reply.meta["run_id"])
    assert trace is not None and trace.steps[0].calls[0]["server"] == "time"
    assert trace.steps[0].calls[0]["result"] == first["result"]
    traces = app("app_pages/traces.py")  # the latest run, drawn with the call's server
    assert any("`time__get_current_time`" in m.value and "MCP server time" in m.value
               for m in traces.markdown)


# -- a server that misbehaves -----------------------------------------------------------------

def test_a_server_that_hangs_on_start_times_out_with_a_clear_message(tools_toml, tmp_path):
    pidfile = tmp_path / "slow.pid"
    tools_toml(misbehaving("slow", "--slow-start", "600", "--pidfile", str(pidfile),
                           start_timeout=1))
    assert "slow__echo" not in registered_tools()  # listing waited for it, then went on
    [status] = configured(start=False)
    assert status.status.state == "failed"
    assert status.status.error == ("It did not start within 1 s (the start_timeout in "
                                   "tools.toml).")
    assert gone(int(pidfile.read_text()))  # stopped, not left sleeping
    # Tried again, in the background: a listing does not wait for it a second time.
    [again] = manager().start_all(retry_after=0)
    assert again.state == "starting"
    assert manager().settled("slow").state == "failed" and gone(int(pidfile.read_text()))


def test_a_crash_mid_call_is_an_error_and_the_next_call_starts_it_again(tools_toml):
    tools_toml(misbehaving("bad"))
    first = int(call("bad__pid").content)
    crash = call("bad__crash")
    assert crash.is_error and "MCP server bad stopped during the call. It exited." in \
        crash.content and "crashing on purpose" in crash.content  # its last words
    assert gone(first)
    status = manager().settled("bad")
    assert status.state == "failed" and "crashing on purpose" in status.stderr
    again = call("bad__pid")
    assert not again.is_error and int(again.content) != first


def test_a_call_that_never_answers_times_out_and_the_run_goes_on(tools_toml, settings):
    # Trusted: the run calls it without asking (approval is tests/test_approval.py's).
    tools_toml(misbehaving("bad", call_timeout=1, trusted="true"))
    tools = {n: t for n, t in registered_tools().items() if t.server == "bad"}
    pid = int(call("bad__pid").content)
    provider = FakeProvider([
        ([ToolCall("c1", "bad__hang", {}, "{}"), Usage(10, 5), Stop("tool_use")], None),
        ok("It did not answer.")])
    request = ChatRequest(PAID.id, (Message("user", "Try it."),),
                          tools=tuple(t.spec for t in tools.values()))
    agent = AgentRun(scripted(settings, provider), CallSpec(PAID, request, CallContext("chat")),
                     tools)
    events = list(agent)
    [done] = [e.outcome for e in events if isinstance(e, ToolFinished)]
    assert done.is_error and "did not answer within 1 s" in done.content
    assert events[-1] == RunFinished("answered")
    assert int(call("bad__pid").content) == pid  # the same server still answers


def test_a_huge_result_is_cut_and_other_blocks_are_named(tools_toml):
    tools_toml(misbehaving("bad"))
    huge = call("bad__huge", n=200_000)
    assert huge.cut and not huge.is_error
    assert huge.content.endswith("the first 2,000 are shown]")
    assert call("bad__mixed").content == ("a chart:\n[image (image/png), not shown]\n"
                                          "the notes\n[a resource: file:///big.csv]")
    fail = call("bad__fail")
    assert fail.is_error and fail.content == "bad__fail failed: the tool failed on purpose"


def test_a_line_that_is_not_json_rpc_ends_the_connection_with_a_clear_error(tools_toml):
    tools_toml(misbehaving("bad"))
    first = int(call("bad__pid").content)
    garbage = call("bad__garbage")
    assert garbage.is_error and "It sent something that is not JSON-RPC" in garbage.content
    assert "this is not json-rpc" in garbage.content
    assert manager().settled("bad").state == "failed" and gone(first)
    assert call("bad__echo", text="back").content == "back"  # started again


def test_a_server_missing_or_refusing_is_a_failed_status_not_an_exception(tools_toml):
    tools_toml("""
        [[server]]
        name = "nothing"
        command = "no-such-mcp-server-here"
        """)
    [status] = configured(start=True)
    assert status.status.state == "failed" and "no-such-mcp-server-here" in status.status.error
    assert set(registered_tools()) >= {"calculator", "current_time"}


def test_at_exit_no_server_process_is_left(tmp_path):
    """A server that ignores SIGTERM and the end of its stdin is killed when the lab exits."""
    pidfile = tmp_path / "stubborn.pid"
    toml = tmp_path / "tools.toml"
    toml.write_text(misbehaving("s", "--stubborn", "--pidfile", str(pidfile)))
    script = textwrap.dedent(f"""
        from pathlib import Path
        from lib.mcp import manager, parse_servers
        servers = manager()
        servers.configure(parse_servers(Path({str(toml)!r}).read_text()))
        print(servers.call("s", "echo", {{"text": "hello"}}).text)
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.strip() == "hello", done.stderr
    assert gone(int(pidfile.read_text()))


# -- streamable HTTP --------------------------------------------------------------------------

@pytest.fixture
def http_server():
    token = "test-token-7f3a9c21"
    proc = subprocess.Popen([sys.executable, str(FIXTURES / "mcp_http_server.py"), token],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = listening_port(proc)
        assert port is not None, "the HTTP MCP server exited"
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_http_server_with_a_header_from_the_environment(tools_toml, http_server,
                                                            monkeypatch, caplog):
    url, token = http_server
    monkeypatch.setenv("MCP_TEST_TOKEN", token)
    tools_toml(f"""
        [[server]]
        name = "web"
        url = "{url}"
        headers = {{ Authorization = "Bearer ${{MCP_TEST_TOKEN}}" }}

        [[server]]
        name = "wrong"
        url = "{url}"
        headers = {{ Authorization = "Bearer ${{MCP_WRONG_TOKEN}}" }}

        [[server]]
        name = "unset"
        url = "{url}"
        headers = {{ Authorization = "Bearer ${{MCP_UNSET_TOKEN}}" }}
        """)
    monkeypatch.setenv("MCP_WRONG_TOKEN", "not-the-token-at-all")
    monkeypatch.delenv("MCP_UNSET_TOKEN", raising=False)
    assert call("web__add", a=2, b=3).content == "5"
    web, wrong, unset = (s.status for s in configured(start=False))
    assert web.state == "ready" and web.config.transport == "http"
    assert (wrong.state, wrong.error) == ("failed", "It answered HTTP 401: it refused the "
                                                    "credentials (the headers in tools.toml).")
    assert unset.state == "failed" and unset.error == (
        "header Authorization names ${MCP_UNSET_TOKEN}, which is set neither in the "
        "environment nor in secrets.toml.")
    assert token not in caplog.text and "not-the-token-at-all" not in caplog.text
