"""Request bodies read with a bound, and answers turned into Starlette responses.

A body over the limit is refused from its ``Content-Length`` when it has one, and
while streaming otherwise, so an oversized upload is never held in memory. Every
error answer comes from ``app.answers`` (one mapping for every transport).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from revoker.app.answers import Answer, error_answer
from revoker.app.requests import check_size
from revoker.core.errors import PayloadTooLarge

__all__ = ["error_response", "read_body", "response_of"]


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or ``PayloadTooLarge`` (413) past ``limit`` bytes."""
    check_size(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def response_of(answer: Answer) -> Response:
    """An ``Answer`` as a Starlette response (an empty body when it has none)."""
    if answer.body is None:
        return Response(status_code=answer.status, headers=dict(answer.headers))
    return JSONResponse(dict(answer.body), status_code=answer.status, headers=dict(answer.headers))


def error_response(
    status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return response_of(error_answer(status, error, description, headers))
