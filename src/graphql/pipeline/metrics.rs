//! Every operation counted, over HTTP and the WebSocket alike, by the operation it
//! selected and how it ended; and the refusals the pipeline decided.
//!
//! Registered before the [`RequestPipeline`](super::pipeline::RequestPipeline), around
//! it: the pipeline tells which operation a request selects ([`OperationWatch`]), and the
//! answer comes back through it with every error's code.
//!
//! Operation names are the client's to choose, and the labels they take last as long as
//! the process: only an operation of a signed-in user that passed validation may take
//! one. Anyone else's is counted as [`OTHER`], so that anonymous clients cannot use up
//! the labels before the real operations are seen.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::checks::viewer_of;
use super::selected::OperationWatch;
use crate::metrics::record_operation;
use crate::refusal::Refusal;

/// Operation names are the client's to choose: the first this many distinct ones (of
/// signed-in users' valid operations) get a series of their own, every later one shares
/// [`OTHER`]. A few hundred covers the operations of the clients a deployment serves, and
/// bounds what a client inventing names can add to the scrape.
pub const MAX_OPERATION_NAMES: usize = 200;
/// A longer name is no name a client writes by hand.
const MAX_OPERATION_NAME_BYTES: usize = 100;
/// The operation label of an operation without a name.
const ANONYMOUS: &str = "anonymous";
/// The operation label past [`MAX_OPERATION_NAMES`], of a name no operation can have,
/// and of a named operation that may not take a label: an anonymous request's, or one
/// that did not pass validation.
const OTHER: &str = "other";

/// Add with `SchemaBuilder::extension`, before the pipeline.
#[derive(Default)]
pub struct OperationMetrics(Arc<OperationLabels>);

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationRecorder {
            labels: Arc::clone(&self.0),
            sent: Arc::default(),
            validated: Arc::default(),
        })
    }
}

/// The operation names that have a label of their own.
#[derive(Default)]
struct OperationLabels(Mutex<HashSet<String>>);

impl OperationLabels {
    /// The label of an operation named `name`; one of its own only `if trusted`.
    fn label(&self, name: Option<&str>, trusted: bool) -> String {
        let Some(name) = name else {
            return ANONYMOUS.to_owned();
        };
        if !trusted || !is_graphql_name(name) {
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
    /// A signed-in user's operation that passed validation: its name may take a label.
    trusted: bool,
}

impl Selected {
    fn label(&self, labels: &OperationLabels) -> String {
        labels.label(self.name.as_deref(), self.trusted)
    }
}

/// What a request said of its operation, and where the pipeline tells which it selects.
struct Sent {
    /// The `operationName` it was sent with: all a request refused before its document
    /// was parsed has.
    name: Option<String>,
    watch: OperationWatch,
    /// It came with a viewer (a valid token).
    signed_in: bool,
}

impl Sent {
    fn selected(&self, validated: bool) -> Selected {
        match self.watch.selected() {
            Some(operation) => Selected {
                name: operation.name.clone(),
                subscription: operation.kind == OperationType::Subscription,
                trusted: self.signed_in && validated,
            },
            None => Selected {
                name: self.name.clone(),
                subscription: false,
                trusted: false,
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
    /// Raised when the operation passes async-graphql's validation.
    validated: Arc<AtomicBool>,
}

fn selected(sent: &OnceLock<Sent>, validated: &AtomicBool) -> Selected {
    sent.get()
        .map(|sent| sent.selected(validated.load(Ordering::Acquire)))
        .unwrap_or_default()
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
            signed_in: viewer_of(&request, ctx).is_some(),
        });
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if result.is_ok() {
            self.validated.store(true, Ordering::Release);
        }
        result
    }

    /// A query or mutation over HTTP.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        record(
            &self.labels,
            &selected(&self.sent, &self.validated),
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
            validated: Arc::clone(&self.validated),
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
    validated: Arc<AtomicBool>,
    started: Instant,
    answered: bool,
}

impl FirstAnswer {
    fn answer(&mut self, response: &Response) {
        if self.answered {
            return;
        }
        self.answered = true;
        let selected = selected(&self.sent, &self.validated);
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
        let selected = selected(&self.sent, &self.validated);
        if selected.subscription {
            record_operation(selected.label(&self.labels), OK.to_owned(), None);
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
    record_operation(selected.label(labels), outcome(response), duration);
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
                labels.label(Some(&format!("Op{index}")), true),
                format!("Op{index}")
            );
        }
        assert_eq!(labels.label(Some("OneTooMany"), true), OTHER);
        assert_eq!(labels.label(Some("Op0"), true), "Op0");
    }

    #[test]
    fn an_operation_without_a_name_is_anonymous() {
        assert_eq!(OperationLabels::default().label(None, true), ANONYMOUS);
        assert_eq!(OperationLabels::default().label(None, false), ANONYMOUS);
    }

    #[test]
    fn untrusted_operations_leave_every_label_to_trusted_ones() {
        let labels = OperationLabels::default();
        for index in 0..=MAX_OPERATION_NAMES {
            assert_eq!(labels.label(Some(&format!("Junk{index}")), false), OTHER);
        }

        assert_eq!(labels.label(Some("Real"), true), "Real");
    }

    #[test]
    fn a_name_no_operation_can_have_takes_no_label_of_its_own() {
        let labels = OperationLabels::default();
        for name in ["", "1st", "a-b", "é", "a b", "a\"} 1\n", &"A".repeat(101)] {
            assert_eq!(labels.label(Some(name), true), OTHER, "{name:?}");
        }
        assert_eq!(labels.label(Some(&"A".repeat(100)), true), "A".repeat(100));
    }
}
