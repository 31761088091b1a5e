// The signed-in user's own MFA (deployed only): enrol an authenticator app (TOTP) with Cognito's
// AssociateSoftwareToken / VerifySoftwareToken, then make it the user's MFA. From then on the
// sign-in page asks for its code.

import {
  AssociateSoftwareTokenCommand,
  CognitoIdentityProviderClient,
  SetUserMFAPreferenceCommand,
  VerifySoftwareTokenCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import type { Session } from "./auth";
import { field, h, replaceChildren, showMessage, statusLine } from "./dom";

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function renderSecurity(root: HTMLElement, session: Session, region: string): void {
  const message = statusLine();
  const start = h("button", { type: "button" }, "Set up an authenticator app");
  const steps = h("div");
  replaceChildren(
    root,
    h("h1", { tabindex: -1 }, "Sign-in security"),
    h("p", {}, "Protect your account with a one-time code from an authenticator app (TOTP). Once set up, signing in asks for the code."),
    start,
    steps,
    message,
  );
  const accessToken = session.accessToken;
  if (accessToken === null) {
    start.hidden = true;
    showMessage(message, "Locally there is no Cognito sign-in, so there is nothing to protect here.");
    return;
  }
  const cognito = new CognitoIdentityProviderClient({ region });
  start.addEventListener("click", () => {
    start.disabled = true;
    cognito.send(new AssociateSoftwareTokenCommand({ AccessToken: accessToken })).then(
      (associated) => {
        const secret = associated.SecretCode ?? "";
        const uri = `otpauth://totp/${encodeURIComponent(`edgemeter:${session.principal}`)}?secret=${secret}&issuer=edgemeter`;
        const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", required: true, maxlength: 6 });
        const verify = h("form", { class: "stacked", "aria-label": "Verify the authenticator" }, field("Code shown by the app", code), h("button", { type: "submit" }, "Verify and turn on"));
        verify.addEventListener("submit", (event) => {
          event.preventDefault();
          void turnOn(code.value.trim());
        });
        replaceChildren(
          steps,
          h("p", {}, "In your authenticator app, add an account with this key (or open the link on a phone that has the app):"),
          h("p", { class: "mono secret" }, secret.replace(/(.{4})/g, "$1 ").trim()),
          h("p", { class: "mono" }, uri),
          verify,
        );
        code.focus();
      },
      (error: unknown) => {
        start.disabled = false;
        showMessage(message, `Could not start: ${describe(error)}`, "error");
      },
    );
  });

  async function turnOn(userCode: string): Promise<void> {
    try {
      const verified = await cognito.send(new VerifySoftwareTokenCommand({ AccessToken: accessToken ?? "", UserCode: userCode, FriendlyDeviceName: "authenticator" }));
      if (verified.Status !== "SUCCESS") {
        showMessage(message, "That code did not match: try the next one.", "error");
        return;
      }
      await cognito.send(
        new SetUserMFAPreferenceCommand({ AccessToken: accessToken ?? "", SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true } }),
      );
      replaceChildren(steps);
      showMessage(message, "Done: signing in now asks for a code from your authenticator app.", "ok");
    } catch (error) {
      showMessage(message, `Could not turn it on: ${describe(error)}`, "error");
    }
  }
}
