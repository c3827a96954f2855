//! The bracket-nesting guard, run on a document's text before it is parsed.
//!
//! async-graphql's parser and validator recurse once per `{`, `[` or `(`, so a deeply
//! nested document overflows the stack and aborts the process: the nesting has to be
//! measured without a parser. Brackets inside strings and comments are text, not
//! structure, so the scan follows GraphQL's lexical grammar (October 2021, §2.1) for
//! strings, block strings and comments. Where the text is not valid GraphQL the scan
//! leans towards counting a bracket: refusing a broken document costs nothing, while a
//! hidden bracket is exactly what a stack-overflow attack needs.

use crate::refusal::Refusal;

/// The deepest nesting of `{`, `[` and `(` in `text`, ignoring brackets in strings,
/// block strings and comments. A closing bracket with nothing open is ignored.
pub fn max_nesting(text: &str) -> usize {
    Depths::new(text).max().unwrap_or(0)
}

/// Refuses text whose brackets nest deeper than `max_nesting`, before it is parsed.
/// Brackets inside strings, block strings and comments do not count.
pub fn check_nesting(query: &str, max_nesting: usize) -> Result<(), Refusal> {
    if Depths::new(query).any(|depth| depth > max_nesting) {
        return Err(Refusal::QueryTooComplex(format!(
            "Query nests deeper than {max_nesting} levels"
        )));
    }
    Ok(())
}

/// The nesting depth reached at each opening bracket, in the order of the text.
///
/// The scan works on bytes: every character that matters is ASCII, and no byte of a
/// multi-byte UTF-8 character is ASCII.
struct Depths<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl<'a> Depths<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            at: 0,
            depth: 0,
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// Skips a comment whose `#` was read, up to its line terminator (`\n`, `\r\n` or
    /// a lone `\r`).
    fn skip_comment(&mut self) {
        while let Some(byte) = self.peek() {
            if is_line_terminator(byte) {
                return;
            }
            self.at += 1;
        }
    }

    /// Skips a string whose opening quote was read: `"""` opens a block string, and
    /// `""` not followed by a third quote is an empty string.
    fn skip_string(&mut self) {
        if self.rest().starts_with(b"\"\"") {
            self.at += 2;
            self.skip_block_string();
        } else {
            self.skip_plain_string();
        }
    }

    /// Skips to the closing `"` of a plain string. A backslash escapes the character
    /// after it (of the valid escapes, only `\"` holds a quote). A plain string cannot
    /// span lines, so a line terminator ends it: the parser refuses such a document, and
    /// the brackets after it are counted rather than hidden.
    fn skip_plain_string(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b'"' => {
                    self.at += 1;
                    return;
                }
                b'\\' => {
                    self.at += 1;
                    if self.peek().is_some_and(|next| !is_line_terminator(next)) {
                        self.at += 1;
                    }
                }
                byte if is_line_terminator(byte) => return,
                _ => self.at += 1,
            }
        }
    }

    /// Skips to the first unescaped `"""`. The only escape in a block string is `\"""`:
    /// any other backslash is an ordinary character, so `\\"""` is a backslash followed
    /// by an escaped `"""`, not an escaped backslash followed by the closing quotes.
    fn skip_block_string(&mut self) {
        while self.at < self.text.len() {
            let rest = self.rest();
            if rest.starts_with(b"\\\"\"\"") {
                self.at += 4;
            } else if rest.starts_with(b"\"\"\"") {
                self.at += 3;
                return;
            } else {
                self.at += 1;
            }
        }
    }
}

impl Iterator for Depths<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'{' | b'[' | b'(' => {
                    self.depth += 1;
                    return Some(self.depth);
                }
                b'}' | b']' | b')' => self.depth = self.depth.saturating_sub(1),
                b'#' => self.skip_comment(),
                b'"' => self.skip_string(),
                _ => {}
            }
        }
        None
    }
}

fn is_line_terminator(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(text: &str) -> bool {
        async_graphql::parser::parse_query(text).is_ok()
    }

    #[test]
    fn every_kind_of_bracket_counts() {
        assert_eq!(max_nesting("{ a(b: [{ c: 1 }]) { d } }"), 4);
    }

    #[test]
    fn closing_brackets_with_nothing_open_are_ignored() {
        assert_eq!(max_nesting("}}])) [["), 2);
    }

    #[test]
    fn nesting_at_the_limit_passes_and_one_more_is_refused() {
        assert!(check_nesting(&"[".repeat(64), 64).is_ok());
        let refused = check_nesting(&"[".repeat(65), 64);
        assert!(
            matches!(refused, Err(Refusal::QueryTooComplex(message)) if message == "Query nests deeper than 64 levels")
        );
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let brackets = "[".repeat(500);
        let query = format!("# {brackets}\n{{ ticket(id: \"{brackets}\") {{ id }} }}");
        assert!(check_nesting(&query, 64).is_ok());
        let block = format!("{{ ticket(id: \"\"\"{brackets}\"\"\") {{ id }} }}");
        assert!(check_nesting(&block, 64).is_ok());
    }

    #[test]
    fn deeply_nested_list_literals_are_refused_before_parsing() {
        let query = format!(
            "{{ me @include(if: {}true{}) {{ id }} }}",
            "[".repeat(2_000),
            "]".repeat(2_000)
        );
        assert!(check_nesting(&query, 64).is_err());
    }

    /// A backslash before `\"""` is an ordinary character, so the block string does not
    /// end there, and the brackets after its real end must be counted.
    #[test]
    fn brackets_after_a_block_string_ending_in_backslash_and_escaped_quotes_are_refused() {
        let query = format!(
            r#"{{ me(a: """x\\""" """, b: {}1{}) {{ id }} }}"#,
            "[".repeat(3_000),
            "]".repeat(3_000)
        );
        assert!(matches!(
            check_nesting(&query, 64),
            Err(Refusal::QueryTooComplex(_))
        ));
    }

    #[test]
    fn a_block_string_closes_at_the_quotes_after_its_escaped_quotes() {
        let query = r#"{ me(a: """x\\""" """, b: [[1]]) { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 4);
    }

    #[test]
    fn brackets_in_a_block_string_with_escaped_quotes_and_backslashes_do_not_count() {
        let query = r#"{ me(a: """ \""" [[[ \ {{ \\ \n ((( """) { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 2);
    }

    #[test]
    fn a_block_string_may_span_lines() {
        let query = "{ me(a: \"\"\"\n[[\r\n{{\r(( \"\"\") { id } }";
        assert!(parses(query));
        assert_eq!(max_nesting(query), 2);
    }

    #[test]
    fn a_block_string_may_start_with_a_quote() {
        let query = r#"{ me(a: """"[[""") { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 2);
    }

    #[test]
    fn six_quotes_are_an_empty_block_string() {
        let query = r#"{ me(a: """""", b: [1]) { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 3);
    }

    #[test]
    fn two_quotes_are_an_empty_string() {
        let query = r#"{ me(a: "", b: [1]) { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 3);
    }

    /// `"""a""""` is the block string `a` followed by a quote that opens a plain string.
    #[test]
    fn a_block_string_closes_at_the_first_unescaped_triple_quote() {
        assert_eq!(max_nesting(r#"{ me(a: """a"""" [[ ") }"#), 2);
    }

    #[test]
    fn an_escaped_quote_does_not_end_a_plain_string() {
        let query = r#"{ me(a: "\" [[[ ") { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 2);
    }

    #[test]
    fn an_escaped_backslash_does_not_escape_the_closing_quote() {
        let query = r#"{ me(a: "\\", b: [[1]]) { id } }"#;
        assert!(parses(query));
        assert_eq!(max_nesting(query), 4);
    }

    #[test]
    fn brackets_after_a_line_break_in_a_plain_string_count() {
        assert_eq!(max_nesting("{ me(a: \"x\n[[[[\") }"), 6);
        assert_eq!(max_nesting("{ me(a: \"x\r[[[[\") }"), 6);
        assert_eq!(max_nesting("{ me(a: \"x\\\n[[[[\") }"), 6);
    }

    #[test]
    fn a_comment_ends_at_a_carriage_return() {
        let query = "{ me # [[[[\r{ id } }";
        assert!(parses(query));
        assert_eq!(max_nesting(query), 2);
        assert_eq!(max_nesting("# x\r[[[["), 4);
    }

    #[test]
    fn a_comment_ends_at_a_line_feed_or_crlf() {
        assert_eq!(max_nesting("# x\n[[[["), 4);
        assert_eq!(max_nesting("# x\r\n[[[["), 4);
    }

    #[test]
    fn a_hash_inside_a_string_does_not_start_a_comment() {
        let query = "{ me(a: \"#\", b: [1]) { id } }";
        assert!(parses(query));
        assert_eq!(max_nesting(query), 3);
    }

    #[test]
    fn a_quote_inside_a_comment_does_not_start_a_string() {
        assert_eq!(max_nesting("# \"\n[[\"]]"), 2);
    }
}

/// Documents generated from a small syntax tree, with strings, block strings and comments
/// full of brackets, quotes and backslashes: async-graphql must parse each one, and the
/// scan must find the nesting of the tree the parser builds.
#[cfg(test)]
mod properties {
    use async_graphql::parser::Positioned;
    use async_graphql::parser::types::{
        BaseType, Directive, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
        Type, VariableDefinition,
    };
    use async_graphql::{Name, Value as ConstValue};
    use async_graphql_value::Value;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;

    /// A value; scalars are kept as their single token.
    #[derive(Clone, Debug)]
    enum Val {
        Token(String),
        List(Vec<Val>),
        Object(Vec<Val>),
    }

    #[derive(Clone, Debug)]
    enum Sel {
        Field {
            alias: bool,
            arguments: Vec<Val>,
            directives: Vec<Vec<Val>>,
            selections: Vec<Sel>,
        },
        Inline {
            on_type: bool,
            directives: Vec<Vec<Val>>,
            selections: Vec<Sel>,
        },
        Spread {
            directives: Vec<Vec<Val>>,
        },
    }

    /// async-graphql reads a variable's directives before its default value (the spec
    /// has them the other way round), so a definition has one or the other.
    #[derive(Clone, Debug)]
    enum VarExtra {
        Nothing,
        Default(Val),
        Directives(Vec<Vec<Val>>),
    }

    #[derive(Clone, Debug)]
    enum Op {
        Shorthand(Vec<Sel>),
        Full {
            kind: &'static str,
            named: bool,
            variables: Vec<(String, VarExtra)>,
            directives: Vec<Vec<Val>>,
            selections: Vec<Sel>,
        },
    }

    #[derive(Clone, Debug)]
    struct Doc {
        operation: Op,
        fragments: Vec<(Vec<Vec<Val>>, Vec<Sel>)>,
    }

    // Generating the tree.

    const TEXT_CHARS: &[char] = &[
        'a', 'Z', '{', '}', '[', ']', '(', ')', '"', '\\', '#', '\n', '\r', ' ', 'é',
    ];

    fn plain_string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => select(TEXT_CHARS).prop_map(escaped),
            1 => select(&["\\u00e9", "\\/", "\\t", "\\b", "\\f"][..]).prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
    }

    /// A character as a plain string must spell it: no raw quote, backslash or line break.
    fn escaped(c: char) -> String {
        match c {
            '"' => "\\\"".to_owned(),
            '\\' => "\\\\".to_owned(),
            '\n' => "\\n".to_owned(),
            '\r' => "\\r".to_owned(),
            c => c.to_string(),
        }
    }

    /// Quotes come in runs of one or two followed by a letter, or as the escape `\"""`;
    /// the content never ends in a backslash, which would escape the closing quotes.
    fn block_string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => select(TEXT_CHARS).prop_filter("quotes come in runs", |c| *c != '"').prop_map(String::from),
            1 => select(&["\"a", "\"\"b", "\\\"\"\""][..]).prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|pieces| {
            let mut content = pieces.concat();
            if content.ends_with('\\') {
                content.push('a');
            }
            format!("\"\"\"{content}\"\"\"")
        })
    }

    fn value(variables: bool) -> impl Strategy<Value = Val> {
        let mut scalars = vec!["0", "-12", "1.5e3", "true", "null", "RED"];
        if variables {
            scalars.push("$v");
        }
        let leaf = prop_oneof![
            2 => select(scalars).prop_map(|token| Val::Token(token.to_owned())),
            1 => plain_string().prop_map(Val::Token),
            1 => block_string().prop_map(Val::Token),
        ];
        leaf.prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Val::List),
                prop::collection::vec(inner, 0..3).prop_map(Val::Object),
            ]
        })
    }

    fn arguments() -> impl Strategy<Value = Vec<Val>> {
        prop::collection::vec(value(true), 0..3)
    }

    fn directives() -> impl Strategy<Value = Vec<Vec<Val>>> {
        prop::collection::vec(arguments(), 0..2)
    }

    fn selections() -> impl Strategy<Value = Vec<Sel>> {
        let leaf = prop_oneof![
            (any::<bool>(), arguments(), directives()).prop_map(
                |(alias, arguments, directives)| {
                    Sel::Field {
                        alias,
                        arguments,
                        directives,
                        selections: Vec::new(),
                    }
                }
            ),
            directives().prop_map(|directives| Sel::Spread { directives }),
        ];
        let selection = leaf.prop_recursive(3, 12, 2, |inner| {
            let children = prop::collection::vec(inner, 1..3);
            prop_oneof![
                (any::<bool>(), arguments(), directives(), children.clone()).prop_map(
                    |(alias, arguments, directives, selections)| Sel::Field {
                        alias,
                        arguments,
                        directives,
                        selections,
                    }
                ),
                (any::<bool>(), directives(), children).prop_map(
                    |(on_type, directives, selections)| Sel::Inline {
                        on_type,
                        directives,
                        selections,
                    }
                ),
            ]
        });
        prop::collection::vec(selection, 1..3)
    }

    /// A type is one token: async-graphql allows nothing between its brackets.
    fn type_token() -> impl Strategy<Value = String> {
        select(&["Int", "Int!"][..])
            .prop_map(String::from)
            .prop_recursive(3, 3, 1, |inner| {
                (inner, any::<bool>())
                    .prop_map(|(inner, bang)| format!("[{inner}]{}", if bang { "!" } else { "" }))
            })
    }

    fn variable() -> impl Strategy<Value = (String, VarExtra)> {
        let extra = prop_oneof![
            Just(VarExtra::Nothing),
            value(false).prop_map(VarExtra::Default),
            prop::collection::vec(arguments(), 1..2).prop_map(VarExtra::Directives),
        ];
        (type_token(), extra)
    }

    fn operation() -> impl Strategy<Value = Op> {
        let full = (
            select(&["query", "mutation", "subscription"][..]),
            any::<bool>(),
            prop::collection::vec(variable(), 0..3),
            directives(),
            selections(),
        )
            .prop_map(
                |(kind, named, variables, directives, selections)| Op::Full {
                    kind,
                    named,
                    variables,
                    directives,
                    selections,
                },
            );
        prop_oneof![selections().prop_map(Op::Shorthand), full]
    }

    /// What separates tokens: whitespace, commas, and comments ended by each kind of line
    /// terminator.
    fn ignored() -> impl Strategy<Value = String> {
        let comment = (
            prop::collection::vec(
                select(TEXT_CHARS).prop_filter("one line", |c| !is_line_terminator(*c as u8)),
                0..8,
            ),
            select(&["\n", "\r\n", "\r"][..]),
        )
            .prop_map(|(content, end)| {
                format!("#{}{end}", content.into_iter().collect::<String>())
            });
        prop_oneof![
            select(&[" ", ",", "\t", "\n", "\r\n", "\r"][..]).prop_map(String::from),
            comment,
        ]
    }

    fn document() -> impl Strategy<Value = String> {
        let doc = (
            operation(),
            prop::collection::vec((directives(), selections()), 0..3),
        )
            .prop_map(|(operation, fragments)| Doc {
                operation,
                fragments,
            });
        (doc, prop::collection::vec(ignored(), 1..6)).prop_map(|(doc, ignored)| {
            let mut tokens = Vec::new();
            doc_tokens(&doc, &mut tokens);
            tokens
                .iter()
                .zip(ignored.iter().cycle())
                .map(|(token, ignored)| format!("{token}{ignored}"))
                .collect()
        })
    }

    // Writing the tree as tokens. Names are numbered, so none repeats where async-graphql
    // would keep only one of them (object fields, fragments).

    fn doc_tokens(doc: &Doc, out: &mut Vec<String>) {
        match &doc.operation {
            Op::Shorthand(selections) => selections_tokens(selections, out),
            Op::Full {
                kind,
                named,
                variables,
                directives,
                selections,
            } => {
                out.push((*kind).to_owned());
                if *named {
                    out.push("Q".to_owned());
                }
                variables_tokens(variables, out);
                directives_tokens(directives, out);
                selections_tokens(selections, out);
            }
        }
        for (n, (directives, selections)) in doc.fragments.iter().enumerate() {
            out.extend(["fragment".to_owned(), format!("F{n}"), "on T".to_owned()]);
            directives_tokens(directives, out);
            selections_tokens(selections, out);
        }
    }

    fn variables_tokens(variables: &[(String, VarExtra)], out: &mut Vec<String>) {
        if variables.is_empty() {
            return;
        }
        out.push("(".to_owned());
        for (n, (type_token, extra)) in variables.iter().enumerate() {
            out.extend([format!("$v{n}"), ":".to_owned(), type_token.clone()]);
            match extra {
                VarExtra::Nothing => {}
                VarExtra::Default(value) => {
                    out.push("=".to_owned());
                    value_tokens(value, out);
                }
                VarExtra::Directives(directives) => directives_tokens(directives, out),
            }
        }
        out.push(")".to_owned());
    }

    fn selections_tokens(selections: &[Sel], out: &mut Vec<String>) {
        out.push("{".to_owned());
        for (n, selection) in selections.iter().enumerate() {
            match selection {
                Sel::Field {
                    alias,
                    arguments,
                    directives,
                    selections,
                } => {
                    if *alias {
                        out.extend([format!("x{n}"), ":".to_owned()]);
                    }
                    out.push(format!("f{n}"));
                    arguments_tokens(arguments, out);
                    directives_tokens(directives, out);
                    if !selections.is_empty() {
                        selections_tokens(selections, out);
                    }
                }
                Sel::Inline {
                    on_type,
                    directives,
                    selections,
                } => {
                    out.push("...".to_owned());
                    if *on_type {
                        out.push("on T".to_owned());
                    }
                    directives_tokens(directives, out);
                    selections_tokens(selections, out);
                }
                Sel::Spread { directives } => {
                    out.extend(["...".to_owned(), "F0".to_owned()]);
                    directives_tokens(directives, out);
                }
            }
        }
        out.push("}".to_owned());
    }

    fn directives_tokens(directives: &[Vec<Val>], out: &mut Vec<String>) {
        for arguments in directives {
            out.push("@d".to_owned());
            arguments_tokens(arguments, out);
        }
    }

    fn arguments_tokens(arguments: &[Val], out: &mut Vec<String>) {
        if arguments.is_empty() {
            return;
        }
        out.push("(".to_owned());
        for (n, value) in arguments.iter().enumerate() {
            out.extend([format!("a{n}"), ":".to_owned()]);
            value_tokens(value, out);
        }
        out.push(")".to_owned());
    }

    fn value_tokens(value: &Val, out: &mut Vec<String>) {
        match value {
            Val::Token(token) => out.push(token.clone()),
            Val::List(items) => {
                out.push("[".to_owned());
                for item in items {
                    value_tokens(item, out);
                }
                out.push("]".to_owned());
            }
            Val::Object(fields) => {
                out.push("{".to_owned());
                for (n, field) in fields.iter().enumerate() {
                    out.extend([format!("k{n}"), ":".to_owned()]);
                    value_tokens(field, out);
                }
                out.push("}".to_owned());
            }
        }
    }

    // The nesting of the parsed document: each construct written between brackets is one
    // level (selection sets, argument lists, variable definitions, list and object values,
    // list types).

    fn document_depth(document: &ExecutableDocument) -> usize {
        let operations = document
            .operations
            .iter()
            .map(|(_, operation)| operation_depth(&operation.node));
        let fragments = document.fragments.values().map(|fragment| {
            directives_depth(&fragment.node.directives)
                .max(set_depth(&fragment.node.selection_set.node))
        });
        operations.chain(fragments).max().unwrap_or(0)
    }

    fn operation_depth(operation: &OperationDefinition) -> usize {
        let variables = one_level_over(
            operation
                .variable_definitions
                .iter()
                .map(|definition| variable_depth(&definition.node)),
        );
        variables
            .max(directives_depth(&operation.directives))
            .max(set_depth(&operation.selection_set.node))
    }

    fn variable_depth(definition: &VariableDefinition) -> usize {
        let default = definition
            .default_value
            .as_ref()
            .map_or(0, |value| const_value_depth(&value.node));
        type_depth(&definition.var_type.node)
            .max(directives_depth(&definition.directives))
            .max(default)
    }

    fn type_depth(ty: &Type) -> usize {
        match &ty.base {
            BaseType::Named(_) => 0,
            BaseType::List(inner) => 1 + type_depth(inner),
        }
    }

    fn set_depth(set: &SelectionSet) -> usize {
        one_level_over(set.items.iter().map(|item| selection_depth(&item.node)))
    }

    fn selection_depth(selection: &Selection) -> usize {
        match selection {
            Selection::Field(field) => arguments_depth(&field.node.arguments)
                .max(directives_depth(&field.node.directives))
                .max(set_depth(&field.node.selection_set.node)),
            Selection::InlineFragment(fragment) => directives_depth(&fragment.node.directives)
                .max(set_depth(&fragment.node.selection_set.node)),
            Selection::FragmentSpread(spread) => directives_depth(&spread.node.directives),
        }
    }

    fn directives_depth(directives: &[Positioned<Directive>]) -> usize {
        directives
            .iter()
            .map(|directive| arguments_depth(&directive.node.arguments))
            .max()
            .unwrap_or(0)
    }

    fn arguments_depth(arguments: &[(Positioned<Name>, Positioned<Value>)]) -> usize {
        one_level_over(arguments.iter().map(|(_, value)| value_depth(&value.node)))
    }

    fn value_depth(value: &Value) -> usize {
        match value {
            Value::List(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
            Value::Object(fields) => 1 + fields.values().map(value_depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn const_value_depth(value: &ConstValue) -> usize {
        match value {
            ConstValue::List(items) => 1 + items.iter().map(const_value_depth).max().unwrap_or(0),
            ConstValue::Object(fields) => {
                1 + fields.values().map(const_value_depth).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// The depth of a bracketed list of things: nothing when there are none (async-graphql
    /// refuses empty argument lists and selection sets, and the generator writes no
    /// empty variable list).
    fn one_level_over(depths: impl Iterator<Item = usize>) -> usize {
        depths.max().map_or(0, |deepest| deepest + 1)
    }

    fn parsed(text: &str) -> Result<ExecutableDocument, TestCaseError> {
        async_graphql::parser::parse_query(text)
            .map_err(|error| TestCaseError::fail(format!("{text:?} does not parse: {error}")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_scan_finds_the_nesting_the_parser_builds(text in document()) {
            let document = parsed(&text)?;
            prop_assert_eq!(max_nesting(&text), document_depth(&document), "{:?}", text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_document_passes_at_its_own_nesting_and_is_refused_one_below(text in document()) {
            let depth = document_depth(&parsed(&text)?);
            prop_assert!(check_nesting(&text, depth).is_ok());
            prop_assert!(check_nesting(&text, depth - 1).is_err());
        }
    }
}
