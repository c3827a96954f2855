/** Where the server is and who the client is, from the environment. */
export interface Config {
  /** The GraphQL endpoint over HTTP, e.g. http://127.0.0.1:8080/graphql. */
  httpUrl: string;
  /** The same endpoint over WebSocket: ws:// for http://, wss:// for https://. */
  wsUrl: string;
  /** A customer's token: the walk-through is theirs. */
  token: string;
  /** With an admin's token as well, an admin moves the ticket, and the customer sees it live. */
  adminToken: string | undefined;
}

export function readConfig(env: NodeJS.ProcessEnv): Config {
  const httpUrl = required(env, "SUPPORTDESK_URL");
  const url = new URL(httpUrl);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`SUPPORTDESK_URL must be an http:// or https:// URL, not ${httpUrl}`);
  }
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return {
    httpUrl,
    wsUrl: url.toString(),
    token: required(env, "SUPPORTDESK_TOKEN"),
    adminToken: env["SUPPORTDESK_ADMIN_TOKEN"] || undefined,
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}
