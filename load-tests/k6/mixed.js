// A mixed peak: browsing, checkouts and events together, with a reconciliation sweep and
// background admin reads (audit log, outbox backlog) alongside. Under overload the gateway sheds background work
// first; the checkout thresholds must hold anyway.
import http from 'k6/http';
import { check } from 'k6';
import { ADMIN, DURATION, HOT, LOAD_SKUS, get, loadSku, order, pick, post, stockEvents } from './common.js';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409));

const rate = Number(__ENV.RATE || 1000);

export const options = {
  scenarios: {
    browsing: { executor: 'constant-arrival-rate', exec: 'browse', rate: Math.round(rate * 0.7), timeUnit: '1s',
      duration: DURATION, preAllocatedVUs: 150, maxVUs: 600 },
    checkout: { executor: 'constant-arrival-rate', exec: 'checkout', rate: Math.round(rate * 0.15), timeUnit: '1s',
      duration: DURATION, preAllocatedVUs: 100, maxVUs: 400 },
    events: { executor: 'constant-arrival-rate', exec: 'events', rate: Math.max(1, Math.round(rate * 0.02)), timeUnit: '1s',
      duration: DURATION, preAllocatedVUs: 20, maxVUs: 100 },
    reconciliation: { executor: 'constant-arrival-rate', exec: 'reconcile', rate: 4, timeUnit: '1s',
      duration: DURATION, preAllocatedVUs: 5, maxVUs: 20 },
    admin: { executor: 'constant-arrival-rate', exec: 'admin', rate: 5, timeUnit: '1s',
      duration: DURATION, preAllocatedVUs: 5, maxVUs: 20 },
  },
  thresholds: {
    'http_req_duration{scenario:browsing}': ['p(95)<10', 'p(99)<25'],
    'http_req_duration{scenario:checkout}': ['p(95)<50', 'p(99)<100'],
    'http_req_failed{scenario:checkout}': ['rate<0.001'],
    'http_req_failed{scenario:browsing}': ['rate<0.01'],
  },
};

export function browse() {
  check(get(`/v1/availability/${pick(HOT)}`), { '200': (x) => x.status === 200 });
}

export function checkout() {
  const { key, body } = order(Math.random() < 0.5 ? pick(['TEE-NVY-XL', 'TEE-WHT-M']) : loadSku(), 1);
  check(post('/v1/orders', body, { 'Idempotency-Key': key }), { 'accepted or sold out': (x) => x.status === 201 || x.status === 409 });
}

export function events() {
  check(post('/v1/events', stockEvents(10)), { '202': (x) => x.status === 202 });
}

// Reconciliation: a channel's stock sync sweeping the load SKUs in pages of 25, comparing
// Stockade's figures with what the channel publishes.
export function reconcile() {
  const page = Math.floor(Math.random() * (LOAD_SKUS / 25));
  const skus = Array.from({ length: 25 }, (_, i) => `sku=LOAD-${String(page * 25 + i).padStart(3, '0')}`).join('&');
  check(get(`/v1/availability?${skus}`), { 'page 200': (x) => x.status === 200 });
}

export function admin() {
  // Background work: a 503 `shed` answer is the gateway protecting checkout, not a failure.
  const r = Math.random() < 0.5 ? get('/v1/admin/audit?limit=100', ADMIN) : get('/v1/admin/outbox', ADMIN);
  check(r, { 'served or shed': (x) => x.status === 200 || x.status === 503 });
}
