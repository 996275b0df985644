"""A workflow's graph: the references its steps make (the edges), and the rules they must
keep — no unknown step or input, no cycle, values of the type they fill — each broken one a
WorkflowError naming its line. Steps of one level have no edge between them: they run at
once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lib.core import WorkflowError
from lib.workflows.spec import MapStep, OrchestratorStep, Workflow

_PATH = r"((?:\.[A-Za-z0-9_-]+)*)"
_REF = re.compile(rf"inputs\.([A-Za-z_][A-Za-z0-9_]*){_PATH}|item{_PATH}"
                  rf"|([a-z][a-z0-9_]{{0,39}})\.output{_PATH}")
# What fills what: a value of the key's type may fill a place of a type in its set; text
# and JSON places take anything (structured values are written as JSON text).
_FILLS = {"list": {"list", "json"}, "int": {"int", "json"}, "float": {"int", "float", "json"},
          "bool": {"bool", "json"}}


@dataclass(frozen=True)
class Ref:
    """A reference: `source` is "inputs", "item" or a step id; `path` reads into JSON."""

    source: str
    name: str = ""
    path: tuple[str, ...] = ()

    def value(self, inputs: dict[str, Any], outputs: dict[str, Any], item: Any = None) -> Any:
        """What it names, once the inputs, outputs (and the item) are known."""
        value = inputs[self.name] if self.source == "inputs" else item \
            if self.source == "item" else outputs[self.source]
        for part in self.path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                raise WorkflowError(f"{self.text} cannot be read: it has no {part!r}.")
        return value

    @property
    def text(self) -> str:
        head = {"inputs": f"inputs.{self.name}", "item": "item"}.get(self.source,
                                                                    f"{self.source}.output")
        return head + "".join(f".{p}" for p in self.path)


def reference(value: Any) -> Ref | None:
    """The reference a value is, or None for a literal."""
    if not isinstance(value, str) or not (m := _REF.fullmatch(value.strip())):
        return None
    name, ipath, item_path, step, spath = m.groups()
    if name is not None:
        return Ref("inputs", name, _parts(ipath))
    if step is not None:
        return Ref(step, "", _parts(spath))
    return Ref("item", "", _parts(item_path))


def _parts(path: str | None) -> tuple[str, ...]:
    return tuple(p for p in (path or "").split(".") if p)


def condition(text: str) -> tuple[Ref | None, bool]:
    """A `when`: (its reference, whether negated by a leading "not ")."""
    negated = text.strip().startswith("not ")
    return reference(text.strip()[4:] if negated else text), negated


def refs(step: Any) -> Iterator[tuple[tuple[Any, ...], Ref]]:
    """(where in the step, reference) for every reference a step makes."""
    for key, value in step.inputs.items():
        if (r := reference(value)) is not None:
            yield ("inputs", key), r
    if step.when is not None and (r := condition(step.when)[0]) is not None:
        yield ("when",), r
    if (r := reference(getattr(step, "knowledge_base", ""))) is not None:
        yield ("knowledge_base",), r
    if isinstance(step, MapStep):
        if (r := reference(step.over)) is not None:
            yield ("over",), r
        yield from ((("do", *loc), r) for loc, r in refs(step.do) if loc[0] != "when")


class Graph:
    """The checked graph: each scheduled step's dependencies, the workers (steps run only by
    an orchestrator, for its sub-tasks), the levels (steps of one level run at once)."""

    def __init__(self, wf: Workflow, types: dict[str, str] | None = None) -> None:
        """`types`: the output type of model steps (json when their prompt declares a
        schema), from lib.workflows.resolving; without them such outputs are taken as json."""
        self.wf = wf
        self.workers = {w: sid for sid, s in wf.steps.items()
                        if isinstance(s, OrchestratorStep) for w in s.workers}
        self.types = {sid: self._type(sid, (types or {}).get(sid)) for sid in wf.ids}
        self.deps: dict[str, set[str]] = {}
        for sid in wf.ids:
            if sid not in self.workers:
                self.deps[sid] = self._deps_of(sid)
        self._check_outputs()
        self.levels = self._levels()

    @property
    def scheduled(self) -> list[str]:
        return [sid for sid in self.wf.ids if sid not in self.workers]

    def dependents(self, sid: str) -> list[str]:
        return [s for s, deps in self.deps.items() if sid in deps]

    @property
    def outputs(self) -> tuple[str, ...]:
        """The run's outputs: those the file names, else the steps nothing depends on."""
        return self.wf.spec.outputs or tuple(s for s in self.scheduled if not self.dependents(s))

    def ref_type(self, r: Ref, item: str = "json") -> str:
        if r.path:
            return "json"
        if r.source == "inputs":
            return self.wf.spec.inputs[r.name].type
        return item if r.source == "item" else self.types[r.source]

    def fits(self, r: Ref, wanted: str, item: str = "json") -> bool:
        return wanted not in _FILLS or self.ref_type(r, item) in _FILLS[wanted]

    # -- checks -----------------------------------------------------------------------------
    def _type(self, sid: str, given: str | None) -> str:
        kind = self.wf.steps[sid].kind
        fixed = {"condition": "bool", "map": "list", "orchestrator": "list", "tool": "str"}
        if kind in fixed:
            return fixed[kind]
        if kind == "template":
            return "json" if self.wf.steps[sid].parse == "json" else "str"
        return given or "json"

    def _deps_of(self, sid: str) -> set[str]:
        """The steps `sid` waits for, each reference checked; an orchestrator also waits for
        what its workers read."""
        step, deps = self.wf.steps[sid], set()
        places = [(sid, loc, r) for loc, r in refs(step)]
        if isinstance(step, OrchestratorStep):
            for w in step.workers:
                if w not in self.wf.steps:
                    raise self.wf.error(f"unknown worker step {w!r}",
                                        "steps", self.wf.ids.index(sid), "workers")
                if self.workers[w] != sid:
                    raise self.wf.error(f"step {w!r} is a worker of {self.workers[w]!r} "
                                        "already", "steps", self.wf.ids.index(sid), "workers")
                places += [(w, loc, r) for loc, r in refs(self.wf.steps[w])]
        for owner, loc, r in places:
            self._check_ref(owner, loc, r)
            if r.source not in ("inputs", "item"):
                deps.add(r.source)
        return deps

    def _check_ref(self, owner: str, loc: tuple[Any, ...], r: Ref) -> None:
        wf = self.wf
        at = ("steps", wf.ids.index(owner), *loc)
        if r.source == "inputs" and r.name not in wf.spec.inputs:
            raise wf.error(f"missing input: {r.text} names no input in [inputs]", *at)
        if r.source == "item" and not (owner in self.workers or loc[0] == "do"):
            raise wf.error("`item` is a map's element or an orchestrator's sub-task: only "
                           "a map's `do` or a worker step reads it", *at)
        if r.source not in ("inputs", "item"):
            if r.source not in wf.steps:
                raise wf.error(f"unknown step {r.source!r} in {r.text}", *at)
            if r.source == owner:
                raise wf.error(f"step {owner!r} reads its own output: a cycle", *at)
            if r.source in self.workers:
                raise wf.error(f"step {r.source!r} runs only as a worker of "
                               f"{self.workers[r.source]!r}: read that step's output", *at)
        item = "str" if owner in self.workers else "json"
        if loc == ("when",) and not self.fits(r, "bool", item):
            raise wf.error(f"type mismatch: `when` needs a bool, and {r.text} is "
                           f"{self.ref_type(r, item)}", *at)
        if loc == ("over",) and not self.fits(r, "list", item):
            raise wf.error(f"type mismatch: a map runs over a list, and {r.text} is "
                           f"{self.ref_type(r, item)}", *at)

    def _check_outputs(self) -> None:
        for i, sid in enumerate(self.wf.spec.outputs):
            if sid not in self.wf.steps or sid in self.workers:
                raise self.wf.error(f"unknown step {sid!r} among the outputs", "outputs", i)
        for sid in self.scheduled:
            step = self.wf.steps[sid]
            if step.when is not None and condition(step.when)[0] is None:
                raise self.wf.error("`when` names a bool: a step's output (check.output) or an "
                                    "input (inputs.flag), optionally after `not `",
                                    "steps", self.wf.ids.index(sid), "when")
            if isinstance(step, MapStep) and reference(step.over) is None:
                raise self.wf.error("`over` names a list: a step's output or an input",
                                    "steps", self.wf.ids.index(sid), "over")

    def _levels(self) -> list[list[str]]:
        """Kahn's layers; a step left over is on a cycle, named with its path."""
        done: set[str] = set()
        levels: list[list[str]] = []
        left = list(self.scheduled)
        while left:
            ready = [s for s in left if self.deps[s] <= done]
            if not ready:
                raise self._cycle(left)
            levels.append(ready)
            done |= set(ready)
            left = [s for s in left if s not in done]
        return levels

    def _cycle(self, left: list[str]) -> Exception:
        path, at = [left[0]], left[0]
        while True:
            at = sorted(d for d in self.deps[at] if d in left)[0]
            if at in path:
                loop = [*path[path.index(at):], at]
                first = loop[0]
                loc = next((loc for loc, r in refs(self.wf.steps[first]) if r.source == loop[1]),
                           ())
                return self.wf.error(f"a cycle: {' → '.join(loop)}",
                                     "steps", self.wf.ids.index(first), *loc)
            path.append(at)
