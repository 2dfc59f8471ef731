"""Item 5: epoch slider to all layer canvases redrawn, in headless Chromium.

The page (``cnn_tb/plugin/static/index.js``) exposes ``#cnn-tb[data-render-count]``
(bumped after every completed render, i.e. after every layer canvas of the
view is drawn) and ``window.cnnTbApp.timings`` (``{step, ms, cause}``, where
``cause == "step"`` is measured from the epoch change to the end of that
render). Each measured step, run INSIDE the plugin iframe:

1. ``t0 = performance.now()``; set the slider's value and dispatch its
   ``input`` event (what a drag does);
2. a ``MutationObserver`` on ``#cnn-tb`` resolves when ``data-render-count``
   has grown and ``data-state`` is ``ready``: ``redrawn_ms = now - t0``;
3. one more ``requestAnimationFrame`` (the frame that shows the pixels):
   ``painted_ms``; and the page's own ``timings`` entry is read back.

Three sequences of 50 steps: "sequential" (slider moved one epoch at a time,
neighbours prefetched as in normal stepping), "random jumps" (to epochs never
shown or prefetched before, so the pack comes from the server; with fewer than
~150 epochs some jumps land on cached epochs: all of them with 10) and "cold
jumps" (the same targets with the page's pack cache emptied before each jump,
so every one waits for the server whatever the run's length: jumps of a short
and a long run compared like for like).
"""

import random
import time

from common import chromium_path, summary

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

STEP_JS = """
async (arg) => {
  const [target, cold] = Array.isArray(arg) ? arg : [arg, false];
  if (cold) {
    window.cnnTbApp.api.packs.clear();
    window.cnnTbApp.api.kernelPacks.clear();
  }
  const root = document.querySelector('#cnn-tb');
  const slider = document.querySelector('.epoch-slider');
  const n0 = Number(root.dataset.renderCount || 0);
  const t0 = performance.now();
  const done = new Promise((resolve) => {
    const ok = () => Number(root.dataset.renderCount || 0) > n0 && root.dataset.state === 'ready';
    const obs = new MutationObserver(() => { if (ok()) { obs.disconnect(); resolve(performance.now()); } });
    obs.observe(root, {attributes: true});
    if (ok()) { obs.disconnect(); resolve(performance.now()); }
  });
  slider.value = String(target);
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  const t1 = await done;
  const t2 = await new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  const t = window.cnnTbApp.timings;
  const last = t[t.length - 1];
  const canvases = [...document.querySelectorAll('.main canvas')];
  return {redrawn_ms: t1 - t0, painted_ms: t2 - t0, hook: last, canvases: canvases.length,
          step: root.dataset.step};
}
"""


def _frame(page):
    for f in page.frames:
        if "plugin_entry" in f.url:
            return f
    return None


READY_JS = """() => [...document.querySelectorAll('iframe')].some(x => x.contentDocument &&
  x.contentDocument.querySelector('#cnn-tb[data-state=ready]'))"""
DRAWN_JS = """() => [...document.querySelectorAll('iframe')].some(x => x.contentDocument &&
  x.contentDocument.querySelector('#cnn-tb[data-state=ready], #cnn-tb[data-state=drawn]'))"""


def first_load(tb, timeout_ms=60000):
    """The CNN Flow tab opened once in a new Chromium: page load to the flow drawn
    (``drawn_ms``; a long run's last epoch may be drawn before ``/epochs`` is in)
    and to the page ready (``ready_ms``: the epoch bar has every epoch), and the
    same from the plugin frame's start (``frame_drawn_ms``, ``frame_ready_ms``:
    without TensorBoard's own page load, which varies by a few hundred ms)."""
    exe = chromium_path()
    if exe is None:
        return {"skipped": "chromium not found on PATH"}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            t0 = time.perf_counter()
            page.goto(tb.url + "/#cnn_tb", wait_until="load", timeout=timeout_ms)
            page.wait_for_function(DRAWN_JS, timeout=timeout_ms, polling=10)
            drawn = (time.perf_counter() - t0) * 1e3
            page.wait_for_function(READY_JS, timeout=timeout_ms, polling=10)
            ready = (time.perf_counter() - t0) * 1e3
            frame = _frame(page)
            own = frame.evaluate("() => [window.cnnTbApp.firstDrawnMs, window.cnnTbApp.firstReadyMs]")
            return {"drawn_ms": drawn, "ready_ms": ready, "frame_drawn_ms": own[0], "frame_ready_ms": own[1]}
        finally:
            browser.close()


def measure(tb, n_steps=50, timeout_ms=60000):
    """Drive the CNN Flow tab of ``tb`` (a running ``tests.support.tb_server.TensorBoard``)."""
    exe = chromium_path()
    if exe is None:
        return {"skipped": "chromium not found on PATH"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright (python) not installed"}
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(tb.url + "/#cnn_tb", wait_until="load", timeout=timeout_ms)
            page.wait_for_function(READY_JS, timeout=timeout_ms, polling=20)
            out["first_draw_ms"] = (time.perf_counter() - t0) * 1e3  # page load to the page ready
            frame = _frame(page)
            n = int(frame.eval_on_selector(".epoch-slider", "s => Number(s.max) + 1"))
            out["epochs_in_slider"] = n
            out["layer_canvases"] = frame.evaluate("() => document.querySelectorAll('.main canvas').length")
            rnd = random.Random(0)
            # Jumps go to slider positions never shown or prefetched before
            # (the page prefetches +-2 around the shown epoch): beyond the
            # sequential range, 3 apart.
            far = list(range(n_steps + 3, n, 3)) or list(range(n))
            jumps = rnd.sample(far, min(len(far), n_steps))
            if len(jumps) < n_steps:  # a short run: as many jumps, each away from the last
                jumps = [(i * 7 + 3) % n for i in range(n_steps)]
            seqs = {
                "sequential": [(i % (n - 1)) + 1 for i in range(n_steps)],
                "random_jumps": jumps,
                "cold_jumps": [(t + n // 2) % n for t in jumps],
            }
            for name, targets in seqs.items():
                rows = []
                for t in targets:
                    r = frame.evaluate(STEP_JS, [t, name == "cold_jumps"])
                    rows.append(r)
                    page.wait_for_timeout(30)  # let prefetches start, as between real drags
                red = [r["redrawn_ms"] for r in rows]
                painted = [r["painted_ms"] for r in rows]
                hook = [r["hook"]["ms"] for r in rows if r.get("hook") and r["hook"].get("cause") == "step"]
                out[name] = {
                    "redrawn_ms": summary(red),
                    "painted_ms": summary(painted),
                    "page_hook_ms": summary(hook),
                    "canvases_per_view": rows[-1]["canvases"] if rows else None,
                }
            out["page_errors"] = errors[:5]
        finally:
            browser.close()
    return out
