"""A newcomer's first session in a real browser, at desktop width and at 390 px (issue 12).

Debian's chromium via Playwright against ``chainlit run`` (own port, data dir and
``CHAINLIT_APP_ROOT``), the language model a scripted OpenAI-compatible server at the
wire level. Walked and asserted at each width:

- login copy: the field says "Username"; a wrong password says so in words, with no raw
  "credentialssignin" toast;
- upload: one progress message, visible without scrolling, that ends "indexed";
- two answers in one chat, each citing a different document: nothing opens by itself;
  the [n] chip of answer 1 opens answer 1's passage (title = number and source, the
  supporting sentence highlighted), the chip of answer 2 opens answer 2's;
- steps in plain language;
- a new chat (truthful dialog) finds the documents of the earlier chat;
- Documents: delete needs a second click, then the list is fresh;
- sharing: the dialog says what is shared, the shared view says who shared it and that
  it is read-only, and a revoked link shows the not-shared page.

Screenshots: tests/e2e/artifacts/newcomer-<width>-*.png (git-ignored).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import ROOT, AppServer, FakeLLM, fake_llm_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ARTIFACTS = Path(__file__).with_name("artifacts")
VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
PASSWORD = "newcomer-password-1"
Q_REACTOR = "How often must the Heliotrope reactor be inspected?"
Q_PUMP = "How is the Zephyr pump primed?"
PUMP_MANUAL = ("# Zephyr pump manual\n\n"
               "Prime the Zephyr pump with two litres of glycol before the first start. "
               "Never run it dry.\n\n## Storage\n\nKeep spare seals in the dry cabinet.\n")


def shot(page, width: str, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"newcomer-{width}-{name}.png"
    page.screenshot(path=str(path))
    return path


def app_root(folder: Path) -> Path:
    """A Chainlit app root of its own linking the project's config and assets."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (".chainlit", "public", "chainlit.md"):
        if not (folder / name).exists():
            (folder / name).symlink_to(ROOT / name)
    return folder



@pytest.fixture(scope="module")
def app(tmp_path_factory):
    fake = FakeLLM(needle="Heliotrope|Zephyr", delay=0.02).start()
    server = None
    try:
        data = tmp_path_factory.mktemp("e2e-newcomer")
        env = fake_llm_env(fake.port) | {"CHAINLIT_APP_ROOT": str(app_root(data / "app-root"))}
        server = AppServer(data, env_extra=env)
        for width in VIEWPORTS:
            server.add_user(f"ada-{width}", PASSWORD)
            server.add_user(f"ben-{width}", PASSWORD)
        yield server.start()
    finally:
        if server:
            server.stop()
        fake.stop()


def new_page(browser, width: str):
    context = browser.new_context(viewport=VIEWPORTS[width])
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


def log_in(page, app: AppServer, user: str, password: str = PASSWORD) -> None:
    page.goto(f"{app.url}/login", wait_until="domcontentloaded")
    page.fill("#email", user)
    page.fill("#password", password)
    page.click("button[type=submit]")


def wait_ready(page) -> None:
    page.wait_for_selector("#command-Documents", timeout=60_000)


def send(page, text: str = "", files: list[Path] | None = None) -> None:
    if files:
        page.set_input_files("#upload-button-input", [str(f) for f in files])
        page.wait_for_function("() => !document.querySelector('#chat-submit').disabled")
    if text:
        page.fill("#chat-input", text)
    page.click("#chat-submit")


def answers(page):
    return page.locator("[data-step-type=assistant_message]")


def wait_answer(page, count: int, needle: str):
    """The ``count``-th reply that contains ``needle`` and a citation chip."""
    answer = answers(page).filter(has_text=needle).nth(count - 1)
    answer.locator("a.element-link").first.wait_for(timeout=120_000)
    page.wait_for_timeout(800)
    return answer


def panel_title(page) -> str:
    return page.locator("#docchat-passage-title").inner_text()


def close_panel(page) -> None:
    page.locator("#docchat-passage header button").click()
    page.locator("#docchat-passage").wait_for(state="detached")


def assert_nothing_opened(page) -> None:
    """Neither our passage panel nor Chainlit's side view opened by itself."""
    assert page.locator("#docchat-passage").count() == 0
    assert page.locator("#side-view-title").count() == 0


def thread_ids(page) -> dict[str, str]:
    """name -> id of the user's threads (Chainlit's own list API, as the sidebar uses)."""
    threads = page.evaluate("""async () => {
        const r = await fetch('/project/threads', {method: 'POST', credentials: 'include',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({pagination: {first: 20}, filter: {}})});
        return (await r.json()).data; }""")
    return {t["name"]: t["id"] for t in threads}


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_newcomer_session(browser, app, width, report_pdf, tmp_path):
    pump = tmp_path / "zephyr-pump-manual.md"
    pump.write_text(PUMP_MANUAL)
    ada, ben = f"ada-{width}", f"ben-{width}"
    page = new_page(browser, width)

    # --- login copy ---------------------------------------------------------------
    log_in(page, app, ada, "not-the-password")
    page.get_by_text("Wrong user name or password.").wait_for()
    assert page.get_by_text("Username", exact=True).count() >= 1
    assert page.get_by_text("Email address").count() == 0
    page.wait_for_timeout(500)
    assert not page.get_by_text(re.compile("credentialssignin", re.I)).is_visible()
    shot(page, width, "01-login-error")
    log_in(page, app, ada)
    wait_ready(page)

    # --- upload: one progress message, in sight, ending "indexed" -----------------
    send(page, files=[report_pdf])
    progress = answers(page).filter(has_text="heliotrope-report.pdf").last
    progress.wait_for()
    progress.get_by_text(re.compile(r"Indexed 1 file")).wait_for(timeout=300_000)
    page.wait_for_timeout(800)
    assert re.search(r"heliotrope-report\.pdf\*?\*?: indexed", progress.inner_text().replace(
        "**", "")), progress.inner_text()
    box, view = progress.bounding_box(), page.viewport_size
    assert box and box["y"] >= 0 and box["y"] + min(box["height"], 120) <= view["height"], box
    shot(page, width, "02-upload-indexed")

    # --- two answers, two documents; nothing opens by itself ----------------------
    send(page, Q_REACTOR)
    first = wait_answer(page, 1, "43 days")
    assert_nothing_opened(page)
    send(page, Q_PUMP, files=[pump])
    second = wait_answer(page, 1, "glycol")
    assert_nothing_opened(page)
    shot(page, width, "03-two-answers-panel-closed")

    # steps speak plain language
    assert page.get_by_text(re.compile(r"Searching your documents \(\d+ passages? from \d+ "
                                       r"files?\)")).count() >= 1
    assert page.get_by_text("Deciding how to answer").count() >= 1
    assert page.get_by_text(re.compile("AskForDocs|Route: |Used Agent")).count() == 0

    # the chip of answer 1 opens answer 1's passage; answer 2's opens answer 2's
    first.locator("a.element-link").first.click()
    page.locator("#docchat-passage").wait_for()
    assert re.match(r"^\[\d\] heliotrope-report\.pdf, page 2", panel_title(page)), panel_title(page)
    assert "43 days" in page.locator("#docchat-passage mark").inner_text()
    shot(page, width, "04-answer1-passage")
    close_panel(page)
    second.locator("a.element-link").first.click()
    page.locator("#docchat-passage").wait_for()
    assert re.match(r"^\[\d\] zephyr-pump-manual\.md", panel_title(page)), panel_title(page)
    assert "glycol" in page.locator("#docchat-passage mark").inner_text()
    assert "43 days" not in page.locator("#docchat-passage").inner_text()
    shot(page, width, "05-answer2-passage")
    close_panel(page)
    first_thread = thread_ids(page)

    # --- a new chat finds the documents of the earlier chat ----------------------
    page.locator("#new-chat-button").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("stays saved in your history").wait_for()
    assert dialog.get_by_text("clear your current chat history").count() == 0
    shot(page, width, "06-new-chat-dialog")
    dialog.get_by_role("button", name=re.compile("Confirm", re.I)).click()
    wait_ready(page)
    send(page, Q_REACTOR)
    wait_answer(page, 1, "43 days")
    assert page.get_by_text("No documents are indexed here").count() == 0
    shot(page, width, "07-new-chat-finds-documents")

    # --- Documents: delete needs a second click, then the list is fresh ----------
    page.locator("#command-Documents").click()
    send(page, "List my documents")
    listing = answers(page).filter(has_text="You have 2 documents").last
    listing.wait_for()
    assert "pages" in listing.inner_text() and "chunks" in listing.inner_text()
    page.get_by_role("button", name="Delete zephyr-pump-manual.md").first.click()
    confirm = answers(page).filter(has_text="Delete zephyr-pump-manual.md?").last
    confirm.wait_for()
    page.wait_for_timeout(1000)
    assert answers(page).filter(has_text="You have 2 documents").count() == 1  # not yet
    shot(page, width, "08-delete-asks-first")
    confirm.get_by_role("button", name="Yes, delete zephyr-pump-manual.md").click()
    answers(page).filter(has_text="You have 1 document:").last.wait_for()
    page.get_by_text(re.compile(r"Deleted zephyr-pump-manual\.md: \d+ chunks")).wait_for()
    assert answers(page).filter(has_text="You have 2 documents").count() == 0  # stale list gone
    shot(page, width, "09-deleted-list-fresh")

    # --- sharing: what is shared, who shared it, revoked link ---------------------
    thread_id = next(i for name, i in first_thread.items())
    page.goto(f"{app.url}/thread/{thread_id}")
    wait_answer(page, 1, "glycol")
    # answer 2's document was deleted since: its passage says so
    wait_answer(page, 1, "glycol").locator("a.element-link").first.click()
    page.locator("#docchat-passage").get_by_text("deleted since").wait_for()
    assert_resumed_answer1 = wait_answer(page, 1, "43 days")
    close_panel(page)
    assert_resumed_answer1.locator("a.element-link").first.click()
    assert re.match(r"^\[\d\] heliotrope-report\.pdf, page 2", panel_title(page))
    close_panel(page)
    page.locator("#header button:has(svg.lucide-share2)").click()
    dialog = page.get_by_role("dialog")
    dialog.locator(".docchat-share-note").wait_for()
    assert "files" in dialog.locator(".docchat-share-note").inner_text()
    link = dialog.locator("span[title*='/share/']").get_attribute("title")
    dialog.get_by_role("button", name="Share").click()
    dialog.get_by_role("button", name="Unshare").wait_for()
    shot(page, width, "10-share-dialog")
    page.keyboard.press("Escape")

    reader = new_page(browser, width)
    log_in(reader, app, ben)
    wait_ready(reader)
    reader.goto(link)
    reader.get_by_text("43 days").first.wait_for()
    banner = reader.locator("#docchat-share-banner")
    banner.wait_for()
    assert "Read-only" in banner.inner_text() and f"shared by {ada}" in banner.inner_text()
    assert reader.locator("#chat-input").count() == 0
    shot(reader, width, "11-shared-view-banner")

    page.locator("#header button:has(svg.lucide-share2)").click()
    page.get_by_role("dialog").get_by_role("button", name="Unshare").click()
    page.wait_for_timeout(1500)
    reader.goto(link)
    reader.get_by_text("This conversation is not shared").wait_for()
    assert reader.get_by_text("43 days").count() == 0
    shot(reader, width, "12-revoked-link-not-shared")
    reader.context.close()
    page.context.close()
