"""Pure helpers for the Engine API's wire formats: filters, multiplexed streams.

No I/O here, so all of it is tested on recorded bytes.

Multiplexed stream (logs and attach/exec without a TTY): a sequence of frames,
each an 8-byte header ``[stream, 0, 0, 0, size (uint32 big-endian)]`` then
`size` bytes of payload. ``stream`` is 0 stdin, 1 stdout, 2 stderr. With a TTY
the engine sends the raw bytes instead, without headers.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}
HEADER = struct.Struct(">BxxxL")


@dataclass(frozen=True)
class Frame:
    stream: str  # "stdout" | "stderr" | "stdin"
    data: bytes


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole frames out.

    `raw=True` (a TTY stream) passes bytes through as stdout frames.
    """

    def __init__(self, *, raw: bool = False):
        self.raw = raw
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        if self.raw:
            return [Frame("stdout", bytes(data))] if data else []
        self._buf += data
        out: list[Frame] = []
        while len(self._buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self._buf)
            if kind not in STREAMS:
                raise ValueError(f"not a multiplexed stream: bad frame header {bytes(self._buf[:8])!r}")
            end = HEADER.size + size
            if len(self._buf) < end:
                break
            out.append(Frame(STREAMS[kind], bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (a truncated stream if > 0 at EOF)."""
        return len(self._buf)


def looks_multiplexed(head: bytes) -> bool:
    """Guess from the first bytes whether a stream is framed (API < 1.42 has no content type for it)."""
    return len(head) >= 4 and head[0] in STREAMS and head[1:4] == b"\0\0\0"


def iter_frames(chunks: Iterable[bytes], *, raw: bool | None = None) -> Iterator[Frame]:
    """Frames from an iterable of byte chunks. `raw=None` guesses from the first bytes."""
    decoder: FrameDecoder | None = None if raw is None else FrameDecoder(raw=raw)
    head = b""
    for chunk in chunks:
        if not chunk:
            continue
        if decoder is None:
            head += chunk
            if len(head) < 4:
                continue
            decoder = FrameDecoder(raw=not looks_multiplexed(head))
            chunk, head = head, b""
        yield from decoder.feed(chunk)
    if decoder is None and head:
        yield Frame("stdout", head)
    elif decoder is not None and decoder.pending:
        raise ValueError(f"stream ended inside a frame ({decoder.pending} bytes left over)")


def iter_lines(frames: Iterable[Frame]) -> Iterator[Frame]:
    """Re-cut frames into lines (newline kept off), per stream; a last partial line is flushed at the end."""
    partial: dict[str, bytes] = {}
    for frame in frames:
        data = partial.pop(frame.stream, b"") + frame.data
        *lines, rest = data.split(b"\n")
        for line in lines:
            yield Frame(frame.stream, line)
        if rest:
            partial[frame.stream] = rest
    for stream, rest in partial.items():
        yield Frame(stream, rest)


def chunks_from(read: Callable[[int], bytes], size: int = 65536) -> Iterator[bytes]:
    """Chunks from a `read1`/`read`-like callable until it returns b""."""
    while True:
        data = read(size)
        if not data:
            return
        yield data


FilterValue = str | Iterable[str] | Mapping[str, bool]


def encode_filters(filters: Mapping[str, FilterValue] | None) -> str | None:
    """Docker's `filters` query parameter: JSON ``{"name": {"value": true}}``, sorted, like the docker CLI.

    Each value may be one string, an iterable of strings, or the engine's own
    ``{value: true}`` map. Empty filters give None (no parameter at all).
    """
    if not filters:
        return None
    out: dict[str, dict[str, bool]] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, str):
            values = {value: True}
        elif isinstance(value, Mapping):
            values = {str(k): bool(v) for k, v in value.items()}
        else:
            values = {str(v): True for v in value}
        if values:
            out[key] = dict(sorted(values.items()))
    if not out:
        return None
    return json.dumps(dict(sorted(out.items())), separators=(",", ":"))


def label_filters(labels: Mapping[str, str | None]) -> list[str]:
    """`label` filter values from a mapping: ``{"a": "b", "c": None}`` → ``["a=b", "c"]``."""
    return [k if v is None else f"{k}={v}" for k, v in sorted(labels.items())]


def query_string(params: Mapping[str, object]) -> str:
    """``?a=1&b=x`` from params, dropping None; booleans as ``1``/``0`` like the docker CLI, sorted."""
    from urllib.parse import urlencode

    items = []
    for key, value in sorted(params.items()):
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        items.append((key, str(value)))
    return "?" + urlencode(items) if items else ""
