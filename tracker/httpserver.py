"""uvicorn's HTTP/1.1 protocol, with a deadline for each request head.

uvicorn closes idle keep-alive connections, and h11 refuses a head that grows past its
limit while incomplete, but a client that opens a connection and sends nothing, or sends a
head a few bytes at a time, holds it for as long as it likes (slowloris). Here every
request head must be complete within ``head_seconds`` of the connection opening or the
previous response ending; otherwise the connection is closed.
"""

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["guarded_protocol"]


class _GuardedH11Protocol(H11Protocol):
    head_seconds = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a whole request head arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(head_seconds: float) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)``, with this deadline."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"head_seconds": head_seconds})
