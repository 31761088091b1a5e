// The ledger as CSV (RFC 4180 quoting), one row per entry, columns as the API names them.

import type { LedgerEntry } from "./api";

export const CSV_COLUMNS = ["entry_id", "created_at", "kind", "amount", "method", "path", "bytes", "reason", "request_id"] as const;

// A text cell starting with one of these is a formula to a spreadsheet: prefix it with a quote.
const FORMULA_START = /^[=+\-@\t\r]/;

function cell(value: string | number | null, isText: boolean): string {
  if (value === null) {
    return "";
  }
  let text = String(value);
  if (isText && FORMULA_START.test(text)) {
    text = `'${text}`;
  }
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function ledgerCsv(entries: LedgerEntry[]): string {
  const rows = [CSV_COLUMNS.join(",")];
  for (const entry of entries) {
    rows.push(CSV_COLUMNS.map((column) => cell(entry[column], typeof entry[column] === "string")).join(","));
  }
  return `${rows.join("\r\n")}\r\n`;
}

export function downloadText(fileName: string, text: string, mediaType: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: mediaType }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
