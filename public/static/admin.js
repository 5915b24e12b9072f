// The Clients Manager's buttons: push a row, sync all with live progress, refresh the mirror.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

(() => {
  const POLL_MS = 400;
  const MAX_FAILURES_SHOWN = 50;
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
      if (row.hard_bounce_at) inBrevo.append(" ", node("span", "badge warn",
        `email undeliverable (hard bounce at ${row.hard_bounce_at})`));
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

  // --- sync all, with the counts moving while it runs --------------------------------------

  function showSummary(summary) {
    for (const key of ["total", "synced", "pending", "failed"]) {
      const element = document.querySelector(`[data-summary="${key}"]`);
      if (element) element.textContent = Number(summary[key]).toLocaleString("en-US");
    }
  }

  // The sweep's counts (brevo_sync.runs.counts): its phase, then how far the pushes are.
  function describeCounts(counts) {
    const data = counts || {};
    const phase = typeof data.phase === "string" ? data.phase : "running";
    const shown = ["queued", "synced", "failed", "remaining"]
      .filter((key) => typeof data[key] === "number")
      .map((key) => `${key} ${data[key]}`);
    return shown.length ? `${phase} — ${shown.join(" · ")}` : phase;
  }

  function showResult(box, result) {
    box.replaceChildren();
    const failures = (result.results || []).filter((r) => !r.success);
    if (result.message) box.append(node("p", "result", result.message));
    box.append(node("p", result.failed ? "result warn" : "result ok",
      `Synced ${result.synced}, failed ${result.failed} of ${result.total}.`));
    if (result.remaining) {
      box.append(node("p", "result", `${result.remaining} left for the next run (time budget reached).`));
    }
    if (failures.length) {
      const list = node("ul", "failures");
      for (const failure of failures.slice(0, MAX_FAILURES_SHOWN)) {
        const item = node("li");
        item.append(node("strong", "", failure.email || failure.customerId), " — ",
          node("span", "reason", failure.message || failure.error || "failed"));
        list.append(item);
      }
      box.append(list);
      if (failures.length > MAX_FAILURES_SHOWN) {
        box.append(node("p", "", `and ${failures.length - MAX_FAILURES_SHOWN} more (see Sync history).`));
      }
    }
    const reload = node("a", "reload", "Show the updated list");
    reload.href = window.location.href;
    box.append(reload);
    box.hidden = false;
  }

  async function syncAll(button, progress, box) {
    button.disabled = true;
    box.hidden = true;
    progress.hidden = false;
    progress.textContent = "Sync running: starting…";
    let running = true;
    const poller = (async () => {
      while (running) {
        try {
          const summary = await call("GET", "/api/admin/customers/sync-all");
          if (!running) break;
          showSummary(summary);
          if (summary.running) progress.textContent = `Sync running: ${describeCounts(summary.running.counts)}`;
        } catch (_) {
          // A missed poll only delays the next figures.
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();
    try {
      showResult(box, await call("POST", "/api/admin/customers/sync-all", {}));
      progress.textContent = "Sync finished.";
    } catch (error) {
      progress.textContent = `Sync failed: ${error.message}`;
    } finally {
      running = false;
      await poller;
      try {
        showSummary(await call("GET", "/api/admin/customers/sync-all"));
      } catch (_) {
        // The figures on screen stay as last polled.
      }
      button.disabled = false;
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
    const syncButton = document.getElementById("sync-all");
    const dialog = document.getElementById("confirm-sync");
    if (syncButton && dialog) {
      const progress = document.getElementById("sync-progress");
      const box = document.getElementById("sync-result");
      syncButton.addEventListener("click", () => {
        dialog.returnValue = "";
        dialog.showModal();
      });
      dialog.addEventListener("close", () => {
        if (dialog.returnValue === "confirm") syncAll(syncButton, progress, box);
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
