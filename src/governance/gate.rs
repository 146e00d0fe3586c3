//! A tower layer for a check that can almost always decide at once.
//!
//! Most governance decisions need no waiting: an API key is a hash lookup, a local rate
//! limit an atomic update, a route policy a table lookup. A middleware written as an
//! `async fn` pays for waiting anyway, on every call: a boxed future, a boxed copy of
//! the rest of the stack, and a clone of every layer below it. A [`Gate`] decides on the
//! caller's stack and calls the inner service directly; only a decision that must wait
//! (a JWT whose key is being fetched, a shared limiter, a queued slot, an audit commit)
//! takes the boxed path. With a dozen layers this is most of what the stack costs.
//!
//! Written here rather than taken from a crate: tower's `filter` and `map_*` layers
//! cover pieces of it (a synchronous refusal, a changed answer), but none carries state
//! from the way in to the way out, which every gate here needs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::http::{Request, Response};
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

/// A check on the way in and a finish on the way out.
pub trait Gate<B = Body>: Clone + Send + Sync + 'static {
    /// What the gate keeps of a request it let through, to finish its answer.
    type Ticket: Send + 'static;

    /// Looks at a request on its way in (and may add to it).
    fn enter(&self, req: &mut Request<Body>) -> Entry<Self::Ticket, B>;

    /// Finishes the answer on its way out.
    fn leave(&self, ticket: Self::Ticket, resp: Response<B>) -> Reply<B> {
        let _ = ticket;
        Reply::Now(resp)
    }
}

/// What a gate decided about a request.
pub enum Entry<T, B = Body> {
    /// In it goes; the ticket comes back to [`Gate::leave`].
    Pass(T),
    /// Answered here; the inner service never sees it.
    Answer(Reply<B>),
    /// Decided only after waiting. The future owns the request (taken with
    /// `std::mem::take`) and hands it back with the ticket, or answers.
    Wait(Waiting<T, B>),
}

/// A decision still being made: the request and its ticket back, or an answer.
pub type Waiting<T, B = Body> = BoxFuture<'static, Result<(Request<Body>, T), Response<B>>>;

/// An answer, ready now or after some work (such as recording it in the audit chain).
pub enum Reply<B = Body> {
    Now(Response<B>),
    Later(BoxFuture<'static, Response<B>>),
}

impl<B> Reply<B> {
    /// The answer, once any work is done.
    pub async fn resolve(self) -> Response<B> {
        match self {
            Self::Now(resp) => resp,
            Self::Later(future) => future.await,
        }
    }
}

#[derive(Clone)]
pub struct GateLayer<G>(pub G);

impl<G: Clone, S> Layer<S> for GateLayer<G> {
    type Service = GateService<G, S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            gate: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct GateService<G, S> {
    gate: G,
    inner: S,
}

impl<G, S, B> Service<Request<Body>> for GateService<G, S>
where
    G: Gate<B>,
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = GateFuture<G, G::Ticket, S::Future, B, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let state = match self.gate.enter(&mut req) {
            Entry::Pass(ticket) => State::Inner {
                future: self.inner.call(req),
                finish: Some((self.gate.clone(), ticket)),
            },
            Entry::Answer(Reply::Now(resp)) => State::Ready { resp: Some(resp) },
            Entry::Answer(Reply::Later(future)) => State::Finishing { future },
            Entry::Wait(decision) => {
                // The ready service goes with the request; this one keeps a fresh clone.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let gate = self.gate.clone();
                State::Waiting {
                    future: Box::pin(async move {
                        let (req, ticket) = match decision.await {
                            Ok(admitted) => admitted,
                            Err(answer) => return Ok(answer),
                        };
                        let resp = inner.oneshot(req).await?;
                        Ok(match gate.leave(ticket, resp) {
                            Reply::Now(resp) => resp,
                            Reply::Later(future) => future.await,
                        })
                    }),
                }
            }
        };
        GateFuture { state }
    }
}

pin_project_lite::pin_project! {
    pub struct GateFuture<G, T, F, B, E> {
        #[pin]
        state: State<G, T, F, B, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<G, T, F, B, E> {
        Inner { #[pin] future: F, finish: Option<(G, T)> },
        Ready { resp: Option<Response<B>> },
        Finishing { future: BoxFuture<'static, Response<B>> },
        Waiting { future: BoxFuture<'static, Result<Response<B>, E>> },
    }
}

impl<G, F, B, E> Future for GateFuture<G, G::Ticket, F, B, E>
where
    G: Gate<B>,
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Inner { future, finish } => {
                    let resp = ready!(future.poll(cx))?;
                    let (gate, ticket) = finish.take().expect("polled after completion");
                    match gate.leave(ticket, resp) {
                        Reply::Now(resp) => return Poll::Ready(Ok(resp)),
                        Reply::Later(future) => state.set(State::Finishing { future }),
                    }
                }
                StateProj::Ready { resp } => {
                    return Poll::Ready(Ok(resp.take().expect("polled after completion")));
                }
                StateProj::Finishing { future } => return future.as_mut().poll(cx).map(Ok),
                StateProj::Waiting { future } => return future.as_mut().poll(cx),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;

    use super::*;

    /// Lets `/in` through at once, `/wait` after a yield, refuses `/no`, and counts
    /// what it finished.
    #[derive(Clone, Default)]
    struct Test(Arc<AtomicUsize>);

    impl Gate for Test {
        type Ticket = &'static str;

        fn enter(&self, req: &mut Request<Body>) -> Entry<&'static str> {
            match req.uri().path() {
                "/no" => Entry::Answer(Reply::Later(Box::pin(async {
                    tokio::task::yield_now().await;
                    status(StatusCode::FORBIDDEN)
                }))),
                "/wait" => {
                    let req = std::mem::take(req);
                    Entry::Wait(Box::pin(async move {
                        tokio::task::yield_now().await;
                        Ok((req, "waited"))
                    }))
                }
                _ => Entry::Pass("passed"),
            }
        }

        fn leave(&self, ticket: &'static str, mut resp: Response<Body>) -> Reply {
            self.0.fetch_add(1, Ordering::SeqCst);
            resp.headers_mut()
                .insert("x-ticket", ticket.parse().unwrap());
            Reply::Now(resp)
        }
    }

    fn status(s: StatusCode) -> Response<Body> {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = s;
        r
    }

    #[tokio::test]
    async fn passes_waits_and_refuses() {
        let gate = Test::default();
        let inner = tower::service_fn(|req: Request<Body>| async move {
            Ok::<_, Infallible>(status(if req.uri().path() == "/no" {
                StatusCode::IM_A_TEAPOT
            } else {
                StatusCode::OK
            }))
        });
        let svc = GateLayer(gate.clone()).layer(inner);
        let call = |path: &str| {
            let req = Request::get(path).body(Body::empty()).unwrap();
            svc.clone().oneshot(req)
        };
        let passed = call("/in").await.unwrap();
        assert_eq!(passed.status(), StatusCode::OK);
        assert_eq!(passed.headers()["x-ticket"], "passed");
        let waited = call("/wait").await.unwrap();
        assert_eq!(
            (waited.status(), &waited.headers()["x-ticket"]),
            (StatusCode::OK, &"waited".parse().unwrap())
        );
        let refused = call("/no").await.unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::FORBIDDEN,
            "answered by the gate"
        );
        assert_eq!(
            gate.0.load(Ordering::SeqCst),
            2,
            "a refusal is not finished"
        );
    }
}
