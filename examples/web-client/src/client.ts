import {
  Client,
  fetchExchange,
  subscriptionExchange,
  type AnyVariables,
  type CombinedError,
  type DocumentInput,
  type OperationResult,
} from "@urql/core";
import { createClient as createSocketClient } from "graphql-ws";
import WebSocket from "ws";

/** A urql client signed in with one token, over HTTP and, for subscriptions, WebSocket. */
export interface Session {
  client: Client;
  /** Closes the socket, so that the process can end. */
  close(): Promise<void>;
}

export function signIn(httpUrl: string, wsUrl: string, token: string): Session {
  const authorization = `Bearer ${token}`;
  // The server reads the token of a socket from the `connection_init` payload, not from a
  // header: browsers cannot set headers on a WebSocket.
  const socket = createSocketClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: authorization },
  });
  const client = new Client({
    url: httpUrl,
    fetchOptions: { headers: { Authorization: authorization } },
    // No cacheExchange: every step here should see what the server has now.
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({
            unsubscribe: socket.subscribe({ ...request, query: request.query ?? "" }, sink),
          }),
        }),
      }),
    ],
  });
  return {
    client,
    close: async () => {
      await socket.dispose();
    },
  };
}

export async function query<Data, Variables extends AnyVariables>(
  client: Client,
  document: DocumentInput<Data, Variables>,
  variables: Variables,
): Promise<Data> {
  return dataOf(await client.query(document, variables).toPromise());
}

export async function mutate<Data, Variables extends AnyVariables>(
  client: Client,
  document: DocumentInput<Data, Variables>,
  variables: Variables,
): Promise<Data> {
  return dataOf(await client.mutation(document, variables).toPromise());
}

/** The data of a result, or the error it carries as an exception. */
export function dataOf<Data, Variables extends AnyVariables>(
  result: OperationResult<Data, Variables>,
): Data {
  if (result.error) {
    throw new Error(errorMessage(result.error));
  }
  if (result.data === undefined) {
    throw new Error("the server answered with no data");
  }
  return result.data;
}

/** The message of each error with its `extensions.code`, as the server sends it. */
function errorMessage(error: CombinedError): string {
  if (error.networkError) {
    return `network: ${error.networkError.message}`;
  }
  return error.graphQLErrors
    .map((e) => {
      const code = e.extensions["code"];
      return typeof code === "string" ? `${e.message} (${code})` : e.message;
    })
    .join("; ");
}

/** `value`, unless the server answered null where this client needs something. */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) {
    throw new Error(`the server answered no ${what}`);
  }
  return value;
}
