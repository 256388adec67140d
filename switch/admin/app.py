"""The admin API as an ASGI app (FastAPI), served by the switch on ``[admin] port``
with hypercorn's trio worker. Versioned paths under ``/v1``; the OpenAPI spec at
``/v1/openapi.json`` and a browsable form at ``/v1/docs``; errors as in
switch/admin/errors.py. docs/admin-api.md is the guide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from switch import __version__
from switch.actors.sessions import SessionRegistry
from switch.admin import (
    agents,
    audit_routes,
    auth_routes,
    bulk,
    complaints,
    errors,
    imports,
    links,
    partners,
    receipts,
    recon,
    reports,
    settlement,
    terminals,
    transactions,
    users,
    wallets,
)
from switch.admin import billers as biller_routes
from switch.admin.auth import Auth
from switch.bulk.service import BulkService
from switch.config import Config
from switch.consumers.access import ConsumerAccess
from switch.db.database import Database
from switch.imports.jobs import ImportJobs
from switch.ledger import Ledger
from switch.links.service import LinkService
from switch.pays.flow import Biller
from switch.pays.limits import WalletPolicy
from switch.pays.service import TerminalService
from switch.receipts.links import ReceiptLinks
from switch.settlement.service import Settlement
from switch.web.install import install as install_pages

OPENAPI_PATH = "/v1/openapi.json"


@dataclass
class AdminDeps:
    db: Database
    ledger: Ledger
    cfg: Config
    auth: Auth
    policy: WalletPolicy
    switch_public_key: bytes  # for terminals' credentials files
    terminal_address: str  # host:port terminals connect to
    documents_dir: Path
    settlement: Settlement  # the process's own: its calendar, and what its runs found
    sessions: SessionRegistry | None = None  # live terminal sessions (to cut on block)
    # Reports, searches and reconciliation reads: a standby where one is configured
    # (switch/db/replica.py), else ``db`` itself.
    reads: Database | None = None
    # This process's billers: their circuit breakers, as the back office shows them.
    billers: Mapping[str, Biller] = field(default_factory=dict)
    # The receipt links SMS carry (switch/receipts/links.py); None: no public receipts.
    receipt_links: ReceiptLinks | None = None
    # Payment links and their gateway (switch/links/); None: [gateway] enabled = false.
    links: LinkService | None = None
    # The consumer pages' sign-in (switch/consumers/); None: [consumers] enabled = false.
    consumers: ConsumerAccess | None = None
    # Live fetches for the consumer pages (the terminals' own service).
    service: TerminalService | None = None
    # Imports started from the API and the back office (switch/imports/jobs.py).
    imports: ImportJobs | None = None
    # Institutional bill payment's ERP rounds and pay runs; None: [bulk] enabled = false.
    bulk: BulkService | None = None

    @property
    def read_db(self) -> Database:
        return self.reads or self.db


MAX_BODY_BYTES = 1024 * 1024  # every body but an upload's


def create_app(deps: AdminDeps) -> FastAPI:
    app = FastAPI(
        title="Bill-payment switch: back office",
        version=__version__,
        description="Agents and KYC, wallets, terminals, complaints, transaction search, "
        "MIS reports, settlement windows and files, reconciliation cases. "
        "Log in at POST /v1/auth/login; send the token as `Authorization: Bearer <token>`.",
        openapi_url=OPENAPI_PATH,
        docs_url=None,  # /v1/docs: Swagger UI from the package (switch/web/install.py)
        redoc_url=None,
    )
    app.state.deps = deps
    errors.install(app)
    app.add_middleware(errors.RefuseNul, max_body_bytes=MAX_BODY_BYTES)
    # Added last, so it runs first: nothing reads a body past the limit.
    app.add_middleware(
        errors.LimitBody,
        max_body_bytes=MAX_BODY_BYTES,
        max_upload_bytes=deps.cfg.admin.max_upload_bytes,
        max_import_bytes=deps.cfg.admin.max_import_bytes,
    )
    for module in (
        auth_routes,
        users,
        agents,
        wallets,
        terminals,
        complaints,
        transactions,
        reports,
        settlement,
        recon,
        audit_routes,
        biller_routes,
        partners,
        receipts,
        links,
        imports,
        bulk,
    ):
        app.include_router(module.router)
    install_pages(app)  # /office and /agent: the same services, as pages
    errors.document_errors(app)
    return app
