// The life of one ticket, as a customer's web client lives it: who am I, open a ticket,
// list my tickets, read the ticket, watch it live, reply, and see the reply arrive over
// the socket. With an admin's token too, an admin takes the ticket on and the customer
// sees the status change live.
import { mutate, present, query, signIn, type Session } from "./client.js";
import { readConfig, type Config } from "./config.js";
import { CreateTicket, Me, MoveTicket, OpenTicket, Reply, Tickets } from "./operations.js";
import { watchTicket, type TicketEvent } from "./watch.js";

const PAGE_SIZE = 5;
/** How long an event may take to come back over the socket. */
const EVENT_TIMEOUT_MS = 10_000;

async function main(config: Config): Promise<void> {
  const customer = signIn(config.httpUrl, config.wsUrl, config.token);
  const admin = config.adminToken
    ? signIn(config.httpUrl, config.wsUrl, config.adminToken)
    : undefined;
  try {
    console.log(`server: ${config.httpUrl} (socket ${config.wsUrl})`);
    await walkThrough(customer, admin);
  } finally {
    await customer.close();
    await admin?.close();
  }
}

async function walkThrough({ client }: Session, admin: Session | undefined): Promise<void> {
  const me = present((await query(client, Me, {})).me, "viewer");
  console.log(`me: ${me.id} (${me.role})`);

  const input = {
    subject: "The typed client says hello",
    message: "Opened by examples/web-client.",
  };
  const created = present((await mutate(client, CreateTicket, { input })).createTicket, "ticket");
  console.log(`created ticket ${created.id} "${created.subject}" (${created.status})`);

  await listTickets({ client }, created.id);

  const ticket = present((await query(client, OpenTicket, { id: created.id })).ticket, "ticket");
  console.log(`opened ticket ${ticket.id}: ${ticket.status}, ${ticket.messages.length} message(s)`);
  for (const message of ticket.messages) {
    console.log(`  [${message.authorRole}] ${message.body}`);
  }
  // The newest event of a fresh ticket (events come oldest first, and it has only a few).
  const lastEvent = present(ticket.events.at(-1), "event of the ticket");

  const watch = watchTicket(client, ticket.id, lastEvent.id, (event) =>
    console.log(`  event ${describe(event)}`),
  );
  console.log(`subscribed to ticketEvents(ticketId: ${ticket.id}, after: ${lastEvent.id})`);
  try {
    const replied = await mutate(client, Reply, { ticketId: ticket.id, body: "Any news?" });
    const reply = present(replied.addTicketMessage, "message");
    console.log(`replied: message ${reply.id}`);
    await watch.waitFor(
      `MESSAGE_ADDED event for message ${reply.id}`,
      (event) => event.kind === "MESSAGE_ADDED" && event.message?.id === reply.id,
      EVENT_TIMEOUT_MS,
    );
    console.log("the reply came back over the socket");

    if (admin) {
      const variables = { id: ticket.id, status: "IN_PROGRESS" } as const;
      const moved = present(
        (await mutate(admin.client, MoveTicket, variables)).updateTicketStatus,
        "ticket",
      );
      console.log(`admin moved the ticket to ${moved.status}`);
      await watch.waitFor(
        "STATUS_CHANGED event to IN_PROGRESS",
        (event) => event.kind === "STATUS_CHANGED" && event.toStatus === "IN_PROGRESS",
        EVENT_TIMEOUT_MS,
      );
      console.log("the customer saw the status change live");
    }
  } finally {
    watch.stop();
  }
}

/** Every page of the viewer's tickets, newest first; `expected` must be among them. */
async function listTickets({ client }: Pick<Session, "client">, expected: string): Promise<void> {
  let found = false;
  for (let page = 1; ; page += 1) {
    const tickets = (await query(client, Tickets, { page, limit: PAGE_SIZE })).tickets;
    const { pagination, items } = present(tickets, "ticket page");
    const { page: shown, totalPages, total } = pagination;
    console.log(`tickets page ${shown}/${totalPages} (${total} in all):`);
    for (const item of items) {
      console.log(`  ${item.id} ${item.status} "${item.subject}"`);
    }
    found ||= items.some((item) => item.id === expected);
    if (!pagination.hasNextPage) {
      break;
    }
  }
  if (!found) {
    throw new Error(`ticket ${expected} is not in the list`);
  }
}

function describe(event: TicketEvent): string {
  switch (event.kind) {
    case "MESSAGE_ADDED":
      return `MESSAGE_ADDED: [${event.message?.authorRole}] ${event.message?.body}`;
    case "STATUS_CHANGED":
      return `STATUS_CHANGED: now ${event.toStatus}`;
    case "TICKET_CREATED":
      return "TICKET_CREATED";
  }
}

try {
  await main(readConfig(process.env));
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
