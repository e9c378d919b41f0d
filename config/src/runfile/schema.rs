//! The run file's shape as serde reads it: every key known (`deny_unknown_fields`), every
//! value kept with its byte span ([`Spanned`]) so that a message can name its line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The top level of a run file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub workers: Option<Spanned<i64>>,
    pub ramp_up: Option<RampFile>,
    pub times: Option<Spanned<i64>>,
    pub duration: Option<Spanned<DurationValue>>,
    pub seed: Option<Spanned<i64>>,
    pub iterator: Option<Spanned<String>>,
    pub max_redirects: Option<Spanned<i64>>,
    pub follow_cross_origin: Option<bool>,
    pub rate: Option<Spanned<f64>>,
    pub period: Option<Spanned<String>>,
    pub calls: Option<Spanned<i64>>,
    pub log: Option<Spanned<String>>,
    pub log_format: Option<Spanned<String>>,
    pub run_name: Option<Spanned<String>>,
    pub metrics_listen: Option<Spanned<String>>,
    pub cacert: Option<Spanned<StringOrList>>,
    pub insecure: Option<bool>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub tls_resume: Option<bool>,
    pub check: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub dnscache: BTreeMap<String, Spanned<String>>,
    pub defaults: Option<Spanned<Params>>,
    #[serde(default)]
    pub request: Vec<Spanned<Params>>,
    /// LoadGen's option names, spelled as its manual does: aliases of `workers`,
    /// `ramp_up.*`, `iterator` and `[[request]]` ([`super::loadgen`]). A file using any
    /// of them gets LoadGen's defaults for what it leaves out.
    #[serde(rename = "NWorker")]
    pub n_worker: Option<Spanned<i64>>,
    #[serde(rename = "RampUpStart")]
    pub ramp_up_start: Option<Spanned<i64>>,
    #[serde(rename = "RampUpMax")]
    pub ramp_up_max: Option<Spanned<i64>>,
    #[serde(rename = "RampUpDuration")]
    pub ramp_up_duration: Option<Spanned<DurationValue>>,
    #[serde(rename = "InitURLs")]
    pub init_urls: Option<Spanned<String>>,
    #[serde(rename = "URLList")]
    pub url_list: Option<Spanned<Vec<Spanned<UrlListEntry>>>>,
}

/// One entry of LoadGen's `URLList`: `[method, scheme, host, port, uri, {params}]`, the
/// params optional and read with LoadGen's meanings ([`LoadGenParams`]).
#[derive(Debug)]
pub(super) struct UrlListEntry {
    pub method: Spanned<String>,
    pub scheme: Spanned<String>,
    pub host: Spanned<String>,
    pub port: Spanned<PortValue>,
    pub uri: Spanned<String>,
    pub params: Option<LoadGenParams>,
}

impl<'de> Deserialize<'de> for UrlListEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, SeqAccess, Visitor};

        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = UrlListEntry;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "[method, scheme, host, port, uri] or [method, scheme, host, port, uri, \
                     {params}]",
                )
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UrlListEntry, A::Error> {
                let missing = |i| de::Error::invalid_length(i, &Entry);
                let method = seq.next_element()?.ok_or_else(|| missing(0))?;
                let scheme = seq.next_element()?.ok_or_else(|| missing(1))?;
                let host = seq.next_element()?.ok_or_else(|| missing(2))?;
                let port = seq.next_element()?.ok_or_else(|| missing(3))?;
                let uri = seq.next_element()?.ok_or_else(|| missing(4))?;
                let params = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(7, &Entry));
                }
                Ok(UrlListEntry {
                    method,
                    scheme,
                    host,
                    port,
                    uri,
                    params,
                })
            }
        }
        d.deserialize_seq(Entry)
    }
}

/// A port: `80`, or `"80"` as LoadGen's `qw!GET http host 80 /!` lists have it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum PortValue {
    Number(i64),
    Text(String),
}

/// The params of a `URLList` entry, with LoadGen's meanings: `timeout` is its inactivity
/// timeout (a `[[request]]`'s `idle_timeout`), `headers` a flat list of names and values,
/// and what is left out takes LoadGen's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoadGenParams {
    pub keepalive: Option<Spanned<KeepAliveValue>>,
    pub predelay: Option<Spanned<DurationValue>>,
    pub prejitter: Option<Spanned<DurationValue>>,
    pub postdelay: Option<Spanned<DurationValue>>,
    pub postjitter: Option<Spanned<DurationValue>>,
    pub headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub body: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationValue>>,
    pub conn_timeout: Option<Spanned<DurationValue>>,
}

/// One string or a list of them (`cacert = "ca.pem"` or `cacert = ["a.pem", "b.pem"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// `ramp_up = { start, max, duration }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RampFile {
    pub start: Option<Spanned<i64>>,
    pub max: Option<Spanned<i64>>,
    pub duration: Option<Spanned<DurationValue>>,
}

/// A request entry, or the `defaults` every entry starts from.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    pub method: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub scheme: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub uri: Option<Spanned<String>>,
    pub keepalive: Option<Spanned<KeepAliveValue>>,
    pub predelay: Option<Spanned<DurationValue>>,
    pub prejitter: Option<Spanned<DurationValue>>,
    pub postdelay: Option<Spanned<DurationValue>>,
    pub postjitter: Option<Spanned<DurationValue>>,
    pub headers: Option<Spanned<Vec<Spanned<HeaderValue>>>>,
    pub body: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationValue>>,
    pub idle_timeout: Option<Spanned<DurationValue>>,
    pub conn_timeout: Option<Spanned<DurationValue>>,
}

impl Params {
    /// `self` with every key it lacks taken from `defaults`.
    /// A request's `url` replaces the defaults' scheme/host/port/uri, and its
    /// scheme/host/port/uri replace the defaults' `url`.
    pub fn or(self, defaults: &Params) -> Params {
        let mut d = defaults.clone();
        if self.url.is_some() {
            (d.scheme, d.host, d.port, d.uri) = (None, None, None, None);
        }
        if self.scheme.is_some() || self.host.is_some() || self.port.is_some() || self.uri.is_some()
        {
            d.url = None;
        }
        Params {
            method: self.method.or(d.method),
            url: self.url.or(d.url),
            scheme: self.scheme.or(d.scheme),
            host: self.host.or(d.host),
            port: self.port.or(d.port),
            uri: self.uri.or(d.uri),
            keepalive: self.keepalive.or(d.keepalive),
            predelay: self.predelay.or(d.predelay),
            prejitter: self.prejitter.or(d.prejitter),
            postdelay: self.postdelay.or(d.postdelay),
            postjitter: self.postjitter.or(d.postjitter),
            headers: self.headers.or(d.headers),
            body: self.body.or(d.body),
            timeout: self.timeout.or(d.timeout),
            idle_timeout: self.idle_timeout.or(d.idle_timeout),
            conn_timeout: self.conn_timeout.or(d.conn_timeout),
        }
    }
}

/// A duration: a string with a unit (`"500ms"`), or a number of seconds (LoadGen's
/// fractions: `0.5`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum DurationValue {
    Seconds(f64),
    Text(String),
}

/// A keep-alive mode: a name (`"both"`) or LoadGen's number (`3`: KEEPALIVE_USE = 1 plus
/// KEEPALIVE_STORE = 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum KeepAliveValue {
    Number(i64),
    Name(String),
}

/// A header: `"Name: value"` or `["Name", "value"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum HeaderValue {
    Line(String),
    Pair(Vec<String>),
}
