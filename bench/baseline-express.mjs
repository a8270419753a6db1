// The baseline for bench:ingress: a bare Express 5 JSON route, no database, no Redis.
// Any process answering GET /readyz works with bench/support.mjs's startProcess.
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.get('/readyz', (_req, res) => res.json({ status: 'ready' }));
app.post('/hooks/:token', express.json(), (req, res) => {
  res.json({
    status: 'scheduled',
    trigger_id: '00000000-0000-0000-0000-000000000000',
    broadcast_id: req.params.token,
    scheduled_for: new Date().toISOString(),
  });
});
app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
