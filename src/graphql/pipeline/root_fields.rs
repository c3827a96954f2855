//! The fields an operation selects at its root, fragments spread there included: what a
//! mutation costs against its user's rate limit (each root field what the schema says it
//! costs given its arguments: one, or for a bulk field one per so many items), and which
//! answers must be `null` as a whole when a non-null root field fails.

use std::collections::HashSet;

use async_graphql::Variables;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::registry::Registry;

/// What one root field of a mutation costs, given the request's variables.
pub type RootFieldCost = fn(&Field, &Variables) -> u64;

/// The root fields of `root`, each fragment counted where it is spread (a fragment spread
/// twice at the root counts twice; cycles were refused before, and are not followed again
/// here).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    root: &'a Positioned<SelectionSet>,
) -> Vec<&'a Field> {
    let mut fields = Vec::new();
    let mut pending: Vec<(&Positioned<SelectionSet>, HashSet<&str>)> = vec![(root, HashSet::new())];
    while let Some((set, through)) = pending.pop() {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => fields.push(&field.node),
                Selection::InlineFragment(fragment) => {
                    pending.push((&fragment.node.selection_set, through.clone()));
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(fragment) = document.fragments.get(name)
                        && !through.contains(name)
                    {
                        let mut through = through.clone();
                        through.insert(name);
                        pending.push((&fragment.node.selection_set, through));
                    }
                }
            }
        }
    }
    fields
}

/// The cost of the operation's root fields against the mutation rate limit.
pub fn mutation_cost(
    document: &ExecutableDocument,
    root: &Positioned<SelectionSet>,
    variables: &Variables,
    cost_of: RootFieldCost,
) -> u64 {
    root_fields(document, root)
        .into_iter()
        .fold(0u64, |total, field| {
            total.saturating_add(cost_of(field, variables))
        })
}

/// The response keys (aliases, or names) of the root fields whose type is non-null: when
/// one fails, the whole `data` is `null`, as the GraphQL specification propagates it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonNullRoots(Vec<String>);

impl NonNullRoots {
    pub fn of(
        document: &ExecutableDocument,
        root: &Positioned<SelectionSet>,
        registry: &Registry,
        root_type: Option<&str>,
    ) -> Self {
        let Some(root_type) = root_type.and_then(|name| registry.types.get(name)) else {
            return Self::default();
        };
        let keys = root_fields(document, root)
            .into_iter()
            .filter(|field| {
                root_type
                    .field_by_name(field.name.node.as_str())
                    .is_some_and(|meta| meta.ty.ends_with('!'))
            })
            .map(|field| field.response_key().node.to_string())
            .collect();
        Self(keys)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|held| held == key)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    /// `bulk(n: …)` costs its `n`, anything else one.
    fn by_n(field: &Field, variables: &Variables) -> u64 {
        field
            .get_argument("n")
            .and_then(|n| {
                n.node
                    .clone()
                    .into_const_with(|name| variables.get(&name).cloned().ok_or(()))
                    .ok()
            })
            .and_then(|n| match n {
                async_graphql::Value::Number(n) => n.as_u64(),
                _ => None,
            })
            .unwrap_or(1)
    }

    fn cost(query: &str, variables: serde_json::Value) -> u64 {
        let document = parse_query(query).expect("parses");
        let (_, operation) = document.operations.iter().next().expect("an operation");
        let variables = Variables::from_json(variables);
        mutation_cost(&document, &operation.node.selection_set, &variables, by_n)
    }

    #[test]
    fn each_root_field_costs_what_its_arguments_say() {
        assert_eq!(
            cost("mutation { a b: bulk(n: 7) c }", serde_json::json!({})),
            9
        );
    }

    #[test]
    fn a_cost_from_a_variable_counts_as_a_literal_one() {
        let query = "mutation($n: Int) { bulk(n: $n) }";
        assert_eq!(cost(query, serde_json::json!({ "n": 12 })), 12);
    }

    #[test]
    fn fields_inside_root_fragments_count_each_time_they_are_spread() {
        let query = "mutation { ...F ...F ... on Mutation { bulk(n: 3) } } \
                     fragment F on Mutation { bulk(n: 5) }";
        assert_eq!(cost(query, serde_json::json!({})), 13);
    }
}
