// A checkout burst: order acceptance with idempotency keys, most buyers fighting over a
// few scarce SKUs (409 insufficient-stock is a correct answer, not a failure), some
// retrying their own request (a replay, not a second order).
import http from 'k6/http';
import { check } from 'k6';
import { DURATION, loadSku, order, pick, post } from './common.js';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409));

export const options = {
  scenarios: {
    checkout: {
      executor: 'ramping-arrival-rate',
      startRate: 10, timeUnit: '1s', preAllocatedVUs: 200, maxVUs: 1000,
      stages: [
        { target: Number(__ENV.RATE || 300), duration: '30s' },
        { target: Number(__ENV.RATE || 300), duration: DURATION },
        { target: 0, duration: '15s' },
      ],
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<25', 'p(99)<50'],
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
  },
};

export default function () {
  const sku = Math.random() < 0.7 ? pick(['TEE-NVY-XL', 'TEE-WHT-M', 'HOODIE-BLK-M']) : loadSku();
  const { key, body } = order(sku, 1 + Math.floor(Math.random() * 2));
  const r = post('/v1/orders', body, { 'Idempotency-Key': key });
  check(r, { 'accepted or sold out': (x) => x.status === 201 || x.status === 409 });
  if (r.status === 201 && Math.random() < 0.1) {
    const again = post('/v1/orders', body, { 'Idempotency-Key': key });
    check(again, { 'retry replays': (x) => x.status === 201 && x.headers['Idempotent-Replayed'] === 'true' });
  }
}
