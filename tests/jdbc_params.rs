//! The placeholder translator (`millpond::sql::translate`), by properties: SQL is generated from
//! pieces (plain text, quoted strings and identifiers, comments, casts, dollar-quoted bodies,
//! `%%`, and placeholders of one style) whose translation is known, and the translator must
//! produce exactly that, for every output style.

use std::collections::HashMap;

use millpond::sql::{Bind, ParamError, Params, Placeholder, Value, translate};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Question,
    Format,
    PyFormat,
    Colon,
}

#[derive(Debug, Clone)]
enum Piece {
    /// Text with no character the scanner looks at.
    Plain(String),
    /// `'…'` with quotes doubled.
    Str(String),
    /// `"…"`.
    Ident(String),
    LineComment(String),
    BlockComment(String),
    Cast,
    Dollar(String),
    Percent,
    /// A placeholder; named styles use the name.
    Param(String),
}

/// Text full of what would be placeholders outside quotes.
fn tricky() -> impl Strategy<Value = String> {
    "[a-z?:%s() ]{0,8}"
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        "[a-z0-9 ,()=+<>]{1,8}".prop_map(Piece::Plain),
        tricky().prop_map(Piece::Str),
        tricky().prop_map(Piece::Ident),
        tricky().prop_map(Piece::LineComment),
        tricky().prop_map(Piece::BlockComment),
        Just(Piece::Cast),
        tricky().prop_map(Piece::Dollar),
        Just(Piece::Percent),
        "[a-c]".prop_map(Piece::Param),
        "[a-c]".prop_map(Piece::Param),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Question),
        Just(Style::Format),
        Just(Style::PyFormat),
        Just(Style::Colon)
    ]
}

/// The input SQL, and the expected output with each placeholder as `\u{1}` (to be numbered).
fn render(pieces: &[Piece], style: Style) -> (String, String, Vec<Bind>) {
    let mut sql = String::new();
    let mut expected = String::new();
    let mut binds = Vec::new();
    for p in pieces {
        let (input, output) = match p {
            Piece::Plain(t) => (t.clone(), t.clone()),
            Piece::Str(t) => {
                let s = format!("'{}'", t.replace('\'', "''"));
                (s.clone(), s)
            }
            Piece::Ident(t) => {
                let s = format!("\"{t}\"");
                (s.clone(), s)
            }
            Piece::LineComment(t) => {
                let s = format!("--{t}\n");
                (s.clone(), s)
            }
            Piece::BlockComment(t) => {
                let s = format!("/*{t}*/");
                (s.clone(), s)
            }
            Piece::Cast => ("x::int".to_owned(), "x::int".to_owned()),
            Piece::Dollar(t) => {
                let s = format!("$q${t}$q$");
                (s.clone(), s)
            }
            Piece::Percent => ("%%".to_owned(), "%".to_owned()),
            Piece::Param(name) => {
                let input = match style {
                    Style::Question => "?".to_owned(),
                    Style::Format => "%s".to_owned(),
                    Style::PyFormat => format!("%({name})s"),
                    Style::Colon => format!(":{name}"),
                };
                binds.push(match style {
                    Style::Question | Style::Format => Bind::Position(binds.len()),
                    Style::PyFormat | Style::Colon => Bind::Name(name.clone()),
                });
                (input, "\u{1}".to_owned())
            }
        };
        // Spaces between pieces: `x:name` or `x$q$` would not start a placeholder or a body.
        sql.push(' ');
        sql.push_str(&input);
        expected.push(' ');
        expected.push_str(&output);
    }
    (sql, expected, binds)
}

/// `expected` with its placeholders written as `placeholder` would write them.
fn numbered(expected: &str, binds: &[Bind], placeholder: Placeholder) -> (String, Vec<Bind>) {
    let mut out = String::new();
    let mut sent: Vec<Bind> = Vec::new();
    let mut numbers: HashMap<Bind, usize> = HashMap::new();
    let mut next = binds.iter();
    for c in expected.chars() {
        if c != '\u{1}' {
            out.push(c);
            continue;
        }
        let bind = next.next().unwrap().clone();
        match placeholder {
            Placeholder::Question => {
                out.push('?');
                sent.push(bind);
            }
            Placeholder::Colon => {
                sent.push(bind);
                out.push_str(&format!(":{}", sent.len()));
            }
            _ => {
                let n = match (&bind, numbers.get(&bind)) {
                    (Bind::Name(_), Some(&n)) => n,
                    _ => {
                        sent.push(bind.clone());
                        numbers.insert(bind, sent.len());
                        sent.len()
                    }
                };
                out.push_str(&format!("${n}"));
            }
        }
    }
    (out, sent)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn translation_rewrites_exactly_the_placeholders(pieces in prop::collection::vec(piece(), 0..24), style in style()) {
        let (sql, expected, binds) = render(&pieces, style);
        for placeholder in [Placeholder::Question, Placeholder::Dollar, Placeholder::Colon] {
            let t = translate(&sql, placeholder).unwrap();
            let (want_sql, want_binds) = numbered(&expected, &binds, placeholder);
            prop_assert_eq!(t.sql(), want_sql.as_str(), "{:?} from {}", placeholder, sql);
            prop_assert_eq!(t.binds(), want_binds.as_slice());
        }
    }

    #[test]
    fn named_values_follow_the_placeholders(pieces in prop::collection::vec(piece(), 0..24), colon in any::<bool>()) {
        let style = if colon { Style::Colon } else { Style::PyFormat };
        let (sql, _, binds) = render(&pieces, style);
        let params = Params::named([("c", 3), ("a", 1), ("b", 2), ("unused", 9)]);
        let t = translate(&sql, Placeholder::Question).unwrap();
        let values = t.values(&params).unwrap();
        let want: Vec<Value> = binds
            .iter()
            .map(|b| match b {
                Bind::Name(n) => Value::Int(i64::from(n.as_bytes()[0] - b'a' + 1)),
                Bind::Position(_) => unreachable!(),
            })
            .collect();
        prop_assert_eq!(values, want);
        // Without `b`, a statement that uses it fails, naming it.
        let without_b = Params::named([("a", 1), ("c", 3)]);
        match t.values(&without_b) {
            Err(ParamError::MissingName { name, .. }) => prop_assert_eq!(name, "b"),
            Ok(_) => prop_assert!(!binds.contains(&Bind::Name("b".into()))),
            Err(other) => prop_assert!(false, "unexpected {}", other),
        }
    }

    #[test]
    fn positional_values_must_match_in_number(pieces in prop::collection::vec(piece(), 0..24), extra in 1usize..3) {
        let (sql, _, binds) = render(&pieces, Style::Question);
        let t = translate(&sql, Placeholder::Question).unwrap();
        let values: Vec<Value> = (0..binds.len()).map(|i| Value::from(i as i64)).collect();
        prop_assert_eq!(t.values(&Params::from(values.clone())).unwrap(), values.clone());
        let mut too_many = values;
        too_many.extend((0..extra).map(|_| Value::Null));
        let is_count_error = matches!(t.values(&Params::from(too_many)), Err(ParamError::Count { .. }));
        prop_assert!(is_count_error);
    }

    #[test]
    fn two_styles_are_refused(pieces in prop::collection::vec(piece(), 0..12), a in style(), b in style()) {
        prop_assume!(a != b);
        let (first, _, _) = render(&pieces, a);
        let (second, _, _) = render(&[Piece::Param("a".into())], b);
        let (lead, _, _) = render(&[Piece::Param("a".into())], a);
        let sql = format!("{lead}{first}{second}");
        let is_mixed = matches!(translate(&sql, Placeholder::Question), Err(ParamError::MixedStyles { .. }));
        prop_assert!(is_mixed, "{}", sql);
    }

    #[test]
    fn any_text_is_translated_or_refused_without_panicking(sql in "\\PC{0,64}") {
        for placeholder in [Placeholder::Question, Placeholder::Dollar, Placeholder::Colon] {
            if let Ok(t) = translate(&sql, placeholder) {
                let markers = sql.chars().filter(|c| matches!(c, '?' | '%' | ':')).count();
                prop_assert!(t.binds().len() <= markers);
            }
        }
    }
}

#[test]
fn examples_from_the_docs() {
    let t = translate(
        "SELECT * FROM t WHERE a = %(a)s AND b::text LIKE '%%x' AND c = %(a)s",
        Placeholder::Dollar,
    )
    .unwrap();
    assert_eq!(
        t.sql(),
        "SELECT * FROM t WHERE a = $1 AND b::text LIKE '%%x' AND c = $1"
    );
    assert_eq!(t.binds(), [Bind::Name("a".into())]);
    let t = translate("UPDATE t SET x = :x WHERE id = :id", Placeholder::Colon).unwrap();
    assert_eq!(t.sql(), "UPDATE t SET x = :1 WHERE id = :2");
    let err = translate("SELECT %s, %(a)s", Placeholder::Question).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the SQL mixes placeholder styles: positional `%s` first, then named `%(name)s` at byte 11; \
         use one of `?`, `%s`, `%(name)s` or `:name` throughout (write `%%` for a literal `%`)"
    );
}
