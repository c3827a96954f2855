//! Limits on the shape of a GraphQL document, checked before anything executes.
//!
//! Sizes are measured on the document as it would execute: fragment spreads count
//! the fields of their fragment each time, so a small document that expands to a
//! huge one (a "billion laughs" of nested fragments) is refused, and every fragment is
//! measured only once.

use std::collections::HashMap;

use async_graphql::Name;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};

use crate::config::QueryLimits;
use crate::refusal::Refusal;

/// Checks the operation that will run against the limits.
pub fn check_document(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    limits: &QueryLimits,
) -> Result<(), Refusal> {
    let directives = count_directives(document);
    if directives > limits.max_directives {
        return Err(too_complex(format!(
            "Query has {directives} directives; the limit is {}",
            limits.max_directives
        )));
    }
    let mut measurer = Measurer {
        fragments: &document.fragments,
        measured: HashMap::new(),
        in_progress: Vec::new(),
    };
    let root = measurer.selection_set(&operation.selection_set)?;
    let checks = [
        (root.depth, limits.max_depth, "deep"),
        (root.fields, limits.max_fields, "fields"),
        (root.aliases, limits.max_aliases, "aliases"),
        (root.width, limits.max_root_fields, "root fields"),
    ];
    for (measured, limit, what) in checks {
        if measured > limit {
            return Err(too_complex(if what == "deep" {
                format!("Query is {measured} levels deep; the limit is {limit}")
            } else {
                format!("Query has {measured} {what}; the limit is {limit}")
            }));
        }
    }
    Ok(())
}

fn too_complex(message: String) -> Refusal {
    Refusal::QueryTooComplex(message)
}

/// The size of a selection set once its fragments are expanded.
#[derive(Clone, Copy, Default)]
struct Size {
    depth: u64,
    fields: u64,
    aliases: u64,
    /// Fields at this level (the root fields, for an operation).
    width: u64,
}

impl Size {
    fn add(&mut self, other: Size) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.width = self.width.saturating_add(other.width);
    }
}

struct Measurer<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    measured: HashMap<&'a Name, Size>,
    in_progress: Vec<&'a Name>,
}

impl<'a> Measurer<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Size, Refusal> {
        let mut size = Size::default();
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let children = self.selection_set(&field.node.selection_set)?;
                    size.add(Size {
                        depth: children.depth.saturating_add(1),
                        fields: children.fields.saturating_add(1),
                        aliases: children
                            .aliases
                            .saturating_add(u64::from(field.node.alias.is_some())),
                        width: 1,
                    });
                }
                Selection::InlineFragment(fragment) => {
                    size.add(self.selection_set(&fragment.node.selection_set)?);
                }
                Selection::FragmentSpread(spread) => {
                    size.add(self.fragment(&spread.node.fragment_name.node)?);
                }
            }
        }
        Ok(size)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Size, Refusal> {
        if let Some(size) = self.measured.get(name) {
            return Ok(*size);
        }
        if self.in_progress.contains(&name) {
            return Err(too_complex(format!("Fragment \"{name}\" spreads itself")));
        }
        // An unknown fragment is the validator's to report.
        let Some(fragment) = self.fragments.get(name) else {
            return Ok(Size::default());
        };
        self.in_progress.push(name);
        let size = self.selection_set(&fragment.node.selection_set)?;
        self.in_progress.pop();
        self.measured.insert(name, size);
        Ok(size)
    }
}

fn count_directives(document: &ExecutableDocument) -> u64 {
    fn in_set(set: &Positioned<SelectionSet>) -> u64 {
        set.node.items.iter().fold(0u64, |count, selection| {
            let own = match &selection.node {
                Selection::Field(field) => {
                    len(&field.node.directives).saturating_add(in_set(&field.node.selection_set))
                }
                Selection::InlineFragment(fragment) => len(&fragment.node.directives)
                    .saturating_add(in_set(&fragment.node.selection_set)),
                Selection::FragmentSpread(spread) => len(&spread.node.directives),
            };
            count.saturating_add(own)
        })
    }
    fn len<T>(items: &[T]) -> u64 {
        u64::try_from(items.len()).unwrap_or(u64::MAX)
    }
    let operations = document.operations.iter().map(|(_, operation)| {
        len(&operation.node.directives).saturating_add(in_set(&operation.node.selection_set))
    });
    let fragments = document.fragments.values().map(|fragment| {
        len(&fragment.node.directives).saturating_add(in_set(&fragment.node.selection_set))
    });
    operations.chain(fragments).fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::pipeline::nesting::check_nesting;

    fn check(query: &str) -> Result<(), Refusal> {
        let limits = QueryLimits::DEFAULT;
        check_nesting(query, limits.max_nesting)?;
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let (_, operation) = document.operations.iter().next().expect("an operation");
        check_document(&document, &operation.node, &limits)
    }

    fn refusal(query: &str) -> String {
        match check(query) {
            Err(Refusal::QueryTooComplex(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_ordinary_query_passes() {
        assert!(
            check("{ tickets { items { id messages { body } } pagination { total } } }").is_ok()
        );
    }

    #[test]
    fn depth_counts_through_fragments() {
        let query = "{ a { ...F } } fragment F on T { b { c { d { e { f { g { h { i { j { k { l { m { n { o { p } } } } } } } } } } } } } } }";
        assert!(refusal(query).contains("levels deep"));
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused() {
        assert!(
            refusal("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
                .contains("spreads itself")
        );
    }

    #[test]
    fn fragments_are_counted_each_time_they_are_spread() {
        let query = "{ ...A ...A } \
            fragment A on Query { ...B ...B ...B ...B } \
            fragment B on Query { ...C ...C ...C ...C } \
            fragment C on Query { ...D ...D ...D ...D } \
            fragment D on Query { ...E ...E ...E ...E } \
            fragment E on Query { me { id } }";
        assert!(refusal(query).contains("fields"));
    }

    #[test]
    fn too_many_aliases_are_refused() {
        let aliases: String = (0..31).map(|n| format!("a{n}: __typename ")).collect();
        assert!(refusal(&format!("{{ {aliases} }}")).contains("aliases"));
    }

    #[test]
    fn too_many_directives_are_refused() {
        let directives = "@include(if: true) ".repeat(51);
        assert!(refusal(&format!("{{ __typename {directives} }}")).contains("directives"));
    }
}
