"""The prompt store never writes what it cannot read, and a failed save changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lib.core import PromptStoreError, VariableError
from lib.prompts import PromptStore, Variable, render, validate

SOURCE = "Classify: {{ text }}"


@pytest.fixture
def store(prompts_dir: Path) -> PromptStore:
    return PromptStore(prompts_dir)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".lock"}


@pytest.mark.parametrize("variables", [
    (Variable("my var"),), (Variable("1st"),), (Variable("ok\n"),), (Variable(""),),
    (Variable("text", "str"), Variable("text", "int")),
])
def test_a_bad_variable_name_is_refused_and_the_prompt_stays_readable(store, variables):
    before = snapshot(store.root / "classifier")
    with pytest.raises(VariableError):
        store.save_version("classifier", SOURCE, variables=variables)
    assert snapshot(store.root / "classifier") == before
    assert store.get("classifier").latest >= 1


def test_an_unknown_type_is_a_clear_error_on_write_and_on_read(store):
    with pytest.raises(VariableError, match="unknown type 'date'"):
        store.save_version("classifier", SOURCE, variables=(Variable("text", "date"),))
    manifest = store.root / "classifier" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('type = "str"', 'type = "date"', 1))
    with pytest.raises(VariableError, match="unknown type 'date'"):
        store.get("classifier")


def test_a_lone_surrogate_is_refused_before_anything_is_written(store):
    before = snapshot(store.root / "classifier")
    with pytest.raises(PromptStoreError, match="cannot be saved"):
        store.save_version("classifier", SOURCE + "\ud800", variables=(Variable("text"),))
    with pytest.raises(PromptStoreError, match="cannot be saved"):
        store.save_version("classifier", SOURCE, note="bad \udfff note",
                           variables=(Variable("text"),))
    assert snapshot(store.root / "classifier") == before


@pytest.mark.parametrize("name", ["greeter\n", "greeter\r", " greeter", "gr\neeter"])
def test_a_name_with_a_trailing_newline_is_refused(store, name):
    with pytest.raises(PromptStoreError, match="not a valid prompt name"):
        store.create(name, "Hi")
    assert store.names() == sorted(p.name for p in store.root.iterdir()
                                   if (p / "manifest.toml").is_file())


@pytest.mark.parametrize("label", ["production\n", "prod\nx", "Prod", "latest"])
def test_a_bad_label_is_refused(store, label):
    with pytest.raises(PromptStoreError):
        store.set_label("classifier", label, 1)
    store.get("classifier")


def test_a_failed_manifest_write_leaves_no_version_file_and_the_retry_works(store):
    import os
    import threading

    folder = store.root / "classifier"
    before = snapshot(folder)
    latest = store.get("classifier").latest
    # The manifest's temporary file cannot be created: a directory is in its way.
    blocker = folder / f".manifest.toml.{os.getpid()}.{threading.get_ident()}.tmp"
    blocker.mkdir()
    with pytest.raises(PromptStoreError, match="Could not save the manifest"):
        store.save_version("classifier", SOURCE, variables=(Variable("text"),))
    blocker.rmdir()
    assert snapshot(folder) == before  # no v{n}.j2 left behind
    assert store.save_version("classifier", SOURCE, variables=(Variable("text"),)) == latest + 1


def test_a_json_value_nested_too_deep_is_refused_quickly():
    deep = "[" * 100_000 + "]" * 100_000
    start = time.monotonic()
    with pytest.raises(VariableError, match="nests deeper than"):
        validate((Variable("cfg", "json"),), {"cfg": deep})
    with pytest.raises(VariableError, match="nests deeper than"):
        validate((Variable("items", "list"),), {"items": deep})
    assert time.monotonic() - start < 1.0
    nested = "[" * 20 + "1" + "]" * 20  # ordinary nesting still works
    assert render("{{ cfg | tojson }}", validate((Variable("cfg", "json"),), {"cfg": nested}))


def test_a_default_that_toml_cannot_hold_is_refused(store):
    before = snapshot(store.root / "classifier")
    with pytest.raises(PromptStoreError, match="cannot be stored"):
        store.save_version("classifier", SOURCE, variables=(
            Variable("text"), Variable("cfg", "json", required=False, default={"a": None})))
    assert snapshot(store.root / "classifier") == before
