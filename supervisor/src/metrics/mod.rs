//! The supervisor's side of `--metrics-listen`: bind before the fork, serve after it,
//! linger after the run (see [`endpoint`]).

use std::time::Duration;

use volley_config::MetricsSpec;
pub mod endpoint;
pub mod exposition;
pub mod http;

use endpoint::{Endpoint, Exporter, Lingered};
use volley_scoreboard::Scoreboard;

use crate::error::SupervisorError;
use crate::signals::StopSignals;

/// Binds the endpoint and says on stderr where it is (port 0 becomes the real port), and
/// that it is reachable from the network when `--metrics-listen-any` allowed that.
///
/// # Errors
///
/// [`SupervisorError::Metrics`] when the address cannot be bound.
pub fn bind(spec: &MetricsSpec) -> Result<Endpoint, SupervisorError> {
    let fail = |source| SupervisorError::Metrics {
        addr: spec.listen,
        source,
    };
    let endpoint = Endpoint::bind(spec.listen).map_err(fail)?;
    let addr = endpoint.local_addr().map_err(fail)?;
    eprintln!("volley: metrics at http://{addr}/metrics");
    if spec.reachable {
        eprintln!(
            "volley: warning: the metrics endpoint listens on {addr}, reachable from the \
             network without authentication (--metrics-listen-any)"
        );
    }
    Ok(endpoint)
}

/// Starts serving `sb` through a read-only mapping of its own, which outlives the run's
/// (so the linger serves the final counters). Call it after the fork. A failure costs
/// the endpoint, not the run: it is said on stderr.
pub fn serve(endpoint: Endpoint, sb: &Scoreboard) -> Option<Exporter> {
    let served = Scoreboard::attach_read_only(sb.name())
        .map_err(|e| e.to_string())
        .and_then(|board| endpoint.serve(board).map_err(|e| e.to_string()));
    match served {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("volley: warning: the metrics endpoint is not served: {e}");
            None
        }
    }
}

/// A `/metrics` endpoint that still serves after the run.
#[derive(Debug)]
pub struct Linger {
    pub(crate) exporter: Exporter,
    pub(crate) max: Duration,
}

impl Linger {
    /// Serves until one more scrape has seen the final values, the linger
    /// (`--metrics-linger`) is over, or SIGINT/SIGTERM arrives; then closes the endpoint.
    pub fn wait(self) -> Lingered {
        let Linger { exporter, max } = self;
        if max.is_zero() {
            return Lingered::Expired;
        }
        eprintln!(
            "volley: metrics: serving the final values until the next scrape, at most {}s \
             (^C ends it)",
            max.as_secs_f64()
        );
        let mut signals = StopSignals::install().ok();
        exporter.linger(max, || signals.as_mut().is_some_and(|s| s.drain() > 0))
    }
}
