"""The repository's own contracts: dependencies in sync, the README's commands, notebook shape."""

import ast
import functools
import importlib.util
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from repro.core import papers

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    wanted = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    assert [p for p in pip if p != "-e ."] == wanted, "environment.yml's pip section drifted from pyproject.toml"
    assert "-e ." in pip
    text = (ROOT / "environment.yml").read_text()
    for pin in PYPROJECT["tool"]["repro"]["no-deps"]:
        assert f"pip install --no-deps {pin}" in text


def test_lock_satisfies_every_range_and_pins_cpu_torch():
    pins = lock()
    deps = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    for spec in deps + PYPROJECT["tool"]["repro"]["no-deps"]:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"lock has {name}=={pins[name]}, outside {req.specifier}"
        )
    assert pins["torch"] == "2.13.0"
    assert "torchvision" not in pins, "torchvision does not import beside the CPU torch"


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./run_all.sh test" in readme and "./run_all.sh\n" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\./run_all\.sh test$", ci, re.M)


@pytest.mark.parametrize("paper", papers.available())
def test_every_paper_has_five_thin_notebooks(paper):
    found = [step for step, _ in papers.notebooks(paper)]
    assert found == list(papers.STEPS)
    for _step, path in papers.notebooks(paper):
        nb = json.loads(path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(params) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        tree = ast.parse("".join(params[0]["source"]))
        assigned = {t.id for node in tree.body for t in node.targets}
        assert assigned == {"profile", "overrides"}, f"{path.name}: parameters cell holds {assigned}"
        assert all(isinstance(node.value, ast.Constant | ast.Dict) for node in tree.body), "plain values only"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), (
            f"{path.name}: stored outputs missing; run --refresh-notebooks"
        )
        assert nb["cells"][0]["cell_type"] == "markdown" and nb["cells"][0]["source"][0].startswith("# ")


def test_runs_and_venv_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/runs/" in ignored and "/.venv/" in ignored


def readme_claim_rows(paper: str) -> dict[str, list[str]]:
    """The README's claims table for ``paper``: the rows after its ``<!-- claims: paper -->`` marker."""
    readme = (ROOT / "README.md").read_text()
    marker = f"<!-- claims: {paper} -->"
    assert marker in readme, f"README has no results section for {paper} (marker {marker})"
    rows = {}
    block = readme.split(marker, 1)[1]
    block = block[block.index("| claim |") :]  # past the summary line and the gates table
    for line in block.splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]  # an escaped \| stays in its cell
        claim_id = cells[0].split()[0]
        if claim_id not in ("claim", "---"):
            rows[claim_id] = cells
    return rows


@pytest.mark.parametrize("paper", [p for p in papers.available() if (ROOT / "results/cpu" / p).is_dir()])
def test_readme_results_match_the_golden_claims(paper):
    """Every number and verdict the README quotes comes from results/cpu/<paper>/claims.json, to the
    digits it shows: a rerun that changes a verdict cannot leave the README behind."""
    golden = json.loads((ROOT / "results/cpu" / paper / "claims.json").read_text())
    rows = readme_claim_rows(paper)
    assert set(rows) == {c["id"] for c in golden["claims"]}
    for claim in golden["claims"]:
        cells, result = rows[claim["id"]], claim["result"]
        shown = cells[1]
        decimals = len(shown.partition(".")[2])
        assert abs(float(shown) - result["effect"]) <= 0.5 * 10**-decimals + 1e-9, (claim["id"], shown, result)
        assert cells[-1].startswith(result["verdict"]), (claim["id"], cells[-1], result["verdict"])


@functools.cache
def readme_tool():
    """tools/readme_claims.py, the script that writes the README's and the pages' generated blocks."""
    spec = importlib.util.spec_from_file_location("readme_claims", ROOT / "tools/readme_claims.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.parametrize("paper", [p for p in papers.available() if (ROOT / "results/cpu" / p).is_dir()])
@pytest.mark.parametrize("where", ["README.md", "docs/papers/{paper}.md"])
def test_results_blocks_are_generated_from_the_golden(paper, where):
    """The README's and the paper page's results block (summary line, gates, claims) is exactly what
    tools/readme_claims.py writes from the golden: a number in it cannot drift from the run."""
    tool = readme_tool()
    text = (ROOT / where.format(paper=paper)).read_text()
    assert tool.block(paper) in text, f"{where.format(paper=paper)}: run tools/readme_claims.py --write {paper}"


def test_the_settings_table_is_generated_from_the_recorded_reruns():
    """The README's table of goldens rerun under other settings is what tools/readme_claims.py writes
    (and every recorded rerun was compared with the golden committed now: a stale one raises)."""
    tool = readme_tool()
    assert tool.settings_block() in (ROOT / "README.md").read_text(), "run tools/readme_claims.py --write <paper>"
