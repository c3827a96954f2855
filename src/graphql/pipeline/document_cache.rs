//! Documents already prepared, and Apollo's automatic persisted queries, kept by the
//! SHA-256 of their text: a client that sends the same operation again is served without
//! parsing or measuring it again, and one that sends only the hash (APQ) without
//! sending the text.
//!
//! Only requests of signed-in users add to the cache; anonymous ones read it. Otherwise
//! anyone could push every customer's persisted queries out of it with a burst of
//! registrations of their own.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Request, Value};
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::request::PreparedDocument;
use crate::refusal::Refusal;

/// The longest text kept, so that the cache's memory stays bounded: far above any
/// operation a client writes by hand or generates.
const MAX_CACHED_TEXT_BYTES: usize = 32 * 1024;

type Hash = [u8; 32];

/// A document is prepared for one of its operations: the text's hash and the name.
type PreparedKey = (Hash, Option<String>);

pub struct DocumentCache {
    prepared: Mutex<LruCache<PreparedKey, Arc<PreparedDocument>>>,
    persisted: Mutex<LruCache<Hash, Arc<str>>>,
}

/// What a request's text is, once its persisted-query extension is read.
pub struct QueryText {
    hash: Hash,
    /// The client sent a hash with the text: keep the text for later requests.
    persist: bool,
}

impl DocumentCache {
    /// Keeps at most `entries` prepared documents and as many persisted texts.
    pub fn new(entries: NonZeroUsize) -> Self {
        Self {
            prepared: Mutex::new(LruCache::new(entries)),
            persisted: Mutex::new(LruCache::new(entries)),
        }
    }

    /// Fills in the text of a persisted query that was sent by hash only, and checks the
    /// hash of one sent with its text, as Apollo's APQ protocol says.
    pub fn resolve_text(&self, request: &mut Request) -> Result<QueryText, Refusal> {
        let Some(claimed) = persisted_query_hash(request)? else {
            return Ok(QueryText {
                hash: sha256(&request.query),
                persist: false,
            });
        };
        if request.query.is_empty() {
            let text = lock(&self.persisted).get(&claimed).cloned();
            let text = text.ok_or(Refusal::PersistedQueryNotFound)?;
            request.query = text.to_string();
            return Ok(QueryText {
                hash: claimed,
                persist: false,
            });
        }
        let hash = sha256(&request.query);
        if hash != claimed {
            return Err(Refusal::BadPersistedQuery(
                "provided sha does not match query".into(),
            ));
        }
        Ok(QueryText {
            hash,
            persist: true,
        })
    }

    /// The prepared document for this text and operation name, from the cache or from
    /// `prepare` (whose refusals are not kept: they cost no more to find again). A new
    /// document, and the persisted query it came with, are kept only `if signed_in`: an
    /// anonymous request's runs, but is not kept.
    pub fn prepared(
        &self,
        text: &QueryText,
        request: &Request,
        signed_in: bool,
        prepare: impl FnOnce() -> Result<PreparedDocument, Refusal>,
    ) -> Result<Arc<PreparedDocument>, Refusal> {
        let key = (text.hash, request.operation_name.clone());
        if let Some(prepared) = lock(&self.prepared).get(&key) {
            return Ok(Arc::clone(prepared));
        }
        let prepared = Arc::new(prepare()?);
        if signed_in && request.query.len() <= MAX_CACHED_TEXT_BYTES {
            lock(&self.prepared).put(key, Arc::clone(&prepared));
            if text.persist {
                lock(&self.persisted).put(text.hash, Arc::from(request.query.as_str()));
            }
        }
        Ok(prepared)
    }
}

/// The hash in `extensions.persistedQuery`, if the client sent one.
fn persisted_query_hash(request: &Request) -> Result<Option<Hash>, Refusal> {
    let Some(persisted) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let malformed = || Refusal::BadPersistedQuery("Malformed persistedQuery extension".into());
    let Value::Object(fields) = persisted else {
        return Err(malformed());
    };
    if fields.get("version") != Some(&Value::from(1)) {
        return Err(Refusal::BadPersistedQuery(
            "Unsupported persisted query version".into(),
        ));
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash)) => parse_hex(hash).map(Some).ok_or_else(malformed),
        _ => Err(malformed()),
    }
}

fn parse_hex(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

fn sha256(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

/// A poisoned lock only means a request panicked mid-update; an LRU stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use async_graphql::Name;

    use super::*;

    const QUERY: &str = "{ me { id } }";

    fn hex(hash: Hash) -> String {
        hash.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let persisted = Value::Object(
            [
                (Name::new("version"), Value::from(1)),
                (Name::new("sha256Hash"), Value::from(hash)),
            ]
            .into_iter()
            .collect(),
        );
        request
            .extensions
            .insert("persistedQuery".into(), persisted);
        request
    }

    fn prepare(request: &Request) -> Result<PreparedDocument, Refusal> {
        super::super::request::prepare_document(
            &request.query,
            None,
            &crate::config::QueryLimits::DEFAULT,
            super::super::request::Introspection::Allowed,
        )
    }

    fn cache() -> DocumentCache {
        DocumentCache::new(NonZeroUsize::MIN.saturating_add(7))
    }

    #[test]
    fn a_hash_never_seen_is_not_found() {
        let mut request = with_hash("", &hex(sha256(QUERY)));
        assert!(matches!(
            cache().resolve_text(&mut request),
            Err(Refusal::PersistedQueryNotFound)
        ));
    }

    #[test]
    fn a_hash_sent_with_its_text_serves_later_requests_by_hash_alone() {
        let cache = cache();
        let hash = hex(sha256(QUERY));
        let request = with_hash(QUERY, &hash);
        let mut first = request;
        let text = cache.resolve_text(&mut first).expect("its hash");
        cache
            .prepared(&text, &first, true, || prepare(&first))
            .expect("prepared");

        let mut later = with_hash("", &hash);
        cache.resolve_text(&mut later).expect("found");
        assert_eq!(later.query, QUERY);
    }

    #[test]
    fn a_hash_that_does_not_match_its_text_is_refused() {
        let mut request = with_hash(QUERY, &hex(sha256("{ __typename }")));
        assert!(matches!(
            cache().resolve_text(&mut request),
            Err(Refusal::BadPersistedQuery(_))
        ));
    }

    #[test]
    fn a_document_is_prepared_once_per_text_and_operation_name() {
        let cache = cache();
        let mut request = Request::new(QUERY);
        let text = cache.resolve_text(&mut request).expect("text");
        let mut preparations = 0;
        for _ in 0..3 {
            cache
                .prepared(&text, &request, true, || {
                    preparations += 1;
                    prepare(&request)
                })
                .expect("prepared");
        }
        assert_eq!(preparations, 1);
    }

    #[test]
    fn refusals_are_not_kept() {
        let cache = cache();
        let mut request = Request::new("{ not graphql");
        let text = cache.resolve_text(&mut request).expect("text");
        let mut preparations = 0;
        for _ in 0..2 {
            let prepared = cache.prepared(&text, &request, true, || {
                preparations += 1;
                prepare(&request)
            });
            assert!(prepared.is_err());
        }
        assert_eq!(preparations, 2);
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for hash in ["", "zz", &"g".repeat(64), &"é".repeat(32)] {
            let mut request = with_hash("", hash);
            assert!(
                matches!(
                    cache().resolve_text(&mut request),
                    Err(Refusal::BadPersistedQuery(_))
                ),
                "{hash}"
            );
        }
    }
}
