"""The documentation: every Python example runs, and the site builds without warnings.

Examples are the fenced ``python`` blocks of README.md and docs/**/*.md, run in order
in one namespace per page, in an empty folder. A block that needs the IBM Quantum
service or an account says so on a line ``# requires: ibm-quantum`` and is skipped;
every other block must run. A page may hold setup code that readers need not see in
an HTML comment (``<!-- ... ```python ... ``` -->``): it is a block like the others.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRES_SERVICE = "# requires: ibm-quantum"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each fenced ``python`` block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def run_examples(path: Path, namespace: dict[str, Any] | None = None) -> list[int]:
    """Run a page's examples in the current folder; return the lines of skipped blocks."""
    namespace = {"__name__": "__docs__"} if namespace is None else namespace
    skipped = []
    for line, code in python_blocks(path):
        if REQUIRES_SERVICE in code:
            skipped.append(line)
            continue
        # Padding with newlines makes a traceback name the line in the Markdown file.
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    return skipped


_PAGES = [p for p in doc_pages() if python_blocks(p)]


@pytest.mark.parametrize("page", _PAGES, ids=[str(p.relative_to(ROOT)) for p in _PAGES])
def test_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    skipped = run_examples(page)
    assert len(skipped) < len(python_blocks(page)), "every example of the page is skipped"


def test_examples_are_found_and_only_service_examples_are_skipped() -> None:
    pages = {str(p.relative_to(ROOT)) for p in _PAGES}
    assert {"README.md", "docs/getting-started.md", "docs/cli.md",
            "docs/choosing-a-format.md", "docs/formats/versioning.md"} <= pages
    for page in _PAGES:
        for line, code in python_blocks(page):
            if REQUIRES_SERVICE in code:
                # The marker is for the service only: a skipped block must need it.
                assert "QiskitRuntimeService" in code, f"{page}:{line} is skipped but runs locally"


def test_block_parser_sees_hidden_setup_and_line_numbers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n<!--\n```python\nx = 1\n```\n-->\n\n```python\n"
                    "# requires: ibm-quantum\nraise SystemExit\n```\n\n```python\ny = x + 1\n"
                    "```\n\n```py\nnot python\n```\n", encoding="utf-8")
    assert python_blocks(page) == [(5, "x = 1\n"),
                                   (10, "# requires: ibm-quantum\nraise SystemExit\n"),
                                   (15, "y = x + 1\n")]
    namespace: dict[str, Any] = {}
    assert run_examples(page, namespace) == [10]
    assert namespace["y"] == 2
    page.write_text("```python\n\n1 / 0\n```\n", encoding="utf-8")
    with pytest.raises(ZeroDivisionError) as info:
        run_examples(page)
    assert info.traceback[-1].lineno + 1 == 3  # the line of "1 / 0" in the page


def test_site_builds_without_warnings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSERIAL_")}
    env["NO_MKDOCS_2_WARNING"] = "1"  # a notice of the theme's, not about these pages
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "docs" / "mkdocs" / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    site = tmp_path / "site"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("qserial.dump", "qserial.load", "qserial.formats.Format",
                 "qserial.testing.assert_equal", "qserial.errors.QSerialError"):
        assert f'id="{name}"' in api, name  # the reference is generated from docstrings
    assert ":class:" not in api and ":func:" not in api
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "qserial convert [OPTIONS] SRC... DST" in cli  # the generated CLI reference
    for page in doc_pages()[1:]:
        rel = page.relative_to(ROOT / "docs")
        if rel.parts[0] in ("mkdocs", "examples"):
            continue
        built = site / ("index.html" if rel.stem == "index" else rel.with_suffix("") / "index.html")
        assert built.is_file(), f"{rel} is not in the site"
        # Hidden setup code stays an HTML comment: not shown on the page.
        visible = re.sub(r"<!--.*?-->", "", built.read_text(encoding="utf-8"), flags=re.DOTALL)
        assert "Setup for the examples" not in visible, rel
    _assert_links_resolve(site)


def _assert_links_resolve(site: Path) -> None:
    """Every relative link of every built page leads to a file of the site: MkDocs
    checks links to pages, not to folders or other files."""
    for page in site.rglob("*.html"):
        if page.parent.name == "404" or page.name == "404.html":
            continue
        html = page.read_text(encoding="utf-8")
        for href in re.findall(r'href="([^"#?]+)[^"]*"', html):
            if re.match(r"^[a-z][a-z0-9+.-]*:|^//", href):
                continue  # another site
            target = (page.parent / href).resolve()
            assert target.is_file() or (target / "index.html").is_file(), \
                f"{page.relative_to(site)} links to {href}, which the site does not have"


def test_docs_extra_is_installed_by_the_test_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    names = {re.split(r"[\[<>=!~ ]", r, maxsplit=1)[0].lower() for r in extras["docs"]}
    assert {"mkdocs", "mkdocs-material", "mkdocstrings", "mkdocs-click"} <= names
    assert all(re.search(r">=\s*\d", r) for r in extras["docs"]), extras["docs"]
    assert "qserial[docs]" in extras["test"]
