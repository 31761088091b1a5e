// Account search: name prefix, status, balance below; results paged by the API's cursor.

import type { AccountFilters, CreditsClient } from "./api";
import { describeError } from "./api";
import { append, field, h, replaceChildren, showMessage, statusLine } from "./dom";

export function searchFiltersFromHash(query: URLSearchParams): AccountFilters {
  return {
    name_prefix: query.get("name_prefix") ?? "",
    status: query.get("status") ?? "",
    balance_below: query.get("balance_below") ?? "",
  };
}

export function renderSearch(root: HTMLElement, api: CreditsClient, filters: AccountFilters): void {
  const namePrefix = h("input", { type: "search", name: "name_prefix", autocomplete: "off", value: filters.name_prefix ?? "" });
  const status = h(
    "select",
    { name: "status" },
    ...["", "active", "suspended", "closed"].map((value) => h("option", { value, selected: value === (filters.status ?? "") }, value || "any")),
  );
  const balanceBelow = h("input", { type: "number", name: "balance_below", min: 0, step: 1, inputmode: "numeric", value: filters.balance_below ?? "" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Find accounts" },
    field("Name starts with", namePrefix),
    field("Status", status),
    field("Balance below", balanceBelow, "credits"),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form).entries()) {
      if (typeof value === "string" && value !== "") {
        query.set(name, value);
      }
    }
    window.location.hash = `#/?${query.toString()}`;
  });
  const accountId = h("input", { type: "text", name: "account_id", autocomplete: "off", pattern: "acct_[0-9a-f]{20}", spellcheck: "false" });
  const open = h("form", { class: "filters", "aria-label": "Open an account by id" }, field("Account id", accountId), h("button", { type: "submit" }, "Open"));
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = `#/accounts/${encodeURIComponent(accountId.value.trim())}`;
  });
  const message = statusLine();
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "results" },
    h("caption", {}, "Accounts"),
    h("thead", {}, h("tr", {}, ...["Name", "Account id", "Status", "Balance"].map((title) => h("th", { scope: "col" }, title)))),
    tbody,
  );
  const more = h("button", { type: "button", hidden: true }, "More accounts");
  replaceChildren(root, h("h1", { tabindex: -1 }, "Accounts"), form, message, table, more, open);

  let cursor: string | null = null;
  const load = async (): Promise<void> => {
    showMessage(message, "Loading…");
    try {
      const page = await api.listAccounts(filters, cursor);
      for (const account of page.accounts) {
        append(
          tbody,
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/accounts/${encodeURIComponent(account.account_id)}` }, account.name)),
            h("td", { class: "mono" }, account.account_id),
            h("td", {}, h("span", { class: `badge ${account.status}` }, account.status)),
            h("td", { class: "number" }, account.balance.toLocaleString("en")),
          ),
        );
      }
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      showMessage(message, tbody.rows.length === 0 ? "No account matches." : `${tbody.rows.length} account(s) shown.`);
    } catch (error) {
      showMessage(message, `Could not list accounts: ${describeError(error)}`, "error");
    }
  };
  more.addEventListener("click", () => void load());
  void load();
}
