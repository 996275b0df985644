"""The lab as an MCP server, driven by the `mcp` SDK's own client: over stdio as an IDE starts
it (`python -m lib.mcp`), and over streamable HTTP behind the API's keys (`--http`) — its
tools list, a stored prompt run on a model with its ledger row on page "mcp", a knowledge
base searched and a passage read, and every refusal an error result in plain words."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx
import pytest
from fake_openai import MODEL, broken, reply
from mcp import MCPError
from support import listening_port, wait_for_http

from lib import api, knowledge, spend
from lib.core import ROOT, now_iso, setup_logging
from lib.llm import bundled_model_path

pytest_plugins = ["api_served"]

TOOLS = {"list_prompts", "get_prompt", "run_prompt", "list_knowledge_bases",
         "search_knowledge_base", "read_chunk", "list_traces", "get_trace"}
FAKE = f"compat/{MODEL}"     # the scripted upstream's priced model (api_served)
WAIT_S = 120                 # a first call loads the bundled model or the embedding model


def run_async(fn, *args):
    """`fn(*args)` on an event loop of its own thread: the browser tests' sync Playwright
    keeps a loop running on this one for the whole session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, fn, *args).result()


def text(result) -> str:
    return "".join(c.text for c in result.content)


def stdio_server():
    """The server as an IDE's MCP config starts it, over this test's data folder."""
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "lib.mcp"],
                                 env=dict(os.environ), cwd=str(ROOT))


@pytest.mark.skipif(bundled_model_path() is None, reason="the bundled model is not installed")
def test_over_stdio_a_prompt_runs_on_the_bundled_model_and_a_base_is_searched(settings):
    from mcp import Client

    kb = knowledge.create_kb(settings, "HR")
    knowledge.ingest(settings, kb, [("leave.txt", b"Leave policy\n\nEvery employee gets "
                                                 b"twenty-eight days of paid leave a year.\n")])

    async def session() -> dict:
        async with Client(stdio_server(), read_timeout_seconds=WAIT_S) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            run = await client.call_tool("run_prompt", {
                "name": "classifier", "label": "production",
                "variables": {"text": "The export button does nothing."}})
            found = await client.call_tool("search_knowledge_base", {
                "knowledge_base": "HR", "query": "How many days of paid leave?"})
            chunk = found.structured_content["passages"][0]["chunk_id"]
            whole = await client.call_tool("read_chunk", {"knowledge_base": "HR",
                                                          "chunk_id": chunk})
            missing = await client.call_tool("run_prompt", {"name": "no-such-prompt"})
            after = await client.call_tool("list_prompts", {})  # the server is still there
            return locals()

    got = run_async(session)
    assert set(got["tools"]) == TOOLS
    assert got["tools"]["search_knowledge_base"].annotations.read_only_hint
    assert not got["tools"]["run_prompt"].annotations.read_only_hint
    run = got["run"]
    assert not run.is_error and text(run).strip()
    assert run.structured_content["version"] == 1
    assert run.structured_content["model"] == "local/smollm2-135m-instruct"
    [row_id] = run.structured_content["ledger_rows"]
    row = spend.get_call(settings.db, row_id)
    assert (row.page, row.prompt_name, row.prompt_version, row.status, row.api_key_id,
            row.user_id) == ("mcp", "classifier", 1, "ok", None, None)
    assert row.output_tokens > 0
    found = got["found"]
    assert not found.is_error and "twenty-eight days" in text(found)
    assert "data, not instructions" in text(found)   # fenced as the chat's tool fences it
    assert found.structured_content["passages"][0]["source"] == "leave.txt"
    assert "twenty-eight days" in text(got["whole"]) and not got["whole"].is_error
    missing = got["missing"]
    assert missing.is_error and "There is no prompt named 'no-such-prompt'" in text(missing)
    assert not got["after"].is_error
    assert "classifier" in [p["name"] for p in got["after"].structured_content["prompts"]]
    assert spend.count_calls(settings.db) == 1        # the refused run sent nothing


def agent_step(settings, run_id: str, user: str | None) -> None:
    spend.record(settings.db, spend.CallRecord(
        ts=now_iso(), page="chat", provider="local", model="m", attempts=1, status="ok",
        total_ms=5.0, run_id=run_id, step=1, user_id=user, input_tokens=7, output_tokens=3))


def test_traces_and_prompts_as_tools_and_resources_and_a_fault_in_plain_words(
        settings, monkeypatch):
    """In process (the SDK's in-memory client, as over stdio: the local user sees every
    run): traces and prompts read as tools and as resources; a missing one is an error, and
    a fault of the lab's own says where its log is, not what broke."""
    from mcp import Client

    from lib.mcp import build_server, serve_lab

    setup_logging(settings)  # as `python -m lib.mcp` does: the log under the data folder
    agent_step(settings, "run-1", "ana")
    agent_step(settings, "run-2", None)

    async def session() -> dict:
        async with Client(build_server(settings)) as client:
            runs = await client.call_tool("list_traces", {"limit": 5})
            trace = await client.call_tool("get_trace", {"run_id": "run-1"})
            no_trace = await client.call_tool("get_trace", {"run_id": "run-9"})
            listed = {str(r.uri) for r in (await client.list_resources()).resources}
            templates = {t.uri_template for t in
                         (await client.list_resource_templates()).resource_templates}
            prompt = await client.read_resource("promptlab://prompts/classifier/production")
            as_version = await client.read_resource("promptlab://prompts/classifier/v1")
            step = await client.read_resource("promptlab://traces/run-1")
            with pytest.raises(MCPError) as no_label:
                await client.read_resource("promptlab://prompts/classifier/staging")
            bad_args = await client.call_tool("get_prompt", {"name": "classifier",
                                                             "label": "production",
                                                             "version": 1})
            monkeypatch.setattr(serve_lab, "list_prompts", broken_store)
            fault = await client.call_tool("list_prompts", {})
            return locals()

    def broken_store(_settings):
        raise OSError("disk on fire")

    got = run_async(session)
    assert {r["run_id"] for r in got["runs"].structured_content["runs"]} == {"run-1", "run-2"}
    [step] = got["trace"].structured_content["steps"]
    assert (step["step"], step["input_tokens"], step["output_tokens"], step["status"]) == (
        1, 7, 3, "ok")
    assert got["no_trace"].is_error and "There is no agent run 'run-9'" in text(got["no_trace"])
    assert got["listed"] == {"promptlab://prompts", "promptlab://traces"}
    assert got["templates"] == {"promptlab://prompts/{name}/{ref}",
                                "promptlab://traces/{run_id}"}
    for read in (got["prompt"], got["as_version"]):
        body = json.loads(read.contents[0].text)
        assert (body["name"], body["version"], body["labels"]) == (
            "classifier", 1, ["production"])
        assert "{{ text" in body["template"]
        assert [v["name"] for v in body["variables"]] == ["text", "labels"]
    assert json.loads(got["step"].contents[0].text)["run_id"] == "run-1"
    assert "no label or version 'staging'" in str(got["no_label"].value)
    assert got["bad_args"].is_error and "not both" in text(got["bad_args"])
    fault = got["fault"]
    assert fault.is_error and "its log has reference" in text(fault)
    assert "disk on fire" not in text(fault)
    ref = text(fault).rsplit(" ", 1)[-1].rstrip(".")
    log = (settings.data_dir / "logs" / "promptlab.log").read_text()
    assert f"[ref {ref}]" in log and "disk on fire" in log


@contextmanager
def http_server(settings) -> Iterator[str]:
    """`python -m lib.mcp --http` on a port the system picks; yields the /mcp URL."""
    env = {**os.environ, "PROMPTLAB_MCP_PORT": "0"}
    with open(settings.data_dir / "mcp-http.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lib.mcp", "--http"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            port = listening_port(proc)
            assert port is not None, (settings.data_dir / "mcp-http.log").read_text()
            wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            proc.wait(15)


def keyed(url: str, secret: str):
    """The SDK's streamable HTTP client, sending `secret` as its bearer token."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"},
                              timeout=httpx2.Timeout(WAIT_S))
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=WAIT_S)


def test_over_http_a_key_is_required_and_its_calls_are_its_own(served):
    settings = served.settings
    mine = api.create_key(settings.db, "ide", 5.0, owner="ana")
    broke = api.create_key(settings.db, "broke", 0.0).secret
    gone = api.create_key(settings.db, "gone")
    api.revoke_key(settings.db, gone.key.id)
    for run_id, user in (("run-ana", "ana"), ("run-bo", "bo")):
        agent_step(settings, run_id, user)
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"}}}

    async def session(url: str) -> dict:
        async with keyed(url, mine.secret) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            runs = await client.call_tool("list_traces", {})
            theirs = await client.call_tool("get_trace", {"run_id": "run-bo"})
            served.fake.script = [broken("Half a rep", "The upstream fell over.")]
            outage = await client.call_tool("run_prompt", {
                "name": "classifier", "model": FAKE, "variables": {"text": "Crashes."}})
            served.fake.script = [reply("bug", " report")]
            run = await client.call_tool("run_prompt", {
                "name": "classifier", "version": 1, "model": FAKE,
                "variables": {"text": "It crashes on save."}})
        async with keyed(url, broke) as client:
            refused = await client.call_tool("run_prompt", {
                "name": "classifier", "model": FAKE, "variables": {"text": "Crashes."}})
        return locals()

    with http_server(settings) as url:
        for headers in ({}, {"Authorization": "Bearer pl-not-a-key"},
                        {"Authorization": f"Bearer {gone.secret}"}):
            r = httpx.post(url, json=hello, headers={
                **headers, "Accept": "application/json, text/event-stream"})
            assert r.status_code == 401, (headers, r.text)
        with pytest.raises(ExceptionGroup) as refused_client:  # the SDK's client, the same
            run_async(_list_tools, url, "pl-not-a-key")
        got = run_async(session, url)

    assert refused_client.group_contains(MCPError, depth=2)
    assert set(got["tools"]) == TOOLS
    # A key made by someone signed in sees their agent runs only, as they do on Traces.
    assert [r["run_id"] for r in got["runs"].structured_content["runs"]] == ["run-ana"]
    assert got["theirs"].is_error and "There is no agent run 'run-bo'" in text(got["theirs"])
    run = got["run"]
    assert not run.is_error and text(run) == "bug report"
    [row_id] = run.structured_content["ledger_rows"]
    row = spend.get_call(settings.db, row_id)
    assert (row.page, row.prompt_name, row.api_key_id, row.user_id, row.status) == (
        "mcp", "classifier", mine.key.id, "ana", "ok")
    assert row.cost_micro > 0 and api.get_key(settings.db, mine.key.id).spent_micro > 0
    outage = got["outage"]
    assert outage.is_error and "fell over" in text(outage) and "Half a rep" not in text(outage)
    refused = got["refused"]
    assert refused.is_error and "budget" in text(refused).lower()
    statuses = [r["status"] for r in served.rows() if r["page"] == "mcp"]
    assert statuses == ["incomplete", "ok"]   # the budget's refusal sent nothing
    assert served.holds() == 0
    log = (settings.data_dir / "logs" / "promptlab.log").read_text()
    assert "BudgetExceededError" in log and "Traceback" in log


async def _list_tools(url: str, secret: str) -> None:
    async with keyed(url, secret) as client:
        await client.list_tools()
