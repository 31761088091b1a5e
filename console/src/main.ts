// The billing console: config, session, then a hash router over two pages (search, account).

import { renderAccount } from "./account";
import { CreditsClient, describeError } from "./api";
import { type Session, beginSignIn, canWrite, signOutUrl, startSession } from "./auth";
import { type ConsoleConfig, loadConfig } from "./config";
import { h, replaceChildren } from "./dom";
import { renderSearch, searchFiltersFromHash } from "./search";
import { renderSecurity } from "./security";

function header(config: ConsoleConfig, session: Session | null): HTMLElement {
  const who = session
    ? h("span", { class: "who" }, `Signed in as ${session.principal} · `, h("span", { class: "badge role", "data-role": canWrite(session) ? "admin" : "reader" }, canWrite(session) ? "BillingAdmin" : "BillingReader (read-only)"))
    : null;
  const signOut = session && config.mode === "cognito" ? h("a", { href: signOutUrl(config) }, "Sign out") : null;
  const security = session && config.mode === "cognito" ? h("a", { href: "#/security" }, "Sign-in security") : null;
  return h("header", { class: "top" }, h("a", { href: "#/", class: "brand" }, "edgemeter billing"), h("nav", { "aria-label": "Main" }, h("a", { href: "#/" }, "Accounts"), security), who, signOut);
}

function route(main: HTMLElement, api: CreditsClient, session: Session, region: string): void {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path = "/", queryText = ""] = hash.split("?", 2);
  const account = /^\/accounts\/([^/]+)$/.exec(path);
  if (path === "/security") {
    renderSecurity(main, session, region);
  } else if (account?.[1]) {
    renderAccount(main, api, decodeURIComponent(account[1]), canWrite(session));
  } else {
    renderSearch(main, api, searchFiltersFromHash(new URLSearchParams(queryText)));
  }
  document.title = `${path === "/security" ? "Security" : account ? "Account" : "Accounts"} · edgemeter billing`;
  // Move focus to the new page's heading so keyboard and screen-reader users land on it.
  main.querySelector<HTMLElement>("h1")?.focus();
}

async function start(): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  const body = document.body;
  try {
    const config = await loadConfig();
    const session = await startSession(config);
    if (session === null && config.mode === "cognito") {
      const signIn = h("button", { type: "button" }, "Sign in");
      signIn.addEventListener("click", () => void beginSignIn(config));
      body.prepend(header(config, null));
      replaceChildren(main, h("h1", { tabindex: -1 }, "edgemeter billing"), h("p", {}, "Billing staff sign in with their Cognito account (MFA when enrolled)."), signIn);
      return;
    }
    if (session === null) {
      throw new Error("no session");
    }
    body.prepend(header(config, session));
    // Local: the API is this origin. Deployed: this origin's /v1/* forwards to the signed-for stage.
    const api = new CreditsClient(config.apiUrl, window.location.origin, session.credentials, config.region);
    window.addEventListener("hashchange", () => route(main, api, session, config.region));
    route(main, api, session, config.region);
  } catch (error) {
    replaceChildren(main, h("h1", { tabindex: -1 }, "The console could not start"), h("p", { role: "alert", class: "status-line error" }, describeError(error)));
  }
}

void start();
