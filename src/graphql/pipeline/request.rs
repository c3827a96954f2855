//! Preparing a request before execution: one parse, one selected operation, and the
//! very document that was measured handed to the executor.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::registry::Registry;
use async_graphql::{Name, Request, ValidationResult, Value as ConstValue, Variables};
use async_graphql_value::Value;

use super::limits;
use super::nesting::check_nesting;
use super::root_fields::{NonNullRoots, RootFieldCost, mutation_cost};
use crate::config::QueryLimits;
use crate::refusal::Refusal;

/// What a request will run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    pub kind: OperationType,
}

/// How the schema may be looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Introspection {
    Allowed,
    Refused,
}

/// A document checked, cut down to the operation it selects, and measured: the same for
/// every request that sends the same text and operation name, whatever its variables.
#[derive(Debug)]
pub struct PreparedDocument {
    pub document: ExecutableDocument,
    pub operation: Operation,
    /// async-graphql's validation of it, once passed, when nothing of it can vary between
    /// requests (see [`PreparedDocument::validation_is_fixed`]).
    validated: OnceLock<ValidationResult>,
}

impl PreparedDocument {
    /// Whether async-graphql's validation answers the same for every request that sends
    /// this document: it reads the schema, the document and the variables' values (in
    /// arguments' types and in the cost of lists), so it does when the operation declares
    /// no variable.
    pub fn validation_is_fixed(&self) -> bool {
        the_operation(&self.document.operations)
            .is_some_and(|operation| operation.variable_definitions.is_empty())
    }

    /// The validation a request with this document passed before, if one did.
    pub fn validated(&self) -> Option<ValidationResult> {
        self.validated.get().copied()
    }

    /// Keeps the validation a request with this document passed, when it is fixed.
    pub fn remember_validation(&self, result: ValidationResult) {
        if self.validation_is_fixed() {
            let _ = self.validated.set(result);
        }
    }

    /// What the operation costs against the mutation rate limit with these variables.
    pub fn mutation_cost(&self, variables: &Variables, cost_of: RootFieldCost) -> u64 {
        the_operation(&self.document.operations).map_or(0, |operation| {
            mutation_cost(&self.document, &operation.selection_set, variables, cost_of)
        })
    }

    /// The root fields of its operation whose type `registry` says is non-null.
    pub fn non_null_roots(&self, registry: &Registry) -> NonNullRoots {
        the_operation(&self.document.operations).map_or_else(NonNullRoots::default, |operation| {
            let root_type = match operation.ty {
                OperationType::Query => Some(registry.query_type.as_str()),
                OperationType::Mutation => registry.mutation_type.as_deref(),
                OperationType::Subscription => registry.subscription_type.as_deref(),
            };
            NonNullRoots::of(
                &self.document,
                &operation.selection_set,
                registry,
                root_type,
            )
        })
    }
}

/// Checks and parses a document before anything executes, selects its operation as
/// async-graphql would, and keeps of it only that operation and the fragments it
/// spreads: what was measured is exactly what runs. Nothing else of the document —
/// another operation, an unused fragment — is walked by anyone.
pub fn prepare_document(
    query: &str,
    operation_name: Option<&str>,
    limits: &QueryLimits,
    introspection: Introspection,
) -> Result<PreparedDocument, Refusal> {
    check_nesting(query, limits.max_nesting)?;
    let document = async_graphql::parser::parse_query(query)
        .map_err(|error| Refusal::ParseFailed(error.to_string()))?;
    let document = only_the_selected_operation(document, operation_name)?;
    let Some(operation) = the_operation(&document.operations) else {
        return Err(Refusal::Internal("a selected document lost its operation"));
    };
    limits::check_document(&document, operation, limits)?;
    let operation = Operation { kind: operation.ty };
    if introspection == Introspection::Refused && asks_for_introspection(&document) {
        return Err(Refusal::ValidationFailed(
            "GraphQL introspection is not allowed, but the query contained __schema or __type"
                .into(),
        ));
    }
    Ok(PreparedDocument {
        document,
        operation,
        validated: OnceLock::new(),
    })
}

/// Hands a prepared document to the request, once the variables pass their own check.
///
/// An argument bound to a nullable variable that the client left out is removed, so that
/// the argument's default applies, as the GraphQL spec's argument coercion says. Clients
/// such as Apollo and urql routinely declare `$page: Int` and omit it.
pub fn apply(
    request: &mut Request,
    prepared: &PreparedDocument,
    limits: &QueryLimits,
) -> Result<Operation, Refusal> {
    check_variables_nesting(&request.variables, limits.max_nesting)?;
    let mut document = prepared.document.clone();
    if let Some(operation) = the_operation(&document.operations) {
        let omitted = omitted_variables(operation, &request.variables);
        if !omitted.is_empty() {
            OmittedVariables::new(&omitted).apply(&mut document);
        }
    }
    request.set_parsed_query(document);
    Ok(prepared.operation)
}

/// [`prepare_document`], then [`apply`]: a request prepared without a cache.
pub fn prepare(
    request: &mut Request,
    limits: &QueryLimits,
    introspection: Introspection,
) -> Result<Operation, Refusal> {
    let prepared = prepare_document(
        &request.query,
        request.operation_name.as_deref(),
        limits,
        introspection,
    )?;
    apply(request, &prepared, limits)
}

/// Variables arrive as JSON, which may nest deeper than anything the schema accepts;
/// refuse them before the validator recurses into them.
fn check_variables_nesting(variables: &Variables, max_nesting: usize) -> Result<(), Refusal> {
    let mut pending: Vec<(&ConstValue, usize)> =
        variables.values().map(|value| (value, 1)).collect();
    while let Some((value, depth)) = pending.pop() {
        if depth > max_nesting {
            return Err(Refusal::VariablesTooDeep { max_nesting });
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

/// The document cut down to the operation the request selects and the fragments it
/// reaches. The selection follows async-graphql's own: a document's only operation,
/// named or not, runs without `operationName`; several need one.
fn only_the_selected_operation(
    document: ExecutableDocument,
    name: Option<&str>,
) -> Result<ExecutableDocument, Refusal> {
    let unknown =
        |name: &str| Refusal::ValidationFailed(format!(r#"Unknown operation named "{name}""#));
    let operations = match (document.operations, name) {
        (DocumentOperations::Single(operation), None) => DocumentOperations::Single(operation),
        (DocumentOperations::Single(_), Some(name)) => return Err(unknown(name)),
        (DocumentOperations::Multiple(mut operations), Some(name)) => {
            let (name, operation) = operations.remove_entry(name).ok_or_else(|| unknown(name))?;
            DocumentOperations::Multiple(HashMap::from([(name, operation)]))
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            DocumentOperations::Multiple(operations)
        }
        (DocumentOperations::Multiple(_), None) => {
            return Err(Refusal::ValidationFailed(
                "Operation name required in request.".into(),
            ));
        }
    };
    let mut fragments = document.fragments;
    let mut reached = HashMap::with_capacity(fragments.len());
    let mut pending: Vec<Name> = Vec::new();
    if let Some(selected) = the_operation(&operations) {
        spreads_in(&selected.selection_set, &mut pending);
    }
    while let Some(name) = pending.pop() {
        // Each fragment is taken out once, so each is walked once.
        if let Some((name, fragment)) = fragments.remove_entry(&name) {
            spreads_in(&fragment.node.selection_set, &mut pending);
            reached.insert(name, fragment);
        }
    }
    Ok(ExecutableDocument {
        operations,
        fragments: reached,
    })
}

/// The names of the fragments spread in `set`, without following them.
fn spreads_in(set: &Positioned<SelectionSet>, spreads: &mut Vec<Name>) {
    for selection in &set.node.items {
        match &selection.node {
            Selection::Field(field) => spreads_in(&field.node.selection_set, spreads),
            Selection::InlineFragment(fragment) => {
                spreads_in(&fragment.node.selection_set, spreads);
            }
            Selection::FragmentSpread(spread) => {
                spreads.push(spread.node.fragment_name.node.clone());
            }
        }
    }
}

/// The first (after selection: the only) operation of a document.
fn the_operation(operations: &DocumentOperations) -> Option<&OperationDefinition> {
    operations
        .iter()
        .next()
        .map(|(_, operation)| &operation.node)
}

fn the_operation_mut(
    operations: &mut DocumentOperations,
) -> Option<&mut Positioned<OperationDefinition>> {
    match operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => operations.values_mut().next(),
    }
}

/// Whether the document selects `__schema` or `__type` anywhere.
fn asks_for_introspection(document: &ExecutableDocument) -> bool {
    fn in_set(set: &Positioned<SelectionSet>) -> bool {
        set.node
            .items
            .iter()
            .any(|selection| match &selection.node {
                Selection::Field(field) => {
                    matches!(field.node.name.node.as_str(), "__schema" | "__type")
                        || in_set(&field.node.selection_set)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set),
                Selection::FragmentSpread(_) => false,
            })
    }
    let fragments = document
        .fragments
        .values()
        .map(|fragment| &fragment.node.selection_set);
    document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set)
        .chain(fragments)
        .any(in_set)
}

/// Nullable variables without a default that the request does not give.
fn omitted_variables(operation: &OperationDefinition, variables: &Variables) -> HashSet<Name> {
    operation
        .variable_definitions
        .iter()
        .map(|definition| &definition.node)
        .filter(|definition| {
            definition.var_type.node.nullable
                && definition.default_value.is_none()
                && !variables.contains_key(&definition.name.node)
        })
        .map(|definition| definition.name.node.clone())
        .collect()
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

    fn apply(mut self, document: &mut ExecutableDocument) {
        for fragment in document.fragments.values_mut() {
            self.directives(&fragment.node.directives);
            self.selection_set(&mut fragment.node.selection_set);
        }
        let Some(operation) = the_operation_mut(&mut document.operations) else {
            return;
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
            prepare(&mut request, &QueryLimits::DEFAULT, Introspection::Allowed),
            Err(Refusal::QueryTooComplex(_))
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
            let _ = prepare(&mut request, &QueryLimits::DEFAULT, Introspection::Allowed);
        }

        #[test]
        fn brackets_past_the_nesting_limit_are_refused(depth in 65usize..5_000, open in prop::sample::select(vec!['{', '[', '('])) {
            let query: String = std::iter::repeat_n(open, depth).collect();
            let mut request = Request::new(query);
            prop_assert!(matches!(
                prepare(&mut request, &QueryLimits::DEFAULT, Introspection::Allowed),
                Err(Refusal::QueryTooComplex(_))
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
            let code = prepare(&mut request, &QueryLimits::DEFAULT, Introspection::Allowed).err().map(|error| error.code());
            prop_assert_eq!(code, Some("BAD_USER_INPUT"));
        }
    }
}
