"""Rules across requests: bursts from one network, several links at once, the honeypot.

A request is judged here only when its campaign and subject are known. The subject is what
the URL token carries, a recipient id or a random per-message nonce, so the rules work the
same for anonymous mail and learn nothing that names a person. Addresses are reduced to
their network (/24, /48) and kept only for the few seconds of the burst window.

All state is in memory and bounded: each table is an LRU of at most ``Thresholds.tracked``
keys, and each key holds only the events of its time window. When a request proves earlier
events of the same message wrong (the honeypot, or the request that completes a burst or a
multi-link run), a ``Remark`` says which, so the recorder can correct what it already
counted; ``take_remarks`` hands them over once.
"""

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from tracker.settings import Settings

__all__ = ["Behaviour", "Key", "Remark", "Thresholds"]

Key = int | str
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Thresholds:
    """The limits of the timing and behaviour rules; the server takes them from the
    ``TRACKER_...`` settings (README, "Configuration"), whose defaults these are, except
    that ``too_fast`` is off unless asked for (the setting's default is 5 seconds)."""

    too_fast_seconds: float = 0.0  # clicks sooner after minting are machines; 0: off
    burst_subjects: int = 5  # this many messages of one campaign from one network ...
    burst_seconds: float = 5.0  # ... within this many seconds are a burst
    multi_link_links: int = 2  # this many different links of one message ...
    multi_link_seconds: float = 1.0  # ... within this many seconds
    honeypot_seconds: float = 60.0  # a honeypot hit condemns its message's events this close
    tracked: int = 100_000  # keys per table (campaign and message, or campaign and network)
    remarks: int = 10_000  # remarks kept until taken

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Thresholds":
        return cls(
            too_fast_seconds=settings.too_fast_seconds,
            burst_subjects=settings.burst_subjects,
            burst_seconds=settings.burst_seconds,
            multi_link_links=settings.multi_link_links,
            multi_link_seconds=settings.multi_link_seconds,
            honeypot_seconds=settings.honeypot_seconds,
            tracked=settings.classifier_memory,
        )


@dataclass(frozen=True)
class Remark:
    """The events of one message (campaign, subject) between two times are a machine's."""

    campaign: Key
    subject: Key
    since: float  # seconds, on the same clock as the requests' ``at``
    until: float
    reason: Literal["burst", "multi_link", "honeypot"]

    @property
    def key(self) -> tuple[Key, Key]:
        return self.campaign, self.subject


class _Lru(OrderedDict[K, V], Generic[K, V]):
    """An OrderedDict that forgets its least recently used keys beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def touch(self, key: K, make: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = self[key] = make()
            if len(self) > self.limit:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Set the value of a key ``touch`` has just made the most recent."""
        self[key] = value


# One event in a window: (at, subject, link, flagged), flagged once a remark covers it.
# Windows are tuples of these tuples, all of atoms, so that the garbage collector stops
# tracking them: a server keeps up to ``Thresholds.tracked`` windows, and every full
# collection would walk each of their events, pausing every request meanwhile.
_Seen = tuple[float, Key, object, bool]
_AT: Final = 0
_SUBJECT: Final = 1
_LINK: Final = 2
_EMPTY: tuple[_Seen, ...] = ()


class Behaviour:
    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._bursts: _Lru[tuple[Key, str, tuple[int, int]], tuple[_Seen, ...]] = _Lru(
            thresholds.tracked
        )
        self._clicks: _Lru[tuple[Key, Key], tuple[_Seen, ...]] = _Lru(thresholds.tracked)
        self._honeypots: _Lru[tuple[Key, Key], float] = _Lru(thresholds.tracked)
        self._remarks: deque[Remark] = deque(maxlen=thresholds.remarks)
        # A window holds enough events to reach either threshold, and never more.
        self._window_size = 2 * max(32, thresholds.burst_subjects, thresholds.multi_link_links)

    def _added(self, window: tuple[_Seen, ...], oldest: float, seen: _Seen) -> tuple[_Seen, ...]:
        """The window without its events before ``oldest``, with ``seen`` added last."""
        start = 0
        while start < len(window) and window[start][_AT] < oldest:
            start += 1
        start = max(start, len(window) + 1 - self._window_size)
        return (*window[start:], seen)

    def observe(
        self,
        *,
        campaign: Key,
        subject: Key,
        at: float,
        kind: str,
        link: Key | None,
        network: tuple[int, int] | None,
        honeypot: bool,
    ) -> list[str]:
        """The behaviour reasons of one request. ``network`` is None when the request must
        not count towards a burst (a mail client's, a proxy's, one from shared relays)."""
        reasons = []
        if self._honeypot(campaign, subject, at, honeypot):
            reasons.append("honeypot")
        if kind == "click" and self._multi_link(campaign, subject, at, link):
            reasons.append("multi_link")
        if network is not None and self._burst(campaign, subject, at, kind, network):
            reasons.append("burst")
        return reasons

    def take_remarks(self) -> list[Remark]:
        """The remarks made since the last call, oldest first."""
        remarks = list(self._remarks)
        self._remarks.clear()
        return remarks

    def _honeypot(self, campaign: Key, subject: Key, at: float, hit: bool) -> bool:
        window = self.thresholds.honeypot_seconds
        if hit:
            self._honeypots.touch((campaign, subject), lambda: at)
            self._honeypots[campaign, subject] = at
            self._remarks.append(Remark(campaign, subject, at - window, at, "honeypot"))
            return True
        marked = self._honeypots.get((campaign, subject))
        return marked is not None and abs(at - marked) <= window

    def _multi_link(self, campaign: Key, subject: Key, at: float, link: Key | None) -> bool:
        limits, key = self.thresholds, (campaign, subject)
        seen: _Seen = (at, subject, object() if link is None else link, False)
        clicks = self._added(
            self._clicks.touch(key, _no_events), at - limits.multi_link_seconds, seen
        )
        if _distinct(clicks, _LINK) < limits.multi_link_links:
            self._clicks.put(key, clicks)
            return False
        self._clicks.put(key, self._remark_once(campaign, clicks, "multi_link"))
        return True

    def _burst(
        self, campaign: Key, subject: Key, at: float, kind: str, network: tuple[int, int]
    ) -> bool:
        limits, key = self.thresholds, (campaign, kind, network)
        seen: _Seen = (at, subject, None, False)
        window = self._added(self._bursts.touch(key, _no_events), at - limits.burst_seconds, seen)
        if _distinct(window, _SUBJECT) < limits.burst_subjects:
            self._bursts.put(key, window)
            return False
        self._bursts.put(key, self._remark_once(campaign, window, "burst"))
        return True

    def _remark_once(
        self,
        campaign: Key,
        events: tuple[_Seen, ...],
        reason: Literal["burst", "multi_link"],
    ) -> tuple[_Seen, ...]:
        """Remark the earlier events no remark covers yet (the last one is judged directly);
        the same events, all flagged."""
        spans: dict[Key, tuple[float, float]] = {}
        for at, subject, _, flagged in events[:-1]:
            if not flagged:
                since, until = spans.get(subject, (at, at))
                spans[subject] = (min(since, at), max(until, at))
        for subject, (since, until) in spans.items():
            self._remarks.append(Remark(campaign, subject, since, until, reason))
        return tuple((at, subject, link, True) for at, subject, link, _ in events)


def _no_events() -> tuple[_Seen, ...]:
    return _EMPTY


def _distinct(events: tuple[_Seen, ...], field: int) -> int:
    """How many different values of one field the events have (1 for a single event, the
    common case, without building a set)."""
    if len(events) < 2:
        return len(events)
    return len({event[field] for event in events})
