// The codesift search page: vanilla JS, no dependencies, talks only to this gateway.
// Untrusted text (queries, paths, code) only ever reaches the page through text nodes and
// attributes (el() below), never parsed as HTML.

const DEFAULT_K = "10";

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
};
const controlOfField = new Map([["q", ui.q], ["k", ui.k], ["repo", ui.repo]]);

/** The AbortController of the search in flight, or null. */
let running = null;

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
    const response = await fetch(apiUrl(params), {
      signal: controller.signal,
      headers: { Accept: "application/json" },
    });
    const body = await response.json().catch(() => null);
    if (response.ok && body) showResponse(body);
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
  delete ui.results.dataset.queryId;
  ui.results.replaceChildren();
  ui.count.textContent = "";
  ui.reranker.textContent = "";
}

function showResponse(response) {
  ui.results.dataset.queryId = response.query_id; // links clicks and feedback to this search
  const n = response.results.length;
  ui.count.textContent =
    n === 0 ? `No results for “${response.query}”` : `${n} result${n === 1 ? "" : "s"} for “${response.query}”`;
  ui.reranker.textContent = `reranker: ${response.reranker}`;
  ui.results.replaceChildren(...response.results.map((hit, index) => renderResult(hit, index + 1)));
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
 * One result: where it is, its repository, language and score, and the code with line numbers.
 * Per-result features (click-to-open, thumbs up/down, "what was missing?") belong here; the list's
 * data-query-id and the item's data-position identify the impression they give feedback on.
 */
function renderResult(hit, position) {
  const location = `${hit.path}:${hit.start_line}-${hit.end_line}`;
  return el(
    "li",
    { className: "result", "data-testid": "result", dataset: { docId: hit.doc_id, position: String(position) } },
    el(
      "header",
      { className: "result-header" },
      el("h2", { className: "result-location", "data-testid": "result-location" }, location),
      el("span", { className: "badge", title: "repository", "data-testid": "result-repo" }, hit.repo),
      el("span", { className: "badge", title: "language", "data-testid": "result-language" }, hit.language),
      el("span", { className: "score", "data-testid": "result-score" }, `score ${formatScore(hit.score)}`),
    ),
    renderCode(hit.snippet, hit.start_line, location),
  );
}

/** The snippet as a code block, one element per line; the number is drawn from data-line by CSS. */
function renderCode(snippet, startLine, location) {
  const lines = snippet.replace(/\r?\n$/, "").split(/\r?\n/);
  const code = el(
    "code",
    {},
    ...lines.map((text, index) => el("span", { className: "line", dataset: { line: String(startLine + index) } }, text)),
  );
  // Focusable so keyboard users can scroll long lines.
  return el("pre", { className: "code", tabIndex: 0, "aria-label": `code at ${location}` }, code);
}

function formatScore(score) {
  return Number.isFinite(score) ? score.toFixed(3) : String(score);
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

showSearch(readUrl());
loadHealth();
