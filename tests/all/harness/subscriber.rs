//! A subscriber on loopback, as a marketplace or analytics system would run one: it checks
//! every signature, applies each event id once, and can be told to fail an event or to
//! hold a delivery unanswered.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Notify, oneshot};

pub const SECRET: &str = "test-subscriber-signing-secret";

#[derive(Default)]
pub struct Inbox {
    /// Event ids, each once.
    pub applied: Mutex<BTreeSet<String>>,
    /// Every delivery, repeats included.
    pub deliveries: Mutex<Vec<String>>,
    pub bad_signatures: AtomicUsize,
    /// Events whose body contains this text are answered 500.
    pub poison: Mutex<Option<String>>,
    /// When set, the next delivery is reported here and never answered.
    pub hold: Mutex<Option<oneshot::Sender<String>>>,
    held: Notify,
}

pub struct TestSubscriber {
    pub addr: std::net::SocketAddr,
    pub inbox: Arc<Inbox>,
}

impl TestSubscriber {
    pub async fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        let app = axum::Router::new()
            .route("/events", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inbox }
    }

    pub fn applied(&self) -> BTreeSet<String> {
        self.inbox.applied.lock().unwrap().clone()
    }

    pub fn deliveries_of(&self, id: &str) -> usize {
        self.inbox
            .deliveries
            .lock()
            .unwrap()
            .iter()
            .filter(|d| *d == id)
            .count()
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !verify(&headers, &body) {
        inbox.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = event["id"].as_str().unwrap().to_owned();
    assert_eq!(headers.get("stockade-event-id").unwrap(), id.as_str());
    inbox.deliveries.lock().unwrap().push(id.clone());
    let poisoned = inbox
        .poison
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|p| String::from_utf8_lossy(&body).contains(p.as_str()));
    if poisoned {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let hold = inbox.hold.lock().unwrap().take();
    if let Some(tell) = hold {
        let _ = tell.send(id.clone());
        // Never answered: the gateway dies waiting.
        inbox.held.notified().await;
    }
    inbox.applied.lock().unwrap().insert(id);
    StatusCode::NO_CONTENT
}

/// `Stockade-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as a receiver
/// would check it, written from the documentation rather than from the gateway's code.
fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = headers
        .get("stockade-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}
