"""Is this daemon healthy? The store takes writes and the fax backend answers.

The backend is judged by the calls the stages make anyway; nothing is sent to find out. A
call that returns, or that the service refuses for good (the service answered), is a success.
A temporary failure (unreachable, timeout, 5xx, 429, rejected credentials) makes the backend
unhealthy until a later call succeeds. A daemon that has not needed the backend yet is healthy.
"""

from __future__ import annotations

from typing import Any

from mail2fax.backends.watch import BackendWatch
from mail2fax.errors import StoreError
from mail2fax.queue.base import Store


async def check(store: Store, watch: BackendWatch) -> tuple[bool, dict[str, Any]]:
    """The health verdict and its reasons, as the ``/healthz`` body shows them."""
    try:
        await store.check_writable()
    except StoreError as exc:
        store_report: dict[str, Any] = {"ok": False, "error": str(exc)}
    else:
        store_report = {"ok": True}
    backend_report = watch.report()
    healthy = bool(store_report["ok"] and backend_report["ok"])
    reasons = []
    if not store_report["ok"]:
        reasons.append(f"the queue cannot be written: {store_report['error']}")
    if not backend_report["ok"]:
        reasons.append(
            f"the fax backend has been failing since {backend_report['failing_since']}: "
            f"{backend_report['error']}"
        )
    body: dict[str, Any] = {
        "status": "ok" if healthy else "failing",
        "store": store_report,
        "backend": backend_report,
    }
    if reasons:
        body["reasons"] = reasons
    return healthy, body
