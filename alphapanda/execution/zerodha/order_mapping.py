"""How our orders become Kite order parameters, and how Kite's answers become our outcomes.

Pure functions, no I/O: the venue (:mod:`alphapanda.execution.zerodha.venue`) does the calls.

The order tag
-------------
Kite lets an order carry a ``tag`` (at most 20 alphanumeric characters) that comes back in the
order book and in every order update. Our order ids are longer than that, so the tag is derived:
``"AP" + base32(sha256(order_id))[:18]`` (90 bits of the hash, upper case A-Z and 2-7). It is
deterministic, so after a restart the same order id gives the same tag and a look-up of today's
orders by tag finds an order placed before the restart; the venue also keeps ``tag -> order_id``
in memory to map order updates back (a hash is not reversible).
"""

from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import asdict, dataclass

import requests
from kiteconnect import exceptions as kite_errors

from alphapanda.execution.venue import OrderRequest
from alphapanda.models import OrderType

__all__ = [
    "TAG_PREFIX",
    "TAG_LENGTH",
    "INDEX_SEGMENT",
    "order_tag",
    "is_our_tag",
    "is_index_token",
    "KiteOrderParams",
    "to_kite_params",
    "ErrorKind",
    "classify_error",
]

TAG_PREFIX = "AP"
TAG_LENGTH = 20
#: ``instrument_token & 0xff`` of indices: they have prices but cannot be traded.
INDEX_SEGMENT = 9


def order_tag(order_id: str) -> str:
    """The Kite tag of our ``order_id``: 20 characters, alphanumeric, the same on every run."""
    digest = hashlib.sha256(order_id.encode("utf-8")).digest()
    encoded = base64.b32encode(digest).decode("ascii")
    return TAG_PREFIX + encoded[: TAG_LENGTH - len(TAG_PREFIX)]


def is_our_tag(tag: object) -> bool:
    """Whether ``tag`` has the shape of a tag made by :func:`order_tag` (cheap pre-filter)."""
    return isinstance(tag, str) and len(tag) == TAG_LENGTH and tag.startswith(TAG_PREFIX)


def is_index_token(instrument_token: int) -> bool:
    return instrument_token & 0xFF == INDEX_SEGMENT


@dataclass(frozen=True)
class KiteOrderParams:
    """The arguments of ``KiteConnect.place_order`` for one order."""

    variety: str
    exchange: str
    tradingsymbol: str
    transaction_type: str
    quantity: int
    product: str
    order_type: str
    validity: str
    tag: str
    price: float | None = None

    def as_kwargs(self) -> dict:
        """Keyword arguments for ``place_order``; ``price`` only when there is one."""
        kwargs = asdict(self)
        if kwargs["price"] is None:
            del kwargs["price"]
        return kwargs


def to_kite_params(
    order: OrderRequest,
    instrument: tuple[str, str],
    *,
    product: str = "MIS",
    variety: str = "regular",
    validity: str = "DAY",
) -> KiteOrderParams:
    """Kite parameters for ``order`` on ``instrument`` = (exchange, tradingsymbol).

    Raises ``ValueError`` for an order Kite would refuse anyway (a LIMIT order without a price).
    """
    exchange, tradingsymbol = instrument
    price: float | None = None
    if order.order_type is OrderType.LIMIT:
        if order.limit_price is None or not order.limit_price > 0:
            raise ValueError(f"LIMIT order {order.order_id} has no positive limit price")
        price = float(order.limit_price)
    return KiteOrderParams(
        variety=variety,
        exchange=exchange,
        tradingsymbol=tradingsymbol,
        transaction_type=order.side.value,
        quantity=int(order.quantity),
        product=product,
        order_type=order.order_type.value,
        validity=validity,
        tag=order_tag(order.order_id),
        price=price,
    )


class ErrorKind(enum.Enum):
    """What an exception from a Kite call means for the order."""

    #: Kite looked at the order and said no; placing it again gives the same answer.
    REJECTED = "rejected"
    #: The access token is expired or revoked; nothing works until a new one is set.
    SESSION_INVALID = "session_invalid"
    #: The outcome is unknown (timeout, connection, 429, 5xx, garbled answer): retry, but only
    #: after checking the order book, because the order may have been recorded.
    TRANSIENT = "transient"


def classify_error(exc: BaseException) -> ErrorKind:
    """Map an exception raised by a ``KiteConnect`` call (or by ``requests`` under it)."""
    if isinstance(exc, kite_errors.TokenException):
        return ErrorKind.SESSION_INVALID
    if isinstance(exc, (kite_errors.InputException, kite_errors.OrderException,
                        kite_errors.PermissionException)):
        return ErrorKind.REJECTED
    if isinstance(exc, kite_errors.KiteException):
        # NetworkException (429, 503), GeneralException (5xx), DataException (a non-JSON 502 page):
        # a GeneralException with a 4xx code is Kite refusing the request itself.
        code = getattr(exc, "code", 500)
        if isinstance(exc, kite_errors.NetworkException) or code == 429 or code >= 500:
            return ErrorKind.TRANSIENT
        return ErrorKind.REJECTED
    if isinstance(exc, requests.RequestException):
        return ErrorKind.TRANSIENT
    # Anything else (e.g. a response without a content type makes the client raise KeyError):
    # we cannot tell whether the order was recorded, so treat it as unknown, never as rejected.
    return ErrorKind.TRANSIENT
