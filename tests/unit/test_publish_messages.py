"""The templated Celery message equals Celery's own protocol-2 envelope."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from scheduler.broker.publish import MessageFactory, celery_message

IDS = st.text(alphabet="0123456789abcdef", min_size=1, max_size=36)


def _without_tag(raw: bytes) -> dict:
    data = json.loads(raw)
    data["properties"].pop("delivery_tag")
    return data


@given(IDS)
def test_template_matches_the_reference_envelope(execution_id: str) -> None:
    fast = MessageFactory("host:1")(execution_id)
    assert _without_tag(fast) == _without_tag(celery_message(execution_id, "host:1"))
    body = json.loads(base64.b64decode(json.loads(fast)["body"]))
    assert body[0] == [execution_id]


def test_delivery_tags_are_unique() -> None:
    make = MessageFactory("host:1")
    tags = {json.loads(make("abc"))["properties"]["delivery_tag"] for _ in range(1000)}
    assert len(tags) == 1000


@given(st.text(min_size=1, max_size=20))
def test_odd_ids_fall_back_to_the_safe_path(execution_id: str) -> None:
    data = json.loads(MessageFactory("h")(execution_id))
    assert data["headers"]["id"] == execution_id
