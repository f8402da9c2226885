// The codesift search page: vanilla JS, no dependencies, talks only to this gateway.
// Untrusted text (queries, paths, code) only ever reaches the page through text nodes and
// attributes (el() below), never parsed as HTML.

import { authorizedFetch } from "/static/token.js";

const DEFAULT_K = "10";
const FEEDBACK_URL = "/api/telemetry/event";
const CLICK_RETRY_DELAYS_MS = [1000, 3000, 10000]; // a click is sent in the background: retried alone

const ui = {
  form: document.getElementById("search-form"),
  q: document.getElementById("q"),
  repo: document.getElementById("repo"),
  k: document.getElementById("k"),
  error: document.getElementById("search-error"),
  count: document.getElementById("result-count"),
  reranker: document.getElementById("reranker"),
  results: document.getElementById("results"),
  stackStatus: document.getElementById("stack-status"),
  noteForm: document.getElementById("note-form"),
  note: document.getElementById("note"),
  noteStatus: document.getElementById("note-status"),
  noteRetry: document.getElementById("note-retry"),
  chunkView: document.getElementById("chunk-view"),
  chunkTitle: document.getElementById("chunk-view-title"),
  chunkRepo: document.getElementById("chunk-view-repo"),
  chunkCode: document.getElementById("chunk-view-code"),
  chunkCopy: document.getElementById("chunk-copy"),
};
const controlOfField = new Map([["q", ui.q], ["k", ui.k], ["repo", ui.repo]]);

/** The AbortController of the search in flight, or null. */
let running = null;

/** The search whose results are shown, as feedback names it: { queryId, query, repo }, or null. */
let shown = null;

/** The snippet in the focused view (what "Copy code" copies). */
let viewedSnippet = "";

// ---------------------------------------------------------------- DOM

/** Create an element: props are properties (className, value, ...), `dataset`, or attributes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children); // strings become text nodes
  return node;
}

/** Select `value`, adding it as an option first when the list lacks it (a shared link's repo). */
function selectValue(select, value) {
  if (![...select.options].some((option) => option.value === value)) {
    select.append(el("option", { value }, value));
  }
  select.value = value;
}

// ---------------------------------------------------------------- URL <-> form

function readUrl() {
  const params = new URLSearchParams(window.location.search);
  return { q: params.get("q") ?? "", k: params.get("k") || DEFAULT_K, repo: params.get("repo") ?? "" };
}

function readForm() {
  return { q: ui.q.value, k: ui.k.value, repo: ui.repo.value };
}

function fillForm({ q, k, repo }) {
  ui.q.value = q;
  selectValue(ui.k, k);
  selectValue(ui.repo, repo);
}

function pageUrl({ q, k, repo }) {
  const params = new URLSearchParams({ q });
  if (k !== DEFAULT_K) params.set("k", k);
  if (repo) params.set("repo", repo);
  return `/?${params}`;
}

function apiUrl({ q, k, repo }) {
  const params = new URLSearchParams({ q, k });
  if (repo) params.set("repo", repo);
  return `/api/search?${params}`;
}

// ---------------------------------------------------------------- search

async function search(params) {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  showError(null);
  document.title = `${params.q} – codesift`;
  ui.results.setAttribute("aria-busy", "true");
  ui.count.textContent = "Searching…";
  try {
    const response = await authorizedFetch(apiUrl(params), {
      signal: controller.signal,
      headers: { Accept: "application/json" },
    });
    const body = await response.json().catch(() => null);
    if (response.ok && body) showResponse(body, params);
    else showFailure(response.status, body);
  } catch (error) {
    if (error.name !== "AbortError") showFailure(0, null);
  } finally {
    if (running === controller) {
      running = null;
      ui.results.removeAttribute("aria-busy");
    }
  }
}

function clearResults() {
  shown = null;
  delete ui.results.dataset.queryId;
  ui.results.replaceChildren();
  ui.count.textContent = "";
  ui.reranker.textContent = "";
  ui.noteForm.hidden = true;
}

function showResponse(response, params) {
  shown = { queryId: response.query_id, query: response.query, repo: params.repo || null };
  ui.results.dataset.queryId = response.query_id; // links clicks and feedback to this search
  const n = response.results.length;
  ui.count.textContent =
    n === 0 ? `No results for “${response.query}”` : `${n} result${n === 1 ? "" : "s"} for “${response.query}”`;
  ui.reranker.textContent = `reranker: ${response.reranker}`;
  ui.results.replaceChildren(...response.results.map((hit, index) => renderResult(hit, index + 1)));
  resetNote();
}

function showFailure(status, body) {
  clearResults();
  const detail = body?.detail ?? (status ? `HTTP ${status}` : "the codesift gateway did not answer");
  const what = status === 400 ? "Invalid search" : status === 503 ? "Search is unavailable" : "Search failed";
  showError(`${what}: ${detail}`, body?.field);
}

/** Show `message` in the alert (null hides it); mark and focus the control `field` names. */
function showError(message, field = null) {
  for (const control of controlOfField.values()) control.removeAttribute("aria-invalid");
  ui.error.hidden = !message;
  ui.error.textContent = message ?? "";
  const control = controlOfField.get(field);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
}

// ---------------------------------------------------------------- one result

/**
 * One result: where it is, its repository, language and score, the code with line numbers, and
 * its feedback controls. Opening it (its location is a button) shows the chunk in a focused view
 * and records a click; thumbs up / down record an explicit rating. The list's data-query-id and
 * the item's data-position identify the impression the feedback is about.
 */
function renderResult(hit, position) {
  const location = `${hit.path}:${hit.start_line}-${hit.end_line}`;
  const item = el("li", {
    className: "result",
    "data-testid": "result",
    dataset: { docId: hit.doc_id, position: String(position) },
  });
  const about = { doc_id: hit.doc_id, position, repo: hit.repo };
  let click = null; // the click event, sent once per result and search

  const open = el(
    "button",
    { type: "button", className: "result-open", "aria-haspopup": "dialog", "data-testid": "result-open" },
    location,
  );
  open.addEventListener("click", () => {
    openChunk(hit, location);
    if (click) return;
    click = feedbackEvent({ ...about, rating: 5, source: "click" });
    item.dataset.click = "sending";
    sendInBackground(click, CLICK_RETRY_DELAYS_MS).then(
      () => (item.dataset.click = "sent"),
      () => (item.dataset.click = "failed"),
    );
  });

  item.append(
    el(
      "header",
      { className: "result-header" },
      el("h2", { className: "result-location", "data-testid": "result-location" }, open),
      el("span", { className: "badge", title: "repository", "data-testid": "result-repo" }, hit.repo),
      el("span", { className: "badge", title: "language", "data-testid": "result-language" }, hit.language),
      el("span", { className: "score", "data-testid": "result-score" }, `score ${formatScore(hit.score)}`),
    ),
    renderCode(hit.snippet, hit.start_line, location),
    renderThumbs(about, location),
  );
  return item;
}

/** Thumbs up / down on one result: toggle buttons of which at most one is pressed. */
function renderThumbs(about, location) {
  const thumb = (testid, direction, label) =>
    el(
      "button",
      { type: "button", className: "thumb secondary", "aria-pressed": "false", "data-testid": testid },
      el("span", { className: `thumb-icon thumb-${direction}`, "aria-hidden": "true" }),
      label,
    );
  const up = thumb("thumbs-up", "up", "Useful");
  const down = thumb("thumbs-down", "down", "Not useful");
  const state = renderFeedbackState(() => (down.getAttribute("aria-pressed") === "true" ? down : up));
  const ratings = new Map([
    [up, { rating: 5, source: "thumbs_up" }],
    [down, { rating: 1, source: "thumbs_down" }],
  ]);
  for (const [button, rating] of ratings) {
    button.addEventListener("click", () => {
      if (button.getAttribute("aria-pressed") === "true") {
        state.sender.retryIfFailed(); // already chosen: only a send that failed goes again
        return;
      }
      for (const other of ratings.keys()) other.setAttribute("aria-pressed", String(other === button));
      state.sender.send(feedbackEvent({ ...about, ...rating }));
    });
  }
  return el(
    "div",
    { className: "result-feedback", role: "group", "aria-label": `Feedback on ${location}` },
    el("span", { className: "feedback-prompt" }, "Was this useful?"),
    up,
    down,
    state.node,
  );
}

/** The code of one result, one element per line; the number is drawn from data-line by CSS. */
function renderCode(snippet, startLine, location) {
  // Focusable so keyboard users can scroll long lines.
  const label = `code at ${location}`;
  return el("pre", { className: "code", tabIndex: 0, "aria-label": label }, codeLines(snippet, startLine));
}

function codeLines(snippet, startLine) {
  const lines = snippet.replace(/\r?\n$/, "").split(/\r?\n/);
  return el(
    "code",
    {},
    ...lines.map((text, index) => el("span", { className: "line", dataset: { line: String(startLine + index) } }, text)),
  );
}

/** Show one chunk in the focused view: long lines wrap, nothing else on the page competes. */
function openChunk(hit, location) {
  ui.chunkTitle.textContent = location;
  ui.chunkRepo.textContent = hit.repo;
  ui.chunkCode.setAttribute("aria-label", `code at ${location}`);
  ui.chunkCode.replaceChildren(codeLines(hit.snippet, hit.start_line));
  ui.chunkCopy.textContent = "Copy code";
  ui.chunkView.dataset.docId = hit.doc_id;
  viewedSnippet = hit.snippet;
  ui.chunkView.showModal();
}

function formatScore(score) {
  return Number.isFinite(score) ? score.toFixed(3) : String(score);
}

// ---------------------------------------------------------------- feedback

/** A fresh event id: a v4 UUID (crypto.randomUUID exists only on https and localhost pages). */
function newEventId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A feedback event about the shown search; `fields` say what about it (doc_id, rating, source, ...). */
function feedbackEvent(fields) {
  const event = {
    event_id: newEventId(),
    query: shown.query,
    query_id: shown.queryId,
    timestamp: new Date().toISOString(),
    ...fields,
  };
  if (!event.repo) delete event.repo;
  return event;
}

class FeedbackError extends Error {
  constructor(message, retryable) {
    super(message);
    this.retryable = retryable;
  }
}

/** POST one event; resolves once the gateway answered 202 (the event is stored). */
async function postFeedback(event) {
  let response;
  try {
    response = await authorizedFetch(FEEDBACK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(event),
      keepalive: true, // a click sent just before the user leaves the page still arrives
    });
  } catch {
    throw new FeedbackError("the codesift gateway did not answer", true);
  }
  if (response.status === 202) return;
  const body = await response.json().catch(() => null);
  throw new FeedbackError(body?.detail ?? `HTTP ${response.status}`, response.status >= 500);
}

/** Send `event`, sending the same event (same id: stored once) again after each delay while it fails. */
async function sendInBackground(event, delays) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await postFeedback(event);
    } catch (error) {
      if (!error.retryable || attempt >= delays.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, delays[attempt]));
    }
  }
}

/**
 * Sends a control's events and shows how it went in `status`; a failed event can be sent again
 * with `retry`. `home()` is where keyboard focus goes when the Retry button it was on disappears.
 */
class FeedbackSender {
  constructor(status, retry, home) {
    this.status = status;
    this.retryButton = retry;
    this.home = home;
    this.event = null;
    this.state = "idle";
    retry.addEventListener("click", () => this.retryIfFailed());
  }

  /** Resolves true once `event` is stored, false when sending it failed (the status says why). */
  async send(event) {
    this.event = event;
    this.show("sending", "Sending…");
    try {
      await postFeedback(event);
      if (this.event === event) this.show("sent", "Thanks — sent");
      return true;
    } catch (error) {
      if (this.event === event) this.show("failed", `Not sent: ${error.message}`);
      return false;
    }
  }

  retryIfFailed() {
    return this.state === "failed" ? this.send(this.event) : Promise.resolve(false);
  }

  show(state, text) {
    this.state = state;
    this.status.dataset.state = state;
    this.status.textContent = text;
    if (state !== "failed" && document.activeElement === this.retryButton) this.home().focus();
    this.retryButton.hidden = state !== "failed";
  }

  reset() {
    this.event = null;
    this.show("idle", "");
  }
}

/** A status line and its Retry button, for the feedback controls of one result. */
function renderFeedbackState(home) {
  const status = el("span", { className: "feedback-status", role: "status", "data-testid": "feedback-status" });
  const retry = el(
    "button",
    { type: "button", className: "secondary", hidden: true, "data-testid": "feedback-retry" },
    "Retry",
  );
  return {
    node: el("span", { className: "feedback-state" }, status, retry),
    sender: new FeedbackSender(status, retry, home),
  };
}

const noteSender = new FeedbackSender(ui.noteStatus, ui.noteRetry, () => ui.note);

/** Show an empty note box for the search just shown. */
function resetNote() {
  ui.note.value = "";
  ui.note.removeAttribute("aria-invalid");
  noteSender.reset();
  ui.noteForm.hidden = false;
}

async function sendNote() {
  const text = ui.note.value.trim();
  if (!text) {
    ui.note.setAttribute("aria-invalid", "true");
    noteSender.show("invalid", "Type what was missing first.");
    ui.note.focus();
    return;
  }
  ui.note.removeAttribute("aria-invalid");
  if (noteSender.state === "failed" && noteSender.event.note === text) {
    await noteSender.retryIfFailed(); // the same note again: the same event, stored once
    return;
  }
  const note = feedbackEvent({ doc_id: "", rating: 1, source: "note", repo: shown.repo, note: text });
  const sent = await noteSender.send(note);
  if (sent && ui.note.value.trim() === text) ui.note.value = "";
}

// ---------------------------------------------------------------- stack health

async function loadHealth() {
  let health = null;
  try {
    const response = await fetch("/api/health", { headers: { Accept: "application/json" } });
    health = await response.json();
  } catch {
    // handled below: health stays null
  }
  if (!health?.bus) {
    showStack("down", "The codesift gateway does not answer.");
    return;
  }
  const repos = Object.entries(health.index.repos).sort(([a], [b]) => a.localeCompare(b));
  const chosen = ui.repo.value;
  ui.repo.replaceChildren(
    el("option", { value: "" }, "All repositories"),
    ...repos.map(([name, chunks]) => el("option", { value: name }, `${name} (${chunks} chunks)`)),
  );
  selectValue(ui.repo, chosen);
  showStack(health.status, describeHealth(health));
}

function describeHealth(health) {
  if (health.status === "down") {
    return `The message bus at ${health.bus.url} is unreachable: start the stack with \`codesift up\`.`;
  }
  const n = health.replicas.length;
  if (n === 0) return "No search replica answers: start the stack with `codesift up`.";
  const replicas = `${n} search replica${n === 1 ? "" : "s"}`;
  if (health.index.version === null) return `${replicas}, no index yet: run \`codesift index PATH\`.`;
  const repoCount = Object.keys(health.index.repos).length;
  return `${replicas} · ${health.index.chunks} chunks in ${repoCount} repositor${repoCount === 1 ? "y" : "ies"}`;
}

function showStack(status, text) {
  ui.stackStatus.dataset.status = status;
  ui.stackStatus.textContent = text;
}

// ---------------------------------------------------------------- wiring

/** Show the search `params` describe (from the URL): run it, or clear the page when q is empty. */
function showSearch(params) {
  fillForm(params);
  if (params.q.trim()) {
    search(params);
  } else {
    running?.abort();
    clearResults();
    showError(null);
    document.title = "codesift";
  }
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const params = readForm();
  if (!params.q.trim()) {
    showError("Type what you are looking for.", "q");
    return;
  }
  const url = pageUrl(params);
  if (url !== window.location.pathname + window.location.search) window.history.pushState(null, "", url);
  search(params);
});

window.addEventListener("popstate", () => showSearch(readUrl()));

ui.noteForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (shown) sendNote();
});

if (navigator.clipboard) {
  ui.chunkCopy.hidden = false;
  ui.chunkCopy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(viewedSnippet);
      ui.chunkCopy.textContent = "Copied";
    } catch {
      ui.chunkCopy.textContent = "Copy failed";
    }
  });
}

showSearch(readUrl());
loadHealth();
