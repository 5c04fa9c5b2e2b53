// The room: a WebSocket to the server, over which everyone in the room hears every message.
const roomName = JSON.parse(document.querySelector("#room-name-data").textContent);
// The logged-in user's username, or "" for an anonymous visitor.
const signedInAs = JSON.parse(document.querySelector("#signed-in-as-data").textContent);
const chatLog = document.querySelector("#chat-log");
const messageInput = document.querySelector("#chat-message-input");
const connectionStatus = document.querySelector("#connection-status");
const framesLog = document.querySelector("#frames-log");
const userList = document.querySelector("#user-list");

const STATE_LABELS = { connecting: "Connecting…", open: "Connected", closed: "Disconnected" };
const MAX_USERNAME_LENGTH = 32;
// The server's close code for a socket whose session ended (logged out, password changed).
const SESSION_ENDED = 4401;

// An anonymous visitor's name comes from the lobby; without one, make one up and keep it.
function displayName() {
  let name = (localStorage.getItem("chat-username") || "").trim().slice(0, MAX_USERNAME_LENGTH);
  if (!name) {
    name = `guest-${Math.floor(1000 + Math.random() * 9000)}`;
    localStorage.setItem("chat-username", name);
  }
  return name;
}

const username = signedInAs || displayName();

// This page's key: sent on every reconnect, so the room lists the page once, as one member.
// It stays in this tab (sessionStorage); the room only ever sees a hash of it.
function memberKey() {
  let key = sessionStorage.getItem("chat-member-key");
  if (!key) {
    key = newClientId();
    sessionStorage.setItem("chat-member-key", key);
  }
  return key;
}
document.querySelector("#identity").textContent = signedInAs
  ? `Signed in as ${signedInAs}.`
  : `You are ${username} (not signed in).`;

function setSocketState(state) {
  connectionStatus.dataset.socket = state;
  connectionStatus.textContent = STATE_LABELS[state];
}

// The frames panel: every frame and socket event, raw, with its direction and time.
function logFrame(direction, text) {
  const entry = document.createElement("li");
  entry.className = `frame frame-${direction}`;
  const time = new Date().toLocaleTimeString([], { hour12: false });
  entry.textContent = `${time} ${direction} ${text}`;
  framesLog.append(entry);
}

// Text from the network is always inserted as text (textContent), never as HTML.
function addToLog(text, className) {
  const line = document.createElement("p");
  line.className = className;
  line.textContent = text;
  chatLog.append(line);
  chatLog.scrollTop = chatLog.scrollHeight;
}

// A name as the page shows it. A guest's is followed by the word "guest", as text: a check mark
// after a signed-in user's name could be typed into a guest's.
function nameLabel(user, nameClass) {
  const name = document.createElement("span");
  name.className = nameClass;
  name.textContent = user.username;
  if (user.authenticated) {
    return [name];
  }
  const guest = document.createElement("span");
  guest.className = "guest";
  guest.textContent = "guest";
  return [name, " ", guest];
}

// Every message is shown once, in order: the server numbers a room's messages 1, 2, 3...
// and, like the server, the page knows a message by its number.
const shownSequences = new Set();
let lastSequence = 0;

function showMessage(message) {
  forgetPending(message.client_id);
  if (shownSequences.has(message.sequence)) {
    return;
  }
  shownSequences.add(message.sequence);
  // A message older than the newest one shown (the answer to a resend can be) goes in its place.
  const later =
    message.sequence < lastSequence
      ? [...chatLog.querySelectorAll(".message")].find((shown) => Number(shown.dataset.sequence) > message.sequence)
      : null;
  lastSequence = Math.max(lastSequence, message.sequence);

  const item = document.createElement("article");
  item.className = "message";
  item.dataset.id = message.id;
  item.dataset.sequence = message.sequence;
  item.classList.toggle("own", message.username === username && message.authenticated === Boolean(signedInAs));
  item.classList.toggle("authenticated", message.authenticated);
  item.classList.toggle("announcement", message.announcement);

  const header = document.createElement("header");
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.textContent = new Date(message.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  header.append(...nameLabel(message, "sender"), " ", time);
  const text = document.createElement("p");
  text.className = "text";
  text.textContent = message.message;
  item.append(header, text);

  chatLog.insertBefore(item, later || null);
  chatLog.scrollTop = chatLog.scrollHeight;
}

// Who is here: one entry per open socket, listed by name.
const members = new Map();

function renderUserList() {
  const names = new Map();
  for (const member of members.values()) {
    names.set(`${member.authenticated}:${member.username}`, member);
  }
  const items = [...names.values()]
    .sort((a, b) => a.username.localeCompare(b.username))
    .map((member) => {
      const item = document.createElement("li");
      item.append(...nameLabel(member, "name"));
      item.classList.toggle("authenticated", member.authenticated);
      return item;
    });
  userList.replaceChildren(...items);
}

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`.replace(".", "");
}

// Messages typed but not yet confirmed by the server, by client_id. They are sent again after a
// reconnect; the server saves a client_id only once in a room, so a resend never duplicates one.
const pending = new Map();

function forgetPending(clientId) {
  const entry = pending.get(clientId);
  if (entry) {
    entry.element.remove();
    pending.delete(clientId);
  }
}

// Frames leave one at a time, at most one every SEND_INTERVAL ms (under the server's default
// rate limit of 5 a second), so that a page resending many messages after a reconnect never
// trips its own limit. `outbox` holds the client_ids waiting for their turn.
const SEND_INTERVAL = 300;
const outbox = [];
let pacing = null;

function sendInTurn(clientId, wait = 0) {
  outbox.push(clientId);
  if (!pacing) {
    pacing = setTimeout(sendNext, wait);
  }
}

function sendNext() {
  pacing = null;
  while (outbox.length) {
    const entry = pending.get(outbox.shift());
    if (entry && socket.readyState === WebSocket.OPEN) {
      send(entry.frame);
      pacing = setTimeout(sendNext, SEND_INTERVAL);
      return;
    }
  }
}

function markNotSent(clientId, reason) {
  const entry = pending.get(clientId);
  if (entry) {
    entry.element.className = "pending failed";
    entry.element.textContent = `Not sent (${reason}): ${entry.frame.message}`;
    pending.delete(clientId);
  }
}

let socket = null;
let reconnectAttempts = 0;

function send(content) {
  const text = JSON.stringify(content);
  socket.send(text);
  logFrame("sent", text);
}

function connect() {
  setSocketState("connecting");
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  // After a reconnect, ask only for the messages this page has not shown yet.
  const query = new URLSearchParams({ username, member: memberKey() });
  if (lastSequence) {
    query.set("after", lastSequence);
  }
  socket = new WebSocket(`${scheme}://${window.location.host}/ws/chat/${roomName}/?${query}`);

  socket.addEventListener("open", () => {
    setSocketState("open");
    logFrame("event", "open");
    if (reconnectAttempts > 0) {
      addToLog("Reconnected.", "notice");
    }
    reconnectAttempts = 0;
    // Everything not yet confirmed, oldest first.
    outbox.length = 0;
    pending.forEach((entry, clientId) => sendInTurn(clientId));
  });

  socket.addEventListener("close", (event) => {
    setSocketState("closed");
    logFrame("event", `close, code ${event.code}`);
    members.clear();
    renderUserList();
    if (event.code === SESSION_ENDED) {
      // A new socket would be a guest's: the page must be loaded again to say so.
      for (const clientId of [...pending.keys()]) {
        markNotSent(clientId, "signed out");
      }
      addToLog("You were signed out. Reload the page to go on.", "notice error");
      return;
    }
    // 1001 (going away) and 1012 (service restart): the server is stopping on purpose and
    // another one is ready, so try again at once. Otherwise after 1, 2, 4... up to 30 seconds,
    // with jitter so a restarted server is not hit by every browser at the same moment.
    const stopping = (event.code === 1001 || event.code === 1012) && reconnectAttempts === 0;
    const delay = stopping ? 0 : Math.min(30000, 1000 * 2 ** reconnectAttempts) * (0.5 + Math.random() / 2);
    reconnectAttempts += 1;
    addToLog(`Disconnected (code ${event.code}). Reconnecting in ${Math.round(delay / 1000)} s…`, "notice error");
    setTimeout(connect, delay);
  });

  socket.addEventListener("message", (event) => {
    logFrame("received", event.data);
    const frame = JSON.parse(event.data);
    if (frame.type === "history") {
      frame.messages.forEach(showMessage);
    } else if (frame.type === "chat.message") {
      showMessage(frame);
    } else if (frame.type === "user.list") {
      members.clear();
      frame.users.forEach((member) => members.set(member.id, member));
      renderUserList();
    } else if (frame.type === "user.joined") {
      members.set(frame.user.id, frame.user);
      renderUserList();
    } else if (frame.type === "user.left") {
      members.delete(frame.user.id);
      renderUserList();
    } else if (frame.type === "error" && frame.code === "rate_limited" && pending.size) {
      // Too fast after all (the server's limit is lower, or another tab shares it). The server
      // refuses such a frame unread, so the error cannot say which message it was: every one
      // not yet confirmed waits its turn again. A client_id is saved only once.
      pending.forEach((entry, clientId) => outbox.includes(clientId) || sendInTurn(clientId, 1000));
    } else if (frame.type === "error") {
      addToLog(frame.detail, "notice error");
      markNotSent(frame.client_id, frame.code);
    }
  });
}

document.querySelector("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const message = messageInput.value.trim();
  if (!message) {
    return;
  }
  const frame = { message, username, client_id: newClientId() };
  const element = document.createElement("p");
  element.className = "pending";
  element.dataset.clientId = frame.client_id;
  element.textContent = `Sending: ${message}`;
  chatLog.append(element);
  pending.set(frame.client_id, { frame, element });
  sendInTurn(frame.client_id);
  messageInput.value = "";
  messageInput.focus();
});

connect();
