// Sync All: the confirmation shows the plan of a dry run (what would be created, updated,
// renamed, removed, blocklisted, with the first rows of each), Confirm runs the sync with its
// progress, and the result says what changed in the status card's words. When a sync ends,
// "brevo-sync:changed" is dispatched on document so the rest of the page refreshes itself.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

(() => {
  const URL = "/api/admin/customers/sync-all";
  const POLL_MS = 400;
  // A plan waits for a sweep (or an earlier plan) holding the lock: asked again this often,
  // for as long as a sweep's budget.
  const PLAN_RETRY_MS = 1000;
  const PLAN_WAIT_MS = 300000;
  const MAX_FAILURES_SHOWN = 50;
  const CHANGES = [
    ["creates", "Creates"],
    ["updates", "Updates"],
    ["renames", "Renames (email changes)"],
    ["removals", "Removals"],
    ["blocklists", "Blocklists"],
  ];

  // The page's shared helpers (admin.js, which runs first).
  const { call, node } = window.brevoSync;

  const number = (value) => Number(value || 0).toLocaleString("en-US");

  // --- the plan, in the dialog ---------------------------------------------------------------

  function rowsTable(change, label, rows, count) {
    const section = node("section", "plan-change");
    section.dataset.change = change;
    const heading = node("h3", "", `${label} (${number(count)})`);
    heading.id = `sync-plan-${change}`;
    section.append(heading);
    const table = node("table", "plan-table");
    table.setAttribute("aria-labelledby", heading.id);
    const head = node("tr");
    for (const title of ["Customer", "Name", "Email", "What changes"]) {
      const th = node("th", "", title);
      th.scope = "col";
      head.append(th);
    }
    table.append(node("thead"), node("tbody"));
    table.tHead.append(head);
    for (const row of rows) {
      const tr = node("tr");
      const id = node("td", "plan-id", String(row.customer_id).slice(0, 8));
      id.title = row.customer_id;
      tr.append(id, node("td", "", row.name || "—"), node("td", "", row.email || "—"),
        node("td", "plan-what", row.change));
      table.tBodies[0].append(tr);
    }
    section.append(table);
    if (count > rows.length) section.append(node("p", "plan-more", `and ${number(count - rows.length)} more`));
    return section;
  }

  function showPlan(parts, plan) {
    parts.message.textContent = plan.message;
    parts.message.classList.toggle("warn", Boolean(plan.refused));
    for (const [change] of CHANGES) {
      const dd = parts.counts.querySelector(`[data-plan-count="${change}"]`);
      if (dd) dd.textContent = number(plan.counts[change]);
    }
    parts.counts.hidden = false;
    parts.rows.replaceChildren();
    for (const note of plan.setup || []) parts.rows.append(node("p", "plan-setup", note));
    for (const [change, label] of CHANGES) {
      const rows = (plan.rows && plan.rows[change]) || [];
      if (rows.length) parts.rows.append(rowsTable(change, label, rows, plan.counts[change]));
    }
    // A refused plan would change nothing: there is nothing to confirm.
    parts.confirm.disabled = Boolean(plan.refused);
  }

  async function openPlan(parts) {
    const asked = ++parts.asked;
    parts.message.textContent = "Working out what would change…";
    parts.message.classList.remove("warn");
    parts.counts.hidden = true;
    parts.rows.replaceChildren();
    parts.confirm.disabled = true;
    parts.dialog.returnValue = "";
    parts.dialog.showModal();
    const deadline = Date.now() + PLAN_WAIT_MS;
    for (;;) {
      try {
        const plan = await call("POST", URL, { dry_run: true });
        if (asked === parts.asked && parts.dialog.open) showPlan(parts, plan);
        return;
      } catch (error) {
        if (asked !== parts.asked || !parts.dialog.open) return;
        if (error.status !== 409 || Date.now() > deadline) {
          parts.message.textContent = `Could not work out the plan: ${error.message}`;
          parts.message.classList.add("warn");
          return;
        }
        parts.message.textContent = "A sync is running; the plan follows when it ends…";
        await new Promise((resolve) => setTimeout(resolve, PLAN_RETRY_MS));
      }
    }
  }

  // --- the run, and what it changed ----------------------------------------------------------

  function showSummary(summary) {
    for (const key of ["total", "synced", "pending", "failed"]) {
      const element = document.querySelector(`[data-summary="${key}"]`);
      if (element && summary[key] !== undefined) element.textContent = number(summary[key]);
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

  // "Created 10, updated 1, failed 0; 21 of 21 opted-in customers in Brevo."
  function resultLine(result, figures) {
    const counts = result.counts || {};
    const parts = [`Created ${number(counts.created)}`, `updated ${number(counts.updated)}`];
    if (counts.removed) parts.push(`removed ${number(counts.removed)}`);
    if (counts.blocklisted) parts.push(`blocklisted ${number(counts.blocklisted)}`);
    if (counts.unsubscribed) parts.push(`opted out ${number(counts.unsubscribed)} (unsubscribed in Brevo)`);
    parts.push(`failed ${number(result.failed)}`);
    let text = parts.join(", ");
    if (figures) {
      text += `; ${number(figures.synced)} of ${number(figures.total)} opted-in customers in Brevo`;
      if (figures.pending) text += `, ${number(figures.pending)} pending`;
    }
    return `${text}.`;
  }

  function showResult(box, result, figures) {
    box.replaceChildren();
    box.append(node("p", result.failed ? "result warn" : "result ok", resultLine(result, figures)));
    if (result.message) box.append(node("p", "result", result.message));
    if (result.remaining) {
      box.append(node("p", "result", `${number(result.remaining)} left for the next run (time budget reached).`));
    }
    const failures = (result.results || []).filter((r) => !r.success);
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

  async function figuresNow() {
    try {
      const summary = await call("GET", URL);
      showSummary(summary);
      return summary;
    } catch (_) {
      return null; // the figures on screen stay as last polled
    }
  }

  async function run(parts) {
    const { button, progress, box } = parts;
    button.disabled = true;
    if (box) box.hidden = true;
    if (progress) {
      progress.hidden = false;
      progress.textContent = "Sync running: starting…";
    }
    let running = true;
    const poller = (async () => {
      while (running) {
        try {
          const summary = await call("GET", URL);
          if (!running) break;
          showSummary(summary);
          if (summary.running && progress) progress.textContent = `Sync running: ${describeCounts(summary.running.counts)}`;
        } catch (_) {
          // A missed poll only delays the next figures.
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();
    let result = null;
    try {
      result = await call("POST", URL, {});
      if (progress) progress.textContent = "Sync finished.";
    } catch (error) {
      if (progress) progress.textContent = `Sync failed: ${error.message}`;
    } finally {
      running = false;
      await poller;
      const figures = await figuresNow();
      if (result && box) showResult(box, result, figures);
      button.disabled = false;
      document.dispatchEvent(new CustomEvent("brevo-sync:changed"));
    }
  }

  function start() {
    const button = document.getElementById("sync-all");
    const dialog = document.getElementById("sync-plan");
    if (!button || !dialog) return;
    const parts = {
      button,
      dialog,
      asked: 0,
      message: document.getElementById("sync-plan-message"),
      counts: document.getElementById("sync-plan-counts"),
      rows: document.getElementById("sync-plan-rows"),
      confirm: document.getElementById("sync-plan-confirm"),
      progress: document.getElementById("sync-progress"),
      box: document.getElementById("sync-result"),
    };
    button.addEventListener("click", () => openPlan(parts));
    dialog.addEventListener("close", () => {
      parts.asked += 1; // a plan still on its way is no longer wanted
      if (dialog.returnValue === "confirm") run(parts);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
