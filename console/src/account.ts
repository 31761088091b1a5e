// The account page: balance and status (suspend, resume, close behind a confirmation), the
// period's usage and ledger, keys, grants and low-balance thresholds.

import { type Period, defaultPeriod, periodForm, renderLedger, renderUsage } from "./activity";
import type { Account, AccountStatus, CreditsClient } from "./api";
import { describeError } from "./api";
import { confirmDialog, field, h, replaceChildren, showMessage, statusLine } from "./dom";
import { renderKeys } from "./keys";

interface StatusAction {
  label: string;
  target: AccountStatus;
  from: AccountStatus[];
  warning: string;
}

const STATUS_ACTIONS: StatusAction[] = [
  { label: "Suspend", target: "suspended", from: ["active"], warning: "Every key of the account is refused (403 account_suspended) until it is resumed." },
  { label: "Resume", target: "active", from: ["suspended"], warning: "The account's keys work again." },
  { label: "Close", target: "closed", from: ["active", "suspended"], warning: "The account is closed for good: its keys are refused (403 account_closed)." },
];

function summary(account: Account, api: CreditsClient, canWrite: boolean, onChange: () => void): HTMLElement {
  const message = statusLine();
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Account id"),
    h("dd", { class: "mono" }, account.account_id),
    h("dt", {}, "Balance"),
    h("dd", { class: "balance", "data-balance": account.balance }, `${account.balance.toLocaleString("en")} credits`),
    h("dt", {}, "Status"),
    h("dd", {}, h("span", { class: `badge ${account.status}`, "data-status": account.status }, account.status), account.status_reason ? ` (${account.status_reason})` : null),
  );
  if (account.balance_by_region && Object.keys(account.balance_by_region).length > 0) {
    const split = h("ul", { class: "regions" });
    for (const [region, credits] of Object.entries(account.balance_by_region)) {
      split.appendChild(h("li", {}, h("span", { class: "mono" }, region), `: ${credits.toLocaleString("en")}`));
    }
    if (account.balance_in_flight) {
      split.appendChild(h("li", {}, `in flight between regions: ${account.balance_in_flight.toLocaleString("en")}`));
    }
    facts.append(h("dt", {}, "Balance by region"), h("dd", {}, split));
  }
  const actions = h("div", { class: "actions" });
  if (canWrite) {
    for (const action of STATUS_ACTIONS.filter((candidate) => candidate.from.includes(account.status))) {
      const button = h("button", { type: "button", class: action.target === "active" ? "" : "danger" }, action.label);
      button.addEventListener("click", () => void changeStatus(action));
      actions.appendChild(button);
    }
  }
  async function changeStatus(action: StatusAction): Promise<void> {
    const reason = h("input", { type: "text", name: "reason", required: true, maxlength: 200, autocomplete: "off" });
    const confirmed = await confirmDialog(`${action.label} ${account.name}?`, action.warning, action.label, field("Reason", reason));
    if (!confirmed) {
      return;
    }
    try {
      await api.setStatus(account.account_id, action.target, reason.value.trim() || action.label.toLowerCase());
      onChange();
    } catch (error) {
      showMessage(message, `Could not ${action.label.toLowerCase()}: ${describeError(error)}`, "error");
    }
  }
  return h("section", { "aria-label": "Summary" }, facts, actions, message);
}

/** One grant form = one idempotency key: a double click or a resubmission grants once. */
function grantForm(api: CreditsClient, accountId: string, onGranted: () => void): HTMLElement {
  const idempotencyKey = `console-${crypto.randomUUID()}`;
  const amount = h("input", { type: "number", name: "amount", min: 1, step: 1, required: true, inputmode: "numeric" });
  const reason = h("input", { type: "text", name: "reason", required: true, maxlength: 500, autocomplete: "off" });
  const submit = h("button", { type: "submit" }, "Grant credits");
  const message = statusLine();
  const form = h("form", { class: "stacked", "aria-label": "Grant credits", "data-idempotency-key": idempotencyKey }, field("Amount", amount, "credits"), field("Reason", reason), submit, message);
  let granted = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    showMessage(message, "Granting…");
    // No in-flight guard on purpose: every submission of this form carries the same key, so the
    // API grants once whatever reaches it twice.
    api.grant(accountId, Number(amount.value), reason.value.trim(), idempotencyKey).then(
      (grant) => {
        granted = true;
        amount.readOnly = true;
        reason.readOnly = true;
        submit.textContent = "Granted";
        showMessage(message, `${grant.replayed ? "Already granted" : "Granted"} ${grant.amount} credits; balance ${grant.balance}.`, "ok");
        onGranted();
      },
      (error: unknown) => {
        submit.disabled = granted;
        showMessage(message, `Could not grant: ${describeError(error)}`, "error");
      },
    );
  });
  const another = h("button", { type: "button" }, "New grant form");
  const wrapper = h("div", {}, form, another);
  another.addEventListener("click", () => wrapper.replaceWith(grantForm(api, accountId, onGranted)));
  return wrapper;
}

function thresholdsForm(api: CreditsClient, account: Account, canWrite: boolean): HTMLElement {
  const current = account.alert_thresholds ?? [];
  const text = current.length ? current.join(", ") : "none";
  if (!canWrite) {
    return h("p", {}, `Alert when the balance falls below: ${text}.`);
  }
  const thresholds = h("input", { type: "text", name: "thresholds", value: current.join(", "), autocomplete: "off", inputmode: "numeric" });
  const message = statusLine();
  const form = h("form", { class: "stacked", "aria-label": "Low-balance thresholds" }, field("Alert when the balance falls below", thresholds, "credits, comma-separated (at most 10); empty: no alerts"), h("button", { type: "submit" }, "Save thresholds"), message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const parts = thresholds.value.split(",").map((part) => part.trim()).filter(Boolean);
    const values = parts.map(Number);
    if (values.some((value) => !Number.isInteger(value) || value < 1) || new Set(values).size !== values.length) {
      showMessage(message, "Thresholds are different whole numbers of credits, 1 or more.", "error");
      return;
    }
    api.setAlertThresholds(account.account_id, values).then(
      (saved) => {
        thresholds.value = saved.alert_thresholds.join(", ");
        showMessage(message, saved.alert_thresholds.length ? `Saved: ${saved.alert_thresholds.join(", ")}.` : "Alerts switched off.", "ok");
      },
      (error: unknown) => showMessage(message, `Could not save: ${describeError(error)}`, "error"),
    );
  });
  return form;
}

function section(title: string, ...children: (Node | null)[]): HTMLElement {
  const element = h("section", { class: "panel" }, h("h2", {}, title));
  for (const child of children) {
    if (child) element.appendChild(child);
  }
  return element;
}

export function renderAccount(root: HTMLElement, api: CreditsClient, accountId: string, canWrite: boolean): void {
  const message = statusLine();
  replaceChildren(root, h("h1", { tabindex: -1 }, "Account"), message);
  showMessage(message, "Loading account…");
  let period: Period = defaultPeriod();
  const usage = h("section", { class: "panel", id: "usage" });
  const ledger = h("section", { class: "panel", id: "ledger" });
  const keys = h("section", { class: "panel", id: "keys" });
  const showActivity = (): void => {
    renderUsage(usage, api, accountId, period);
    renderLedger(ledger, api, accountId, period);
  };
  const reload = (): void => renderAccount(root, api, accountId, canWrite);
  api.getAccount(accountId).then(
    (account) => {
      let shownSummary = summary(account, api, canWrite, reload);
      // A grant refreshes the balance only: the grant form (and its idempotency key) stays.
      const refreshSummary = (): void => {
        api.getAccount(accountId).then(
          (fresh) => {
            const next = summary(fresh, api, canWrite, reload);
            shownSummary.replaceWith(next);
            shownSummary = next;
          },
          (error: unknown) => showMessage(message, `Could not refresh the balance: ${describeError(error)}`, "error"),
        );
      };
      replaceChildren(
        root,
        h("p", {}, h("a", { href: "#/" }, "← Accounts")),
        h("h1", { tabindex: -1, class: "account-name" }, account.name),
        shownSummary,
        message,
        canWrite ? section("Grant credits", grantForm(api, accountId, refreshSummary)) : null,
        section("Low-balance alerts", thresholdsForm(api, account, canWrite)),
        periodForm(period, (chosen) => {
          period = chosen;
          refreshSummary(); // the balance may have moved since the page was opened
          showActivity();
        }),
        usage,
        ledger,
        keys,
      );
      showMessage(message, "");
      root.querySelector("h1")?.focus();
      showActivity();
      renderKeys(keys, api, accountId, canWrite);
    },
    (error: unknown) => showMessage(message, `Could not load the account: ${describeError(error)}`, "error"),
  );
}
