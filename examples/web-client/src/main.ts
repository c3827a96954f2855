// The life of one ticket, as a customer's web client lives it: who am I, open a ticket,
// list my tickets, read the ticket, watch it live, reply, and see the reply arrive over
// the socket. With an admin's token too, an admin takes the ticket on and the customer
// sees the status change live; then the admin triages it (a priority, themself as the
// assignee, two tags) and the customer sees the priority and the assignee, never a tag.
import { mutate, present, query, signIn, type Session } from "./client.js";
import { readConfig, type Config } from "./config.js";
import type { TicketPatch, TicketPriority } from "./gql/graphql.js";
import {
  CreateTicket,
  Me,
  MoveTicket,
  OpenTicket,
  Reply,
  TicketTriage,
  Tickets,
  TriageTicket,
} from "./operations.js";
import { watchTicket, type TicketEvent, type TicketWatch } from "./watch.js";

const PAGE_SIZE = 5;
/** How long an event may take to come back over the socket. */
const EVENT_TIMEOUT_MS = 10_000;
/** The priority and the tags the admin gives the ticket. */
const PRIORITY: TicketPriority = "HIGH";
const TAGS = ["billing", "vip"];

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

  // Tags are staff-only: a customer's subscription must never deliver one.
  let leakedTags: TicketEvent | undefined;
  const watch = watchTicket(client, ticket.id, lastEvent.id, (event) => {
    console.log(`  event ${describe(event)}`);
    if (showsTags(event)) {
      leakedTags ??= event;
    }
  });
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

      await triage(admin, { client }, ticket.id, watch);
      if (leakedTags) {
        throw new Error(`the customer saw a tag over the socket: ${describe(leakedTags)}`);
      }
    }
  } finally {
    watch.stop();
  }
}

/**
 * The admin sets a priority, takes the ticket and tags it in one `updateTicket`; the
 * customer sees the priority and the assignee change live, then reads the ticket: the
 * priority and the assignee are there, the tags are not (`tags: []`, no TAGS_CHANGED event).
 */
async function triage(
  admin: Session,
  { client }: Pick<Session, "client">,
  ticketId: string,
  watch: TicketWatch,
): Promise<void> {
  const adminId = present((await query(admin.client, Me, {})).me, "admin viewer").id;
  const input: TicketPatch = { priority: PRIORITY, assigneeId: adminId, addTags: TAGS };
  const triaged = present(
    (await mutate(admin.client, TriageTicket, { id: ticketId, input })).updateTicket,
    "ticket",
  );
  console.log(
    `admin triaged the ticket: priority ${triaged.priority}, assignee ${triaged.assigneeId}, ` +
      `tags ${JSON.stringify(triaged.tags)}`,
  );
  await watch.waitFor(
    `ASSIGNEE_CHANGED event to ${adminId}`,
    (event) => event.kind === "ASSIGNEE_CHANGED" && event.toAssigneeId === adminId,
    EVENT_TIMEOUT_MS,
  );
  console.log("the customer saw the priority and the assignee change live");

  const seen = present((await query(client, TicketTriage, { id: ticketId })).ticket, "ticket");
  console.log(
    `customer reads the ticket: priority ${seen.priority}, assignee ${seen.assigneeId}, ` +
      `tags ${JSON.stringify(seen.tags)}`,
  );
  if (seen.priority !== PRIORITY || seen.assigneeId !== adminId) {
    throw new Error(
      `the customer should see priority ${PRIORITY} and assignee ${adminId}, ` +
        `not ${seen.priority} and ${seen.assigneeId}`,
    );
  }
  if (seen.tags.length > 0) {
    throw new Error(`the customer saw tags ${JSON.stringify(seen.tags)}`);
  }
  const tagEvent = seen.events.find(showsTags);
  if (tagEvent) {
    throw new Error(`the customer saw a tag event in the timeline: ${tagEvent.kind}`);
  }
  console.log("the customer sees no tag");
}

/** Whether an event tells of tags, which a customer must never see. */
function showsTags(event: Pick<TicketEvent, "kind" | "addedTags" | "removedTags">): boolean {
  return (
    event.kind === "TAGS_CHANGED" ||
    (event.addedTags?.length ?? 0) > 0 ||
    (event.removedTags?.length ?? 0) > 0
  );
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
    case "PRIORITY_CHANGED":
      return `PRIORITY_CHANGED: now ${event.toPriority}`;
    case "ASSIGNEE_CHANGED":
      return `ASSIGNEE_CHANGED: now ${event.toAssigneeId ?? "unassigned"}`;
    case "TAGS_CHANGED":
      return `TAGS_CHANGED: +${JSON.stringify(event.addedTags)} -${JSON.stringify(event.removedTags)}`;
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
