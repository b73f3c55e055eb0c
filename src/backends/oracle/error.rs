//! Which Oracle errors mean the session or the server is gone.

use ::oracle::ErrorKind;

/// Oracle error numbers (`ORA-…`) after which the session is gone: the server closed it,
/// crashed, shut down or was cut off, or the session was killed. From ODPI-C's own list of
/// dead-session errors (`dpiError.c`) and SQLAlchemy's `is_disconnect`; internal errors and
/// `ORA-00031` (what the killer is told) are left out.
const LOST_ORA: &[i32] = &[
    28,    // your session has been killed
    1012,  // not logged on
    1033,  // ORACLE initialization or shutdown in progress
    1034,  // ORACLE not available
    1089,  // immediate shutdown or close in progress
    1092,  // ORACLE instance terminated. Disconnection forced
    2396,  // exceeded maximum idle time, please connect again
    3113,  // end-of-file on communication channel
    3114,  // not connected to ORACLE
    3135,  // connection lost contact
    12153, // TNS:not connected
    12537, // TNS:connection closed
    12547, // TNS:lost contact
    12570, // TNS:packet reader failure
    12583, // TNS:no reader
    28511, // lost RPC connection to heterogeneous remote agent
];

/// ODPI-C error numbers (`DPI-…`) that mean the connection is gone: `DPI-1010: not connected`
/// and `DPI-1080: connection was closed by ORA-%05d`, which ODPI-C puts in front of every
/// dead-session error above.
const LOST_DPI: &[i32] = &[1010, 1080];

/// Whether an error from the `oracle` crate means the connection (and likely the server) is
/// gone: the server closed or lost the session, shut down, or the session was killed.
///
/// Connect-time errors (`ORA-12541` no listener, `ORA-12170` connect timeout, `ORA-01017`
/// wrong password) and timeouts of a call that the client cleaned up after
/// (`DPI-1067: call timeout of … ms exceeded`) are not lost connections.
pub fn is_lost_connection(err: &::oracle::Error) -> bool {
    if !matches!(err.kind(), ErrorKind::OciError | ErrorKind::DpiError) {
        return false;
    }
    if err.oci_code().is_some_and(|code| LOST_ORA.contains(&code))
        || err.dpi_code().is_some_and(|code| LOST_DPI.contains(&code))
    {
        return true;
    }
    let code = match err.db_error() {
        Some(db) => leading_code(db.message()),
        None => leading_code(&err.to_string()),
    };
    match code {
        Some(Code::Ora(n)) => LOST_ORA.contains(&n),
        Some(Code::Dpi(n)) => LOST_DPI.contains(&n),
        None => false,
    }
}

/// An error number found in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Ora(i32),
    Dpi(i32),
}

/// The first `ORA-nnnnn` or `DPI-nnnn` in `message`: the error itself, ahead of any error it
/// wraps (`DPI-1080: connection was closed by ORA-03113`, `DPI-1067: … with ORA-03156`).
fn leading_code(message: &str) -> Option<Code> {
    let bytes = message.as_bytes();
    let mut i = 0;
    while i + 4 < bytes.len() {
        let head = &bytes[i..i + 4];
        let ora = head == b"ORA-";
        if ora || head == b"DPI-" {
            let digits: &[u8] = {
                let rest = &bytes[i + 4..];
                let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                &rest[..n]
            };
            if !digits.is_empty()
                && let Ok(n) = std::str::from_utf8(digits).unwrap_or("").parse::<i32>()
            {
                return Some(if ora { Code::Ora(n) } else { Code::Dpi(n) });
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ora(message: &str) -> ::oracle::Error {
        ::oracle::Error::new(ErrorKind::OciError, message.to_owned())
    }

    fn dpi(message: &str) -> ::oracle::Error {
        ::oracle::Error::new(ErrorKind::DpiError, message.to_owned())
    }

    #[test]
    fn lost_connections_are_recognised() {
        for lost in [
            ora("ORA-03113: end-of-file on communication channel"),
            ora("ORA-03114: not connected to ORACLE"),
            ora("ORA-03135: connection lost contact\nProcess ID: 123"),
            ora("ORA-00028: your session has been killed"),
            ora("ORA-01012: not logged on"),
            ora("ORA-02396: exceeded maximum idle time, please connect again"),
            ora("ORA-01092: ORACLE instance terminated. Disconnection forced"),
            ora("ORA-12537: TNS:connection closed"),
            dpi("DPI-1010: not connected"),
            dpi(
                "DPI-1080: connection was closed by ORA-03113\nORA-03113: end-of-file on communication channel",
            ),
        ] {
            assert!(is_lost_connection(&lost), "{lost}");
        }
        for alive in [
            ora("ORA-00001: unique constraint (U.PK) violated"),
            ora("ORA-00942: table or view does not exist"),
            ora("ORA-01017: invalid username/password; logon denied"),
            ora("ORA-12541: TNS:no listener"),
            ora("ORA-12170: TNS:Connect timeout occurred"),
            ora("ORA-00031: session marked for kill"),
            dpi("DPI-1067: call timeout of 500 ms exceeded with ORA-03156"),
            dpi(
                "DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so: cannot open shared object file\"",
            ),
            ::oracle::Error::new(
                ErrorKind::InvalidOperation,
                "ORA-03113 mentioned in passing".to_owned(),
            ),
        ] {
            assert!(!is_lost_connection(&alive), "{alive}");
        }
    }

    #[test]
    fn leading_code_finds_the_outer_error() {
        assert_eq!(leading_code("OCI Error: ORA-03113: eof"), Some(Code::Ora(3113)));
        assert_eq!(
            leading_code("DPI Error: DPI-1080: connection was closed by ORA-03113"),
            Some(Code::Dpi(1080))
        );
        assert_eq!(leading_code("no code here; ORA- alone"), None);
    }
}
