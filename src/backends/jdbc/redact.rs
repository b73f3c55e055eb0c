//! Hiding passwords that JDBC URLs may carry: `//user:password@host`, Oracle's
//! `thin:user/password@`, and `password=…` (`pwd`, `passwd`, `…Password`) parameters after `?`,
//! `&` or `;`.

use crate::backends::redact::is_secret_key;

/// `url` with every password it may hold replaced by `***`.
pub(super) fn redact_url(url: &str) -> String {
    let url = redact_parameters(url);
    let url = redact_oracle_thin(&url);
    redact_authority(&url)
}

/// `key=value` pairs whose key names a password: the value, up to the next `&`, `;` or `)`.
fn redact_parameters(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let key_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .map_or(0, |p| p + 1);
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        let value_end = after.find(['&', ';', ')']).unwrap_or(after.len());
        if is_secret_key(&before[key_start..]) && value_end > 0 {
            out.push_str("***");
            rest = &after[value_end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `jdbc:oracle:thin:user/password@…`.
fn redact_oracle_thin(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let Some(thin) = lower.find(":thin:") else {
        return url.to_owned();
    };
    let creds_start = thin + ":thin:".len();
    let Some(at) = url[creds_start..].find('@').map(|p| creds_start + p) else {
        return url.to_owned();
    };
    match url[creds_start..at].find('/') {
        Some(slash) if creds_start + slash + 1 < at => {
            format!("{}***{}", &url[..=creds_start + slash], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// `//user:password@host`: the password, up to the last `@` before the parameters (a password
/// may hold an unencoded `/`; hiding a path that holds an `@` instead does no harm).
fn redact_authority(url: &str) -> String {
    let Some(start) = url.find("//").map(|p| p + 2) else {
        return url.to_owned();
    };
    let end = url[start..].find(['?', ';']).map_or(url.len(), |p| start + p);
    let Some(at) = url[start..end].rfind('@').map(|p| start + p) else {
        return url.to_owned();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}***{}", &url[..=start + colon], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_hidden() {
        for (url, shown) in [
            (
                "jdbc:postgresql://h:5432/db?user=u&password=s3cr3t&ssl=true",
                "jdbc:postgresql://h:5432/db?user=u&password=***&ssl=true",
            ),
            ("jdbc:mysql://u:s3cr3t@h:3306/db", "jdbc:mysql://u:***@h:3306/db"),
            ("jdbc:mysql://u:s3/cr3t@h:3306/db", "jdbc:mysql://u:***@h:3306/db"),
            (
                "jdbc:oracle:thin:scott/s3cr3t@//h:1521/svc",
                "jdbc:oracle:thin:scott/***@//h:1521/svc",
            ),
            (
                "jdbc:h2:mem:t;PASSWORD=s3cr3t;MODE=MySQL",
                "jdbc:h2:mem:t;PASSWORD=***;MODE=MySQL",
            ),
            (
                "jdbc:sqlserver://h;user=u;pwd=s3cr3t",
                "jdbc:sqlserver://h;user=u;pwd=***",
            ),
            (
                "jdbc:mariadb://h/db?trustStorePassword=s3cr3t",
                "jdbc:mariadb://h/db?trustStorePassword=***",
            ),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        for plain in [
            "jdbc:oracle:thin:@//h:1521/svc",
            "jdbc:h2:mem:",
            "jdbc:sqlite::memory:",
            "jdbc:x://h/db?a=b",
        ] {
            assert_eq!(redact_url(plain), plain);
        }
    }
}
