"""The ask page in a real browser: Debian's chromium, headless, driven by selenium over a real server."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from urllib.parse import quote

import httpx
import pytest

from conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
QUESTION = "Which country is the protecting power for the US in North Korea?"
UNANSWERABLE = "Who won the 1998 FIFA World Cup?"  # the seed corpus has neither the year nor the name
WAIT = 20  # seconds, for anything the page does

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"chromium/chromedriver not installed at {CHROMIUM} and {CHROMEDRIVER} "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def make_browser(width: int = 1280, height: int = 900):
    profile = tempfile.mkdtemp(prefix="qa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    driver._qa_profile = profile
    return driver


def close_browser(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver._qa_profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    driver = make_browser()
    yield driver
    close_browser(driver)


def wait_for_cards(driver) -> list:
    """The cards of the latest answer (the page marks #results aria-busy while a question is out)."""
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "results").get_attribute("aria-busy") == "false" and (
            d.find_elements(By.CSS_SELECTOR, "#results li.card")
            or "error" in d.find_element(By.ID, "status").get_attribute("class")))
    assert "error" not in driver.find_element(By.ID, "status").get_attribute("class"), \
        driver.find_element(By.ID, "status").text
    return driver.find_elements(By.CSS_SELECTOR, "#results li.card")


def test_enter_asks_and_shows_sweden_first(browser, qa_server, tmp_path):
    browser.get(f"{qa_server}/")
    box = browser.find_element(By.ID, "q")
    assert browser.switch_to.active_element == box  # focus starts in the question box
    assert browser.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Question"
    box.send_keys(QUESTION + Keys.ENTER)
    cards = wait_for_cards(browser)
    assert len(cards) == 5
    first = cards[0]
    assert "Sweden" in first.find_element(By.CSS_SELECTOR, ".text").text
    cite = first.find_element(By.CSS_SELECTOR, ".cite").text
    assert cite.startswith("1. north-korea-diplomacy.txt › ") and "(chars " in cite
    assert first.find_element(By.CSS_SELECTOR, ".score").text.startswith("score 0.")
    assert " ms " in browser.find_element(By.ID, "status").text
    assert browser.current_url == f"{qa_server}/?q={quote(QUESTION, safe='')}"
    assert not browser.find_element(By.ID, "notice").is_displayed()

    answer = httpx.post(f"{qa_server}/ask", json={"question": QUESTION, "k": 5}, timeout=30).json()
    highlight = answer["passages"][0].get("highlight")
    marks = first.find_elements(By.TAG_NAME, "mark")
    if highlight:  # the highlight sentence is emphasized, cut at the right offsets
        assert [m.text for m in marks] == [highlight["text"].strip()]
    else:
        assert marks == []
    browser.save_screenshot(str(tmp_path / "answer.png"))


def test_loading_a_question_url_asks_it_and_back_restores(browser, qa_server):
    browser.get(f"{qa_server}/?q={quote(QUESTION)}")
    assert browser.find_element(By.ID, "q").get_attribute("value") == QUESTION
    assert "Sweden" in wait_for_cards(browser)[0].text
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("How many countries have embassies in Pyongyang?" + Keys.ENTER)
    WebDriverWait(browser, WAIT).until(lambda d: "embassies" in d.current_url)
    browser.back()
    WebDriverWait(browser, WAIT).until(lambda d: d.find_element(By.ID, "q").get_attribute("value") == QUESTION)
    assert "Sweden" in wait_for_cards(browser)[0].text


def test_keyboard_only_tab_reaches_the_button_and_asks(browser, qa_server):
    browser.get(f"{qa_server}/")
    browser.switch_to.active_element.send_keys(QUESTION)
    browser.switch_to.active_element.send_keys(Keys.TAB)
    button = browser.switch_to.active_element
    assert button.get_attribute("id") == "go"
    outline = browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", button)
    assert outline == "solid"  # a visible focus ring
    button.send_keys(Keys.ENTER)
    assert "Sweden" in wait_for_cards(browser)[0].text


def test_unanswerable_question_shows_the_notice(browser, qa_server):
    answer = httpx.get(f"{qa_server}/ask", params={"q": UNANSWERABLE}, timeout=30).json()
    assert answer.get("answerable") is False
    browser.get(f"{qa_server}/?q={quote(UNANSWERABLE)}")
    wait_for_cards(browser)
    notice = browser.find_element(By.ID, "notice")
    assert notice.is_displayed() and notice.text.startswith("Not in the corpus.")


def test_phone_width_has_no_sideways_scroll(qa_server):
    driver = make_browser()
    try:  # headless windows are at least 500 px wide: emulate a phone's screen instead
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        driver.get(f"{qa_server}/?q={quote(QUESTION)}")
        wait_for_cards(driver)
        inner, scroll = driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]")
        assert inner == 390 and scroll <= inner  # the viewport meta works, and nothing overflows sideways
        button = driver.find_element(By.ID, "go")
        assert button.size["width"] > 200  # full-width button under the box
    finally:
        close_browser(driver)


# --- hostile corpus text is shown as text ---------------------------------------------------------

HOSTILE = """Markup In The Corpus

The tag <script>window.qaPwned = 1</script> must be shown as text. So must <img src=x onerror="window.qaPwned = 2">
and <b>bold</b> and &amp; entities, which stay as typed in the source file.
"""


def serve_in_thread(retriever, **app_options):
    """Serve `retriever` in process (uvicorn in a thread); yields the base URL."""
    import uvicorn

    from qa.serve.app import create_app

    app = create_app(retriever, **app_options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the in-process server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, embedder):
    """A server over a tiny index of a document full of markup."""
    from qa.store.local.index import load_index
    from qa.store.local.build import build_index
    from qa.search.retrieval import Retriever

    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "corpus").mkdir()
    (tmp / "corpus" / "markup.txt").write_text(HOSTILE, encoding="utf-8")
    build_index([tmp / "corpus"], tmp / "index", embedder)
    yield from serve_in_thread(Retriever(load_index(tmp / "index"), embedder))


def test_notice_is_shown_exactly_when_answerable_is_false(browser, retriever):
    """The page's side of abstention, whatever the library decides: a retriever that always abstains."""
    import dataclasses

    from qa.search.retrieval import Answer, Retriever

    if "answerable" not in {f.name for f in dataclasses.fields(Answer)}:
        pytest.skip("this retrieval.py has no answerable")

    class Abstaining(Retriever):
        def search(self, *args, **kwargs):
            return [dataclasses.replace(a, answerable=False) for a in super().search(*args, **kwargs)]

    server = serve_in_thread(Abstaining(retriever.index, retriever.embedder))
    url = next(server)
    try:
        browser.get(f"{url}/?q={quote(UNANSWERABLE)}")
        wait_for_cards(browser)
        notice = browser.find_element(By.ID, "notice")
        assert notice.is_displayed() and notice.text.startswith("Not in the corpus.")
        box = browser.find_element(By.ID, "q")
        box.clear()
        box.send_keys(QUESTION + Keys.ENTER)  # still abstaining: the notice stays
        WebDriverWait(browser, WAIT).until(lambda d: "protecting" in d.current_url)
        wait_for_cards(browser)
        assert browser.find_element(By.ID, "notice").is_displayed()
    finally:
        next(server, None)


def test_script_in_a_document_is_shown_as_text(browser, hostile_server):
    browser.get(f"{hostile_server}/?q={quote('what must be shown as text?')}")
    cards = wait_for_cards(browser)
    text = cards[0].find_element(By.CSS_SELECTOR, ".text").text
    assert "<script>window.qaPwned = 1</script>" in text
    assert '<img src=x onerror="window.qaPwned = 2">' in text and "&amp;" in text
    assert browser.execute_script("return window.qaPwned") is None
    assert cards[0].find_elements(By.CSS_SELECTOR, "script, img, b") == []
    assert cards[0].find_element(By.CSS_SELECTOR, ".cite").text.startswith("1. markup.txt › Markup In The Corpus")


def test_the_page_asks_for_a_key_once_and_keeps_it_for_the_session(browser, retriever, tmp_path):
    from selenium.webdriver.support import expected_conditions

    from qa.serve.keys import Keys as ApiKeys, add_key

    key = add_key(tmp_path / "keys.json", "page")
    server = serve_in_thread(retriever, keys=ApiKeys(tmp_path / "keys.json"))
    url = next(server)
    try:
        browser.get(f"{url}/?q={quote(QUESTION)}")
        WebDriverWait(browser, WAIT).until(expected_conditions.alert_is_present())
        prompt = browser.switch_to.alert
        prompt.send_keys(key)
        prompt.accept()
        assert "Sweden" in wait_for_cards(browser)[0].text
        assert browser.execute_script("return sessionStorage.getItem('qa-api-key')") == key
        box = browser.find_element(By.ID, "q")
        box.clear()
        box.send_keys(UNANSWERABLE + Keys.ENTER)  # the kept key: no second prompt
        WebDriverWait(browser, WAIT).until(lambda d: "protecting" not in d.current_url)
        wait_for_cards(browser)
        assert not expected_conditions.alert_is_present()(browser)
    finally:
        next(server, None)


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory, embedder):
    """A server over an index of a real three-page PDF manual."""
    from ingest_files import write_manual_pdf
    from qa.store.local.index import load_index
    from qa.store.local.build import build_index
    from qa.search.retrieval import Retriever

    tmp = tmp_path_factory.mktemp("pdf")
    (tmp / "corpus").mkdir()
    write_manual_pdf(tmp / "corpus" / "manual.pdf")
    build_index([tmp / "corpus"], tmp / "index", embedder)
    yield from serve_in_thread(Retriever(load_index(tmp / "index"), embedder))


def test_a_pdf_passage_is_cited_with_its_page(browser, pdf_server):
    browser.get(f"{pdf_server}/?q={quote('what does note seven say the watcher keeps')}")
    cards = wait_for_cards(browser)
    cite = cards[0].find_element(By.CSS_SELECTOR, ".cite").text
    assert cite.startswith("1. manual.pdf › 3. Operating (p. 3, chars "), cite
