// Who the console signs as. Credentials live in this module's memory only: never in
// localStorage or sessionStorage, so closing the tab forgets them.
//
// Local: config.json carries the local, fake credentials of one local principal.
// Deployed: Cognito's managed login (it handles passwords and TOTP MFA) returns an authorization
// code (PKCE); the ID token goes to the identity pool, whose role mapping turns the user's group
// (BillingReader or BillingAdmin) into temporary AWS credentials for that group's role.

import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand } from "@aws-sdk/client-cognito-identity";
import type { CognitoConfig, ConsoleConfig } from "./config";

export const ADMIN_GROUP = "BillingAdmin";
export const READER_GROUP = "BillingReader";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Session {
  principal: string;
  groups: string[];
  credentials: AwsCredentials;
  expiresAt: Date | null;
  /** Cognito's access token (deployed only): lets the user enrol an authenticator app. */
  accessToken: string | null;
}

export function canWrite(session: Session): boolean {
  return session.groups.includes(ADMIN_GROUP);
}

// The PKCE verifier must survive the redirect to Cognito and back, and a page's memory does not.
// It alone is no credential (the code it unlocks is single-use and bound to this client), and
// it is removed as soon as the code is exchanged.
const PKCE_STORAGE_KEY = "edgemeter.console.pkce";

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken(): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectUri(): string {
  return `${window.location.origin}${window.location.pathname}`;
}

export async function beginSignIn(config: CognitoConfig): Promise<void> {
  const verifier = randomToken();
  const state = randomToken();
  const challenge = base64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PKCE_STORAGE_KEY, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.userPoolClientId,
    redirect_uri: redirectUri(),
    // aws.cognito.signin.user.admin: the access token may enrol the user's own authenticator.
    scope: "openid email aws.cognito.signin.user.admin",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  window.location.assign(`${config.cognitoDomain}/oauth2/authorize?${query.toString()}`);
}

export function signOutUrl(config: CognitoConfig): string {
  const query = new URLSearchParams({ client_id: config.userPoolClientId, logout_uri: redirectUri() });
  return `${config.cognitoDomain}/logout?${query.toString()}`;
}

interface IdTokenClaims {
  "cognito:groups"?: string[];
  "cognito:username"?: string;
  email?: string;
}

function decodeClaims(idToken: string): IdTokenClaims {
  const payload = idToken.split(".")[1] ?? "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json) as IdTokenClaims;
}

interface Tokens {
  idToken: string;
  accessToken: string;
}

async function exchangeCode(config: CognitoConfig, code: string, verifier: string): Promise<Tokens> {
  const response = await fetch(`${config.cognitoDomain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.userPoolClientId,
      code,
      redirect_uri: redirectUri(),
      code_verifier: verifier,
    }),
  });
  if (!response.ok) {
    throw new Error(`sign-in failed: the token endpoint answered HTTP ${response.status}`);
  }
  const tokens = (await response.json()) as { id_token?: string; access_token?: string };
  if (!tokens.id_token || !tokens.access_token) {
    throw new Error("sign-in failed: no ID or access token");
  }
  return { idToken: tokens.id_token, accessToken: tokens.access_token };
}

async function identityPoolCredentials(config: CognitoConfig, idToken: string): Promise<{ credentials: AwsCredentials; expiresAt: Date | null }> {
  const client = new CognitoIdentityClient({ region: config.region });
  const logins = { [`cognito-idp.${config.region}.amazonaws.com/${config.userPoolId}`]: idToken };
  const identity = await client.send(new GetIdCommand({ IdentityPoolId: config.identityPoolId, Logins: logins }));
  const reply = await client.send(new GetCredentialsForIdentityCommand({ IdentityId: identity.IdentityId, Logins: logins }));
  const issued = reply.Credentials;
  if (!issued?.AccessKeyId || !issued.SecretKey || !issued.SessionToken) {
    throw new Error("the identity pool returned no credentials (is the user in BillingReader or BillingAdmin?)");
  }
  return {
    credentials: { accessKeyId: issued.AccessKeyId, secretAccessKey: issued.SecretKey, sessionToken: issued.SessionToken },
    expiresAt: issued.Expiration ?? null,
  };
}

/** The session after Cognito's redirect back (?code=&state=), or null when not signed in. */
async function cognitoSession(config: CognitoConfig): Promise<Session | null> {
  const query = new URLSearchParams(window.location.search);
  const code = query.get("code");
  const pending = sessionStorage.getItem(PKCE_STORAGE_KEY);
  sessionStorage.removeItem(PKCE_STORAGE_KEY);
  if (!code || !pending) {
    return null;
  }
  // The code must not stay in the address bar (or in history) once used.
  window.history.replaceState(null, "", redirectUri() + window.location.hash);
  const { verifier, state } = JSON.parse(pending) as { verifier: string; state: string };
  if (query.get("state") !== state) {
    throw new Error("sign-in failed: the state does not match (start again)");
  }
  const { idToken, accessToken } = await exchangeCode(config, code, verifier);
  const claims = decodeClaims(idToken);
  const { credentials, expiresAt } = await identityPoolCredentials(config, idToken);
  return {
    principal: claims.email ?? claims["cognito:username"] ?? "staff",
    groups: claims["cognito:groups"] ?? [],
    credentials,
    expiresAt,
    accessToken,
  };
}

export async function startSession(config: ConsoleConfig): Promise<Session | null> {
  if (config.mode === "local") {
    return { principal: config.principal, groups: config.groups, credentials: config.credentials, expiresAt: null, accessToken: null };
  }
  return cognitoSession(config);
}
