"""Where the web server may listen without a token."""

from __future__ import annotations

import pytest

from alphapanda.web_exposure import exposure_problem, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_loopback_addresses_need_no_token(host):
    assert is_loopback(host) and exposure_problem(host, token_set=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "worker1.internal"])
def test_anything_else_needs_the_token(host):
    assert not is_loopback(host)
    problem = exposure_problem(host, token_set=False)
    assert problem.startswith(f"WEB__BIND={host} listens beyond this machine, but WEB__API_TOKEN is unset")
    assert exposure_problem(host, token_set=True) is None
