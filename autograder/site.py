"""``make site``: the course website, built with Sphinx and MyST-NB from what students may see.

It starts from the publication (:mod:`autograder.publish`), never from the
source assignments, so it can only show what the public repository shows:

* a landing page (what the course is, who it serves, the study plan, how to
  start on Colab);
* a page per unit, executed in quick mode on the synthetic data, figures
  embedded. The test suite already executes every unit on the Colab replica
  and keeps the result in ``build/executed/``; a copy whose source digest
  matches the unit is reused, anything else is executed here;
* a page per released assignment, not executed (its exercises are blank);
* the instructors' pages from ``docs/``.

MyST-NB renders notebooks that already hold their outputs (``nb_execution_mode
= "off"``), Sphinx checks every internal reference, and the book theme gives
a readable page with a table of contents.

    python -m autograder.site _site
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.publish import publish
from course import __version__
from course.notebooks import QUICK_ENV, ROOT, colab_url, execute
from course.runtime import REPO_URL

EXECUTED = ROOT / "build" / "executed"
STATIC = Path(__file__).resolve().parent / "site_static"
# The site shows its own badge: a page must not depend on another host to look right.
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "../_static/open-in-colab.svg"
INSTRUCTOR_DOCS = ("instructors.md", "autograder.md")
QUICK_NOTE = ("> This page was executed in **quick mode on synthetic data** "
              "(`COURSE_QUICK=1`, generated pictures in the real datasets' formats): small "
              "datasets and few "
              "epochs, so its figures show what the code does, not what it reaches on the real "
              "data. {real} [Open it in Colab]({colab}) to run it in full.")

CONF = '''project = "Deep learning for image classification and segmentation"
release = "{version}"
extensions = ["myst_nb"]
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
html_theme = "sphinx_book_theme"
html_title = "Deep learning for image classification and segmentation"
html_theme_options = {{"repository_url": "{repo}", "use_repository_button": True,
                       "path_to_docs": "", "home_page_in_toc": True}}
exclude_patterns = ["_build"]
html_static_path = ["_static"]
# GitHub draws the mermaid diagram of docs/autograder.md; here it stays a code block.
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]
'''


def landing_page(units: list[Path], assignments: list[Path]) -> str:
    def title(path: Path) -> str:
        return nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ")

    unit_toc = "\n".join(f"units/{p.stem}" for p in units)
    assignment_toc = "\n".join(f"assignments/{p.stem}" for p in assignments)
    plan = "\n".join(f"{i}. [{title(p)}](units/{p.stem}.ipynb)" for i, p in enumerate(units, 1))
    return f"""# Deep learning for image classification and segmentation

An open course in TensorFlow and Keras, release v{__version__}: six teaching notebooks
that run on Google Colab or a laptop, and four assignments graded by a sandboxed
autograder.

**Who it is for.** Students of a class, who open each notebook in Colab and go;
instructors, who release, collect, grade and return feedback with one command line
tool; and anyone studying alone: every exercise has a check that says what is wrong,
not just "failed".

## Study plan

{plan}

Then the assignments: a CNN that reads handwritten digits, facial keypoint detection
scored in pixels, semantic segmentation of pets, and a short project of your own.

## Start on Colab

Open a unit below and click its **Open in Colab** badge. Choose a GPU runtime
(*Runtime > Change runtime type > T4 GPU*) and run the notebook top to bottom: its
first cell installs the course package (the version the notebook was released with)
and keeps datasets and checkpoints on your Google Drive. The pages here were run in
a one-minute quick mode on generated data; the notebooks say what changes in full.

```{{toctree}}
:caption: Units
:maxdepth: 1

{unit_toc}
```

```{{toctree}}
:caption: Assignments
:maxdepth: 1

{assignment_toc}
```

```{{toctree}}
:caption: Instructors
:maxdepth: 1

instructors/{INSTRUCTOR_DOCS[0].removesuffix('.md')}
instructors/{INSTRUCTOR_DOCS[1].removesuffix('.md')}
```
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def executed_unit(path: Path, work: Path) -> tuple[nbformat.NotebookNode, str]:
    """The unit with its outputs: the test suite's execution if it is of this very source."""
    kept = EXECUTED / path.name
    if kept.exists():
        nb = nbformat.read(kept, as_version=4)
        if nb.metadata.get("course", {}).get("executed_from") == digest(path):
            return nb, "reused"
    copy = work / path.name
    shutil.copy(path, copy)
    result = execute(copy, timeout=600, cell_timeout=600, env=QUICK_ENV)
    if not result.ok:
        raise RuntimeError(f"{path.name} failed while building the site:\n{result.error}")
    return result.notebook, "executed"


def with_local_badge(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.cells[0].source = nb.cells[0].source.replace(COLAB_BADGE_IMAGE, LOCAL_BADGE)
    return nb


def with_quick_note(nb: nbformat.NotebookNode, published_path: str, real: str) -> None:
    note = QUICK_NOTE.format(real=real, colab=colab_url(published_path))
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(note))


def real_figures(unit: Path) -> str:
    """Where the real-data figures of a unit are recorded in bench/results, if anywhere."""
    found = [p for p in sorted((ROOT / "bench" / "results").glob("*full*.json"))
             if unit.stem.split("_")[0].lstrip("0") in p.read_text()]
    if not found:
        return ""
    links = ", ".join(f"[{p.name}]({REPO_URL}/blob/main/bench/results/{p.name})" for p in found)
    return f"Figures measured on the real data: {links}."


def build(out: Path) -> dict:
    started = time.perf_counter()
    out = out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        public = publish(ROOT, tmp / "public").folder
        src = tmp / "site"
        (src / "units").mkdir(parents=True)
        (src / "assignments").mkdir()
        (src / "instructors").mkdir()
        units = sorted((public / "units").glob("*.ipynb"))
        sources = {p.name: ROOT / "units" / p.name for p in units}
        how = {}
        for unit in units:
            nb, how[unit.stem] = executed_unit(sources[unit.name], tmp)
            nb.metadata.get("course", {}).pop("executed_from", None)
            with_quick_note(nb, f"units/{unit.name}", real_figures(unit))
            nbformat.write(with_local_badge(nb), src / "units" / unit.name)
        assignments = sorted(public.glob("assignments/*/*.ipynb"))
        for path in assignments:
            nbformat.write(with_local_badge(nbformat.read(path, as_version=4)),
                           src / "assignments" / path.name)
        shutil.copytree(STATIC, src / "_static")
        for name in INSTRUCTOR_DOCS:
            shutil.copy(ROOT / "docs" / name, src / "instructors" / name)
        (src / "index.md").write_text(landing_page(units, assignments))
        (src / "conf.py").write_text(CONF.format(version=__version__, repo=REPO_URL))
        if out.exists():
            shutil.rmtree(out)
        done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W",
                               "--keep-going", str(src), str(out)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError("sphinx failed:\n" + done.stdout[-3000:] + done.stderr[-3000:])
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve _static as it is
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")
                   if not p.name.startswith(("genindex", "search")) and "_static" not in p.parts)
    return {"seconds": round(time.perf_counter() - started, 1), "pages": pages, "units": how}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "_site")
    args = parser.parse_args(argv)
    report = build(args.out)
    print(f"built {len(report['pages'])} pages into {args.out} in {report['seconds']} s "
          f"(units: {report['units']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
