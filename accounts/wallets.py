"""Sign-In with Ethereum (EIP-4361): the challenge a wallet signs, and its verification.

The portal writes every message itself: `challenge()` keeps a single-use nonce in the
session, bound to one purpose (sign in, link a wallet, confirm it is you), and returns
the exact text to sign. `verify()` accepts a signed message only if it has exactly the
fields the portal writes, with its values: this site's host and origin, the purpose's
statement, the session's unexpired nonce for the same purpose, version 1, and a
signature by the address it names. Two values may differ from the portal's own
message: the chain ID, any EIP-155 chain (a personal_sign signature and the address it
recovers are the same on every chain, so a wallet connected to another network signs
in as well), and the issue time, within the challenge's life (not before the nonce was
issued, not after the signature arrives, each with ISSUED_AT_LEEWAY for clocks). No
other field (expiration, not-before, request ID, resources) is accepted. The nonce is
spent by the first attempt, good or bad, so a signature can never be replayed.

`siwe` brings web3 with it (about 1.5 s and 60 MB to import): it is imported on the
first wallet request, not by every process that loads the URLs (the gateway's workers).
"""

from __future__ import annotations

import re
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.http import HttpRequest

NONCE_SESSION_KEY = "wallet_challenge"
# Long enough to open a wallet, read the message and sign it by hand.
CHALLENGE_TTL_SECONDS = 10 * 60
# A client that writes its own message stamps it with its own clock; the portal's own
# messages are stamped to the second, up to one second before the nonce's time.
ISSUED_AT_LEEWAY = timedelta(minutes=1)
# The portal's messages are about 350 characters; siwe's grammar parser is slow on long
# crafted input, so anything much longer is refused before it is parsed.
MESSAGE_MAX_LENGTH = 1000
SIGNATURE_MAX_LENGTH = 200
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
SIGNATURE_RE = re.compile(r"^(0x)?[0-9a-fA-F]{130}$")

# One statement per purpose: what the person reads in their wallet before signing.
STATEMENTS = {
    "login": "Sign in to Portal with this wallet.",
    "link": "Link this wallet to my Portal account.",
    "reauthenticate": "Confirm it is me, to change my Portal account.",
}
PURPOSES = tuple(STATEMENTS)


_SPENT = (
    "This signature request has expired or was already used. Start again to get a new "
    "message to sign."
)


class WalletError(Exception):
    """A signed message the portal does not accept; the text says why, for the person."""


@dataclass(frozen=True)
class Challenge:
    nonce: str
    message: str | None


def _siwe():
    with warnings.catch_warnings():
        # abnf (siwe's grammar parser) warns about its own rule definitions on import.
        warnings.simplefilter("ignore")
        import siwe
    return siwe


def checksum_address(address: str) -> str:
    """The EIP-55 spelling of `address`; WalletError if it is not an address."""
    address = address.strip()
    if not ADDRESS_RE.match(address):
        raise WalletError(
            "That is not an Ethereum address: it is “0x” followed by 40 hexadecimal digits."
        )
    from eth_utils import to_checksum_address

    return to_checksum_address(address)


def _origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def challenge(request: HttpRequest, *, purpose: str, address: str | None = None) -> Challenge:
    """Start a signature: a new nonce for `purpose` in the session (replacing any earlier
    one), and, given the wallet's address, the message to sign."""
    if purpose not in STATEMENTS:
        raise WalletError(f"Unknown purpose; use one of: {', '.join(PURPOSES)}.")
    checksummed = checksum_address(address) if address else None
    nonce = secrets.token_hex(16)
    request.session[NONCE_SESSION_KEY] = {"nonce": nonce, "purpose": purpose, "at": time.time()}
    message = None
    if checksummed:
        message = (
            _siwe()
            .SiweMessage(
                domain=request.get_host(),
                address=checksummed,
                statement=STATEMENTS[purpose],
                uri=_origin(request),
                version="1",
                chain_id=1,
                nonce=nonce,
                issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            )
            .prepare_message()
        )
    return Challenge(nonce=nonce, message=message)


def verify(request: HttpRequest, *, purpose: str, message: str, signature: str) -> str:
    """The checksummed address that signed `message`, if the portal accepts it for
    `purpose`; WalletError otherwise. Spends the session's nonce either way."""
    pending = request.session.pop(NONCE_SESSION_KEY, None)
    message = message.replace("\r\n", "\n").strip()
    signature = signature.strip()
    if not message or not signature:
        raise WalletError("Both the signed message and its signature are needed.")
    if len(message) > MESSAGE_MAX_LENGTH or len(signature) > SIGNATURE_MAX_LENGTH:
        raise WalletError("That message or signature is far longer than a wallet's.")
    if not SIGNATURE_RE.match(signature):
        raise WalletError(
            "That is not a wallet signature: it is “0x” followed by 130 hexadecimal digits."
        )
    # Every message the portal writes starts with this line; checked before parsing.
    header = f"{request.get_host()} wants you to sign in with your Ethereum account:"
    if message.split("\n", 1)[0] != header:
        first = message.split("\n", 1)[0][:100]
        raise WalletError(
            f"This message does not ask to sign in to this site (it begins “{first}”); "
            "it was not accepted."
        )
    siwe = _siwe()
    try:
        parsed = siwe.SiweMessage.from_message(message)
    except Exception as exc:  # the parser raises ValueError, pydantic's and its own
        raise WalletError(
            "That is not a Sign-In with Ethereum message (EIP-4361). Sign the message "
            "exactly as the page shows it."
        ) from exc
    if parsed.domain != request.get_host() or parsed.uri.rstrip("/") != _origin(request):
        raise WalletError(
            f"This message asks to sign in to {parsed.domain}, not to this site; "
            "it was not accepted."
        )
    if (
        not isinstance(pending, dict)
        or pending.get("purpose") != purpose
        or not secrets.compare_digest(str(pending.get("nonce", "")), parsed.nonce)
        or time.time() - float(pending.get("at", 0)) > CHALLENGE_TTL_SECONDS
    ):
        raise WalletError(_SPENT)
    # The session's copy is removed above, but two requests carrying the same session
    # at once could both have read it: the shared cache lets only the first through.
    if not cache.add(f"wallet-nonce-spent:{parsed.nonce}", True, CHALLENGE_TTL_SECONDS):
        raise WalletError(_SPENT)
    if parsed.statement != STATEMENTS[purpose]:
        raise WalletError("This message was signed for something else; it was not accepted.")
    _check_the_portals_fields(parsed, message, issued=float(pending["at"]))
    try:
        parsed.verify(signature, timestamp=datetime.now(UTC))
    except Exception as exc:  # siwe's VerificationError, or eth_keys refusing the bytes
        raise WalletError(
            "The signature does not match this message and address. Sign the message "
            "with the wallet it names."
        ) from exc
    return parsed.address


# EIP-4361's optional fields, none of which the portal writes.
_FIELDS_NOT_WRITTEN = {
    "expiration_time": "Expiration Time",
    "not_before": "Not Before",
    "request_id": "Request ID",
    "resources": "Resources",
}


def _check_the_portals_fields(parsed, message: str, *, issued: float) -> None:
    """WalletError unless `parsed` has only the fields the portal writes, any EIP-155
    chain ID, and an issue time within the challenge's life (module docstring)."""
    extra = [label for field, label in _FIELDS_NOT_WRITTEN.items() if getattr(parsed, field)]
    if extra:
        raise WalletError(
            f"This message has fields the portal never writes ({', '.join(extra)}); sign "
            "the message exactly as the page shows it."
        )
    if parsed.chain_id < 1:
        raise WalletError(
            f"This message names chain ID {parsed.chain_id}, which is no EIP-155 chain; sign "
            "the message exactly as the page shows it."
        )
    try:
        issued_at = datetime.fromisoformat(str(parsed.issued_at))
    except ValueError:
        issued_at = None
    if (
        issued_at is None
        or issued_at.utcoffset() is None
        or not (
            datetime.fromtimestamp(issued, UTC) - ISSUED_AT_LEEWAY
            <= issued_at
            <= datetime.now(UTC) + ISSUED_AT_LEEWAY
        )
    ):
        raise WalletError(
            f"This message says it was issued at {parsed.issued_at}, not while this "
            "signature request was open; sign the message exactly as the page shows it."
        )
    # siwe checks the signature over the message as it writes it out again: the text
    # signed must be that text, or a field it reads differently (a chain ID written
    # "01") would be signed in one form and accepted in another.
    if parsed.prepare_message() != message:
        raise WalletError(
            "That is not a Sign-In with Ethereum message (EIP-4361) as the portal writes "
            "it. Sign the message exactly as the page shows it."
        )
