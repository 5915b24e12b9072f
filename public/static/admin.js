// The Clients Manager's buttons: push a row, refresh the mirror (Sync All: sync_all.js).
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

(() => {
  const FLASH_KEY = "brevo-sync-flash";

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const reason = data && typeof data.error === "string" ? data.error : response.statusText;
      const error = new Error(reason || `HTTP ${response.status}`);
      error.data = data;
      throw error;
    }
    return data;
  }

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }

  function mark(value, yes, no) {
    const span = node("span", `mark ${value ? "yes" : "no"}`, value ? "✓" : "✗");
    span.title = value ? yes : no;
    span.setAttribute("aria-label", span.title);
    return span;
  }

  function when(iso) {
    if (!iso) return "never";
    return `${new Date(iso).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }

  function cell(tr, name) {
    return tr.querySelector(`[data-cell="${name}"]`);
  }

  // --- one row, updated in place after a push -------------------------------------------

  function showRow(tr, row) {
    tr.className = `status-${row.status}`;
    const inBrevo = cell(tr, "in_brevo");
    if (inBrevo) {
      inBrevo.replaceChildren(mark(row.in_brevo, "in Brevo", "not in Brevo"));
      if (row.blocklisted) inBrevo.append(" ", node("span", "badge warn", "blocklisted"));
    }
    const status = cell(tr, "status");
    if (status) {
      status.replaceChildren(node("span", `badge status ${row.status}`, row.status_label));
      if (row.error) status.append(node("span", "error-message", row.error));
      for (const note of row.notes || []) status.append(node("span", "note", note));
    }
    const synced = cell(tr, "last_synced");
    if (synced) synced.textContent = when(row.last_synced_at);
    const differs = cell(tr, "differs");
    if (differs) {
      differs.replaceChildren();
      for (const name of row.differs) differs.append(node("span", "badge diff", name.replace(/_/g, " ")), " ");
      if (!row.differs.length) differs.append(node("span", "same", "same"));
    }
    const button = tr.querySelector("button[data-push]");
    if (button) {
      button.disabled = !row.can_push;
      button.title = row.can_push ? "" : "Already in sync";
    }
  }

  function showRowError(tr, message) {
    const status = cell(tr, "status");
    if (!status) return;
    status.querySelectorAll(".error-message.request").forEach((old) => old.remove());
    status.append(node("span", "error-message request", message));
  }

  async function push(button) {
    const tr = button.closest("tr");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "Pushing…";
    try {
      const result = await call("POST", `/api/admin/customers/${encodeURIComponent(button.dataset.push)}/push`);
      if (result.row) showRow(tr, result.row);
      else button.disabled = false;
    } catch (error) {
      showRowError(tr, error.message);
      button.disabled = false;
    } finally {
      button.textContent = label;
    }
  }

  // --- refresh the mirror ------------------------------------------------------------------

  async function refresh(button, status) {
    button.disabled = true;
    status.textContent = "Listing Brevo's contacts…";
    try {
      const result = await call("POST", "/api/admin/brevo/refresh", {});
      const note = `Refreshed from Brevo: ${result.listed} listed, ${result.pruned} removed, ` +
        `Brevo holds ${result.brevoCount}.`;
      sessionStorage.setItem(FLASH_KEY, note);
      window.location.reload();
    } catch (error) {
      status.textContent = `Refresh failed: ${error.message}`;
      button.disabled = false;
    }
  }

  function start() {
    const table = document.getElementById("rows");
    if (table) {
      table.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-push]");
        if (button && !button.disabled) push(button);
      });
    }
    const refreshButton = document.getElementById("refresh-brevo");
    const refreshStatus = document.getElementById("refresh-status");
    if (refreshButton && refreshStatus) {
      const flash = sessionStorage.getItem(FLASH_KEY);
      if (flash) {
        refreshStatus.textContent = flash;
        sessionStorage.removeItem(FLASH_KEY);
      }
      refreshButton.addEventListener("click", () => refresh(refreshButton, refreshStatus));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
