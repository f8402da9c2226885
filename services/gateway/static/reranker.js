// The codesift reranker page: production model, trained models and their evaluations, charts,
// and the learning loop's jobs with live progress. Vanilla JS, no dependencies; text from the
// server only reaches the page through text nodes and attributes, never parsed as HTML.

import { authorizedFetch } from "/static/token.js";

const POLL_MS = 500; // a job's state is read this often while it runs
const POLL_RETRY_MS = 2000; // ... and this often while the gateway does not answer
const RECENT_JOBS = 5; // jobs shown on load (those still running are followed)
const FINAL = new Set(["succeeded", "failed"]);
const RESULT_NOISE = new Set(["type", "timestamp", "job_id"]); // result fields the job card already says
const SVG_NS = "http://www.w3.org/2000/svg";

const ui = {
  pageError: document.getElementById("page-error"),
  refresh: document.getElementById("refresh"),
  productionVersion: document.getElementById("production-version"),
  productionPromoted: document.getElementById("production-promoted"),
  productionMrr: document.getElementById("production-mrr"),
  productionHit5: document.getElementById("production-hit5"),
  productionBackend: document.getElementById("production-backend"),
  productionRanker: document.getElementById("production-ranker"),
  productionCrossEncoder: document.getElementById("production-cross-encoder"),
  importancesBlock: document.getElementById("importances-block"),
  importances: document.getElementById("importances"),
  productionLoaded: document.getElementById("production-loaded"),
  replicas: document.getElementById("replicas"),
  mineForm: document.getElementById("mine-form"),
  mineSource: document.getElementById("mine-source"),
  trainForm: document.getElementById("train-form"),
  trainEpochs: document.getElementById("train-epochs"),
  trainBudget: document.getElementById("train-budget"),
  trainLoss: document.getElementById("train-loss"),
  rollback: document.getElementById("rollback-button"),
  jobError: document.getElementById("job-error"),
  jobs: document.getElementById("jobs"),
  evalSplit: document.getElementById("eval-split"),
  models: document.getElementById("models"),
  modelsEmpty: document.getElementById("models-empty"),
  chart: document.getElementById("metrics-chart"),
  chartEmpty: document.getElementById("chart-empty"),
  lossModel: document.getElementById("loss-model"),
  lossSummary: document.getElementById("loss-summary"),
  lossChart: document.getElementById("loss-chart"),
  promoteDialog: document.getElementById("promote-dialog"),
  promoteForm: document.getElementById("promote-form"),
  promoteVersion: document.getElementById("promote-version"),
  promoteForce: document.getElementById("promote-force"),
  promoteWarning: document.getElementById("promote-warning"),
  promoteCancel: document.getElementById("promote-cancel"),
  promoteConfirm: document.getElementById("promote-confirm"),
};
const trainControls = new Map([
  ["epochs", ui.trainEpochs],
  ["time_budget_s", ui.trainBudget],
  ["loss", ui.trainLoss],
]);

/** The trained models last loaded (newest first), for the loss chart's selector. */
let models = [];

/** The job cards on the page, by job id: { item, timer }. */
const followed = new Map();

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

/** Create an SVG element with attributes. */
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

function showError(node, message) {
  node.hidden = !message;
  node.textContent = message ?? "";
}

// ---------------------------------------------------------------- formatting

function metric(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(3) : "–";
}

function signed(value) {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(3)}`;
}

/** A time (seconds since the epoch) as a <time> element: local date and time, ISO in datetime. */
function timeElement(seconds) {
  if (typeof seconds !== "number") return document.createTextNode("–");
  const date = new Date(seconds * 1000);
  return el("time", { dateTime: date.toISOString(), title: date.toISOString() }, date.toLocaleString());
}

/** The version's date and time, from cross-encoder-codesift-YYYYMMDD-HHMMSS. */
function shortVersion(version) {
  const match = /(\d{8})-(\d{6})$/.exec(version);
  return match ? `${match[1].slice(4, 6)}-${match[1].slice(6)} ${match[2].slice(0, 2)}:${match[2].slice(2, 4)}` : version;
}

// ---------------------------------------------------------------- API

/** GET or POST JSON with the token (asked for on 401/403); resolves { status, body } (status 0
 * when the gateway did not answer). */
async function api(path, { method = "GET", body } = {}) {
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

function describeFailure({ status, body }) {
  if (status === 0) return "the codesift gateway did not answer";
  return body?.detail ?? `HTTP ${status}`;
}

// ---------------------------------------------------------------- production

async function loadInfo() {
  const answer = await api("/api/reranker/info");
  if (answer.status !== 200 || !answer.body) {
    showError(ui.pageError, `The reranker's state is unavailable: ${describeFailure(answer)}`);
    return;
  }
  showError(ui.pageError, null);
  renderProduction(answer.body);
}

function renderProduction(info) {
  const production = info.production;
  ui.productionVersion.textContent = production ? production.version : "No reranker: search returns fusion order";
  ui.productionVersion.dataset.version = production?.version ?? "";
  ui.productionVersion.title = production ? `sha256 ${production.sha256}${production.path ? `\n${production.path}` : ""}` : "";
  ui.productionPromoted.replaceChildren(production ? timeElement(production.promoted_at) : "–");
  ui.productionMrr.textContent = metric(info.metrics?.mrr);
  ui.productionHit5.textContent = metric(info.metrics?.hit_at_5);
  ui.productionBackend.textContent = info.backend;
  renderRanker(info.ranker);
  const n = info.replicas.length;
  const serving = info.replicas.filter((r) => r.serves_production).length;
  ui.productionLoaded.textContent =
    n === 0 ? "none answered" : info.loaded ? `all ${n} serve it` : `${serving} of ${n} serve it`;
  ui.productionLoaded.dataset.loaded = String(info.loaded);
  ui.replicas.replaceChildren(...info.replicas.map(renderReplica));
  if (n === 0) {
    ui.replicas.append(el("tr", {}, el("td", { colSpan: 5, className: "hint" }, "No search replica answered.")));
  }
}

/** How production ranks: learned combiner or fused-rank blend, the cross-encoder, feature importances. */
function renderRanker(ranker) {
  const algorithm = ranker?.algorithm ? ` (${ranker.algorithm})` : "";
  ui.productionRanker.textContent = ranker ? `${ranker.kind}${algorithm}` : "–";
  ui.productionRanker.dataset.kind = ranker?.kind ?? "";
  const holdout = ranker?.holdout;
  ui.productionRanker.title =
    typeof holdout?.mrr_fusion === "number" && typeof holdout?.mrr_combiner === "number"
      ? `held-out MRR@10 when trained: fusion ${metric(holdout.mrr_fusion)}, combiner ${metric(holdout.mrr_combiner)}`
      : "";
  const production = ranker && ranker.kind !== "none (fusion order)";
  ui.productionCrossEncoder.textContent = !production ? "–" : ranker.uses_cross_encoder ? "runs on every search" : "not run";
  ui.productionCrossEncoder.dataset.used = String(Boolean(ranker?.uses_cross_encoder));
  const shares = ranker?.importances ?? [];
  ui.importancesBlock.hidden = shares.length === 0;
  const largest = Math.max(0, ...shares.map((s) => s.share)) || 1;
  ui.importances.replaceChildren(...shares.map((s) => renderImportance(s, largest)));
}

/** One feature's share: its name, a bar (full for the largest share) and the share in percent. */
function renderImportance({ feature, share }, largest) {
  const fill = el("span", { className: "importance-fill" });
  fill.style.width = `${Math.max(1, (100 * share) / largest).toFixed(1)}%`;
  return el(
    "li",
    { className: "importance", "data-testid": "importance", dataset: { feature, share: String(share) } },
    el("span", { className: "importance-name mono", "data-testid": "importance-name" }, feature),
    el("span", { className: "importance-bar", "aria-hidden": "true" }, fill),
    el("span", { className: "importance-share num", "data-testid": "importance-share" }, `${(100 * share).toFixed(1)}%`),
  );
}

function renderReplica(replica) {
  return el(
    "tr",
    {
      "data-testid": "replica",
      dataset: { replicaId: replica.replica_id, version: replica.version ?? "", current: String(replica.serves_production) },
    },
    el("th", { scope: "row", className: "mono" }, replica.replica_id),
    el("td", { className: "mono", "data-testid": "replica-version" }, replica.version ?? "none (fusion order)"),
    el("td", {}, timeElement(replica.loaded_at)),
    el("td", {}, timeElement(replica.checked_at)),
    el("td", { className: replica.error ? "bad" : "" }, replica.error ?? ""),
  );
}

// ---------------------------------------------------------------- models

async function loadModels() {
  const answer = await api("/api/reranker/models");
  if (answer.status !== 200 || !answer.body) {
    showError(ui.pageError, `The model list is unavailable: ${describeFailure(answer)}`);
    return;
  }
  models = answer.body.models;
  renderModels(models);
  renderChart(models);
  renderLossSelector(models);
}

function renderModels(list) {
  ui.modelsEmpty.hidden = list.length > 0;
  ui.models.replaceChildren(...list.map(renderModel));
}

function renderModel(model) {
  const evaluation = model.evaluation;
  const m = evaluation?.metrics ?? {};
  const triplets = Object.values(model.triplets).reduce((a, b) => a + b, 0);
  const bySource = Object.entries(model.triplets)
    .map(([source, count]) => `${source} ${count}`)
    .join(", ");
  const version = el("th", { scope: "row", className: "mono" }, el("span", { title: model.version }, shortVersion(model.version)));
  if (model.production) version.append(" ", el("span", { className: "badge badge-production", "data-testid": "production-badge" }, "production"));
  const evaluate = el("button", { type: "button", className: "secondary", "data-testid": "evaluate" }, "Evaluate");
  evaluate.setAttribute("aria-label", `Evaluate ${model.version}`);
  evaluate.addEventListener("click", () =>
    startJob("evaluate", "/api/reranker/evaluate", { model_path: model.version, split: ui.evalSplit.value }),
  );
  const promote = el("button", { type: "button", className: "secondary", "data-testid": "promote" }, "Promote");
  promote.setAttribute("aria-label", `Promote ${model.version}`);
  promote.disabled = model.production;
  promote.addEventListener("click", () => askPromote(model.version, promote));
  return el(
    "tr",
    { "data-testid": "model", dataset: { version: model.version, production: String(model.production) } },
    version,
    el("td", { title: bySource, "data-testid": "model-triplets" }, String(triplets)),
    el("td", { className: "num", "data-testid": "model-mrr" }, metric(m.mrr)),
    el("td", { className: "num", "data-testid": "model-hit1" }, metric(m.hit_at_1)),
    el("td", { className: "num", "data-testid": "model-hit5" }, metric(m.hit_at_5)),
    el("td", { className: "num", "data-testid": "model-ndcg" }, metric(m.ndcg_at_10)),
    renderInterval(evaluation?.intervals?.none, "model-vs-none"),
    renderInterval(evaluation?.intervals?.production, "model-vs-production"),
    renderGates(model),
    el("td", {}, el("div", { className: "actions" }, evaluate, promote)),
  );
}

/** An MRR difference with its 95% interval; good when the interval is above zero, bad below. */
function renderInterval(interval, testid) {
  if (!interval) return el("td", { className: "muted", "data-testid": testid }, "–");
  const verdict = interval.low > 0 ? "good" : interval.high < 0 ? "bad" : "";
  return el(
    "td",
    { className: `interval ${verdict}`, "data-testid": testid, title: "mean difference of MRR@10 [95% interval]" },
    el("span", { className: "mean" }, signed(interval.mean)),
    " ",
    el("span", { className: "ci" }, `[${signed(interval.low)}, ${signed(interval.high)}]`),
  );
}

function renderGates(model) {
  const decision = model.decision;
  if (!decision) {
    return el("td", { className: "muted", "data-testid": "model-gates" }, model.evaluation ? "not decided" : "not evaluated");
  }
  const cell = el("td", { "data-testid": "model-gates", dataset: { failed: decision.failed.join(" ") } });
  if (decision.failed.length === 0) {
    cell.append(el("span", { className: "good" }, decision.forced ? "forced" : "all passed"));
  } else {
    cell.append(
      el("span", { className: decision.forced ? "warn" : "bad" }, `${decision.forced ? "forced past" : "failed"}: ${decision.failed.join(", ")}`),
    );
  }
  if (decision.reasons.length) cell.title = decision.reasons.join("\n");
  return cell;
}

// ---------------------------------------------------------------- charts

const MAX_VERSION_LABELS = 8; // version labels under the metrics chart; the others are in the points' titles
const CHART = { width: 640, height: 240, left: 44, right: 16, top: 14, bottom: 40 };

/** An empty chart: the frame, horizontal grid lines at `ticks` (values) and their labels. */
function chartFrame(label, ticks, y) {
  const root = svg("svg", {
    viewBox: `0 0 ${CHART.width} ${CHART.height}`,
    role: "img",
    "aria-label": label,
    class: "chart-svg",
    preserveAspectRatio: "xMidYMid meet",
  });
  for (const tick of ticks) {
    root.append(
      svg("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: y(tick), y2: y(tick), class: "grid" }),
      svg("text", { x: CHART.left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" }, formatTick(tick)),
    );
  }
  return root;
}

function formatTick(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Number(value.toPrecision(3)).toString();
}

function linear(domainLow, domainHigh, rangeLow, rangeHigh) {
  const span = domainHigh - domainLow || 1;
  return (value) => rangeLow + ((value - domainLow) / span) * (rangeHigh - rangeLow);
}

/** MRR@10 and Hit@5 of each evaluated version, oldest to newest; MRR without reranker dashed. */
function renderChart(list) {
  const evaluated = list.filter((model) => model.evaluation?.metrics).reverse();
  ui.chartEmpty.hidden = evaluated.length > 0;
  if (evaluated.length === 0) {
    ui.chart.replaceChildren();
    return;
  }
  const plotRight = CHART.width - CHART.right;
  const x =
    evaluated.length === 1
      ? () => (CHART.left + plotRight) / 2
      : linear(0, evaluated.length - 1, CHART.left + 20, plotRight - 20);
  const y = linear(0, 1, CHART.height - CHART.bottom, CHART.top);
  const root = chartFrame("MRR@10 and Hit@5 of each evaluated version", [0, 0.25, 0.5, 0.75, 1], y);
  const labelEvery = Math.ceil(evaluated.length / MAX_VERSION_LABELS);
  evaluated.forEach((model, i) => {
    if (i % labelEvery !== 0 && i !== evaluated.length - 1) return;
    root.append(
      svg("text", { x: x(i), y: CHART.height - CHART.bottom + 18, class: "tick", "text-anchor": "middle" }, shortVersion(model.version)),
    );
  });
  const series = [
    { name: "none", label: "MRR@10 without reranker", value: (model) => model.evaluation.baselines?.none?.mrr },
    { name: "mrr", label: "MRR@10", value: (model) => model.evaluation.metrics.mrr },
    { name: "hit5", label: "Hit@5", value: (model) => model.evaluation.metrics.hit_at_5 },
  ];
  for (const { name, label, value } of series) {
    const points = evaluated
      .map((model, i) => ({ model, x: x(i), v: value(model) }))
      .filter((p) => typeof p.v === "number");
    if (points.length === 0) continue;
    const group = svg("g", { class: `series series-${name}`, "data-testid": `series-${name}` });
    group.append(svg("polyline", { points: points.map((p) => `${p.x},${y(p.v)}`).join(" "), class: "line" }));
    for (const p of points) {
      group.append(
        svg(
          "circle",
          { cx: p.x, cy: y(p.v), r: 4, class: "point", "data-testid": "chart-point", "data-series": name, "data-version": p.model.version },
          svg("title", {}, `${p.model.version}: ${label} ${metric(p.v)}`),
        ),
      );
    }
    root.append(group);
  }
  ui.chart.replaceChildren(root);
}

function renderLossSelector(list) {
  const chosen = ui.lossModel.value;
  const trained = list.filter((model) => model.loss_curve.length > 0);
  ui.lossModel.replaceChildren(...trained.map((model) => el("option", { value: model.version }, model.version)));
  if (trained.some((model) => model.version === chosen)) ui.lossModel.value = chosen;
  renderLoss(trained.find((model) => model.version === ui.lossModel.value));
}

/** The training loss of one run against its step, with the held-out MRR after each validation. */
function renderLoss(model) {
  const curve = (model?.loss_curve ?? []).filter((p) => Array.isArray(p) && p.length >= 2);
  if (curve.length === 0) {
    ui.lossSummary.textContent = "No training run recorded a loss curve yet.";
    ui.lossChart.replaceChildren();
    return;
  }
  const steps = curve.map((p) => p[0]);
  const losses = curve.map((p) => p[1]);
  const low = Math.min(0, ...losses);
  const high = Math.max(...losses) || 1;
  const x = linear(Math.min(...steps), Math.max(...steps), CHART.left, CHART.width - CHART.right);
  const y = linear(low, high, CHART.height - CHART.bottom, CHART.top);
  const ticks = [low, low + (high - low) / 2, high];
  const root = chartFrame(`Training loss of ${model.version}`, ticks, y);
  root.append(
    svg("text", { x: CHART.left, y: CHART.height - CHART.bottom + 18, class: "tick" }, `step ${Math.min(...steps)}`),
    svg("text", { x: CHART.width - CHART.right, y: CHART.height - CHART.bottom + 18, class: "tick", "text-anchor": "end" }, `step ${Math.max(...steps)}`),
    svg("polyline", {
      points: curve.map(([step, loss]) => `${x(step)},${y(loss)}`).join(" "),
      class: "line loss-line",
      "data-testid": "loss-curve",
      "data-points": curve.length,
    }),
  );
  ui.lossChart.replaceChildren(root);
  const last = model.validation.at(-1);
  const training = model.training ?? {};
  const parts = [
    `${curve.length} loss points over ${Math.max(...steps)} steps`,
    training.stop_reason ? `stopped: ${String(training.stop_reason).replace("_", " ")}` : null,
    typeof training.train_seconds === "number" ? `${Math.round(training.train_seconds)} s` : null,
    model.params.loss ? `loss ${model.params.loss}` : null,
    last && typeof last.mrr === "number" ? `held-out MRR ${metric(model.validation[0]?.mrr)} → ${metric(last.mrr)}` : null,
  ];
  ui.lossSummary.textContent = parts.filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------- jobs

/** POST a command; on 202 follow its job, otherwise say why it was refused. */
async function startJob(kind, url, body, button = null) {
  showError(ui.jobError, null);
  if (button) button.disabled = true;
  const answer = await api(url, { method: "POST", body });
  if (button) button.disabled = false;
  if (answer.status === 202 && answer.body) {
    const { job_id, kind: accepted, state, message } = answer.body;
    followJob({ job_id, kind: accepted, state, message, progress: 0 });
    return true;
  }
  const what = answer.status === 409 ? "is refused" : answer.status === 400 ? "has an invalid option" : "was not submitted";
  showError(ui.jobError, `${kind[0].toUpperCase()}${kind.slice(1)} ${what}: ${describeFailure(answer)}`);
  if (answer.status === 400 && kind === "train") markInvalid(answer.body?.field);
  return false;
}

function markInvalid(field) {
  for (const control of trainControls.values()) control.removeAttribute("aria-invalid");
  const control = trainControls.get(field);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
}

/** Show a job's card (newest first) and poll its state until it ends. */
function followJob(job) {
  let card = followed.get(job.job_id);
  if (!card) {
    card = { item: renderJob(job), timer: null };
    followed.set(job.job_id, card);
    ui.jobs.prepend(card.item);
  }
  updateJob(card.item, job);
  if (!FINAL.has(job.state)) schedulePoll(job.job_id, POLL_MS);
}

function schedulePoll(jobId, delay) {
  const card = followed.get(jobId);
  clearTimeout(card.timer);
  card.timer = setTimeout(() => pollJob(jobId), delay);
}

async function pollJob(jobId) {
  const card = followed.get(jobId);
  const answer = await api(`/api/reranker/jobs/${encodeURIComponent(jobId)}`);
  if (answer.status === 200 && answer.body) {
    updateJob(card.item, answer.body);
    if (FINAL.has(answer.body.state)) {
      jobEnded(answer.body);
      return;
    }
    schedulePoll(jobId, POLL_MS);
    return;
  }
  const why = answer.status === 404 ? "the gateway knows no such job" : describeFailure(answer);
  card.item.querySelector("[data-testid=job-note]").textContent = `Progress unavailable (${why}); retrying…`;
  schedulePoll(jobId, POLL_RETRY_MS);
}

/** A job that changed what is trained, evaluated or served: show the new state of things. */
function jobEnded(job) {
  if (job.state === "succeeded" && job.kind !== "mine") refresh();
}

function renderJob(job) {
  return el(
    "li",
    { className: "job", "data-testid": "job", dataset: { jobId: job.job_id, kind: job.kind } },
    el(
      "div",
      { className: "job-header" },
      el("span", { className: "job-kind" }, job.kind),
      el("span", { className: "mono job-id" }, job.job_id),
      el("span", { className: "job-state", "data-testid": "job-state" }),
    ),
    el("progress", { max: 1, "data-testid": "job-progress", "aria-label": `${job.kind} progress` }),
    el("p", { className: "job-message", "data-testid": "job-message" }),
    el("p", { className: "job-note hint", "data-testid": "job-note" }),
  );
}

function updateJob(item, job) {
  item.dataset.state = job.state;
  item.querySelector("[data-testid=job-state]").textContent = job.state;
  const bar = item.querySelector("progress");
  if (job.state === "queued") bar.removeAttribute("value"); // indeterminate: not started
  else bar.value = job.state === "succeeded" ? 1 : job.progress ?? 0;
  const details = Object.entries(job.result ?? {})
    .filter(([key, value]) => !RESULT_NOISE.has(key) && value !== null && typeof value !== "object")
    .map(([key, value]) => `${key.replaceAll("_", " ")}: ${value}`)
    .join(", ");
  item.querySelector("[data-testid=job-message]").textContent =
    FINAL.has(job.state) && details ? `${job.message} (${details})` : job.message;
  item.querySelector("[data-testid=job-note]").textContent = "";
}

/** The latest jobs, as /api/reranker/status lists them: those still running are followed. */
async function loadJobs() {
  const answer = await api("/api/reranker/status");
  if (answer.status !== 200 || !answer.body) return;
  for (const job of answer.body.jobs.slice(0, RECENT_JOBS).reverse()) followJob(job);
}

// ---------------------------------------------------------------- promotion

let promoting = null; // { version, button } while the dialog is open

function askPromote(version, button) {
  promoting = { version, button };
  ui.promoteVersion.textContent = version;
  ui.promoteForce.checked = false;
  ui.promoteWarning.hidden = true;
  ui.promoteConfirm.textContent = "Promote";
  ui.promoteDialog.showModal();
}

ui.promoteForce.addEventListener("change", () => {
  ui.promoteWarning.hidden = !ui.promoteForce.checked;
  ui.promoteConfirm.textContent = ui.promoteForce.checked ? "Force promotion" : "Promote";
});

ui.promoteCancel.addEventListener("click", () => ui.promoteDialog.close("cancel"));

ui.promoteForm.addEventListener("submit", (event) => {
  event.preventDefault();
  ui.promoteDialog.close("confirm");
  const { version, button } = promoting;
  startJob("promote", "/api/reranker/promote", { model: version, force: ui.promoteForce.checked }, button);
});

ui.promoteDialog.addEventListener("close", () => {
  promoting?.button.focus();
});

// ---------------------------------------------------------------- wiring

ui.mineForm.addEventListener("submit", (event) => {
  event.preventDefault();
  startJob("mine", "/api/reranker/mine", { source: ui.mineSource.value }, event.submitter);
});

ui.trainForm.addEventListener("submit", (event) => {
  event.preventDefault();
  markInvalid(null);
  const body = { loss: ui.trainLoss.value };
  for (const [field, control] of [["epochs", ui.trainEpochs], ["time_budget_s", ui.trainBudget]]) {
    const value = Number(control.value);
    if (control.value.trim() === "" || !Number.isFinite(value)) {
      showError(ui.jobError, `Train has an invalid option: ${field}: type a number`);
      markInvalid(field);
      return;
    }
    body[field] = value;
  }
  startJob("train", "/api/reranker/train", body, event.submitter);
});

ui.rollback.addEventListener("click", () => startJob("rollback", "/api/reranker/rollback", undefined, ui.rollback));

ui.lossModel.addEventListener("change", () => renderLoss(models.find((model) => model.version === ui.lossModel.value)));

function refresh() {
  return Promise.all([loadInfo(), loadModels()]);
}

ui.refresh.addEventListener("click", refresh);

refresh();
loadJobs();
