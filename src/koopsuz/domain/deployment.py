"""Parse and check a deployment file; every error names its line and field.

Operators edit these files by hand, so an error that says only "validation failed" costs them an
hour. Parsing keeps the YAML node tree to map each pydantic error path back to a source line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from koopsuz.domain.registry import Deployment


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.field}: {self.message}"


class DeploymentError(ValueError):
    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        listing = "\n".join(f"  {source}: {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in deployment file:\n{listing}")


def parse_deployment(text: str, source: str = "<deployment>") -> Deployment:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise DeploymentError(source, [Problem(line, "yaml", str(getattr(exc, "problem", exc)))]) from None
    dupes = list(_duplicate_keys(root))
    if dupes:
        raise DeploymentError(source, dupes)
    if not isinstance(data, dict):
        raise DeploymentError(source, [Problem(1, "file", "expected a mapping with name, sites, cameras")])
    try:
        deployment = Deployment.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(_line_of(root, err["loc"]), _dotted(err["loc"]), err["msg"]) for err in exc.errors()]
        raise DeploymentError(source, problems) from None
    problems = [Problem(_line_of(root, loc), _dotted(loc), msg) for loc, msg in cross_check(deployment)]
    if problems:
        raise DeploymentError(source, problems)
    return deployment


def cross_check(d: Deployment) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """References between records: ids unique, sites in known cities, cameras on known sites."""
    for kind in ("districts", "cities", "sites", "cameras"):
        seen: set[str] = set()
        for i, item in enumerate(getattr(d, kind)):
            if item.id in seen:
                yield (kind, i, "id"), f"duplicate id {item.id!r}"
            seen.add(item.id)
    districts = {x.id: x for x in d.districts}
    cities = {x.id: x for x in d.cities}
    sites = {x.id: x for x in d.sites}
    for i, c in enumerate(d.cities):
        if c.district and c.district not in districts:
            yield ("cities", i, "district"), f"unknown district {c.district!r}"
        elif c.district and districts[c.district].region != c.region:
            yield ("cities", i, "district"), f"district {c.district!r} is not in {c.region}"
    for i, s in enumerate(d.sites):
        if s.city:
            city = cities.get(s.city)
            if city is None:
                yield ("sites", i, "city"), f"unknown city {s.city!r}"
            elif city.region != s.region:
                yield (
                    ("sites", i, "region"),
                    f"site is in {s.region} but its city {s.city!r} is in {city.region}",
                )
        if s.district and s.district not in districts:
            yield ("sites", i, "district"), f"unknown district {s.district!r}"
        elif s.district and districts[s.district].region != s.region:
            yield ("sites", i, "district"), f"district {s.district!r} is not in {s.region}"
    for i, cam in enumerate(d.cameras):
        if cam.site not in sites:
            yield ("cameras", i, "site"), f"unknown site {cam.site!r}"


def _duplicate_keys(node: yaml.Node | None) -> Iterable[Problem]:
    """YAML silently keeps the last of two equal keys; in a hand-edited file that is a typo."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if k.value in seen:
                yield Problem(k.start_mark.line + 1, str(k.value), "key given twice in the same record")
            seen.add(k.value)
            yield from _duplicate_keys(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from _duplicate_keys(v)


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "file"


def _line_of(root: yaml.Node | None, loc: Iterable[str | int]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == part), None)
            if nxt is None:
                key_line = node.start_mark.line + 1
                return key_line if line is None else line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line
