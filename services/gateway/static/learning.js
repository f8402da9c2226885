// The reranker page's "Continuous learning" card: the schedule the trainer reports
// (GET /api/reranker/schedule), refreshed every few seconds. Text reaches the page as text nodes only.

import { authorizedFetch, withToken } from "/static/token.js";

const REFRESH_MS = 5000;
const ids = ["summary", "after", "every", "since", "last", "next"];
const ui = Object.fromEntries(ids.map((id) => [id, document.getElementById(`learning-${id}`)]));

function when(seconds) {
  const date = new Date(seconds * 1000);
  const node = document.createElement("time");
  node.dateTime = date.toISOString();
  node.title = date.toISOString();
  node.textContent = date.toLocaleString();
  return node;
}

function show(node, ...parts) {
  node.replaceChildren(...parts.map((part) => (typeof part === "string" ? document.createTextNode(part) : part)));
}

function renderSchedule(schedule) {
  if (!schedule.enabled) {
    show(ui.summary, "Manual: set CODESIFT_LEARN_AFTER_EVENTS and/or CODESIFT_LEARN_EVERY to mine and train by itself.");
  } else {
    show(ui.summary, "Mines and trains by itself; the evaluator and the gated promoter take it from there.");
  }
  show(ui.after, schedule.after_events ? `${schedule.after_events} new feedback events` : "–");
  show(ui.every, schedule.every ?? "–");
  show(ui.since, `${schedule.events_since_last} (of ${schedule.events_total} stored)`);
  if (schedule.last_run_at === null) show(ui.last, "never");
  else show(ui.last, when(schedule.last_run_at), ` · ${schedule.last_run_id}: ${schedule.last_outcome || "running"}`);
  if (schedule.running) show(ui.next, `running (${schedule.running})`);
  else if (schedule.events_needed === null && schedule.next_run_at === null) show(ui.next, "off");
  else {
    const parts = [];
    if (schedule.events_needed !== null) parts.push(`after ${schedule.events_needed} more events`);
    if (schedule.next_run_at !== null) parts.push(parts.length ? " or at " : "at ", when(schedule.next_run_at));
    show(ui.next, ...parts);
  }
}

/** The first load may ask for the token (with the rest of the page); the refreshes never do. */
async function loadSchedule(ask) {
  const headers = { Accept: "application/json" };
  try {
    const url = "/api/reranker/schedule";
    const response = ask ? await authorizedFetch(url, { headers }) : await fetch(url, { headers: withToken(headers) });
    const body = await response.json().catch(() => null);
    if (response.ok && body) renderSchedule(body);
    else show(ui.summary, body?.detail ?? `HTTP ${response.status}`);
  } catch {
    show(ui.summary, "the codesift gateway did not answer");
  }
}

loadSchedule(true);
setInterval(() => loadSchedule(false), REFRESH_MS);
