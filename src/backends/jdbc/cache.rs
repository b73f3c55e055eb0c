//! The statement cache: the `PreparedStatement`s a connection made for the SQL it runs, kept so
//! that a query run again binds and executes only (no prepare, no new statement object, and its
//! result's columns read once), by the SQL the driver was given; and, for each text as written
//! that leads to a kept statement, its translation (so a query run again is not translated
//! again either). Least recently used out first; per connection, as a `PreparedStatement`
//! belongs to the connection that made it. The cache holds global references; closing what it
//! gives up is the caller's (it needs the JVM).

use std::collections::HashMap;
use std::sync::Arc;

use super::jvm::JavaRef;
use super::rows::Columns;
use crate::sql::Translated;

/// How many statements a connection keeps by default (as the PostgreSQL backend).
pub(super) const DEFAULT_CAPACITY: usize = 100;

/// The prepared statements of one connection, by the SQL the driver was given. (`S` is the
/// statement: a global reference, or anything in the unit tests.)
#[derive(Debug)]
pub(super) struct StatementCache<S = JavaRef> {
    capacity: usize,
    /// Where each SQL text's entry is in `entries` (one hash per lookup).
    slots: HashMap<Box<str>, usize>,
    entries: Vec<Entry<S>>,
    /// The translation of each text as written whose statement is kept.
    translations: HashMap<Box<str>, Arc<Translated>>,
    /// Bumped on every use; an entry's `used` is the tick of its last.
    clock: u64,
}

/// A kept statement.
#[derive(Debug)]
pub(super) struct Entry<S = JavaRef> {
    sql: Box<str>,
    /// The texts as written that translate to `sql`.
    written: Vec<Box<str>>,
    /// The `PreparedStatement`.
    pub(super) statement: S,
    /// Its result's columns, once a run has read them.
    pub(super) columns: Option<Columns>,
    used: u64,
}

impl<S> StatementCache<S> {
    /// A cache of `capacity` statements; 0 keeps none.
    pub(super) fn new(capacity: usize) -> StatementCache<S> {
        StatementCache {
            capacity,
            slots: HashMap::new(),
            entries: Vec::new(),
            translations: HashMap::new(),
            clock: 0,
        }
    }

    /// Whether statements are kept at all.
    pub(super) fn is_on(&self) -> bool {
        self.capacity > 0
    }

    /// How many statements are kept now.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry kept for `sql`, marked as just used.
    #[cfg(test)]
    fn get(&mut self, sql: &str) -> Option<&mut Entry<S>> {
        let &slot = self.slots.get(sql)?;
        self.clock += 1;
        let entry = &mut self.entries[slot];
        entry.used = self.clock;
        Some(entry)
    }

    /// The translation of `written` (SQL as the caller wrote it), when a statement is kept for
    /// it.
    pub(super) fn translation(&self, written: &str) -> Option<Arc<Translated>> {
        self.translations.get(written).cloned()
    }

    /// Notes that `written` translates to `translated`, whose statement is kept (see
    /// [`StatementCache::translation`]); nothing when it is not kept.
    pub(super) fn remember(&mut self, written: &str, translated: &Arc<Translated>) {
        if self.translations.contains_key(written) {
            return;
        }
        if let Some(&slot) = self.slots.get(translated.sql()) {
            self.entries[slot].written.push(written.into());
            self.translations.insert(written.into(), Arc::clone(translated));
        }
    }

    /// The entry kept for `sql`, marked as just used; or, when there is none, the statement
    /// `make` makes, kept. The second value is the least recently used statement put out to
    /// make room, which the caller must close.
    pub(super) fn get_or_insert_with<E>(
        &mut self,
        sql: &str,
        make: impl FnOnce() -> Result<S, E>,
    ) -> Result<(&mut Entry<S>, Option<S>), E> {
        if let Some(&slot) = self.slots.get(sql) {
            self.clock += 1;
            let entry = &mut self.entries[slot];
            entry.used = self.clock;
            return Ok((entry, None));
        }
        Ok(self.insert(sql, make()?))
    }

    /// Keeps `statement` for `sql` (which must not be kept yet), and returns the entry and the
    /// least recently used statement it put out to make room, which the caller must close.
    pub(super) fn insert(&mut self, sql: &str, statement: S) -> (&mut Entry<S>, Option<S>) {
        debug_assert!(!self.slots.contains_key(sql));
        let evicted = if self.entries.len() >= self.capacity {
            self.entries
                .iter()
                .enumerate()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(slot, _)| slot)
                .and_then(|slot| self.remove_slot(slot))
        } else {
            None
        };
        self.clock += 1;
        self.slots.insert(sql.into(), self.entries.len());
        self.entries.push(Entry {
            sql: sql.into(),
            written: Vec::new(),
            statement,
            columns: None,
            used: self.clock,
        });
        (self.entries.last_mut().expect("just pushed"), evicted)
    }

    /// Forgets the statement kept for `sql` and returns it, for the caller to close.
    pub(super) fn remove(&mut self, sql: &str) -> Option<S> {
        let slot = *self.slots.get(sql)?;
        self.remove_slot(slot)
    }

    fn remove_slot(&mut self, slot: usize) -> Option<S> {
        if slot >= self.entries.len() {
            return None;
        }
        let entry = self.entries.swap_remove(slot);
        self.slots.remove(&entry.sql);
        for written in &entry.written {
            self.translations.remove(written);
        }
        if let Some(moved) = self.entries.get(slot)
            && let Some(moved_slot) = self.slots.get_mut(&moved.sql)
        {
            *moved_slot = slot;
        }
        Some(entry.statement)
    }

    /// Forgets every statement and returns them, for the caller to close.
    pub(super) fn take_all(&mut self) -> Vec<S> {
        self.slots.clear();
        self.translations.clear();
        self.entries.drain(..).map(|entry| entry.statement).collect()
    }

    /// The SQL texts kept, least recently used first.
    pub(super) fn keys(&self) -> Vec<&str> {
        let mut entries: Vec<&Entry<S>> = self.entries.iter().collect();
        entries.sort_by_key(|entry| entry.used);
        entries.into_iter().map(|entry| &*entry.sql).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize, sqls: &[&str]) -> StatementCache<String> {
        let mut cache = StatementCache::new(capacity);
        for sql in sqls {
            if cache.get(sql).is_none() {
                let (_, evicted) = cache.insert(sql, format!("stmt {sql}"));
                assert!(evicted.is_none() || cache.len() == capacity);
            }
        }
        cache
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut cache = cache(2, &["a", "b", "a"]);
        let (entry, evicted) = cache.insert("c", "stmt c".into());
        assert_eq!(entry.statement, "stmt c");
        assert_eq!(evicted.as_deref(), Some("stmt b"), "a was used after b");
        assert_eq!(cache.keys(), ["a", "c"]);
        assert_eq!(
            cache.get("a").map(|e| e.statement.clone()).as_deref(),
            Some("stmt a")
        );
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn removing_keeps_every_other_entry_findable() {
        let mut cache = cache(4, &["a", "b", "c", "d"]);
        assert_eq!(cache.remove("a").as_deref(), Some("stmt a"));
        assert!(cache.remove("a").is_none());
        for sql in ["b", "c", "d"] {
            assert_eq!(
                cache.get(sql).map(|e| e.statement.clone()),
                Some(format!("stmt {sql}"))
            );
        }
        assert_eq!(cache.len(), 3);
        let mut all = cache.take_all();
        all.sort();
        assert_eq!(all, ["stmt b", "stmt c", "stmt d"]);
        assert_eq!(cache.len(), 0);
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn translations_are_kept_while_their_statement_is() {
        let translator = crate::sql::Translator::new(crate::sql::Placeholder::Question);
        let mut cache = cache(1, &[]);
        let named = Arc::new(translator.translate("SELECT :a").unwrap());
        let positional = Arc::new(translator.translate("SELECT ?").unwrap());
        cache.remember("SELECT :a", &named);
        assert!(
            cache.translation("SELECT :a").is_none(),
            "nothing kept for it yet"
        );
        let _ = cache.insert("SELECT ?", "stmt".into());
        cache.remember("SELECT :a", &named);
        cache.remember("SELECT ?", &positional);
        assert_eq!(cache.translation("SELECT :a").as_deref(), Some(&*named));
        assert_eq!(cache.translation("SELECT ?").as_deref(), Some(&*positional));
        // Put out: both spellings go with it.
        let (_, evicted) = cache.insert("SELECT 2", "stmt 2".into());
        assert_eq!(evicted.as_deref(), Some("stmt"));
        assert!(cache.translation("SELECT :a").is_none());
        assert!(cache.translation("SELECT ?").is_none());
    }

    #[test]
    fn zero_keeps_none() {
        assert!(!StatementCache::<String>::new(0).is_on());
        assert!(StatementCache::<String>::new(1).is_on());
    }
}
