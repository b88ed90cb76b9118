"""`/_sandbox/calls`: simulated inbound calls that move a CCaaS contact through its states and
push the matching vendor webhooks (docs/sandbox.md "Simulated calls").

Timeline: INITIATED at once (contact QUEUED, routed to the agent: it rings at their desk, so
the agent is on the contact from the start and the screen pop can be built while it rings) ->
after ringMs CONNECTED_TO_AGENT (CONNECTED) -> after idvAfterMs CONTACT_DATA_UPDATED (IdvResult
set);
`POST /_sandbox/calls/{id}/end` -> DISCONNECTED (ENDED) -> COMPLETED shortly after. Every state
change is made before its webhook is scheduled, so a receiver that reads the contacts API on
an event sees at least that state.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from .control import caller_of, json_object
from .data import Dataset
from .http import BadRequest, Handler, Request, Response, error
from .webhooks import Poster, ccaas_event

IDV = ("PASSED", "FAILED", "NOT_ATTEMPTED")
MAX_DELAY_MS = 600_000  # ten minutes: longer is a mistake, not a simulation
DEFAULT_RING_MS = 500
DEFAULT_IDV_AFTER_MS = 1000
WRAP_UP_S = 0.05  # DISCONNECTED -> COMPLETED (after-contact work, compressed)
_AGENT = re.compile(r"[A-Za-z0-9._-]{1,64}")
_END = re.compile(r"calls/([0-9a-f-]{36})/end")


@dataclass(slots=True)
class Call:
    interaction_id: str
    agent_id: str
    idv: str
    connected: bool = False
    ended: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _delay(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DELAY_MS:
        raise BadRequest(f"{name} must be an integer between 0 and {MAX_DELAY_MS}")
    return value


class Calls:
    def __init__(self, data: Dataset, poster: Poster | None) -> None:
        self.data = data
        self.poster = poster  # None: states still change, nothing is posted
        self.calls: dict[str, Call] = {}

    def routes(self) -> dict[str, Handler]:
        return {"POST /calls": self.start}

    def match(self, method: str, rest: str) -> Handler | None:
        """The handler for `POST /_sandbox/calls/{id}/end` (the one parameterised route)."""
        found = _END.fullmatch(rest) if method == "POST" else None
        if found is None:
            return None
        interaction_id = found.group(1)
        return lambda request: self.end(interaction_id)

    def start(self, request: Request) -> Response:
        body = json_object(request)
        caller = caller_of(self.data, body)
        agent = body.get("agentId")
        if not isinstance(agent, str) or not _AGENT.fullmatch(agent):
            raise BadRequest("agentId must be 1-64 letters, digits, '.', '_' or '-'")
        idv = body.get("idv", "NOT_ATTEMPTED")
        if idv not in IDV:
            raise BadRequest(f"idv must be one of: {', '.join(IDV)}")
        ring_ms = _delay(body, "ringMs", DEFAULT_RING_MS)
        idv_after_ms = _delay(body, "idvAfterMs", DEFAULT_IDV_AFTER_MS)
        if isinstance(caller, str):  # a caller the CCaaS system has no profile for
            contact_id = self.data.start_unknown_contact(
                caller, agent, "NOT_ATTEMPTED", "VOICE", None, state="QUEUED"
            )
        else:
            contact_id = self.data.start_contact(
                caller, agent, "NOT_ATTEMPTED", "VOICE", None, state="QUEUED"
            )
        call = self.calls[contact_id] = Call(contact_id, agent, idv)
        self._post(call, "INITIATED")
        self._spawn(call, self._timeline(call, ring_ms / 1000, idv_after_ms / 1000))
        return Response(201, orjson.dumps({"interactionId": contact_id}))

    def end(self, interaction_id: str) -> Response:
        call = self.calls.get(interaction_id)
        if call is None:
            return error(404, f"no call {interaction_id}")
        if call.ended:
            return error(409, f"call {interaction_id} has already ended")
        call.ended = True
        for task in list(call.tasks):  # a call ended while ringing never connects
            task.cancel()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.data.update_live_contact(
            interaction_id, {"State": "ENDED", "DisconnectTimestamp": now}
        )
        self._post(call, "DISCONNECTED", agent=call.connected)
        self._spawn(call, self._complete(call))
        return Response(200, orjson.dumps({"interactionId": interaction_id, "state": "ENDED"}))

    def cancel(self) -> None:
        """Stop every timeline (shutdown)."""
        for call in self.calls.values():
            for task in list(call.tasks):
                task.cancel()

    def _spawn(self, call: Call, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)

    def _post(self, call: Call, event_type: str, *, agent: bool = False, idv: bool = False) -> None:
        if self.poster is None:
            return
        payload = ccaas_event(
            event_type,
            call.interaction_id,
            agent_id=call.agent_id if agent else None,
            idv=call.idv if idv else None,
        )
        self.poster.send("ccaas", payload, key=call.interaction_id)

    async def _timeline(self, call: Call, ring_s: float, idv_after_s: float) -> None:
        await asyncio.sleep(ring_s)
        self.data.update_live_contact(
            call.interaction_id, {"State": "CONNECTED", "AgentId": call.agent_id}
        )
        call.connected = True
        self._post(call, "CONNECTED_TO_AGENT", agent=True)
        await asyncio.sleep(idv_after_s)
        self.data.update_live_contact(call.interaction_id, {"IdvResult": call.idv})
        self._post(call, "CONTACT_DATA_UPDATED", agent=True, idv=True)

    async def _complete(self, call: Call) -> None:
        await asyncio.sleep(WRAP_UP_S)
        self._post(call, "COMPLETED", agent=call.connected)
