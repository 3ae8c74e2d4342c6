"""The HTTP API and dashboard (Faust web views); importing this package registers them."""

from alphapanda.web import common, history, pages, portfolio, risk  # noqa: F401
from alphapanda.web import venues  # noqa: F401  (venue postbacks)
from alphapanda.web import auth  # noqa: F401  (the bearer token in front of every view)
from alphapanda.web import request_ids  # noqa: F401  (X-Request-ID and the access log, outermost)
