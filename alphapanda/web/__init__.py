"""The HTTP API and dashboard (Faust web views); importing this package registers them."""

from alphapanda.web import common, pages, portfolio, risk  # noqa: F401
