//! The shape of every answer, whatever carried it (HTTP, a batch, either WebSocket
//! protocol): each execution's `data` completed here in the pipeline's `execute` hook, and
//! every answer's errors coded in its `request` and `subscribe` hooks, so that the
//! transports only write it out.

use async_graphql::{Name, PathSegment, Response, Value};

use super::execution_started;
use super::root_fields::NonNullRoots;
use crate::telemetry::Escaped;

/// A code on every error, the executor's own included.
pub(super) fn shaped(mut response: Response) -> Response {
    let executed = execution_started(&response);
    for error in &mut response.errors {
        let coded = error
            .extensions
            .as_ref()
            .is_some_and(|extensions| extensions.get("code").is_some());
        if !coded {
            let code = executor_error_code(&error.message, executed);
            if code == INTERNAL_SERVER_ERROR {
                tracing::error!(error = %Escaped(&error.message), "an error without a code");
                error.message = "Internal server error".into();
            }
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
    }
    response
}

/// An execution's `data` as the specification has it: `null` where a field failed, and
/// `null` as a whole when a failed root field is non-null (one in `non_null_roots`).
/// async-graphql leaves a failed field out, whatever its type.
pub(super) fn completed(mut response: Response, non_null_roots: Option<&NonNullRoots>) -> Response {
    if response.errors.iter().all(|error| error.path.is_empty()) {
        return response;
    }
    let failed_non_null_root = response.errors.iter().any(|error| {
        matches!(error.path.as_slice(), [PathSegment::Field(key)]
            if non_null_roots.is_some_and(|roots| roots.contains(key)))
    });
    if failed_non_null_root {
        response.data = Value::Null;
        return response;
    }
    if response.data == Value::Null {
        response.data = Value::Object(Default::default());
    }
    for error in &response.errors {
        null_where_failed(&mut response.data, &error.path);
    }
    response
}

const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";

/// The beginnings of the refusals of async-graphql's own ceilings, which stand behind
/// the document checks of the pipeline as a backstop.
const EXECUTOR_LIMIT_MESSAGES: [&str; 4] = [
    "Query is too complex",
    "Query is nested too deep",
    "The recursion depth of the query",
    "The number of directives on the field",
];

/// What async-graphql says when a client's argument or variable does not coerce, before
/// execution (the cost model reads arguments during validation) or during it.
const BAD_INPUT_MESSAGES: [&str; 2] = ["Invalid value for argument", "Failed to parse \""];

/// The code of an error that carries none: async-graphql's own, or one a resolver forgot
/// to give a code. A value of the wrong type is the client's input; before execution, a
/// ceiling of the schema or a validation failure; anything else during execution is
/// nobody's classified error, so an internal one.
fn executor_error_code(message: &str, during_execution: bool) -> &'static str {
    if BAD_INPUT_MESSAGES
        .iter()
        .any(|start| message.starts_with(start))
    {
        "BAD_USER_INPUT"
    } else if during_execution {
        INTERNAL_SERVER_ERROR
    } else if EXECUTOR_LIMIT_MESSAGES
        .iter()
        .any(|limit| message.starts_with(limit))
    {
        "QUERY_TOO_COMPLEX"
    } else {
        "GRAPHQL_VALIDATION_FAILED"
    }
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
        let response = completed(failed_at(data, vec![field("ticket")]), None);
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
        let response = completed(failed_at(data, path), None);
        assert_eq!(
            response.data,
            async_graphql::value!({ "page": { "items": [{ "id": "1" }, { "id": "2", "messages": null }] } })
        );
    }

    #[test]
    fn an_answer_whose_only_field_failed_still_has_data() {
        let response = completed(failed_at(Value::Null, vec![field("ticket")]), None);
        assert_eq!(response.data, async_graphql::value!({ "ticket": null }));
    }

    fn code_of(response: &Response) -> Option<String> {
        let extensions = response.errors[0].extensions.as_ref()?;
        match extensions.get("code")? {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    #[test]
    fn an_error_without_a_code_during_execution_is_internal_and_says_nothing_of_itself() {
        let mut response = failed_at(Value::Null, vec![field("ticket")]);
        response.errors[0].message = "connection refused at 10.0.0.5:5432".into();
        let response = shaped(response);
        assert_eq!(code_of(&response).as_deref(), Some("INTERNAL_SERVER_ERROR"));
        assert_eq!(response.errors[0].message, "Internal server error");
    }

    #[test]
    fn an_argument_that_does_not_coerce_during_execution_is_bad_user_input() {
        let mut response = failed_at(Value::Null, vec![field("tickets")]);
        response.errors[0].message =
            r#"Invalid value for argument "limit", expected type "Int""#.into();
        assert_eq!(
            code_of(&shaped(response)).as_deref(),
            Some("BAD_USER_INPUT")
        );
    }

    #[test]
    fn an_executor_error_before_execution_is_a_validation_failure_or_a_ceiling() {
        let mut response = failed_at(Value::Null, Vec::new());
        response.errors[0].message = "Unknown field \"x\" on type \"Query\".".into();
        assert_eq!(
            code_of(&shaped(response)).as_deref(),
            Some("GRAPHQL_VALIDATION_FAILED")
        );
        let mut response = failed_at(Value::Null, Vec::new());
        response.errors[0].message = "Query is nested too deep.".into();
        assert_eq!(
            code_of(&shaped(response)).as_deref(),
            Some("QUERY_TOO_COMPLEX")
        );
    }

    #[test]
    fn a_code_already_given_is_kept() {
        let mut response = failed_at(Value::Null, vec![field("ticket")]);
        response.errors[0]
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "NOT_FOUND");
        assert_eq!(code_of(&shaped(response)).as_deref(), Some("NOT_FOUND"));
    }

    #[test]
    fn an_answer_refused_before_execution_has_no_data() {
        let response = completed(failed_at(Value::Null, Vec::new()), None);
        assert_eq!(response.data, Value::Null);
    }
}
