"""Any error of one delivery attempt is that attempt's failure, retried as Hypetech would: never the
end of the play loop (an AttributeError from a dying peer's socket once killed it)."""

from __future__ import annotations

import httpx

from services.simulator.sender import WebhookSender
from services.simulator.webhooks import RenderedWebhook
from shared.contracts.commands import WebhookKind

URL = "http://operator.test/webhooks/hypetech/bet"
WEBHOOK = RenderedWebhook(WebhookKind.BET, "POST", URL, '{"amount": "1.00"}', "sig", URL)


async def no_sleep(_: float) -> None:
    return None


def sender_over(handler: httpx.MockTransport) -> tuple[WebhookSender, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=handler)
    return WebhookSender(client, max_attempts=3, sleep=no_sleep), client


def dying_peer() -> AttributeError:
    return AttributeError("'NoneType' object has no attribute 'getpeername'")


async def test_retries_a_delivery_whose_peer_died_under_it_and_takes_the_next_answer() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise dying_peer()
        return httpx.Response(200, text='{"new_balance": "9.00"}')

    sender, client = sender_over(httpx.MockTransport(handler))
    async with client:
        delivery = await sender.deliver(WEBHOOK)

    assert (delivery.status, delivery.attempts) == (200, 2)
    assert sender.stats.by_status["no-answer"] == 1


async def test_a_delivery_that_never_gets_an_answer_is_unanswered_not_an_exception() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise dying_peer()

    sender, client = sender_over(httpx.MockTransport(handler))
    async with client:
        delivery = await sender.deliver(WEBHOOK)
        duplicate = await sender.replay(WEBHOOK)

    assert (delivery.status, delivery.answered, delivery.attempts) == (None, False, 3)
    assert (duplicate.status, duplicate.answered) == (None, False)
