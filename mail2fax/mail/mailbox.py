"""Envelope addresses, read strictly by RFC 5321's grammar from the command line as the client sent it.

    Path            = "<" [ A-d-l ":" ] Mailbox ">"      (a source route is read and ignored)
    Mailbox         = Local-part "@" ( Domain / address-literal )
    Local-part      = Dot-string / Quoted-string

Nothing is decoded or removed: an RFC 2047 encoded word (``=?utf-8?q?…?=``) is refused, not
decoded, and parentheses are not comments. On top of the grammar, an address may not hold a list
separator (``,`` ``;``) or a parenthesis, even quoted, and must be ASCII (the gateway does not
offer SMTPUTF8). The one extension: a fax recipient's local part may hold ``(`` and ``)``,
because people write numbers as ``(415)555-1212``.

Whatever passes can be written into a mail header and given to an SMTP client as it is, and
means exactly one mailbox.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum

from mail2fax.errors import MalformedAddress

MAX_LOCAL_PART = 64  # RFC 5321, section 4.5.3.1.1
MAX_DOMAIN = 255  # section 4.5.3.1.2
MAX_PATH = 256  # section 4.5.3.1.3, the angle brackets included

_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# A fax number's local part: atext plus parentheses, so "(415)555-1212" is one local part.
_NUMBER_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~()]"
_NUMBER_DOT_STRING = re.compile(rf"{_NUMBER_ATEXT}+(?:\.{_NUMBER_ATEXT}+)*")
_QUOTED_STRING = re.compile(r'"(?:[ !#-\[\]-~]|\\[ -~])*"')
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ENCODED_WORD = re.compile(r"=\?.*\?=")
_PARAMETER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(?:=[!-<>-~]+)?")


class Role(Enum):
    """Whose address it is: the reply code and wording of a refusal depend on it."""

    SENDER = "sender"
    RECIPIENT = "recipient"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One envelope address, exactly as the client wrote it (without the angle brackets)."""

    local_part: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def bare_local_part(self) -> str:
        """The local part without RFC 5321 quoting: ``"+1 415"`` is ``+1 415``."""
        text = self.local_part
        if not (len(text) >= 2 and text.startswith('"') and text.endswith('"')):
            return text
        return re.sub(r"\\(.)", r"\1", text[1:-1])


NULL_SENDER = "<>"


def parse_path(argument: str, role: Role) -> tuple[Mailbox | None, str]:
    """The mailbox of a ``MAIL FROM:`` or ``RCPT TO:`` argument, and the parameters after it.

    ``argument`` is the text after the colon, as sent. The null sender ``<>`` (of bounces and
    other automatic mail) is ``None``. Raises :class:`MalformedAddress` saying what is wrong.
    """
    text = argument.lstrip(" ")
    if not text.isascii():
        raise _refuse(role, "has characters outside ASCII; this gateway does not offer SMTPUTF8")
    if text.startswith("<"):
        end = _closing_bracket(text)
        if end < 0:
            raise _refuse(role, "has no closing >")
        path, rest = text[1:end], text[end + 1 :]
        if end + 1 > MAX_PATH:
            raise _refuse(role, f"is longer than {MAX_PATH} characters")
        if rest and not rest.startswith(" "):
            raise _refuse(role, "is followed by text that is not a parameter")
        if not path and role is Role.SENDER:
            return None, _parameters(rest, role)
    else:
        path, _, rest = text.partition(" ")  # RFC 5321 wants <>, but some clients leave them out
    mailbox = parse_mailbox(_without_route(path, role), role)
    return mailbox, _parameters(rest, role)


def _parameters(rest: str, role: Role) -> str:
    parameters = rest.strip(" ")
    if not all(_PARAMETER.fullmatch(word) for word in parameters.split()):
        raise _refuse(role, "is followed by parameters that are not ESMTP keywords")
    return parameters


def check_argument(argument: str, role: Role) -> None:
    """Refuse a whole MAIL or RCPT argument with a control or non-ASCII character anywhere in it,
    before anything (aiosmtpd strips Unicode white space such as ``\x1c`` at its ends) trims it."""
    if not argument.isascii():
        raise _refuse(role, "has characters outside ASCII; this gateway does not offer SMTPUTF8")
    if any(c < " " or c == "\x7f" for c in argument):
        raise _refuse(role, "has control characters")


def parse_mailbox(text: str, role: Role) -> Mailbox:
    """A bare RFC 5321 Mailbox (no angle brackets, no route), or :class:`MalformedAddress`."""
    if not text:
        empty = "is empty: a fax needs a sender to report to" if role is Role.SENDER else "is empty"
        raise _refuse(role, empty)
    if not text.isascii():
        raise _refuse(role, "has characters outside ASCII; this gateway does not offer SMTPUTF8")
    if any(c < " " or c == "\x7f" for c in text):
        raise _refuse(role, "has control characters")
    if _ENCODED_WORD.search(text):
        raise _refuse(role, "holds an RFC 2047 encoded word (=?...?=), which envelope addresses may not")
    if "," in text or ";" in text:
        raise _refuse(role, "holds a list separator (, or ;): give one address per command")
    local, at, domain = _split(text)
    if not at:
        raise _refuse(role, "has no @domain")
    _check_local_part(local, role)
    _check_domain(domain, role)
    return Mailbox(local, domain)


def _closing_bracket(text: str) -> int:
    """Where the ``>`` that ends the path is: the first one outside a quoted string."""
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return index
    return -1


def _without_route(path: str, role: Role) -> str:
    """The mailbox of a path: a source route (``@a.example,@b.example:``) is checked, then ignored."""
    if not path.startswith("@"):
        return path
    route, colon, mailbox = path.partition(":")
    if not colon:
        raise _refuse(role, "starts with @ but has no source route ending in :")
    for hop in route.split(","):
        if not hop.startswith("@") or not _is_domain(hop[1:]):
            raise _refuse(role, "has a malformed source route")
    return mailbox


def _split(text: str) -> tuple[str, str, str]:
    """Local part, ``@``, domain: the local part may be a quoted string holding an ``@``."""
    if text.startswith('"'):
        match = _QUOTED_STRING.match(text)
        if match is None:
            return text, "", ""
        rest = text[match.end() :]
        return (match.group(), "@", rest[1:]) if rest.startswith("@") else (text, "", "")
    return text.rpartition("@") if "@" in text else (text, "", "")


def _check_local_part(local: str, role: Role) -> None:
    if not local:
        raise _refuse(role, "has an empty local part")
    if len(local) > MAX_LOCAL_PART:
        raise _refuse(role, f"has a local part longer than {MAX_LOCAL_PART} characters")
    if local.startswith('"'):
        if not _QUOTED_STRING.fullmatch(local):
            raise _refuse(role, "has a malformed quoted local part")
        if "(" in local or ")" in local:
            raise _refuse(role, "holds parentheses, which mail software reads as a comment")
        return
    if "(" in local or ")" in local:
        if role is Role.SENDER:
            raise _refuse(role, "holds parentheses, which mail software reads as a comment")
        grammar = _NUMBER_DOT_STRING
    else:
        grammar = _DOT_STRING
    if not grammar.fullmatch(local):
        raise _refuse(role, "has a local part with characters RFC 5321 allows only in quotes")


def _check_domain(domain: str, role: Role) -> None:
    if domain.startswith("["):
        if not (domain.endswith("]") and _is_address_literal(domain[1:-1])):
            raise _refuse(role, "has a malformed address literal (write [192.0.2.1] or [IPv6:2001:db8::1])")
        return
    if not _is_domain(domain):
        raise _refuse(role, "has a malformed domain")


def _is_domain(domain: str) -> bool:
    if not domain or len(domain) > MAX_DOMAIN:
        return False
    return all(_LABEL.fullmatch(label) for label in domain.split("."))


def _is_address_literal(text: str) -> bool:
    if text.startswith("IPv6:"):
        if "%" in text:
            return False  # a scope (fe80::1%eth0) names an interface of the client's own host
        try:
            ipaddress.IPv6Address(text[5:])
        except ValueError:
            return False
        return True
    if not re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", text):
        return False
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _refuse(role: Role, problem: str) -> MalformedAddress:
    whose = "The sender address" if role is Role.SENDER else "The recipient address"
    return MalformedAddress(f"{whose} {problem}", enhanced="5.1.7" if role is Role.SENDER else "5.1.3")
