//! What a mutation costs against its user's rate limit: each root field costs what the
//! schema says it does given its arguments (one, or for a bulk field one per so many
//! items), fragments spread at the root included. Measured on the document that runs,
//! with the request's variables, before anything executes.

use std::collections::HashSet;

use async_graphql::Variables;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};

/// What one root field of a mutation costs, given the request's variables.
pub type RootFieldCost = fn(&Field, &Variables) -> u64;

/// The cost of the operation's root fields, each fragment at the root counted where it
/// is spread (a fragment spread twice at the root counts twice; cycles were refused
/// before, and are not followed again here).
pub fn mutation_cost(
    document: &ExecutableDocument,
    root: &Positioned<SelectionSet>,
    variables: &Variables,
    cost_of: RootFieldCost,
) -> u64 {
    let mut total = 0u64;
    let mut pending: Vec<(&Positioned<SelectionSet>, HashSet<&str>)> = vec![(root, HashSet::new())];
    while let Some((set, through)) = pending.pop() {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    total = total.saturating_add(cost_of(&field.node, variables));
                }
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
    total
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
