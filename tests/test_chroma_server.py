"""Chroma in server mode: `chroma run` on 127.0.0.1, selected by host and port settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import valid
from support import free_port, wait_for_http

from lib import knowledge
from lib.core import load_settings

pytestmark = pytest.mark.server


@pytest.fixture
def chroma_server(tmp_path):
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    port = free_port()
    proc = subprocess.Popen([str(exe), "run", "--path", str(tmp_path / "chroma-server"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc=proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_ingest_and_search_through_a_chroma_server(chroma_server, data_dir):
    settings = load_settings({"PROMPTLAB_DATA_DIR": str(data_dir),
                              "PROMPTLAB_CHROMA_HOST": "127.0.0.1",
                              "PROMPTLAB_CHROMA_PORT": str(chroma_server)})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    kb = knowledge.create_kb(settings, "Server base")
    results = knowledge.ingest(settings, kb, list(valid().items()))
    assert {r.status for r in results} == {"stored"}
    stored = sum(r.chunks for r in results)
    assert knowledge.index_count(settings, kb) == stored
    assert not (data_dir / "chroma").exists()  # the vectors live in the server, not here
    hits = knowledge.search(settings, kb, "When does the office open?", 3, "hybrid")
    assert hits[0].source == "faq.html"
    # The registry can rebuild the server's index too.
    assert knowledge.rebuild_index(settings, kb) == stored
    assert knowledge.index_count(settings, kb) == stored
