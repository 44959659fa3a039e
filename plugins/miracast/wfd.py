"""Sans-I/O Wi-Fi Display sink (WFD 1.0 M1–M16), driven by a state table.

The sink is the RTSP *client* of the source, yet the source speaks first (M1). Feed the bytes
read from the source with ``receive_data()``; it returns events and queues bytes to write, taken
with ``data_to_send()``. The caller asks for an IDR (M13) with ``request_idr()`` and ends with
``teardown()``. No sockets, no clock: timers (reply timeouts, keep-alive watchdog) live in the
caller, which also closes TCP once ``Ended`` was returned.

Requests from the source are looked up in ``REQUEST_TABLE`` by (state, kind); kinds are
``M1`` (OPTIONS), ``M3`` (GET_PARAMETER with names), ``M16`` (GET_PARAMETER without body), ``M4``
(SET_PARAMETER with values), ``M5-<trigger>``. Responses are matched by CSeq against the sink's
own outstanding requests (CSeq counters are per direction).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

import attrs

from receiver_core import RemoteProtocolError

from .params import (
    ParameterError,
    Selection,
    SinkCapabilities,
    answer_m3,
    parse_m4,
    parse_names,
    parse_values,
    trigger_method,
)
from .rtsp import Message, Request, Response, RtspParser

__all__ = ["State", "WfdSink", "WfdError", "FormatsSelected", "Playing", "Paused", "KeepAlive", "Ended",
           "REQUEST_TABLE", "aggregate_url"]

WFD_REQUIRE = "org.wfa.wfd1.0"
PARAMETER_URL = "rtsp://localhost/wfd1.0"
_SESSION_ID = re.compile(r"[A-Za-z0-9$\-_.+]{1,64}")
_STREAM_SUFFIX = re.compile(r"/streamid=[0-9]+$")
MAX_OUTSTANDING = 8


class WfdError(RemoteProtocolError):
    """The source broke the Wi-Fi Display exchange."""


class State(enum.Enum):
    WAIT_M1 = "wait-m1"  # TCP up, the source speaks first
    CAPABILITIES = "capabilities"  # M1 answered, M2 sent; M3/M4 exchange
    SETUP = "setup"  # M6 sent (or about to be), waiting for the session
    PLAY = "play"  # M7 sent
    PLAYING = "playing"
    PAUSED = "paused"
    TEARDOWN = "teardown"  # M8 sent, waiting for the reply
    ENDED = "ended"


# ------------------------------------------------------------------------------------------ events


@attrs.frozen
class FormatsSelected:
    """M4 accepted: the source's selection (video, audio, presentation URL, ports)."""

    selection: Selection


@attrs.frozen
class Playing:
    session_id: str


@attrs.frozen
class Paused:
    pass


@attrs.frozen
class KeepAlive:
    """An M16 was answered."""


@attrs.frozen
class Ended:
    """The exchange is over (teardown done, or refused): close TCP now."""

    reason: str


Event = FormatsSelected | Playing | Paused | KeepAlive | Ended


def aggregate_url(presentation_url: str) -> str:
    """``rtsp://h:p/wfd1.0/streamid=0`` → ``rtsp://h:p/wfd1.0`` (gst-rtsp-server answers 460 otherwise)."""
    return _STREAM_SUFFIX.sub("", presentation_url)


# -------------------------------------------------------------------------------------------- sink


Handler = Callable[["WfdSink", Request], list[Event]]
_ALL_LIVE = (State.WAIT_M1, State.CAPABILITIES, State.SETUP, State.PLAY, State.PLAYING, State.PAUSED)
_AFTER_M1 = _ALL_LIVE[1:]


class WfdSink:
    def __init__(self, caps: SinkCapabilities) -> None:
        self.caps = caps
        self.state = State.WAIT_M1
        self.parser = RtspParser()
        self.selection = Selection()
        self.presentation_url: str | None = None
        self.session_id: str | None = None
        self.session_timeout: int | None = None
        self.source_public: str | None = None
        self.idr_requests = 0
        self.keepalives = 0
        self._cseq = 0
        self._outstanding: dict[int, tuple[str, str]] = {}  # cseq -> (kind, url)
        self._out = bytearray()
        self._teardown_urls: list[str] = []

    # -------------------------------------------------------------------------------- public API

    def receive_data(self, data: bytes) -> list[Event]:
        """Bytes from the source; raises ``RemoteProtocolError`` subclasses on bad input."""
        events: list[Event] = []
        for message in self.parser.feed(data):
            events += self._receive(message)
        return events

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def request_idr(self) -> bool:
        """Send M13 (``wfd_idr_request``) when playing; returns whether one was sent."""
        if self.state is not State.PLAYING:
            return False
        self.idr_requests += 1
        self._send_request("M13", "SET_PARAMETER", PARAMETER_URL, body=b"wfd_idr_request\r\n",
                           content_type="text/parameters", session=True)
        return True

    def teardown(self) -> list[Event]:
        """Send M8 to the aggregate URL (falls back to the presentation URL on a 4xx)."""
        if self.state in (State.TEARDOWN, State.ENDED):
            return []
        if self.session_id is None or self.presentation_url is None:
            return self._end("closed before a session existed")
        aggregate = aggregate_url(self.presentation_url)
        self._teardown_urls = [aggregate] + ([self.presentation_url] if aggregate != self.presentation_url else [])
        self.state = State.TEARDOWN
        self._send_request("M8", "TEARDOWN", self._teardown_urls.pop(0))
        return []

    # ----------------------------------------------------------------------------------- dispatch

    def _receive(self, message: Message) -> list[Event]:
        if self.state is State.ENDED:
            return []  # talking after the end (fluxcast's M16 after TEARDOWN): nothing to say any more
        if isinstance(message, Response):
            return self._response(message)
        kind = self._classify(message)
        handler = REQUEST_TABLE.get((self.state, kind))
        if handler is None:
            self._reply(message, 455, "Method Not Valid in This State")
            if self.state is State.WAIT_M1:
                raise WfdError(f"{message.method} before M1")
            return []
        return handler(self, message)

    def _classify(self, request: Request) -> str:
        if request.method == "OPTIONS":
            return "M1"
        if request.method == "GET_PARAMETER":
            return "M3" if request.body.strip() else "M16"
        if request.method == "SET_PARAMETER":
            try:
                trigger = trigger_method(parse_values(request.body))
            except ParameterError:
                return "M4"  # reported as the M4 parse error
            return f"M5-{trigger}" if trigger else "M4"
        return request.method

    # ------------------------------------------------------------------------------- the requests

    def _on_m1(self, request: Request) -> list[Event]:
        require = request.header("Require") or ""
        if WFD_REQUIRE not in require:
            self._reply(request, 551, "Option not supported")
            raise WfdError("M1 without Require: org.wfa.wfd1.0")
        self._reply(request, 200, extra=(("Public", f"{WFD_REQUIRE}, SET_PARAMETER, GET_PARAMETER"),))
        self.state = State.CAPABILITIES
        self._send_request("M2", "OPTIONS", "*", extra=(("Require", WFD_REQUIRE),))
        return []

    def _on_m3(self, request: Request) -> list[Event]:
        try:
            names = parse_names(request.body)
        except ParameterError:
            self._reply(request, 400, "Bad Request")
            raise
        self._reply(request, 200, body=answer_m3(names, self.caps), content_type="text/parameters")
        return []

    def _on_m4(self, request: Request) -> list[Event]:
        try:
            selection = parse_m4(request.body)
        except ParameterError:
            self._reply(request, 400, "Bad Request")
            raise
        if selection.content_protection not in (None, "none"):
            self._reply(request, 406, "Not Acceptable")
            raise WfdError("the source selected content protection (HDCP is not supported)")
        self.selection = _merge(self.selection, selection)
        if selection.presentation_url is not None:
            self.presentation_url = selection.presentation_url
        self._reply(request, 200)
        return [FormatsSelected(self.selection)]

    def _on_m16(self, request: Request) -> list[Event]:
        self.keepalives += 1
        self._reply(request, 200, session=True)
        return [KeepAlive()]

    def _on_trigger_setup(self, request: Request) -> list[Event]:
        if self.presentation_url is None or self.selection.rtp_ports is None:
            self._reply(request, 455, "Method Not Valid in This State")
            raise WfdError("trigger SETUP before M4 set the presentation URL and ports")
        self._reply(request, 200)
        self.state = State.SETUP
        self._send_request("M6", "SETUP", self.presentation_url, extra=(
            ("Transport", f"RTP/AVP/UDP;unicast;client_port={self.caps.rtp_port}"),))
        return []

    def _on_trigger_play(self, request: Request) -> list[Event]:
        self._reply(request, 200)
        self._send_play()
        return []

    def _on_trigger_pause(self, request: Request) -> list[Event]:
        self._reply(request, 200)
        self._send_request("M9", "PAUSE", self._url(), session=True)
        return []

    def _on_trigger_teardown(self, request: Request) -> list[Event]:
        self._reply(request, 200)
        return self.teardown()

    def _on_options_again(self, request: Request) -> list[Event]:
        self._reply(request, 200, extra=(("Public", f"{WFD_REQUIRE}, SET_PARAMETER, GET_PARAMETER"),))
        return []

    def _acknowledge(self, request: Request) -> list[Event]:
        """Answer 200 and change nothing (a PLAY trigger while playing; anything after M8)."""
        self._reply(request, 200, session=True)
        return []

    # ------------------------------------------------------------------------------ the responses

    def _response(self, response: Response) -> list[Event]:
        entry = self._outstanding.pop(response.cseq, None)
        if entry is None:
            raise WfdError(f"reply with CSeq {response.cseq} to no request of the sink")
        kind, _url = entry
        if kind == "M2":
            public = response.header("Public") or ""
            if response.status != 200 or WFD_REQUIRE not in public:
                raise WfdError(f"the source refused M2 ({response.status})")
            self.source_public = public
            return []
        if kind == "M6":
            return self._on_setup_reply(response)
        if kind == "M7":
            if response.status != 200:
                raise WfdError(f"the source refused PLAY ({response.status})")
            self.state = State.PLAYING
            return [Playing(self.session_id or "")]
        if kind == "M9":
            if response.status == 200:
                self.state = State.PAUSED
                return [Paused()]
            return []
        if kind == "M8":
            if response.status in (200, 454) or not self._teardown_urls or response.status < 400:
                return self._end("teardown")
            self._send_request("M8", "TEARDOWN", self._teardown_urls.pop(0))  # e.g. 460 to one of the URLs
            return []
        return []  # M13: a refused IDR request changes nothing

    def _on_setup_reply(self, response: Response) -> list[Event]:
        if response.status != 200:
            raise WfdError(f"the source refused SETUP ({response.status})")
        session = response.header("Session") or ""
        session_id, _sep, params = session.partition(";")
        session_id = session_id.strip()
        if not _SESSION_ID.fullmatch(session_id):
            raise WfdError(f"bad Session header {session[:40]!r}")
        self.session_id = session_id
        match = re.search(r"timeout=([0-9]{1,4})", params)
        self.session_timeout = int(match.group(1)) if match else None
        self._send_play()
        return []

    def _send_play(self) -> None:
        if self.session_id is None:
            raise WfdError("trigger PLAY before a session exists")
        self.state = State.PLAY
        self._send_request("M7", "PLAY", self._url(), session=True)

    # -------------------------------------------------------------------------------------- output

    def _url(self) -> str:
        if self.presentation_url is None:
            raise WfdError("no presentation URL yet")
        return self.presentation_url

    def _end(self, reason: str) -> list[Event]:
        self.state = State.ENDED
        return [Ended(reason)]

    def _send_request(self, kind: str, method: str, url: str, *, body: bytes = b"", content_type: str | None = None,
                      session: bool = False, extra: tuple[tuple[str, str], ...] = ()) -> None:
        if len(self._outstanding) >= MAX_OUTSTANDING:
            raise WfdError("the source leaves the sink's requests unanswered")
        self._cseq += 1
        headers: list[tuple[str, str]] = [("CSeq", str(self._cseq))]
        if session and self.session_id:
            headers.append(("Session", self.session_id))
        headers += extra
        if content_type:
            headers.append(("Content-Type", content_type))
        self._outstanding[self._cseq] = (kind, url)
        self._out += Request(method, url, tuple(headers), body).to_bytes()

    def _reply(self, request: Request, status: int, reason: str = "OK", *, body: bytes = b"",
               content_type: str | None = None, session: bool = False,
               extra: tuple[tuple[str, str], ...] = ()) -> None:
        headers: list[tuple[str, str]] = [("CSeq", str(request.cseq))]
        if session and self.session_id:
            headers.append(("Session", self.session_id))
        headers += extra
        if content_type:
            headers.append(("Content-Type", content_type))
        self._out += Response(status, reason, tuple(headers), body).to_bytes()


def _merge(old: Selection, new: Selection) -> Selection:
    """A renegotiating M4 may carry only some parameters: keep the others."""
    return Selection(
        video=new.video or old.video,
        audio=new.audio if (new.audio or new.audio_none) else old.audio,
        audio_none=new.audio_none or (old.audio_none and new.audio is None),
        presentation_url=new.presentation_url or old.presentation_url,
        rtp_ports=new.rtp_ports or old.rtp_ports,
        content_protection=new.content_protection or old.content_protection,
        other=new.other or old.other,
    )


def _table() -> dict[tuple[State, str], Handler]:
    table: dict[tuple[State, str], Handler] = {(State.WAIT_M1, "M1"): WfdSink._on_m1}
    for state in _AFTER_M1:
        table[(state, "M1")] = WfdSink._on_options_again
        table[(state, "M3")] = WfdSink._on_m3  # renegotiation may repeat M3/M4 while streaming
        table[(state, "M4")] = WfdSink._on_m4
        table[(state, "M16")] = WfdSink._on_m16
        table[(state, "M5-TEARDOWN")] = WfdSink._on_trigger_teardown
    table[(State.CAPABILITIES, "M5-SETUP")] = WfdSink._on_trigger_setup
    table[(State.PAUSED, "M5-PLAY")] = WfdSink._on_trigger_play
    table[(State.PLAYING, "M5-PAUSE")] = WfdSink._on_trigger_pause
    table[(State.PLAYING, "M5-PLAY")] = WfdSink._acknowledge  # already playing: just acknowledge
    for kind in ("M1", "M3", "M4", "M16", "M5-SETUP", "M5-PLAY", "M5-PAUSE", "M5-TEARDOWN"):
        table[(State.TEARDOWN, kind)] = WfdSink._acknowledge  # fluxcast keeps sending M16 after M8
    return table


REQUEST_TABLE: dict[tuple[State, str], Handler] = _table()
