// Storefront browsing: availability reads, mostly single SKUs that the cache holds, one in
// ten a five-SKU product-list page.
import { check } from 'k6';
import { DURATION, HOT, get, pick } from './common.js';

export const options = {
  scenarios: {
    browsing: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 2000), timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: 200, maxVUs: 1000,
    },
  },
  thresholds: {
    'http_req_duration{kind:single}': ['p(95)<5', 'p(99)<10'],
    'http_req_duration{kind:page}': ['p(95)<10', 'p(99)<20'],
    http_req_failed: ['rate<0.001'],
  },
};

export default function () {
  if (Math.random() < 0.1) {
    const skus = Array.from({ length: 5 }, () => `sku=${pick(HOT)}`).join('&');
    const r = get(`/v1/availability?${skus}`, undefined, { kind: 'page' });
    check(r, { 'page 200': (x) => x.status === 200 });
  } else {
    const r = get(`/v1/availability/${pick(HOT)}`, undefined, { kind: 'single' });
    check(r, { 'single 200': (x) => x.status === 200 });
  }
}
