//! The repair exchanges both overlays share: whole-set swaps
//! (`sync_full`, `Protocol::Digest`) and reconciliation rounds
//! (`reconcile`, `Protocol::Difference`, see [`crate::core::reconcile`]).
//!
//! Each handler answers the peer through [`Local`] and hands back the values
//! it inserted; the overlay decides whether to pass them on.

use std::collections::BTreeMap;

use crate::core::overlay::{Inserted, Local};
use crate::core::reconcile::{self, ReconcileMessage};
use crate::core::wire::{self, Payload};

/// A node's reconciliations in progress, and the one bulk refill an empty
/// node accepts at a time.
#[derive(Debug, Default)]
pub(crate) struct Repairs {
    /// Reconciliations waiting for more symbols, by peer (bounded by
    /// `reconcile::MAX_SYMBOLS` each).
    sessions: BTreeMap<String, reconcile::Session>,
    /// While empty: the peer refilling us and until when others wait.
    refill_from: Option<(String, u64)>,
}

/// What one reconciliation step did.
#[derive(Debug, Default)]
pub(crate) struct Reconciled {
    /// The exchange with this peer is over (our side of the difference is
    /// known and sent).
    pub done: bool,
    pub inserted: Inserted,
}

/// `sync_full`: a peer's whole set. We merge it and answer with ours.
pub(crate) fn on_sync_full(local: &mut Local, src: &str, values: Vec<i64>, msg_id: u64) -> Inserted {
    let inserted = local.insert(values, Some(src));
    local.count_transferred(inserted.new_count);
    let reply = Payload::SyncFullOk { values: local.set().to_vec() };
    local.send_peer(src, reply, Some(msg_id));
    inserted
}

/// `sync_full_ok`: the answer to our `sync_full`, merged.
pub(crate) fn on_sync_full_ok(local: &mut Local, src: &str, values: Vec<i64>) -> Inserted {
    let inserted = local.insert(values, Some(src));
    local.count_transferred(inserted.new_count);
    inserted
}

impl Repairs {
    /// One step of a `Protocol::Difference` repair. The answer to an opener
    /// stands in for `sync_full_ok` and is priced as our whole set; the
    /// rounds after it have no full-state counterpart, so they count in
    /// `bytes_sent` only.
    pub fn on_reconcile(
        &mut self,
        local: &mut Local,
        now_ms: u64,
        src: &str,
        msg: ReconcileMessage,
        msg_id: u64,
    ) -> Reconciled {
        let mut session = self.sessions.remove(src).unwrap_or_default();
        let step = match reconcile::respond(local.set(), &mut session, &msg) {
            Ok(step) => step,
            Err(e) => {
                if session.is_active() {
                    self.sessions.insert(src.to_string(), session);
                }
                let text = format!("malformed {}: {e}", msg.type_name());
                let error = Payload::Error { code: wire::error_code::MALFORMED_REQUEST, text };
                local.send_peer(src, error, Some(msg_id));
                return Reconciled::default();
            }
        };
        let done = step.done;
        if !done {
            self.sessions.insert(src.to_string(), session);
        }
        let answers_opener = matches!(msg, ReconcileMessage::Open { .. });
        // An empty node (a restarted process) answers an opener with its
        // empty listing, and the peer then sends it its whole set. When all
        // followers of a restarted hub open at once, one such refill is
        // enough: the others go unanswered, retry at their repair deadline
        // and by then find a small difference.
        // (Until the refill's deadline, that is, not only while the set is
        // still empty: a listing arrives in chunks, and an opener answered
        // after the first chunk would start a second bulk transfer.)
        let lists = answers_opener && step.replies.iter().any(|r| matches!(r, ReconcileMessage::Range { .. }));
        if lists {
            if let Some((peer, until_ms)) = &self.refill_from {
                if peer != src && *until_ms > now_ms {
                    return Reconciled { done, inserted: Inserted::default() };
                }
            }
            if local.set().is_empty() {
                self.refill_from = Some((src.to_string(), now_ms + local.config().repair_timeout_ms));
            }
        }
        for (i, reply) in step.replies.into_iter().enumerate() {
            let full_state = if answers_opener && i == 0 {
                local.whole_set_message_len(src, Payload::SyncFullOk { values: Vec::new() })
            } else {
                0
            };
            local.send_peer_priced(src, Payload::Reconcile(reply), None, Some(full_state));
        }
        let inserted = local.insert(step.values_to_insert, Some(src));
        local.count_transferred(inserted.new_count);
        Reconciled { done, inserted }
    }
}
