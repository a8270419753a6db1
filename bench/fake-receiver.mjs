// The receiver for bench:deliver, in a process of its own so that it does not share an event
// loop with the worker or the load client: the fake provider server (its custom endpoint, which
// still checks every signature) plus a small control server on PORT:
//   GET  /readyz      200 once the fake listens
//   GET  /connection  the custom connection to the fake (base URL, credentials)
//   GET  /stats       what the custom endpoint answered since start or the last reset
//   POST /reset       zeroes the counts
//
// Counting: the fake runs with `record: false` (its benchmark mode: nothing kept per request)
// and is not changed; each answer is seen on Node's built-in diagnostics channel
// `http.server.response.finish`, which costs one callback per request. The fake answers
// synchronously once the body has arrived, so the answer's time is the message's arrival time.
// To measure what counting costs: RECEIVER_COUNT=0 leaves the channel unsubscribed (no counts),
// RECEIVER_RECORD=1 runs the fake with `record: true` (every request kept) as well.
import { subscribe } from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import testing from '../packages/testing/dist/index.js';

const fake = await testing.startFakeProviders({ record: process.env.RECEIVER_RECORD === '1' });
const connection = fake.connectionFor('custom');

let stats;
function reset() {
  stats = { ok: 0, other: 0, firstAt: null, lastAt: null, keys: new Set() };
}
reset();

const control = createServer((req, res) => {
  const answer = (body) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'POST' && req.url === '/reset') {
    reset();
    if (process.env.RECEIVER_RECORD === '1') fake.reset();
    return answer({ reset: true });
  }
  switch (req.url) {
    case '/readyz':
      return answer({ status: 'ready' });
    case '/connection':
      return answer(connection);
    case '/stats': {
      const { keys, ...counts } = stats;
      return answer({ ...counts, distinctKeys: keys.size });
    }
    default:
      res.writeHead(404).end();
  }
});

const count = ({ request, response, server }) => {
  if (server === control) return;
  const now = Date.now();
  if (response.statusCode !== 200 || !request.url.startsWith('/custom/')) {
    stats.other++;
    return;
  }
  stats.ok++;
  stats.firstAt ??= now;
  stats.lastAt = now;
  const key = request.headers['idempotency-key'];
  if (typeof key === 'string') stats.keys.add(key);
};
if (process.env.RECEIVER_COUNT !== '0') subscribe('http.server.response.finish', count);

control.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  control.close();
  fake.close().then(() => process.exit(0));
});
