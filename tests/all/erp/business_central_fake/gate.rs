//! Entra's token endpoint and the gate every API call passes: the bearer token checked,
//! then the injected faults, then the answer held for the injected latency.

use super::*;

// --- Entra's token endpoint -------------------------------------------------------------

fn entra_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{aadsts}: {description}\r\nTrace ID: 5d8e7c1a\r\nCorrelation ID: 9f4b2e6d\r\n\
             Timestamp: 2026-12-03 10:00:00Z"
        ),
        "error_codes": [aadsts],
    });
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if tenant != TENANT {
        let why = "Tenant not found. Check to make sure you have the correct tenant ID.";
        return entra_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, why);
    }
    if field("grant_type") != "client_credentials" {
        let why = "The provided value for the input parameter 'grant_type' is not valid.";
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            why,
        );
    }
    if field("client_id") != CLIENT_ID {
        let why = "Application was not found in the directory.";
        return entra_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, why);
    }
    if field("client_secret") != CLIENT_SECRET {
        let why = "Invalid client secret provided. Ensure the secret being sent in the \
                   request is the client secret value, not the client secret ID.";
        return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, why);
    }
    if field("scope") != SCOPE {
        let why = "The provided request must include a 'scope' input parameter.";
        return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", 70011, why);
    }
    let access_token: String = {
        let mut rng = rand::rng();
        (0..48)
            .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
            .collect()
    };
    let lifetime = {
        let mut env = shared.lock();
        let lifetime = env.token_lifetime;
        env.tokens
            .insert(access_token.clone(), Instant::now() + lifetime);
        lifetime.as_secs()
    };
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

// --- The gate: authentication, faults, latency ------------------------------------------

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) async fn gate(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/v2.0/") {
        return next.run(request).await;
    }
    let _in_flight = InFlight(&shared.in_flight);
    let now_in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared
        .max_in_flight
        .fetch_max(now_in_flight, Ordering::SeqCst);
    if !authenticated(&shared, request.headers()) {
        shared.unauthorized.fetch_add(1, Ordering::SeqCst);
        let mut refusal = error(
            StatusCode::UNAUTHORIZED,
            "Authentication_InvalidCredentials",
            "The server has rejected the client credentials.",
        );
        refusal.headers_mut().insert(
            "www-authenticate",
            "Bearer error=\"invalid_token\"".parse().unwrap(),
        );
        return refusal;
    }
    // A POST is what makes a document (a create, a posting action); a lost answer to it
    // is the case worth testing. A PATCH only prepares one.
    let is_write = request.method() == Method::POST;
    let (latency, fault) = {
        let mut env = shared.lock();
        let service_time = env.service_time;
        let retry_after = env.retry_after_secs;
        let faults = &mut env.faults;
        let slow = if is_write {
            faults.slow_write.take()
        } else {
            None
        };
        let latency = slow.or(faults.latency.take()).unwrap_or(service_time);
        (latency, take_fault(faults, retry_after))
    };
    if let Some(fault) = fault {
        return fault;
    }
    let response = next.run(request).await;
    tokio::time::sleep(latency).await;
    response
}

fn authenticated(shared: &Shared, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let env = shared.lock();
    bearer
        .and_then(|token| env.tokens.get(token))
        .is_some_and(|expires| Instant::now() < *expires)
}

fn take_fault(faults: &mut Faults, retry_after: u64) -> Option<Response> {
    let take = |n: &mut usize| std::mem::replace(n, n.saturating_sub(1)) > 0;
    if faults.down {
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
        ));
    }
    if take(&mut faults.throttle) {
        let mut refusal = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Application_TooManyRequests",
            "Too many requests reached.",
        );
        refusal
            .headers_mut()
            .insert("retry-after", retry_after.to_string().parse().unwrap());
        return Some(refusal);
    }
    if take(&mut faults.server_error) {
        return Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unknown",
            "An unexpected error occurred.",
        ));
    }
    if take(&mut faults.malformed) {
        let cut = "{\"@odata.context\": \"x\", \"value\": [{\"@odata.etag\": \"W/";
        return Some((StatusCode::OK, cut).into_response());
    }
    if take(&mut faults.huge) {
        let pad = "x".repeat(12 * 1024 * 1024);
        let body = format!("{{\"value\": [], \"pad\": \"{pad}\"}}");
        return Some((StatusCode::OK, body).into_response());
    }
    None
}
