// The room: a WebSocket to the server, over which everyone in the room hears every message.
const roomName = JSON.parse(document.querySelector("#room-name-data").textContent);
// The logged-in user's username, or "" for a guest.
const signedInAs = JSON.parse(document.querySelector("#signed-in-as-data").textContent);
const chatLog = document.querySelector("#chat-log");
const messageInput = document.querySelector("#chat-message-input");
const connectionStatus = document.querySelector("#connection-status");
const framesLog = document.querySelector("#frames-log");

const STATE_LABELS = { connecting: "Connecting…", open: "Connected", closed: "Disconnected" };
// A guest's name is the one typed in the lobby.
const username = signedInAs || localStorage.getItem("chat-username") || "guest";
document.querySelector("#identity").textContent = signedInAs
  ? `Signed in as ${signedInAs}.`
  : `You are ${username} (a guest, not signed in).`;

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

// A message: who sent it and what they wrote, each inserted as text.
function showMessage(message) {
  const line = document.createElement("p");
  line.className = message.authenticated ? "message authenticated" : "message";
  const sender = document.createElement("b");
  sender.className = "sender";
  sender.textContent = message.username;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.message;
  line.append(sender, ": ", text);
  chatLog.append(line);
  chatLog.scrollTop = chatLog.scrollHeight;
}

const scheme = window.location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${scheme}://${window.location.host}/ws/chat/${roomName}/`);

socket.addEventListener("open", () => {
  setSocketState("open");
  logFrame("event", "open");
});

socket.addEventListener("close", (event) => {
  setSocketState("closed");
  logFrame("event", `close, code ${event.code}`);
  addToLog("The connection is closed. Reload the page to reconnect.", "notice error");
});

socket.addEventListener("message", (event) => {
  logFrame("received", event.data);
  const frame = JSON.parse(event.data);
  if (frame.type === "history") {
    frame.messages.forEach(showMessage);
  } else if (frame.type === "chat.message") {
    showMessage(frame);
  } else if (frame.type === "error") {
    addToLog(frame.detail, "notice error");
  }
});

function send(content) {
  const text = JSON.stringify(content);
  socket.send(text);
  logFrame("sent", text);
}

document.querySelector("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!messageInput.value.trim() || socket.readyState !== WebSocket.OPEN) {
    return;
  }
  send({ message: messageInput.value, username });
  messageInput.value = "";
  messageInput.focus();
});
