"""SMTP handlers for the tests (aiosmtpd, Debian's python3-aiosmtpd).

Mailbox stores every accepted message in a maildir (aiosmtpd's own
handler); RefusingMailbox also answers some recipients as real servers do,
chosen by the address's local part, so that tests meet real SMTP refusals:
  reject...@  550 5.1.1 mailbox unavailable  (at RCPT TO)
  defer...@   451 4.3.0 try again later       (at RCPT TO)
Used as: python3 -m aiosmtpd -n -l HOST:PORT -c crieur_smtp.RefusingMailbox DIR
(with this directory on PYTHONPATH).
"""
from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("defer"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
