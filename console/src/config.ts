// The console's settings come from config.json next to index.html: written by the CDK deployment
// (API URL, Cognito ids, region) or served by the local credits server (local fake credentials).

export interface LocalConfig {
  mode: "local";
  apiUrl: string;
  region: string;
  principal: string;
  groups: string[];
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface CognitoConfig {
  mode: "cognito";
  /** The API Gateway stage URL the requests are signed for (they are sent to this origin's /v1/*). */
  apiUrl: string;
  region: string;
  userPoolId: string;
  userPoolClientId: string;
  identityPoolId: string;
  cognitoDomain: string;
}

export type ConsoleConfig = LocalConfig | CognitoConfig;

export async function loadConfig(): Promise<ConsoleConfig> {
  // The local server hands each principal its own config; the query names the one asked for.
  const principal = new URLSearchParams(window.location.search).get("principal");
  const url = principal ? `config.json?principal=${encodeURIComponent(principal)}` : "config.json";
  const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`config.json could not be loaded (HTTP ${response.status})`);
  }
  const config = (await response.json()) as ConsoleConfig;
  if (config.mode !== "local" && config.mode !== "cognito") {
    throw new Error("config.json has no valid mode");
  }
  return config;
}
