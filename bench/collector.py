"""A do-nothing OTLP/HTTP collector, for measuring what tracing costs the gateway: it accepts
`POST /v1/traces` (protobuf or JSON), answers 200 and counts the requests and bytes, so the
gateway's exporter does all its real work (batching, encoding, sending) and nothing is stored.

    python -m bench.collector --port 4318 &
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python -m bench --quick --no-floor \\
        --execution compiled --clients aiohttp

docs/performance.md "Tracing overhead" has the figures and the exact commands.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn
from starlette.types import Receive, Scope, Send

__all__ = ["NullCollector", "main"]


class NullCollector:
    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            self.bytes += len(message.get("body", b""))
            more = message.get("more_body", False)
        self.requests += 1
        status = 200 if scope["path"] == "/v1/traces" and scope["method"] == "POST" else 404
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/x-protobuf")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector", description=__doc__)
    parser.add_argument("--port", type=int, default=4318)
    options = parser.parse_args(argv)
    collector = NullCollector()
    try:
        uvicorn.run(collector, host="127.0.0.1", port=options.port, log_level="warning")
    finally:
        print(f"collector: {collector.requests} requests, {collector.bytes} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
