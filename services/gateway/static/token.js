// The gateway's bearer token for the pages: sent with every API call once known, asked for in a
// small dialog when the gateway answers 401 or 403, then the call is sent again. The token is kept
// in sessionStorage only (this tab, until it closes): never localStorage, never a cookie.

const KEY = "codesift.token";

let dialog = null; // built on first use
let asking = null; // the pending question, shared by every call refused meanwhile

function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: ask each time
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: the token lives in this page only
  }
}

let pageToken = null; // when sessionStorage is unavailable

function currentToken() {
  return storedToken() ?? pageToken;
}

/** `headers` with `Authorization: Bearer <token>` when a token is known. */
export function withToken(headers = {}) {
  const token = currentToken();
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

/** fetch(), with the token; on 401/403 ask for a token and send again (until the user cancels). */
export async function authorizedFetch(url, init = {}) {
  for (;;) {
    const response = await fetch(url, { ...init, headers: withToken(init.headers) });
    if (response.status !== 401 && response.status !== 403) return response;
    const body = await response.clone().json().catch(() => null);
    const token = await askToken(response.status, body?.detail ?? `HTTP ${response.status}`);
    if (token === null) return response;
  }
}

/** Ask for a token; resolves the token (stored for this tab) or null when the user cancels. */
function askToken(status, detail) {
  if (status === 403) {
    storeToken(null); // the token we sent is not accepted: forget it
    pageToken = null;
  }
  if (!asking) {
    asking = showDialog(status, detail).finally(() => {
      asking = null;
    });
  }
  return asking;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function buildDialog() {
  const reason = el("p", { class: "token-reason", role: "alert", "data-testid": "token-reason" });
  const input = el("input", {
    id: "token-input",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: "",
    "data-testid": "token-input",
  });
  const cancel = el("button", { type: "button", class: "secondary", "data-testid": "token-cancel" }, "Cancel");
  const submit = el("button", { type: "submit", "data-testid": "token-submit" }, "Use token");
  const form = el(
    "form",
    { method: "dialog", "data-testid": "token-form" },
    el("h2", { id: "token-title" }, "Token needed"),
    reason,
    el(
      "p",
      { class: "hint" },
      "`codesift token --data-dir DIR` prints the admin token of a stack. It is kept in this tab only, until the tab closes.",
    ),
    el("label", { for: "token-input" }, "Token"),
    input,
    el("div", { class: "dialog-buttons" }, cancel, submit),
  );
  const node = el(
    "dialog",
    { class: "token-dialog", "aria-labelledby": "token-title", "data-testid": "token-dialog" },
    form,
  );
  document.body.append(node);
  return { node, form, reason, input, cancel };
}

function showDialog(status, detail) {
  dialog ??= buildDialog();
  const { node, form, reason, input, cancel } = dialog;
  reason.textContent =
    status === 403
      ? `That token is not accepted (403): ${detail}. Type the right one.`
      : `The gateway asks for a token (401): ${detail}.`;
  reason.dataset.status = String(status);
  input.value = "";
  return new Promise((resolve) => {
    const done = (token) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      node.removeEventListener("cancel", onCancel);
      if (node.open) node.close();
      resolve(token);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      storeToken(token);
      pageToken = token;
      done(token);
    };
    const onCancel = (event) => {
      event.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    node.addEventListener("cancel", onCancel); // Escape
    node.showModal();
    input.focus();
  });
}
