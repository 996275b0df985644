"""A person's path: the API page says the API answers at its configured address; make an API
key there, use it from the openai SDK against the API (`python -m lib.api`, same data
folder), then revoke it on the page: the next call is refused with 401."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest
from playwright.sync_api import Page, expect
from support import expand, listening_port, rerun, wait_for_http, wait_idle

ROOT = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"pl-[A-Za-z0-9_-]{40,}")


@pytest.fixture
def api_url(app_data: Path, tmp_path: Path):
    """The API over the app's data folder, started as `make serve` starts it, on a port the
    system picks (read back from the process)."""
    env = {**os.environ, "PROMPTLAB_DATA_DIR": str(app_data), "PROMPTLAB_API_PORT": "0",
           "PROMPTLAB_PROMPTS_DIR": str(tmp_path / "prompts"),
           "PROMPTLAB_SECRETS_FILE": os.devnull, "HF_HUB_OFFLINE": "1"}
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "PROMPTLAB_OPENAI_BASE_URL"):
        env.pop(var, None)
    proc = subprocess.Popen([sys.executable, "-m", "lib.api"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = listening_port(proc)
        if port is None:
            raise RuntimeError(f"the API did not start:\n{proc.communicate()[0]}")
        wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.returncode is None:
            proc.terminate()
            out, _ = proc.communicate(timeout=15)
            if "Traceback" in (out or ""):
                print(out)


@pytest.fixture
def app_env(api_url: str) -> dict[str, str]:
    """The app is configured for the API's port: its page looks there."""
    return {"PROMPTLAB_API_PORT": str(urlsplit(api_url).port)}


def test_a_key_made_in_the_app_works_until_it_is_revoked(page: Page, app_url: str,
                                                         api_url: str):
    page.goto(f"{app_url}/api")
    expect(page.get_by_role("heading", name="API", level=1)).to_be_visible()
    expect(page.get_by_text("No keys yet")).to_be_visible()
    # The address the app is configured for, and the server answering there.
    expect(page.get_by_text(f"The API is answering at {api_url}")).to_be_visible()
    page.get_by_role("textbox", name="Name").fill("browser key")
    with rerun(page):
        page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Copy the secret now")).to_be_visible()
    codes = page.get_by_test_id("stCode").all_inner_texts()
    secret = next(c.strip() for c in codes if SECRET.fullmatch(c.strip()))
    table = page.get_by_test_id("stTable")
    expect(table).to_contain_text("browser key")
    expect(table).to_contain_text(secret[:10])
    assert secret not in table.inner_text()  # only the prefix is listed

    client = openai.OpenAI(base_url=api_url, api_key=secret, max_retries=0, timeout=60)
    reply = client.chat.completions.create(
        model="local/smollm2-135m-instruct", max_tokens=8,
        messages=[{"role": "user", "content": "Say hello."}])
    assert reply.choices[0].message.content.strip()

    page.reload()  # the secret was shown once: it is gone now; the call is counted
    wait_idle(page)  # the page has run to its end: had it kept the secret, it would show
    expect(page.get_by_test_id("stTable")).to_contain_text("active")
    expect(page.get_by_text("Copy the secret now")).to_have_count(0)
    assert not any(secret in c for c in page.get_by_test_id("stCode").all_inner_texts())

    # As a person does: open the panel and let it finish opening (a click while it grows can
    # press on the box and release beside it: no tick), tick, see it ticked and the button
    # come alive, then revoke.
    expand(page.get_by_text("Revoke a key or change its budget"))
    revoke = page.get_by_role("button", name="Revoke key")
    expect(revoke).to_be_disabled()
    with rerun(page):
        page.get_by_text("Yes, revoke this key").click()
        expect(page.get_by_role("checkbox", name=re.compile("^Yes, revoke this key"))
               ).to_be_checked()
    expect(revoke).to_be_enabled()
    with rerun(page):
        revoke.click()
    expect(page.get_by_test_id("stTable")).to_contain_text("revoked")
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        client.chat.completions.create(
            model="local/smollm2-135m-instruct", max_tokens=8,
            messages=[{"role": "user", "content": "Say hello again."}])
