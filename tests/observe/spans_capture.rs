//! A `tracing` subscriber that keeps every span: its name, level, fields (as text), parent and
//! whether it was closed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;

/// One span as the subscriber saw it.
#[derive(Clone)]
pub struct Span {
    pub id: u64,
    pub name: &'static str,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
    pub parent: Option<u64>,
    pub closed: bool,
    metadata: &'static Metadata<'static>,
    refs: usize,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{} {:?} parent {:?}{}",
            self.name,
            self.id,
            self.fields,
            self.parent,
            if self.closed { " closed" } else { "" }
        )
    }
}

impl Span {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Every span seen, in the order they were made.
#[derive(Default)]
pub struct Spans {
    spans: Mutex<Vec<Span>>,
    next: AtomicU64,
}

impl Spans {
    /// The spans named `name` of the pool `pool`, oldest first.
    pub fn named(&self, name: &str, pool: &str) -> Vec<Span> {
        self.all_of(pool).into_iter().filter(|s| s.name == name).collect()
    }

    /// Every span of the pool `pool`, oldest first.
    pub fn all_of(&self, pool: &str) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.field("pool") == Some(pool))
            .cloned()
            .collect()
    }

    fn with(&self, id: &Id, f: impl FnOnce(&mut Span)) {
        let mut spans = self.spans.lock().unwrap();
        if let Some(span) = spans.iter_mut().find(|s| s.id == id.into_u64()) {
            f(span);
        }
    }
}

thread_local! {
    /// The spans this thread is in, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

struct Capture(&'static Spans);

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        let parent = if attrs.is_root() {
            None
        } else if let Some(parent) = attrs.parent() {
            Some(parent.into_u64())
        } else {
            ENTERED.with(|e| e.borrow().last().copied())
        };
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.spans.lock().unwrap().push(Span {
            id,
            name: attrs.metadata().name(),
            level: *attrs.metadata().level(),
            fields,
            parent,
            closed: false,
            metadata: attrs.metadata(),
            refs: 1,
        });
        Id::from_u64(id)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        self.0
            .with(id, |span| values.record(&mut Fields(&mut span.fields)));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, id: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(id.into_u64()));
    }
    fn exit(&self, id: &Id) {
        ENTERED.with(|e| {
            let mut entered = e.borrow_mut();
            if let Some(at) = entered.iter().rposition(|i| *i == id.into_u64()) {
                entered.remove(at);
            }
        });
    }
    fn clone_span(&self, id: &Id) -> Id {
        self.0.with(id, |span| span.refs += 1);
        id.clone()
    }
    fn try_close(&self, id: Id) -> bool {
        let mut closed = false;
        self.0.with(&id, |span| {
            span.refs -= 1;
            if span.refs == 0 {
                span.closed = true;
                closed = true;
            }
        });
        closed
    }
    fn current_span(&self) -> Current {
        let Some(id) = ENTERED.with(|e| e.borrow().last().copied()) else {
            return Current::none();
        };
        let spans = self.0.spans.lock().unwrap();
        match spans.iter().find(|s| s.id == id) {
            Some(span) => Current::new(Id::from_u64(id), span.metadata),
            None => Current::none(),
        }
    }
}

/// Installs the capturing subscriber (once per test binary, for every thread) and returns what
/// it keeps.
pub fn subscriber() -> &'static Spans {
    static SPANS: OnceLock<&'static Spans> = OnceLock::new();
    SPANS.get_or_init(|| {
        let spans: &'static Spans = Box::leak(Box::default());
        tracing::subscriber::set_global_default(Capture(spans)).expect("no other subscriber in this binary");
        spans
    })
}
