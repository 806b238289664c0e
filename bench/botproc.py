"""One bot in a process of its own, for the benchmarks that measure a bot's process (its memory,
its start-up) or must keep it apart from the people measuring it (latency).

    python bench/botproc.py {bare|lotse} URL USER_ID PASSWORD DATA_DIR [WORKER ...]

The bare bot keeps its session and sync token in ``DATA_DIR/bare.json`` so that a second start
is a restart, as Lotse's is with its data directory. Prints ``ready`` once started; stops
cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.barebot import BareClient


async def run(kind: str, url: str, user_id: str, password: str, data: Path, workers: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if kind == "lotse":
        from bench.restartable import LotseRunner  # only here: the bare bot's memory is nio's alone

        lotse = LotseRunner(url, user_id, password, data, workers)
        await lotse.start()
        print("ready", flush=True)
        await stop.wait()
        await lotse.stop()
        return
    saved = data / "bare.json"
    bare = BareClient(url, user_id, password, data / "store")
    if saved.exists():
        state = json.loads(saved.read_text())
        bare.device_id, bare.access_token, bare.token = state["device"], state["access"], state["token"]
    await bare.start()
    print("ready", flush=True)
    await stop.wait()
    await bare.stop()
    saved.write_text(json.dumps({"device": bare.device_id, "access": bare.access_token, "token": bare.token}))


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    kind, url, user_id, password, data, *workers = sys.argv[1:]
    Path(data).mkdir(parents=True, exist_ok=True)
    asyncio.run(run(kind, url, user_id, password, Path(data), workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
