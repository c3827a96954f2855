//! The shape of every answer, whatever carried it (HTTP, a batch, either WebSocket
//! protocol): shaped here, in the pipeline's `request` and `subscribe` hooks, so that the
//! transports only write it out.

use async_graphql::{Name, PathSegment, Response, Value};

use super::execution_started;
use crate::error::executor_error_code;

/// A code on every error, the executor's own included, and `null` where a field failed.
pub(super) fn shaped(mut response: Response) -> Response {
    let executed = execution_started(&response);
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", executor_error_code(&error.message, executed));
        }
    }
    if executed {
        if response.data == Value::Null {
            response.data = Value::Object(Default::default());
        }
        for error in &response.errors {
            null_where_failed(&mut response.data, &error.path);
        }
    }
    response
}

/// async-graphql leaves a failed field out of `data`; the spec (and the clients' caches:
/// Apollo Client reads a missing key as a cache miss) want it there as `null`. Walks the
/// error's path and puts `null` where the walk first finds nothing.
fn null_where_failed(data: &mut Value, path: &[PathSegment]) {
    let mut current = data;
    for segment in path {
        current = match (current, segment) {
            (Value::Object(fields), PathSegment::Field(name)) => {
                let name = Name::new(name);
                if !fields.contains_key(&name) {
                    fields.insert(name, Value::Null);
                    return;
                }
                match fields.get_mut(&name) {
                    Some(next) => next,
                    None => return,
                }
            }
            (Value::List(items), PathSegment::Index(index)) => match items.get_mut(*index) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::ServerError;

    use super::*;

    fn failed_at(data: Value, path: Vec<PathSegment>) -> Response {
        let mut error = ServerError::new("failed", None);
        error.path = path;
        let mut response = Response::new(data);
        response.errors.push(error);
        response
    }

    fn field(name: &str) -> PathSegment {
        PathSegment::Field(name.into())
    }

    #[test]
    fn a_failed_root_field_is_null_beside_those_that_resolved() {
        let data = async_graphql::value!({ "me": { "id": "alice" } });
        let response = shaped(failed_at(data, vec![field("ticket")]));
        assert_eq!(
            response.data,
            async_graphql::value!({ "me": { "id": "alice" }, "ticket": null })
        );
    }

    #[test]
    fn a_failed_field_inside_a_list_item_is_null_in_that_item() {
        let data = async_graphql::value!({ "page": { "items": [{ "id": "1" }, { "id": "2" }] } });
        let path = vec![
            field("page"),
            field("items"),
            PathSegment::Index(1),
            field("messages"),
        ];
        let response = shaped(failed_at(data, path));
        assert_eq!(
            response.data,
            async_graphql::value!({ "page": { "items": [{ "id": "1" }, { "id": "2", "messages": null }] } })
        );
    }

    #[test]
    fn an_answer_whose_only_field_failed_still_has_data() {
        let response = shaped(failed_at(Value::Null, vec![field("ticket")]));
        assert_eq!(response.data, async_graphql::value!({ "ticket": null }));
    }

    #[test]
    fn an_answer_refused_before_execution_has_no_data() {
        let response = shaped(failed_at(Value::Null, Vec::new()));
        assert_eq!(response.data, Value::Null);
    }
}
