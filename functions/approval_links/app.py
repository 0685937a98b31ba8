"""Signed approve/reject links behind a function URL (deckwatch.approval_links): GET shows a confirmation page,
POST answers the approval once."""

from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch import approval_links
from deckwatch.context import Services
from deckwatch.logging import observe

logger = Logger()
services = Services.lazy()  # from the function's environment, on the first invocation
app = LambdaFunctionUrlResolver()


def _html(page: approval_links.Page) -> Response[str]:
    return Response(
        status_code=page.status,
        content_type="text/html; charset=utf-8",
        body=page.html,
        headers=approval_links.HEADERS,
    )


@app.get("/")
def confirm() -> Response[str]:
    return _html(approval_links.show(app.current_event.query_string_parameters or {}, services()))


@app.post("/")
def answer() -> Response[str]:
    form = dict(parse_qsl(app.current_event.decoded_body or "", max_num_fields=20))
    return _html(approval_links.answer(form, services()))


@logger.inject_lambda_context(clear_state=True)  # the event is not logged: its query string carries signatures
@observe(services)  # invalid input -> InvalidEventError without its values; expected errors counted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
