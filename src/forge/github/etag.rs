//! Conditional GETs: remember each URL's `ETag` and body, send
//! `If-None-Match`, and answer a 304 from memory. GitHub does not count a 304
//! against the rate limit, and a resync loop re-reads the same lists often.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A page as it was last served, with the headers we need to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPage {
    pub etag: String,
    pub body: Arc<str>,
    /// The `Link` header, so pagination works from a cached page too.
    pub link: Option<String>,
}

/// Bounded: the oldest entry goes first when full.
#[derive(Debug)]
pub struct EtagCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    pages: HashMap<String, CachedPage>,
    order: VecDeque<String>,
}

impl EtagCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn get(&self, url: &str) -> Option<CachedPage> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.pages.get(url).cloned()
    }

    pub fn put(&self, url: &str, page: CachedPage) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.pages.insert(url.to_string(), page).is_none() {
            inner.order.push_back(url.to_string());
        }
        while inner.pages.len() > self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.pages.remove(&oldest);
                }
                None => break,
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.pages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(etag: &str) -> CachedPage {
        CachedPage {
            etag: etag.into(),
            body: Arc::from("[]"),
            link: None,
        }
    }

    #[test]
    fn a_stored_page_is_found_and_replaced_in_place() {
        let c = EtagCache::new(2);
        c.put("/a", page("\"1\""));
        c.put("/a", page("\"2\""));
        assert_eq!(c.get("/a").map(|p| p.etag), Some("\"2\"".into()));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_oldest_page_is_evicted_when_full() {
        let c = EtagCache::new(2);
        c.put("/a", page("a"));
        c.put("/b", page("b"));
        c.put("/c", page("c"));
        assert!(c.get("/a").is_none());
        assert!(c.get("/b").is_some() && c.get("/c").is_some());
    }
}
