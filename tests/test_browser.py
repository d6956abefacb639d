"""The quickstart studio driven in a real browser: JupyterLab + headless Chromium.

Unit tests of the widget callbacks (``tests/test_ui.py``) cannot show that a click in a
browser reaches the kernel; this does. A JupyterLab server on loopback serves a copy of
``notebooks/00_quickstart.ipynb`` with ``interactive=True`` and ``max_side=256``;
Chromium (Debian's ``chromium`` driven by Playwright) runs all its cells, then acts as a
person would: clicks on a garment in the click map (and Shift-clicks off it), moves the
softness slider with the keyboard, and makes a click with the fallback x/y sliders and
button. After each action the caption naming the selection and the preview's pixels
must change. Offline (no weights) the segmentation is GrabCut: clicks are its seeds.

Screenshots of the studio before and after each action go to the test's temporary
folder and, when ``CLOTHSTYLE_UI_SCREENSHOTS`` names a folder, there too.

Needs the ``playwright`` package (no ``playwright install``: the system Chromium is used;
``CLOTHSTYLE_CHROMIUM`` may name another binary) and ``chromium``. Without them the test
is skipped, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = REPO_ROOT / "notebooks" / "00_quickstart.ipynb"
CHROMIUM = (os.environ.get("CLOTHSTYLE_CHROMIUM") or shutil.which("chromium")
            or "/usr/bin/chromium")
# Headless and quiet: this machine has no network, and without these flags Chromium
# keeps trying to reach it (updates, sync, QUIC probes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The studio is 256 x 256 px at max_side=256 (the astronaut sample is square), so a
# click-map pixel is a full-size pixel.
MAX_SIDE = 256
# GrabCut is fragile near some edges (one pixel can flip the result), so each click
# below was checked to give the same region when it lands a pixel or two off (a browser
# rounds mouse positions).
# On the helmet: a positive seed there adds it to the automatic (suit) region.
GARMENT_CLICK = (204, 230)
# On a glove, inside the region: a negative seed there takes the glove out.
NEGATIVE_CLICK = (75, 245)
# Made with the fallback sliders: a positive seed on the rest of the helmet adds it.
FALLBACK_CLICK = (230, 230)
SERVER_START_S = 90
NOTEBOOK_RUN_MS = 180_000
ACTION_MS = 60_000


# --------------------------------------------------------------------------- set-up


def _require_browser_tools() -> None:
    """Skip (or, under CI, fail) when Playwright, Chromium or JupyterLab is missing."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (`pip install playwright`; no "
                       "`playwright install` needed, the system chromium is used)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"chromium at {CHROMIUM} (`apt-get install chromium`, or set "
                       "CLOTHSTYLE_CHROMIUM to a Chromium binary)")
    for module in ("jupyterlab", "papermill"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the {module} package (`pip install -r requirements.txt`)")
    if not QUICKSTART.is_file():
        missing.append(f"the notebook {QUICKSTART}")
    if missing:
        reason = "browser test needs " + "; ".join(missing)
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason} (CI is set: the browser test must run in CI)")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare_folder(folder: Path) -> Path:
    """The served folder: the parameterized quickstart and a link to ``helpers/``."""
    import papermill

    # The notebook's set-up cell looks for helpers/ above its folder.
    (folder / "helpers").symlink_to(REPO_ROOT / "helpers", target_is_directory=True)
    notebook = folder / "quickstart.ipynb"
    papermill.execute_notebook(
        str(QUICKSTART), str(notebook), prepare_only=True, progress_bar=False,
        # The offline back-ends even where U²-Net weights are installed: the clicks
        # below are GrabCut seeds, and the expected captions name them. The feather blend
        # stylizes the whole region: the helmet is no part of the person matte, so the
        # saliency blend (M · mask) would leave it as it is even once clicked in.
        parameters={"interactive": True, "max_side": MAX_SIDE, "content": "astronaut",
                    "style": "tartan", "segmentation": "grabcut", "saliency": "person_matte",
                    "method": "feather", "stylization": "magenta_onnx",
                    "output_dir": str(folder / "results")})
    # No "get Jupyter news?" toast over the page, no update check (no network here).
    settings = folder / ".jupyter" / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    return notebook


def _stop(process: subprocess.Popen, base_url: str, token: str) -> None:
    """Shut the server (and so its kernels) down; kill its process group if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            request = urllib.request.Request(f"{base_url}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=10).close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on loopback serving the quickstart: yields (url, token, folder)."""
    _require_browser_tools()
    folder = tmp_path_factory.mktemp("lab")
    notebook = _prepare_folder(folder)
    port, token = _free_port(), secrets.token_hex(16)
    base_url = f"http://127.0.0.1:{port}"
    jupyter = folder / ".jupyter"
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(jupyter / "config"),
               JUPYTER_DATA_DIR=str(jupyter / "data"),
               JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(jupyter / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"),
               IPYTHONDIR=str(jupyter / "ipython"))
    log_path = folder / "jupyter.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={folder}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log_path, "wb") as log:
        # Its own process group, so that everything it started can be killed at the end.
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {process.returncode}:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            try:
                request = urllib.request.Request(f"{base_url}/api/status",
                                                 headers={"Authorization": f"token {token}"})
                urllib.request.urlopen(request, timeout=5).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {base_url} within "
                                f"{SERVER_START_S} s:\n"
                                + log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.5)
        yield {"url": f"{base_url}/lab/tree/{notebook.name}?token={token}",
               "folder": folder, "log": log_path}
    finally:
        _stop(process, base_url, token)


@pytest.fixture
def page(lab, tmp_path):
    """A fresh headless Chromium page (own profile folder), closed even on failure."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1100})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(ACTION_MS)
            yield page
        finally:
            context.close()


# --------------------------------------------------------------------------- page helpers


class Shots:
    """Saves studio screenshots under the test's folder and $CLOTHSTYLE_UI_SCREENSHOTS."""

    def __init__(self, page, folder: Path) -> None:
        self.page = page
        self.folders = [folder]
        if os.environ.get("CLOTHSTYLE_UI_SCREENSHOTS"):
            self.folders.append(Path(os.environ["CLOTHSTYLE_UI_SCREENSHOTS"]))
        for target in self.folders:
            target.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []

    def studio(self, name: str) -> np.ndarray:
        """Screenshot the studio; returns its pixels (BGR) for comparisons."""
        png = self.page.locator(".clothstyle-studio").screenshot()
        self._write(name, png)
        return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)

    def full_page(self, name: str) -> None:
        self._write(name, self.page.screenshot())

    def _write(self, name: str, png: bytes) -> None:
        for target in self.folders:
            path = target / f"{name}.png"
            path.write_bytes(png)
            self.saved.append(path)


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "the browser shows an image that does not decode"
    return image[..., ::-1]


def preview_pixels(page) -> tuple[str, np.ndarray]:
    """The preview <img>: its src (a blob URL) and the RGB pixels it holds."""
    # A new preview revokes the old blob URL: read again if it changed meanwhile.
    src, encoded = page.locator("img.clothstyle-preview").evaluate("""async (img) => {
        for (let attempt = 0; ; attempt++) {
            const src = img.src;
            try {
                const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
                if (img.src !== src) continue;
                let text = "";
                for (const byte of bytes) text += String.fromCharCode(byte);
                return [src, btoa(text)];
            } catch (error) {
                if (attempt >= 20) throw error;
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        }
    }""")
    return src, _decode(base64.b64decode(encoded))


def click_map_pixels(page) -> tuple[str, np.ndarray]:
    """The click map <img>: its src (a JPEG data URL) and its RGB pixels."""
    src = page.locator("img.clothstyle-clickmap-image").get_attribute("src")
    assert src and src.startswith("data:image/jpeg;base64,"), f"click map src: {src[:40]!r}"
    return src, _decode(base64.b64decode(src.split(",", 1)[1]))


def caption(page) -> str:
    return page.locator(".clothstyle-caption").inner_text()


def status(page) -> str:
    return page.locator(".clothstyle-status").inner_text()


def wait_for_preview_change(page, old_src: str) -> np.ndarray:
    """Wait until the kernel sent a new preview; returns its pixels."""
    page.wait_for_function("(old) => document.querySelector('img.clothstyle-preview').src"
                           " !== old", arg=old_src)
    return preview_pixels(page)[1]


def wait_until(page, condition, what: str) -> None:
    """Poll ``condition()`` (Python side) until it holds."""
    deadline = time.monotonic() + ACTION_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def yellow_cross_at(page, x: int, y: int) -> bool:
    """Whether the click map shows the fallback's yellow cross at full-size (x, y)."""
    window = click_map_pixels(page)[1][around(x, y, half=3)].astype(np.int16)
    yellow = (window[..., 0] > 180) & (window[..., 1] > 180) & (window[..., 2] < 110)
    return int(yellow.sum()) >= 4


def wait_for_caption(page, text: str) -> None:
    page.wait_for_function(
        "(text) => document.querySelector('.clothstyle-caption').innerText.includes(text)",
        arg=text)


def run_all_cells(page) -> None:
    """Run > Run All Cells, then wait for the studio (or an error) and an idle kernel."""
    # The status bar reads "No Kernel | Idle" until the session's kernel is connected;
    # a Run All then would open the "Select Kernel" dialog.
    page.wait_for_function(KERNEL_READY_JS, timeout=NOTEBOOK_RUN_MS, polling=250)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('img.clothstyle-clickmap-image[src^=\"data:\"]')"
        " && document.querySelector('img.clothstyle-preview[src]')"
        " || document.querySelector('[data-mime-type=\"application/vnd.jupyter.error\"]')",
        timeout=NOTEBOOK_RUN_MS, polling=500)
    errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]')
    assert errors.count() == 0, "the notebook failed:\n" + "\n".join(errors.all_inner_texts())
    # Every cell ran (no "[*]" or "[ ]" prompt left) and the kernel is idle.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
        ".every((p) => /\\[\\d+\\]/.test(p.textContent))"
        " && document.querySelector(\".jp-Notebook-ExecutionIndicator\")"
        ".dataset.status === 'idle'", timeout=NOTEBOOK_RUN_MS, polling=500)


KERNEL_READY_JS = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
    .some((item) => / [|] Idle$/.test(item.textContent)
                    && !item.textContent.startsWith('No Kernel'))"""


def slider(page, description: str):
    """The ipywidgets slider whose label is ``description``."""
    label = page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(description)}$"))
    return page.locator(".widget-slider").filter(has=label)


def slider_value(page, description: str) -> float:
    """The slider's readout (read even while the slider is hidden in a closed panel)."""
    return float(slider(page, description).locator(".widget-readout").text_content())


def set_slider_by_readout(page, description: str, value: int) -> None:
    """Type a value into a slider's editable readout, as a person can, and press Enter."""
    readout = slider(page, description).locator(".widget-readout")
    readout.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def around(x: int, y: int, half: int = 5) -> tuple[slice, slice]:
    """Index of the (2 half + 1)^2 pixels around (x, y), clipped to the image."""
    return np.s_[max(y - half, 0): y + half + 1, max(x - half, 0): x + half + 1]


def click_position(page, x: int, y: int, natural: tuple[int, int]) -> dict[str, float]:
    """Where to click in the shown click map for full-size pixel (x, y)."""
    box = page.locator("img.clothstyle-clickmap-image").bounding_box()
    assert box and box["width"] > 0, "the click map is not displayed"
    width, height = natural
    return {"x": (x + 0.5) * box["width"] / width, "y": (y + 0.5) * box["height"] / height}


# --------------------------------------------------------------------------- the test


def test_quickstart_studio_in_jupyterlab(lab, page, tmp_path):
    """Clicks, a Shift-click, a slider and the fallback sliders reach the kernel."""
    shots = Shots(page, tmp_path / "screenshots")
    try:
        drive_the_studio(page, lab, shots)
    except BaseException:
        with contextlib.suppress(Exception):  # the page as it was, for the failure report
            shots.full_page("99_failure")
        raise


def drive_the_studio(page, lab, shots: Shots) -> None:
    script_errors: list[str] = []  # uncaught JavaScript errors (the widgets' front end)
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto(lab["url"])
    page.wait_for_selector(".jp-Notebook")
    run_all_cells(page)
    page.locator(".clothstyle-studio").scroll_into_view_if_needed()
    shots.full_page("00_jupyterlab_after_run_all")

    # --- the start: GrabCut's automatic guess, no clicks
    assert "automatic start" in caption(page), caption(page)
    map_src, map_before = click_map_pixels(page)
    assert map_before.shape[:2] == (MAX_SIDE, MAX_SIDE), map_before.shape
    natural = (map_before.shape[1], map_before.shape[0])
    preview_src, preview_before = preview_pixels(page)
    # The two pictures are shown side by side at one size (the preview not upscaled).
    map_box = page.locator("img.clothstyle-clickmap-image").bounding_box()
    preview_box = page.locator("img.clothstyle-preview").bounding_box()
    assert abs(map_box["width"] - preview_box["width"]) <= 1, (map_box, preview_box)
    assert abs(map_box["y"] - preview_box["y"]) <= 4, (map_box, preview_box)  # widget margins
    studio_before = shots.studio("01_studio_start")

    # --- a click on a garment: one positive seed, a new region
    image = page.locator("img.clothstyle-clickmap-image")
    image.click(position=click_position(page, *GARMENT_CLICK, natural))
    wait_for_caption(page, "1 positive / 0 negative clicks")
    preview_after = wait_for_preview_change(page, preview_src)
    map_src_after, map_after = click_map_pixels(page)
    studio_after = shots.studio("02_studio_after_click")
    assert status(page).strip() == "", status(page)
    assert map_src_after != map_src, "the click map did not change"
    # The kernel got the clicked pixel (the fallback's x/y sliders follow each click);
    # the browser rounds the mouse position to whole CSS pixels.
    clicked = (slider_value(page, "x"), slider_value(page, "y"))
    assert np.allclose(clicked, GARMENT_CLICK, atol=1), clicked
    assert mean_abs_diff(map_after, map_before) > 1.0
    # The clicked helmet is now in the region: stylized in the preview.
    window = around(*GARMENT_CLICK)
    assert mean_abs_diff(preview_after[window], preview_before[window]) > 20.0
    assert mean_abs_diff(preview_after, preview_before) > 2.0
    assert mean_abs_diff(studio_after, studio_before) > 1.0

    # --- Shift-click off the garment: a negative seed
    preview_src, preview_before = preview_pixels(page)
    image.click(position=click_position(page, *NEGATIVE_CLICK, natural), modifiers=["Shift"])
    wait_for_caption(page, "1 positive / 1 negative clicks")
    preview_after = wait_for_preview_change(page, preview_src)
    shots.studio("03_studio_after_negative_click")
    assert status(page).strip() == "", status(page)
    window = around(*NEGATIVE_CLICK)  # the glove is the photo again
    assert mean_abs_diff(preview_after[window], preview_before[window]) > 20.0
    assert mean_abs_diff(preview_after, preview_before) > 0.2

    # --- the softness slider, moved with the keyboard (as a person can)
    softness = slider(page, "Softness (px)")
    softness_before = slider_value(page, "Softness (px)")
    preview_src, preview_before = preview_pixels(page)
    # One key press, one value sent (the slider reports on release, not while moving).
    softness.locator(".noUi-handle").focus()
    page.keyboard.press("End")
    preview_after = wait_for_preview_change(page, preview_src)
    shots.studio("04_studio_after_softness")
    assert slider_value(page, "Softness (px)") > softness_before
    assert mean_abs_diff(preview_after, preview_before) > 0.1
    assert "1 positive / 1 negative clicks" in caption(page)  # the selection stays

    # --- the fallback without the mouse on the picture: x/y sliders and a button
    page.get_by_text("Click without the mouse (fallback)").click()
    button = page.get_by_role("button", name="Use x/y as a click")
    button.wait_for(state="visible")
    assert not yellow_cross_at(page, *FALLBACK_CLICK)
    set_slider_by_readout(page, "x", FALLBACK_CLICK[0])
    set_slider_by_readout(page, "y", FALLBACK_CLICK[1])
    # The kernel got both values: it draws the yellow cross there in the click map.
    wait_until(page, lambda: yellow_cross_at(page, *FALLBACK_CLICK),
               f"the yellow cross at {FALLBACK_CLICK} in the click map")
    preview_src, preview_before = preview_pixels(page)
    shots.studio("05_studio_fallback_before_click")
    button.click()
    wait_for_caption(page, "2 positive / 1 negative clicks")
    preview_after = wait_for_preview_change(page, preview_src)
    shots.studio("06_studio_after_fallback_click")
    assert status(page).strip() == "", status(page)
    window = around(*FALLBACK_CLICK)
    assert mean_abs_diff(preview_after[window], preview_before[window]) > 20.0
    assert mean_abs_diff(preview_after, preview_before) > 1.0
    assert not script_errors, script_errors
