//! Peer metadata the verified peer certificate contradicts: not used for the request's labels,
//! counted per request in [`REJECTED_METRIC`], and logged once per distinct claim and
//! certificate (the first [`MAX_LOGGED`] of them per VM), so a hostile client cannot flood the log.

use crate::encode::sanitized;
use crate::host::{Host, MetricKind};
use crate::metrics::REJECTED_METRIC;
use crate::peer::{trust, Peer, METADATA_HEADER};
use crate::request::Request;

/// Distinct (claim, certificate) pairs logged per VM; later ones are only counted.
const MAX_LOGGED: usize = 64;

/// The rejection counter and the pairs already logged.
#[derive(Debug, Default)]
pub(super) struct Rejections {
    counter: Option<u32>,
    host_error_logged: bool,
    /// Searched linearly: at most [`MAX_LOGGED`] entries, and only on a rejection.
    pub(super) logged: Vec<String>,
}

impl Rejections {
    /// True when `peer` may label `req`: always without a verified peer certificate (as in
    /// Istio), else only when [`trust::check`] accepts the claim. Checked per request, since
    /// the same cached peer can arrive on connections with different certificates.
    pub(super) fn trusted(&mut self, host: &dyn Host, peer: &Peer, req: &Request) -> bool {
        if !req.peer_cert {
            return true;
        }
        let Err(why) = trust::check(peer, &req.peer_san) else {
            return true;
        };
        let counted = match self.counter {
            Some(id) => Ok(id),
            None => host.define_metric(MetricKind::Counter, REJECTED_METRIC),
        }
        .and_then(|id| {
            self.counter = Some(id);
            host.increment_metric(id, 1)
        });
        if let (Err(e), false) = (counted, self.host_error_logged) {
            // Logged once: a failing hostcall would otherwise log on every rejected request.
            self.host_error_logged = true;
            log::warn!("{e}");
        }
        if self.logged.len() < MAX_LOGGED {
            let key = [
                &peer.workload,
                &peer.namespace,
                &peer.service_account,
                &peer.identity,
                &req.peer_san,
            ]
            .map(String::as_str)
            .join("\u{1f}");
            if !self.logged.contains(&key) {
                self.logged.push(key);
                // Peer fields are sanitized when decoded; the SAN is sanitized here (no
                // control characters reach the log).
                log::warn!(
                    "not trusting {METADATA_HEADER} claiming workload `{}`, namespace `{}`, service account `{}`, identity `{}`: {why} (verified certificate `{}`); peer labels are unknown, namespace and principal come from the certificate{}",
                    peer.workload,
                    peer.namespace,
                    peer.service_account,
                    peer.identity,
                    sanitized(&req.peer_san),
                    if self.logged.len() == MAX_LOGGED {
                        " (further rejected claims are only counted)"
                    } else {
                        ""
                    }
                );
            }
        }
        false
    }
}
