// The reranker page's online experiments: start one on a candidate model, stop it, and the tally
// of each (wins / losses / ties of the candidate against production, the sign test's p-value).
// Reads GET /api/reranker/experiments; text from the server only reaches the page as text nodes.

import { authorizedFetch } from "/static/token.js";

const POLL_MS = 5000; // the tallies are read again this often while an experiment runs

const ui = {
  form: document.getElementById("experiment-form"),
  model: document.getElementById("experiment-model"),
  start: document.getElementById("experiment-start"),
  stop: document.getElementById("experiment-stop"),
  error: document.getElementById("experiment-error"),
  empty: document.getElementById("experiments-empty"),
  rows: document.getElementById("experiments"),
  refresh: document.getElementById("refresh"),
};

let timer = null;

function cell(text, className = "") {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function showError(message) {
  ui.error.hidden = !message;
  ui.error.textContent = message ?? "";
}

async function call(path, method = "GET", body = undefined) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  try {
    const response = await authorizedFetch(path, options);
    return { status: response.status, body: await response.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}

function failure({ status, body }) {
  if (status === 0) return "the codesift gateway did not answer";
  return body?.detail ?? `HTTP ${status}`;
}

function pValue(p) {
  return p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

function renderTally(tally) {
  const row = document.createElement("tr");
  row.dataset.experiment = tally.experiment_id;
  row.append(
    cell(tally.experiment_id, "mono"),
    cell(tally.version, "mono"),
    cell(tally.running ? "running" : "stopped"),
    cell(String(tally.wins), "num"),
    cell(String(tally.losses), "num"),
    cell(String(tally.ties), "num"),
    cell(pValue(tally.p_value), "num"),
    cell(tally.winner ?? "not yet"),
  );
  row.querySelector("td:nth-child(4)").dataset.testid = "experiment-wins";
  row.querySelector("td:nth-child(7)").dataset.testid = "experiment-p";
  row.querySelector("td:nth-child(8)").dataset.testid = "experiment-winner";
  return row;
}

export async function loadExperiments() {
  const answer = await call("/api/reranker/experiments");
  if (answer.status !== 200) {
    showError(`Experiments: ${failure(answer)}`);
    return;
  }
  const { running, experiments } = answer.body;
  ui.rows.replaceChildren(...experiments.map(renderTally));
  ui.empty.hidden = experiments.length > 0;
  ui.stop.hidden = !running;
  ui.start.disabled = Boolean(running);
  clearTimeout(timer);
  if (running) timer = setTimeout(loadExperiments, POLL_MS);
}

ui.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const model = ui.model.value.trim();
  if (!model) {
    showError("model: name the candidate model (a version from the Models table)");
    ui.model.focus();
    return;
  }
  ui.start.disabled = true;
  const answer = await call("/api/reranker/experiment", "POST", { model });
  showError(answer.status === 201 ? "" : failure(answer));
  await loadExperiments();
});

ui.stop.addEventListener("click", async () => {
  ui.stop.disabled = true;
  const answer = await call("/api/reranker/experiment/stop", "POST");
  ui.stop.disabled = false;
  showError(answer.status === 200 ? "" : failure(answer));
  await loadExperiments();
});

ui.refresh?.addEventListener("click", loadExperiments);

loadExperiments();
