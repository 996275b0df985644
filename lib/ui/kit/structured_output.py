"""A structured reply: whether it matched its schema, and its JSON as a tree with copy and
download."""

from __future__ import annotations

import json

import streamlit as st

from lib.llm import check_schema, parse_json
from lib.ui.kit import stored_prompts
from lib.ui.kit.text import md

BADGE = {"valid": ("green", "valid JSON"), "repaired": ("orange", "repaired JSON"),
         "invalid": ("red", "invalid JSON")}


def render_structured(meta: dict, content: str, key: str) -> None:
    info = meta.get("structured")
    if not info:
        return
    colour, words = BADGE.get(info.get("status"), BADGE["invalid"])
    repairs = info.get("repairs", 0)
    st.markdown(md(":{}-badge[{}]{}", colour, words,
                   f" after {repairs} repair{'s' if repairs != 1 else ''}" if repairs else ""))
    for error in info.get("errors", ()):
        st.caption(md(":red[✗] {}", error))
    try:
        data = parse_json(content)
    except ValueError:
        return  # not JSON at all: the text above is all there is
    pretty = json.dumps(data, indent=2, ensure_ascii=False)
    tree, raw = st.tabs(["Tree", "JSON"])
    with tree:
        st.json(data, expanded=2)
    with raw:
        st.code(pretty, language="json")  # the code block has a copy button
    st.download_button("Download JSON", pretty, file_name=f"reply-{key}.json",
                       mime="application/json", icon=":material/download:",
                       key=f"json_dl_{key}", on_click="ignore")


def schema_input(prompt_name: str | None, prompt_version: int | None) -> dict | None:
    """The sidebar's output schema: typed here, or else the chosen prompt version's own."""
    declared = None
    if prompt_name and prompt_version:
        declared = stored_prompts.store().get(prompt_name).output_schema(prompt_version)
    text = st.text_area("Output schema (JSON Schema)", key="chat_schema", height=80,
                        placeholder=f"{prompt_name} v{prompt_version}'s own schema" if declared
                        else "None: free text",
                        help="The reply must be JSON matching this schema: enforced natively "
                             "where the provider can (a grammar on the bundled model), "
                             "validated always, and repaired if it fails.")
    return check_schema(text) or declared
