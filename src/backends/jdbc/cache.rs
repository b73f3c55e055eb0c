//! The statement cache: the `PreparedStatement`s a connection made for the SQL it runs, kept so
//! that a query run again binds and executes only (no prepare, no new statement object, and its
//! result's columns read once), by the SQL the driver was given; and, for each text as written
//! that leads to a kept statement, its translation (so a query run again is not translated
//! again either). Least recently used out first; per connection, as a `PreparedStatement`
//! belongs to the connection that made it. The cache holds global references; closing what it
//! gives up is the caller's (it needs the JVM).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::jvm::JavaRef;
use super::rows::Columns;
use crate::sql::Translated;

/// How many statements a connection keeps by default (as the PostgreSQL backend).
pub(super) const DEFAULT_CAPACITY: usize = 100;

/// Hashes SQL texts a word at a time, as rustc's FxHasher does: the keys are the application's
/// own SQL, not an attacker's, and the default SipHash costs more than the rest of a lookup.
#[derive(Debug, Default, Clone, Copy)]
struct SqlHasher(u64);

impl SqlHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for SqlHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last[..rest.len()].copy_from_slice(rest);
        // The length of the tail is mixed in, so "a" and "a\0" differ.
        self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by SQL text.
type BySql<V> = HashMap<Box<str>, V, BuildHasherDefault<SqlHasher>>;

/// The prepared statements of one connection, by the SQL the driver was given. (`S` is the
/// statement: a global reference, or anything in the unit tests.)
#[derive(Debug)]
pub(super) struct StatementCache<S = JavaRef> {
    capacity: usize,
    /// Where each SQL text's entry is in `entries` (one hash per lookup).
    slots: BySql<usize>,
    entries: Vec<Entry<S>>,
    /// The translation of each text as written whose statement is kept, and where that
    /// statement is in `entries` (so a query run again costs one lookup).
    translations: BySql<(Arc<Translated>, usize)>,
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
            slots: BySql::default(),
            entries: Vec::new(),
            translations: BySql::default(),
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
    /// it, and where that statement is (for [`StatementCache::get_or_insert_with`]).
    pub(super) fn translation(&self, written: &str) -> Option<(Arc<Translated>, usize)> {
        self.translations
            .get(written)
            .map(|(translated, slot)| (Arc::clone(translated), *slot))
    }

    /// Notes that `written` translates to `translated`, whose statement is kept (see
    /// [`StatementCache::translation`]); nothing when it is not kept.
    pub(super) fn remember(&mut self, written: &str, translated: &Arc<Translated>) {
        if self.translations.contains_key(written) {
            return;
        }
        if let Some(&slot) = self.slots.get(translated.sql()) {
            self.entries[slot].written.push(written.into());
            self.translations
                .insert(written.into(), (Arc::clone(translated), slot));
        }
    }

    /// The entry kept for `sql`, marked as just used; or, when there is none, the statement
    /// `make` makes, kept. The second value is the least recently used statement put out to
    /// make room, which the caller must close. `at` is where the entry was said to be by
    /// [`StatementCache::translation`], if it was: then it is not looked up again.
    pub(super) fn get_or_insert_with<E>(
        &mut self,
        sql: &str,
        at: Option<usize>,
        make: impl FnOnce() -> Result<S, E>,
    ) -> Result<(&mut Entry<S>, Option<S>), E> {
        let found = at
            .filter(|&slot| self.entries.get(slot).is_some_and(|entry| *entry.sql == *sql))
            .or_else(|| self.slots.get(sql).copied());
        if let Some(slot) = found {
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
        if let Some(moved) = self.entries.get(slot) {
            if let Some(moved_slot) = self.slots.get_mut(&moved.sql) {
                *moved_slot = slot;
            }
            for written in &moved.written {
                if let Some((_, moved_slot)) = self.translations.get_mut(written) {
                    *moved_slot = slot;
                }
            }
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
    fn where_a_translation_says_its_statement_is_stays_true_as_others_go() {
        let translator = crate::sql::Translator::new(crate::sql::Placeholder::Question);
        let mut cache = cache(4, &["a", "b", "c"]);
        let c = Arc::new(translator.translate("c").unwrap());
        cache.remember("c", &c);
        // `a` goes: `c`, the last, moves into its place.
        assert_eq!(cache.remove("a").as_deref(), Some("stmt a"));
        let (_, at) = cache.translation("c").unwrap();
        let (entry, evicted) = cache
            .get_or_insert_with("c", Some(at), || Err::<String, ()>(()))
            .unwrap();
        assert_eq!((entry.statement.as_str(), evicted), ("stmt c", None));
        // A stale place is checked, and the entry looked up by its text.
        let (entry, _) = cache
            .get_or_insert_with("b", Some(at), || Err::<String, ()>(()))
            .unwrap();
        assert_eq!(entry.statement, "stmt b");
        assert!(
            cache
                .get_or_insert_with("d", Some(7), || Err::<String, ()>(()))
                .is_err()
        );
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
        assert_eq!(
            cache.translation("SELECT :a").map(|(t, _)| t),
            Some(Arc::clone(&named))
        );
        assert_eq!(
            cache.translation("SELECT ?").map(|(t, _)| t),
            Some(Arc::clone(&positional))
        );
        // Put out: both spellings go with it.
        let (_, evicted) = cache.insert("SELECT 2", "stmt 2".into());
        assert_eq!(evicted.as_deref(), Some("stmt"));
        assert!(cache.translation("SELECT :a").is_none());
        assert!(cache.translation("SELECT ?").is_none());
    }

    #[test]
    fn sql_texts_hash_apart() {
        let hash = |text: &str| {
            let mut hasher = SqlHasher::default();
            hasher.write(text.as_bytes());
            hasher.finish()
        };
        let texts = [
            "",
            "a",
            "a\0",
            "SELECT 1",
            "SELECT 2",
            "SELECT 1 ",
            "SELECT name FROM t WHERE id = ?",
        ];
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn zero_keeps_none() {
        assert!(!StatementCache::<String>::new(0).is_on());
        assert!(StatementCache::<String>::new(1).is_on());
    }
}
