"""``python -m simulators.partner``: a partner's load against the partner API; prints
the run's figures as one JSON line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import trio

from simulators.partner.client import PartnerClient, PartnerCredentials
from simulators.partner.load import run_load
from simulators.run import consumer_accounts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True, help="the partner API, http://host:port")
    p.add_argument("--credentials", required=True, type=Path, help="the key's JSON file")
    p.add_argument("--pays", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--duplicates", type=float, default=0.1, help="share sent twice at once")
    p.add_argument("--billers", default="UPPCL:discom", help="BILLER:KIND[,BILLER:KIND]")
    p.add_argument("--seed", type=int, default=1, help="the biller simulators' seed")
    p.add_argument("--accounts", type=int, default=500, help="consumers per biller")
    p.add_argument("--key-prefix", default="LOAD")
    args = p.parse_args()
    consumers = [
        (biller, account)
        for pair in args.billers.split(",")
        for biller, kind in [pair.split(":")]
        for account in consumer_accounts(kind, args.seed, args.accounts)
    ]

    async def go() -> None:
        creds = PartnerCredentials.from_file(args.credentials)
        async with PartnerClient(creds, args.url) as client:
            result = await run_load(
                client,
                consumers,
                pays=args.pays,
                concurrency=args.concurrency,
                duplicate_share=args.duplicates,
                key_prefix=args.key_prefix,
            )
        print(json.dumps(result.summary()), flush=True)

    trio.run(go)


if __name__ == "__main__":
    main()
