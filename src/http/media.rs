//! Which media type a GraphQL response is written in, from the request's `Accept`.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/json`: the legacy type; every well-formed request gets 200.
    Json,
    /// `application/graphql-response+json`: request errors get a 4xx and no `data`.
    GraphqlResponseJson,
}

impl ResponseMedia {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// The media type the client prefers, `application/json` when it has no `Accept` (or
/// accepts anything), or `None` when it accepts neither: 406.
pub fn negotiate(headers: &HeaderMap) -> Option<ResponseMedia> {
    let accept: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if accept.iter().all(|value| value.trim().is_empty()) {
        return Some(ResponseMedia::Json);
    }
    let mut best: Option<(f32, ResponseMedia)> = None;
    for range in accept.iter().flat_map(|value| value.split(',')) {
        let mut parts = range.split(';');
        let media_range = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|parameter| parameter.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let media = match media_range.as_str() {
            "application/graphql-response+json" => ResponseMedia::GraphqlResponseJson,
            "application/json" | "application/*" | "*/*" => ResponseMedia::Json,
            _ => continue,
        };
        // The first of equally preferred types wins.
        if quality > 0.0 && best.is_none_or(|(best_quality, _)| quality > best_quality) {
            best = Some((quality, media));
        }
    }
    best.map(|(_, media)| media)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accepting(value: &'static str) -> Option<ResponseMedia> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        negotiate(&headers)
    }

    #[test]
    fn no_accept_header_means_json() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(ResponseMedia::Json));
    }

    #[test]
    fn anything_means_json() {
        assert_eq!(accepting("*/*"), Some(ResponseMedia::Json));
    }

    #[test]
    fn apollo_clients_preference_for_graphql_response_json_wins() {
        assert_eq!(
            accepting("application/graphql-response+json,application/json;q=0.9"),
            Some(ResponseMedia::GraphqlResponseJson)
        );
    }

    #[test]
    fn a_higher_quality_wins_over_order() {
        assert_eq!(
            accepting("application/graphql-response+json;q=0.5, application/json"),
            Some(ResponseMedia::Json)
        );
    }

    #[test]
    fn an_unsupported_type_is_not_acceptable() {
        assert_eq!(accepting("text/html"), None);
        assert_eq!(accepting("application/json;q=0"), None);
    }
}
