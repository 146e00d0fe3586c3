//! Rate limits: a burst past the tier gets 429 with parseable headers.

use axum::http::StatusCode;

use crate::harness::Backend;
use crate::harness::{Reply, TestApp};

/// `"tier";r=4;t=48` → ("tier", [("r", 4), ("t", 48)])
fn structured(value: &str) -> (String, Vec<(String, u64)>) {
    let mut parts = value.split(';');
    let name = parts.next().unwrap().trim_matches('"').to_owned();
    let params = parts
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect();
    (name, params)
}

fn param(r: &Reply, header: &str, key: &str) -> u64 {
    let (_, params) = structured(r.header(header).unwrap_or_else(|| panic!("no {header}")));
    params.into_iter().find(|(k, _)| k == key).unwrap().1
}

async fn a_burst_gets_429_with_retry_after_and_rate_limit_headers(b: Backend) {
    let app = TestApp::governed(&b).await;
    let limited = app.as_key("test-limited-key");
    for expected in (0..5).rev() {
        let r = limited.get("/v1/availability/TEE-BLK-M").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            structured(r.header("ratelimit-policy").unwrap()),
            ("tiny".into(), vec![("q".into(), 5), ("w".into(), 60)])
        );
        assert_eq!(param(&r, "ratelimit", "r"), expected);
    }
    let r = limited.get("/v1/availability/TEE-BLK-M").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "rate-limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=12).contains(&retry),
        "one request refills every 12 s; Retry-After {retry}"
    );
    assert_eq!(param(&r, "ratelimit", "r"), 0);
    assert!(param(&r, "ratelimit", "t") >= retry);
    // Limits are per client.
    assert_eq!(
        app.as_key("test-shop-key")
            .get("/v1/availability/TEE-BLK-M")
            .await
            .status,
        StatusCode::OK
    );
}

crate::tests! { per_backend: [a_burst_gets_429_with_retry_after_and_rate_limit_headers] }
