"""The repository's shape: imports that point one way, and a repository that explains itself.

Static checks only (ast and text): nothing here imports a paper's models or runs a step.
"""

import ast
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from repro.core import papers

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"
PACKAGE = LIB / "repro"


# ----------------------------------------------------------------------------------------------
# imports inside lib/repro


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every import statement, at any depth (a function-level import is still a dependency), except
    those under ``if TYPE_CHECKING:`` (never executed)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            stack.append(child)


def _resolve(name: str) -> str | None:
    """The kit's module ``name`` names, or the closest enclosing one (``repro.x.fn`` -> ``repro.x``)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports_of(name: str) -> frozenset[str]:
    """The kit's modules that module ``name`` imports explicitly (parents of a submodule are not
    counted: a package importing its own submodules is not a cycle Python cares about)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target.split(".")[0] != "repro":
                continue
            resolved = _resolve(target)
            if resolved and resolved != name:
                found.add(resolved)
    return frozenset(found)


def import_cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(imports_of(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(modules()):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_the_import_graph_sees_the_kits_imports():
    """The checker itself: it finds the imports it must find (or every other test here passes vacuously)."""
    assert "repro.core.config" in imports_of("repro.core.steps")  # from .config import ...
    assert "repro.core.steps" in imports_of("repro.core.data")  # from .steps import ...
    assert any(m.startswith("repro.core") for m in imports_of("repro.mmard.pipeline"))


def test_no_import_cycle_inside_lib_repro():
    cycles = import_cycles()
    assert not cycles, "import cycles in lib/repro (move the shared piece to a module both can import):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def paper_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in papers.ALL_PAPERS else None


def test_no_paper_imports_another_and_the_core_imports_no_paper():
    """Papers sit on the core; tools beside them (``repro.<tool>``) may use any paper."""
    wrong = []
    for name in modules():
        own, in_core = paper_of(name), name.startswith("repro.core")
        for target in imports_of(name):
            other = paper_of(target)
            if other and (in_core or (own and other != own)):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_nothing_in_the_library_imports_a_pipeline():
    """Step functions are called by notebooks, the CLI and the runner (through repro.core.papers);
    what a library module needs of a step's outputs lives in the paper's artifacts.py."""
    wrong = [
        f"{name} imports {target}"
        for name in modules()
        for target in imports_of(name)
        if target.endswith(".pipeline") and target != name
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("paper", papers.ALL_PAPERS)
def test_a_config_module_imports_no_torch_and_no_method(paper):
    """Reading a profile must stay cheap and side-effect free: ``repro.<paper>.config`` pulls in
    neither torch nor the paper's models and kernels (only the core's config and the paper's own
    plain-data modules)."""
    code = (
        f"import sys, repro.{paper}.config; "
        f"heavy = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]; "
        f"own = sorted(m for m in sys.modules if m.startswith('repro.{paper}.') and m != 'repro.{paper}.config'); "
        "print(len(heavy), own)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert out[0] == "0", f"repro.{paper}.config imports torch (through {out[1].strip()})"


def test_nothing_cuda_specific_outside_the_runtime():
    """The same code runs on CPU and GPU: device-specific calls (synchronise, RNG devices, memory
    peaks, the GPU's name) go through repro.core.runtime, so a paper never branches on CUDA itself."""
    runtime = LIB / "repro" / "core" / "runtime.py"
    wrong = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((LIB / "repro").rglob("*.py"))
        if path != runtime
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\btorch\.cuda\b|\.is_cuda\b", line)
    ]
    assert not wrong, "\n".join(wrong)


# ----------------------------------------------------------------------------------------------
# references: everything a reader is pointed to is inside the repository

# Documents of the workplace that built the kit, which a clone does not have.
OUTSIDE = {
    "the paper card": re.compile(r"(?<!model )\bcards?\b(?!\s*(?:game|reader))", re.I),
    "DESIGN.md": re.compile(r"\bDESIGN\.md\b"),
    "ENVIRONMENT.md": re.compile(r"\bENVIRONMENT\.md\b"),
    "the seeds file": re.compile(r"\bseeds/papers\.txt\b|\bpapers\.txt\b"),
    "the shared folder": re.compile(r"\.\./shared\b|\bshared/(?:papers|seeds|tools)\b|/work/shared\b"),
    "an absolute workplace path": re.compile(r"/work/(?:main|brief|\.library)\b"),
}
MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DOCS_PATH = re.compile(r"(?<![\w/.-])((?:\.\./)*docs/[\w./-]*\w\.(?:md|png|svg|pdf|ipynb))\b")
THIS_FILE = Path(__file__).resolve()


def scanned_files() -> list[Path]:
    """Code, notebooks, top-level documents, docs and manifests: what a user of the clone reads."""
    files = [ROOT / name for name in ("README.md", "CONTRIBUTING.md", "run_all.sh", "pyproject.toml")]
    for folder, pattern in (
        ("lib", "*.py"),
        ("lib", "*.json"),
        ("tests", "*.py"),
        ("notebooks", "*.ipynb"),
        ("docs", "*.md"),
        ("data_manifests", "*.yaml"),
    ):
        files += sorted((ROOT / folder).rglob(pattern))
    skip = ("_artifacts", ".ipynb_checkpoints", "__pycache__")
    return [f for f in files if f.exists() and f.resolve() != THIS_FILE and not any(s in f.parts for s in skip)]


def group_of(path: Path) -> str:
    return "top-level" if path.parent == ROOT else path.relative_to(ROOT).parts[0]


def readable_text(path: Path) -> str:
    """A notebook's cell sources (its stored outputs are run logs, not references); any other file whole."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def bad_references(path: Path) -> list[str]:
    text = readable_text(path)
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for what, pattern in OUTSIDE.items():
            if m := pattern.search(line):
                found.append(f"{lineno}: {what} ({m.group(0)!r})")
        missing = set()  # a line's link and its path in backticks name one missing file once
        targets = []
        if path.suffix in (".md", ".ipynb"):
            for target in MD_LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or "<" in target or "{" in target:
                    continue  # a URL (http:, mailto:) or a template such as docs/papers/<paper>.md
                targets.append((path.parent, target))
        targets += [(path.parent if t.startswith("..") else ROOT, t) for t in DOCS_PATH.findall(line)]
        for base, target in targets:
            if target.startswith("#"):
                continue  # an anchor in the same page
            resolved = (base / target.split("#", 1)[0].split("?", 1)[0]).resolve()
            if not (resolved.is_relative_to(ROOT) and resolved.exists()) and resolved not in missing:
                missing.add(resolved)
                found.append(f"{lineno}: {target} does not exist in the repository")
    return found


def test_the_reference_checks_catch_what_they_should():
    """The patterns themselves, on text that must and must not be flagged."""
    flagged = ["as the card says", "(card, Metrics)", "see DESIGN.md", "ENVIRONMENT.md: pitfalls",
               "seeds/papers.txt", "../shared/tools/x.sh", "the paper cards"]  # fmt: skip
    fine = ["the sentence-transformers model card defines it", "docs/design.md", "discard the rest"]
    for text in flagged:
        assert any(p.search(text) for p in OUTSIDE.values()), text
    for text in fine:
        assert not any(p.search(text) for p in OUTSIDE.values()), text
    assert DOCS_PATH.findall("see `docs/papers/nosuch.md` and ../../docs/design.md.") == [
        "docs/papers/nosuch.md",
        "../../docs/design.md",
    ]
    links = MD_LINK.findall("[a](../../docs/x.md#y) ![b](docs/jupyterlab.png)")
    assert links == ["../../docs/x.md#y", "docs/jupyterlab.png"]


def test_missing_and_outside_targets_are_reported_once(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "[gone](../../docs/papers/nosuch.md) and `docs/papers/nosuch.md`\n"
        "[web](https://example.org/x.md) [template](docs/papers/<paper>.md) [here](#top)\n"
        "[outside](../elsewhere.md)\n"
    )
    found = bad_references(page)
    assert [f.split(":")[0] for f in found] == ["1", "1", "3"], found  # nosuch twice: two different paths


def test_scanned_files_cover_code_notebooks_and_docs():
    names = {p.relative_to(ROOT).parts[0] for p in scanned_files()}
    assert {"README.md", "CONTRIBUTING.md", "lib", "tests", "notebooks", "docs"} <= names


@pytest.mark.parametrize("folder", ["top-level", "lib", "tests", "notebooks", "docs", "data_manifests"])
def test_no_reference_to_a_file_outside_the_repository(folder):
    """Code, notebooks, README, CONTRIBUTING, docs and manifests point only inside the repository: not
    to the workplace's paper cards, design or environment notes, seeds file or shared folder, and every
    markdown link or ``docs/...`` path names a file that exists."""
    files = [p for p in scanned_files() if group_of(p) == folder]
    assert files, f"nothing scanned in {folder}"
    offenders = {str(p.relative_to(ROOT)): refs for p in files if (refs := bad_references(p))}
    report = "\n".join(f"{name}:\n    " + "\n    ".join(refs) for name, refs in sorted(offenders.items()))
    assert not offenders, f"{len(offenders)} files refer outside the repository:\n{report}"


# ----------------------------------------------------------------------------------------------
# every paper documents itself


@pytest.mark.parametrize("paper", papers.available())
def test_every_paper_has_its_page_and_each_notebook_links_it(paper):
    page = ROOT / "docs" / "papers" / f"{paper}.md"
    assert page.is_file(), f"docs/papers/{paper}.md is missing"
    link = f"../../docs/papers/{paper}.md"
    missing = []
    for _step, path in papers.notebooks(paper):
        first = json.loads(path.read_text())["cells"][0]
        if first["cell_type"] != "markdown" or link not in "".join(first["source"]):
            missing.append(path.name)
    assert not missing, f"first markdown cell does not link {link}: {', '.join(missing)}"


def test_notebooks_folder_holds_only_the_five_notebooks_per_paper():
    """A notebook left behind by an interrupted refresh (``.<name>.tmp-*.ipynb``) was once committed,
    and nbval then ran it as a sixth notebook: only ``<paper>/0N_<step>.ipynb`` may be tracked."""
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    stray = [f for f in tracked if not re.fullmatch(r"notebooks/[a-z0-9]+/0[1-5]_[a-z]+\.ipynb", f)]
    assert not stray, f"files in notebooks/ that are not a paper's five notebooks: {stray}"
