#!/usr/bin/env python3
"""Mail a document to mail2fax with nothing but the standard library.

    python3 send_test_fax.py 14155551212 document.pdf [host] [port]

Options: --from ADDRESS, --domain fax.local, --starttls, --ssl (implicit TLS), and --user
with the password in $SMTP_PASSWORD. Certificates are not verified: this is a test.
"""

from __future__ import annotations

import argparse
import getpass
import mimetypes
import os
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description="Send a test fax through mail2fax.")
    parser.add_argument("number", help="fax number with country code, e.g. 14155551212")
    parser.add_argument("file", type=Path, help="document to fax, e.g. a PDF")
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("port", nargs="?", type=int, default=2525)
    parser.add_argument("--from", dest="sender", default=f"{getpass.getuser()}@localhost")
    parser.add_argument("--domain", default="fax.local", help="a domain in MAIL2FAX_FAX_DOMAINS")
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--ssl", action="store_true", help="implicit TLS (the TLS port)")
    parser.add_argument("--user", help="SMTP AUTH user; password from $SMTP_PASSWORD")
    args = parser.parse_args()

    message = EmailMessage()
    message["From"] = args.sender
    message["To"] = f"{args.number}@{args.domain}"
    message["Subject"] = f"Test fax: {args.file.name}"
    message.set_content("Test fax sent with send_test_fax.py.")
    ctype = mimetypes.guess_type(args.file.name)[0] or "application/octet-stream"
    maintype, subtype = ctype.split("/", 1)
    message.add_attachment(
        args.file.read_bytes(), maintype=maintype, subtype=subtype, filename=args.file.name
    )

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if args.ssl:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(args.host, args.port, context=context, timeout=60)
    else:
        smtp = smtplib.SMTP(args.host, args.port, timeout=60)
    with smtp:
        if args.starttls:
            smtp.starttls(context=context)
        if args.user:
            smtp.login(args.user, os.environ.get("SMTP_PASSWORD") or getpass.getpass())
        smtp.send_message(message)
    print(f"accepted: {message['To']}")


if __name__ == "__main__":
    main()
