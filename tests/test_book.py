"""The book as a course: chapter layout, exercises, references, diagrams and the offline set-up.

Fast checks on the sources (nothing is executed here: `make test` runs the chapters under nbmake and
`make check-book` opens the built pages in Chromium).
"""
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import yaml  # noqa: E402

from direct2v import viz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PAGES = [c["file"] for part in TOC["parts"] for c in part["chapters"]]
CHAPTERS = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]


def cells(page):
    return json.loads((ROOT / f"{page}.ipynb").read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def test_every_page_of_the_toc_exists():
    for page in PAGES + [TOC["root"]]:
        assert (ROOT / f"{page}.ipynb").exists() or (ROOT / f"{page}.md").exists(), page
    assert len(CHAPTERS) == 7


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_opens_with_title_objectives_install_and_parameters(page):
    top = cells(page)[:5]
    assert top[0]["cell_type"] == "markdown" and text(top[0]).startswith("# "), "the title comes first"
    assert "colab.research.google.com" in text(top[0]), "the Colab badge sits under the title"
    assert any("Learning objectives" in text(c) and "Prerequisites" in text(c) for c in top)
    install = [c for c in top if "hide-output" in tags(c)]
    params = [c for c in top if "parameters" in tags(c)]
    assert install and "google.colab" in text(install[0])
    assert params and cells(page).index(params[0]) > cells(page).index(install[0])


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_ends_with_exercises_and_folded_solutions(page):
    last = text(cells(page)[-1])
    assert last.startswith("## Exercises")
    questions = re.findall(r"^\*\*\d+\.\*\*", last, flags=re.M)
    assert 4 <= len(questions) <= 6
    assert last.count("<details>") == last.count("</details>") == len(questions)
    assert "*(open)*" in last and "*(predict" in last


@pytest.mark.parametrize("page", CHAPTERS)
def test_ipywidgets_output_is_kept_out_of_the_rendered_book(page):
    for cell in cells(page):
        if cell["cell_type"] == "code" and "ipywidgets" in text(cell):
            assert "remove-output" in tags(cell), "a widget has no kernel in the HTML: use viz.html_explorer there"


def test_citations_resolve_and_the_required_references_are_there():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for key in ("hong2023direct2v", "khachatryan2023text2video", "wu2023tuneavideo", "wu2023lamp", "li2023recurrent",
                "rombach2022ldm", "radford2021clip", "liu2022pndm", "cheng2021dualsoftmax", "vonplaten2022diffusers"):
        assert key in keys
    sources = [p.read_text() for p in (ROOT / "book").glob("*.md")] + [
        text(c) for p in CHAPTERS for c in cells(p) if c["cell_type"] == "markdown"]
    cited = {k.strip() for s in sources for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", s) for k in group.split(",")}
    assert cited and cited <= keys, cited - keys


def test_the_book_renders_formulas_and_hides_stderr_without_network():
    assert CONFIG["execute"]["stderr_output"] == "remove"
    sphinx = CONFIG["sphinx"]["config"]
    assert "://" not in sphinx["mathjax_path"], "MathJax must come from the book, not a CDN"
    assert sphinx["html_extra_path"] == ["_mathjax"]
    assert "_mathjax/mathjax" in (ROOT / "Makefile").read_text()


def test_ci_runs_the_tests_then_the_browser_check():
    run = (ROOT / ".ci" / "run").read_text()
    assert run.index("make test") < run.index("make check-book")
    assert "check-book:" in (ROOT / "Makefile").read_text()


def test_unet_map_places_the_released_code_layers_at_the_finest_resolutions():
    blocks = {b["name"]: b for b in viz.unet_blocks()}
    assert blocks["up_blocks.3"]["side"] == 64 and blocks["up_blocks.2"]["side"] == 32
    assert blocks["up_blocks.0"]["attention"] == 0 and blocks["down_blocks.3"]["attention"] == 0
    assert blocks["up_blocks.3"]["attention"] == 3 and blocks["mid_block"]["side"] == 8
    miniature = json.loads((ROOT / "direct2v/shapes/weights/unet/config.json").read_text())
    assert [b["side"] for b in viz.unet_blocks(miniature)][-1] == miniature["sample_size"]


def test_attended_frames_follow_each_rule():
    assert viz.attended_frames("self", 2, 5, 4) == [2]
    assert viz.attended_frames("cross_frame", 2, 5, 4) == [0]
    assert viz.attended_frames("sparse_causal", 3, 5, 4) == [0, 2]
    assert viz.attended_frames("sparse_causal", 0, 5, 4) == [0]
    assert [viz.attended_frames("rvm", 1, t, 4, period=4)[0] for t in range(0, 20, 4)] == [0, 1, 2, 3, 0]


def test_diagrams_draw():
    import matplotlib.pyplot as plt

    viz.unet_map()
    viz.pipeline_overview()
    viz.interaction_diagram(num_frames=3)
    viz.interaction_schedule(num_frames=3, num_steps=8)
    plt.close("all")


def test_html_explorer_embeds_one_image_per_combination():
    import numpy as np

    html = viz.html_explorer(lambda a, b: np.full((4, 4, 3), 10 * a + b, np.uint8), {"a": [0, 1], "b": [1, 2, 3]},
                             title="t").data
    assert html.count('type="range"') == 2
    assert len(json.loads(re.search(r"_img = (\[.*?\]);", html).group(1))) == 6
    with pytest.raises(ValueError, match="axes"):
        viz.html_explorer(lambda a: None, {"a": []})


def test_book_kernels_draw_progress_bars_as_text():
    import subprocess
    import sys

    code = f"exec(open({str(ROOT / 'tools/plain_progress.py')!r}).read()); import tqdm.auto, tqdm.std; " \
           "assert tqdm.auto.tqdm is tqdm.std.tqdm"
    subprocess.run([sys.executable, "-c", code], check=True)
    makefile = (ROOT / "Makefile").read_text()
    assert "IPYTHONDIR=" in makefile and "tools/plain_progress.py" in makefile
