'use strict';
// Compatibility test: drives a real keyhole-coordinator with the real, unmodified official Okta
// Node.js SDK (@okta/okta-sdk-nodejs, version pinned in package.json), the way an existing Okta
// client would. Run with `node --test` (see run.sh); Node 18 or newer.
//
// The coordinator serves HTTPS with a self-signed certificate. Certificate verification stays on:
// the SDK is given an https.Agent that trusts that certificate, through the SDK's documented
// extension point (a custom request executor, README "Building a Custom Request Executor").
// NODE_TLS_REJECT_UNAUTHORIZED is never touched.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

const okta = require('@okta/okta-sdk-nodejs');

const BIN = process.env.KEYHOLE_COORDINATOR_BIN ||
  path.resolve(__dirname, '../../../build/coordinator/keyhole-coordinator');
const ADMIN_LOGIN = 'admin@example.com';
const TOTAL_TIMEOUT_MS = Number(process.env.KEYHOLE_COMPAT_TIMEOUT_MS) || 60000;
const REQUEST_TIMEOUT_MS = 15000;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p)); // util-linux
const USERS_ACTIVE = 20;
const USERS_STAGED = 5;
const PAGE = 10;

// ---------------------------------------------------------------------------------------------
// The coordinator process: init + serve on a fresh temporary data directory.

class Coordinator {
  constructor() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keyhole-okta-node-'));
    this.dataDir = path.join(this.tmp, 'data');
    this.proc = null;
    this.exit = null; // {code, signal} once the server process has exited
    this.log = '';
  }

  running() { return this.proc !== null && this.exit === null; }

  init() {
    if (!fs.existsSync(BIN)) throw new Error(`coordinator binary not found: ${BIN} (set KEYHOLE_COORDINATOR_BIN)`);
    const out = execFileSync(BIN, ['init', '--data-dir', this.dataDir, '--admin-login', ADMIN_LOGIN],
      { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'] });
    const token = out.trim();
    assert.match(token, /^\S+$/, 'init prints the API token alone on stdout');
    return token;
  }

  serve() {
    return new Promise((resolve, reject) => {
      const args = ['serve', '--data-dir', this.dataDir, '--listen', '127.0.0.1:0', '--threads', '2'];
      // setpriv --pdeathsig: the server gets SIGTERM if this process dies, however it dies (the
      // test runner SIGKILLs its workers when it is itself killed, leaving no chance to clean up).
      this.proc = SETPRIV
        ? spawn(SETPRIV, ['--pdeathsig', 'TERM', '--', BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      // run.sh reaps the server through this file should this process be killed outright.
      if (this.proc.pid) fs.writeFileSync(path.join(this.tmp, 'coordinator.pid'), `${this.proc.pid}\n`);
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`coordinator did not report readiness in 20 s\n${this.log}`)), 20000);
      this.proc.stdout.setEncoding('utf8');
      this.proc.stderr.setEncoding('utf8');
      this.proc.stdout.on('data', (chunk) => {
        this.log += chunk;
        stdout += chunk;
        const m = stdout.match(/keyhole-coordinator listening on (https:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      this.proc.stderr.on('data', (chunk) => { this.log += chunk; });
      this.proc.on('error', (err) => { clearTimeout(timer); reject(err); });
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        clearTimeout(timer);
        reject(new Error(`coordinator exited early (code ${code}, signal ${signal})\n${this.log}`));
      });
    });
  }

  // SIGTERM, then SIGKILL after 10 s. Resolves to the exit status.
  stop() {
    if (!this.proc) return Promise.resolve(null);
    if (this.exit) return Promise.resolve(this.exit);
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      this.proc.once('exit', (code, signal) => {
        clearTimeout(kill);
        resolve({ code, signal });
      });
      this.proc.kill('SIGTERM');
    });
  }

  // Synchronous last resort (process 'exit' handler, watchdog).
  killNow() {
    if (this.running()) this.proc.kill('SIGKILL');
  }

  removeDir() {
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// SDK wiring.

// The SDK's DefaultRequestExecutor (429 retries included), plus an https.Agent that trusts the
// coordinator's certificate and a trace of every request the SDK sends.
class TrustingRequestExecutor extends okta.DefaultRequestExecutor {
  constructor(agent) {
    super({ requestTimeout: REQUEST_TIMEOUT_MS });
    this.agent = agent;
    this.trace = [];
    this.on('request', (r) => this.trace.push({ method: String(r.method).toUpperCase(), url: r.url }));
  }

  fetch(request) {
    request.agent = this.agent; // also wins over an HTTPS_PROXY agent: the coordinator is on loopback
    return super.fetch(request);
  }
}

function makeClient(orgUrl, token, agent) {
  const requestExecutor = new TrustingRequestExecutor(agent);
  const client = new okta.Client({ orgUrl, token, authorizationMode: 'SSWS', requestExecutor });
  return { client, trace: requestExecutor.trace };
}

// Keyhole's own extension (POST /api/v1/api-tokens mints a token; Okta has no such call, so the
// SDK has no method for it): plain HTTPS through the same trusting agent.
function mintToken(orgUrl, adminToken, agent, name) {
  const body = JSON.stringify({ name });
  return new Promise((resolve, reject) => {
    const req = https.request(new URL('/api/v1/api-tokens', orgUrl), {
      method: 'POST', agent, timeout: REQUEST_TIMEOUT_MS,
      headers: {
        Authorization: `SSWS ${adminToken}`, Accept: 'application/json',
        'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`mint token: HTTP ${res.statusCode} ${text}`));
        resolve(JSON.parse(text));
      });
    });
    req.on('timeout', () => req.destroy(new Error('mint token: timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

// Asserts that `promise` rejects with an OktaApiError carrying `status` and `errorCode`, and that
// the error object is complete (contract §3). Returns the error.
async function expectOktaError(promise, status, errorCode) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected the call to fail with ${status} ${errorCode}`);
  assert.ok(err instanceof okta.OktaApiError,
    `expected an OktaApiError, got ${err && err.name}: ${err && err.message}`);
  assert.equal(err.status, status, err.message);
  assert.equal(err.errorCode, errorCode, err.message);
  assert.equal(typeof err.errorSummary, 'string');
  assert.ok(err.errorSummary.length > 0, 'errorSummary is not empty');
  assert.equal(err.errorLink, errorCode, 'errorLink repeats errorCode');
  assert.equal(typeof err.errorId, 'string');
  assert.ok(Array.isArray(err.errorCauses), 'errorCauses is an array');
  assert.match(err.message, new RegExp(`^Okta HTTP ${status} ${errorCode} `));
  return err;
}

async function collect(collection) {
  const items = [];
  for await (const item of collection) {
    assert.ok(item, 'the collection never yields an empty item (an empty page carrying a next link would)');
    items.push(item);
  }
  return items;
}

function requestsTo(trace, from, method, pathname) {
  return trace.slice(from).filter((r) => r.method === method && new URL(r.url).pathname === pathname);
}

function profileOf(i) {
  const n = String(i).padStart(2, '0');
  return { login: `compat-user-${n}@example.com`, email: `compat-user-${n}@example.com`, firstName: `First${n}`, lastName: `Last${n}` };
}

// ---------------------------------------------------------------------------------------------

test('Okta Node SDK against a real keyhole-coordinator', { timeout: TOTAL_TIMEOUT_MS + 15000 }, async (t) => {
  const coord = new Coordinator();
  // If this process is stopped from outside (the runner dies, Ctrl-C, a CTest timeout), take the
  // coordinator and the temporary directory along.
  const onExit = () => { coord.killNow(); coord.removeDir(); };
  const onSignal = (signal) => { onExit(); process.exit(128 + os.constants.signals[signal]); };
  process.on('exit', onExit);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, onSignal);
  // Whatever hangs, the coordinator dies at the deadline, so pending requests fail and cleanup runs.
  let watchdogFired = false;
  const watchdog = setTimeout(() => { watchdogFired = true; coord.killNow(); }, TOTAL_TIMEOUT_MS);
  let agent;
  let sdkTrace;
  try {
    const adminToken = coord.init();
    const orgUrl = await coord.serve();
    const caFile = path.join(coord.dataDir, 'tls', 'coordinator.crt');
    assert.ok(fs.existsSync(caFile), `certificate at ${caFile}`);
    agent = new https.Agent({ ca: fs.readFileSync(caFile), keepAlive: true });
    const { client, trace } = makeClient(orgUrl, adminToken, agent);
    sdkTrace = trace;

    let admin;
    const active = [];
    const staged = [];

    await t.test('TLS is verified: without the CA the SDK refuses the self-signed certificate', async () => {
      const plain = new okta.Client({ orgUrl, token: adminToken, authorizationMode: 'SSWS',
        requestExecutor: new okta.DefaultRequestExecutor({ requestTimeout: REQUEST_TIMEOUT_MS }) });
      await assert.rejects(plain.userApi.getUser({ userId: 'me' }), (err) => {
        assert.equal(err.name, 'FetchError', err.message);
        assert.match(String(err.code), /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/, err.message);
        return true;
      });
    });

    await t.test('getUser me / by id / by login', async () => {
      admin = await client.userApi.getUser({ userId: 'me' });
      assert.ok(admin instanceof okta.UserGetSingleton, 'deserialized into the SDK model getUser returns');
      assert.equal(admin.profile.login, ADMIN_LOGIN);
      assert.equal(admin.status, 'ACTIVE');
      assert.ok(admin.created instanceof Date && !Number.isNaN(admin.created.getTime()), 'created parses as a Date');
      assert.equal(admin._links.self.href, `${orgUrl}/api/v1/users/${admin.id}`);
      const byId = await client.userApi.getUser({ userId: admin.id });
      assert.equal(byId.id, admin.id);
      const byLogin = await client.userApi.getUser({ userId: ADMIN_LOGIN });
      assert.equal(byLogin.id, admin.id);
    });

    await t.test(`createUser x${USERS_ACTIVE + USERS_STAGED} (activate default and activate=false)`, async () => {
      for (let i = 0; i < USERS_ACTIVE + USERS_STAGED; i++) {
        const isStaged = i >= USERS_ACTIVE;
        const param = { body: { profile: profileOf(i) } };
        if (isStaged) param.activate = false;
        const u = await client.userApi.createUser(param);
        assert.ok(u instanceof okta.User);
        assert.equal(typeof u.id, 'string');
        assert.equal(u.profile.login, profileOf(i).login);
        if (isStaged) {
          assert.equal(u.status, 'STAGED');
          staged.push(u);
        } else {
          assert.ok(['ACTIVE', 'PROVISIONED'].includes(u.status), `status after create: ${u.status}`);
          active.push(u);
        }
      }
      const ids = new Set([...active, ...staged].map((u) => u.id));
      assert.equal(ids.size, USERS_ACTIVE + USERS_STAGED, 'ids are unique');
    });

    await t.test('createUser with a duplicate login: 400 E0000001', async () => {
      await expectOktaError(client.userApi.createUser({ body: { profile: profileOf(0) } }), 400, 'E0000001');
    });

    await t.test('createUser missing required profile fields: 400 E0000001 with causes', async () => {
      const err = await expectOktaError(
        client.userApi.createUser({ body: { profile: { login: 'incomplete@example.com' } } }), 400, 'E0000001');
      assert.ok(err.errorCauses.length > 0, 'one cause per missing field');
      for (const c of err.errorCauses) assert.equal(typeof c.errorSummary, 'string');
    });

    await t.test(`listUsers limit=${PAGE}: for-await pages through Link headers, every user exactly once`, async () => {
      const from = trace.length;
      const users = await collect(await client.userApi.listUsers({ limit: PAGE }));
      const expected = [admin, ...active, ...staged].map((u) => u.id);
      const seen = new Map();
      for (const u of users) {
        assert.ok(u instanceof okta.User);
        seen.set(u.id, (seen.get(u.id) || 0) + 1);
      }
      for (const [id, n] of seen) assert.equal(n, 1, `user ${id} seen ${n} times`);
      assert.deepEqual([...seen.keys()].sort(), [...expected].sort(), 'exactly the users that exist');
      const pages = requestsTo(trace, from, 'GET', '/api/v1/users');
      assert.equal(pages.length, Math.ceil(expected.length / PAGE), `one request per page: ${pages.map((p) => p.url).join(' ')}`);
      for (const p of pages.slice(1)) {
        const u = new URL(p.url);
        assert.equal(u.origin, new URL(orgUrl).origin, 'next links point at the origin the SDK used');
        assert.equal(u.searchParams.get('limit'), String(PAGE), 'next links repeat limit');
        assert.ok(u.searchParams.get('after'), 'next links carry a cursor');
      }
    });

    await t.test('listUsers filter status eq "STAGED": paging repeats the filter; no next on an exactly full last page', async () => {
      let from = trace.length;
      const small = await collect(await client.userApi.listUsers({ filter: 'status eq "STAGED"', limit: 2 }));
      assert.deepEqual(small.map((u) => u.id).sort(), staged.map((u) => u.id).sort());
      assert.ok(small.every((u) => u.status === 'STAGED'));
      const pages = requestsTo(trace, from, 'GET', '/api/v1/users');
      assert.equal(pages.length, Math.ceil(USERS_STAGED / 2));
      for (const p of pages) assert.equal(new URL(p.url).searchParams.get('filter'), 'status eq "STAGED"');

      from = trace.length;
      const exact = await collect(await client.userApi.listUsers({ filter: 'status eq "STAGED"', limit: USERS_STAGED }));
      assert.equal(exact.length, USERS_STAGED);
      assert.equal(requestsTo(trace, from, 'GET', '/api/v1/users').length, 1,
        'a page that holds the last user carries no next link');
    });

    await t.test('listUsers q= (prefix search, no paging)', async () => {
      const found = await collect(await client.userApi.listUsers({ q: 'compat-user-1' }));
      const logins = found.map((u) => u.profile.login).sort();
      assert.deepEqual(logins, Array.from({ length: 10 }, (_, i) => profileOf(10 + i).login));
    });

    await t.test('updateUser (POST, partial) and replaceUser (PUT, object as read back)', async () => {
      const target = active[0];
      const updated = await client.userApi.updateUser({ userId: target.id, user: { profile: { firstName: 'Renamed' } } });
      assert.equal(updated.profile.firstName, 'Renamed');
      assert.equal(updated.profile.lastName, target.profile.lastName, 'partial update keeps other fields');
      const got = await client.userApi.getUser({ userId: target.id });
      assert.equal(got.profile.firstName, 'Renamed');

      // Full replace with the object the SDK read back (contract §12). The SDK serialises it as an
      // UpdateUserRequest, so the server sees profile plus the read-back credentials and type.
      got.profile.lastName = 'Replaced';
      got.profile.mobilePhone = '+1 555 0100';
      const replaced = await client.userApi.replaceUser({ userId: target.id, user: got });
      assert.equal(replaced.profile.lastName, 'Replaced');
      assert.equal(replaced.profile.mobilePhone, '+1 555 0100');
      assert.equal(replaced.profile.firstName, 'Renamed');

      // PUT drops what it does not carry.
      const bare = await client.userApi.replaceUser({ userId: target.id, user: { profile: profileOf(0) } });
      assert.equal(bare.profile.firstName, profileOf(0).firstName);
      assert.ok(bare.profile.mobilePhone === null || bare.profile.mobilePhone === undefined,
        `mobilePhone removed by PUT, got ${bare.profile.mobilePhone}`);
    });

    await t.test('lifecycle: suspend / unsuspend / deactivate / activate, with wrong-state errors', async () => {
      const u = active[1];
      const status = async () => (await client.userApi.getUser({ userId: u.id })).status;
      assert.equal(await status(), 'ACTIVE', 'precondition: a user created with activate=true is ACTIVE (Keyhole has no passwords)');

      assert.equal(await client.userApi.suspendUser({ userId: u.id }), undefined);
      assert.equal(await status(), 'SUSPENDED');
      await expectOktaError(client.userApi.suspendUser({ userId: u.id }), 400, 'E0000001');

      await client.userApi.unsuspendUser({ userId: u.id });
      assert.equal(await status(), 'ACTIVE');
      await expectOktaError(client.userApi.unsuspendUser({ userId: u.id }), 400, 'E0000001');

      await client.userApi.deactivateUser({ userId: u.id });
      assert.equal(await status(), 'DEPROVISIONED');
      const listed = await collect(await client.userApi.listUsers({ limit: 200 }));
      assert.ok(!listed.some((x) => x.id === u.id), 'default listing hides DEPROVISIONED users');
      const deprov = await collect(await client.userApi.listUsers({ filter: 'status eq "DEPROVISIONED"' }));
      assert.ok(deprov.some((x) => x.id === u.id), 'filter returns DEPROVISIONED users');

      const activation = await client.userApi.activateUser({ userId: u.id, sendEmail: false });
      assert.ok(activation !== null && typeof activation === 'object', 'activate answers a JSON object');
      assert.ok(['ACTIVE', 'PROVISIONED'].includes(await status()));

      // A STAGED user activates too.
      const s = staged[0];
      await client.userApi.activateUser({ userId: s.id, sendEmail: false });
      const after = await client.userApi.getUser({ userId: s.id });
      assert.ok(['ACTIVE', 'PROVISIONED'].includes(after.status), `after activate: ${after.status}`);
      if (after.status === 'ACTIVE') {
        await expectOktaError(client.userApi.activateUser({ userId: s.id, sendEmail: false }), 403, 'E0000016');
      }
    });

    await t.test('deleteUser: first call deactivates, second deletes; then 404 E0000007', async () => {
      const u = active[2];
      assert.equal(await client.userApi.deleteUser({ userId: u.id }), undefined);
      assert.equal((await client.userApi.getUser({ userId: u.id })).status, 'DEPROVISIONED');
      await client.userApi.deleteUser({ userId: u.id });
      await expectOktaError(client.userApi.getUser({ userId: u.id }), 404, 'E0000007');
      await expectOktaError(client.userApi.deleteUser({ userId: u.id }), 404, 'E0000007');
    });

    await t.test('errors: unknown user id is 404 E0000007 on get and lifecycle calls', async () => {
      const err = await expectOktaError(client.userApi.getUser({ userId: '00uDoesNotExist000000' }), 404, 'E0000007');
      assert.match(err.errorSummary, /^Not found/);
      await expectOktaError(client.userApi.suspendUser({ userId: '00uDoesNotExist000000' }), 404, 'E0000007');
    });

    await t.test('errors: a bad token is 401 E0000011, also on an unknown id (auth before routing)', async () => {
      const { client: bad } = makeClient(orgUrl, 'khu_not-a-real-token', agent);
      await expectOktaError(bad.userApi.getUser({ userId: 'me' }), 401, 'E0000011');
      await expectOktaError(bad.userApi.getUser({ userId: '00uDoesNotExist000000' }), 401, 'E0000011');
      await expectOktaError(collect(await bad.userApi.listUsers({ limit: 5 })), 401, 'E0000011');
      await expectOktaError(collect(await bad.apiTokenApi.listApiTokens()), 401, 'E0000011');
    });

    await t.test('apiTokenApi: list / get / revoke by id / revoke current', async () => {
      const tokens = await collect(await client.apiTokenApi.listApiTokens());
      assert.ok(tokens.length >= 1);
      for (const tk of tokens) assert.ok(tk instanceof okta.ApiToken, 'deserialized into the SDK ApiToken model');
      const mine = tokens.filter((tk) => tk.userId === admin.id);
      assert.equal(mine.length, 1, 'the caller\'s own (init) token is listed');
      const got = await client.apiTokenApi.getApiToken({ apiTokenId: mine[0].id });
      assert.equal(got.id, mine[0].id);
      assert.equal(got.name, mine[0].name);
      assert.ok(got.created instanceof Date && got.expiresAt instanceof Date);
      assert.equal(typeof got.tokenWindow, 'string');

      const a = await mintToken(orgUrl, adminToken, agent, 'compat-revoke-by-id');
      const b = await mintToken(orgUrl, adminToken, agent, 'compat-revoke-current');
      let ids = (await collect(await client.apiTokenApi.listApiTokens())).map((tk) => tk.id);
      assert.ok(ids.includes(a.id) && ids.includes(b.id), 'minted tokens are listed');

      // Revoke by id: gone from the list, its id answers 404, its secret answers 401.
      assert.equal(await client.apiTokenApi.revokeApiToken({ apiTokenId: a.id }), undefined);
      ids = (await collect(await client.apiTokenApi.listApiTokens())).map((tk) => tk.id);
      assert.ok(!ids.includes(a.id), 'a revoked token drops out of the list');
      await expectOktaError(client.apiTokenApi.getApiToken({ apiTokenId: a.id }), 404, 'E0000007');
      const { client: withA } = makeClient(orgUrl, a.token, agent);
      await expectOktaError(withA.userApi.getUser({ userId: 'me' }), 401, 'E0000011');

      // Revoke current: a client holding token b revokes itself, and is refused afterwards.
      const { client: withB } = makeClient(orgUrl, b.token, agent);
      assert.equal((await withB.userApi.getUser({ userId: 'me' })).id, admin.id);
      assert.equal(await withB.apiTokenApi.revokeCurrentApiToken(), undefined);
      await expectOktaError(withB.userApi.listUsers({ limit: 1 }).then(collect), 401, 'E0000011');
      ids = (await collect(await client.apiTokenApi.listApiTokens())).map((tk) => tk.id);
      assert.ok(!ids.includes(b.id), 'the self-revoked token drops out of the list');
      assert.ok(ids.includes(mine[0].id), 'the admin token still works and is listed');
      await expectOktaError(client.apiTokenApi.getApiToken({ apiTokenId: '00TDoesNotExist000000' }), 404, 'E0000007');
    });

    await t.test('coordinator stops cleanly on SIGTERM', async () => {
      agent.destroy();
      const st = await coord.stop();
      assert.ok(st && (st.code === 0 || st.signal === 'SIGTERM'), `exit status ${JSON.stringify(st)}`);
    });
  } finally {
    clearTimeout(watchdog);
    if (agent) agent.destroy();
    await coord.stop();
    if (watchdogFired) t.diagnostic(`watchdog: killed the coordinator after ${TOTAL_TIMEOUT_MS} ms`);
    if (process.env.KEYHOLE_COMPAT_VERBOSE) {
      t.diagnostic(coord.log);
      if (sdkTrace) t.diagnostic(sdkTrace.map((r) => `${r.method} ${r.url}`).join('\n'));
    }
    coord.removeDir();
    process.removeListener('exit', onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeListener(sig, onSignal);
    assert.ok(!watchdogFired, `the whole test must finish within ${TOTAL_TIMEOUT_MS} ms`);
  }
});
