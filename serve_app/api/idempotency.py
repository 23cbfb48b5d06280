"""The HTTP side of idempotency keys: a route hands its work and its validated body to
`IdempotentDep`, which runs the work once per key and replays the stored response after."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from serve_app.api.deps import CurrentUser, StateDep
from serve_app.db.models import User
from serve_app.services.idempotency import IdempotencyKeys, StoredResponse, fingerprint

REPLAYED_HEADER = "Idempotent-Replayed"


class Idempotent:
    def __init__(self, *, keys: IdempotencyKeys, user: User, key: str | None, endpoint: str):
        self._keys = keys
        self._user = user
        self._key = key
        self._endpoint = endpoint

    @property
    def keyed(self) -> bool:
        """Whether the request carried an Idempotency-Key."""
        return self._key is not None

    async def __call__(self, body: BaseModel | dict[str, Any], run: Callable[[], Awaitable[Response]]) -> Response:
        """`run()`'s response, or without running it, the stored response of the first request
        that carried this key and this body: a validated model, or (for a form with uploads) its
        fields as JSON values."""
        if self._key is None:
            return await run()

        async def stored_run() -> StoredResponse:
            response = await run()
            return StoredResponse(
                status_code=response.status_code,
                body=bytes(response.body),
                content_type=response.headers.get("content-type", "application/json"),
            )

        assert self._user.id is not None  # the signed-in user, read from the database
        stored, replayed = await self._keys.once(
            user_id=self._user.id,
            key=self._key,
            fingerprint=fingerprint(self._endpoint, body if isinstance(body, dict) else body.model_dump(mode="json")),
            run=stored_run,
        )
        return Response(
            content=stored.body,
            status_code=stored.status_code,
            media_type=stored.content_type,
            headers={REPLAYED_HEADER: "true"} if replayed else None,
        )


async def get_idempotent(
    request: Request,
    state: StateDep,
    user: CurrentUser,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Any unique string (a UUID): a retry with the same key and body gets the first "
            "response and is charged once; kept 24 h.",
        ),
    ] = None,
) -> Idempotent:
    return Idempotent(keys=state.idempotency, user=user, key=key, endpoint=request.url.path.rstrip("/"))


IdempotentDep = Annotated[Idempotent, Depends(get_idempotent)]
