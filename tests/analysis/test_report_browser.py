"""``report/index.html`` in a real browser: headless Chromium (Debian's ``chromium``) driven
over the DevTools protocol by Playwright, on a real run, a run in progress and a run whose
trials all failed; and ``raynas report --watch`` reloading an open page.

Checked: every image loads with its real size (``naturalWidth`` > 0, as the PNG says), the
top-10 table has one row per completed trial (at most 10), no console error, no failed
request. A full-page screenshot of each page is saved (copies in the system temp folder:
``report_screenshot*.png``). Skips, saying why, where Playwright or Chromium is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from raynas.results.store import ranked_genomes, read_trials

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in (os.environ.get("RAYNAS_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)
SCREENSHOTS = Path(tempfile.gettempdir())
RAYNAS = str(Path(sys.executable).parent / "raynas")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no Chromium found: install Debian's chromium (.ci/run does) or set "
                    "RAYNAS_CHROMIUM to a Chrome/Chromium binary")
    with sync_api.sync_playwright() as p:
        # --no-sandbox: the sandbox needs user namespaces, absent when running as root in CI
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def open_report(browser, index: Path, screenshot: str) -> dict:
    """Load ``index`` in a fresh page; what it shows, and the problems the browser reported."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.goto(index.as_uri(), wait_until="load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.getAttribute('src'), complete: e.complete, "
               "width: e.naturalWidth, height: e.naturalHeight}))")
    # the first table after the "Top ..." heading, before the next heading
    top_rows = page.locator("xpath=//h2[starts-with(., 'Top')]/following-sibling::*"
                            "[self::table or self::h2][1][self::table]//tr[td]")
    # the top table is per genome; its last column lists the genome's trials, best first
    shown = {"images": images, "top_rows": top_rows.count(),
             "top_ids": [top_rows.nth(i).locator("td").last.inner_text().split(", ")[0]
                         for i in range(top_rows.count())],
             "text": page.inner_text("body"), "problems": problems}
    path = index.parent / screenshot
    page.screenshot(path=str(path), full_page=True)
    if screenshot.startswith("report_"):
        shutil.copy(path, SCREENSHOTS / screenshot)
    page.close()
    return shown


def check_images(shown: dict, report_dir: Path) -> None:
    import matplotlib.image as mpimg

    assert sorted(i["src"] for i in shown["images"]) == ["best.png", "choices.png", "curves.png",
                                                          "hv.png", "pareto.png"]
    for image in shown["images"]:
        assert image["complete"] and image["width"] > 0, image
        height, width = mpimg.imread(report_dir / image["src"]).shape[:2]
        assert (image["width"], image["height"]) == (width, height), image


def test_the_browser_check_sees_a_broken_page(browser, tmp_path):
    """The checks can fail: a missing image, a script error and a console error are seen."""
    page = tmp_path / "index.html"
    page.write_text("<html><body><h2>Top 10 trials</h2><p>none</p><img src='missing.png'>"
                    "<script>console.error('boom'); undefined_function();</script></body></html>")
    shown = open_report(browser, page, "broken_page.png")
    assert shown["images"][0]["width"] == 0
    assert shown["top_rows"] == 0
    problems = "\n".join(shown["problems"])
    assert "boom" in problems and "undefined_function" in problems and "missing.png" in problems


def test_report_of_a_real_run_in_chromium(browser, cli, real_run):
    assert cli("report", real_run).returncode == 0
    shown = open_report(browser, real_run / "report" / "index.html", "report_screenshot.png")
    assert shown["problems"] == []
    check_images(shown, real_run / "report")
    expected = list(ranked_genomes(read_trials(real_run)).head(10)["trial_id"])
    assert shown["top_rows"] == len(expected) >= 1
    assert shown["top_ids"] == expected


def test_report_of_a_run_in_progress_in_chromium(browser, cli, make_run):
    from filelock import FileLock

    run = make_run("live", ["completed", "failed", "completed", "completed", "rejected"],
                   journal_only=True)
    with FileLock(str(run / ".writer.lock")):  # a live driver holds it: the run is in progress
        assert cli("report", run).returncode == 0
    shown = open_report(browser, run / "report" / "index.html",
                        "report_screenshot_in_progress.png")
    assert shown["problems"] == []
    check_images(shown, run / "report")
    assert shown["top_ids"] == ["trial_003", "trial_002", "trial_000"]
    assert "run in progress" in shown["text"]


def test_report_of_a_run_whose_trials_all_failed_in_chromium(browser, cli, make_run):
    run = make_run("failed", ["failed"] * 4)
    assert cli("report", run).returncode == 0
    shown = open_report(browser, run / "report" / "index.html", "report_screenshot_failed.png")
    assert shown["problems"] == []
    check_images(shown, run / "report")
    assert shown["top_rows"] == 0
    assert "No trial completed." in shown["text"]


def test_watch_reloads_the_open_page_until_the_run_ends(browser, make_run):
    """A held writer lock stands for the live driver; the page must reload by itself."""
    from filelock import FileLock

    run = make_run("watched", ["completed", "completed"], journal_only=True)
    lock = FileLock(str(run / ".writer.lock"))
    lock.acquire()
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    watch = subprocess.Popen([RAYNAS, "report", str(run), "--watch", "--interval", "1"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        index = run / "report" / "index.html"
        deadline = time.time() + 60
        while not (index.exists() and "http-equiv='refresh'" in index.read_text()):
            assert watch.poll() is None and time.time() < deadline, watch.stdout.read()
            time.sleep(0.2)
        page = browser.new_page()
        loads: list[float] = []
        page.on("load", lambda: loads.append(time.time()))
        page.goto(index.as_uri(), wait_until="load")
        deadline = time.time() + 20
        while len(loads) < 3 and time.time() < deadline:
            page.wait_for_timeout(250)
        page.close()
        assert len(loads) >= 3, f"the page loaded {len(loads)} time(s) in 20 s, not reloading"
        lock.release()  # the run ends
        output, _ = watch.communicate(timeout=30)
        assert watch.returncode == 0, output
        assert "http-equiv='refresh'" not in index.read_text()
        assert "trials: 2 of 4" in output
    finally:
        if lock.is_locked:
            lock.release()
        if watch.poll() is None:
            watch.send_signal(signal.SIGTERM)
            watch.wait(timeout=10)
