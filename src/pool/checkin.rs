//! What happens when a borrowed connection is given back.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use super::clock::{self, Nanos};

use super::conn::Conn;
use super::core::Core;
use super::hooks::Verdict;
use super::slots::Slot;
use super::{CloseIn, Shared};
use crate::manage::{ManageConnection, ResetAction, TransactionState};
use crate::observe::{CloseReason, Counters, Event, InvalidateReason, spans};
use crate::options::ResetOnReturn;

impl<M: ManageConnection> Shared<M> {
    /// Gives back the connection in slot `index`, which the caller owns: closes it (in the
    /// background) if it must not be reused, else hands it to a waiter or keeps it idle.
    #[inline]
    pub(crate) fn checkin(
        &self,
        core: &Core<M>,
        slot: &Slot<M>,
        index: usize,
        conn: &mut Conn<M>,
        invalidated: bool,
    ) {
        self.meter.checked_in(&mut conn.lent);
        // Read first, while little else is live: the call then saves fewer registers. A reset
        // below may take a round trip; the coarse clock's ticks are longer than most.
        let now = clock::now();
        let mut reason = self.verdict(slot, conn, invalidated);
        if reason.is_none() {
            if conn.is_expired(now) {
                reason = Some(CloseReason::Recycled);
            } else if self.predates_invalidation(conn) {
                reason = Some(CloseReason::Invalidated);
            }
        }
        if self.watched {
            reason = self.checkin_watched(core, index, conn, now, reason);
        }
        match reason {
            Some(reason) => self.dispose(core, index, reason, CloseIn::Background),
            None => {
                conn.last_used = now;
                conn.alive_at = now;
                self.put_claimed(core, slot, index, CloseIn::Background);
            }
        }
    }

    /// What a watched pool (see `Shared::watched`) does with a connection given back: ends
    /// its lease for leak detection, asks the `after_checkin` hook about one that would be kept
    /// (`reason` is `None`), announces the checkin. Returns why it must be closed, if it must.
    #[cold]
    #[inline(never)]
    fn checkin_watched(
        &self,
        core: &Core<M>,
        index: usize,
        conn: &mut Conn<M>,
        now: Nanos,
        mut reason: Option<CloseReason>,
    ) -> Option<CloseReason> {
        if self.options.leak_threshold.is_some()
            && let Some(held) = core.end_lease(conn.id, now)
        {
            log::warn!(target: "millpond::pool", "[{}] connection {} reported as a possible leak came back after {held:?}", self.options.name, conn.id);
        }
        if reason.is_none() && self.hooks.after_checkin.is_some() {
            reason = self.after_checkin(core, index, conn, now);
        }
        if self.events.is_some() {
            self.emit(&Event::Checkin { id: conn.id });
        }
        reason
    }

    /// Runs the `after_checkin` hook on a connection given back that would be kept: `None`
    /// keeps it, [`CloseReason::Discarded`] closes it. A panic closes it too (its slot freed)
    /// and goes on to the thread giving it back.
    fn after_checkin(
        &self,
        core: &Core<M>,
        index: usize,
        conn: &mut Conn<M>,
        now: Nanos,
    ) -> Option<CloseReason> {
        let hook = self.hooks.after_checkin.as_ref()?;
        let info = self.info(core, index, conn, now, Duration::ZERO, None);
        match std::panic::catch_unwind(AssertUnwindSafe(|| hook(&mut conn.raw, &info))) {
            Ok(true) => None,
            Ok(false) => Some(CloseReason::Discarded),
            Err(payload) => {
                if self.events.is_some() {
                    self.emit(&Event::Checkin { id: info.id });
                }
                self.dispose(core, index, CloseReason::Discarded, CloseIn::Background);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Why a connection given back must not be reused, if it must not: the checks of checkin,
    /// in order, including the reset.
    #[inline]
    fn verdict(&self, slot: &Slot<M>, conn: &mut Conn<M>, invalidated: bool) -> Option<CloseReason> {
        if std::thread::panicking() {
            return Some(CloseReason::Panicked);
        }
        if invalidated {
            return Some(CloseReason::InvalidatedByBorrower);
        }
        if self.manager.has_broken(&mut conn.raw) {
            return Some(CloseReason::Broken);
        }
        let action = match &self.options.reset_on_return {
            ResetOnReturn::Nothing => return None,
            ResetOnReturn::Statement(sql) => ResetAction::Statement(sql),
            ResetOnReturn::Rollback | ResetOnReturn::Commit
                if self.manager.transaction_state(&mut conn.raw) == TransactionState::Idle =>
            {
                return None;
            }
            ResetOnReturn::Rollback => ResetAction::Rollback,
            ResetOnReturn::Commit => ResetAction::Commit,
        };
        self.reset(slot, conn, action)
    }

    /// Resets a connection given back: `None` keeps it, [`CloseReason::ResetFailed`] closes it.
    /// Work outside the lock like any other, and counted in its slot, so that a manager that
    /// cannot tell its transaction state (every return comes here) does not make returns
    /// contend.
    #[inline(never)]
    fn reset(&self, slot: &Slot<M>, conn: &mut Conn<M>, action: ResetAction<'_>) -> Option<CloseReason> {
        slot.count_reset();
        let span = spans::Reset::begin(&self.options.name, conn.id, &action);
        let result = self.manager.reset(&mut conn.raw, action);
        span.end(result.as_ref().map(drop));
        self.emit(&Event::Reset {
            id: conn.id,
            ok: result.is_ok(),
        });
        match result {
            Ok(()) => None,
            Err(err) => {
                Counters::bump(&self.core().counters.reset_failures);
                match self.verdict_on(&err) {
                    Verdict::Harmless if !self.manager.has_broken(&mut conn.raw) => {
                        log::debug!(target: "millpond::pool", "[{}] resetting connection {} failed with an error classified harmless; it is kept: {}", self.options.name, conn.id, crate::error::Chain(&err));
                        return None;
                    }
                    Verdict::LostServer => {
                        log::warn!(target: "millpond::pool", "[{}] resetting connection {} failed, closing it: {}", self.options.name, conn.id, crate::error::Chain(&err));
                        self.invalidate(InvalidateReason::LostServer(crate::error::chain(&err)));
                    }
                    Verdict::Harmless | Verdict::Broken => {
                        log::warn!(target: "millpond::pool", "[{}] resetting connection {} failed, closing it: {}", self.options.name, conn.id, crate::error::Chain(&err));
                    }
                }
                Some(CloseReason::ResetFailed)
            }
        }
    }
}
