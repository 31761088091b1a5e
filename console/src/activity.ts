// An account's activity in a chosen period: the usage chart (Chart.js) and the ledger (paged,
// filterable by kind, exported as CSV).

import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from "chart.js";
import type { CreditsClient, EntryKind, LedgerEntry } from "./api";
import { describeError } from "./api";
import { downloadText, ledgerCsv } from "./csv";
import { append, field, h, replaceChildren, showMessage, statusLine } from "./dom";
import { type Granularity, MAX_BUCKETS, bucketCount, usageBuckets } from "./usage";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

export interface Period {
  from: Date;
  to: Date;
  granularity: Granularity;
}

const DAY_MS = 86_400_000;

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function defaultPeriod(): Period {
  const today = new Date(`${isoDay(new Date())}T00:00:00Z`);
  return { from: today, to: new Date(today.getTime() + DAY_MS), granularity: "hour" };
}

function apiPeriod(period: Period): { from: string; to: string } {
  return { from: period.from.toISOString(), to: period.to.toISOString() };
}

/** The period form: UTC days, the last one included, per hour or per day. */
export function periodForm(period: Period, onChange: (period: Period) => void): HTMLElement {
  const from = h("input", { type: "date", name: "from", required: true, value: isoDay(period.from) });
  const to = h("input", { type: "date", name: "to", required: true, value: isoDay(new Date(period.to.getTime() - DAY_MS)) });
  const granularity = h(
    "select",
    { name: "granularity" },
    h("option", { value: "hour", selected: period.granularity === "hour" }, "per hour"),
    h("option", { value: "day", selected: period.granularity === "day" }, "per day"),
  );
  const message = statusLine();
  const form = h("form", { class: "filters", "aria-label": "Period" }, field("From (UTC)", from), field("To (UTC, included)", to), field("Buckets", granularity), h("button", { type: "submit" }, "Show period"), message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen: Period = {
      from: new Date(`${from.value}T00:00:00Z`),
      to: new Date(new Date(`${to.value}T00:00:00Z`).getTime() + DAY_MS),
      granularity: granularity.value === "day" ? "day" : "hour",
    };
    if (!(chosen.from < chosen.to)) {
      showMessage(message, "The period must end on or after its first day.", "error");
      return;
    }
    if (bucketCount(chosen.from, chosen.to, chosen.granularity) > MAX_BUCKETS) {
      showMessage(message, `At most ${MAX_BUCKETS} buckets: choose a shorter period or per day.`, "error");
      return;
    }
    showMessage(message, "");
    onChange(chosen);
  });
  return h("section", { "aria-labelledby": "period-title" }, h("h2", { id: "period-title" }, "Period"), form);
}

export function renderUsage(section: HTMLElement, api: CreditsClient, accountId: string, period: Period): void {
  const message = statusLine();
  const canvas = h("canvas", { role: "img", "aria-label": "Usage chart: downloads, uploads and credits per bucket, bytes on the right axis" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "usage-table" },
    h("caption", {}, "Usage per bucket"),
    h("thead", {}, h("tr", {}, ...["Bucket (UTC)", "Downloads", "Uploads", "Bytes", "Credits"].map((title) => h("th", { scope: "col" }, title)))),
    tbody,
  );
  replaceChildren(section, h("h2", {}, "Usage"), message, h("div", { class: "chart" }, canvas), h("details", {}, h("summary", {}, "Usage as a table"), table));
  showMessage(message, "Loading usage…");
  void (async () => {
    try {
      const { entries, complete } = await api.ledgerPeriod(accountId, apiPeriod(period));
      const buckets = usageBuckets(entries, period.from, period.to, period.granularity);
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: buckets.map((bucket) => bucket.label),
          datasets: [
            { label: "Downloads", data: buckets.map((bucket) => bucket.downloads), yAxisID: "count", backgroundColor: "#2f6fb5" },
            { label: "Uploads", data: buckets.map((bucket) => bucket.uploads), yAxisID: "count", backgroundColor: "#b5632f" },
            { label: "Credits", data: buckets.map((bucket) => bucket.credits), yAxisID: "count", backgroundColor: "#3a8f4a" },
            { type: "line", label: "Bytes", data: buckets.map((bucket) => bucket.bytes), yAxisID: "bytes", borderColor: "#6b4fa8", backgroundColor: "#6b4fa8" },
          ],
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          scales: {
            count: { type: "linear", position: "left", beginAtZero: true, ticks: { precision: 0 } },
            bytes: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
          },
        },
      });
      for (const bucket of buckets) {
        append(
          tbody,
          h(
            "tr",
            { "data-bucket": bucket.label },
            h("th", { scope: "row" }, bucket.label),
            ...[bucket.downloads, bucket.uploads, bucket.bytes, bucket.credits].map((value) => h("td", { class: "number" }, value)),
          ),
        );
      }
      const total = buckets.reduce((sum, bucket) => sum + bucket.credits, 0);
      showMessage(message, `${entries.length} ledger entries in the period, ${total} credits net.${complete ? "" : " Only the newest 10,000 entries are charted."}`);
    } catch (error) {
      showMessage(message, `Could not load usage: ${describeError(error)}`, "error");
    }
  })();
}

const LEDGER_PAGE_SIZE = 25;

function ledgerRow(entry: LedgerEntry): HTMLTableRowElement {
  return h(
    "tr",
    { "data-entry-id": entry.entry_id },
    h("td", { class: "mono" }, entry.created_at),
    h("td", {}, h("span", { class: `badge ${entry.kind}` }, entry.kind)),
    h("td", { class: "number" }, entry.amount),
    h("td", {}, entry.method ?? ""),
    h("td", { class: "path" }, entry.path ?? ""),
    h("td", { class: "number" }, entry.bytes ?? ""),
    h("td", {}, entry.reason ?? ""),
    h("td", { class: "mono" }, entry.request_id),
  );
}

export function renderLedger(section: HTMLElement, api: CreditsClient, accountId: string, period: Period): void {
  const kind = h("select", { name: "kind" }, ...["", "charge", "refund", "grant"].map((value) => h("option", { value }, value || "all kinds")));
  const exportButton = h("button", { type: "button" }, "Export CSV of the period");
  const message = statusLine();
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "ledger" },
    h("caption", {}, "Ledger, newest first"),
    h("thead", {}, h("tr", {}, ...["Time (UTC)", "Kind", "Amount", "Method", "Path", "Bytes", "Reason", "Request id"].map((title) => h("th", { scope: "col" }, title)))),
    tbody,
  );
  const newest = h("button", { type: "button" }, "Newest");
  const older = h("button", { type: "button", disabled: true }, "Older");
  replaceChildren(section, h("h2", {}, "Ledger"), h("div", { class: "filters" }, field("Kind", kind), exportButton), message, table, h("div", { class: "actions" }, newest, older));

  let cursor: string | null = null;
  const wanted = (): EntryKind | null => (kind.value === "" ? null : (kind.value as EntryKind));
  // The API pages the whole ledger; a kind filter keeps reading pages until one screen is full.
  const loadPage = async (fromStart: boolean): Promise<void> => {
    if (fromStart) {
      cursor = null;
    }
    showMessage(message, "Loading ledger…");
    older.disabled = true;
    try {
      const rows: LedgerEntry[] = [];
      do {
        const page = await api.ledger(accountId, apiPeriod(period), cursor, LEDGER_PAGE_SIZE);
        rows.push(...page.entries.filter((entry) => wanted() === null || entry.kind === wanted()));
        cursor = page.next_cursor;
      } while (cursor !== null && rows.length < LEDGER_PAGE_SIZE);
      replaceChildren(tbody, ...rows.map(ledgerRow));
      older.disabled = cursor === null;
      showMessage(message, rows.length === 0 ? "No entries in this period." : `${rows.length} entries shown.`);
    } catch (error) {
      showMessage(message, `Could not load the ledger: ${describeError(error)}`, "error");
    }
  };
  kind.addEventListener("change", () => void loadPage(true));
  newest.addEventListener("click", () => void loadPage(true));
  older.addEventListener("click", () => void loadPage(false));
  exportButton.addEventListener("click", () => {
    showMessage(message, "Preparing the CSV…");
    void (async () => {
      try {
        const { entries, complete } = await api.ledgerPeriod(accountId, apiPeriod(period), 1_000_000);
        const chosen = entries.filter((entry) => wanted() === null || entry.kind === wanted());
        const name = `ledger-${accountId}-${isoDay(period.from)}-${isoDay(new Date(period.to.getTime() - DAY_MS))}${wanted() ? `-${wanted()}` : ""}.csv`;
        downloadText(name, ledgerCsv(chosen), "text/csv");
        showMessage(message, `Exported ${chosen.length} entries${complete ? "" : " (the first million)"}.`, "ok");
      } catch (error) {
        showMessage(message, `Could not export: ${describeError(error)}`, "error");
      }
    })();
  });
  void loadPage(true);
}
