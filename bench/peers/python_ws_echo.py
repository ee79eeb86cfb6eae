"""Peer for the WebSocket rows: Debian's python3-websockets echo server.

Usage: /usr/bin/python3 python_ws_echo.py [--deflate]
  -> prints "listening ws 127.0.0.1:PORT".
--deflate: permessage-deflate with the library's defaults.
"""
import asyncio
import signal
import sys

import websockets


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    compression = "deflate" if "--deflate" in sys.argv else None
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**25, compression=compression) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening ws 127.0.0.1:{port}", flush=True)
        await stop


asyncio.run(main())
