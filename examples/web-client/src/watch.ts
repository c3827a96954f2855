import type { Client } from "@urql/core";

import { dataOf } from "./client.js";
import type { TicketEventsSubscription } from "./gql/graphql.js";
import { TicketEvents } from "./operations.js";

export type TicketEvent = TicketEventsSubscription["ticketEvents"];

/** A live `ticketEvents` subscription that remembers what it delivered. */
export interface TicketWatch {
  /** The first event, delivered or still to come, that `matches`; fails after `timeoutMs`. */
  waitFor(
    what: string,
    matches: (event: TicketEvent) => boolean,
    timeoutMs: number,
  ): Promise<TicketEvent>;
  stop(): void;
}

/**
 * Subscribes to the events of a ticket after the event `after`: the server first replays
 * every later event it has recorded, so nothing that happens between reading the ticket
 * and the subscription starting is missed.
 */
export function watchTicket(
  client: Client,
  ticketId: string,
  after: string,
  onEvent: (event: TicketEvent) => void,
): TicketWatch {
  const delivered: TicketEvent[] = [];
  let failure: Error | undefined;
  const wakeUps = new Set<() => void>();

  const events = client.subscription(TicketEvents, { ticketId, after });
  const subscription = events.subscribe((result) => {
    try {
      const event = dataOf(result).ticketEvents;
      delivered.push(event);
      onEvent(event);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    for (const wakeUp of wakeUps) {
      wakeUp();
    }
  });

  return {
    waitFor: (what, matches, timeoutMs) =>
      new Promise((resolve, reject) => {
        const finish = (outcome: () => void) => {
          clearTimeout(timer);
          wakeUps.delete(check);
          outcome();
        };
        const check = () => {
          const event = delivered.find(matches);
          if (event) {
            finish(() => resolve(event));
          } else if (failure) {
            const cause = failure;
            finish(() => reject(new Error(`subscription: ${cause.message}`)));
          }
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no ${what} within ${timeoutMs / 1000} s`))),
          timeoutMs,
        );
        wakeUps.add(check);
        check();
      }),
    stop: () => subscription.unsubscribe(),
  };
}
