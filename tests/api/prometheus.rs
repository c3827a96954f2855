//! Prometheus's text exposition format (version 0.0.4), read strictly: every line must
//! parse, and every sample belong to a family whose type was declared, so that a scrape
//! Prometheus would reject fails the test that reads it.

use std::collections::{BTreeMap, HashMap};

/// One sample: `name{label="value",…} value`.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole scrape.
#[derive(Debug)]
pub struct Scrape {
    /// Each family's declared type: counter, gauge, histogram…
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

/// `GET /metrics` on `address`: 200, the text format's media type, and a body that parses.
pub async fn scrape(address: &str) -> Scrape {
    let response = reqwest::get(format!("{address}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("a text header")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&response.text().await.expect("a body"))
}

impl Scrape {
    /// Panics naming the first line that is not in the format.
    pub fn parse(text: &str) -> Self {
        let mut scrape = Self {
            types: HashMap::new(),
            samples: Vec::new(),
        };
        for line in text.lines() {
            let parsed = match line.strip_prefix('#') {
                Some(comment) => scrape.read_comment(comment),
                None if line.trim().is_empty() => Some(()),
                None => sample(line).map(|sample| scrape.samples.push(sample)),
            };
            assert!(parsed.is_some(), "not the Prometheus text format: {line:?}");
        }
        for sample in &scrape.samples {
            assert!(
                scrape.types.contains_key(family(&sample.name)),
                "{} has no # TYPE",
                sample.name
            );
        }
        scrape
    }

    fn read_comment(&mut self, comment: &str) -> Option<()> {
        let mut words = comment.trim_start().splitn(3, ' ');
        match words.next() {
            Some("TYPE") => {
                let name = words.next().filter(|name| is_metric_name(name))?;
                let kind = words.next()?;
                ["counter", "gauge", "histogram", "summary", "untyped"]
                    .contains(&kind)
                    .then(|| {
                        self.types.insert(name.to_owned(), kind.to_owned());
                    })
            }
            Some("HELP") => words.next().filter(|name| is_metric_name(name)).map(|_| ()),
            _ => Some(()),
        }
    }

    /// The value of the sample named `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == labels)
            .map(|sample| sample.value)
    }

    /// Every sample named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |sample| sample.name == name)
    }
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its
/// own.
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

fn is_metric_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && characters.all(|next| next.is_ascii_alphanumeric() || next == '_' || next == ':')
}

fn is_label_name(name: &str) -> bool {
    !name.contains(':') && is_metric_name(name)
}

/// `name{labels} value [timestamp]`.
fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inside) = rest.strip_prefix('{') {
        rest = read_labels(inside, &mut labels)?;
    }
    let mut fields = rest.strip_prefix(' ')?.split(' ');
    let value = number(fields.next()?)?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Reads `key="value",…}` into `labels`; what follows the closing brace.
fn read_labels<'a>(mut text: &'a str, labels: &mut BTreeMap<String, String>) -> Option<&'a str> {
    loop {
        if let Some(rest) = text.strip_prefix('}') {
            return Some(rest);
        }
        let (key, rest) = text.split_once("=\"")?;
        if !is_label_name(key) {
            return None;
        }
        let mut value = String::new();
        let mut characters = rest.char_indices();
        let end = loop {
            match characters.next()? {
                (index, '"') => break index,
                (_, '\\') => match characters.next()?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    _ => return None,
                },
                (_, character) => value.push(character),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return None;
        }
        text = &rest[end + 1..];
        if let Some(next) = text.strip_prefix(',') {
            text = next;
        } else if !text.starts_with('}') {
            return None;
        }
    }
}

/// A sample's value: a float, `+Inf`, `-Inf` or `NaN`.
fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}
