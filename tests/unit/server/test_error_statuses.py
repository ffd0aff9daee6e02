"""Which status and reason each failure family gets on the HTTP side."""

from __future__ import annotations

import orjson
import pytest

from palaver.errors import LockError, LockLostError, LockTimeoutError, PalaverError
from palaver.server.app import _error_for


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (LockTimeoutError("c1", 2.5), 503, "LockTimeout"),
        (LockLostError("the lock of 'c1' expired while held"), 503, "LockLost"),
        (LockError("Redis lock store at h:1/0 failed while queueing for 'c1'"), 503,
         "LockStoreUnavailable"),
        (PalaverError("something else"), 500, "PalaverError"),
    ],
)  # fmt: skip
def test_lock_failures_are_503s_with_their_own_reason(
    exc: Exception, status: int, reason: str
) -> None:
    response = _error_for(exc)
    assert response.status == status
    body = orjson.loads(response.body or b"{}")
    assert body["reason"] == reason
    assert str(exc) in body["message"] or reason == "LockTimeout"
