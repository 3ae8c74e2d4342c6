"""The request-id middleware on a plain aiohttp app: the answers a real worker gives only when a
view breaks (a crash's 500) and aiohttp's own 405 carry the ids and get their access line. (The
token guard's 429 is checked on a real worker, in tests/e2e/test_web_exposure.py.)"""

import logging

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alphapanda.web.request_ids import request_ids


async def crash(request):
    raise RuntimeError("boom")


async def fine(request):
    return web.json_response({"ok": True})


async def client() -> TestClient:
    application = web.Application(middlewares=[request_ids])
    application.router.add_get("/crash", crash)
    application.router.add_get("/fine", fine)
    test_client = TestClient(TestServer(application))
    await test_client.start_server()
    return test_client


async def test_a_crash_answers_500_with_the_request_id_in_body_and_header(caplog):
    caplog.set_level(logging.INFO, logger="alphapanda.web.access")
    http = await client()
    try:
        response = await http.get("/crash", headers={"X-Request-ID": "rid-500", "X-Correlation-ID": "flow-1"})
        assert response.status == 500
        assert (response.headers["X-Request-ID"], response.headers["X-Correlation-ID"]) == ("rid-500", "flow-1")
        assert await response.json() == {"error": "internal error", "request_id": "rid-500"}
    finally:
        await http.close()
    line = next(r for r in caplog.records if r.name == "alphapanda.web.access")
    assert line.getMessage().startswith("GET /crash 500 ") and line.request_id == "rid-500"
    assert line.correlation_id == "flow-1" and line.latency_ms >= 0 and line.levelno == logging.INFO


async def test_a_405_keeps_aiohttps_answer_and_gets_the_ids(caplog):
    caplog.set_level(logging.INFO, logger="alphapanda.web.access")
    http = await client()
    try:
        response = await http.post("/fine", headers={"X-Correlation-ID": "flow-2"})
        assert response.status == 405 and len(response.headers["X-Request-ID"]) == 32
        assert response.headers["X-Correlation-ID"] == "flow-2" and response.headers["Allow"] == "GET,HEAD"
        ok = await http.get("/fine")
        assert ok.status == 200 and "X-Correlation-ID" not in ok.headers
    finally:
        await http.close()
    statuses = [r.status for r in caplog.records if r.name == "alphapanda.web.access"]
    assert statuses == [405, 200]
