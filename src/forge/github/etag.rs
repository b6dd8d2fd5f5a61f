//! Conditional GETs: remember each URL's `ETag` and body, send
//! `If-None-Match`, and answer a 304 from memory. GitHub does not count a 304
//! against the rate limit, and a resync loop re-reads the same lists often.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

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

    /// The pages, oldest first, for saving (a copy: the lock is held briefly).
    pub fn snapshot(&self) -> Vec<(String, CachedPage)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .order
            .iter()
            .filter_map(|url| inner.pages.get(url).map(|p| (url.clone(), p.clone())))
            .collect()
    }

    /// Fill the cache from a file `save` wrote for the same `owner` (a hash
    /// of the API root and the credentials, so one account's answers are
    /// never replayed to another). A missing, unreadable or foreign file
    /// leaves the cache empty: the worst case is a cold start. Returns how
    /// many pages were loaded.
    pub fn load(&self, path: &Path, owner: &str) -> usize {
        let Ok(text) = std::fs::read_to_string(path) else {
            return 0;
        };
        let Ok(saved) = serde_json::from_str::<Saved>(&text) else {
            tracing::warn!(file = %path.display(), "ETag cache file unreadable; starting cold");
            return 0;
        };
        if saved.owner != owner {
            return 0;
        }
        let n = saved.pages.len();
        for p in saved.pages {
            self.put(
                &p.url,
                CachedPage {
                    etag: p.etag,
                    body: Arc::from(p.body),
                    link: p.link,
                },
            );
        }
        n
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.pages.len()
    }
}

/// The file form of the cache.
#[derive(Serialize, Deserialize)]
struct Saved {
    owner: String,
    pages: Vec<SavedPage>,
}

#[derive(Serialize, Deserialize)]
struct SavedPage {
    url: String,
    etag: String,
    link: Option<String>,
    body: String,
}

/// Write pages for `owner` to `path` atomically (temp file, then rename).
pub fn save(path: &Path, owner: &str, pages: Vec<(String, CachedPage)>) -> std::io::Result<()> {
    let saved = Saved {
        owner: owner.to_string(),
        pages: pages
            .into_iter()
            .map(|(url, p)| SavedPage {
                url,
                etag: p.etag,
                link: p.link,
                body: p.body.to_string(),
            })
            .collect(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, &saved)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
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
    fn saved_pages_come_back_only_for_the_same_owner() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("etags.json");
        let c = EtagCache::new(10);
        c.put("/a", page("\"1\""));
        c.put("/b", page("\"2\""));
        save(&file, "owner-1", c.snapshot()).expect("save");
        let again = EtagCache::new(10);
        assert_eq!(again.load(&file, "owner-1"), 2);
        assert_eq!(again.get("/b").map(|p| p.etag), Some("\"2\"".into()));
        let other = EtagCache::new(10);
        assert_eq!(
            other.load(&file, "owner-2"),
            0,
            "another account's answers are not replayed"
        );
        std::fs::write(&file, "not json").expect("write");
        assert_eq!(
            EtagCache::new(10).load(&file, "owner-1"),
            0,
            "a broken file means a cold start"
        );
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
