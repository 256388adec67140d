"""PostgreSQL and Redis: the embedded servers the switch starts for itself, or the
external ones named by URL. ``ensure_running`` is the one entry point most code needs."""

from switch.services.manager import ServiceError, ServiceUrls, ensure_running, status, stop

__all__ = ["ServiceError", "ServiceUrls", "ensure_running", "status", "stop"]
