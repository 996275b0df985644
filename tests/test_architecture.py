"""The shape of the code: packages by domain with small public faces, arrows pointing down,
no private names across modules, a specific error at every raise, modules of one job."""

from __future__ import annotations

import ast
import builtins
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("lib/**/*.py"), *ROOT.glob("app_pages/*.py"), ROOT / "Home.py",
                  *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py")])

# Lower packages never import higher ones; packages of the same rank never import each other.
RANK = {"core": 0, "storage": 1, "spend": 2, "users": 2, "llm": 3, "prompts": 4, "knowledge": 4,
        "agents": 5, "chat": 6, "compare": 6, "tokenviz": 6, "api": 7, "evals": 7, "mcp": 8,
        "cli": 8, "ui": 9}
RANK["telemetry"] = 2.5  # between spend (the rows it traces) and llm (whose seam calls it)
RANK["workflows"] = 5.5  # steps are agent runs and prompts; Compare may run a workflow

# The one arrow allowed up: settings name the database (`Settings.db`), and the handle they
# return is storage's, built on core; the import is late, inside the property.
UPWARD = {("lib.core.settings", "storage")}

# Modules allowed past ~300 lines, and why.
LONG_MODULES: dict[str, str] = {
    "lib.llm.call": "one model call: its retry loop, its events, what it may cost and its row",
    "lib.agents.loop": "the agent loop: a step's call, its tool calls run, and every way a run "
                       "ends, read best in one place",
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "lib" and len(parts) > 1 else None


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every import of ours in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lib"):
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("lib")]
    return out


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_sources_were_found():
    assert len(SOURCES) > 100
    assert {package_of(module_name(p)) for p in SOURCES} >= set(RANK)


def test_no_private_name_crosses_a_module():
    found = []
    for path in SOURCES:
        me = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: set[str] = set()
        for module, names, line in imports(path):
            found += [f"{me}:{line} imports {module}.{n}" for n in names if private(n)]
            if private(module.rsplit(".", 1)[-1]):
                found.append(f"{me}:{line} imports the private module {module}")
        for node in ast.walk(tree):  # from lib import knowledge / import lib.x as y
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lib"):
                aliases |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names if a.name.startswith("lib")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                found.append(f"{me}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert found == []


def test_other_packages_use_a_package_only_through_its_face():
    """From outside lib.P, only `lib.P` itself is imported (pages may use lib.ui's modules)."""
    found = []
    for path in SOURCES:
        me = module_name(path)
        mine = package_of(me)
        own = me.removeprefix("tests.test_") if me.startswith("tests.test_") else None
        for module, names, line in imports(path):
            target = package_of(module)
            if target is None or target == mine or module == f"lib.{target}":
                continue
            if own and own in (module.rsplit(".", 1)[-1], *names):
                continue  # a module's own unit test (tests/test_local_tools.py: local_tools)
            if target == "ui" and module.count(".") in (2, 3) and not me.startswith("lib."):
                continue  # a page, the entrypoint or a test using a helper module of lib.ui's
                # packages: `from lib.ui.kit import app`, `from lib.ui.kit.text import md`
            found.append(f"{me}:{line} imports {module}")
    assert found == []


def test_the_ui_kit_needs_no_page():
    """lib.ui.kit is what pages share: it imports none of lib.ui's page modules or packages."""
    found = []
    for path in ROOT.glob("lib/ui/kit/*.py"):
        for module, names, line in imports(path):
            parts = module.split(".")
            if parts[:2] != ["lib", "ui"]:
                continue
            used = parts[2:3] or names  # `from lib.ui.compare import x` / `from lib.ui import y`
            found += [f"{module_name(path)}:{line} imports lib.ui.{u}" for u in used if u != "kit"]
    assert found == []


def test_arrows_point_down():
    found = []
    for path in ROOT.glob("lib/**/*.py"):
        me = module_name(path)
        mine = package_of(me)
        for module, names, line in imports(path):
            targets = {package_of(module)} | (
                {n for n in names if n in RANK} if module == "lib" else set())
            for target in targets - {None, mine}:
                if (me, target) in UPWARD:
                    continue
                if mine is None or RANK[target] >= RANK[mine]:
                    found.append(f"{me}:{line} ({mine}) imports {target}")
    assert found == []


def test_only_ui_and_pages_import_streamlit():
    found = [module_name(p) for p in ROOT.glob("lib/**/*.py")
             if package_of(module_name(p)) != "ui"
             and any(m == "streamlit" or m.startswith("streamlit.")
                     for node in ast.walk(ast.parse(p.read_text()))
                     for m in ([a.name for a in node.names] if isinstance(node, ast.Import)
                               else [node.module or ""] if isinstance(node, ast.ImportFrom)
                               else []))]
    assert found == []


def test_the_base_error_is_raised_only_in_core():
    found = []
    for path in ROOT.glob("lib/**/*.py"):
        if package_of(module_name(path)) == "core":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(
                    node.exc.func, ast.Name) and node.exc.func.id == "PromptLabError":
                found.append(f"{module_name(path)}:{node.lineno}")
    assert found == []


def test_lib_raises_only_errors_of_the_tree():
    """No bare ValueError / RuntimeError / KeyError for a caller to be surprised by."""
    allowed_builtin = {"NotImplementedError", "AttributeError"}  # the latter: PEP 562 faces
    # Converters that raise ValueError by contract, caught one level up and turned into an
    # error naming the variable or setting (an eval file's validators: pydantic's contract,
    # turned into an EvalError naming the line and key).
    converters = {"lib.prompts.variables", "lib.core.settings", "lib.evals.spec",
                  "lib.workflows.spec"}
    found = []
    for path in ROOT.glob("lib/**/*.py"):
        if module_name(path) in converters:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(
                    node.exc.func, ast.Name):
                name = node.exc.func.id
                if name in dir(builtins) and name not in allowed_builtin:
                    found.append(f"{module_name(path)}:{node.lineno} raises {name}")
    assert found == []


@pytest.mark.parametrize("path", sorted(ROOT.glob("lib/**/*.py")), ids=module_name)
def test_modules_hold_one_job_in_a_few_hundred_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 300 or module_name(path) in LONG_MODULES, f"{lines} lines"


def test_importing_every_package_stays_light():
    """The Home page imports the packages' faces: none of them may pull in a heavy library."""
    code = ("import sys, lib.core, lib.storage, lib.spend, lib.llm, lib.prompts, lib.knowledge, "
            "lib.chat, lib.compare, lib.tokenviz\n"
            "heavy = ('pandas', 'numpy', 'torch', 'chromadb', 'llama_cpp', 'anthropic', "
            "'openai', 'tiktoken', 'jinja2', 'bm25s', 'sentence_transformers', 'plotly')\n"
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""


def test_no_face_exports_a_name_that_is_also_one_of_its_modules():
    """Importing lib.P.x sets attribute x on lib.P: a function x exported by the face would
    then be shadowed by the module."""
    import importlib

    found = []
    for init in ROOT.glob("lib/*/__init__.py"):
        package = importlib.import_module(module_name(init.parent / "x")[:-2])
        modules = {p.stem for p in init.parent.glob("*.py")} | {
            p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()}
        found += [f"{package.__name__}.{n}" for n in getattr(package, "__all__", [])
                  if n in modules]
    assert found == []


def test_names_used_through_a_face_are_exported():
    """`knowledge.X` must be in lib.knowledge's face: a lazy face fails only when X is used."""
    import importlib

    faces = {p.parent.name: set(importlib.import_module(f"lib.{p.parent.name}").__all__)
             for p in ROOT.glob("lib/*/__init__.py") if p.parent.name != "ui"}
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "lib":
                bound |= {a.asname or a.name: a.name for a in node.names if a.name in faces}
        if not bound:
            continue
        mine = package_of(module_name(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and bound[node.value.id] != mine
                    and node.attr not in faces[bound[node.value.id]]):
                found.append(f"{module_name(path)}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == []


WRITES = re.compile(r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|(?<!DO )UPDATE|DELETE\s+FROM)\s+([a-z_]+)",
                    re.IGNORECASE)


def test_one_module_writes_each_table():
    """Every table has one module that inserts, updates or deletes its rows (a write that must
    share another table's transaction calls the owner's function with the connection). The
    storage package's own bookkeeping and the migrations are not counted."""
    writers: dict[str, set[str]] = {}
    for path in ROOT.glob("lib/**/*.py"):
        if path.is_relative_to(ROOT / "lib" / "storage"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table in WRITES.findall(node.value):
                    writers.setdefault(table.lower(), set()).add(module_name(path))
    shared = {t: sorted(m) for t, m in writers.items() if len(m) > 1}
    assert shared == {}
    assert {"calls", "conversations", "documents", "chunks", "reservations"} <= set(writers)
