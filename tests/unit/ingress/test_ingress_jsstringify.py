"""``js_stringify`` writes exactly what Node.js's ``JSON.stringify(JSON.parse(raw))`` writes."""

from __future__ import annotations

import json
import random
import subprocess

import pytest

from services.ingress.signature import SignatureVerifier, sign
from shared.hypetech.jsstringify import js_stringify
from shared.jsonwire import loads_exact

TRICKY_BODIES = [
    b'{"amount":10.50,"n":200,"f":200.0,"neg":-0.0,"z":0}',
    b'{"big":12345678901234567890,"bigger":1e21,"just_under":999999999999999999999}',
    b'{"tiny":0.0000001,"small":0.000001,"e":1E+2,"E":2.5e-3,"noise":10.299999999999999}',
    b'{"huge":1e400,"neg_huge":-1e400,"many":0.1000000000000000055511151231257827}',
    b'{"s":"tab\\there \\"q\\" \\\\ \\/ \\u0001 \\u001f \\u007f \\u00e9 \\ud83d\\ude00 \\ud800"}',
    b'{ "pretty" : [ 1 , 2.50 , { "a" : null , "b" : true , "c" : false } ] , "d" : "x" }',
    b'{"dup":1,"other":2,"dup":3}',
    b'[1,"two",{"three":3.0}]',
]


NODE_SCRIPT = (
    "let raw = ''; process.stdin.on('data', d => raw += d);"
    "process.stdin.on('end', () => process.stdout.write("
    "JSON.stringify(JSON.parse(raw).map(t => JSON.stringify(JSON.parse(t))))));"
)


def node_stringify_all(raws: list[bytes]) -> list[str]:
    """``JSON.stringify(JSON.parse(raw))`` for each raw text, computed by Node.js in one run."""
    payload = json.dumps([raw.decode("utf-8") for raw in raws]).encode()
    done = subprocess.run(
        ["node", "-e", NODE_SCRIPT], input=payload, capture_output=True, check=True, timeout=30
    )
    return [str(text) for text in json.loads(done.stdout)]


def node_stringify(raw: bytes) -> str:
    return node_stringify_all([raw])[0]


@pytest.mark.parametrize("raw", TRICKY_BODIES)
def test_matches_nodejs_json_stringify(raw: bytes) -> None:
    assert js_stringify(loads_exact(raw)) == node_stringify(raw)


def test_accepts_a_reformatted_body_signed_over_its_json_stringify() -> None:
    raw = b'{ "user_id" : "26", "amount" : 10.50 }'
    url = "https://wallet.example.com/webhooks/hypetech/bet"
    header = sign(b"k-0123456789", url, node_stringify(raw).encode())

    verifier = SignatureVerifier([b"k-0123456789"], "https://wallet.example.com")

    assert verifier.verify(header, path="/webhooks/hypetech/bet", raw_query=b"", body=raw)


def test_still_rejects_a_reformatted_body_whose_values_changed() -> None:
    url = "https://wallet.example.com/webhooks/hypetech/bet"
    header = sign(b"k-0123456789", url, b'{"user_id":"26","amount":10.5}')

    verifier = SignatureVerifier([b"k-0123456789"], "https://wallet.example.com")

    assert not verifier.verify(
        header,
        path="/webhooks/hypetech/bet",
        raw_query=b"",
        body=b'{ "user_id":"26","amount":10.51}',
    )


def random_number_text(rng: random.Random) -> str:
    sign = rng.choice(["", "-"])
    whole = str(rng.choice([0, rng.randint(0, 9), rng.randint(0, 10**6), rng.randint(0, 10**25)]))
    fraction = rng.choice(["", "." + str(rng.randint(0, 10 ** rng.randint(1, 18))).rjust(3, "0")])
    exponent = rng.choice(["", "", f"e{rng.randint(-30, 30)}", f"E+{rng.randint(0, 25)}"])
    return sign + whole + fraction + exponent


def test_matches_nodejs_on_a_thousand_random_numbers() -> None:
    rng = random.Random(20260504)
    raws = [f'{{"v":{random_number_text(rng)}}}'.encode() for _ in range(1000)]

    expected = node_stringify_all(raws)

    assert [js_stringify(loads_exact(raw)) for raw in raws] == expected


def test_rejects_a_body_whose_number_javascript_would_round_to_the_signed_one() -> None:
    url = "https://wallet.example.com/webhooks/hypetech/win"
    header = sign(b"k-0123456789", url, b'{"provider_tx_id":12345678901234567000}')

    verifier = SignatureVerifier([b"k-0123456789"], "https://wallet.example.com")

    assert not verifier.verify(
        header,
        path="/webhooks/hypetech/win",
        raw_query=b"",
        body=b'{"provider_tx_id":12345678901234567890}',
    )
