"""The thin road for the common request: one JSON POST of one operation on compiled execution.

Strawberry's view (`AsyncBaseHTTPView.run`) builds a request adapter, parses the content type,
looks for a streaming transport, checks the method, reads and checks the body, and only then
asks the schema. For a plain `application/json` POST whose body is one operation of the right
shape, `ThinPath.serve` does the same in one pass and calls the very same steps the view does,
with the same arguments and in the same order where order can be seen: the view's own
`get_sub_response`, `get_context`, `Schema.execute` (the parse cache, the limits, trusted
documents, the audit trail, the operation log and telemetry all run there, as extensions),
`process_result` and `create_response`. Strawberry's three refusals of an operation (no
operation of that name, an operation type not allowed) become the same 400 the view gives.
An operation whose compiled plan is already cached, with nothing to refuse before it runs,
skips `Schema.execute` itself: the direct road (gateway/execution/direct.py) calls the same
extension rules in the same order; anything else it hands back, untouched, to `Schema.execute`.

Anything else goes to the view as it is: a GET, another content type, a streaming `Accept`
(multipart subscriptions), a body that is not JSON, a batch, a field of the wrong type. The
body already read is handed over with the request (Starlette's `Request` keeps it), so the view
reads the same bytes. Only the gateway on compiled execution takes this road (gateway/app.py):
the standard one answers through the view, which is what the differential suite compares.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http.types import HTTPMethod
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from gateway.execution.direct import DirectRoad

if TYPE_CHECKING:
    from gateway.http.view import GraphQLView

__all__ = ["ThinPath", "request_headers"]

_POST: HTTPMethod = "POST"
_ALLOWED = frozenset(OperationType.from_http(_POST))


class ThinPath:
    """One per view; `taken` counts the requests it answered (tests prove the road is used)."""

    def __init__(self, view: GraphQLView) -> None:
        config = view.schema.config
        # the shapes this road never answers: a batch list, incremental delivery
        if getattr(config, "batching_config", None) is not None:
            raise ValueError("the thin path does not serve batches: batching must stay off")
        if config.enable_experimental_incremental_execution:
            raise ValueError("the thin path does not serve incremental delivery")
        self.view = view
        self.taken = 0
        self.direct = DirectRoad.for_schema(view.schema)
        """An operation with a cached plan skips `Schema.execute` (gateway/execution/direct.py)."""

    def eligible(self, scope: Scope, content_type: bytes | None, accept: bytes | None) -> bool:
        """A POST of `application/json` asking for no streamed answer: a request the view
        would parse as one JSON body (other spellings of the media type: the view decides).
        `content_type` and `accept` are the headers' first values, as the view's `Headers`
        give them, read in the view's one pass over the headers (`request_headers`)."""
        if scope["method"] != "POST" or content_type is None:
            return False
        # exactly: strawberry's parse of the header keeps the media type's case
        media = content_type.decode("latin-1").split(";", 1)[0].strip()
        if media != "application/json":
            return False
        # strawberry's own choice, on the one header it reads (its first `accept`)
        asked = {} if accept is None else {"accept": accept.decode("latin-1")}
        return self.view._get_stream_transport_from_headers(asked) is None

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        view = self.view
        request = Request(scope, receive)
        operation = _operation(view, await _body(request, receive))
        if operation is None:  # the view's checks and refusals, on the bytes already read
            response = await _view_answer(view, request)
            await response(scope, receive, send)
            return
        query, variables, name, extensions = operation
        self.taken += 1
        sub_response = await view.get_sub_response(request)
        context = await view.get_context(request, response=sub_response)
        direct = self.direct
        written: asyncio.Future[None] | None = None
        try:
            answer = None
            if direct is not None:
                answer = await direct.execute(query, variables, context, name, _ALLOWED, extensions)
            if answer is not None:
                result, written = answer
            else:
                result = await view.schema.execute(
                    query,
                    root_value=None,  # GraphQL.get_root_value's: the view has none
                    variable_values=variables,
                    context_value=context,
                    operation_name=name,
                    allowed_operation_types=_ALLOWED,
                    operation_extensions=extensions,
                )
        except CannotGetOperationTypeError as e:
            response = PlainTextResponse(e.as_http_error_reason(), status_code=400)
        except InvalidOperationTypeError as e:
            response = PlainTextResponse(e.as_http_error_reason(_POST), status_code=400)
        except MissingQueryError:
            response = PlainTextResponse("No GraphQL query found in the request", status_code=400)
        else:
            data = await view.process_result(request, result)
            if result.errors:
                view._handle_errors(result.errors, data)  # a hook: no-op unless overridden
            response = view.create_response(response_data=data, sub_response=sub_response)
        if written is not None:
            await written  # the answer leaves once its audit lines are written
        await response(scope, receive, send)


def request_headers(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """The first content-type, accept and x-request-timeout-ms of the request, in one pass over
    its raw headers, instead of a `Headers` built and scanned for each (names as Starlette
    matches them: lower case, as ASGI servers give them; `accept` as strawberry finds it)."""
    content_type = accept = timeout = None
    for key, value in scope["headers"]:
        if key == b"content-type":
            if content_type is None:
                content_type = value
        elif key == b"x-request-timeout-ms":
            if timeout is None:
                timeout = value
        elif accept is None and key.lower() == b"accept":  # strawberry lowers the names
            accept = value
    return content_type, accept, timeout


async def _body(request: Request, receive: Receive) -> bytes:
    """`Request.body()`'s bytes, read as `Request.stream` reads them (an `http.disconnect`
    raises `ClientDisconnect`) but without its async generators, kept on the request as
    `body()` keeps them: the view, the context and anything later read the same bytes."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()
    request._stream_consumed = True
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body
    return body


def _operation(
    view: GraphQLView, body: bytes
) -> tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None] | None:
    """(query, variables, operationName, extensions) of a body that is one JSON object of the
    shape strawberry accepts (`query` may be absent: a trusted document by its hash); None for
    anything the view must answer itself."""
    try:
        data = view.decode_json(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    query = data.get("query")
    variables = data.get("variables")
    name = data.get("operationName")
    extensions = data.get("extensions")
    if (
        not isinstance(query, str | None)
        or not isinstance(variables, dict | None)
        or not isinstance(name, str | None)
        or not isinstance(extensions, dict | None)
    ):
        return None
    return query, variables, name, extensions


async def _view_answer(view: GraphQLView, request: Request) -> Response:
    """The view's answer, as `GraphQL.__call__` makes it (its refusals in plain text, which
    ErrorEnvelope turns into the gateway's JSON)."""
    try:
        return await view.run(request)
    except HTTPException as e:
        return PlainTextResponse(e.reason, status_code=e.status_code)
