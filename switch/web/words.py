"""Words the pages show from data (a pay's state, a ledger leg, a portal's title):
listed here so that ``pybabel extract`` finds them for the catalogues."""

from __future__ import annotations


def N_(message: str) -> str:  # gettext's name: "mark for the catalogue, translate later"
    return message


DATA_WORDS = (
    N_("Agent portal"),
    N_("Consumer services"),
    # payment links (switch/web/paylinks.py)
    N_("Payment links are not offered here."),
    N_("This link is not valid. Check the link in your SMS."),
    N_("This payment link has expired. Ask the biller for a new one."),
    N_("A UPI ID looks like name@bank."),
    N_("The biller cannot be reached just now. Nothing was taken; try again soon."),
    N_("This bill has changed since the link was sent. Ask for a new link."),
    # the consumer pages (switch/web/consumer.py)
    N_("The consumer pages are not offered here."),
    N_("No such account at this biller."),
    N_("Too many codes asked for. Try again in an hour."),
    N_("Choose your biller."),
    N_("That is not an account number of this biller."),
    N_("A mobile number is 10 digits, starting 6, 7, 8 or 9."),
    N_("That code is not right. Tries left: %(n)s."),
    N_("This code no longer works. Ask for a new code."),
    N_("This form is stale. Open the page again."),
    N_("Choose one of your payments."),
    N_("Choose what went wrong."),
    N_("You have too many open complaints. We will answer those first."),
    N_("Back office"),
    N_("agent"),
    # pay states
    N_("received"),
    N_("reserved"),
    N_("sent"),
    N_("confirmed"),
    N_("rejected"),
    N_("unknown"),
    N_("reversing"),
    N_("posted"),
    N_("failed"),  # a payment imported from the system before this one
    N_("imported"),
    N_("voided"),
    # wallet legs
    N_("reserve"),
    N_("post"),
    N_("void"),
    N_("transfer"),
    # terminal states
    N_("active"),
    N_("blocked"),
    # complaint states and categories
    N_("logged"),
    N_("assigned"),
    N_("escalated"),
    N_("resolved"),
    N_("closed"),
    N_("not_credited"),
    N_("double_debit"),
    N_("wrong_amount"),
    N_("receipt_missing"),
    N_("refund_pending"),
    N_("terminal_fault"),
    N_("wallet"),
    N_("conduct"),
    N_("other"),
)
