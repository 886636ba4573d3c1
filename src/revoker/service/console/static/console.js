// revoker console: a little progressive enhancement. Every page works without it.
"use strict";

// The overview's live part (chart, replica, store) refreshes itself.
function refreshLive() {
  const live = document.getElementById("live");
  if (!live) return;
  const url = live.dataset.refresh;
  const seconds = Math.max(5, Number(live.dataset.seconds) || 10);
  let failures = 0;
  const tick = async () => {
    if (!document.hidden) {
      try {
        const response = await fetch(url, { credentials: "same-origin", redirect: "error" });
        if (response.status === 401) { window.location.assign("/console/login"); return; }
        if (!response.ok) throw new Error(String(response.status));
        live.innerHTML = await response.text();
        failures = 0;
      } catch (error) {
        failures += 1;
      }
    }
    if (failures < 5) window.setTimeout(tick, seconds * 1000);
  };
  window.setTimeout(tick, seconds * 1000);
}

// The issuer-wide cut-off: the confirm button waits for the issuer's URL, typed again.
// (The server checks it too; this only saves a round trip.)
function typedConfirmation() {
  const typed = document.getElementById("typed");
  const confirm = document.getElementById("confirm");
  if (!typed || !confirm) return;
  const update = () => { confirm.disabled = typed.value.trim() !== typed.dataset.expected; };
  typed.addEventListener("input", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  refreshLive();
  typedConfirmation();
});
