"""Test wallets: real secp256k1 keys (eth_account) that sign what the portal asks, as a
browser wallet or a signing tool would (EIP-191 personal_sign)."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client
from eth_account import Account
from eth_account.messages import encode_defunct

NONCE_URL = "/accounts/wallet/nonce/"
WALLET_LOGIN_URL = "/accounts/wallet/login/"
WALLET_SIGNUP_URL = "/accounts/wallet/signup/"
WALLET_REAUTH_URL = "/accounts/wallet/reauthenticate/"
WALLETS_URL = "/account/wallets/"
WALLET_ADD_URL = "/account/wallets/add/"


@dataclass
class TestWallet:
    __test__ = False  # not a test class, whatever its name

    key: bytes
    address: str  # EIP-55 checksummed

    @classmethod
    def create(cls) -> TestWallet:
        return cls.from_key(Account.create().key)

    @classmethod
    def from_key(cls, key) -> TestWallet:
        account = Account.from_key(key)
        return cls(key=account.key, address=account.address)

    def sign(self, message: str) -> str:
        signature = Account.sign_message(encode_defunct(text=message), self.key).signature.hex()
        return signature if signature.startswith("0x") else "0x" + signature


def message_for(client: Client, address: str, purpose: str = "login") -> str:
    response = client.get(NONCE_URL, {"purpose": purpose, "address": address})
    assert response.status_code == 200, response.content
    return response.json()["message"]


def signed(client: Client, wallet: TestWallet, purpose: str = "login") -> dict:
    """The form a wallet posts: the portal's message for `purpose`, signed."""
    message = message_for(client, wallet.address, purpose)
    return {"message": message, "signature": wallet.sign(message)}


def wallet_login(client: Client, wallet: TestWallet, **extra):
    return client.post(WALLET_LOGIN_URL, {**signed(client, wallet), **extra})


def wallet_signup(client: Client, wallet: TestWallet, display_name: str = ""):
    """Sign in with a wallet the portal does not know, then create its account."""
    response = wallet_login(client, wallet)
    assert response.status_code == 302 and response["Location"] == WALLET_SIGNUP_URL, response
    return client.post(WALLET_SIGNUP_URL, {"age_confirmation": "on", "display_name": display_name})


def wallet_reauthenticate(client: Client, wallet: TestWallet, next_url: str):
    return client.post(
        f"{WALLET_REAUTH_URL}?next={next_url}", signed(client, wallet, "reauthenticate")
    )
