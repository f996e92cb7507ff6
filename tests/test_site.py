"""The course website in a real browser: every page renders, its figures load, its links lead
somewhere, and it shows no error and no private line. Run after `make site` (`make test`
does); proven to fail on a planted broken image and a planted broken link.

The browser is headless Chromium (Debian's `chromium` here, the runner's Chrome on GitHub)
driven by Selenium; it never downloads a browser of its own.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from autograder.publish import private_lines
from course.notebooks import ROOT

pytestmark = pytest.mark.site
SITE = ROOT / "_site"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync")


def _find(*candidates) -> str | None:
    return next((c for c in candidates if c and Path(c).exists()), None)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = _find(os.environ.get("CHROME_BINARY"), shutil.which("chromium"),
                   shutil.which("google-chrome"), "/usr/bin/chromium")
    driver_path = _find(os.environ.get("CHROMEDRIVER"), shutil.which("chromedriver"),
                        "/usr/bin/chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("no Chromium/Chrome and chromedriver: `apt-get install chromium "
                    "chromium-driver`, or set CHROME_BINARY and CHROMEDRIVER")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pages(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html")
                  if p.name not in ("genindex.html", "search.html") and "_static" not in p.parts)


def problems_of_page(driver, base: str, page: str, folder: Path) -> list[str]:
    """What is wrong with one page as the browser shows it."""
    driver.get(urljoin(base, page))
    found = []
    if not driver.title or "404" in driver.title:
        found.append(f"{page}: did not render (title {driver.title!r})")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'));")
    found += [f"{page}: image does not load: {src[:80]}" for src in broken]
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
    for link in links:
        parsed = urlparse(link)
        if parsed.netloc != urlparse(base).netloc or not parsed.path:
            continue  # external: Colab, GitHub
        target = folder / parsed.path.lstrip("/")
        if parsed.path.endswith("/"):
            target = target / "index.html"
        if not target.exists():
            found.append(f"{page}: broken link {parsed.path}")
    errors = driver.execute_script(
        "return Array.from(document.querySelectorAll('.output.traceback'))"
        ".map(e => e.innerText.slice(0, 120));")
    found += [f"{page}: shows an error output: {text}" for text in errors]
    return found


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.fail("no site: run `make site` first (`make test` does)")
    server, base = serve(SITE)
    yield SITE, base
    server.shutdown()


def test_the_site_has_a_landing_page_units_assignments_and_instructor_pages(site):
    folder, _ = site
    names = pages(folder)
    assert "index.html" in names
    assert len([n for n in names if n.startswith("units/")]) == 6
    assert {n.split("/")[1].removesuffix(".html") for n in names if n.startswith("assignments/")} \
        == {p.name for p in (ROOT / "assignments" / "release").iterdir() if p.is_dir()}
    assert "instructors/instructors.html" in names and "instructors/autograder.html" in names


def test_every_page_renders_with_its_figures_and_links_and_no_error(site, browser):
    folder, base = site
    found = []
    figures = {}
    for page in pages(folder):
        found += problems_of_page(browser, base, page, folder)
        if page.startswith("units/"):
            figures[page] = browser.execute_script("return document.images.length;")
    assert found == [], "\n".join(found)
    assert all(count >= 3 for count in figures.values()), figures
    print("figures per unit page:", figures)


def test_unit_pages_say_they_ran_on_synthetic_data_and_link_colab(site, browser):
    folder, base = site
    for page in (p for p in pages(folder) if p.startswith(("units/", "assignments/"))):
        browser.get(urljoin(base, page))
        hrefs = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
        assert any("colab.research.google.com/github/" in h for h in hrefs), page
        if page.startswith("units/"):
            assert "quick mode on synthetic data" in browser.page_source, page


def test_no_page_shows_a_private_line(site):
    folder, _ = site
    private = private_lines(ROOT / "assignments")
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def handle_data(self, data):
            self.lines += [line.strip() for line in data.splitlines()]

    leaks = []
    for page in pages(folder):
        parser = Text()
        parser.feed((folder / page).read_text(errors="replace"))
        leaks += [f"{page}: {line}" for line in parser.lines if line in private]
    assert leaks == []


def test_the_check_fails_on_a_broken_image_and_a_broken_link(site, browser, tmp_path):
    folder, _ = site
    planted = tmp_path / "site"
    shutil.copytree(folder, planted)
    page = planted / "index.html"
    page.write_text(page.read_text().replace(
        "</body>", '<img src="_static/missing.png"><a href="units/nowhere.html">x</a></body>'))
    server, base = serve(planted)
    try:
        found = problems_of_page(browser, base, "index.html", planted)
    finally:
        server.shutdown()
    assert any("image does not load: _static/missing.png" in f for f in found)
    assert any("broken link /units/nowhere.html" in f for f in found)
