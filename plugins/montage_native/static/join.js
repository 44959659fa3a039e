// Join page of the box: meeting ID + PIN + name, then the screen (and optionally camera/mic) over WebRTC.
// Signalling: versioned JSON over a WebSocket to the same origin (see signalling.py). No external requests.
"use strict";

const VERSION = 1;
const MESSAGES = {
  "bad-message": "The box did not understand this page. Reload it and try again.",
  "unsupported-version": "This page is out of date. Reload it.",
  "wrong-meeting": "That meeting ID is not the one on the screen.",
  "pin-required": "Enter the PIN shown on the screen.",
  "wrong-pin": "Wrong PIN. Check the PIN shown on the screen.",
  "locked-out": "Too many attempts. Wait a little before trying again.",
  "box-full": "The screen is full: someone has to stop sharing first.",
  "rejected": "The box did not let you in.",
  "blocked": "You were blocked from this screen.",
  "unsupported-media": "Your browser offered no video the box can show.",
  "timeout": "The box waited too long. Try again.",
  "internal": "The box had a problem. Try again.",
};
const NOTICES = {
  "waiting-approval": "Waiting for approval on the screen…",
  "queued": "Queued: you will be on screen when there is room.",
  "on-screen": "You are on the screen.",
  "removed": "You were removed from the screen by the moderator.",
};
const ENDINGS = {
  "kicked": "You were removed from the screen by the moderator.",
  "blocked": "You were blocked from this screen by the moderator.",
  "preempted": "Someone else started sharing and took your place on the screen.",
};

const VIEW_BACK = {
  "full": "Too many people are watching the room's screen already.",
  "off": "This box does not offer the room's screen.",
};

const $ = (id) => document.getElementById(id);
const state = { phase: "idle", error: null, notice: null, connection: "new", sessionId: null, viewBack: "none",
                camera: false, mic: false };
window.__state = state;
let ws = null, pc = null, streams = [], roomTransceiver = null, viewBackOffered = false;
// The camera and microphone: their own senders (negotiated up front, without a track while off), so
// turning them on or off during sharing is a replaceTrack, with no new offer.
let cameraTrack = null, micTrack = null, cameraSender = null, micSender = null;

function show(text, kind) {
  $("message").textContent = text || "";
  $("message").className = kind || "";
}
function setPhase(phase, text) {
  state.phase = phase;
  $("state").textContent = text;
  const live = !["idle", "ended", "error"].includes(phase);
  $("share").hidden = live;
  $("stop").hidden = !live;
  showDeviceButtons(live);
}

function showDeviceButtons(live) {
  $("camera-toggle").hidden = !live;
  $("camera-toggle").textContent = state.camera ? "Turn camera off" : "Turn camera on";
  $("mic-toggle").hidden = !live;
  $("mic-toggle").textContent = state.mic ? "Turn microphone off" : "Turn microphone on";
}

function clientToken() {
  let token = null;
  try { token = localStorage.getItem("montage-client-token"); } catch (e) { /* storage off */ }
  if (!token || !/^[A-Za-z0-9_-]{8,64}$/.test(token)) {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    try { localStorage.setItem("montage-client-token", token); } catch (e) { /* storage off */ }
  }
  return token;
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(Object.assign({ v: VERSION }, message)));
}

function cleanup() {
  if (pc) { pc.close(); pc = null; }
  roomTransceiver = null;
  $("room-video").srcObject = null;
  $("room").hidden = true;
  for (const s of streams) for (const t of s.getTracks()) t.stop();
  streams = [];
  cameraTrack = micTrack = cameraSender = micSender = null;
  state.camera = state.mic = false;
  if (ws) { const old = ws; ws = null; try { old.close(); } catch (e) { /* closed */ } }
}

function stopSharing(reason) {
  send({ type: "bye", reason: reason || "stopped" });
  cleanup();
  setPhase("ended", "Stopped");
}

async function capture() {
  // ?quality=720 or 360 asks for 1280x720 or 640x360 (slow laptops, and the box's tests); default 1080p
  const sizes = { "720": [1280, 720], "360": [640, 360] };
  const [w, h] = sizes[new URLSearchParams(location.search).get("quality")] || [1920, 1080];
  const screen = await navigator.mediaDevices.getDisplayMedia({
    video: { width: { ideal: w }, height: { ideal: h }, frameRate: { ideal: 30 } }, audio: false });
  streams.push(screen);
  const missing = [];
  if ($("camera").checked) await setCamera(true).catch(() => missing.push("camera"));
  if ($("mic").checked) await setMic(true).catch(() => missing.push("microphone"));
  if (missing.length) show(missing.join(" and ") + " not available: sharing without.", "info");
  for (const t of screen.getVideoTracks()) {
    t.contentHint = "detail";
    t.addEventListener("ended", () => stopSharing("screen capture ended"));
  }
}

// Camera and microphone, on and off at any time: a new capture on, its track stopped off. While
// sharing, the sender's track is replaced (the box shows the camera as an inset of this screen and
// takes it away a moment after its frames stop).
async function setCamera(on) {
  if (on === state.camera) return;
  if (on) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    streams.push(stream);
    cameraTrack = stream.getVideoTracks()[0];
    cameraTrack.addEventListener("ended", () => { setCamera(false).catch(() => {}); });
  } else {
    const old = cameraTrack;
    cameraTrack = null;
    if (old) old.stop();
  }
  if (cameraSender) await cameraSender.replaceTrack(cameraTrack);
  state.camera = on;
  showDeviceButtons(!$("stop").hidden);
}

async function setMic(on) {
  if (on === state.mic) return;
  if (on) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: false, audio: true });
    streams.push(stream);
    micTrack = stream.getAudioTracks()[0];
  } else {
    const old = micTrack;
    micTrack = null;
    if (old) old.stop();
  }
  if (micSender) await micSender.replaceTrack(micTrack);
  state.mic = on;
  showDeviceButtons(!$("stop").hidden);
}

function toggle(setter, current, what) {
  setter(!current()).catch((e) => show(what + " not available: " + e.message, "info"));
}

function waitForGathering(peer, ms) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
    peer.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

async function negotiate(iceServers) {
  const params = new URLSearchParams(location.search);
  const config = { iceServers: iceServers || [] };
  if (params.get("policy") === "relay") config.iceTransportPolicy = "relay";
  pc = new RTCPeerConnection(config);
  pc.addEventListener("connectionstatechange", () => {
    if (!pc) return;
    state.connection = pc.connectionState;
    if (pc.connectionState === "connected") setPhase("sharing", "Sharing your screen");
    if (pc.connectionState === "failed") { show("The connection to the box failed.", ""); cleanup(); setPhase("error", "Connection failed"); }
  });
  // order matters to the box: the screen is the first video, the camera the second, then the microphone
  const screen = streams[0];
  for (const track of screen.getVideoTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [screen] });
  cameraSender = pc.addTransceiver(cameraTrack || "video", { direction: "sendonly" }).sender;
  micSender = pc.addTransceiver(micTrack || "audio", { direction: "sendonly" }).sender;
  if (viewBackOffered && $("viewback").checked) watchRoom();
  await pc.setLocalDescription(await pc.createOffer());
  await waitForGathering(pc, 3000);
  send({ type: "offer", sdp: pc.localDescription.sdp });
  setPhase("connecting", "Connecting…");
}

// View-back: a receive-only video section; the box sends the room's composite in it (VP8 preferred).
function watchRoom() {
  roomTransceiver = pc.addTransceiver("video", { direction: "recvonly" });
  const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
  if (caps && roomTransceiver.setCodecPreferences) {
    const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
    const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== "video/vp8");
    try { roomTransceiver.setCodecPreferences(vp8.concat(rest)); } catch (e) { /* keep the default order */ }
  }
  pc.addEventListener("track", (event) => {
    if (event.transceiver !== roomTransceiver) return;
    $("room-video").srcObject = new MediaStream([event.track]);
  });
}

function showViewBack(status) {
  state.viewBack = status || "none";
  if (!roomTransceiver) return;
  $("room").hidden = false;
  $("room-video").hidden = state.viewBack !== "on";
  $("room-state").textContent = VIEW_BACK[state.viewBack] || "";
}

async function onAnswer(sdp) {
  await pc.setRemoteDescription({ type: "answer", sdp });
  for (const sender of pc.getSenders()) {
    if (!sender.track || sender.track.kind !== "video") continue;
    const p = sender.getParameters();
    p.degradationPreference = "maintain-resolution";
    try { await sender.setParameters(p); } catch (e) { /* older browsers */ }
  }
}

function onMessage(event) {
  let m;
  try { m = JSON.parse(event.data); } catch (e) { return; }
  if (!m || m.v !== VERSION) return;
  if (m.type === "joined") {
    state.sessionId = m.sessionId;
    if (m.state === "queued") show(NOTICES.queued, "info"); else show("");
    negotiate(m.iceServers).catch((e) => { show("Could not start sharing: " + e.message); stopSharing("negotiation failed"); });
  } else if (m.type === "answer") {
    showViewBack(m.viewBack);
    onAnswer(m.sdp).catch((e) => { show("The box's answer was refused: " + e.message); stopSharing("bad answer"); });
  } else if (m.type === "moderation") {
    state.notice = m.notice;
    const text = m.notice === "removed" ? (ENDINGS[m.message] || "The box ended your session: " + m.message + ".")
                                        : (NOTICES[m.notice] || m.message);
    show(text, m.notice === "removed" ? "" : "info");
    if (m.notice === "removed") { cleanup(); setPhase("ended", "Removed"); }
  } else if (m.type === "error") {
    state.error = m.code;
    let text = MESSAGES[m.code] || m.message;
    if (m.retryAfter) text += " (" + Math.ceil(m.retryAfter) + " s)";
    show(text, "");
    if (m.fatal) { cleanup(); setPhase("error", "Not sharing"); }
  } else if (m.type === "bye") {
    if (state.phase !== "ended") { show("The box ended the session" + (m.reason ? ": " + m.reason : "") + ".", "info"); }
    cleanup();
    setPhase("ended", "Stopped");
  }
}

async function start(event) {
  event.preventDefault();
  show("");
  state.error = null; state.notice = null;
  const meeting = $("meeting").value.replace(/\s+/g, "");
  const pin = $("pin").value.trim();
  const name = $("name").value.trim().slice(0, 64);
  if (!/^[0-9]{1,16}$/.test(meeting)) { show("Enter the meeting ID shown on the screen."); return; }
  if (pin && !/^[0-9]{1,16}$/.test(pin)) { show("The PIN is digits only."); return; }
  setPhase("capturing", "Choose what to share…");
  try {
    await capture();
  } catch (e) {
    cleanup(); setPhase("idle", "Not connected"); show("Screen sharing was not allowed: " + e.message); return;
  }
  setPhase("joining", "Joining…");
  ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.addEventListener("message", onMessage);
  ws.addEventListener("open", () => {
    const join = { type: "join", meetingId: meeting, name, clientToken: clientToken() };
    if (pin) join.pin = pin;
    send(join);
  });
  ws.addEventListener("close", () => {
    if (["joining", "connecting", "sharing"].includes(state.phase)) {
      cleanup(); setPhase("ended", "Disconnected");
      if (!$("message").textContent) show("The connection to the box closed.");
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  const m = params.get("m");
  if (m && /^[0-9]{1,16}$/.test(m)) $("meeting").value = m;
  $("join").addEventListener("submit", start);
  $("stop").addEventListener("click", () => stopSharing("stopped by the user"));
  $("camera-toggle").addEventListener("click", () => toggle(setCamera, () => state.camera, "Camera"));
  $("mic-toggle").addEventListener("click", () => toggle(setMic, () => state.mic, "Microphone"));
  // what this box offers beyond sharing: a box with view-back off shows no trace of it
  fetch("/features.json", { cache: "no-store" }).then((r) => r.json()).then((features) => {
    viewBackOffered = features.viewBack === true;
    $("viewback-choice").hidden = !viewBackOffered;
  }).catch(() => { viewBackOffered = false; });
});
