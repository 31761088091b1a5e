// Keys: the list, issuing one with a scope (shown once, in a dialog, with a copy button), and
// revoking one after a confirmation.

import type { CreditsClient, IssueKeyRequest, IssuedKey, Key } from "./api";
import { describeError } from "./api";
import { confirmDialog, field, h, replaceChildren, showMessage, statusLine, uniqueId } from "./dom";

const SCOPE_METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"] as const;

function scopeText(key: Key): string {
  const parts: string[] = [];
  if (key.scope?.methods?.length) {
    parts.push(key.scope.methods.join(" "));
  }
  if (key.scope?.prefixes?.length) {
    parts.push(key.scope.prefixes.join(" "));
  }
  return parts.length ? parts.join(" · ") : "any";
}

/** Show the new key once; closing the dialog drops it from the page and from memory. */
function showIssuedKey(issued: IssuedKey): Promise<void> {
  return new Promise((resolve) => {
    const keyOutput = h("input", { type: "text", readonly: true, class: "mono issued-key", "aria-label": "The new API key", size: 52 });
    // The property, not the attribute: the key never appears in the page's serialized HTML.
    keyOutput.value = issued.api_key;
    const copyStatus = statusLine();
    const copyButton = h("button", { type: "button" }, "Copy");
    copyButton.addEventListener("click", () => {
      navigator.clipboard.writeText(keyOutput.value).then(
        () => showMessage(copyStatus, "Copied to the clipboard.", "ok"),
        () => {
          keyOutput.select();
          showMessage(copyStatus, "Copying is not allowed here: the key is selected, press Ctrl+C.", "error");
        },
      );
    });
    const done = h("button", { type: "submit", value: "done" }, "I have stored the key");
    const titleId = uniqueId("dialog-title");
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId, class: "issued" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: titleId }, `Key ${issued.key_id} issued`),
        h("p", {}, "This is the only time the key is shown: only its SHA-256 digest is stored. Copy it now."),
        h("div", { class: "copy-row" }, keyOutput, copyButton),
        copyStatus,
        h("div", { class: "actions" }, done),
      ),
    );
    dialog.addEventListener("close", () => {
      keyOutput.value = "";
      dialog.remove();
      resolve();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    copyButton.focus();
  });
}

function issueForm(api: CreditsClient, accountId: string, onIssued: () => void): HTMLElement {
  const name = h("input", { type: "text", name: "name", maxlength: 200, autocomplete: "off" });
  const methodBoxes = SCOPE_METHODS.map((method) => h("input", { type: "checkbox", name: "methods", value: method, id: uniqueId(`method-${method}`) }));
  const methods = h(
    "fieldset",
    { class: "methods" },
    h("legend", {}, "Methods allowed (none ticked: all)"),
    ...methodBoxes.map((box) => h("span", { class: "check" }, box, h("label", { for: box.id }, box.value))),
  );
  const prefixes = h("textarea", { name: "prefixes", rows: 2, spellcheck: "false" });
  const spendLimit = h("input", { type: "number", name: "spend_limit", min: 1, step: 1, inputmode: "numeric" });
  const expires = h("input", { type: "date", name: "expires" });
  const message = statusLine();
  const form = h(
    "form",
    { class: "stacked", "aria-label": "Issue a key" },
    field("Name", name),
    methods,
    field("Path prefixes", prefixes, "one per line, each starting with /; empty: every path"),
    field("Spend limit", spendLimit, "credits this key may spend; empty: no limit"),
    field("Expires on (UTC)", expires),
    h("button", { type: "submit" }, "Issue key"),
    message,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request: IssueKeyRequest = {};
    if (name.value.trim()) request.name = name.value.trim();
    const chosenMethods = methodBoxes.filter((box) => box.checked).map((box) => box.value);
    const chosenPrefixes = prefixes.value.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
    if (chosenMethods.length || chosenPrefixes.length) {
      request.scope = {};
      if (chosenMethods.length) request.scope.methods = chosenMethods;
      if (chosenPrefixes.length) request.scope.prefixes = chosenPrefixes;
    }
    if (spendLimit.value) request.spend_limit = Number(spendLimit.value);
    if (expires.value) request.expires_at = `${expires.value}T23:59:59Z`;
    const submit = form.querySelector("button[type=submit]") as HTMLButtonElement;
    submit.disabled = true;
    showMessage(message, "Issuing…");
    api.issueKey(accountId, request).then(
      async (issued) => {
        showMessage(message, `Key ${issued.key_id} issued.`, "ok");
        form.reset();
        await showIssuedKey(issued);
        submit.disabled = false;
        onIssued();
      },
      (error: unknown) => {
        submit.disabled = false;
        showMessage(message, `Could not issue the key: ${describeError(error)}`, "error");
      },
    );
  });
  return h("details", { class: "panel" }, h("summary", {}, "Issue a key"), form);
}

export function renderKeys(section: HTMLElement, api: CreditsClient, accountId: string, canWrite: boolean): void {
  const message = statusLine();
  const tbody = h("tbody");
  const headings = ["Key id", "Name", "Status", "Scope", "Spend limit", "Created", "Expires"];
  const table = h(
    "table",
    { class: "keys" },
    h("caption", {}, "Keys"),
    h("thead", {}, h("tr", {}, ...[...headings, ...(canWrite ? [""] : [])].map((title) => h("th", { scope: "col" }, title)))),
    tbody,
  );
  const reload = (): void => renderKeys(section, api, accountId, canWrite);
  replaceChildren(section, h("h2", {}, "Keys"), message, table, canWrite ? issueForm(api, accountId, reload) : null);
  void (async () => {
    try {
      const keys: Key[] = [];
      let cursor: string | null = null;
      do {
        const page = await api.listKeys(accountId, cursor);
        keys.push(...page.keys);
        cursor = page.next_cursor;
      } while (cursor !== null);
      replaceChildren(tbody, ...keys.map((key) => keyRow(key)));
      showMessage(message, keys.length ? "" : "No keys yet.");
    } catch (error) {
      showMessage(message, `Could not list keys: ${describeError(error)}`, "error");
    }
  })();

  function keyRow(key: Key): HTMLTableRowElement {
    const row = h(
      "tr",
      { "data-key-id": key.key_id },
      h("td", { class: "mono" }, key.key_id),
      h("td", {}, key.name ?? ""),
      h("td", {}, h("span", { class: `badge ${key.status}` }, key.status)),
      h("td", {}, scopeText(key)),
      h("td", { class: "number" }, key.spend_limit ?? ""),
      h("td", { class: "mono" }, key.created_at),
      h("td", { class: "mono" }, key.expires_at ?? ""),
    );
    if (canWrite) {
      const cell = h("td");
      if (key.status === "active") {
        const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${key.key_id}` }, "Revoke");
        revoke.addEventListener("click", () => {
          void (async () => {
            if (!(await confirmDialog("Revoke this key?", `Key ${key.key_id} stops working at once, everywhere. This cannot be undone.`, "Revoke key"))) {
              return;
            }
            try {
              await api.revokeKey(accountId, key.key_id);
              reload();
            } catch (error) {
              showMessage(message, `Could not revoke: ${describeError(error)}`, "error");
            }
          })();
        });
        cell.appendChild(revoke);
      }
      row.appendChild(cell);
    }
    return row;
  }
}
