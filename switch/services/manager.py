"""Start, reuse, stop and describe the services the switch depends on."""

from __future__ import annotations

from dataclasses import dataclass

from switch.config import ServicesConfig
from switch.services import postgres, redis, standby
from switch.services.common import ServiceError

__all__ = ["ServiceError", "ServiceUrls", "ensure_running", "status", "stop"]


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str


def ensure_running(cfg: ServicesConfig) -> ServiceUrls:
    """Return URLs of running servers, starting embedded ones where no URL is configured."""
    db = cfg.database_url or postgres.start(cfg)
    rd = cfg.redis_url or redis.start(cfg)
    return ServiceUrls(db, rd)


def stop(cfg: ServicesConfig) -> dict[str, str]:
    """Stop the embedded servers; external ones are never touched."""
    result = {}
    if cfg.embedded_postgres:
        result["postgres"] = "stopped" if postgres.stop(cfg) else "was not running"
    else:
        result["postgres"] = "external, left alone"
    if cfg.embedded_redis:
        result["redis"] = "stopped" if redis.stop(cfg) else "was not running"
    else:
        result["redis"] = "external, left alone"
    return result


def status(cfg: ServicesConfig) -> dict[str, dict[str, object]]:
    pg: dict[str, object]
    rd: dict[str, object]
    if cfg.embedded_postgres:
        pid = postgres.running_pid(cfg)
        pg = {
            "embedded": True,
            "running": pid is not None,
            "pid": pid,
            "url": postgres.url(cfg),
            "data_dir": str(postgres.paths(cfg).pgdata),
        }
        if postgres.standby_paths(cfg) is not None or len(postgres.live_nodes(cfg)) > 1:
            pg["servers"] = standby.describe(cfg)
    else:
        pg = {"embedded": False, "url": cfg.database_url}
    if cfg.embedded_redis:
        pid = redis.running_pid(cfg)
        rd = {"embedded": True, "running": pid is not None, "pid": pid, "url": redis.url(cfg)}
    else:
        rd = {"embedded": False, "url": cfg.redis_url}
    return {"postgres": pg, "redis": rd}
