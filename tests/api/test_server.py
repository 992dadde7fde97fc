"""The server's read timeouts: slow clients are cut, and normal requests are answered meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from api.server import GuardedProtocol, raise_open_files_limit
from api.settings import get_settings


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("STEPSTONE_HEAD_TIMEOUT", "1.0")
    monkeypatch.setenv("STEPSTONE_BODY_IDLE_TIMEOUT", "0.5")
    get_settings.cache_clear()
    config = uvicorn.Config(_hello, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                            http=GuardedProtocol, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)
    get_settings.cache_clear()


async def _slow_head(port: int, seconds: float) -> bytes:
    """Send a request head one line every 0.3 s; what the server answered, when it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = b""
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        end = time.monotonic() + seconds
        while time.monotonic() < end and not data:
            try:
                data = await asyncio.wait_for(reader.read(200), timeout=0.3)  # the server's answer, if any
                break
            except TimeoutError:
                writer.write(b"X-a: b\r\n")
                await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return data


def test_slow_heads_are_cut_and_normal_requests_answered(port: int) -> None:
    async def main() -> tuple[list[bytes], list[int], float]:
        t0 = time.monotonic()
        slow = [asyncio.create_task(_slow_head(port, 5.0)) for _ in range(200)]
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            normal = [(await client.get("/")).status_code for _ in range(10)]
        answers = await asyncio.gather(*slow)
        return answers, normal, time.monotonic() - t0

    answers, normal, seconds = asyncio.run(main())
    assert normal == [200] * 10
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert seconds < 3.0  # cut at the 1 s head deadline, not after the clients' 5 s


def test_a_stalled_body_is_cut(port: int) -> None:
    async def main() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nabc")
        t0 = time.monotonic()
        await asyncio.wait_for(reader.read(), timeout=5)  # until the server closes
        seconds = time.monotonic() - t0
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return seconds

    assert asyncio.run(main()) < 2.0


def test_a_kept_alive_connection_still_serves_request_after_request(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(3):
            assert client.get("/").status_code == 200
            time.sleep(0.4)  # under the keep-alive timeout; the head deadline restarts per request


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_open_files_limit() >= soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] in (hard, 65536)


def test_beyond_the_cap_the_longest_waiting_connection_is_evicted(port: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSTONE_MAX_WAITING", "20")
    get_settings.cache_clear()

    async def main() -> tuple[list[bytes], int]:
        slow = [asyncio.create_task(_slow_head(port, 0.8)) for _ in range(40)]
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            status = (await client.get("/")).status_code
        return await asyncio.gather(*slow), status

    answers, status = asyncio.run(main())
    assert status == 200
    assert sum(a.startswith(b"HTTP/1.1 408") for a in answers) >= 20  # evicted before their deadline
