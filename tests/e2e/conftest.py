"""A real `reflex run` (frontend, backend, workers, scheduler) and Debian chromium (Playwright)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from agentic_app.settings import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
"""Screenshots and the app log of the browser tests."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-4000:]
            raise RuntimeError(f"reflex run exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-4000:]}")


def poll_until(predicate, timeout: float) -> bool:
    """Call ``predicate`` every 0.5 s until it is truthy (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


class RunningApp:
    """Handle on an app started by `reflex run` for the tests."""

    def __init__(self, proc, frontend: str, backend: str, data_dir: Path, log: Path):
        self.proc, self.frontend, self.backend = proc, frontend, backend
        self.data_dir, self.log = data_dir, log

    @property
    def db_url(self) -> str:
        """The app's SQLite database."""
        return f"sqlite:///{self.data_dir / 'agentic.db'}"

    def services(self):
        """A facade on the app's database (to set up users and workflows directly)."""
        from agentic_app.services.app import AppServices
        from agentic_app.settings import load_settings

        return AppServices(load_settings(database_url=self.db_url, data_dir=self.data_dir))

    def group_pids(self) -> list[int]:
        """PIDs of every process still in the app's process group."""
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self, timeout: float = 40) -> None:
        """Stop like Ctrl-C does: SIGINT to the whole process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_app(data_dir: Path, redis_url: str, log_name: str = "reflex-run.log",
              prod: bool = False, **extra_env: str) -> RunningApp:
    """Start `reflex run` with free ports and its own data dir; wait until both ends answer.

    ``prod=True`` runs ``reflex run --env prod``: a production build served with the backend
    on one port (several backend workers when ``REFLEX_REDIS_URL`` answers)."""
    ARTIFACTS.mkdir(exist_ok=True)
    fport = _free_port()
    bport = fport if prod else _free_port()
    env = dict(os.environ, DATA_DIR=str(data_dir), FRONTEND_PORT=str(fport),
               BACKEND_PORT=str(bport), REDIS_URL=redis_url, WORKER_PROCESSES="1",
               REFLEX_TELEMETRY_ENABLED="false", REFLEX_CHECK_LATEST_VERSION="false",
               PATH=os.pathsep.join([str(REPO_ROOT / ".tools/bun/bin"),
                                     str(REPO_ROOT / ".venv/bin"), os.environ["PATH"]]))
    # no hot reload: screenshots and other processes writing into the repo must not restart
    # the backend (and its workers) in the middle of a test
    quiet = Path(tempfile.mkdtemp(prefix="agentic-noreload-"))
    env["REFLEX_HOT_RELOAD_OVERRIDE_PATHS"] = str(quiet)
    env.update(extra_env)
    env.pop("DATABASE_URL", None)
    log = ARTIFACTS / log_name
    argv = [str(REPO_ROOT / ".venv/bin/reflex"), "run", "--loglevel", "info"]
    if prod:
        argv += ["--env", "prod"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    app = RunningApp(proc, f"http://localhost:{fport}", f"http://localhost:{bport}", data_dir, log)
    try:
        _wait_http(f"{app.backend}/api/agentic/health", 600 if prod else 300, proc, log)
        _wait_http(f"{app.frontend}/login", 300, proc, log)
    except BaseException:
        app.stop()
        raise
    return app



def pytest_collection_modifyitems(config, items):
    """Tests that start their own `reflex run` (a production build, a second dev server)
    rewrite the shared .web directory under the package's running app, so they run last:
    a browser test collected after them would meet a frontend being rebuilt."""
    own = [item for item in items if item.get_closest_marker("own_app")]
    if own:
        items[:] = [item for item in items if not item.get_closest_marker("own_app")] + own


@pytest.fixture(scope="package")
def running_app(tmp_path_factory, redis_base_url):
    """One `reflex run` shared by the browser tests of the session."""
    app = start_app(tmp_path_factory.mktemp("appdata"), redis_base_url)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="package")
def browser():
    """Debian chromium driven by Playwright (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: `make test` installs Debian chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


def login(page, app: RunningApp, username: str = "demo", password: str = "demo") -> None:
    """Sign in through the login form and wait for the scheduler page."""
    page.goto(f"{app.frontend}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url("**/scheduler", timeout=30_000)


def watch_run_now(page, app: RunningApp, workflow_id: int) -> None:
    """Click "run now" on the workflows page and follow the monitor to completed: node states
    must be seen changing between nodes (live, not only at the end), the log line "half way"
    shown once and five timeline rows drawn (the SLOW_FLOW of the UI tests)."""
    page.goto(f"{app.frontend}/workflows")
    page.click(f"#run-now-{workflow_id}")
    page.wait_for_url("**/monitor/*")
    page.locator("#dag-node-done").wait_for()
    page.evaluate("""() => {
        window.__states = [];
        const snap = () => window.__states.push(
            [...document.querySelectorAll('#dag [data-status]')].map(e => e.dataset.status)
            .join(','));
        snap();
        new MutationObserver(snap).observe(document.querySelector('#dag'),
            {subtree: true, attributes: true, childList: true, characterData: true});
    }""")
    page.wait_for_selector("#execution-status[data-status=completed]", timeout=60_000)
    # node bars show their numeric progress, never Radix's endless indeterminate animation
    assert page.locator(".rt-ProgressIndicator").count() >= 5
    assert page.locator(".rt-ProgressIndicator[data-state=indeterminate]").count() == 0
    states = page.evaluate("window.__states")
    partial = [s for s in states if "succeeded" in s and ("pending" in s or "running" in s)]
    assert len(set(partial)) >= 2, states  # seen between nodes, not only at the end
    assert page.locator(".log-line", has_text="half way").count() == 1
    assert page.locator(".timeline-row").count() == 5
