// The life of one ticket, as a customer's web client lives it: who am I, open a ticket,
// page through my tickets by cursor, read the ticket, watch it live, reply, and see the
// reply arrive over the socket, then find the ticket by searching for a word of the reply in
// another form (the search is stemmed). With an admin's token too, the admin looks at the
// queue of open tickets, takes the ticket on and the customer sees the status change live;
// the admin writes an internal note, which the customer's search never finds and the
// admin's does; then the admin triages the ticket (a priority, themself as the assignee,
// two tags) and the customer sees the priority and the assignee, never a tag nor the note.
import { mutate, present, query, signIn, type Session } from "./client.js";
import { readConfig, type Config } from "./config.js";
import type {
  CreateTicketInput,
  TicketPatch,
  TicketPriority,
  TicketsByCursorQueryVariables,
} from "./gql/graphql.js";
import {
  AddInternalNote,
  CreateTicket,
  Me,
  MoveTicket,
  OpenQueue,
  OpenTicket,
  Reply,
  SearchTickets,
  TicketTriage,
  TicketsByCursor,
  TriageTicket,
} from "./operations.js";
import { watchTicket, type TicketEvent, type TicketWatch } from "./watch.js";

/** Tickets a page when the customer pages through their tickets by cursor. */
const PAGE_SIZE = 2;
/** How many tickets of the admin's queue to show. */
const QUEUE_SIZE = 5;
/** Most urgent first, as the `PRIORITY` order sorts. */
const PRIORITY_RANK: Record<TicketPriority, number> = { URGENT: 0, HIGH: 1, NORMAL: 2, LOW: 3 };
/** How long an event may take to come back over the socket. */
const EVENT_TIMEOUT_MS = 10_000;
/** The customer's reply, and a word of it in another form that a search finds it by. */
const REPLY = "Any news? Both printers in the office are still offline.";
const REPLY_WORD = "printers";
const REPLY_SEARCH = "printer";
/** The admin's internal note, and the distinctive word of it that is searched for. */
const NOTE = "Internal: this customer is on the old Kestrel plan; check the contract first.";
const NOTE_SEARCH = "kestrel";
/** How many tickets a search shows. */
const SEARCH_SIZE = 5;
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
  const created = await openTicket({ client }, input);
  const more = await fillPages({ client });

  await pageTickets({ client }, [created.id, ...more]);

  const ticket = present((await query(client, OpenTicket, { id: created.id })).ticket, "ticket");
  console.log(`opened ticket ${ticket.id}: ${ticket.status}, ${ticket.messages.length} message(s)`);
  for (const message of ticket.messages) {
    console.log(`  [${message.authorRole}] ${message.body}`);
  }
  // The newest event of a fresh ticket (events come oldest first, and it has only a few).
  const lastEvent = present(ticket.events.at(-1), "event of the ticket");

  // Tags and internal notes are staff-only: a customer's subscription must never deliver
  // one.
  let leakedTags: TicketEvent | undefined;
  const deliveredMessages = new Set<string>();
  const watch = watchTicket(client, ticket.id, lastEvent.id, (event) => {
    console.log(`  event ${describe(event)}`);
    if (showsTags(event)) {
      leakedTags ??= event;
    }
    if (event.message) {
      deliveredMessages.add(event.message.id);
    }
  });
  console.log(`subscribed to ticketEvents(ticketId: ${ticket.id}, after: ${lastEvent.id})`);
  try {
    const replied = await mutate(client, Reply, { ticketId: ticket.id, body: REPLY });
    const reply = present(replied.addTicketMessage, "message");
    console.log(`replied: message ${reply.id}`);
    await watch.waitFor(
      `MESSAGE_ADDED event for message ${reply.id}`,
      (event) => event.kind === "MESSAGE_ADDED" && event.message?.id === reply.id,
      EVENT_TIMEOUT_MS,
    );
    console.log("the reply came back over the socket");

    const found = await searchTickets({ client }, "customer", REPLY_SEARCH);
    if (!found.includes(ticket.id)) {
      throw new Error(
        `the customer's search "${REPLY_SEARCH}" does not find ticket ${ticket.id}, ` +
          `whose reply says "${REPLY_WORD}"`,
      );
    }
    console.log(`the customer's search "${REPLY_SEARCH}" finds the ticket by its reply`);

    if (admin) {
      await showQueue(admin);
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

      const noteId = await internalNote(admin, { client }, ticket.id);
      // The note's event comes before the triage's, which the customer waits for: had the
      // socket delivered the note, it would have by then.
      await triage(admin, { client }, ticket.id, watch);
      if (leakedTags) {
        throw new Error(`the customer saw a tag over the socket: ${describe(leakedTags)}`);
      }
      if (deliveredMessages.has(noteId)) {
        throw new Error(`the customer saw the internal note ${noteId} over the socket`);
      }
      console.log("the customer's socket never delivered the internal note");
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

/**
 * The admin writes an internal note with a distinctive word; the customer searches for that
 * word and must find nothing (customers search the subject and the public messages only),
 * while the admin's same search finds the ticket. Answers the note's id.
 */
async function internalNote(
  admin: Session,
  { client }: Pick<Session, "client">,
  ticketId: string,
): Promise<string> {
  const written = await mutate(admin.client, AddInternalNote, { ticketId, body: NOTE });
  const note = present(written.addTicketMessage, "message");
  if (!note.internal) {
    throw new Error(`the admin's note ${note.id} is not internal`);
  }
  console.log(`admin wrote an internal note: message ${note.id} "${note.body}"`);

  const customerFound = await searchTickets({ client }, "customer", NOTE_SEARCH);
  if (customerFound.length > 0) {
    throw new Error(
      `the customer's search "${NOTE_SEARCH}" finds ${customerFound.join(", ")}: ` +
        "it reads internal notes",
    );
  }
  console.log(`the customer's search "${NOTE_SEARCH}" finds nothing: it never reads a note`);

  const adminFound = await searchTickets(admin, "admin", NOTE_SEARCH);
  if (!adminFound.includes(ticketId)) {
    throw new Error(`the admin's search "${NOTE_SEARCH}" does not find ticket ${ticketId}`);
  }
  console.log(`the admin's search "${NOTE_SEARCH}" finds the ticket by its internal note`);
  return note.id;
}

/**
 * The viewer's tickets that `search` finds, newest first, the first `SEARCH_SIZE` of them:
 * one line with their `totalCount` and ids. Answers their ids.
 */
async function searchTickets(
  { client }: Pick<Session, "client">,
  who: string,
  search: string,
): Promise<string[]> {
  const variables = { search, first: SEARCH_SIZE };
  const connection = (await query(client, SearchTickets, variables)).ticketsConnection;
  const { nodes, totalCount } = present(connection, "ticket connection");
  const ids = nodes.map((ticket) => ticket.id);
  console.log(
    `${who} searches "${search}" (totalCount ${totalCount}): ${ids.join(", ") || "none"}`,
  );
  if (ids.length === 0 && totalCount > 0) {
    throw new Error(`the search "${search}" says totalCount ${totalCount} but shows no ticket`);
  }
  return ids;
}

/** Whether an event tells of tags, which a customer must never see. */
function showsTags(event: Pick<TicketEvent, "kind" | "addedTags" | "removedTags">): boolean {
  return (
    event.kind === "TAGS_CHANGED" ||
    (event.addedTags?.length ?? 0) > 0 ||
    (event.removedTags?.length ?? 0) > 0
  );
}

/** Opens a ticket owned by the viewer, and says so. */
async function openTicket(
  { client }: Pick<Session, "client">,
  input: CreateTicketInput,
): Promise<{ id: string }> {
  const created = present((await mutate(client, CreateTicket, { input })).createTicket, "ticket");
  console.log(`created ticket ${created.id} "${created.subject}" (${created.status})`);
  return created;
}

/**
 * Opens as many more tickets as it takes for the viewer's tickets not to fit on one page
 * of `PAGE_SIZE` (none when they already do not), so that paging has more than one page
 * to show. Answers their ids.
 */
async function fillPages({ client }: Pick<Session, "client">): Promise<string[]> {
  const first = (await query(client, TicketsByCursor, { first: PAGE_SIZE })).ticketsConnection;
  const missing = PAGE_SIZE + 1 - present(first, "ticket connection").totalCount;
  const opened: string[] = [];
  for (let n = 1; n <= missing; n += 1) {
    const input = {
      subject: `Another ticket from the typed client (${n}/${missing})`,
      message: "Opened so that the customer's tickets take more than one page.",
    };
    opened.push((await openTicket({ client }, input)).id);
  }
  return opened;
}

/**
 * Every ticket of the viewer, newest first, `PAGE_SIZE` at a time by cursor: `first` after
 * the previous page's `pageInfo.endCursor`, for as long as `hasNextPage`. The pages together
 * must hold each ticket exactly once: no ticket twice, `totalCount` of them in all, and
 * every one of `expected` among them.
 */
async function pageTickets(
  { client }: Pick<Session, "client">,
  expected: string[],
): Promise<void> {
  /** The page each ticket was on. */
  const pageOf = new Map<string, number>();
  let total: number | undefined;
  let after: string | null = null;
  let page = 1;
  for (; ; page += 1) {
    const variables: TicketsByCursorQueryVariables = { first: PAGE_SIZE, after };
    const connection = (await query(client, TicketsByCursor, variables)).ticketsConnection;
    const { edges, pageInfo, totalCount } = present(connection, "ticket connection");
    const ids = edges.map((edge) => edge.node.id);
    console.log(`tickets page ${page} (totalCount ${totalCount}): ${ids.join(", ") || "none"}`);
    if (total !== undefined && totalCount !== total) {
      throw new Error(`page ${page} says totalCount ${totalCount}, page 1 said ${total}`);
    }
    total = totalCount;
    if (edges.length > PAGE_SIZE) {
      throw new Error(`page ${page} holds ${edges.length} tickets, more than first: ${PAGE_SIZE}`);
    }
    for (const id of ids) {
      const earlier = pageOf.get(id);
      if (earlier !== undefined) {
        throw new Error(`ticket ${id} is on page ${earlier} and again on page ${page}`);
      }
      pageOf.set(id, page);
    }
    if (!pageInfo.hasNextPage) {
      break;
    }
    const last = edges.at(-1);
    if (!last || !pageInfo.endCursor) {
      throw new Error(`page ${page} says hasNextPage but has no endCursor`);
    }
    if (pageInfo.endCursor !== last.cursor) {
      throw new Error(`page ${page}'s endCursor is not the cursor of its last ticket ${last.node.id}`);
    }
    if (page * PAGE_SIZE >= totalCount) {
      throw new Error(
        `page ${page} says hasNextPage, but ${page} pages of ${PAGE_SIZE} hold all ${totalCount}`,
      );
    }
    after = pageInfo.endCursor;
  }
  if (pageOf.size !== total) {
    throw new Error(`the pages hold ${pageOf.size} tickets, but totalCount is ${total}`);
  }
  const missing = expected.filter((id) => !pageOf.has(id));
  if (missing.length > 0) {
    throw new Error(`ticket(s) ${missing.join(", ")} on no page`);
  }
  console.log(`the ${page} page(s) hold each of the ${total} tickets exactly once`);
}

/**
 * What an admin works through: the open tickets, most urgent first (the oldest first
 * within a priority), the first `QUEUE_SIZE` of them, with their priorities and tags.
 */
async function showQueue({ client }: Pick<Session, "client">): Promise<void> {
  const connection = (await query(client, OpenQueue, { first: QUEUE_SIZE })).ticketsConnection;
  const { nodes, totalCount } = present(connection, "ticket connection");
  console.log(`admin queue, OPEN by PRIORITY (${nodes.length} of ${totalCount}):`);
  nodes.forEach((ticket, i) => {
    console.log(
      `  ${ticket.priority} ${JSON.stringify(ticket.tags)} ${ticket.id} ` +
        `from ${ticket.userId} "${ticket.subject}"`,
    );
    if (ticket.status !== "OPEN") {
      throw new Error(`ticket ${ticket.id} is ${ticket.status} in the OPEN queue`);
    }
    const before = nodes[i - 1];
    if (before && PRIORITY_RANK[before.priority] > PRIORITY_RANK[ticket.priority]) {
      throw new Error(`the queue puts ${before.priority} before ${ticket.priority}`);
    }
  });
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
