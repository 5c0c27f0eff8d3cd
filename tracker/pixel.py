"""``GET /o/{token}``: always the 1x1 transparent GIF; an open is recorded for a good token."""

import io

from PIL import Image
from starlette.requests import Request
from starlette.responses import Response

from tracker.tokens import Kind
from tracker.tracking import Tracking

__all__ = ["make_gif", "serve_pixel"]

_HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


def make_gif() -> bytes:
    image = Image.new("P", (1, 1), 0)
    image.putpalette([0, 0, 0] * 256)
    buffer = io.BytesIO()
    image.save(buffer, format="GIF", transparency=0)
    return buffer.getvalue()


async def serve_pixel(request: Request) -> Response:
    tracking: Tracking = request.app.state.tracking
    text = request.path_params["token"]
    token = tracking.verify(text.removesuffix(".gif"), Kind.OPEN)
    if token is not None:
        await tracking.record(request, token)
    return Response(request.app.state.gif, media_type="image/gif", headers=_HEADERS)
