"""Payment links: a consumer's bill sent by SMS as a short signed link, paid on a
phone through a payment gateway (UPI collect), and paid to the biller by the same pay
flow as every other channel. ``orders.py`` holds the rules of an order's life,
``store.py`` its steps in the database, ``gateway.py`` the gateway's API and
``service.py`` the driver."""
