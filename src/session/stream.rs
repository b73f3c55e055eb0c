//! A query result read lazily, holding its connection until it is read to the end or dropped.

use std::fmt;

use super::connection::{SessionConnection, StreamRows};
use crate::manage::ManageConnection;

type Cursor<M> = <<M as ManageConnection>::Connection as StreamRows>::Cursor<M>;

/// The rows of [`Session::stream`](crate::Session::stream), read as they are iterated. The
/// connection stays checked out until the last row has been read (or an error met) or this is
/// dropped; either gives it back.
#[must_use = "rows are read only when iterated, and the connection is held until then"]
pub struct Rows<M: ManageConnection>
where
    M::Connection: StreamRows,
{
    cursor: Cursor<M>,
}

impl<M: ManageConnection> Rows<M>
where
    M::Connection: StreamRows,
{
    pub(super) fn new(cursor: Cursor<M>) -> Self {
        Rows { cursor }
    }
}

impl<M: ManageConnection> Iterator for Rows<M>
where
    M::Connection: StreamRows,
{
    type Item = Result<<M::Connection as StreamRows>::Row, <M::Connection as SessionConnection>::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next()
    }
}

impl<M: ManageConnection> fmt::Debug for Rows<M>
where
    M::Connection: StreamRows,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows").finish_non_exhaustive()
    }
}
