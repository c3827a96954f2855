//! Preparing a request before execution: one parse, shared by the HTTP checks and the
//! executor.

use std::collections::HashSet;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Name, Request, Value as ConstValue, Variables};
use async_graphql_value::Value;

use super::limits::{self, QueryLimits};
use super::nesting;
use crate::error::AppError;

/// What a request will run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    pub kind: OperationType,
    /// Fields selected at the root: what a mutation costs against the rate limit.
    pub root_fields: u64,
}

/// Checks and parses the request's document before anything executes, and returns the
/// type of the operation it selects (`None` when it names no runnable operation: the
/// executor then reports why).
///
/// An argument bound to a nullable variable that the client left out is removed, so that
/// the argument's default applies, as the GraphQL spec's argument coercion says. Clients
/// such as Apollo and urql routinely declare `$page: Int` and omit it.
pub fn prepare(request: &mut Request, limits: &QueryLimits) -> Result<Option<Operation>, AppError> {
    nesting::check_nesting(&request.query, limits.max_nesting)?;
    let mut document = async_graphql::parser::parse_query(&request.query)
        .map_err(|error| AppError::ParseFailed(error.to_string()))?;
    check_variables_nesting(&request.variables, limits.max_nesting)?;
    let Some(operation) = selected_operation(&document, request.operation_name.as_deref()) else {
        request.set_parsed_query(document);
        return Ok(None);
    };
    let selected = Operation {
        kind: operation.ty,
        root_fields: limits::check_document(&document, operation, limits)?,
    };
    let omitted: HashSet<Name> = operation
        .variable_definitions
        .iter()
        .map(|definition| &definition.node)
        .filter(|definition| {
            definition.var_type.node.nullable
                && definition.default_value.is_none()
                && !request.variables.contains_key(&definition.name.node)
        })
        .map(|definition| definition.name.node.clone())
        .collect();
    if !omitted.is_empty() {
        OmittedVariables::new(&omitted).apply(&mut document, request.operation_name.as_deref());
    }
    request.set_parsed_query(document);
    Ok(Some(selected))
}

/// Variables arrive as JSON, which may nest deeper than anything the schema accepts;
/// refuse them before the validator recurses into them.
fn check_variables_nesting(variables: &Variables, max_nesting: usize) -> Result<(), AppError> {
    let mut pending: Vec<(&ConstValue, usize)> =
        variables.values().map(|value| (value, 1)).collect();
    while let Some((value, depth)) = pending.pop() {
        if depth > max_nesting {
            return Err(AppError::bad_input(
                "variables",
                format!("Variables nest deeper than {max_nesting} levels"),
            ));
        }
        match value {
            ConstValue::List(items) => pending.extend(items.iter().map(|item| (item, depth + 1))),
            ConstValue::Object(fields) => {
                pending.extend(fields.values().map(|field| (field, depth + 1)));
            }
            _ => {}
        }
    }
    Ok(())
}

fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Removes the arguments bound to omitted variables, then the definitions of those
/// variables that nothing uses any more (GraphQL forbids unused variables).
struct OmittedVariables<'a> {
    omitted: &'a HashSet<Name>,
    still_used: HashSet<Name>,
}

impl<'a> OmittedVariables<'a> {
    fn new(omitted: &'a HashSet<Name>) -> Self {
        Self {
            omitted,
            still_used: HashSet::new(),
        }
    }

    fn apply(mut self, document: &mut ExecutableDocument, operation_name: Option<&str>) {
        for fragment in document.fragments.values_mut() {
            self.directives(&fragment.node.directives);
            self.selection_set(&mut fragment.node.selection_set);
        }
        let operation = match (&mut document.operations, operation_name) {
            (DocumentOperations::Single(operation), _) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => {
                match operations.get_mut(name) {
                    Some(operation) => operation,
                    None => return,
                }
            }
            (DocumentOperations::Multiple(_), None) => return,
        };
        self.directives(&operation.node.directives);
        self.selection_set(&mut operation.node.selection_set);
        operation.node.variable_definitions.retain(|definition| {
            let name = &definition.node.name.node;
            !self.omitted.contains(name) || self.still_used.contains(name)
        });
    }

    fn selection_set(&mut self, selection_set: &mut Positioned<SelectionSet>) {
        for selection in &mut selection_set.node.items {
            match &mut selection.node {
                Selection::Field(field) => {
                    field.node.arguments.retain(|(_, value)| {
                        !matches!(&value.node, Value::Variable(name) if self.omitted.contains(name))
                    });
                    for (_, value) in &field.node.arguments {
                        self.note_uses(&value.node);
                    }
                    self.directives(&field.node.directives);
                    self.selection_set(&mut field.node.selection_set);
                }
                Selection::InlineFragment(fragment) => {
                    self.directives(&fragment.node.directives);
                    self.selection_set(&mut fragment.node.selection_set);
                }
                Selection::FragmentSpread(spread) => self.directives(&spread.node.directives),
            }
        }
    }

    fn directives(&mut self, directives: &[Positioned<Directive>]) {
        for directive in directives {
            for (_, value) in &directive.node.arguments {
                self.note_uses(&value.node);
            }
        }
    }

    fn note_uses(&mut self, value: &Value) {
        match value {
            Value::Variable(name) => {
                self.still_used.insert(name.clone());
            }
            Value::List(items) => items.iter().for_each(|item| self.note_uses(item)),
            Value::Object(fields) => fields.values().for_each(|field| self.note_uses(field)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block string's backslash once made the guard think it closed early, hiding the
    /// brackets after it from the guard but not from the recursive parser.
    #[test]
    fn brackets_hidden_after_a_block_string_are_refused_before_parsing() {
        let query = format!(
            r#"{{ me(a: """x\\""" """, b: {}1{}) {{ id }} }}"#,
            "[".repeat(3_000),
            "]".repeat(3_000)
        );
        let mut request = Request::new(query);
        assert!(matches!(
            prepare(&mut request, &QueryLimits::DEFAULT),
            Err(AppError::QueryTooComplex(_))
        ));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the text, preparing it answers (a refusal or an operation) and never
        /// panics or overflows the stack.
        #[test]
        fn any_text_is_prepared_without_panicking(query in "[{}\\[\\]()\"#a-z:$@!., \\n]{0,400}|\\PC{0,200}") {
            let mut request = Request::new(query);
            let _ = prepare(&mut request, &QueryLimits::DEFAULT);
        }

        #[test]
        fn brackets_past_the_nesting_limit_are_refused(depth in 65usize..5_000, open in prop::sample::select(vec!['{', '[', '('])) {
            let query: String = std::iter::repeat_n(open, depth).collect();
            let mut request = Request::new(query);
            prop_assert!(matches!(
                prepare(&mut request, &QueryLimits::DEFAULT),
                Err(AppError::QueryTooComplex(_))
            ));
        }

        /// The JSON parser stops at 128 levels; below that, variables deeper than the
        /// limit are refused.
        #[test]
        fn deep_variables_are_refused(depth in 65usize..120) {
            let mut nested = serde_json::json!(1);
            for _ in 0..depth {
                nested = serde_json::json!({ "a": nested });
            }
            let variables = Variables::from_json(serde_json::json!({ "v": nested }));
            let mut request = Request::new("query($v: ID) { ticket(id: $v) { id } }").variables(variables);
            let code = prepare(&mut request, &QueryLimits::DEFAULT).err().map(|error| error.code());
            prop_assert_eq!(code, Some("BAD_USER_INPUT"));
        }
    }
}
