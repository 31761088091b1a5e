// The credits API, signed with SigV4 by aws4fetch (no hand-written signing).

import { AwsClient } from "aws4fetch";
import type { AwsCredentials } from "./auth";

export type AccountStatus = "active" | "suspended" | "closed";
export type EntryKind = "charge" | "refund" | "grant";

export interface Account {
  account_id: string;
  name: string;
  balance: number;
  status: AccountStatus;
  created_at: string;
  status_reason?: string | null;
  alert_thresholds?: number[] | null;
  // Rendered when the API provides the per-region split of the balance (regional credits).
  balance_by_region?: Record<string, number> | null;
  // Credits moving between regions at the time of the read (counted in the balance).
  balance_in_flight?: number | null;
}

export interface AccountPage {
  accounts: Account[];
  next_cursor: string | null;
}

export interface KeyScope {
  methods?: string[];
  prefixes?: string[];
}

export interface Key {
  key_id: string;
  account_id: string;
  name: string | null;
  status: "active" | "revoked";
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  scope?: KeyScope | null;
  spend_limit?: number | null;
}

export interface IssuedKey extends Key {
  api_key: string;
}

export interface KeyList {
  keys: Key[];
  next_cursor: string | null;
}

export interface Grant {
  account_id: string;
  entry_id: string;
  amount: number;
  balance: number;
  idempotency_key: string;
  created_at: string;
  replayed: boolean;
}

export interface LedgerEntry {
  entry_id: string;
  account_id: string;
  request_id: string;
  kind: EntryKind;
  amount: number;
  method: string | null;
  path: string | null;
  bytes: number | null;
  reason: string | null;
  created_at: string;
}

export interface LedgerPage {
  entries: LedgerEntry[];
  next_cursor: string | null;
}

export interface Usage {
  from: string;
  to: string;
  downloads: number;
  uploads: number;
  bytes: number;
  credits_spent: number;
  credits_refunded: number;
  credits_granted: number;
}

export interface Alerts {
  account_id: string;
  alert_thresholds: number[];
}

export interface AccountFilters {
  name_prefix?: string;
  status?: string;
  balance_below?: string;
}

export interface IssueKeyRequest {
  name?: string;
  expires_at?: string;
  scope?: KeyScope;
  spend_limit?: number;
}

/** An error reply, read from the API's {"error": {"code", "message"}} shape when it has one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  describe(): string {
    return `${this.message} (${this.code}, HTTP ${this.status})`;
  }
}

/** "; amount: Input should be greater than 0" from the API's validation details, when it gives them. */
function validationDetails(details: unknown): string {
  if (!Array.isArray(details)) {
    return "";
  }
  const problems = details
    .slice(0, 3)
    .map((problem: { loc?: unknown; msg?: unknown }) => {
      const location = Array.isArray(problem.loc) ? problem.loc.filter((part) => part !== "body").join(".") : "";
      return typeof problem.msg === "string" ? `${location ? `${location}: ` : ""}${problem.msg}` : "";
    })
    .filter(Boolean);
  return problems.length ? `: ${problems.join("; ")}` : "";
}

async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: fall through to the status line
  }
  const document = body as { error?: { code?: unknown; message?: unknown; details?: unknown }; message?: unknown; Message?: unknown } | null;
  const error = document?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message + validationDetails(error.details));
  }
  // API Gateway's own refusals (IAM denial, bad signature) say {"message": ...} or {"Message": ...}.
  const gatewayMessage = document?.message ?? document?.Message;
  if (typeof gatewayMessage === "string") {
    return new ApiError(response.status, response.status === 403 ? "access_denied" : "gateway_error", gatewayMessage);
  }
  return new ApiError(response.status, "http_error", response.statusText || "request failed");
}

function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

type Query = Record<string, string | number | null | undefined>;

export class CreditsClient {
  private readonly signer: AwsClient;

  /**
   * `apiUrl` is the API Gateway stage the signature is made for; `sendUrl` is where requests go.
   * Deployed, they go to the console's own CloudFront distribution (/v1/* forwards to the stage,
   * Host rewritten to the stage's), so the browser stays same-origin and needs no CORS. Locally
   * both are the local credits server. No automatic retry: a failed call is shown, and the user
   * repeats it (a grant repeats under the same idempotency key).
   */
  constructor(
    private readonly apiUrl: string,
    private readonly sendUrl: string,
    credentials: AwsCredentials,
    region: string,
  ) {
    this.signer = new AwsClient({ ...credentials, service: "execute-api", region, retries: 0 });
  }

  // The query is sent sorted and RFC 3986-encoded (a space as %20, never "+"), so the URL sent is
  // exactly the canonical one signed, whoever canonicalizes it on the other side.
  private static pathAndQuery(path: string, query: Query): string {
    const pairs = Object.entries(query)
      .filter((pair): pair is [string, string | number] => pair[1] !== null && pair[1] !== undefined && pair[1] !== "")
      .map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(String(value))}`)
      .sort();
    return `${path}${pairs.length ? `?${pairs.join("&")}` : ""}`;
  }

  private async call<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const relative = CreditsClient.pathAndQuery(path.replace(/^\//, ""), options.query ?? {});
    const headers: Record<string, string> = { Accept: "application/json" };
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    const signed = await this.signer.sign(`${this.apiUrl.replace(/\/+$/, "")}/${relative}`, { method, headers, body });
    const response = await fetch(`${this.sendUrl.replace(/\/+$/, "")}/${relative}`, {
      method,
      headers: signed.headers,
      body,
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) {
      throw await errorFrom(response);
    }
    return (await response.json()) as T;
  }

  listAccounts(filters: AccountFilters, cursor: string | null, limit = 25): Promise<AccountPage> {
    return this.call("GET", "/v1/accounts", { query: { ...filters, limit, cursor } });
  }

  getAccount(accountId: string): Promise<Account> {
    return this.call("GET", `/v1/accounts/${encodeURIComponent(accountId)}`);
  }

  setStatus(accountId: string, status: AccountStatus, reason: string): Promise<Account> {
    return this.call("PATCH", `/v1/accounts/${encodeURIComponent(accountId)}`, { body: { status, reason } });
  }

  listKeys(accountId: string, cursor: string | null): Promise<KeyList> {
    return this.call("GET", `/v1/accounts/${encodeURIComponent(accountId)}/keys`, { query: { limit: 50, cursor } });
  }

  issueKey(accountId: string, request: IssueKeyRequest): Promise<IssuedKey> {
    return this.call("POST", `/v1/accounts/${encodeURIComponent(accountId)}/keys`, { body: request });
  }

  revokeKey(accountId: string, keyId: string): Promise<Key> {
    return this.call("DELETE", `/v1/accounts/${encodeURIComponent(accountId)}/keys/${encodeURIComponent(keyId)}`);
  }

  grant(accountId: string, amount: number, reason: string, idempotencyKey: string): Promise<Grant> {
    return this.call("POST", `/v1/accounts/${encodeURIComponent(accountId)}/grants`, {
      body: { amount, reason, idempotency_key: idempotencyKey },
    });
  }

  ledger(accountId: string, period: { from?: string; to?: string }, cursor: string | null, limit = 50): Promise<LedgerPage> {
    return this.call("GET", `/v1/accounts/${encodeURIComponent(accountId)}/ledger`, { query: { ...period, limit, cursor } });
  }

  usage(accountId: string, period: { from: string; to: string }): Promise<Usage> {
    return this.call("GET", `/v1/accounts/${encodeURIComponent(accountId)}/usage`, { query: period });
  }

  setAlertThresholds(accountId: string, thresholds: number[]): Promise<Alerts> {
    return this.call("PUT", `/v1/accounts/${encodeURIComponent(accountId)}/alerts`, { body: { thresholds } });
  }

  /** Every ledger entry of a period (newest first), at most maxEntries; `complete` says if all came. */
  async ledgerPeriod(accountId: string, period: { from: string; to: string }, maxEntries = 10_000): Promise<{ entries: LedgerEntry[]; complete: boolean }> {
    const entries: LedgerEntry[] = [];
    let cursor: string | null = null;
    do {
      const page: LedgerPage = await this.ledger(accountId, period, cursor, 100);
      entries.push(...page.entries);
      cursor = page.next_cursor;
    } while (cursor !== null && entries.length < maxEntries);
    return { entries, complete: cursor === null };
  }
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    return error.describe();
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
