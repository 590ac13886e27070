"""The wallet page in a real browser: Debian's chromium driven by Playwright, against the API served by
uvicorn over a whole world (embedded chain, SQLite, fleet, two settled and final epochs).

Needs ``/usr/bin/chromium`` and a CJK font: ``scripts/ensure-browser.sh`` installs both (the test command
runs it). Playwright's own browser download is not used. The Chinese page is kept as a screenshot under
``test-output/wallet.png``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from api.wallet import mount_wallet
from ledger import tokens
from ledger.config import LedgerSettings
from ledger.runtime import Runtime
from ledger.tokens import Scope
from tests.api.helpers import sign_typed
from tests.e2e.world import VIN_SALT, World, build_world

CHROMIUM = Path(os.environ.get("YUANSHI_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
UNIT = 10**18
ITEM_ID = 1
ITEM_PRICE = 1_000 * UNIT
ITEM_TITLE = "激光雷达升级 (Lidar upgrade)"
PRICE_PER_STONE = 2_500_000  # 2.5 tCNY (6 decimals, as GET /v1/equity says)
TIMEOUT_MS = 30_000


def stones(value: str | int, places: int = 4) -> str:
    """What the page shows for a base-unit amount: grouped whole stones, at most 4 decimals, truncated."""
    whole, fraction = divmod(int(value), UNIT)
    digits = f"{fraction:018d}"[:places].rstrip("0")
    return f"{whole:,}" + (f".{digits}" if digits else "")


@dataclass
class Site:
    url: str
    world: World
    http: httpx.Client
    operator: dict[str, str]

    def account(self, address: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/accounts/{address}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def balance_on_chain(self, address: str) -> int:
        return int(self.world.system.token.functions.balanceOf(address).call())


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp_path = tmp_path_factory.mktemp("wallet")
    with build_world(tmp_path, cars=6, owners=3) as world:
        for epoch in range(2):
            world.live_epoch(epoch)
            world.settle_after(epoch)
        world.chain.advance(world.gateway.challenge_window + 1)
        world.settler().run()  # both epochs final: their stones are claimable

        settings = LedgerSettings(data_dir=tmp_path / "data", vin_salt=SecretStr(VIN_SALT.decode()))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.deployment_file.write_text(json.dumps(world.system.record()))
        runtime = Runtime(settings, world.sessions.kw["bind"], world.sessions, world.chain, embedded=True)
        app = create_app(lambda: runtime, ApiSettings(client_burst=10_000, client_per_minute=1_000_000))
        mount_wallet(app)
        with world.sessions.begin() as session:
            token = tokens.create_token(session, "wallet-test", list(Scope))
        operator = {"Authorization": f"Bearer {token}"}
        # The treasurer funds buy-backs in the test settlement token (anyone may mint it).
        treasurer = world.system.roles.treasurer
        world.chain.send(world.system.settlement.functions.mint(treasurer, 10**15), world.chain.accounts[9])

        server, thread, url = _serve(app)
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                listed = http.put(
                    f"/v1/redemptions/catalogue/{ITEM_ID}",
                    headers=operator,
                    json={
                        "price": str(ITEM_PRICE),
                        "stock": 10,
                        "active": True,
                        "title": ITEM_TITLE,
                        "description": "车顶激光雷达 服务中心安装",
                    },
                )
                assert listed.status_code == 200, listed.text
                now = int(http.get("/v1/emission").json()["now"])
                opened = http.post(
                    "/v1/equity/buybacks",
                    headers=operator,
                    json={
                        "price_per_stone": str(PRICE_PER_STONE),
                        "stone_budget": str(5_000 * UNIT),
                        "start": now - 60,
                        "end": now + 7 * 86_400,
                    },
                )
                assert opened.status_code == 201, opened.text
                yield Site(url, world, http, operator)
        finally:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-browser.sh (the test command does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


def _page(browser: Browser) -> tuple[Page, list[str]]:
    """A fresh page (own storage), and the script errors it will log."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page, errors


def _load(page: Page, site: Site, address: str) -> None:
    page.goto(f"{site.url}/wallet")
    page.get_by_label("账户地址").fill(address)
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#account-view")).to_be_visible()


def _shows(page: Page, element: str, amount: str) -> None:
    """``#element`` shows ``amount`` (base units) formatted, and carries it exactly."""
    expect(page.locator(f"#{element}")).to_have_attribute("data-base-units", amount)
    expect(page.locator(f"#{element}")).to_have_text(stones(amount))


def test_wallet_shows_the_api_balances_in_chinese_and_a_claim_mints_on_chain(
    site: Site, browser: Browser
) -> None:
    owner = site.world.fleet.owners[0].address
    before = site.account(owner)
    assert before["balance"] == "0", before
    assert int(before["claimable_now"]) > 0, before
    page, errors = _page(browser)

    _load(page, site, owner)

    # Chinese by default: the document language and known labels.
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(page.get_by_role("heading", name="原石钱包")).to_be_visible()
    expect(page.get_by_text("可领取", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="领取原石")).to_be_enabled()

    # The same figures the API returns.
    _shows(page, "balance", before["balance"])
    _shows(page, "claimable", before["claimable_now"])
    _shows(page, "pending", before["pending"])
    _shows(page, "claimed", before["claimed"])

    # The earnings chart has a bar pair per epoch with activity; the reasons name the cars and tasks.
    assert page.locator("#earnings-chart svg rect.bar-driving").count() == len(before["history"])
    newest = before["history"][0]
    why = page.locator("#why")
    expect(why.locator("details").first).to_contain_text(stones(newest["driving"]))
    for car in {drop["vehicle_id"] for drop in newest["drops"]}:
        expect(why.locator("details").first.locator("table").first).to_contain_text(car)
    for task in newest["tasks"]:
        expect(why.locator("details").first).to_contain_text(task["title"])

    # The emission curve with its eras and "now"; the catalogue and buy-back; signing explained.
    curve = page.locator("#emission-chart svg")
    expect(curve.locator("text.now-label")).to_contain_text("现在")
    expect(curve.locator("text.era-label").first).to_have_text("纪元 0")
    assert curve.locator("line.halving").count() >= 4
    expect(page.locator("#catalogue")).to_contain_text(ITEM_TITLE)
    expect(page.locator("#catalogue").get_by_role("button", name="兑换")).to_be_disabled()
    expect(page.locator("#sign-help")).to_contain_text("没有钱包")
    expect(page.locator("#buybacks")).to_contain_text("2.5")
    expect(page.locator("#buybacks").get_by_role("button", name="卖回")).to_be_disabled()

    # Claim: stones minted on chain, and the page shows the new balance.
    page.get_by_role("button", name="领取原石").click()
    expect(page.locator("#claim-result")).to_contain_text("已领取")
    minted = site.balance_on_chain(owner)
    assert minted == int(before["claimable_now"]) > 0
    after = site.account(owner)
    assert after["balance"] == str(minted)
    assert after["claimable_now"] == "0"
    _shows(page, "balance", str(minted))
    _shows(page, "claimable", "0")
    expect(page.get_by_role("button", name="领取原石")).to_be_disabled()

    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "wallet.png"), full_page=True)
    # Responsive: on a phone-sized screen nothing overflows the page sideways (wide tables scroll inside).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(OUTPUT / "wallet-mobile.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The English switch, remembered across a reload.
    page.get_by_role("button", name="Switch to English").click()
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_role("heading", name="Yuanshi wallet")).to_be_visible()
    expect(page.get_by_text("Claimable", exact=True)).to_be_visible()
    _shows(page, "balance", str(minted))
    expect(page.locator("#emission-chart svg text.now-label")).to_contain_text("now")
    page.reload()
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_label("Account address")).to_be_visible()
    page.get_by_role("button", name="切换到中文").click()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert errors == []


def test_wallet_explains_refusals_with_the_apis_problem_details(site: Site, browser: Browser) -> None:
    owner = site.world.fleet.owners[2].address
    page, _ = _page(browser)
    page.goto(f"{site.url}/wallet")
    page.get_by_label("账户地址").fill("0x1234")
    page.get_by_role("button", name="查看").click()
    expect(page.get_by_role("alert")).to_contain_text("有效的账户地址")
    expect(page.get_by_label("账户地址")).to_have_attribute("aria-invalid", "true")

    _load(page, site, owner)
    expect(page.get_by_role("alert")).to_be_hidden()
    # Someone else claims first (say the relayer's batch); the page's claim then meets a 409.
    claimed = site.http.post(f"/v1/accounts/{owner}/claim")
    assert claimed.status_code == 200, claimed.text
    page.get_by_role("button", name="领取原石").click()
    result = page.locator("#claim-result")
    expect(result).to_contain_text("HTTP 409")
    expect(result).to_contain_text("has claimed")
    expect(result).to_have_class("result bad")


def test_orders_and_sell_backs_are_signed_by_an_injected_wallet(site: Site, browser: Browser) -> None:
    owner = site.world.fleet.owners[1]
    address = owner.address
    if site.balance_on_chain(address) == 0:
        assert site.http.post(f"/v1/accounts/{address}/claim").status_code == 200
    held = site.balance_on_chain(address)
    assert held >= ITEM_PRICE + UNIT

    page, errors = _page(browser)
    signed: list[str] = []

    def sign(typed_data: str) -> str:
        signed.append(typed_data)
        return sign_typed(json.loads(typed_data), bytes(owner.key))

    # A stand-in for an EIP-1193 wallet: the owner's key signs in the test process.
    page.expose_function("testWalletSign", sign)
    page.add_init_script(
        "window.ethereum = {request: async ({method, params}) => {"
        f" if (method === 'eth_requestAccounts') return ['{address}'];"
        " if (method === 'eth_signTypedData_v4') return await window.testWalletSign(params[1]);"
        " throw new Error('unsupported ' + method); }, on() {}};"
    )
    page.goto(f"{site.url}/wallet")
    page.get_by_role("button", name="连接钱包").click()
    expect(page.locator("#account-view")).to_be_visible()
    expect(page.locator("#sign-help")).to_contain_text("已连接钱包")

    page.locator("#catalogue").get_by_role("button", name="兑换").click()
    expect(page.locator("#order-result")).to_contain_text("已下单")
    assert site.balance_on_chain(address) == held - ITEM_PRICE
    expect(page.locator("#orders")).to_contain_text(ITEM_TITLE)
    expect(page.locator("#orders")).to_contain_text("已托管")
    _shows(page, "balance", str(held - ITEM_PRICE))

    page.get_by_label("卖回数量").fill("1.5")
    page.locator("#buybacks").get_by_role("button", name="卖回").click()
    expect(page.locator("#equity-result")).to_contain_text("已卖回 1.5 原石")
    expect(page.locator("#equity-result")).to_contain_text("3.75 tCNY")
    assert site.balance_on_chain(address) == held - ITEM_PRICE - 3 * UNIT // 2
    assert [json.loads(data)["primaryType"] for data in signed] == ["Order", "SellBack"]
    assert errors == []


def test_equity_amounts_follow_the_settlement_token_the_api_names(site: Site, browser: Browser) -> None:
    """The page takes the settlement token's symbol and decimals from GET /v1/equity, not from itself:
    here the answer is changed on its way to the page, and the buy-back's price follows."""
    owner = site.world.fleet.owners[2].address
    page, errors = _page(browser)
    seen: list[dict[str, Any]] = []

    def rename(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        seen.append(dict(body["settlement_token"]))
        body["settlement_token"] |= {"symbol": "CNYX", "decimals": 2}
        route.fulfill(response=response, json=body)

    page.route("**/v1/equity", rename)
    _load(page, site, owner)
    buybacks = page.locator("#buybacks")
    expect(buybacks.locator("th").filter(has_text="CNYX")).to_have_count(1)
    price = buybacks.locator(f"[data-base-units='{PRICE_PER_STONE}']")
    expect(price).to_have_text("25,000")  # 2,500,000 base units at 2 decimals
    assert seen[0] == {
        "address": site.world.system.settlement.address,
        "name": "Test Settlement Yuan",
        "symbol": "tCNY",
        "decimals": 6,
    }
    assert errors == []

    # Without the token's decimals no settlement amount is shown, and the page says why.
    broken, _ = _page(browser)
    broken.route("**/v1/equity", lambda route: route.fulfill(status=502, json={"detail": "chain down"}))
    _load(broken, site, owner)
    expect(broken.locator("#buybacks")).to_contain_text("暂不可用")
    expect(broken.locator("#buybacks")).not_to_contain_text("2.5")
