// Drives /graphiql in headless Chromium against a live server, as a person would: the page
// must render from the server alone (no request to another host, no Content-Security-Policy
// violation), run a query with the token typed into the headers editor, and receive a
// subscription event over the WebSocket.
//
//   SUPPORTDESK_URL=http://127.0.0.1:8080/graphql SUPPORTDESK_TOKEN=<customer jwt> \
//     node graphiql-check.mjs
//
// SUPPORTDESK_SUB is the token's subject (default: browser-check). CHROMIUM overrides
// /usr/bin/chromium. Exits non-zero with the reason, and a screenshot, on the first failure.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const STEP_TIMEOUT_MS = 20_000;
const endpoint = new URL(required("SUPPORTDESK_URL"));
const token = required("SUPPORTDESK_TOKEN");
const subject = process.env.SUPPORTDESK_SUB ?? "browser-check";
const pageUrl = new URL("/graphiql", endpoint);

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`graphiql check: set ${name}`);
    process.exit(2);
  }
  return value;
}

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/** What the page asked of the network and said on its console. */
class Observations {
  foreignRequests = [];
  policyViolations = [];
  pageErrors = [];
  failedResponses = [];
  socketFramesSent = [];

  watch(page) {
    page.on("request", (request) => this.#seeUrl(request.url()));
    page.on("websocket", (socket) => {
      this.#seeUrl(socket.url());
      socket.on("framesent", (frame) => this.socketFramesSent.push(String(frame.payload)));
    });
    page.on("console", (message) => {
      if (message.type() === "error" && /Content.Security.Policy/i.test(message.text())) {
        this.policyViolations.push(message.text());
      }
    });
    page.on("pageerror", (error) => this.pageErrors.push(error.message));
    page.on("response", (response) => {
      if (response.status() >= 400) this.failedResponses.push(`${response.status()} ${response.url()}`);
    });
  }

  #seeUrl(raw) {
    const url = new URL(raw);
    // data: URLs are GraphiQL's inlined fonts and images: no network.
    if (url.protocol !== "data:" && url.host !== pageUrl.host) {
      this.foreignRequests.push(raw);
    }
  }

  assertClean() {
    check(this.foreignRequests.length === 0, `requests to other hosts: ${this.foreignRequests.join(", ")}`);
    check(this.policyViolations.length === 0, `CSP violations: ${this.policyViolations.join(" | ")}`);
    check(this.failedResponses.length === 0, `failed responses: ${this.failedResponses.join(", ")}`);
    check(this.pageErrors.length === 0, `uncaught errors in the page: ${this.pageErrors.join(" | ")}`);
  }
}

/** GraphiQL's editors are CodeMirror 5 instances, reached through their wrapper element. */
const editors = {
  query: ".graphiql-query-editor .CodeMirror",
  headers: ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror",
  result: ".result-window .CodeMirror",
};

async function editorText(page, selector) {
  return page.$eval(selector, (element) => element.CodeMirror.getValue());
}

async function setEditorText(page, selector, text) {
  await page.$eval(selector, (element, value) => element.CodeMirror.setValue(value), text);
}

/**
 * GraphiQL parses the query 100 ms after the last change and picks the transport from
 * that parse: wait for it, as a person typing would.
 */
async function setQuery(page, query) {
  await setEditorText(page, editors.query, query);
  await page.waitForFunction(
    ([selector, text]) => document.querySelector(selector).CodeMirror.documentAST?.loc?.source.body === text,
    [editors.query, query],
    { timeout: STEP_TIMEOUT_MS },
  );
}

/** Waits until the result pane holds JSON that `accept` takes, and returns it. */
async function waitForResult(page, what, accept, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await editorText(page, editors.result);
    try {
      const result = JSON.parse(last);
      if (accept(result)) return result;
    } catch {
      // Still empty, or a subscription still streaming in.
    }
    await page.waitForTimeout(100);
  }
  throw new CheckFailed(`${what}: the result pane shows ${JSON.stringify(last)}`);
}

async function run(page) {
  await page.goto(pageUrl.href);
  await checkHeadersTemplate(page);
  await checkSchemaLoadsWithoutToken(page);
  await checkDialogPassesPolicy(page);
  await setEditorText(page, editors.headers, JSON.stringify({ Authorization: `Bearer ${token}` }));
  await checkQuery(page);
  await checkSubscription(page);
}

/** The headers editor is open, with the Authorization template in it. */
async function checkHeadersTemplate(page) {
  await page.waitForSelector(editors.query, { timeout: STEP_TIMEOUT_MS });
  await page.waitForSelector(editors.headers, { timeout: STEP_TIMEOUT_MS });
  const activeTool = await page.textContent(".graphiql-editor-tools button.active");
  check(activeTool?.trim() === "Headers", `the open editor tool is ${activeTool}, not Headers`);
  const template = await editorText(page, editors.headers);
  check(template.includes("Authorization"), `the headers editor starts with ${JSON.stringify(template)}`);
}

/**
 * The schema loads while the template still stands in for a token (the fetcher leaves it
 * out), and the docs list the schema's root types.
 */
async function checkSchemaLoadsWithoutToken(page) {
  const introspection = page.waitForResponse(
    (response) => response.url() === endpoint.href && response.request().postData()?.includes("IntrospectionQuery"),
    { timeout: STEP_TIMEOUT_MS },
  );
  await page.click('[aria-label="Re-fetch GraphQL schema"]');
  const schema = await introspection;
  check(schema.status() === 200, `the schema was answered ${schema.status()} ${await schema.text()}`);
  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer-section-title:has-text("Root Types")', {
    timeout: STEP_TIMEOUT_MS,
  });
  await page.click('[aria-label="Hide Documentation Explorer"]');
}

/** A dialog locks scrolling with a <style> it inserts: the page's nonce must let it in. */
async function checkDialogPassesPolicy(page) {
  await page.click('[aria-label="Open settings dialog"]');
  await page.waitForSelector('[role="dialog"]', { timeout: STEP_TIMEOUT_MS });
  await page.keyboard.press("Escape");
}

async function checkQuery(page) {
  await setQuery(page, "{ me { id role } }");
  await page.click(".graphiql-execute-button");
  await waitForResult(page, "the query { me { id role } }", (result) => result.data?.me?.id === subject);
  console.log(`graphiql check: query answered over HTTP for ${subject}`);
}

/**
 * The subscription runs over the WebSocket with the token in connection_init, and shows
 * the event of a ticket created meanwhile. The server starts the feed a moment after the
 * subscribe message, so a ticket created in between is not in it: up to three tickets are
 * created, one each while the page waits.
 */
async function checkSubscription(page) {
  await setQuery(page, "subscription { ticketFeed { kind ticketId } }");
  await page.click(".graphiql-execute-button");
  await waitForSubscribe(page);
  const created = [];
  for (let attempt = 1; ; attempt += 1) {
    created.push(await createTicket());
    const last = attempt === 3;
    try {
      const delivered = await waitForResult(
        page,
        "the subscription ticketFeed",
        (result) => result.data?.ticketFeed?.kind === "TICKET_CREATED" && created.includes(result.data.ticketFeed.ticketId),
        last ? STEP_TIMEOUT_MS : 3_000,
      );
      const ticketId = delivered.data.ticketFeed.ticketId;
      console.log(`graphiql check: subscription delivered TICKET_CREATED of ${ticketId} over the WebSocket`);
      return;
    } catch (error) {
      if (last || !(error instanceof CheckFailed)) throw error;
    }
  }
}

/** Waits until the page has subscribed, with the token in its connection_init payload. */
async function waitForSubscribe(page) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!observations.socketFramesSent.some((frame) => JSON.parse(frame).type === "subscribe")) {
    check(Date.now() < deadline, `no subscribe frame sent; frames: ${observations.socketFramesSent.join(" ")}`);
    await page.waitForTimeout(100);
  }
  const init = observations.socketFramesSent.map((frame) => JSON.parse(frame)).find((message) => message.type === "connection_init");
  check(
    init?.payload?.Authorization === `Bearer ${token}`,
    `connection_init did not carry the headers editor's token: ${JSON.stringify(init)}`,
  );
}

async function createTicket() {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation { createTicket(input: { subject: "From the browser check", message: "Hello." }) { id } }',
    }),
  });
  const body = await response.json();
  check(body.data?.createTicket?.id, `createTicket answered ${response.status} ${JSON.stringify(body)}`);
  return body.data.createTicket.id;
}

const observations = new Observations();
const profile = mkdtempSync(join(tmpdir(), "graphiql-check-profile-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // Without these Chromium calls Google's services at start (updates, sync, QUIC probes).
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
observations.watch(page);
let failed = false;
try {
  await run(page);
  observations.assertClean();
  console.log("graphiql check: passed");
} catch (error) {
  failed = true;
  const screenshot = join(tmpdir(), `graphiql-check-${Date.now()}.png`);
  await page.screenshot({ path: screenshot }).catch(() => {});
  console.error(`graphiql check FAILED: ${error instanceof CheckFailed ? error.message : error.stack}`);
  console.error(`graphiql check: screenshot at ${screenshot}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
