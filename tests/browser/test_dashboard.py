"""The dashboard in headless Chromium against a running pipeline (real broker and worker)."""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.pipeline import Cluster, Worker, trading_signal, wait_for

TOKEN = 408065
TCS = 2953217


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("dashboard")).start()
    worker = Worker(cluster).start()
    yield cluster, worker
    worker.stop()
    cluster.stop()


def publish(cluster, broker, signal):
    """Send a signal from another thread: Playwright's sync API runs an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(cluster.produce, f"{broker}.signals.raw", [(broker.encode(), signal)]).result()


def screenshot_dir(tmp_path: Path) -> Path:
    # ALPHAPANDA_SCREENSHOTS keeps them somewhere to look at; by default they go with the test.
    folder = Path(os.environ.get("ALPHAPANDA_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def answer_prompts(page, token: str) -> list[str]:
    """Answer every prompt of the page with ``token``; the list of what was asked grows as it asks."""
    asked: list[str] = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept(token)

    page.on("dialog", answer)
    return asked


def position_cell(page, broker, strategy="manual", token=TOKEN):
    return page.locator(f'#broker-{broker} table.positions tr[data-strategy="{strategy}"][data-token="{token}"] td.qty')


def test_the_dashboard_shows_the_paper_position_and_follows_a_new_fill(pipeline, browser_page, tmp_path):
    cluster, worker = pipeline
    page = browser_page
    publish(cluster, "paper", trading_signal("paper", quantity=10, event_id="dash-1"))
    wait_for(lambda: worker.get("/api/v1/portfolios/paper/summary")[1].get("fills") == 1, message="first fill")

    page.goto(worker.url + "/")
    paper = page.locator("#broker-paper")
    paper.locator(".mode").wait_for()
    assert paper.locator(".mode").inner_text() == "PAPER"
    assert page.locator("#broker-zerodha .mode").inner_text() == "LIVE"
    assert "live" in page.locator("#broker-zerodha").get_attribute("class")
    position_cell(page, "paper").filter(has_text="10").wait_for(timeout=10_000)
    assert paper.locator('[data-stat="fills"]').inner_text() == "1"
    assert "FILLED" in paper.locator("table.orders").inner_text()
    assert paper.locator("[data-risk-state]").inner_text() == "ACTIVE"
    assert not page.locator("#banner").is_visible()
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-first-fill.png"), full_page=True)

    publish(cluster, "paper", trading_signal("paper", side="SELL", quantity=4, event_id="dash-2"))
    position_cell(page, "paper").filter(has_text="6").wait_for(timeout=20_000)
    assert paper.locator('[data-stat="fills"]').inner_text() == "2"
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-second-fill.png"), full_page=True)


def test_the_dashboard_shows_when_the_api_stops_answering(pipeline, browser_page, tmp_path):
    _, worker = pipeline
    page = browser_page
    page.goto(worker.url + "/")
    page.locator("#broker-paper .mode").wait_for()
    worker.kill()  # gone at once, as a crashed worker or a cut network

    banner = page.locator("#banner")
    banner.wait_for(state="visible", timeout=15_000)
    assert "Problem fetching data" in banner.inner_text()
    page.locator("#broker-paper.stale").wait_for(timeout=15_000)
    assert "STALE" in page.locator("#broker-paper .status").inner_text()
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-api-down.png"), full_page=True)


@pytest.fixture(scope="module")
def protected_pipeline(tmp_path_factory):
    """A worker whose reads need the bearer token (made before the page: Playwright's loop)."""
    cluster = Cluster(tmp_path_factory.mktemp("dashboard-token"), brokers=("paper",)).start()
    worker = Worker(cluster, env={"WEB__API_TOKEN": "dash-token", "WEB__READS_NEED_TOKEN": "true"}).start()
    yield worker
    worker.stop()
    cluster.stop()


def test_with_reads_protected_the_dashboard_asks_for_the_token_once_and_shows_the_books(protected_pipeline, browser_page, tmp_path):
    worker = protected_pipeline
    page = browser_page
    asked = answer_prompts(page, "dash-token")
    page.goto(worker.url + "/")
    page.locator("#broker-paper .mode").wait_for(timeout=15_000)
    assert page.locator("#broker-paper .mode").inner_text() == "PAPER"
    assert len(asked) == 1 and "WEB__API_TOKEN" in asked[0]
    page.wait_for_timeout(2_500)  # a few refreshes: the token is kept, nothing asks again
    assert len(asked) == 1 and not page.locator("#banner").is_visible()
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-token.png"), full_page=True)


# -- the trader's view: symbols, equity and PnL over time, a price chart with fills, controls ----


@pytest.fixture(scope="module")
def trading_pipeline(tmp_path_factory):
    """Ticks of INFY around two paper fills, and a worker whose writes need the bearer token."""
    from datetime import datetime, timedelta, timezone

    from tests.support.pipeline import envelope

    cluster = Cluster(tmp_path_factory.mktemp("dashboard-trader"), brokers=("paper",)).start()
    no_strategies = tmp_path_factory.mktemp("no-strategies")  # only the two fills below trade
    worker = Worker(cluster, env={"WEB__API_TOKEN": "trader-token", "WEB__AUTH_FAILURES_PER_MINUTE": "100",
                                  "STRATEGIES_DIR": str(no_strategies)}).start()
    now = datetime.now(timezone.utc)

    def tick(seconds: float, price: float) -> tuple[bytes, bytes]:
        stamp = (now + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
        return b"408065", envelope("market_tick", {"instrument_token": TOKEN, "last_price": price, "timestamp": stamp}, broker=None)

    cluster.produce("market.ticks", [tick(-30 + i, 1500 + (i % 7) * 1.5) for i in range(30)])
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=10, event_id="trader-1", at=now))])
    wait_for(lambda: worker.get("/api/v1/portfolios/paper/summary")[1].get("fills") == 1, message="the first fill")
    later = now + timedelta(seconds=5)
    cluster.produce("market.ticks", [tick(1 + i, 1510 + i) for i in range(6)])
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", side="SELL", quantity=4, price=1514.0,
                                                                    event_id="trader-2", at=later))])
    wait_for(lambda: worker.get("/api/v1/portfolios/paper/summary")[1].get("fills") == 2, message="the second fill")
    # A second instrument, bought once: the price chart's picker has two to choose from.
    tcs = [envelope("market_tick", {"instrument_token": TCS, "last_price": 3500.0 + i,
                                    "timestamp": (now + timedelta(seconds=-20 + i)).isoformat().replace("+00:00", "Z")},
                    broker=None) for i in range(32)]
    cluster.produce("market.ticks", [(str(TCS).encode(), t) for t in tcs])
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", token=TCS, quantity=2, price=3508.0,
                                                                    event_id="trader-3", at=now + timedelta(seconds=8)))])
    wait_for(lambda: worker.get("/api/v1/portfolios/paper/summary")[1].get("fills") == 3, message="the TCS fill")
    yield worker
    worker.stop()
    cluster.stop()


def fill_sides(chart) -> list[str]:
    """The chart's fill markers' sides, read in one step in the page: the dashboard redraws the
    chart on every refresh, and a marker listed before a redraw is gone after it (reading them
    one by one then waited 30 s for a marker that no longer existed)."""
    return chart.locator(".fill-marker").evaluate_all("els => els.map(e => e.getAttribute('data-side'))")


def test_the_traders_view_charts_the_books_and_halts_and_resumes_with_the_token(trading_pipeline, browser_page, tmp_path):
    worker = trading_pipeline
    page = browser_page
    asked = answer_prompts(page, "trader-token")
    page.goto(worker.url + "/")
    paper = page.locator("#broker-paper")
    paper.locator('[data-stat="fills"]').filter(has_text="3").wait_for(timeout=15_000)
    # The trading symbol beside the token, in positions and orders.
    assert paper.locator('table.positions td[data-symbol="INFY"]').count() == 1
    assert paper.locator('table.orders td[data-symbol="INFY"]').count() == 2
    # Equity and PnL over time from the pnl snapshots: one point per fill at least.
    paper.locator('[data-chart="equity"] polyline').wait_for(timeout=10_000)
    assert len(paper.locator('[data-chart="pnl"] polyline').first.get_attribute("points").split()) >= 2
    # The price chart of the chosen instrument with both fills marked (a buy and a sell).
    price = paper.locator('[data-chart="price"]')
    price.locator("polyline").wait_for(timeout=10_000)
    assert "INFY" in price.locator("select option").first.inner_text()
    assert len(price.locator("polyline").get_attribute("points").split()) >= 30
    assert sorted(fill_sides(price)) == ["BUY", "SELL"]
    assert asked == []  # reads are open here: nothing asked yet
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-trader.png"), full_page=True)
    # Choosing the other instrument redraws the chart with its ticks and its one fill.
    price.locator("select").select_option(str(TCS))
    wait_for(lambda: fill_sides(price) == ["BUY"],
             timeout=15, message="the TCS chart with its buy")
    assert "TCS" in price.locator("select option:checked").inner_text()
    assert len(price.locator("polyline").get_attribute("points").split()) >= 20
    page.wait_for_timeout(2_500)  # the refreshes after keep the choice
    assert "TCS" in price.locator("select option:checked").inner_text()

    # Halt: the write needs the token, the page asks for it once, the state follows.
    paper.locator('button[data-action="halt"]').click()
    paper.locator("[data-risk-state]").filter(has_text="HALTED").wait_for(timeout=15_000)
    assert len(asked) == 1 and "WEB__API_TOKEN" in asked[0]
    assert "state is now HALTED" in paper.locator(".controls .result").inner_text()
    assert worker.get("/api/v1/risk/paper")[1]["reason"] == "from the dashboard (halt)"
    page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-halted.png"), full_page=True)
    paper.locator('button[data-action="reduce"]').click()
    paper.locator("[data-risk-state]").filter(has_text="REDUCING").wait_for(timeout=15_000)
    paper.locator('button[data-action="resume"]').click()
    paper.locator("[data-risk-state]").filter(has_text="ACTIVE").wait_for(timeout=15_000)
    assert len(asked) == 1, "the token is kept for the tab"
