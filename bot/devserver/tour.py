"""What ``lotse demo`` prints once everything runs: where things are, the logins, and a tour.

The tour walks through Lotse's day in six steps, each with the exact thing to type, in the
order a real case goes: a client writes, a worker takes the case, both talk in the
counselling room, the client asks for their data, the admin checks retention, leadership
reads the report.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.devserver.synapse import SynapseServer

PEOPLE = {
    # localpart: role shown to the newcomer
    "anna": "social worker",
    "kim": "client",
    "admin": "Lotse admin",
}
READY = "Lotse demo is running"


def lotse_command() -> str:
    """How to call ``lotse`` from where the person stands (in a checkout: .venv/bin/lotse)."""
    exe = Path(sys.argv[0]).absolute() if sys.argv and sys.argv[0] else None
    if exe is None or exe.name != "lotse":
        return "lotse"
    on_path = shutil.which("lotse")
    if on_path and Path(on_path).absolute() == exe:
        return "lotse"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(exe))


def _is_default(directory: Path) -> bool:
    return directory.resolve() == (Path.cwd() / ".lotse-demo").resolve()


@dataclass(frozen=True)
class TourState:
    next_case: str  # the number the client's first request will get
    client_case: str | None = None  # the client's case from an earlier run, if any


def banner(server: SynapseServer, state: dict[str, Any], directory: Path, tour: TourState) -> str:
    pw = state["passwords"]
    sn = server.server_name
    rows = "\n".join(
        f"   {role:<14} {f'@{name}:{sn}':<18} password {pw[name]}" for name, role in PEOPLE.items()
    )
    lotse = lotse_command()
    chat = f"{lotse} chat" if _is_default(directory) else f"{lotse} chat --dir {shlex.quote(str(directory))}"
    report = f"{lotse} report"
    if not _is_default(directory):
        report = f"{lotse} -c {shlex.quote(str(directory / 'lotse.toml'))} report"
    case = tour.client_case or tour.next_case
    earlier = (
        f"""
 kim's case #{case} is still open from an earlier run: steps 1 and 2 are done
 (delete {directory} to take the tour from the start).
"""
        if tour.client_case
        else ""
    )
    return f"""
========================================================================
 {READY}
------------------------------------------------------------------------
 Homeserver  {server.url}   (127.0.0.1 only, server name "{sn}")
 Bot         @lotse:{sn}   (end-to-end encrypted, device cross-signed)
 Data        {directory}
             (twelve weeks of made-up activity are seeded for the report;
              delete the folder to start from scratch)

 Logins (Element: "custom homeserver" {server.url}):
{rows}

 A tour in six steps. Open a second terminal in this folder for each
 person; in the chat, /rooms lists rooms, /go NAME switches, /help helps.
{earlier}
  1. Client writes to the bot      {chat} kim
       Lotse greets kim with a language menu. Answer: 1 (Deutsch),
       then ja (16 or older), then ja (consent to the notice)
  2. Worker takes the case         {chat} anna
       /go Team        then: !bestätigen   (usage rules, once)
                       then: !übernehmen {case}   (the number Lotse posted)
  3. Both chat in the counselling room (anna and kim)
       /join Beratung   (you are then in the room)   → type a message
  4. Client asks for their data    (kim, in the chat with Lotse)
       /go Lotse       then: meine-daten
  5. Admin dry-runs retention      {chat} admin
       /go Lotse Admin then: !probelauf
  6. Leadership report             (admin, in "Lotse Admin")
       !statistik      then: /go Leitung   (the report arrives there)

 Reports from the command line:  {report}
 Ctrl-C stops the bot and the homeserver; run the same command again to
 continue with the same people, rooms and address.
========================================================================
"""
