"""Logging in and out, the session cookie, and CSRF protection of every form."""

from __future__ import annotations

from typing import Any


def _login(browser: Any, token: str, next_: str = "/", **kwargs: Any) -> Any:
    return browser.post("/login", {"token": token, "next": next_}, csrf_page="/login", **kwargs)


def test_pages_send_an_anonymous_visitor_to_the_login_form_and_back(ui: Any) -> None:
    browser = ui.browser()
    response = browser.get("/audit?action=run.cancel", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit%3Faction%3Drun.cancel"
    assert browser.get("/login").status_code == 200
    logged = _login(browser, ui.tokens["viewer"], "/audit?action=run.cancel")
    assert logged.status_code == 303 and logged.headers["location"] == "/audit?action=run.cancel"
    page = browser.get("/audit")
    assert page.status_code == 200 and "viewer-user" in page.text


def test_the_session_cookie_is_httponly_strict_and_the_token_never_reaches_a_page(ui: Any) -> None:
    browser = ui.browser()
    response = _login(browser, ui.tokens["admin"])
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("pheme_token=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie
    token = ui.tokens["admin"]
    for path in ("/", "/environments", "/audit", "/dispatch", "/deployments", "/dora"):
        page = browser.get(path)
        assert page.status_code == 200 and token not in page.text, path
    assert token not in response.headers["location"]


def test_a_wrong_token_shows_an_error_and_sets_no_session(ui: Any) -> None:
    browser = ui.browser()
    response = _login(browser, "phm_" + "x" * 43)
    assert response.status_code == 401
    assert "That token is not valid" in response.text
    assert "pheme_token" not in response.headers.get("set-cookie", "")
    assert "pheme_token" not in browser.client.cookies
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_session_at_once(ui: Any) -> None:
    browser = ui.browser(ui.tokens["developer"])
    assert browser.get("/").status_code == 200
    record = next(t for t in ui.server.sstore.list_tokens() if t.name == "developer-user")
    ui.server.revoke_token(record.id, actor="test")
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_logout_clears_the_session(ui: Any) -> None:
    browser = ui.browser(ui.tokens["viewer"])
    response = browser.post("/logout", {})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert 'pheme_token=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(ui: Any) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = _login(ui.browser(), ui.tokens["viewer"], target)
        assert response.headers["location"] == "/", target


def test_forms_without_a_valid_csrf_token_are_refused(ui: Any) -> None:
    browser = ui.browser(ui.tokens["admin"])
    missing = browser.post("/logout", {}, csrf=False)
    assert missing.status_code == 403 and "CSRF" in missing.text
    forged = browser.post("/logout", {"csrf": "0" * 64}, csrf=False)
    assert forged.status_code == 403
    other = ui.browser(ui.tokens["viewer"])  # another session's token does not fit this cookie
    stolen = browser.post("/logout", {"csrf": other.csrf()}, csrf=False)
    assert stolen.status_code == 403
    assert browser.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_a_post_from_another_origin_is_refused_even_with_a_token(ui: Any) -> None:
    browser = ui.browser(ui.tokens["admin"])
    token = browser.csrf()
    response = browser.post("/logout", {"csrf": token}, csrf=False, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "cross-origin" in response.text
    same = browser.post("/logout", {"csrf": token}, csrf=False, headers={"Origin": "http://pheme.test"})
    assert same.status_code == 303


def test_the_login_form_itself_needs_the_csrf_token(ui: Any) -> None:
    browser = ui.browser()
    browser.get("/login")
    response = browser.post("/login", {"token": ui.tokens["admin"]}, csrf=False)
    assert response.status_code == 403
    assert "pheme_token" not in browser.client.cookies


def test_pages_carry_a_strict_content_security_policy(ui: Any) -> None:
    page = ui.browser(ui.tokens["viewer"]).get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script src=\"/static/pheme.js\"" in page.text
    assert ui.browser().get("/static/pheme.js").status_code == 200


def test_behind_a_proxy_the_configured_public_url_counts_as_our_origin(ui_factory: Any) -> None:
    ui = ui_factory(public_url="https://ci.example.com")
    browser = ui.browser(ui.tokens["admin"])
    token = browser.csrf()
    ok = browser.post("/logout", {"csrf": token}, csrf=False, headers={"Origin": "https://ci.example.com"})
    assert ok.status_code == 303
    browser = ui.browser(ui.tokens["admin"])
    bad = browser.post("/logout", {"csrf": browser.csrf()}, csrf=False, headers={"Origin": "https://ci.example.org"})
    assert bad.status_code == 403
