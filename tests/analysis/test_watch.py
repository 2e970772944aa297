"""``raynas report --watch`` without a browser: when a run counts as live, and the last
report of an ended run (no refresh). The page reloading itself is checked in Chromium by
tests/analysis/test_report_browser.py."""

import threading
import time

from filelock import FileLock

from raynas.analysis.watch import run_is_live, watch_report


def test_a_run_is_live_while_a_process_holds_its_writer_lock(make_run):
    run = make_run("locked", ["completed"])
    assert not run_is_live(run)  # ResultsWriter.close() released it
    lock = FileLock(str(run / ".writer.lock"))
    with lock:
        # another thread stands for another process: filelock is re-entrant per object only
        seen = []
        thread = threading.Thread(target=lambda: seen.append(run_is_live(run)))
        thread.start()
        thread.join()
        assert seen == [True]
    assert not run_is_live(run)


def test_watch_of_an_ended_run_writes_one_report_without_refresh(make_run):
    run = make_run("ended", ["completed", "failed"])
    lines = []
    assert watch_report(run, None, 1.0, lines.append) == 0
    page = (run / "report" / "index.html").read_text()
    assert "http-equiv='refresh'" not in page and "trial_000" in page
    assert any("trials: 2 of 4" in line for line in lines), lines


def test_watch_follows_a_live_run_until_its_lock_is_released(make_run):
    run = make_run("live", ["completed"], journal_only=True)
    lock = FileLock(str(run / ".writer.lock"), thread_local=False)
    lock.acquire()
    lines = []
    watcher = threading.Thread(target=lambda: lines.append(watch_report(run, None, 1.0, lines.append)))
    watcher.start()
    page = run / "report" / "index.html"
    deadline = time.time() + 60
    while not (page.exists() and "http-equiv='refresh' content='1'" in page.read_text()):
        assert time.time() < deadline, lines
        time.sleep(0.1)
    lock.release()
    watcher.join(timeout=60)
    assert lines[-1] == 0
    assert "http-equiv='refresh'" not in page.read_text()


def test_watch_of_a_folder_without_results_fails(tmp_path):
    lines = []
    assert watch_report(tmp_path / "nothing", None, 1.0, lines.append) == 2
    assert "holds no raynas results" in lines[0]
