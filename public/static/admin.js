// The Clients Manager's buttons: push a row, refresh the mirror (Sync All: sync_all.js).
// Text from the server's JSON is only ever set with textContent; the only HTML taken in is
// the page's own, re-read from the same origin to refresh the counts and the rows.
//
// Contract: after any state-changing action the page dispatches
//   document.dispatchEvent(new CustomEvent("brevo-sync:changed"))
// and the tab counts, the status card, the mirror's age and the visible rows are read again.
"use strict";

(() => {
  const CHANGED = "brevo-sync:changed";
  const AGE_TICK_MS = 30000;
  // The parts of the page a refresh replaces with their fresh copies.
  const REFRESHED = ["tabs", "status-stats", "mirror-age", "view-body"];

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
      error.status = response.status;
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
    span.setAttribute("role", "img");
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
    if (synced) synced.textContent = row.last_synced_at ? when(row.last_synced_at) : "—";
    const differs = cell(tr, "differs");
    if (differs) {
      differs.replaceChildren();
      for (const name of row.differs) differs.append(node("span", "badge diff", name.replace(/_/g, " ")), " ");
      for (const field of row.withheld || []) {
        // The reason is the status cell's note; said once per row.
        differs.append(node("span", "badge withheld", `${field.field} withheld`), " ");
      }
      if (!row.differs.length && !(row.withheld || []).length) differs.append(node("span", "same", "same"));
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
      changed();
    } catch (error) {
      showRowError(tr, error.message);
      button.disabled = false;
    } finally {
      button.textContent = label;
    }
  }

  // --- the page stays true: counts, status card and rows read again after a change ----------

  function changed() {
    document.dispatchEvent(new CustomEvent(CHANGED));
  }

  let reading = null;
  let again = false;

  // Re-read this very page and swap in the fresh parts. Changes arriving while a read is on
  // its way are served by one more read after it, not one each.
  async function refreshView() {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      do {
        again = false;
        try {
          await swapFreshParts();
        } catch (_) {
          // The page keeps what it shows; the next change reads it again.
        }
      } while (again);
    })();
    try {
      await reading;
    } finally {
      reading = null;
    }
  }

  async function swapFreshParts() {
    const response = await fetch(window.location.href, {
      credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store",
    });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.push : undefined;
    for (const id of REFRESHED) {
      const old = document.getElementById(id);
      const replacement = fresh.getElementById(id);
      if (old && replacement) old.replaceWith(document.adoptNode(replacement));
    }
    if (focused) {
      const button = document.querySelector(`button[data-push="${CSS.escape(focused)}"]`);
      if (button && !button.disabled) button.focus();
    }
    stampAge();
  }

  // --- refresh the mirror ------------------------------------------------------------------

  // The button lists every contact (so deletions in Brevo show too); the page's own refresh of
  // a stale Brevo view asks for the incremental listing (modifiedSince), which the mirror
  // widens to a full one when Brevo's count says contacts were deleted.
  async function refresh(button, status, full) {
    button.disabled = true;
    status.textContent = full ? "Listing Brevo's contacts…" : "Reading what changed in Brevo…";
    try {
      const result = await call("POST", "/api/admin/brevo/refresh", full ? { full: true } : {});
      status.textContent = `Refreshed from Brevo: ${result.listed} listed, ${result.pruned} removed, ` +
        `Brevo holds ${result.brevoCount}.`;
      changed();
    } catch (error) {
      status.textContent = `Refresh failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  // --- the mirror's age, kept current while the page stays open ------------------------------

  function stampAge() {
    const element = document.getElementById("mirror-age");
    if (element) element.dataset.shownAt = String(Date.now());
  }

  function ago(seconds) {
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    const days = Math.floor(seconds / 86400);
    return `${days} day${days > 1 ? "s" : ""} ago`;
  }

  // The age the server gave, plus the time since it was shown. A Brevo view left open reads
  // Brevo again once the mirror is older than the server's limit.
  function tickAge(refreshButton, refreshStatus) {
    const element = document.getElementById("mirror-age");
    if (!element || element.dataset.ageSeconds === undefined) return;
    const age = Number(element.dataset.ageSeconds) + (Date.now() - Number(element.dataset.shownAt)) / 1000;
    element.textContent = `Read from Brevo ${ago(age)}`;
    if (element.dataset.view === "brevo" && age > Number(element.dataset.staleAfter) &&
        !refreshButton.disabled) {
      refresh(refreshButton, refreshStatus, false);
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
      refreshButton.addEventListener("click", () => refresh(refreshButton, refreshStatus, true));
      const age = document.getElementById("mirror-age");
      if (age && age.dataset.view === "brevo" && age.dataset.stale === "true") {
        refresh(refreshButton, refreshStatus, false);
      }
      stampAge();
      setInterval(() => tickAge(refreshButton, refreshStatus), AGE_TICK_MS);
    }
    document.addEventListener(CHANGED, () => { refreshView(); });
  }

  // sync_all.js, deferred after this file, shares these.
  window.brevoSync = Object.freeze({ call, node });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
