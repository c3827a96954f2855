//! Which operation a request selected, for the extensions that stand around the
//! pipeline (metrics, spans). They see the request before the pipeline has parsed it and
//! picked its operation, and must know that operation even when the pipeline goes on to
//! refuse the request (the rate limit, a mutation over GET).

use std::any::TypeId;
use std::sync::{Arc, OnceLock};

use async_graphql::Request;
use async_graphql::parser::types::OperationType;

/// The one operation left in a prepared request's document.
#[derive(Clone, Debug)]
pub struct SelectedOperation {
    pub name: Option<String>,
    pub kind: OperationType,
}

/// Where the pipeline tells the watching extensions which operation a request selected.
/// It travels in the request's data; without a watcher the pipeline tells no one.
#[derive(Clone, Default)]
pub struct OperationWatch(Arc<OnceLock<SelectedOperation>>);

impl OperationWatch {
    /// The request's watch: the one already in its data, or a new one put there.
    pub fn on(request: &mut Request) -> Self {
        if let Some(watch) = Self::of(request) {
            return watch.clone();
        }
        let watch = Self::default();
        request.data.insert(watch.clone());
        watch
    }

    fn of(request: &Request) -> Option<&Self> {
        request
            .data
            .get(&TypeId::of::<Self>())
            .and_then(|data| data.downcast_ref::<Self>())
    }

    /// Called by the pipeline once the request's document holds its one operation.
    pub(super) fn report(request: &mut Request, kind: OperationType) {
        let Some(watch) = Self::of(request).cloned() else {
            return;
        };
        // The pipeline has set the parsed document: this reads it, it does not parse.
        let Ok(document) = request.parsed_query() else {
            return;
        };
        let name = document
            .operations
            .iter()
            .next()
            .and_then(|(name, _)| name.map(ToString::to_string));
        let _ = watch.0.set(SelectedOperation { name, kind });
    }

    /// The operation, once the pipeline has selected it.
    pub fn selected(&self) -> Option<&SelectedOperation> {
        self.0.get()
    }
}
