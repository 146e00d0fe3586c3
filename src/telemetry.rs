//! Logging: a short message plus dotted structured fields (see `docs/LOGGING.md`). With an
//! OTLP endpoint configured, the same spans also leave as OpenTelemetry traces, one trace
//! per request continuing the caller's `traceparent` (see `docs/ARCHITECTURE.md`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::{Level, Metadata, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// Set once the exporting subscriber is installed; everything below does nothing until then,
/// so a gateway without an endpoint pays one atomic load where a span could be exported.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The trace pipeline, when there is one: flushed by [`Traces::shutdown`] as the gateway stops.
#[must_use = "spans still queued are lost unless the pipeline is shut down"]
pub struct Traces(Option<SdkTracerProvider>);

/// Installs the global subscriber: logs always, and span export when `otlp_endpoint` is set.
/// `RUST_LOG` sets the log levels; it does not decide which spans are exported.
pub fn init(config: &Config) -> anyhow::Result<Traces> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let ansi = std::io::stdout().is_terminal();
    let Some(endpoint) = &config.otlp_endpoint else {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(ansi);
        let result = match config.log_format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
        // A second init (tests that build several apps) keeps the first subscriber.
        drop(result);
        return Ok(Traces(None));
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()?;
    // Exports run on the gateway's runtime, through the same async reqwest the adapters use.
    let processor = BatchSpanProcessor::builder(exporter, Tokio).build();
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("stockade"))
        // The span's name and target say where it comes from; threads mean little in async code.
        .with_location(false)
        .with_threads(false)
        .with_filter(filter_fn(exported));
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(ansi);
    let logs = match config.log_format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
    };
    // Each layer filters for itself: the log lines are what `RUST_LOG` asks for, whatever
    // the spans exported beside them.
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .try_init()
        .is_ok();
    EXPORTING.store(installed, Ordering::Release);
    tracing::info!(otlp.endpoint = %endpoint, service.name = %config.service_name, "exporting traces");
    Ok(Traces(Some(provider)))
}

/// Stockade's own spans at any level, and its events from `info` up (they become the
/// spans' events); nothing from the libraries below, the exporter's HTTP client included.
fn exported(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("stockade") && (meta.is_span() || *meta.level() <= Level::INFO)
}

impl Traces {
    /// Exports what is still queued and stops the pipeline.
    pub async fn shutdown(self) {
        let Some(provider) = self.0 else { return };
        // The processor's shutdown blocks until the last export is answered, and that
        // export runs on this runtime: wait for it off the runtime's worker threads.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "traces not flushed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "traces not flushed at shutdown"),
        }
    }
}

/// Whether spans are being exported.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Acquire)
}

/// Makes `span` the server side of the request `traceparent` names, when spans are
/// exported: a child of the caller's span, or the root of a trace begun here (`fresh`).
pub fn continue_request(span: &Span, traceparent: &str, fresh: bool) {
    if exporting() {
        span.record("otel.kind", "server");
        continue_trace(span, traceparent, fresh);
    }
}

/// Makes `span` part of the trace `traceparent` names, when spans are exported: a child
/// of the span it names, or the root of that trace when the trace was begun here (`fresh`)
/// and the parent id is one nobody exported.
pub fn continue_trace(span: &Span, traceparent: &str, fresh: bool) {
    if !exporting() {
        return;
    }
    if let Some(parent) = remote_parent(traceparent, fresh) {
        // Refused only for a span the exporting layer does not see: nothing to continue.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
}

/// The `traceparent` naming `span` itself, when spans are exported and `span` belongs to
/// the trace `traceparent` names: what work done within it hands on in place of
/// `traceparent` (an outbound call, an event it causes). A span outside that trace is
/// never named: the trace id the caller knows is the one that travels.
pub fn traceparent_of(span: &Span, traceparent: &str) -> Option<String> {
    if !exporting() {
        return None;
    }
    let trace = remote_parent(traceparent, false)?.trace_id();
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    (sc.is_valid() && sc.trace_id() == trace).then(|| {
        let flags = sc.trace_flags().to_u8();
        format!("00-{trace}-{}-{flags:02x}", sc.span_id())
    })
}

/// The `traceparent` an outbound call made within `span` carries, when spans are exported:
/// it names `span`, which joins `traceparent`'s trace first if the work around it belongs
/// to no exported span of that trace (work scoped to a trace without a span of its own).
pub fn outbound(span: &Span, traceparent: &str) -> Option<String> {
    if !exporting() {
        return None;
    }
    let trace = remote_parent(traceparent, false)?.trace_id();
    if Span::current().context().span().span_context().trace_id() != trace {
        continue_trace(span, traceparent, false);
    }
    traceparent_of(span, traceparent)
}

/// The caller's side of a W3C `traceparent` (already validated by the trace-context layer),
/// for OpenTelemetry. Read by hand rather than through the SDK's propagator, which cannot
/// say "this trace id, no parent" for a trace begun here: an invalid parent id makes the
/// SDK start a root span that keeps the trace id.
fn remote_parent(traceparent: &str, fresh: bool) -> Option<SpanContext> {
    let mut parts = traceparent.split('-');
    let (_, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let trace = TraceId::from_hex(trace).ok()?;
    let parent = if fresh {
        SpanId::INVALID
    } else {
        SpanId::from_hex(parent).ok()?
    };
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    Some(SpanContext::new(
        trace,
        parent,
        flags,
        true,
        TraceState::NONE,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_becomes_the_remote_parent() {
        let sc = remote_parent(TRACEPARENT, false).unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        let unsampled = TRACEPARENT.replace("-01", "-00");
        assert!(!remote_parent(&unsampled, false).unwrap().is_sampled());
    }

    #[test]
    fn a_trace_begun_here_has_no_parent() {
        let sc = remote_parent(TRACEPARENT, true).unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id(), SpanId::INVALID);
        assert!(remote_parent("garbage", false).is_none());
    }

    #[test]
    fn nothing_happens_unless_exporting() {
        let span = tracing::info_span!("request");
        assert_eq!(traceparent_of(&span, TRACEPARENT), None);
        assert_eq!(outbound(&span, TRACEPARENT), None);
    }
}
