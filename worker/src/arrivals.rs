//! Open-loop arrivals: the schedule of session starts, split over the workers.
//!
//! Every worker generates the *same* global arrival sequence `t_0 = 0, t_1, t_2, …` from
//! one RNG stream of the run seed, and takes the arrivals `k` with `k mod workers ==
//! index`. So the merged stream of all workers is exactly the asked-for process (a
//! Poisson process stays Poisson, a fixed period stays evenly spaced instead of `workers`
//! bursts in phase), and a seeded run repeats its schedule with any worker count. Each
//! worker draws every arrival's gap (one RNG call per arrival of the whole run): cheap next
//! to sending a request.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use volley_config::Arrival;

use crate::rng::stream_rng;
use crate::workload::below;

/// RNG stream of the arrival process (slot streams are the global slot numbers, session
/// streams start at [`SESSION_STREAM_BASE`]).
pub const ARRIVAL_STREAM: u64 = u64::MAX;
/// First RNG stream of open-loop sessions: session `k` draws from stream `BASE + k`.
pub const SESSION_STREAM_BASE: u64 = 1 << 62;

/// One worker's view of the arrival sequence.
#[derive(Debug)]
pub struct Arrivals {
    process: Arrival,
    rng: ChaCha8Rng,
    /// Global index of the next arrival to generate.
    k: u64,
    /// Its offset from the run's start, ns.
    t: u64,
    index: u64,
    workers: u64,
    /// `(I, N)`: this process's share of the schedule (httperf's `--client I/N`).
    client: (u64, u64),
    /// Arrivals of the whole run (`None`: until the run stops).
    limit: Option<u64>,
}

impl Arrivals {
    /// Worker `index` of `workers`, of a run seeded with `seed` with at most `limit`
    /// arrivals in total.
    pub fn new(process: Arrival, seed: u64, index: u32, workers: u32, limit: Option<u64>) -> Self {
        Self::for_client(process, seed, index, workers, limit, (0, 1))
    }

    /// [`Arrivals::new`] for client `I` of `N` (`client = (I, N)`): of the global sequence
    /// this process takes the arrivals `k ≡ I (mod N)`, and worker `index` every
    /// `workers`-th of those, so N machines with W workers each run exactly one schedule.
    pub fn for_client(
        process: Arrival,
        seed: u64,
        index: u32,
        workers: u32,
        limit: Option<u64>,
        client: (u32, u32),
    ) -> Self {
        Arrivals {
            process,
            rng: stream_rng(seed, ARRIVAL_STREAM),
            k: 0,
            t: 0,
            index: u64::from(index),
            workers: u64::from(workers.max(1)),
            client: (u64::from(client.0), u64::from(client.1.max(1))),
            limit,
        }
    }

    /// This worker's next arrival: its global number and its offset from the run's start
    /// (ns); `None` when the run's arrivals are used up.
    pub fn next_own(&mut self) -> Option<(u64, u64)> {
        loop {
            if self.limit.is_some_and(|n| self.k >= n) {
                return None;
            }
            let (k, t) = (self.k, self.t);
            self.t = self.t.saturating_add(self.gap());
            self.k += 1;
            let (i, n) = self.client;
            if k % n == i && (k / n) % self.workers == self.index {
                return Some((k, t));
            }
        }
    }

    /// The gap after the arrival at `self.t`.
    fn gap(&mut self) -> u64 {
        match &self.process {
            Arrival::Deterministic { period_ns } => *period_ns,
            // Due when taken: the offset stays 0 and the slot uses its own clock.
            Arrival::Immediate => 0,
            Arrival::Uniform { lo_ns, hi_ns } => lo_ns + below(&mut self.rng, hi_ns - lo_ns),
            Arrival::Exponential { mean_ns } => {
                // U in (0, 1]: -ln U is exponential with mean 1.
                let u = ((self.rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
                (-u.ln() * *mean_ns as f64).round() as u64
            }
            Arrival::Variable { steps } => {
                let cycle: u64 = steps.iter().map(|&(_, d)| d).sum();
                let mut at = self.t % cycle.max(1);
                for &(period, duration) in steps {
                    if at < duration {
                        return period;
                    }
                    at -= duration;
                }
                steps[0].0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(process: Arrival, workers: u32, n: u64) -> Vec<Vec<(u64, u64)>> {
        (0..workers)
            .map(|w| {
                let mut a = Arrivals::new(process.clone(), 9, w, workers, Some(n));
                std::iter::from_fn(|| a.next_own()).collect()
            })
            .collect()
    }

    #[test]
    fn workers_split_one_sequence_exactly() {
        let p = Arrival::Exponential { mean_ns: 1_000_000 };
        let one = all(p.clone(), 1, 3000).remove(0);
        let mut merged: Vec<(u64, u64)> = all(p, 3, 3000).into_iter().flatten().collect();
        merged.sort_unstable();
        assert_eq!(one, merged, "3 workers together make the 1-worker sequence");
        assert_eq!(one.len(), 3000);
    }

    #[test]
    fn processes_have_their_rates_and_shapes() {
        let gaps = |p: Arrival| -> Vec<f64> {
            let s = all(p, 1, 20_001).remove(0);
            s.windows(2).map(|w| (w[1].1 - w[0].1) as f64).collect()
        };
        let stats = |g: &[f64]| {
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
            (mean, var.sqrt() / mean)
        };
        let (m, cv) = stats(&gaps(Arrival::Deterministic { period_ns: 500_000 }));
        assert_eq!((m, cv), (500_000.0, 0.0));
        let (m, cv) = stats(&gaps(Arrival::Exponential { mean_ns: 500_000 }));
        assert!((m / 500_000.0 - 1.0).abs() < 0.03, "{m}");
        assert!((cv - 1.0).abs() < 0.05, "exponential: cv 1, got {cv}");
        let (m, cv) = stats(&gaps(Arrival::Uniform {
            lo_ns: 0,
            hi_ns: 1_000_000,
        }));
        assert!((m / 500_000.0 - 1.0).abs() < 0.03, "{m}");
        assert!(
            (cv - 1.0 / 3f64.sqrt()).abs() < 0.03,
            "uniform: cv 1/sqrt(3), got {cv}"
        );
        let v = gaps(Arrival::Variable {
            steps: vec![(1_000_000, 100_000_000), (250_000, 100_000_000)],
        });
        // 100 ms at 1 ms, then 100 ms at 0.25 ms: 100 + 400 arrivals per 200 ms cycle.
        assert!(v[..99].iter().all(|&g| g == 1_000_000.0));
        assert!(v[101..499].iter().all(|&g| g == 250_000.0));
        assert!(v[501..599].iter().all(|&g| g == 1_000_000.0));
    }

    #[test]
    fn clients_and_workers_split_one_sequence_exactly() {
        let p = Arrival::Uniform {
            lo_ns: 100,
            hi_ns: 10_000,
        };
        let one = all(p.clone(), 1, 1000).remove(0);
        let mut merged = Vec::new();
        for c in 0..3 {
            for w in 0..2 {
                let mut a = Arrivals::for_client(p.clone(), 9, w, 2, Some(1000), (c, 3));
                merged.extend(std::iter::from_fn(|| a.next_own()));
            }
        }
        merged.sort_unstable();
        assert_eq!(one, merged, "3 clients x 2 workers make the one sequence");
    }

    #[test]
    fn a_seed_repeats_the_schedule() {
        let p = Arrival::Uniform {
            lo_ns: 1,
            hi_ns: 1_000,
        };
        assert_eq!(all(p.clone(), 2, 100), all(p, 2, 100));
    }
}
