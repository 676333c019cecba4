"""`embedstore serve` in a real browser: headless Chromium (selenium) against the command on 127.0.0.1.

A person's path through the page: type a query, pick a recording, search a passage of it, click a neighbour
(its audio must land at the matching passage), switch to the reference at the same moment, see the map.
Skips (with the reason) only where Chromium or its driver is not installed (`scripts/setup.sh` installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(chroma_store):
    """`embedstore serve` as a user starts it, on a free loopback port; yields its URL."""
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedstore.cli", "serve", "--store", chroma_store.uri, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    try:
        while True:
            try:
                if httpx.get(url + "/api/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read() if proc.poll() is not None else "(still starting)"
                pytest.fail(f"embedstore serve did not come up: {out}")
            time.sleep(0.3)
        # warm up (loads the vectors and the encoder) so the page's timings are those of a warm server
        rid = httpx.get(url + "/api/recordings", timeout=10).json()["recordings"][0]["recording_id"]
        httpx.get(url + "/api/search", params={"id": rid, "start": 0, "end": 4}, timeout=120)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip(
            f"headless Chromium not installed ({CHROMIUM}, {DRIVER}); "
            "scripts/setup.sh installs the Debian packages chromium and chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1440,900",
    ):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


def _wait(drv, cond, what: str, timeout: float = 30.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout, poll_frequency=0.1).until(lambda d: cond(d), message=what)


def test_page_search_listen_switch_and_map(server, browser, chroma_store, tmp_path):
    from selenium.webdriver.common.by import By

    drv = browser
    n = len(chroma_store.recordings())
    drv.get(server)
    _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rec-list li")) == n, "recordings listed")

    # type part of a performer's name: only that performer's recordings remain
    drv.find_element(By.ID, "q").send_keys("arlen")
    _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rec-list li")) == 3, "list filtered")
    items = drv.find_elements(By.CSS_SELECTOR, "#rec-list li")
    assert all("Arlen" in li.text for li in items)
    items[0].click()
    _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#hits li")) > 0, "neighbours listed")
    assert "most similar to the whole recording" in drv.find_element(By.ID, "search-status").text

    # select a passage of the reference and search by it
    for field, value in (("p-start", "6"), ("p-end", "10")):
        box = drv.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    drv.find_element(By.ID, "search-passage").click()
    _wait(
        drv,
        lambda d: "passage 0:06–0:10" in d.find_element(By.ID, "search-status").text,
        "passage search answered",
    )
    hits = drv.find_elements(By.CSS_SELECTOR, "#hits li")
    assert hits
    starts = [float(h.get_attribute("data-start")) for h in hits]
    i = next((j for j, s in enumerate(starts) if s > 0), 0)
    hits[i].click()

    # the neighbour's audio lands at the matching passage (seekable thanks to HTTP Range)
    nb = drv.find_element(By.ID, "nb-audio")
    _wait(drv, lambda d: nb.get_attribute("data-seeked") is not None, "neighbour audio seeked")
    t = drv.execute_script("return arguments[0].currentTime", nb)
    assert starts[i] - 0.05 <= t <= starts[i] + 2.0, (t, starts[i])
    assert drv.find_element(By.ID, "nb-title").text

    # switch to the reference: it plays at the corresponding moment (passage offsets: 6 s + elapsed)
    drv.execute_script("arguments[0].pause()", nb)
    t_nb = drv.execute_script("return arguments[0].currentTime", nb)
    drv.find_element(By.ID, "switch").click()
    ref = drv.find_element(By.ID, "ref-audio")
    _wait(
        drv,
        lambda d: abs(float(ref.get_attribute("data-target") or -1) - (6.0 + t_nb - starts[i])) < 0.05,
        "reference seeked to the corresponding moment",
    )
    assert "A (reference)" in drv.find_element(By.ID, "now-playing").text

    # the map draws one point per recording, in colour
    cv = drv.find_element(By.ID, "map")
    _wait(drv, lambda d: cv.get_attribute("data-points") == str(n), "map drawn")
    coloured = drv.execute_script(
        """const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
           let k = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && Math.abs(d[i]-d[i+2]) > 40) k++;
           return k;""",
        cv,
    )
    assert coloured > 50 * n
    assert len(drv.find_elements(By.CSS_SELECTOR, "#legend span")) == 3  # three pieces

    # the page's mapTime is the same rule as the library's map_time, also for many anchors (alignment paths)
    from embedstore.serve.timemap import map_time

    tm = {"ref_s": [2.0, 6.0, 7.0], "hit_s": [3.0, 11.0, 11.5]}
    ts = [0.0, 2.0, 4.0, 6.5, 9.0]
    got = drv.execute_script("return arguments[1].map((t) => mapTime(t, arguments[0], 'hit'))", tm, ts)
    assert got == pytest.approx([map_time(t, tm, to="hit") for t in ts])
    back = drv.execute_script("return arguments[1].map((t) => mapTime(t, arguments[0], 'ref'))", tm, got)
    assert back == pytest.approx([max(0.0, map_time(t, tm, to="ref")) for t in got])

    # no error shown anywhere, and a screenshot for people (and the README)
    assert not drv.find_elements(By.CSS_SELECTOR, ".bad")
    shot = tmp_path / "serve.png"
    drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("EMBEDSTORE_SCREENSHOT"):
        shutil.copy(shot, os.environ["EMBEDSTORE_SCREENSHOT"])
