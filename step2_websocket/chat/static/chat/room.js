// The room: one WebSocket to the server, and a log of what it says.
const roomName = JSON.parse(document.querySelector("#room-name-data").textContent);
const chatLog = document.querySelector("#chat-log");
const messageInput = document.querySelector("#chat-message-input");
const connectionStatus = document.querySelector("#connection-status");
const framesLog = document.querySelector("#frames-log");

const STATE_LABELS = { connecting: "Connecting…", open: "Connected", closed: "Disconnected" };

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
  if (frame.type === "welcome") {
    addToLog(`Connected to room ${frame.room}.`, "notice");
  } else if (frame.type === "echo") {
    addToLog(frame.message, "message");
  } else if (frame.type === "error") {
    addToLog(frame.detail, "notice error");
  }
});

function send(content) {
  const text = JSON.stringify(content);
  socket.send(text);
  logFrame("sent", text);
}

// The form still posts without JavaScript; with it, messages go over the socket instead.
document.querySelector("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!messageInput.value.trim() || socket.readyState !== WebSocket.OPEN) {
    return;
  }
  send({ message: messageInput.value });
  messageInput.value = "";
  messageInput.focus();
});
