// Usage per hour or per day, computed from the ledger entries of a period (UTC buckets).

import type { LedgerEntry } from "./api";

export type Granularity = "hour" | "day";

export interface UsageBucket {
  start: Date;
  label: string;
  downloads: number;
  uploads: number;
  bytes: number;
  credits: number;
}

const DOWNLOAD_METHODS = new Set(["GET", "HEAD"]);
const UPLOAD_METHODS = new Set(["PUT", "POST", "PATCH"]);
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
// A chart of more bars than this is unreadable; the period form refuses longer ones.
export const MAX_BUCKETS = 24 * 31;

function bucketStart(time: Date, granularity: Granularity): number {
  const size = granularity === "hour" ? HOUR_MS : DAY_MS;
  return Math.floor(time.getTime() / size) * size;
}

function label(start: Date, granularity: Granularity): string {
  const iso = start.toISOString();
  return granularity === "hour" ? `${iso.slice(0, 13)}:00Z` : iso.slice(0, 10);
}

export function bucketCount(from: Date, to: Date, granularity: Granularity): number {
  const size = granularity === "hour" ? HOUR_MS : DAY_MS;
  return Math.max(0, Math.ceil((to.getTime() - bucketStart(from, granularity)) / size));
}

/** Charges count as downloads or uploads by method; refunds give their credits back. */
export function usageBuckets(entries: LedgerEntry[], from: Date, to: Date, granularity: Granularity): UsageBucket[] {
  const size = granularity === "hour" ? HOUR_MS : DAY_MS;
  const buckets: UsageBucket[] = [];
  const byStart = new Map<number, UsageBucket>();
  for (let start = bucketStart(from, granularity); start < to.getTime(); start += size) {
    const bucket = { start: new Date(start), label: label(new Date(start), granularity), downloads: 0, uploads: 0, bytes: 0, credits: 0 };
    buckets.push(bucket);
    byStart.set(start, bucket);
  }
  for (const entry of entries) {
    const bucket = byStart.get(bucketStart(new Date(entry.created_at), granularity));
    if (bucket === undefined || entry.kind === "grant") {
      continue;
    }
    bucket.credits -= entry.amount; // charges are negative, refunds positive
    if (entry.kind !== "charge") {
      continue;
    }
    const method = (entry.method ?? "").toUpperCase();
    if (DOWNLOAD_METHODS.has(method)) {
      bucket.downloads += 1;
    } else if (UPLOAD_METHODS.has(method)) {
      bucket.uploads += 1;
    }
    bucket.bytes += entry.bytes ?? 0;
  }
  return buckets;
}
