//! The domain's and the gateway's hot paths, one call at a time.
//!
//! `cargo bench` runs them; `docs/PERFORMANCE.md` lists the latest figures.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use stockade::config::Config;
use stockade::domain::allocation::{Candidate, Demand, Shortage, allocate};
use stockade::domain::availability::summarize;
use stockade::domain::quantity::Position;
use stockade::error::Error;
use stockade::governance::auth::Authenticator;
use stockade::policy::Policies;
use stockade::problem::Problem;
use tower::ServiceExt;

fn fixture_policies() -> Policies {
    Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies")).unwrap()
}

fn ats(c: &mut Criterion) {
    let eligible: Vec<String> = ["WH-MAIN", "3PL-EAST", "STORE-01"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let p = Position {
        on_hand: 140,
        committed: 12,
        safety_stock: 4,
        unavailable: 2,
        incoming: 30,
    };
    c.bench_function("ats: one position", |b| {
        b.iter(|| black_box(black_box(p).available_to_sell()));
    });
    c.bench_function("ats: a SKU over 3 locations", |b| {
        b.iter(|| {
            summarize(
                "TEE-BLK-M",
                false,
                &eligible,
                |_| Some(p),
                time::OffsetDateTime::UNIX_EPOCH,
            )
        });
    });
}

fn candidates(locations: usize, skus: usize, ats: i64) -> Vec<Candidate> {
    (0..locations)
        .map(|l| Candidate {
            location: format!("LOC-{l}"),
            priority: l as u32 + 1,
            ats: (0..skus)
                .map(|s| (format!("SKU-{s:02}"), ats))
                .collect::<BTreeMap<_, _>>(),
        })
        .collect()
}

fn allocation(c: &mut Criterion) {
    let lines: Vec<Demand> = (0..20)
        .map(|s| Demand {
            sku: format!("SKU-{s:02}"),
            quantity: 3,
            backorderable: false,
        })
        .collect();
    let mut group = c.benchmark_group("allocate a 20-line order");
    // One location holds everything; or no location does and every line is split.
    group.bench_function("whole order at one of 3 locations", |b| {
        let c = candidates(3, 20, 10);
        b.iter(|| allocate(black_box(&lines), black_box(&c)));
    });
    group.bench_function("split across 3 locations", |b| {
        let c = candidates(3, 20, 1);
        b.iter(|| allocate(black_box(&lines), black_box(&c)));
    });
    for locations in [3, 10, 30] {
        group.bench_with_input(
            BenchmarkId::new("split, locations", locations),
            &locations,
            |b, &n| {
                let c = candidates(n, 20, 3 / n.min(3) as i64);
                b.iter(|| allocate(black_box(&lines), black_box(&c)));
            },
        );
    }
    group.finish();

    // How the cost grows with the order: lines split across 3 locations.
    let mut group = c.benchmark_group("allocate, split across 3 locations");
    for size in [1, 5, 20, 100] {
        let lines: Vec<Demand> = (0..size)
            .map(|s| Demand {
                sku: format!("SKU-{s:02}"),
                quantity: 3,
                backorderable: false,
            })
            .collect();
        let c = candidates(3, size, 1);
        group.bench_with_input(BenchmarkId::new("lines", size), &lines, |b, lines| {
            b.iter(|| allocate(black_box(lines), black_box(&c)));
        });
    }
    group.finish();
}

fn problems(c: &mut Criterion) {
    let shortages = vec![Shortage {
        sku: "TEE-BLK-M".into(),
        requested: 3,
        available: 1,
    }];
    c.bench_function("problem: insufficient-stock rendered to JSON", |b| {
        b.iter(|| {
            let e = Error::InsufficientStock(shortages.clone());
            let mut p = Problem::from(&e);
            p.request_id = Some("6f1c1d1e-6a43-4c55-9d0c-2f7d0f6d2c11".into());
            serde_json::to_vec(&p).unwrap()
        });
    });
}

fn policy(c: &mut Criterion) {
    let p = fixture_policies();
    c.bench_function("policy: route of GET /v1/orders/{id}/shipments", |b| {
        b.iter(|| {
            p.route(
                black_box("GET"),
                black_box("/v1/orders/ord_01JEZ8Q4W3M2T6V8X9Y0Z1A2B3/shipments"),
            )
        });
    });
    c.bench_function("policy: eligible locations of a channel", |b| {
        b.iter(|| p.eligible_locations(black_box("web")).len());
    });
    c.bench_function("auth: API key (hash, constant-time compare)", |b| {
        b.iter(|| p.client_by_api_key(black_box("test-market-key")).is_some());
    });
}

fn jwt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let policies = Arc::new(fixture_policies());
    let auth = rt.block_on(Authenticator::new(policies)).unwrap();
    let pem =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt/rsa-1.pem"))
            .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({"iss": "https://idp.test", "aud": "stockade", "sub": "b2b-portal", "exp": now + 3600});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    c.bench_function("auth: JWT RS256 (JWKS key by kid, full validation)", |b| {
        b.iter(|| rt.block_on(auth.authenticate(black_box(&headers))).unwrap());
    });
    let mut key = HeaderMap::new();
    key.insert("x-api-key", HeaderValue::from_static("test-shop-key"));
    c.bench_function("auth: API key through the authenticator", |b| {
        b.iter(|| rt.block_on(auth.authenticate(black_box(&key))).unwrap());
    });
}

/// One cached availability read through the whole governed stack, in process: request id,
/// trace context, security headers, problem boundary, versioning, shedding, timeout, API
/// key authentication, authorization, rate limit, audit, routing, cache and JSON. What
/// the network costs on top is measured by `load-tests/compare.sh`.
fn gateway(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        policies: Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        ..Config::default()
    };
    let router = rt.block_on(async {
        let state = stockade::startup::build(&config).await.unwrap();
        stockade::api::app(state)
    });
    let request = || {
        Request::get("/v1/availability/TEE-BLK-M")
            .header("authorization", "Bearer stockade-demo-key")
            .body(Body::empty())
            .unwrap()
    };
    let call = |req: Request<Body>| async {
        let resp = router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .len()
    };
    rt.block_on(call(request()));
    c.bench_function(
        "gateway: cached availability, whole stack in process",
        |b| {
            b.iter(|| rt.block_on(call(request())));
        },
    );
}

criterion_group!(benches, ats, allocation, problems, policy, jwt, gateway);
criterion_main!(benches);
