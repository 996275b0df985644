"""Untrusted text can reach the screen only through lib.ui.text: a scan of the UI code for
Markdown-rendering calls that bypass it, and the helpers' own escaping."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lib.ui.kit.text import Markdown, inert, md, plain, plain_table

ROOT = Path(__file__).resolve().parents[1]
UI = sorted([*ROOT.glob("lib/ui/**/*.py"), *ROOT.glob("app_pages/*.py"), ROOT / "Home.py"])
HELPERS = {"md", "plain", "inert", "join"}
LABELLED = {"checkbox", "toggle", "radio", "selectbox", "multiselect", "text_input",
            "text_area", "number_input", "slider", "select_slider", "file_uploader",
            "segmented_control", "pills", "date_input", "time_input", "color_picker",
            "expander", "popover", "button", "download_button", "link_button",
            "form_submit_button"}
BODIES = {"markdown", "caption", "title", "header", "subheader", "error", "warning", "info",
          "success", "toast"}
OPTIONS_RENDERED = {"radio", "segmented_control", "pills"}   # their options render Markdown
NOT_STREAMLIT = {"log", "logger", "logging"}


def markdown_functions(trees: dict[Path, ast.Module]) -> set[str]:
    """Functions of the UI declared to return Markdown: their results count as safe."""
    return {node.name for tree in trees.values() for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            and getattr(node.returns, "id", getattr(node.returns, "value", None)) == "Markdown"}


class Checker:
    def __init__(self, path: Path, tree: ast.Module, safe_functions: set[str]) -> None:
        self.path, self.tree, self.safe_functions = path, tree, safe_functions
        self.found: list[str] = []
        self.parents: dict[ast.AST, ast.AST] = {
            child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def scope(self, node: ast.AST) -> ast.AST:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.Lambda):
                return node
        return self.tree

    def safe(self, node: ast.AST | None, seen: frozenset[str] = frozenset()) -> bool:
        if node is None or isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, seen) and self.safe(node.orelse, seen)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(node.left, seen) and self.safe(node.right, seen)
        if isinstance(node, ast.Lambda):
            return self.safe(node.body, seen)
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "Markdown":  # an assertion that text is Markdown: only for literals
                return all(isinstance(a, ast.Constant) for a in node.args)
            if name == "partial" and node.args:  # partial(f, ...) as a format_func: f's output
                f = node.args[0]
                return getattr(f, "id", None) in self.safe_functions | set(HELPERS)
            return name in HELPERS or name in self.safe_functions or (
                name is not None and name.endswith("_html"))  # escaping HTML builders
        if isinstance(node, ast.Name):  # a value, or a function of ours as a format_func
            return node.id in self.safe_functions or self.safe_name(node, seen)
        # A module's constant (view.REF_HELP) is ours; f-strings, str(), other attributes and
        # subscripts are not escaped.
        return isinstance(node, ast.Attribute) and node.attr.isupper()

    def safe_name(self, node: ast.Name, seen: frozenset[str]) -> bool:
        if node.id.isupper() or node.id in seen:
            return True  # a module constant of ours
        scope = self.scope(node)
        args = getattr(scope, "args", None)
        for arg in (args.args + args.kwonlyargs) if args else []:
            if arg.arg == node.id:
                return getattr(arg.annotation, "id", None) == "Markdown"
        values = [n.value for n in ast.walk(scope) if isinstance(n, ast.Assign | ast.AnnAssign)
                  and any(getattr(t, "id", None) == node.id for t in (
                      n.targets if isinstance(n, ast.Assign) else [n.target]))]
        values += [n.value for n in ast.walk(scope) if isinstance(n, ast.AugAssign)
                   and getattr(n.target, "id", None) == node.id]
        return bool(values) and all(self.safe(v, seen | {node.id}) for v in values)

    def flag(self, node: ast.AST, what: str) -> None:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path.name
        self.found.append(f"{where}:{node.lineno} {what}")

    def arg(self, call: ast.Call, position: int | None, keyword: str) -> ast.AST | None:
        for kw in call.keywords:
            if kw.arg == keyword:
                return kw.value
        if position is not None and len(call.args) > position:
            return call.args[position]
        return None

    def check(self) -> list[str]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef) and node.name in self.safe_functions:
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and not self.safe(ret.value):
                        self.flag(ret, f"{node.name} returns unescaped text")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in NOT_STREAMLIT:
                continue
            name = node.func.attr
            checks: list[tuple[int | None, str]] = [(None, "help")]
            if name in BODIES:
                checks.append((0, "body"))
            elif name in LABELLED:
                checks.append((0, "label"))
            elif name == "progress":
                checks.append((1, "text"))
            elif name == "metric":
                checks += [(0, "label"), (1, "value"), (2, "delta")]
            elif name == "page_link":
                checks.append((None, "label"))
            elif name == "write":
                checks += [(i, "") for i in range(len(node.args))]
            elif name == "tabs" and node.args and isinstance(node.args[0], ast.List):
                for element in node.args[0].elts:
                    if not self.safe(element):
                        self.flag(element, "tab label")
            elif name == "table" and node.args and not (
                    isinstance(node.args[0], ast.Call)
                    and getattr(node.args[0].func, "id", None) == "plain_table"):
                self.flag(node, "st.table without plain_table")
            elif name == "html" and node.args and not self.safe(node.args[0]):
                self.flag(node, "st.html of unescaped text")
            if name in OPTIONS_RENDERED:
                fmt = self.arg(node, None, "format_func")
                options = self.arg(node, 1, "options")
                literal = (isinstance(options, ast.List) and all(
                    isinstance(e, ast.Constant) for e in options.elts)) or (
                    isinstance(options, ast.Name) and options.id.isupper())  # a constant
                if not self.safe(fmt) if fmt is not None else not literal:
                    self.flag(node, f"{name} options shown unescaped")
            for position, keyword in checks:
                value = self.arg(node, position, keyword)
                if not self.safe(value):
                    self.flag(node, f"{name}({keyword or position}) of unescaped text")
        return self.found


def scan(paths: list[Path]) -> list[str]:
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in paths}
    safe_functions = markdown_functions(trees)
    return [f for p, tree in trees.items() for f in Checker(p, tree, safe_functions).check()]


def test_the_scan_reads_every_page_and_ui_module():
    assert len(UI) >= 20 and ROOT / "app_pages" / "chat.py" in UI


def test_no_rendering_call_bypasses_the_text_helpers():
    assert scan([p for p in UI if p.name != "text.py"]) == []


def test_the_scan_catches_each_way_around(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import streamlit as st\n"
        "from lib.ui.text import md, plain\n"
        "def f(name, doc, rows, msg):\n"
        "    st.markdown(f'**{name}**')\n"           # an f-string
        "    st.caption(name)\n"                      # a parameter
        "    st.expander(doc.heading)\n"              # an attribute
        "    st.error(str(msg))\n"                    # str() of an error
        "    st.progress(0.5, text=name + 'x')\n"     # a concatenation of raw text
        "    st.table(rows)\n"                        # table cells render Markdown
        "    st.radio('r', rows, format_func=lambda r: r.title)\n"
        "    st.radio('r', rows, format_func=partial(getattr, 'title'))\n"  # not ours to trust
        "    st.button(plain(name), help=name)\n"     # the tooltip too
        "    label = name\n"
        "    st.toast(label)\n"                       # a variable holding raw text
        "    st.tabs([name, 'b'])\n"
        "    st.caption(md('{}', name))\n"            # fine
    )
    found = scan([bad])
    assert len(found) == 11, found


PAYLOADS = ["![x](http://127.0.0.1:9/a)", "![x][r]\n\n[r]: http://127.0.0.1:9/b",
            "[![x](http://127.0.0.1:9/c)](http://e)", ":material/home: :red[x] $x^2$",
            "# heading\n1. list\n- item\n> quote", "a `code` *em* _u_ ~s~ | table |"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_plain_leaves_no_markup(payload):
    out = plain(payload)
    assert isinstance(out, Markdown)
    bare = [i for i, c in enumerate(out) if c in "`*_[]<>!|~:$" and out[i - 1:i] != "\\"]
    assert bare == []
    assert out.replace("\\", "") == payload  # nothing lost: it reads the same


def test_md_escapes_values_not_the_template():
    out = md("**{}** `{}` {n:,} {m}", "![x](u)", "a`b", n=1234, m=plain("ok"))
    assert out == "**\\!\\[x\\](u)** `aˋb` 1,234 ok"


def test_inert_keeps_formatting_but_no_image():
    out = inert("**bold** and ![x](http://e) and ![y][r]")
    assert "**bold**" in out and "![" not in out


def test_plain_table_escapes_keys_and_text_cells():
    assert plain_table([{"![k](u)": "![v](u)", "n": 3}]) == [
        {"\\!\\[k\\](u)": "\\!\\[v\\](u)", "n": 3}]
