"""``switch agent``, ``switch terminal``, ``switch wallet``: provision the network.

(The back-office issue adds full KYC and an admin API; these are the minimal
operator commands.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from switch.cli.common import Commands, by_option, echo_json, run_with_ledger
from switch.cli.onboarding import register as register_onboarding
from switch.config import Config
from switch.db.database import Database
from switch.ledger import Ledger, top_up_key
from switch.pays import topups
from switch.pays.limits import WalletPolicy
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning import store
from switch.provisioning.credentials import Credentials
from switch.provisioning.identity import identity_path, load_or_create


@click.group(cls=Commands)
def agent() -> None:
    """Onboard (apply, approve, activate), list, show, block and unblock agents."""


@agent.command("add")
@click.option("--name", required=True, help="Shop owner's name.")
@click.option("--mobile", required=True, help="10-digit mobile number.")
@click.option("--fps-id", required=True, help="FPS outlet id (unique).")
@click.option("--region", default="", help="Region (MIS reports), e.g. Purvanchal.")
@click.option("--district", default="", help="District (MIS reports), e.g. Varanasi.")
@click.option(
    "--bootstrap",
    is_flag=True,
    help="Required: this creates an active agent without KYC or a second approver, "
    "allowed only as the first agent of an empty system (then: agent apply/approve/activate).",
)
@by_option
@click.pass_obj
def agent_add(
    cfg: Config,
    name: str,
    mobile: str,
    fps_id: str,
    region: str,
    district: str,
    bootstrap: bool,
    actor: str,
) -> None:
    """The first agent of an empty system, active at once (audited). Prints it as JSON."""
    if not bootstrap:
        raise click.UsageError(
            "agent add skips KYC and four eyes: only with --bootstrap, for the first agent "
            "of an empty system; onboard agents with `switch agent apply`, then approve and "
            "activate"
        )

    async def run(db: Database, ledger: Ledger) -> store.Agent:
        if await db.fetchval("SELECT count(*) FROM agents"):
            raise store.ProvisioningError(
                "--bootstrap is for the first agent only: this system has agents; "
                "use `switch agent apply`"
            )
        return await store.add_agent(
            db, ledger, name, mobile, fps_id, region=region, district=district, actor=actor
        )

    echo_json(run_with_ledger(cfg, run).__dict__)


@agent.command("list")
@click.option("--state", default=None, help="Only agents in this state (e.g. active, blocked).")
@click.pass_obj
def agent_list(cfg: Config, state: str | None) -> None:
    """Every agent (id, name, FPS id, state, region, district), oldest first."""

    _list(
        cfg,
        """SELECT id, name, mobile, fps_id, state, region, district FROM agents
            WHERE $1::text IS NULL OR state = $1 ORDER BY id""",
        state,
    )


@agent.command("show")
@click.argument("agent_id")
@click.pass_obj
def agent_show(cfg: Config, agent_id: str) -> None:
    """Show an agent and its wallet balance."""

    async def run(db: Database, ledger: Ledger) -> dict[str, object]:
        a = await store.get_agent(db, agent_id)
        return {**a.__dict__, "balance_paise": await ledger.balance(a.wallet_account_id)}

    echo_json(run_with_ledger(cfg, run))


def _list(cfg: Config, sql: str, *args: object) -> None:
    """Print the rows of one query as JSON (the list commands)."""

    async def run(db: Database, ledger: Ledger) -> list[dict[str, object]]:
        return [dict(r) for r in await db.fetch(sql, *args)]

    echo_json(run_with_ledger(cfg, run))


def _set_state(
    cfg: Config,
    what: str,
    ident: str,
    state: str,
    setter: Callable[[Database, str, str, str], Awaitable[store.Agent | store.Terminal]],
    actor: str,
) -> None:
    async def run(db: Database, ledger: Ledger) -> store.Agent | store.Terminal:
        return await setter(db, ident, state, actor)

    click.echo(f"{what} {ident}: {run_with_ledger(cfg, run).state}")


@agent.command("block")
@click.argument("agent_id")
@by_option
@click.pass_obj
def agent_block(cfg: Config, agent_id: str, actor: str) -> None:
    """Block an agent: all its terminals are refused at the handshake."""
    _set_state(cfg, "agent", agent_id, "blocked", store.set_agent_state, actor)


@agent.command("unblock")
@click.argument("agent_id")
@by_option
@click.pass_obj
def agent_unblock(cfg: Config, agent_id: str, actor: str) -> None:
    """Unblock an agent."""
    _set_state(cfg, "agent", agent_id, "active", store.set_agent_state, actor)


register_onboarding(agent)


@click.group(cls=Commands)
def terminal() -> None:
    """Provision, list, block and unblock e-POS terminals."""


@terminal.command("add")
@click.option("--agent", "agent_id", required=True, help="The agent the terminal belongs to.")
@click.option("--count", default=1, show_default=True, help="How many terminals.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write <terminal id>.json credentials files.",
)
@click.option(
    "--address", default=None, help="host:port terminals dial (default: the configured listener)."
)
@by_option
@click.pass_obj
def terminal_add(
    cfg: Config, agent_id: str, count: int, out_dir: Path, address: str | None, actor: str
) -> None:
    """Generate a terminal id and key pair; store the public key; write the device's
    credentials file (terminal id, private key, switch public key, address)."""
    if not 1 <= count <= 10_000:
        raise click.BadParameter("must be 1..10000", param_hint="--count")
    switch_key = public_bytes(load_or_create(identity_path(cfg)))
    address = address or f"{cfg.terminals.host}:{cfg.terminals.port}"

    async def run(db: Database, ledger: Ledger) -> list[Path]:
        paths = []
        for _ in range(count):
            t, key = await store.add_terminal(db, agent_id, actor)
            path = out_dir / f"{t.id}.json"
            Credentials.issue(t.id, agent_id, key, switch_key, address).write(path)
            paths.append(path)
        return paths

    for path in run_with_ledger(cfg, run):
        click.echo(f"{path.stem}: credentials written to {path}")


@terminal.command("list")
@click.option("--agent", "agent_id", default=None, help="Only this agent's terminals.")
@click.pass_obj
def terminal_list(cfg: Config, agent_id: str | None) -> None:
    """Every terminal (id, agent, state), oldest first."""

    _list(
        cfg,
        """SELECT id, agent_id, state FROM terminals
            WHERE $1::text IS NULL OR agent_id = $1 ORDER BY id""",
        agent_id,
    )


@terminal.command("block")
@click.argument("terminal_id")
@by_option
@click.pass_obj
def terminal_block(cfg: Config, terminal_id: str, actor: str) -> None:
    """Block a terminal: refused at its next handshake."""
    _set_state(cfg, "terminal", terminal_id, "blocked", store.set_terminal_state, actor)


@terminal.command("unblock")
@click.argument("terminal_id")
@by_option
@click.pass_obj
def terminal_unblock(cfg: Config, terminal_id: str, actor: str) -> None:
    """Unblock a terminal."""
    _set_state(cfg, "terminal", terminal_id, "active", store.set_terminal_state, actor)


@click.group(cls=Commands)
def wallet() -> None:
    """Fund agents' wallets; limits and freezes."""


@wallet.command("topup")
@click.option("--agent", "agent_id", required=True, help="The agent's id, e.g. AG000001.")
@click.option("--amount-paise", type=int, required=True, help="Amount in paise (₹1 = 100).")
@click.option(
    "--bank-ref", required=True, help="The bank's reference: a top-up happens once per reference."
)
@by_option
@click.pass_obj
def wallet_topup(cfg: Config, agent_id: str, amount_paise: int, bank_ref: str, actor: str) -> None:
    """Move money from funding (the bank) into an agent's wallet, once per bank reference,
    within the wallet's maximum balance (the same rules as the admin API's top-up)."""

    async def run(db: Database, ledger: Ledger) -> dict[str, object]:
        a = await store.get_agent(db, agent_id)
        policy = WalletPolicy(db, cfg.admin)
        await policy.refresh()
        done = await db.run(
            lambda conn: topups.top_up(
                conn,
                agent_id=agent_id,
                wallet_account_id=a.wallet_account_id,
                amount_paise=amount_paise,
                bank_ref=bank_ref,
                ceiling_paise=policy.limits(agent_id).max_balance_paise,
                actor=actor,
            )
        )
        return {"transfer": done.transfer_id, "key": top_up_key(bank_ref)} | done.as_dict()

    echo_json(run_with_ledger(cfg, run))


@wallet.command("freeze")
@click.option("--agent", "agent_id", required=True, help="The agent's id, e.g. AG000001.")
@by_option
@click.pass_obj
def wallet_freeze(cfg: Config, agent_id: str, actor: str) -> None:
    """Refuse new pays from this agent's wallet (every switch process within seconds)."""
    wallet_policy_command(cfg, agent_id, actor, frozen=True)


@wallet.command("unfreeze")
@click.option("--agent", "agent_id", required=True, help="The agent's id, e.g. AG000001.")
@by_option
@click.pass_obj
def wallet_unfreeze(cfg: Config, agent_id: str, actor: str) -> None:
    """Lift a freeze."""
    wallet_policy_command(cfg, agent_id, actor, frozen=False)


@wallet.command("limits")
@click.option("--agent", "agent_id", required=True, help="The agent's id, e.g. AG000001.")
@click.option(
    "--max-balance-paise", type=click.IntRange(1), default=None, help="Most the wallet may hold."
)
@click.option("--per-txn-paise", type=click.IntRange(1), default=None, help="Most one pay may be.")
@click.option(
    "--per-day-paise", type=click.IntRange(1), default=None, help="Most a day's pays may add to."
)
@by_option
@click.pass_obj
def wallet_limits(
    cfg: Config,
    agent_id: str,
    max_balance_paise: int | None,
    per_txn_paise: int | None,
    per_day_paise: int | None,
    actor: str,
) -> None:
    """Set the wallet's limits (those not given keep their value)."""
    wallet_policy_command(
        cfg,
        agent_id,
        actor,
        max_balance_paise=max_balance_paise,
        per_txn_paise=per_txn_paise,
        per_day_paise=per_day_paise,
    )


def wallet_policy_command(cfg: Config, agent_id: str, actor: str, **change: Any) -> None:
    """Freeze, unfreeze or set limits, as the admin API does (audited)."""
    from switch.admin.errors import ApiError  # the admin modules load FastAPI: only here
    from switch.admin.wallets import save_limits
    from switch.pays.limits import Limits, WalletPolicy

    async def run(db: Database, ledger: Ledger) -> dict[str, Any]:
        policy = WalletPolicy(db, cfg.admin)
        await policy.refresh()
        before = policy.limits(agent_id)
        values = {
            "max_balance_paise": before.max_balance_paise,
            "per_txn_paise": before.per_txn_paise,
            "per_day_paise": before.per_day_paise,
            "frozen": before.frozen,
        } | {k: v for k, v in change.items() if v is not None}
        after = Limits(**values, own=True)
        action = (
            "wallet.limits"
            if "frozen" not in change
            else ("wallet.freeze" if change["frozen"] else "wallet.unfreeze")
        )
        try:
            await save_limits(db, actor, agent_id, after, before, action)
        except ApiError as exc:
            raise click.ClickException(exc.message) from exc
        return {"agent_id": agent_id, **values}

    echo_json(run_with_ledger(cfg, run))
