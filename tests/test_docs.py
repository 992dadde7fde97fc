"""The docs name only commands and endpoints that exist (README.md and docs/*.md)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import typer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# "stepstone <command> [<subcommand>]" inside code spans or blocks; prose ("stepstone tells you") is not a command
COMMAND = re.compile(r"(?:^|[`$\s])stepstone ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)")
ENDPOINT = re.compile(r"\b(GET|POST|DELETE|PUT|PATCH) (/v1/[A-Za-z0-9_/{}-]*)")
PROSE = {"tells", "made", "predicts", "learns", "answers", "ships", "is", "has", "does", "uses", "reads"}


def _code(text: str) -> str:
    """The text of code spans and fenced blocks only."""
    blocks = re.findall(r"```.*?```", text, flags=re.S)
    spans = re.findall(r"`[^`\n]+`", re.sub(r"```.*?```", "", text, flags=re.S))
    return "\n".join(blocks + spans)


def _commands() -> dict[str, set[str]]:
    from stepstone.cli import app

    group = typer.main.get_group(app)
    out: dict[str, set[str]] = {}
    for name, cmd in group.commands.items():
        out[name] = set(cmd.commands) if isinstance(cmd, click.Group) else set()
    return out


def test_every_command_the_docs_name_exists() -> None:
    known = _commands()
    named: set[tuple[str, str]] = set()
    for doc in DOCS:
        for match in COMMAND.finditer(_code(doc.read_text(encoding="utf-8"))):
            words = match.group(1).split()
            if words[0] in PROSE:
                continue
            named.add((doc.name, match.group(1)))
            assert words[0] in known, f"{doc.name} names `stepstone {words[0]}`, which does not exist"
            if known[words[0]] and len(words) > 1:
                assert words[1] in known[words[0]], f"{doc.name} names `stepstone {match.group(1)}`"
    assert len(named) >= 20  # the docs were read


def test_every_endpoint_the_docs_name_exists() -> None:
    from api.app import create_app

    routes = {(m.upper(), path) for path, ops in create_app().openapi()["paths"].items() for m in ops}
    named = {(m, p.rstrip("/")) for doc in DOCS for m, p in ENDPOINT.findall(doc.read_text(encoding="utf-8"))}
    assert {("DELETE", "/v1/runs"), ("POST", "/v1/plans")} <= named  # both documented
    missing = sorted(f"{m} {p}" for m, p in named if (m, p) not in routes)
    assert not missing, missing
