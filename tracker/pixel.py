"""``GET /o/{token}``: always the 1x1 transparent GIF; an open is recorded for a good token.

Plain ASGI rather than a Starlette endpoint: this is the path every mail open takes, and
the response never varies, so its headers are encoded once (see ``tracker.hotpath``).
"""

import io

from PIL import Image
from starlette.types import Receive, Scope, Send

from tracker.hotpath import peer_of, token_of
from tracker.tokens import Kind
from tracker.tracking import Tracking

__all__ = ["GIF", "make_gif", "serve_pixel"]


def make_gif() -> bytes:
    image = Image.new("P", (1, 1), 0)
    image.putpalette([0, 0, 0] * 256)
    buffer = io.BytesIO()
    image.save(buffer, format="GIF", transparency=0)
    return buffer.getvalue()


GIF = make_gif()
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"image/gif"),
        (b"content-length", str(len(GIF)).encode()),
        (b"cache-control", b"no-store, max-age=0"),
        (b"pragma", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
    ],
}
_BODY = {"type": "http.response.body", "body": GIF}


async def serve_pixel(scope: Scope, receive: Receive, send: Send) -> None:
    tracking: Tracking = scope["app"].state.tracking
    token = tracking.verify(token_of(scope).removesuffix(".gif"), Kind.OPEN)
    if token is not None:
        await tracking.record(scope["headers"], peer_of(scope), scope["method"], token)
    await send(_START)
    await send(_BODY)
