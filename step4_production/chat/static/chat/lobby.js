// The lobby: remember the display name, then go to the room.
const usernameInput = document.querySelector("#username-input");
const roomNameInput = document.querySelector("#room-name-input");

usernameInput.value = localStorage.getItem("chat-username") || "";

document.querySelector("#lobby-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!roomNameInput.reportValidity()) {
    return;
  }
  localStorage.setItem("chat-username", usernameInput.value.trim());
  window.location.pathname = `/chat/${encodeURIComponent(roomNameInput.value)}/`;
});
