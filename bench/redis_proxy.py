"""A loopback TCP relay in front of Redis: a stand-in for Redis on another host.

Each byte crosses two more sockets and this process, which adds ~0.3 ms to every round trip
on the 2-core VM (about a same-datacenter network hop; measured and printed by
``enqueue_bench.py``). Run as ``python bench/redis_proxy.py LISTEN_PORT REDIS_PORT
MAX_SECONDS``: it listens on 127.0.0.1 only and exits after ``MAX_SECONDS``.
"""

from __future__ import annotations

import asyncio
import sys


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until its end closes."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(listen_port: int, redis_port: int, max_seconds: float) -> None:
    """Relay every connection to 127.0.0.1:``redis_port`` for at most ``max_seconds``."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", redis_port)
        await asyncio.gather(_relay(client_r, server_w), _relay(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await asyncio.wait_for(server.serve_forever(), max_seconds)


def main() -> None:
    """Parse the three arguments and serve until the time is up."""
    listen_port, redis_port, max_seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    try:
        asyncio.run(_serve(listen_port, redis_port, max_seconds))
    except TimeoutError:
        pass


if __name__ == "__main__":
    main()
