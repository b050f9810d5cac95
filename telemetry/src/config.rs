//! Trace export settings from the standard OpenTelemetry environment variables, parsed once
//! at start into [`TraceSettings`]. Pure: the environment comes in as name/value pairs, so
//! every rule is unit-tested without touching the process environment.
//!
//! Export is off (`Ok(None)`) unless an OTLP endpoint is set; `OTEL_SDK_DISABLED=true` or
//! `OTEL_TRACES_EXPORTER=none` turn it off even then. A value that is set but malformed is an
//! error naming the variable, so a typo is noticed at start rather than silently ignored.
//! Header values (often credentials) never appear in errors or in `Debug` output.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// How spans are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`, the default).
    HttpProtobuf,
    /// OTLP/gRPC (`grpc`).
    Grpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerSpec {
    AlwaysOn,
    AlwaysOff,
    /// Keeps this fraction (0 to 1) of traces, decided from the trace id.
    TraceIdRatio(f64),
    /// Follows the caller's sampled flag when there is a parent; else the inner sampler.
    ParentBased(Box<SamplerSpec>),
}

impl SamplerSpec {
    pub fn to_sampler(&self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler;
        match self {
            SamplerSpec::AlwaysOn => Sampler::AlwaysOn,
            SamplerSpec::AlwaysOff => Sampler::AlwaysOff,
            SamplerSpec::TraceIdRatio(r) => Sampler::TraceIdRatioBased(*r),
            SamplerSpec::ParentBased(root) => Sampler::ParentBased(Box::new(root.to_sampler())),
        }
    }
}

impl fmt::Display for SamplerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerSpec::AlwaysOn => f.write_str("always_on"),
            SamplerSpec::AlwaysOff => f.write_str("always_off"),
            SamplerSpec::TraceIdRatio(r) => write!(f, "traceidratio({r})"),
            SamplerSpec::ParentBased(root) => write!(f, "parentbased_{root}"),
        }
    }
}

/// The export queue and batching (`OTEL_BSP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Finished spans waiting for export; more are dropped and counted.
    pub max_queue_size: usize,
    /// Longest a finished span waits before its batch is sent.
    pub scheduled_delay: Duration,
    /// Largest batch sent at once (at most the queue size).
    pub max_export_batch_size: usize,
    /// Longest one export may take; after that its spans are dropped and counted.
    pub export_timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

/// Everything needed to export traces.
#[derive(Clone, PartialEq)]
pub struct TraceSettings {
    /// The full URL spans are sent to (for HTTP, including `/v1/traces`).
    pub endpoint: String,
    pub protocol: Protocol,
    /// Extra request headers (e.g. an API key of the tracing backend).
    pub headers: Vec<(String, String)>,
    /// Timeout of one export request.
    pub timeout: Duration,
    pub service_name: String,
    /// Resource attributes besides `service.name`.
    pub resource: Vec<(String, String)>,
    pub sampler: SamplerSpec,
    pub batch: BatchSettings,
}

impl fmt::Debug for TraceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TraceSettings")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("batch", &self.batch)
            .finish()
    }
}

/// A variable that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A malformed list whose values are not echoed (header values may be secrets).
    #[error("{var}: entry {entry} is not valid: expected {expected}")]
    InvalidEntry {
        var: &'static str,
        entry: usize,
        expected: &'static str,
    },
}

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
const TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
const TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
const BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
const BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
const BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
const BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";

/// Default export request timeout (the specification's 10 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl TraceSettings {
    /// Reads the settings from `env`; `None` when no endpoint is configured or export is
    /// disabled. `default_service` names the service when `OTEL_SERVICE_NAME` (and a
    /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) are absent.
    pub fn from_env<I, K, V>(env: I, default_service: &str) -> Result<Option<Self>, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env: HashMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, v)| k.starts_with("OTEL_") && !v.trim().is_empty())
            .collect();
        let get = |name: &str| env.get(name).map(|v| v.trim());

        if let Some(v) = get(SDK_DISABLED)
            && parse_bool(SDK_DISABLED, v)?
        {
            return Ok(None);
        }
        match get(TRACES_EXPORTER) {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => return Err(invalid(TRACES_EXPORTER, other, "otlp or none")),
        }
        let protocol = match get(TRACES_PROTOCOL)
            .map(|v| (TRACES_PROTOCOL, v))
            .or(get(PROTOCOL).map(|v| (PROTOCOL, v)))
        {
            None => Protocol::HttpProtobuf,
            Some((_, "http/protobuf")) => Protocol::HttpProtobuf,
            Some((_, "grpc")) => Protocol::Grpc,
            Some((var, other)) => return Err(invalid(var, other, "http/protobuf or grpc")),
        };
        let endpoint = match (get(TRACES_ENDPOINT), get(ENDPOINT)) {
            // The signal-specific URL is used as given.
            (Some(url), _) => check_url(TRACES_ENDPOINT, url)?.to_owned(),
            // The generic one is a base: OTLP/HTTP appends the signal's path.
            (None, Some(base)) => {
                let base = check_url(ENDPOINT, base)?;
                match protocol {
                    Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
                    Protocol::Grpc => base.to_owned(),
                }
            }
            (None, None) => return Ok(None),
        };

        let mut headers = match get(HEADERS) {
            Some(v) => parse_pairs(HEADERS, v)?,
            None => Vec::new(),
        };
        if let Some(v) = get(TRACES_HEADERS) {
            for (k, v) in parse_pairs(TRACES_HEADERS, v)? {
                headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&k));
                headers.push((k, v));
            }
        }
        let timeout = match get(TRACES_TIMEOUT)
            .map(|v| (TRACES_TIMEOUT, v))
            .or(get(TIMEOUT).map(|v| (TIMEOUT, v)))
        {
            Some((var, v)) => millis(var, v)?,
            None => DEFAULT_TIMEOUT,
        };

        let mut resource = match get(RESOURCE_ATTRIBUTES) {
            Some(v) => parse_pairs(RESOURCE_ATTRIBUTES, v)?,
            None => Vec::new(),
        };
        let from_resource = resource
            .iter()
            .position(|(k, _)| k == "service.name")
            .map(|i| resource.remove(i).1);
        let service_name = get(SERVICE_NAME)
            .map(str::to_owned)
            .or(from_resource)
            .unwrap_or_else(|| default_service.to_owned());

        let sampler = parse_sampler(get(SAMPLER), get(SAMPLER_ARG))?;

        let defaults = BatchSettings::default();
        let max_queue_size = match get(BSP_MAX_QUEUE_SIZE) {
            Some(v) => positive(BSP_MAX_QUEUE_SIZE, v)?,
            None => defaults.max_queue_size,
        };
        let max_export_batch_size = match get(BSP_MAX_EXPORT_BATCH_SIZE) {
            Some(v) => positive(BSP_MAX_EXPORT_BATCH_SIZE, v)?,
            None => defaults.max_export_batch_size,
        }
        .min(max_queue_size);
        let scheduled_delay = match get(BSP_SCHEDULE_DELAY) {
            Some(v) => millis(BSP_SCHEDULE_DELAY, v)?.max(Duration::from_millis(1)),
            None => defaults.scheduled_delay,
        };
        let export_timeout = match get(BSP_EXPORT_TIMEOUT) {
            Some(v) => millis(BSP_EXPORT_TIMEOUT, v)?.max(Duration::from_millis(1)),
            None => defaults.export_timeout,
        };

        Ok(Some(Self {
            endpoint,
            protocol,
            headers,
            timeout,
            service_name,
            resource,
            sampler,
            batch: BatchSettings {
                max_queue_size,
                scheduled_delay,
                max_export_batch_size,
                export_timeout,
            },
        }))
    }
}

fn invalid(var: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_owned(),
        expected,
    }
}

fn check_url<'a>(var: &'static str, url: &'a str) -> Result<&'a str, ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && url.parse::<http::Uri>().is_ok() => {
            Ok(url)
        }
        _ => Err(invalid(
            var,
            url,
            "an http:// or https:// URL, e.g. http://127.0.0.1:4318",
        )),
    }
}

fn parse_bool(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(var, v, "true or false")),
    }
}

fn millis(var: &'static str, v: &str) -> Result<Duration, ConfigError> {
    v.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| invalid(var, v, "a whole number of milliseconds"))
}

fn positive(var: &'static str, v: &str) -> Result<usize, ConfigError> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(var, v, "a whole number greater than 0")),
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (the W3C Baggage octet form the
/// specification uses for headers and resource attributes).
fn parse_pairs(var: &'static str, v: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (i, item) in v.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let bad = || ConfigError::InvalidEntry {
            var,
            entry: i + 1,
            expected: "key=value pairs separated by commas, values percent-encoded",
        };
        let (key, value) = item.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad());
        }
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| bad())?;
        out.push((key.to_owned(), value.into_owned()));
    }
    Ok(out)
}

fn parse_sampler(name: Option<&str>, arg: Option<&str>) -> Result<SamplerSpec, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        match arg {
            None => Ok(1.0),
            Some(a) => match a.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(invalid(SAMPLER_ARG, a, "a number from 0 to 1")),
            },
        }
    };
    let parent = |root| Ok(SamplerSpec::ParentBased(Box::new(root)));
    match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("parentbased_always_on") => parent(SamplerSpec::AlwaysOn),
        Some("always_on") => Ok(SamplerSpec::AlwaysOn),
        Some("always_off") => Ok(SamplerSpec::AlwaysOff),
        Some("traceidratio") => Ok(SamplerSpec::TraceIdRatio(ratio()?)),
        Some("parentbased_always_off") => parent(SamplerSpec::AlwaysOff),
        Some("parentbased_traceidratio") => parent(SamplerSpec::TraceIdRatio(ratio()?)),
        Some(_) => Err(invalid(
            SAMPLER,
            name.unwrap_or_default(),
            "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off \
             or parentbased_traceidratio",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Result<Option<TraceSettings>, ConfigError> {
        TraceSettings::from_env(env.iter().copied(), "svc")
    }

    fn on(env: &[(&str, &str)]) -> TraceSettings {
        settings(env).unwrap().expect("export should be on")
    }

    #[test]
    fn export_is_off_without_an_endpoint() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")]).unwrap(), None);
        assert_eq!(settings(&[(ENDPOINT, "  ")]).unwrap(), None);
    }

    #[test]
    fn export_can_be_disabled_even_with_an_endpoint() {
        let ep = (ENDPOINT, "http://127.0.0.1:4318");
        assert_eq!(settings(&[ep, (SDK_DISABLED, "true")]).unwrap(), None);
        assert_eq!(settings(&[ep, (TRACES_EXPORTER, "none")]).unwrap(), None);
        assert!(settings(&[ep, (SDK_DISABLED, "false")]).unwrap().is_some());
        assert!(settings(&[ep, (TRACES_EXPORTER, "zipkin")]).is_err());
    }

    #[test]
    fn defaults_follow_the_specification() {
        let s = on(&[(ENDPOINT, "http://127.0.0.1:4318")]);
        assert_eq!(s.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.service_name, "svc");
        assert_eq!(
            s.sampler,
            SamplerSpec::ParentBased(Box::new(SamplerSpec::AlwaysOn))
        );
        assert_eq!(s.batch, BatchSettings::default());
        assert!(s.headers.is_empty() && s.resource.is_empty());
    }

    #[test]
    fn the_generic_endpoint_is_a_base_and_the_signal_endpoint_is_used_as_given() {
        let s = on(&[(ENDPOINT, "http://collector:4318/")]);
        assert_eq!(s.endpoint, "http://collector:4318/v1/traces");
        let s = on(&[
            (ENDPOINT, "http://collector:4318"),
            (TRACES_ENDPOINT, "https://traces.example/custom"),
        ]);
        assert_eq!(s.endpoint, "https://traces.example/custom");
        let s = on(&[(ENDPOINT, "http://collector:4317"), (PROTOCOL, "grpc")]);
        assert_eq!(
            (s.endpoint.as_str(), s.protocol),
            ("http://collector:4317", Protocol::Grpc)
        );
        let s = on(&[
            (ENDPOINT, "http://c:4317"),
            (PROTOCOL, "grpc"),
            (TRACES_PROTOCOL, "http/protobuf"),
        ]);
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let ep = (ENDPOINT, "http://127.0.0.1:4318");
        let e = settings(&[(ENDPOINT, "127.0.0.1:4318")]).unwrap_err();
        assert!(e.to_string().contains(ENDPOINT), "{e}");
        let e = settings(&[ep, (PROTOCOL, "http/json")]).unwrap_err();
        assert!(e.to_string().contains("http/protobuf or grpc"), "{e}");
        let e = settings(&[ep, (TIMEOUT, "5s")]).unwrap_err();
        assert!(e.to_string().contains(TIMEOUT), "{e}");
        let e = settings(&[ep, (SAMPLER, "sometimes")]).unwrap_err();
        assert!(e.to_string().contains(SAMPLER), "{e}");
        let e = settings(&[ep, (SAMPLER, "traceidratio"), (SAMPLER_ARG, "1.5")]).unwrap_err();
        assert!(e.to_string().contains(SAMPLER_ARG), "{e}");
        let e = settings(&[ep, (BSP_MAX_QUEUE_SIZE, "0")]).unwrap_err();
        assert!(e.to_string().contains(BSP_MAX_QUEUE_SIZE), "{e}");
    }

    #[test]
    fn samplers_parse() {
        let ep = (ENDPOINT, "http://h:1");
        let sampler = |name: &str, arg: Option<&str>| {
            let mut env = vec![ep, (SAMPLER, name)];
            env.extend(arg.map(|a| (SAMPLER_ARG, a)));
            on(&env).sampler
        };
        assert_eq!(sampler("always_on", None), SamplerSpec::AlwaysOn);
        assert_eq!(sampler("always_off", None), SamplerSpec::AlwaysOff);
        assert_eq!(
            sampler("traceidratio", Some("0.25")),
            SamplerSpec::TraceIdRatio(0.25)
        );
        assert_eq!(
            sampler("traceidratio", None),
            SamplerSpec::TraceIdRatio(1.0)
        );
        assert_eq!(
            sampler("parentbased_traceidratio", Some("0.1")),
            SamplerSpec::ParentBased(Box::new(SamplerSpec::TraceIdRatio(0.1)))
        );
        assert_eq!(
            sampler("parentbased_always_off", None),
            SamplerSpec::ParentBased(Box::new(SamplerSpec::AlwaysOff))
        );
        assert_eq!(
            sampler("parentbased_always_off", None).to_string(),
            "parentbased_always_off"
        );
    }

    #[test]
    fn headers_merge_and_decode_and_never_leak_in_errors() {
        let s = on(&[
            (ENDPOINT, "http://h:1"),
            (HEADERS, "api-key=secret%20one, x-team = core"),
            (TRACES_HEADERS, "API-KEY=secret-two"),
        ]);
        assert_eq!(
            s.headers,
            vec![
                ("x-team".to_owned(), "core".to_owned()),
                ("API-KEY".to_owned(), "secret-two".to_owned())
            ]
        );
        assert!(!format!("{s:?}").contains("secret"), "{s:?}");
        let e = settings(&[
            (ENDPOINT, "http://h:1"),
            (HEADERS, "a=1,token-without-equals"),
        ])
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::InvalidEntry {
                var: HEADERS,
                entry: 2,
                expected: "key=value pairs separated by commas, values percent-encoded"
            }
        );
        assert!(!e.to_string().contains("token-without"), "{e}");
    }

    #[test]
    fn service_name_and_resource_attributes() {
        let ep = (ENDPOINT, "http://h:1");
        let s = on(&[
            ep,
            (
                RESOURCE_ATTRIBUTES,
                "deployment.environment=prod,service.name=from-res",
            ),
        ]);
        assert_eq!(s.service_name, "from-res");
        assert_eq!(
            s.resource,
            vec![("deployment.environment".to_owned(), "prod".to_owned())]
        );
        let s = on(&[
            ep,
            (RESOURCE_ATTRIBUTES, "service.name=from-res"),
            (SERVICE_NAME, "explicit"),
        ]);
        assert_eq!(s.service_name, "explicit");
    }

    #[test]
    fn batch_settings_parse_and_the_batch_fits_the_queue() {
        let s = on(&[
            (ENDPOINT, "http://h:1"),
            (BSP_MAX_QUEUE_SIZE, "100"),
            (BSP_SCHEDULE_DELAY, "250"),
            (BSP_EXPORT_TIMEOUT, "1000"),
            (TRACES_TIMEOUT, "2000"),
            (TIMEOUT, "9000"),
        ]);
        assert_eq!(
            s.batch,
            BatchSettings {
                max_queue_size: 100,
                scheduled_delay: Duration::from_millis(250),
                max_export_batch_size: 100,
                export_timeout: Duration::from_secs(1),
            }
        );
        assert_eq!(s.timeout, Duration::from_secs(2));
    }
}
