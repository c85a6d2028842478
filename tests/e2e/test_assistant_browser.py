"""The assistant in JupyterLab, in Debian's chromium, on the real platform: a spawned
session, the api with a model (a local OpenAI-compatible server), then the same model down.

Tried as a new user would: open JupyterLab, chat, search and insert a pattern, type in a cell
and see ghost text, generate a notebook from a description."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.artifacts import artifact_path
from tests.support.asgi import serve_app
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.support.fake_openai import KEY, fake_openai_app
from tests.support.hub import HubUser
from tests.support.platform import ADMIN_NAME, Platform, start_platform, stop_platform

pytestmark = pytest.mark.slow

MODEL = "fake-coder"
ANSWER = ["To read a CSV file, ", "call pandas.read_csv", "(path) and look at ", "df.head()."]
MODEL_COMPLETION = "in('data', 'sales.csv')"


def model_script(body: dict[str, Any]) -> list[str]:
    """Chat answers in several chunks; an inline completion request gets one call."""
    last = body["messages"][-1]["content"]
    return [MODEL_COMPLETION] if "<CURSOR>" in last else ANSWER


class ModelServer:
    """The operator's model endpoint, which can go down mid-test."""

    def __init__(self) -> None:
        self.stack = ExitStack()
        app, self.calls, self.bodies = fake_openai_app(scripts={MODEL: model_script})
        self.url = self.stack.enter_context(serve_app(app))

    def stop(self) -> None:
        self.stack.close()
        with pytest.raises(httpx.TransportError):
            httpx.get(self.url, timeout=2)


@pytest.fixture(scope="module")
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.stack.close()


# Users' servers wait for the model as long as a loaded 2-core machine may need: the model's
# completion, not jedi's, is what these steps expect to see (the default, 2 s, makes jedi
# answer when the model is slow). The operator's config, applied after the platform's.
PATIENT_SECONDS = 120
PATIENT_SESSIONS = f"""
import os

c.Spawner.args = [
    *(["--allow-root"] if os.geteuid() == 0 else []),
    "--AssistantApp.completion_timeout={PATIENT_SECONDS}",
    "--AssistantApp.status_timeout={PATIENT_SECONDS}",
]
"""


@pytest.fixture(scope="module")
def assisted(tmp_path_factory: pytest.TempPathFactory, model: ModelServer) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("assistant-platform") / "data"
    data_dir.mkdir()
    extra_config = data_dir.parent / "patient_sessions.py"
    extra_config.write_text(PATIENT_SESSIONS)
    running = start_platform(
        data_dir,
        artifact_path("platform-assistant.log"),
        DATAZENTR_LLM_BASE_URL=f"{model.url}/v1",
        DATAZENTR_LLM_MODEL=MODEL,
        DATAZENTR_LLM_API_KEY=KEY,
        DATAZENTR_EXTRA_HUB_CONFIG=str(extra_config),
    )
    try:
        yield running
    finally:
        assert stop_platform(running) == 0, running.log_tail()


@pytest.fixture(scope="module")
def lab(assisted: Platform) -> Iterator[Page]:
    """One person's JupyterLab, kept open across the steps of this module."""
    user = HubUser(assisted)
    assert user.signup().status_code == 200
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 860}).new_page()
        # JupyterLab's one-time "news" question may cover buttons: answer it when it shows.
        news = page.locator(".jp-toast-button", has_text=re.compile(r"^No$"))
        page.add_locator_handler(news, lambda button: button.click())
        sign_in(page, assisted.url, user.name, user.password)
        page.get_by_text("Start My Server").click()
        page.wait_for_url(f"**/user/{user.name}/lab**", timeout=120_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
        yield page
        browser.close()
    user.close()


def show_panel(page: Page, widget_id: str) -> None:
    """Open a side panel by its tab (a second click on an open panel's tab closes it)."""
    if not page.locator(f"#{widget_id}").is_visible():
        page.locator(f"[data-id='{widget_id}']").click()
    expect(page.locator(f"#{widget_id}")).to_be_visible()


def open_notebook(page: Page) -> Any:
    """A new notebook from the launcher (a new launcher tab when a document is open)."""
    card = page.locator(".jp-LauncherCard[title*='Python 3']:visible").first
    if not card.is_visible():
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-addButton").first.click()
    card.click()
    editor = page.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").last
    expect(editor).to_be_visible(timeout=60_000)
    return editor


def test_chat_streams_the_models_answer(lab: Page, model: ModelServer) -> None:
    expect(lab.locator(".dz-status-engine")).to_have_text(f"Assistant: {MODEL}", timeout=30_000)
    show_panel(lab, "datazentr-chat")
    expect(lab.locator(".dz-engine-label")).to_have_text(f"Assistant: {MODEL}")
    lab.fill(".dz-chat-input", "How do I read a CSV file?")
    lab.click(".dz-chat-send")
    answer = lab.locator(".dz-role-assistant").last
    expect(answer.locator(".dz-chat-text")).to_have_text("".join(ANSWER), timeout=30_000)
    expect(answer.locator(".dz-chat-engine")).to_have_text(f"answered by: {MODEL}")
    assert model.calls[MODEL] >= 1
    lab.screenshot(path=artifact_path("assistant-chat.png"))


def test_model_completion_shows_as_ghost_text(lab: Page) -> None:
    # The model answers (the server's status says so), and however long it takes today the
    # server waits for it (PATIENT_SESSIONS): its text, not jedi's "in", is the ghost text.
    expect(lab.locator(".dz-status-engine")).to_have_text(f"Assistant: {MODEL}", timeout=30_000)
    editor = open_notebook(lab)
    editor.click()
    lab.keyboard.type("import os\nos.path.jo", delay=60)
    ghost = lab.locator(".jp-GhostText")
    expect(ghost).to_have_text(MODEL_COMPLETION, timeout=20_000)
    lab.screenshot(path=artifact_path("assistant-inline-model.png"))
    lab.keyboard.press("Escape")


def test_search_patterns_and_insert_into_the_cell(lab: Page) -> None:
    show_panel(lab, "datazentr-patterns")
    lab.fill(".dz-patterns-query", "read a csv file")
    lab.click(".dz-patterns-search")
    card = lab.locator(".dz-pattern-card").first
    expect(card).to_be_visible(timeout=30_000)
    title = card.locator(".dz-pattern-title").inner_text()
    # Insert into a fresh cell of the open notebook.
    cell = lab.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").last
    cell.click()
    lab.keyboard.press("Escape")
    lab.keyboard.press("b")  # a new cell below, now the active one
    card.locator(".dz-pattern-insert").click()
    expect(lab.locator(".dz-patterns-status")).to_contain_text(f'Inserted "{title}"')
    inserted = lab.locator(".jp-NotebookPanel:visible .jp-Cell").last.locator(".cm-content")
    expect(inserted).not_to_have_text("", timeout=10_000)
    card.locator(".dz-pattern-worked").click()
    expect(card.locator(".dz-pattern-thanks")).to_have_text("Thanks, noted.")
    lab.screenshot(path=artifact_path("assistant-patterns.png"))


def test_model_down_the_ui_says_so_and_offline_answers(lab: Page, model: ModelServer) -> None:
    model.stop()
    show_panel(lab, "datazentr-chat")
    lab.click(".dz-chat-new")
    lab.fill(".dz-chat-input", "How do I read a CSV file?")
    lab.click(".dz-chat-send")
    notice = lab.locator(".dz-chat-notice")
    expect(notice).to_contain_text("model endpoint is unreachable", timeout=60_000)
    answer = lab.locator(".dz-role-assistant").last
    expect(answer.locator(".dz-chat-engine")).to_have_text(
        "answered by: offline engine", timeout=60_000
    )
    assert answer.locator(".dz-chat-text").inner_text().strip()
    for label in (".dz-engine-label", ".dz-status-engine"):
        expect(lab.locator(label)).to_have_text(
            "Assistant: offline (model unreachable)", timeout=30_000
        )
    lab.screenshot(path=artifact_path("assistant-model-down.png"))
    # A code block of the answer goes into the notebook with its Insert button.
    answer.locator(".dz-chat-insert").first.click()
    expect(notice).to_contain_text("Inserted into Untitled.ipynb")


def test_offline_completion_from_jedi(lab: Page) -> None:
    editor = open_notebook(lab)
    editor.click()
    lab.keyboard.type("import json\njson.dum", delay=60)
    expect(lab.locator(".jp-GhostText")).to_have_text(re.compile(r"^ps?$"), timeout=20_000)
    lab.screenshot(path=artifact_path("assistant-inline-offline.png"))
    lab.keyboard.press("Escape")


def test_explain_a_failed_cell(lab: Page) -> None:
    # In the notebook open from the previous step (its kernel is up): a new cell that fails.
    lab.locator(".jp-NotebookPanel:visible .jp-Cell").last.click()
    lab.keyboard.press("Escape")
    lab.keyboard.press("b")
    lab.keyboard.press("Enter")
    lab.keyboard.type("numbers = [1, 2]\nnumbers[5]")
    lab.keyboard.press("Shift+Enter")
    failed = lab.locator(".jp-NotebookPanel:visible .jp-Cell").nth(1)
    try:
        expect(failed.locator(".jp-OutputArea-output")).to_contain_text(
            "IndexError", timeout=60_000
        )
    finally:
        lab.screenshot(path=artifact_path("assistant-explain-error.png"))
    failed.click(button="right")
    lab.locator(".lm-Menu-itemLabel", has_text="Explain This Error").click()
    expect(lab.locator(".dz-role-user").last).to_have_text(
        "Explain this error: IndexError: list index out of range"
    )
    answer = lab.locator(".dz-role-assistant").last
    expect(answer.locator(".dz-chat-engine")).to_be_visible(timeout=60_000)
    assert "IndexError" in answer.locator(".dz-chat-text").inner_text()
    lab.screenshot(path=artifact_path("assistant-explain-error.png"))


def test_generate_notebook_from_description(lab: Page) -> None:
    tabs = lab.locator(".lm-DockPanel-tabBar .lm-TabBar-tab")
    before = tabs.count()
    lab.keyboard.press("Control+Shift+c")
    palette = lab.locator(".lm-CommandPalette-input")
    expect(palette).to_be_visible()
    palette.fill("Generate notebook from description")
    lab.keyboard.press("Enter")
    dialog = lab.locator(".jp-Dialog")
    dialog.locator("input").fill("Load a CSV of sales and plot the monthly totals")
    dialog.locator(".jp-mod-accept").click()
    expect(tabs).to_have_count(before + 1, timeout=60_000)
    current = lab.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(current).to_contain_text(".ipynb")
    expect(current).not_to_contain_text("Untitled")
    cells = lab.locator(".jp-NotebookPanel:visible .jp-Cell")
    expect(cells.nth(1)).to_be_visible(timeout=30_000)
    lab.screenshot(path=artifact_path("assistant-generated-notebook.png"))


def test_dashboards_launcher_item_opens_a_new_tab(lab: Page, assisted: Platform) -> None:
    lab.locator(".lm-DockPanel-tabBar .lm-TabBar-addButton").first.click()
    item = lab.locator(".jp-LauncherCard:visible", has_text=re.compile(r"^Dashboards$")).first
    with lab.context.expect_page() as opened:
        item.click()
    assert opened.value.url.startswith(f"{assisted.url}/services/dashboards/")
    opened.value.close()


SHORT_DAY_PLAN = {
    "name": "Short day",
    "rank": 0,
    "cpu_limit": 0.5,
    "memory_limit_mb": 512,
    "daily_minutes": 8,  # under the platform's 10-minute warning from the start
    "idle_timeout_minutes": 5,
    "named_servers": 1,
    "storage_gb": 1,
}


def test_jupyterlab_warns_before_the_days_session_time_runs_out(
    lab: Page, assisted: Platform
) -> None:
    admin, user = HubUser(assisted, name=ADMIN_NAME), HubUser(assisted)
    assert admin.signup().status_code == 200 and user.signup().status_code == 200
    assert admin.login().status_code == 200
    with httpx.Client(
        base_url=f"{assisted.url}/services/api",
        headers={"Authorization": f"token {admin.new_token()}"},
        timeout=30,
    ) as api:
        assert api.put("/admin/plans/shortday", json=SHORT_DAY_PLAN).status_code == 200
        moved = api.put(f"/admin/users/{user.name}/plan", json={"plan_code": "shortday"})
        assert moved.status_code == 200, moved.text
    browser = lab.context.browser
    assert browser is not None
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    sign_in(page, assisted.url, user.name, user.password)
    page.get_by_text("Start My Server").click()
    page.wait_for_url(f"**/user/{user.name}/lab**", timeout=120_000)
    notice = page.get_by_text(re.compile(r"\d minutes? of today's session time left"))
    expect(notice).to_be_visible(timeout=60_000)
    expect(notice).to_contain_text("(Short day plan)")
    expect(notice).to_contain_text("files are kept. Resets 00:00 UTC.")  # whole, not cut
    # A managed platform asks no "official Jupyter news?" question.
    expect(page.get_by_text("official Jupyter news")).to_have_count(0)
    page.wait_for_timeout(800)  # the toast has slid in
    page.screenshot(path=artifact_path("assistant-session-time-warning.png"))
    context.close()
    for person in (admin, user):
        person.close()
