"""The documentation: the site builds offline with no warning, its CLI reference holds every command and flag of the
parser, its API reference every module; README stays short and keeps its two set-up commands on top; user-facing
text names what a change does, never a tracker number."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from speechvae.cli import build_parser, commands

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx", reason="the docs need the dev extra: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html", str(ROOT / "docs"),
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_the_cli_reference_lists_every_command_and_flag(site):
    page = (site / "cli.html").read_text()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert [c.name for c in commands()] == list(sub.choices)
    for name, parser in sub.choices.items():
        assert f">{name}<" in page or f"speechvae {name}" in page, name
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in page, f"{name} {flag}"


def test_the_api_reference_documents_every_module(site):
    text = "".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    for p in sorted((ROOT / "speechvae").rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        assert f"automodule:: {'.'.join(parts)}\n" in text, ".".join(parts)
    html = (site / "api" / "index.html").read_text()
    for name in ("analyze", "synthesize", "load_model", "mcd", "FeatureFolder"):
        assert f"sv.{name}" in html


def test_readme_is_short_and_starts_with_the_two_set_up_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    head = "\n".join(lines[:15])
    assert re.search(r"^make demo\b", head, re.M) and re.search(r"^make test\b", head, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_tracker_numbers_in_user_facing_text():
    files = [ROOT / "README.md", ROOT / "Makefile", *(ROOT / "docs").rglob("*.md"),
             *[p for d in ("speechvae", "benchmarks", "tests", "recipes") for p in (ROOT / d).rglob("*")
               if p.suffix in (".py", ".sh", ".yaml", ".md", ".txt")]]
    pattern = re.compile(r"\bissues? #?\d+|\(#\d+\)", re.I)
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:80]}" for p in files if p.name != "test_docs.py"
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if pattern.search(line)]
    assert not found, "\n".join(found)
