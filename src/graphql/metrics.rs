//! Every operation counted, over HTTP and the WebSocket alike, by the operation it
//! selected and how it ended; and the refusals the pipeline decided.
//!
//! Registered before the [`RequestPipeline`](super::pipeline::RequestPipeline), around
//! it: the pipeline tells which operation a request selects ([`OperationWatch`]), and the
//! answer comes back through it with every error's code.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerResult, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::selected::OperationWatch;
use crate::metrics::record_operation;
use crate::refusal::Refusal;

/// Operation names are the client's to choose: the first this many distinct ones get a
/// series of their own, every later one shares [`OTHER`]. A few hundred covers the
/// operations of the clients a deployment serves, and bounds what a client inventing
/// names can add to the scrape.
pub const MAX_OPERATION_NAMES: usize = 200;
/// A longer name is no name a client writes by hand.
const MAX_OPERATION_NAME_BYTES: usize = 100;
/// The operation label of an operation without a name.
const ANONYMOUS: &str = "anonymous";
/// The operation label past [`MAX_OPERATION_NAMES`], and of a name no operation can
/// have.
const OTHER: &str = "other";

/// Add with `SchemaBuilder::extension`, before the pipeline.
#[derive(Default)]
pub struct OperationMetrics(Arc<OperationLabels>);

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationRecorder {
            labels: Arc::clone(&self.0),
            sent: Arc::default(),
        })
    }
}

/// The operation names that have a label of their own.
#[derive(Default)]
struct OperationLabels(Mutex<HashSet<String>>);

impl OperationLabels {
    fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return ANONYMOUS.to_owned();
        };
        if !is_graphql_name(name) {
            return OTHER.to_owned();
        }
        let mut named = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !named.contains(name) {
            if named.len() >= MAX_OPERATION_NAMES {
                return OTHER.to_owned();
            }
            named.insert(name.to_owned());
        }
        name.to_owned()
    }
}

/// `/[_A-Za-z][_0-9A-Za-z]*/`, and not too long: what may stand in a label as it is.
fn is_graphql_name(name: &str) -> bool {
    let mut characters = name.chars();
    name.len() <= MAX_OPERATION_NAME_BYTES
        && characters
            .next()
            .is_some_and(|first| first == '_' || first.is_ascii_alphabetic())
        && characters.all(|next| next == '_' || next.is_ascii_alphanumeric())
}

/// The operation a request selected, as far as it got.
#[derive(Default)]
struct Selected {
    name: Option<String>,
    subscription: bool,
}

/// What a request said of its operation, and where the pipeline tells which it selects.
struct Sent {
    /// The `operationName` it was sent with: all a request refused before its document
    /// was parsed has.
    name: Option<String>,
    watch: OperationWatch,
}

impl Sent {
    fn selected(&self) -> Selected {
        match self.watch.selected() {
            Some(operation) => Selected {
                name: operation.name.clone(),
                subscription: operation.kind == OperationType::Subscription,
            },
            None => Selected {
                name: self.name.clone(),
                subscription: false,
            },
        }
    }
}

/// One request's recorder.
struct OperationRecorder {
    labels: Arc<OperationLabels>,
    /// Set when the request is prepared: over the WebSocket that is after `subscribe`,
    /// when its stream is first polled.
    sent: Arc<OnceLock<Sent>>,
}

fn selected(sent: &OnceLock<Sent>) -> Selected {
    sent.get().map(Sent::selected).unwrap_or_default()
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationRecorder {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let _ = self.sent.set(Sent {
            name: request.operation_name.clone(),
            watch: OperationWatch::on(&mut request),
        });
        next.run(ctx, request).await
    }

    /// A query or mutation over HTTP.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        record(
            &self.labels,
            &selected(&self.sent),
            &response,
            Some(started.elapsed()),
        );
        response
    }

    /// Any operation over the WebSocket: counted at its first answer (a subscription's
    /// first event), or, a subscription that ends without one, when it ends.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let mut first = FirstAnswer {
            labels: Arc::clone(&self.labels),
            sent: Arc::clone(&self.sent),
            started: Instant::now(),
            answered: false,
        };
        next.run(ctx, stream)
            .map(move |response| {
                first.answer(&response);
                response
            })
            .boxed()
    }
}

/// An operation over the WebSocket until its first answer.
struct FirstAnswer {
    labels: Arc<OperationLabels>,
    sent: Arc<OnceLock<Sent>>,
    started: Instant,
    answered: bool,
}

impl FirstAnswer {
    fn answer(&mut self, response: &Response) {
        if self.answered {
            return;
        }
        self.answered = true;
        let selected = selected(&self.sent);
        let duration = (!selected.subscription).then(|| self.started.elapsed());
        record(&self.labels, &selected, response, duration);
    }
}

impl Drop for FirstAnswer {
    /// A subscription that ran and ended (the client stopped it, the socket closed)
    /// before any event: it did not fail. A query cut off before its answer has no
    /// outcome, and is not counted.
    fn drop(&mut self) {
        if self.answered || !crate::metrics::enabled() {
            return;
        }
        let selected = selected(&self.sent);
        if selected.subscription {
            let label = self.labels.label(selected.name.as_deref());
            record_operation(label, OK.to_owned(), None);
        }
    }
}

const OK: &str = "OK";

fn record(
    labels: &OperationLabels,
    selected: &Selected,
    response: &Response,
    duration: Option<Duration>,
) {
    if !crate::metrics::enabled() {
        return;
    }
    if let Some(reason) = refusal_reason(response) {
        crate::metrics::record_refusal(reason);
    }
    let label = labels.label(selected.name.as_deref());
    record_operation(label, outcome(response), duration);
}

/// `OK`, or the first error's code (every error leaves the pipeline with one).
fn outcome(response: &Response) -> String {
    let Some(error) = response.errors.first() else {
        return OK.to_owned();
    };
    match error
        .extensions
        .as_ref()
        .and_then(|codes| codes.get("code"))
    {
        Some(Value::String(code)) => code.clone(),
        _ => "UNKNOWN".to_owned(),
    }
}

/// Why the pipeline (or async-graphql's own ceilings behind it) refused the operation
/// as a whole, if it did.
fn refusal_reason(response: &Response) -> Option<&'static str> {
    let error = response.errors.first()?;
    if let Some(refusal) = error.source::<Refusal>() {
        return Some(refusal.reason());
    }
    let code = error
        .extensions
        .as_ref()
        .and_then(|codes| codes.get("code"));
    matches!(code, Some(Value::String(code)) if code == "QUERY_TOO_COMPLEX").then_some("limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_bound_share_one_label() {
        let labels = OperationLabels::default();
        for index in 0..MAX_OPERATION_NAMES {
            assert_eq!(
                labels.label(Some(&format!("Op{index}"))),
                format!("Op{index}")
            );
        }
        assert_eq!(labels.label(Some("OneTooMany")), OTHER);
        assert_eq!(labels.label(Some("Op0")), "Op0");
    }

    #[test]
    fn an_operation_without_a_name_is_anonymous() {
        assert_eq!(OperationLabels::default().label(None), ANONYMOUS);
    }

    #[test]
    fn a_name_no_operation_can_have_takes_no_label_of_its_own() {
        let labels = OperationLabels::default();
        for name in ["", "1st", "a-b", "é", "a b", "a\"} 1\n", &"A".repeat(101)] {
            assert_eq!(labels.label(Some(name)), OTHER, "{name:?}");
        }
        assert_eq!(labels.label(Some(&"A".repeat(100))), "A".repeat(100));
    }
}
