"""The project's own files agree with each other: dependencies, book table of contents, chapters."""
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_name(r): r.replace(" ", "") for r in pip}


def test_environment_yml_lists_the_same_requirements_as_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def test_toc_has_the_parts_of_the_design_and_every_file_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    captions = [p["caption"].lower() for p in toc["parts"]]
    for part in ("diffusion basics", "the director", "frame interaction", "video generation", "evaluation", "beyond zero-shot"):
        assert part in captions
    for entry in _toc_files():
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry


def test_every_chapter_follows_the_conventions():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    assert chapters
    listed = {Path(f).name for f in _toc_files()}
    for path in chapters:
        nb = json.loads(path.read_text())
        assert path.stem in listed, f"{path.name} is not in _toc.yml"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        first, second = code[0], code[1]
        assert "google.colab" in "".join(first["source"]) and url in "".join(first["source"]), path.name
        assert "hide-output" in first["metadata"].get("tags", []), path.name
        assert "parameters" in second["metadata"].get("tags", []), path.name
        assert "knob(" in "".join(second["source"]), path.name
        for cell in code:
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name}: outputs not cleared"


def test_config_excludes_build_and_test_caches_and_executes_with_cache():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert {"_build", ".pytest_cache"} <= set(config["exclude_patterns"])
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["launch_buttons"]["colab_url"]


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
