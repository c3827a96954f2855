//! `ticketsConnection`'s types, as the Relay connection specification names them.
//! async-graphql's `connection` module was not a fit: its `query` helper refuses `first`
//! with `last` and bad counts with errors of its own, where the contract asks for
//! BAD_USER_INPUT naming the argument, checked in the contract's order.

use async_graphql::SimpleObject;

use super::types::Ticket;
use crate::listing::Window;

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A ticket and where it stands in its list.
#[derive(SimpleObject)]
pub struct TicketEdge {
    /// Opaque; valid for this list's order and filters only.
    pub cursor: String,
    pub node: Ticket,
}

/// A window of a ticket list.
#[derive(SimpleObject)]
pub struct TicketConnection {
    pub edges: Vec<TicketEdge>,
    /// The edges' nodes, for clients that need no cursor per ticket.
    pub nodes: Vec<Ticket>,
    pub page_info: PageInfo,
    /// Every ticket that matches, over all windows.
    pub total_count: i32,
}

impl From<Window> for TicketConnection {
    fn from(window: Window) -> Self {
        let page_info = PageInfo {
            has_next_page: window.has_next_page,
            has_previous_page: window.has_previous_page,
            start_cursor: window.tickets.first().map(|(_, cursor)| cursor.clone()),
            end_cursor: window.tickets.last().map(|(_, cursor)| cursor.clone()),
        };
        let mut edges = Vec::with_capacity(window.tickets.len());
        let mut nodes = Vec::with_capacity(window.tickets.len());
        for (ticket, cursor) in window.tickets {
            let node = Ticket::from(ticket);
            nodes.push(node.clone());
            edges.push(TicketEdge { cursor, node });
        }
        Self {
            edges,
            nodes,
            page_info,
            total_count: i32::try_from(window.total).unwrap_or(i32::MAX),
        }
    }
}
