"""The partner channel: banks, the post office and aggregators paying bills through
the switch over HTTP/JSON (``/partner/v1``), with signed requests and a prefunded
account. A channel is a way in, not a second pay path: a partner's pay is the same
pay, machine, ledger, limits and recovery as a terminal's."""
