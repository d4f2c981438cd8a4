"""The render worker: a process of its own that lays out HTML bodies, one request at a time.

It reads requests from standard input and answers on standard output (see ``frames``). Its
address space is limited at start, so a body that makes WeasyPrint grow without end ends this
process, not the daemon; the daemon kills it when a body takes too long.

    python -m mail2fax.rendering.worker MEMORY_BYTES
"""

from __future__ import annotations

import resource
import sys
from typing import BinaryIO

from mail2fax.mail.body import Resource
from mail2fax.rendering import frames


def _limit_memory(limit: int) -> None:
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _read_exactly(source: BinaryIO, count: int) -> bytes:
    data = source.read(count)
    if len(data) != count:
        raise EOFError
    return data


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    from mail2fax.rendering.html import PageLimit, render_pdf  # after the memory limit is set

    while True:
        try:
            prefix = source.read(frames.PREFIX_BYTES)
            if not prefix:
                return
            header, blobs = frames.decode_header(_read_exactly(source, frames.header_length(prefix)))
            datas = [_read_exactly(source, length) for length in blobs]
        except (EOFError, ValueError):
            return  # the daemon hung up or spoke nonsense: nothing more to do
        resources = {
            str(cid): Resource(str(content_type), data)
            for (cid, content_type), data in zip(header.get("resources", []), datas, strict=False)
        }
        try:
            rendered = render_pdf(str(header["html"]), resources, max_pages=int(header["max_pages"]))
        except PageLimit as limit:
            answer = frames.encode({"ok": False, "pages": limit.pages, "error": "too many pages"}, [])
        except MemoryError:
            answer = frames.encode({"ok": False, "error": "out of memory"}, [])
        except Exception as exc:  # noqa: BLE001 - any failure of the layout is this body's, reported
            answer = frames.encode({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}, [])
        else:
            summary = {"ok": True, "pages": rendered.pages, "images": rendered.images}
            answer = frames.encode({**summary, "refused": list(rendered.refused)}, [rendered.pdf])
        sink.write(answer)
        sink.flush()


def main() -> None:
    _limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
