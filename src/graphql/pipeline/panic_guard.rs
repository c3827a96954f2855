//! A panic in a resolver answers INTERNAL_SERVER_ERROR for that field, not a dropped
//! connection, and the rest of the request still resolves.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensions, PathSegment, QueryPathNode, QueryPathSegment};
use async_graphql::{Response, ServerError, ServerResult, Value};
use futures_util::FutureExt;

use crate::error::AppError;

/// Add with `SchemaBuilder::extension(PanicGuard)`.
pub struct PanicGuard;

impl ExtensionFactory for PanicGuard {
    fn create(&self) -> Arc<dyn Extension> {
        // One per request: it holds the errors of the fields that panicked in it.
        Arc::new(PanicGuardExtension::default())
    }
}

#[derive(Default)]
struct PanicGuardExtension {
    errors: Mutex<Vec<ServerError>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for PanicGuardExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let errors =
            std::mem::take(&mut *self.errors.lock().unwrap_or_else(PoisonError::into_inner));
        response.errors.extend(errors);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Kept by reference: the path is only spelled out for a field that panicked.
        let path_node = info.path_node;
        let nullable = !info.return_type.ends_with('!');
        // The resolver's state is dropped with the panic and never looked at again, so
        // no broken invariant can be observed afterwards.
        match AssertUnwindSafe(next.run(ctx, info)).catch_unwind().await {
            Ok(resolved) => resolved,
            Err(panic) => {
                let error = panicked_field_error(path_of(path_node), &*panic);
                if nullable {
                    // A nullable field answers null with its error, like any failing
                    // resolver, and its siblings are unaffected.
                    self.errors
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(error);
                    Ok(None)
                } else {
                    // A non-null field cannot be null: the error goes up to the nearest
                    // nullable parent, as GraphQL says.
                    Err(error)
                }
            }
        }
    }
}

fn panicked_field_error(path: Vec<PathSegment>, panic: &(dyn Any + Send)) -> ServerError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    let field = path
        .iter()
        .map(|segment| match segment {
            PathSegment::Field(name) => name.clone(),
            PathSegment::Index(index) => index.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".");
    let public = AppError::Panic { field, message }.extend();
    let mut error = ServerError::new(public.message, None);
    error.extensions = public.extensions;
    error.path = path;
    error
}

/// The response path of a field, from the root.
fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|node| match node.segment {
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
            QueryPathSegment::Index(index) => PathSegment::Index(index),
        })
        .collect();
    path.reverse();
    path
}
