"""The web inspector at /__mock/, in a real headless Chromium (Debian's chromium and chromium-driver)."""
import json
import urllib.request

import pytest

from conftest import SMALL
from mockserver.pytest_plugin import _Server
from mockserver.settings import Settings

HOSTILE = {"id": "<script>window.pwned = 1</script>", "attributes": {"note": "<img src=x onerror=\"window.pwned = 2\">"}}


@pytest.fixture(scope="module")
def server():
    server = _Server(Settings(fixtures=SMALL, quiet=True, webhook_max_attempts=1, webhook_timeout=0.5))
    url = server.start()
    yield url
    server.stop()


def call(url, method="GET", body=None, key="ak_inspect", headers=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_for(browser, condition, timeout=10):
    """Until `condition` holds; the page redraws itself every second, so an element found a moment ago may be
    gone (stale): such a try simply runs again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(browser, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d))


def click(browser, css: str, containing: str = "") -> None:
    """Click the first element matching `css` whose text contains `containing`, found and clicked in one try."""
    from selenium.webdriver.common.by import By

    def attempt(d):
        element = next((e for e in d.find_elements(By.CSS_SELECTOR, css) if containing in e.text), None)
        if element is None:
            return False
        element.click()
        return True
    wait_for(browser, attempt)


def rows(browser):
    from selenium.webdriver.common.by import By
    return browser.find_elements(By.CSS_SELECTOR, "#request-rows tr")


def test_requests_appear_open_filter_and_stay_inert(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert call(f"{server}/users/alice") == 200
    assert call(f"{server}/users", "POST", HOSTILE) == 200
    assert call(f"{server}/users", "POST", {"attributes": {"bad.name": 1}}) == 400
    assert call(f"{server}/v1/public/flows", key="api_public_inspect") == 200
    browser.get(server + "/__mock/")
    wait_for(browser, lambda d: len(rows(d)) >= 4)
    texts = wait_for(browser, lambda d: [r.text for r in rows(d)])
    assert texts[0].split()[2:5] == ["frigade", "GET", "/v1/public/flows"]  # newest first
    assert any("POST /users 400" in t for t in texts) and any("GET /users/alice 200" in t for t in texts)

    click(browser, "#request-rows tr", "POST /users 200")
    body = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#request-detail .request-body").text)
    assert '"id": "<script>window.pwned = 1</script>"' in body and "<img src=x" in body
    inserted = wait_for(browser, lambda d: [len(d.find_element(By.ID, "request-detail").find_elements(By.TAG_NAME, tag))
                                            for tag in ("script", "img")])
    assert inserted == [0, 0]  # the hostile body created no script or img element
    assert browser.execute_script("return typeof window.pwned") == "undefined"

    click(browser, "#request-rows tr", "POST /users 400")
    problems = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#request-detail .validation").text)
    assert "id: is required (rule: required)" in problems and "attributes: " in problems

    Select(browser.find_element(By.ID, "f-method")).select_by_visible_text("POST")
    wait_for(browser, lambda d: all(" POST " in f" {r.text} " for r in rows(d)) and len(rows(d)) == 2)
    status = browser.find_element(By.ID, "f-status")
    status.send_keys("4xx")
    wait_for(browser, lambda d: len(rows(d)) == 1 and "400" in rows(d)[0].text)
    status.clear()
    Select(browser.find_element(By.ID, "f-method")).select_by_visible_text("all")
    Select(browser.find_element(By.ID, "f-api")).select_by_visible_text("frigade")
    wait_for(browser, lambda d: len(rows(d)) == 1 and "/v1/public/flows" in rows(d)[0].text)
    Select(browser.find_element(By.ID, "f-api")).select_by_visible_text("all")

    assert call(f"{server}/groups/acme") == 200  # live refresh: it shows up without a reload
    wait_for(browser, lambda d: "GET /groups/acme 200" in rows(d)[0].text)


def test_scenarios_and_verify(browser, server):
    from selenium.webdriver.common.by import By

    scenario = "name: inspect-me\nenv: ak_inspect\nsteps:\n  - request: {method: GET, path: /groups}\n  - request: {method: GET, path: /users/nobody}\n"
    request = urllib.request.Request(f"{server}/__mock/scenarios", data=scenario.encode(), method="POST",
                                     headers={"Content-Type": "application/yaml"})
    assert urllib.request.urlopen(request).status == 201
    call(f"{server}/groups")
    browser.get(server + "/__mock/")
    browser.find_element(By.CSS_SELECTOR, "nav button[data-tab=scenarios]").click()
    card = ".scenario[data-name='inspect-me']"
    def read_card(d):
        steps = [s.text for s in d.find_elements(By.CSS_SELECTOR, card + " tr.step")]
        return (steps, d.find_element(By.CSS_SELECTOR, card).text) if len(steps) == 2 else None
    steps, text = wait_for(browser, read_card)
    assert "consumed (1 of 1)" in steps[0] and "pending (0 of 1)" in steps[1] and "not met" in text
    click(browser, card + " button.verify")
    report = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, card + " pre.report").text)
    assert "step 2 (GET /users/nobody): expected 1 more time" in report


def test_webhook_attempts(browser, server):
    from selenium.webdriver.common.by import By

    assert call(f"{server}/webhook_subscriptions", "POST", {"url": "http://127.0.0.1:9/unreachable", "topics": ["group"]}) == 200
    assert call(f"{server}/groups", "POST", {"id": "hooked-group"}) == 200
    browser.get(server + "/__mock/")
    browser.find_element(By.CSS_SELECTOR, "nav button[data-tab=webhooks]").click()
    row = wait_for(browser, lambda d: next((r.text for r in d.find_elements(By.CSS_SELECTOR, "#webhook-rows tr")
                                            if "group.created" in r.text), None))
    assert "failed" in row and "127.0.0.1:9" in row
    click(browser, "#webhook-rows tr", "group.created")
    signature = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#webhook-detail pre.signature").text)
    assert signature.startswith("t=") and ",v1=" in signature
    body = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#webhook-detail .webhook-body").text)
    assert '"topic": "group.created"' in body


def test_works_under_the_admin_token(browser):
    from selenium.webdriver.common.by import By

    server = _Server(Settings(fixtures=SMALL, quiet=True, admin_token="inspector-token"))
    url = server.start()
    try:
        call(f"{url}/users/bob")
        browser.get(url + "/__mock/")  # the page loads; its data needs the token
        wait_for(browser, lambda d: d.find_element(By.ID, "token-box").is_displayed())
        assert rows(browser) == []
        browser.get(url + "/__mock/#token=inspector-token")
        browser.refresh()
        wait_for(browser, lambda d: any("GET /users/bob 200" in r.text for r in rows(d)))
    finally:
        server.stop()
