// Starts GraphiQL against this server's /graphql: queries and mutations over HTTP,
// subscriptions over a WebSocket. A file of its own because the page's
// Content-Security-Policy allows no inline script.
"use strict";

// The headers editor starts with this value, to show where the token goes. Until a token
// replaces it, requests go without the header: the server refuses a malformed token, and
// the schema (introspection) loads without one.
const TOKEN_TEMPLATE = "Bearer <token>";

// GraphiQL's dialogs lock scrolling with a <style> they insert (react-remove-scroll), which
// takes its nonce from this global: the page's policy allows that nonce.
window.__webpack_nonce__ = document.querySelector('meta[name="style-nonce"]').content;

const endpoint = new URL("/graphql", window.location.href);
const socketEndpoint = new URL(endpoint);
socketEndpoint.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

// GraphiQL's fetcher sends the headers editor's content as HTTP headers and, for a
// subscription, as the connection_init payload, which is where the server reads the
// token on a WebSocket.
const send = GraphiQL.createFetcher({
  url: endpoint.href,
  subscriptionUrl: socketEndpoint.href,
});

function withoutTemplate(headers) {
  return Object.fromEntries(
    Object.entries(headers || {}).filter(
      ([name, value]) => !(name.toLowerCase() === "authorization" && value === TOKEN_TEMPLATE),
    ),
  );
}

function fetcher(params, options) {
  return send(params, { ...options, headers: withoutTemplate(options && options.headers) });
}

ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders: JSON.stringify({ Authorization: TOKEN_TEMPLATE }, null, 2),
    defaultEditorToolsVisibility: "headers",
    defaultQuery: "# Put a token in the Headers tab below, then run:\n\n{\n  me {\n    id\n    role\n  }\n}\n",
  }),
);
