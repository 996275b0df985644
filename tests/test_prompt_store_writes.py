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


# -- the store accepts only what every reader accepts --------------------------------------

@pytest.mark.parametrize(("field", "value", "named"), [
    ("temperature", float("inf"), "Temperature"), ("temperature", float("-inf"), "Temperature"),
    ("temperature", float("nan"), "Temperature"), ("temperature", -0.1, "Temperature"),
    ("temperature", 2.01, "Temperature"), ("temperature", 1e308, "Temperature"),
    ("temperature", "0.5", "Temperature"), ("temperature", True, "Temperature"),
    ("max_tokens", 0, "Max tokens"), ("max_tokens", -1, "Max tokens"),
    ("max_tokens", 10**9, "Max tokens"), ("max_tokens", 2**63, "Max tokens"),
    ("max_tokens", 1.5, "Max tokens"), ("max_tokens", "512", "Max tokens"),
    ("max_tokens", True, "Max tokens"),
])
def test_model_parameters_no_reader_accepts_are_refused_naming_the_field(store, field, value,
                                                                         named):
    before = snapshot(store.root / "classifier")
    with pytest.raises(PromptStoreError, match=f"^{named} must be"):
        store.create("fresh", "Hi", **{field: value})
    assert not (store.root / "fresh").exists()
    with pytest.raises(PromptStoreError, match=f"^{named} must be"):
        store.save_version("classifier", SOURCE, variables=(Variable("text"),),
                           **{field: value})
    assert snapshot(store.root / "classifier") == before


@pytest.mark.parametrize("line", ["temperature = inf", "temperature = nan",
                                  "temperature = 3.5", "max_tokens = 0", "max_tokens = -1",
                                  "max_tokens = 100000000000", "max_tokens = true"])
def test_a_manifest_edited_by_hand_past_the_limits_is_refused_on_read(store, line):
    manifest = store.root / "classifier" / "manifest.toml"
    key = line.split(" ")[0]
    text = "\n".join(line if row.startswith(f"{key} =") else row
                     for row in manifest.read_text().splitlines())
    manifest.write_text(text)
    with pytest.raises(PromptStoreError, match="is invalid"):
        store.get("classifier")


def test_edges_of_the_ranges_are_kept(store):
    store.create("edges", "Hi", temperature=0, max_tokens=1)
    store.save_version("edges", "Hi!", temperature=2.0, max_tokens=1_000_000)
    prompt = store.get("edges")
    assert (prompt.temperature, prompt.max_tokens, prompt.latest) == (2.0, 1_000_000, 2)


LONE = ["\ud800", "\udfff", "a\udc80b", "\ud83d"]   # halves of pairs, alone


def bad_writes(s: str) -> dict:
    """Every place a lone surrogate can ride into a save: each as save_version's kwargs."""
    return {
        "str default": {"variables": (Variable("text", default=s),)},
        "list default": {"variables": (Variable("text"),
                                       Variable("items", "list", False, ["ok", s]))},
        "json default value": {"variables": (Variable("text"),
                                             Variable("cfg", "json", False, {"k": [s]}))},
        "json default key": {"variables": (Variable("text"),
                                           Variable("cfg", "json", False, {s: 1}))},
        "variable description": {"variables": (Variable("text", description=s),)},
        "output schema": {"variables": (Variable("text"),),
                          "output_schema": '{"type": "object", "description": "' + s + '"}'},
        "note": {"variables": (Variable("text"),), "note": s},
        "author": {"variables": (Variable("text"),), "author": s},
        "model": {"variables": (Variable("text"),), "model": "local/" + s},
        "template": {"variables": (Variable("text"),), "source": SOURCE + s},
    }


@pytest.mark.parametrize("lone", LONE)
@pytest.mark.parametrize("where", list(bad_writes("x")))
def test_a_lone_surrogate_anywhere_is_refused_and_nothing_is_written(store, lone, where):
    from lib.core import TemplateError

    kwargs = dict(bad_writes(lone)[where])
    source = kwargs.pop("source", SOURCE)
    before = snapshot(store.root / "classifier")
    with pytest.raises(TemplateError, match="cannot be saved"):
        store.save_version("classifier", source, **kwargs)
    assert snapshot(store.root / "classifier") == before
    if "output_schema" not in kwargs:  # a first version declares none
        with pytest.raises(TemplateError, match="cannot be saved"):
            store.create("fresh", source, **kwargs)
    assert not (store.root / "fresh").exists() and store.names() == sorted(
        p.name for p in store.root.iterdir())


@pytest.mark.parametrize("kind", ["json", "list"])
@pytest.mark.parametrize("depth", [33, 400, 5_000])
def test_a_default_nested_too_deep_is_refused_without_recursing(store, kind, depth):
    value: object = "x"
    for i in range(depth):
        value = [value] if kind == "list" or i % 2 else {"k": value}
    var = Variable("cfg", kind, required=False, default=value)
    before = snapshot(store.root / "classifier")
    with pytest.raises(VariableError, match="nests deeper than 32 levels"):
        store.save_version("classifier", SOURCE, variables=(Variable("text"), var))
    with pytest.raises(VariableError, match="nests deeper than 32 levels"):
        store.create("fresh", "{{ cfg }}", variables=(var,))
    assert snapshot(store.root / "classifier") == before and not (store.root / "fresh").exists()


def test_a_default_at_the_depth_limit_is_kept(store):
    value: object = 1
    for _ in range(31):
        value = [value]
    store.create("nested", "{{ cfg }}", variables=(Variable("cfg", "json", False, value),))
    assert store.get("nested").variables[0].default == value


@pytest.mark.parametrize("template", [
    "x" * 1_000_000, "{{ x }}" * 150_000, "{% if a %}" * 100_000, "{{ " + "(" * 500_000,
    "{# " + "a" * 2_000_000 + " #}"])
def test_an_oversized_template_is_refused_before_it_is_parsed(store, template):
    from lib.core import RenderError
    from lib.prompts import declared_names

    start = time.monotonic()
    with pytest.raises(RenderError, match="the limit is 100,000"):
        store.create("huge", template)
    with pytest.raises(RenderError, match="the limit is 100,000"):
        store.save_version("classifier", template)
    with pytest.raises(RenderError, match="the limit is 100,000"):
        declared_names(template)
    assert time.monotonic() - start < 1.0  # parsing 1 MB took 5.7 s
    assert not (store.root / "huge").exists()


def test_a_write_that_fails_for_any_reason_leaves_nothing(store, monkeypatch):
    """Not only an OSError: whatever stops a save after the version file was created."""
    from lib.prompts import store as store_module

    def broken(folder, text):
        raise RuntimeError("disk on fire")

    before = snapshot(store.root / "classifier")
    monkeypatch.setattr(store_module, "write_manifest", broken)
    with pytest.raises(RuntimeError):
        store.save_version("classifier", SOURCE, variables=(Variable("text"),))
    with pytest.raises(RuntimeError):
        store.create("fresh", "Hi")
    assert snapshot(store.root / "classifier") == before
    assert not (store.root / "fresh").exists()
