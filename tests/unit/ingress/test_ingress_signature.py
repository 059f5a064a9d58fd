"""Hype-Hash is checked as Hypetech's docs describe: HMAC-SHA256 hex of URL + body, any key."""

from __future__ import annotations

import json
import subprocess

import pytest

from services.ingress.signature import Coverage, SignatureVerifier, sign

BASE = "https://wallet.example.com"
PATH = "/webhooks/hypetech/register"
BODY = b'{"user_id":"26","currency":"USD","amount":200,"provider_tx_id":"559"}'
KEY = b"k-current-0123456789"


def node_signature(key: str, url: str, body_js: str) -> str:
    """Hypetech's reference, run in Node.js: HMAC-SHA256 hex of url + JSON.stringify(body)."""
    script = (
        "const crypto = require('crypto');"
        f"const body = {body_js};"
        f"const url = {url!r};"
        f"const hash = crypto.createHmac('sha256', {key!r})"
        ".update(url + JSON.stringify(body)).digest('hex');"
        "process.stdout.write(JSON.stringify({hash, body: JSON.stringify(body)}));"
    )
    done = subprocess.run(["node", "-e", script], capture_output=True, check=True, timeout=20)
    result = json.loads(done.stdout)
    assert result["body"].encode() == BODY
    return str(result["hash"])


def test_accepts_a_signature_made_by_nodejs_as_the_docs_describe() -> None:
    verifier = SignatureVerifier([KEY], BASE)
    body_js = BODY.decode()

    header = node_signature(KEY.decode(), BASE + PATH, body_js)

    assert verifier.verify(header, path=PATH, raw_query=b"", body=BODY)


def test_accepts_the_url_with_the_received_query_string() -> None:
    verifier = SignatureVerifier([KEY], BASE)
    query = b"user_id=26&amount=200"

    header = sign(KEY, f"{BASE}{PATH}?{query.decode()}", BODY)

    assert verifier.verify(header, path=PATH, raw_query=query, body=BODY)


def test_accepts_upper_case_hex() -> None:
    verifier = SignatureVerifier([KEY], BASE)

    assert verifier.verify(
        sign(KEY, BASE + PATH, BODY).upper(), path=PATH, raw_query=b"", body=BODY
    )


def test_accepts_the_previous_key_during_a_rotation() -> None:
    verifier = SignatureVerifier([b"k-new-0123456789", KEY], BASE)

    assert verifier.verify(sign(KEY, BASE + PATH, BODY), path=PATH, raw_query=b"", body=BODY)


def test_ignores_a_trailing_slash_on_the_configured_base_url() -> None:
    verifier = SignatureVerifier([KEY], BASE + "/")

    assert verifier.verify(sign(KEY, BASE + PATH, BODY), path=PATH, raw_query=b"", body=BODY)


@pytest.mark.parametrize(
    ("url", "body", "key"),
    [
        (BASE + PATH, BODY.replace(b"200", b"201"), KEY),
        (BASE + PATH + "x", BODY, KEY),
        ("http://wallet.example.com" + PATH, BODY, KEY),
        (BASE + PATH, BODY, KEY + b"x"),
    ],
    ids=["body", "url-path", "url-scheme", "key"],
)
def test_rejects_a_changed_byte_of_body_url_or_key(url: str, body: bytes, key: bytes) -> None:
    verifier = SignatureVerifier([KEY], BASE)

    assert not verifier.verify(sign(key, url, body), path=PATH, raw_query=b"", body=BODY)


@pytest.mark.parametrize("header", [None, "", "zz" * 32, "ab" * 31, "ab" * 33])
def test_rejects_a_missing_or_malformed_header(header: str | None) -> None:
    verifier = SignatureVerifier([KEY], BASE)

    assert not verifier.verify(header, path=PATH, raw_query=b"", body=BODY)


def test_rejects_everything_when_no_key_is_configured() -> None:
    verifier = SignatureVerifier([], BASE)

    assert not verifier.verify(sign(b"", BASE + PATH, BODY), path=PATH, raw_query=b"", body=BODY)


def test_says_a_signature_over_the_url_and_body_leaves_the_query_uncovered() -> None:
    verifier = SignatureVerifier([KEY], BASE)

    coverage = verifier.verify(
        sign(KEY, BASE + PATH, BODY), path=PATH, raw_query=b"linked_tx_id=1", body=BODY
    )

    assert coverage is Coverage.BODY


def test_says_a_signature_over_the_url_with_its_query_covers_the_query() -> None:
    verifier = SignatureVerifier([KEY], BASE)
    query = b"linked_tx_id=1"

    coverage = verifier.verify(
        sign(KEY, BASE + PATH + "?linked_tx_id=1", BODY), path=PATH, raw_query=query, body=BODY
    )

    assert coverage is Coverage.QUERY_AND_BODY
