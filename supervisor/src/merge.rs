//! Merging the workers' reports into one [`Report`].

use volley_scoreboard::{Counter, Scoreboard};
use volley_worker::WorkerReport;

use crate::report::{Report, WorkerPart};
use crate::spawn::Child;
use crate::wait::Waited;

/// Adds every worker's counters and histograms into `report`. A worker whose report did
/// not arrive (killed, crashed) is taken from its scoreboard slot, and the requests it
/// had in flight are counted as aborted, so the accounting still closes.
pub fn merge(report: &mut Report, children: &[Child], waited: &Waited, sb: &Scoreboard) {
    let mut elapsed_ns = 0u64;
    let decoded_all: Vec<Option<WorkerReport>> = waited
        .reports
        .iter()
        .map(|b| WorkerReport::decode(b).ok())
        .collect();
    let timelines: Vec<(u64, &[u32])> = decoded_all
        .iter()
        .flatten()
        .map(|r| (r.open_bucket_ns, r.open_buckets.as_slice()))
        .collect();
    let bucketed = volley_worker::stats::max_open_sum(&timelines);
    for (i, child) in children.iter().enumerate() {
        let decoded = decoded_all.get(i).cloned().flatten();
        let mut part = WorkerPart {
            index: child.index,
            pid: child.pid.as_raw(),
            exit: waited.exits[i],
            reported: decoded.is_some(),
            ..WorkerPart::default()
        };
        match decoded {
            Some(r) => {
                part.counters = r.snapshot();
                part.cpu_us = (r.cpu_user_us, r.cpu_sys_us);
                r.connect_us.add_to(&mut report.connect);
                r.first_byte_us.add_to(&mut report.first_byte);
                r.reply_us.add_to(&mut report.reply);
                r.conn_life_us.add_to(&mut report.conn_life);
                r.reply_error_us.add_to(&mut report.reply_error);
                if report.open_loop.is_none() {
                    r.reply_us.add_to(&mut report.reply_corrected);
                    r.reply_missed_us.add_to(&mut report.reply_corrected);
                }
                r.response_us.add_to(&mut report.response);
                report.max_open += r.max_open;
                report.figures.add(&r.figures);
                report.max_connect_burst = report.max_connect_burst.max(r.max_connect_burst);
                report.wakeups += r.wakeups;
                report.naps += r.naps;
                if let Some(t) = report.tls.as_mut() {
                    t.full += r.tls_full;
                    t.resumed += r.tls_resumed;
                    r.tls_handshake_us.add_to(&mut report.tls_handshake);
                }
                if let Some(t) = report.calls.as_mut() {
                    t.calls.extend_from_slice(&r.calls);
                }
                if let Some(sr) = report.sessions.as_mut() {
                    r.session_life_us.add_to(&mut sr.life);
                    r.session_fail_us.add_to(&mut sr.fail);
                    sr.conns += r.session_conns;
                    if sr.lengths.len() < r.session_lengths.len() {
                        sr.lengths.resize(r.session_lengths.len(), 0);
                    }
                    for (i, n) in r.session_lengths.iter().enumerate() {
                        sr.lengths[i] += n;
                    }
                }
                r.lag_us.add_to(&mut report.lag);
                if let Some(o) = report.open_loop.as_mut() {
                    o.late_starts += r.late_starts;
                }
                for (class, detail, n) in &r.details {
                    *report
                        .error_details
                        .entry((class.clone(), detail.clone()))
                        .or_default() += n;
                }
                for &(code, n) in &r.statuses {
                    *report.by_status.entry(code).or_default() += n;
                }
                report.first_other_errno = report.first_other_errno.or(r.first_other_errno);
                if report.hook_refused.is_none() {
                    report.hook_refused = r
                        .hook_refused
                        .as_ref()
                        .map(|why| format!("worker {}: {why}", r.worker));
                }
                report.anomalies.add(&r.anomalies);
                elapsed_ns = elapsed_ns.max(r.elapsed_ns);
                if !r.series.is_empty() {
                    report
                        .series
                        .get_or_insert_with(Default::default)
                        .add(r.series_interval_ns, &r.series);
                }
                if let Some(o) = r.stop_overrun_ns {
                    let ms = o as f64 / 1e6;
                    report.stop_overrun_ms = Some(report.stop_overrun_ms.map_or(ms, |m| m.max(ms)));
                }
            }
            None => {
                let mut c = sb.slot(child.index as usize).snapshot();
                let started = c.get(Counter::RequestsStarted);
                let ended = c.get(Counter::RequestsSucceeded)
                    + c.get(Counter::RequestsFailed)
                    + c.get(Counter::RequestsAborted);
                c.counters[Counter::RequestsAborted.index()] += started.saturating_sub(ended);
                part.counters = c;
            }
        }
        part.counters.pid = part.pid as u32;
        report.totals.add(&part.counters);
        report.workers.push(part);
    }
    // The sum of the workers' peaks bounds the client's peak; the sum per 10 ms bucket
    // bounds it more tightly (and is exact with one worker). A worker that did not
    // report left no timeline: its peak is not known, and the plain sum stands.
    if decoded_all.iter().all(Option::is_some) && bucketed > 0 {
        report.max_open = report.max_open.min(bucketed);
    }
    if let Some(sr) = report.sessions.as_mut() {
        sr.ok = report.totals.get(Counter::SessionsOk);
        sr.failed = report.totals.get(Counter::SessionsFailed);
    }
    // Gauges make no sense summed at the end.
    report.totals.counters[Counter::ThreadsActive.index()] = 0;
    report.totals.counters[Counter::ConnsOpen.index()] = 0;
    report.duration_s = elapsed_ns as f64 / 1e9;
}
