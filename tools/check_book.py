"""Open every page of the built book in headless Chromium and fail on what a reader would see broken.

    python tools/check_book.py _build/html --screenshots _build/screenshots

Serves the HTML folder on localhost, drives Chromium through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: the standard library is enough, no browser download) and checks each
page for: a page that does not load, console errors and uncaught exceptions, same-origin requests
that fail, images or videos that do not load, cells whose output is an error (or stderr), empty
widget areas, markdown tables left as text, formulas MathJax did not typeset, code lines running off their cell, and internal links
to a missing page or anchor. Requests leaving localhost are blocked (the book must read offline);
external images (the Colab badge) are listed, not checked. Screenshots of every page (full length,
in tiles) go to ``--screenshots``. Exit status 1 when any page has a problem.
"""
from __future__ import annotations

import argparse
import base64
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
TILE = 4000          # screenshot tile height in CSS pixels
WIDTH = 1280

PAGE_CHECKS = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise, sleep(20000)]);
  }
  const videos = [...document.querySelectorAll('video')];
  for (let i = 0; i < 100 && videos.some(v => v.readyState < 1 && !v.error); i++) await sleep(100);
  const out = {problems: [], links: [], external: []};
  const here = location.origin;
  const local = url => url.startsWith(here) || url.startsWith('data:');
  for (const img of document.images) {
    if (!local(img.src)) { out.external.push(img.src); continue; }
    if (!img.complete || img.naturalWidth === 0)
      out.problems.push('image does not load: ' + img.src.slice(0, 120));
  }
  for (const v of videos) {
    if (v.error || v.readyState < 1)
      out.problems.push('video does not load (error ' + (v.error ? v.error.code : 'none') +
                        ', readyState ' + v.readyState + ')');
  }
  for (const el of document.querySelectorAll(
      '.cell_output .traceback, .cell_output .output.error, .cell_output .stderr'))
    out.problems.push('cell output is an error or stderr: ' + el.innerText.slice(0, 160).replace(/\s+/g, ' '));
  for (const s of document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')) {
    // the widget manager draws a view right after its script; nothing there means an empty area
    const view = s.nextElementSibling;
    const drawn = view && view.tagName !== 'SCRIPT' && view.getBoundingClientRect().height > 0;
    if (!drawn) out.problems.push('empty widget area (an ipywidgets output with nothing drawn): ' +
                                  s.textContent.slice(0, 80));
  }
  for (const m of document.querySelectorAll('.math')) {
    if (!m.querySelector('mjx-container'))
      out.problems.push('formula not typeset: ' + m.textContent.slice(0, 80));
  }
  for (const para of document.querySelectorAll('.cell_output p')) {
    // a markdown table a cell displayed but the renderer left as text: "| a | b |" lines in a paragraph
    if (/^\s*\|.*\|\s*$/m.test(para.textContent) && para.textContent.split('|').length > 6)
      out.problems.push('markdown table shown as text: ' + para.textContent.slice(0, 80).replace(/\s+/g, ' '));
  }
  for (const m of document.querySelectorAll('mjx-merror'))
    out.problems.push('MathJax error: ' + (m.getAttribute('data-mjx-error') || m.textContent).slice(0, 80));
  for (const pre of document.querySelectorAll('div.cell_input pre, div.cell_output pre')) {
    if (pre.scrollWidth > pre.clientWidth + 2)
      out.problems.push('code runs off its cell: ' + pre.innerText.split('\n')[0].slice(0, 80));
  }
  for (const a of document.querySelectorAll('a[href]')) if (a.href.startsWith(here)) out.links.push(a.href);
  out.height = Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight));
  out.title = document.title;
  return out;
})()
"""


class Chromium:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (NUL-separated JSON messages)."""

    def __init__(self, binary: str):
        self.profile = tempfile.mkdtemp(prefix="check-book-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds():  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        flags = ["--headless=new", "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--no-first-run",
                 "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--mute-audio", "--disable-extensions", "--disable-background-networking", "--no-sandbox"]
        self.proc = subprocess.Popen([binary, *flags, "about:blank"], preexec_fn=fds, close_fds=False,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r), os.close(from_child_w)
        self._next, self._replies, self.events = 0, {}, []
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while True:
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._lock.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        with self._lock:
            self._next += 1
            ident = self._next
        msg = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        with self._lock:
            if not self._lock.wait_for(lambda: ident in self._replies, timeout):
                raise TimeoutError(f"{method}: no reply in {timeout} s")
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, timeout: float = 60) -> bool:
        def seen():
            return any(e.get("method") == method and e.get("sessionId") == session for e in self.events)

        with self._lock:
            return self._lock.wait_for(seen, timeout)

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def find_chromium() -> str:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("check_book: no Chromium found (apt-get install chromium, or set CHROMIUM=/path/to/chrome)")


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def anchors(path: Path, cache: dict) -> set:
    if path not in cache:
        text = path.read_text(encoding="utf-8", errors="replace")
        cache[path] = {html.unescape(m) for m in re.findall(r'\b(?:id|name)="([^"]+)"', text)}
    return cache[path]


def broken_links(links, root: Path, base: str, cache: dict) -> list[str]:
    problems = []
    for link in sorted(set(links)):
        url = urllib.parse.urlsplit(link)
        rel = urllib.parse.unquote(url.path)[len(urllib.parse.urlsplit(base).path):]
        target = root / rel
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"broken link: {rel}")
        elif url.fragment and target.suffix == ".html" and urllib.parse.unquote(url.fragment) not in anchors(target, cache):
            problems.append(f"broken link: {rel}#{url.fragment} (no such anchor)")
    return problems


def check_page(browser: Chromium, url: str, base: str, shots: Path | None, name: str) -> tuple[list, dict]:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
    problems, blocked, handled = [], set(), 0
    stop = threading.Event()

    def route():  # let localhost through, block the rest (the book must read without network)
        nonlocal handled
        while not stop.is_set():
            with browser._lock:
                pending = [e for e in browser.events[handled:] if e.get("sessionId") == session]
                handled = len(browser.events)
            for e in pending:
                if e.get("method") != "Fetch.requestPaused":
                    continue
                req = e["params"]
                rurl = req["request"]["url"]
                try:
                    if rurl.startswith(base) or rurl.startswith("data:"):
                        browser.send("Fetch.continueRequest", {"requestId": req["requestId"]}, session=session)
                    else:
                        blocked.add(rurl)
                        browser.send("Fetch.failRequest", {"requestId": req["requestId"],
                                                           "errorReason": "BlockedByClient"}, session=session)
                except (RuntimeError, TimeoutError):
                    pass
            time.sleep(0.02)

    router = threading.Thread(target=route, daemon=True)
    router.start()
    info = {}
    try:
        nav = browser.send("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            problems.append(f"page does not load: {nav['errorText']}")
        elif not browser.wait_event("Page.loadEventFired", session, timeout=120):
            problems.append("page does not finish loading in 120 s")
        else:
            result = browser.send("Runtime.evaluate", {"expression": PAGE_CHECKS, "awaitPromise": True,
                                                       "returnByValue": True}, session=session, timeout=120)
            if "exceptionDetails" in result:
                problems.append(f"page checks failed: {result['exceptionDetails'].get('text')}")
            else:
                info = result["result"]["value"]
                problems += info["problems"]
                if shots is not None:
                    try:
                        screenshot(browser, session, info["height"], shots, name)
                    except (RuntimeError, TimeoutError) as err:
                        problems.append(f"no screenshot: {err}")
    finally:
        stop.set()
        router.join()
    def external(u):  # not the book's (and the browser's own favicon request)
        return bool(u) and (not u.startswith(base) and not u.startswith("data:") or u == base + "favicon.ico")
    with browser._lock:
        events = [e for e in browser.events if e.get("sessionId") == session]
    requests = {}
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Network.requestWillBeSent":
            requests[p["requestId"]] = p["request"]["url"]
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            problems.append(f"uncaught exception: {str(text)[:200]}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            problems.append(f"console error: {args[:200]}")
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            entry = p["entry"]
            if not external(entry.get("url", "")) and "ERR_BLOCKED_BY_CLIENT" not in entry.get("text", ""):
                problems.append(f"console error: {entry['text'][:200]} {entry.get('url', '')[:120]}")
        elif method == "Network.responseReceived" and p["response"]["status"] >= 400:
            if not external(p["response"]["url"]):
                problems.append(f"HTTP {p['response']['status']}: {p['response']['url'][:160]}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            rurl = requests.get(p["requestId"], "")
            if not external(rurl):
                problems.append(f"request failed ({p.get('errorText')}): {rurl[:160]}")
    info["blocked"] = sorted(blocked)
    browser.send("Target.closeTarget", {"targetId": target})
    with browser._lock:
        browser.events[:] = [e for e in browser.events if e.get("sessionId") != session]
    return list(dict.fromkeys(problems)), info


def screenshot(browser: Chromium, session: str, height: int, folder: Path, name: str):
    """The whole page as PNG tiles of TILE pixels: the viewport is set to one tile and the page scrolled,
    so every tile is painted as a reader sees it (captures beyond the viewport leave figures blank)."""
    folder.mkdir(parents=True, exist_ok=True)
    height = max(1, height)
    tiles = -(-height // TILE)
    for i in range(tiles):
        h = min(TILE, height - i * TILE) if tiles > 1 else height
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": WIDTH, "height": max(h, 200), "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Runtime.evaluate", {"expression": f"window.scrollTo(0, {i * TILE})"}, session=session)
        time.sleep(0.4)
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session, timeout=120)
        suffix = "" if tiles == 1 else f"-{i + 1}"
        (folder / f"{name}{suffix}.png").write_bytes(base64.b64decode(shot["data"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the built HTML folder (_build/html)")
    ap.add_argument("--screenshots", type=Path, default=None, help="folder for one PNG per page (tiles when long)")
    ap.add_argument("--pages", nargs="*", help="only these pages (paths relative to the HTML folder)")
    args = ap.parse_args(argv)
    root = args.html.resolve()
    if not (root / "index.html").is_file():
        sys.exit(f"check_book: {root} has no index.html; build the book first")
    pages = args.pages or sorted(str(p.relative_to(root)) for p in root.rglob("*.html")
                                 if not SKIP_DIRS & set(p.relative_to(root).parts))
    if args.screenshots:
        shutil.rmtree(args.screenshots, ignore_errors=True)
    server, base = serve(root)
    browser = Chromium(find_chromium())
    failed, cache, start = 0, {}, time.time()
    try:
        for page in pages:
            t0 = time.time()
            redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', (root / page).read_text()[:500])
            if redirect:  # index.html: a redirect to the first page; check where it points
                problems = broken_links([urllib.parse.urljoin(base + page, redirect.group(1))], root, base, cache)
                failed += bool(problems)
                print(f"{'FAIL' if problems else 'ok':4s} {page} (redirect to {redirect.group(1)})")
                for problem in problems:
                    print(f"     - {problem}")
                continue
            name = page[:-5].replace("/", "__")
            problems, info = check_page(browser, base + page, base, args.screenshots, name)
            problems += broken_links(info.get("links", []), root, base, cache)
            status = "FAIL" if problems else "ok"
            failed += bool(problems)
            extra = f", {len(info['external'])} external image(s) not checked" if info.get("external") else ""
            print(f"{status:4s} {page} ({time.time() - t0:.1f} s{extra})")
            for problem in problems:
                print(f"     - {problem}")
            for url in info.get("blocked", []):
                print(f"     (blocked, offline: {url[:120]})")
    finally:
        browser.close()
        server.shutdown()
    where = f"; screenshots in {args.screenshots}" if args.screenshots else ""
    print(f"{len(pages) - failed}/{len(pages)} pages ok in {time.time() - start:.0f} s{where}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
