// DOM building without HTML parsing: every piece of data becomes a text node, so an account
// name such as <img src=x onerror=alert(1)> shows as those characters and never runs.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  [attribute: string]: string | number | boolean | null | undefined | EventListener | Record<string, EventListener>;
}

const FORBIDDEN_ATTRIBUTE = /^(on|style$|srcdoc$)/i;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "on" && typeof value === "object" && value !== null) {
      for (const [event, listener] of Object.entries(value)) {
        element.addEventListener(event, listener);
      }
      continue;
    }
    if (FORBIDDEN_ATTRIBUTE.test(name)) {
      // Handlers come through `on` only; inline styles are refused by the CSP anyway.
      throw new Error(`attribute ${name} is not allowed`);
    }
    if (value === false || value === null || value === undefined) {
      continue;
    }
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

let nextId = 0;

/** A unique id for label/control pairs. */
export function uniqueId(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled control: <label for> bound to the control's id. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  if (!control.id) {
    control.id = uniqueId("field");
  }
  const wrapper = h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  if (hint) {
    const hintId = uniqueId("hint");
    control.setAttribute("aria-describedby", hintId);
    append(wrapper, h("small", { id: hintId, class: "hint" }, hint));
  }
  return wrapper;
}

/** A region that announces its text to screen readers (errors and confirmations). */
export function statusLine(): HTMLElement {
  return h("p", { class: "status-line", role: "status", "aria-live": "polite" });
}

export function showMessage(line: HTMLElement, message: string, kind: "ok" | "error" | "info" = "info"): void {
  line.textContent = message;
  line.className = `status-line ${kind}`;
  line.setAttribute("role", kind === "error" ? "alert" : "status");
}

/** Ask with a modal <dialog> (focus is trapped by the browser, Escape cancels). */
export function confirmDialog(title: string, body: Child, confirmLabel: string, extra?: HTMLElement): Promise<boolean> {
  return new Promise((resolve) => {
    const confirmButton = h("button", { type: "submit", value: "confirm", class: "danger" }, confirmLabel);
    const cancelButton = h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel");
    const form = h("form", { method: "dialog" }, h("h2", {}, title), h("p", {}, body), extra ?? null, h("div", { class: "actions" }, cancelButton, confirmButton));
    const dialog = h("dialog", { "aria-label": title }, form);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}
