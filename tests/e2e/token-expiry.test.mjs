// Tokens (`GET /token`, passed as `auth.token`) end where they expire. Finding 5 of the
// security review: a token's expiry was checked at the handshake only, and every event of
// its socket extended the session, so a socket that connected with a 60 s token was still
// connected, and keeping a 4 s session alive, after 70 s. A token-admitted socket is told
// "session expired" and disconnected by the server at the token's expiry, and its events
// never extend the session past it.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  newSession,
  Clients,
  TRANSPORTS,
  waitForEvent,
  waitForDisconnect,
  waitForUpgrade,
  sleep,
  now,
  SUITE_TIMEOUT_MS,
} from "./harness.mjs";

const SESSION_TTL_MS = 3_000;
const TOKEN_TTL_MS = 1_500;
const MAX_LATE_MS = 1_000;
const MAX_EARLY_MS = 50;
/** How often the token socket sends "incr": each one is activity on the session. */
const EVENT_EVERY_MS = 200;

describe(`finding 5: tokens outlive their expiry (SESSION_TTL_MS=${SESSION_TTL_MS}, TOKEN_TTL_MS=${TOKEN_TTL_MS})`, { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer({ ttlMs: SESSION_TTL_MS, env: { TOKEN_TTL_MS: String(TOKEN_TTL_MS) } });
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  /** Waits for "session expired" then the server's disconnect; answers the disconnect's instant. */
  async function toldAndDisconnected(sock, expectedAt, label) {
    const timeout = expectedAt + MAX_LATE_MS + 3_000 - now();
    const [{ reason, at }] = await Promise.all([
      waitForDisconnect(sock, { timeout, label }),
      waitForEvent(sock, "session expired", { timeout, label }),
    ]);
    assert.equal(reason, "io server disconnect", `${label}: disconnect reason`);
    return at;
  }

  for (const transport of TRANSPORTS) {
    test(`finding 5: a token socket sending events is told "session expired" and disconnected at the token's expiry, and its events do not keep the session alive [${transport.name}]`, async () => {
      const s = await newSession(server.http);
      // An idle cookie socket of the same session shows when the session itself expires.
      const bystander = await clients.connect(server.socket, { transport, cookie: s.cookie });
      if (transport.name === "polling+upgrade") await waitForUpgrade(bystander);
      // The session's last HTTP request, and the token's issue.
      const r = await s.get("/token");
      assert.equal(r.status, 200, `GET /token answered ${r.status} ${r.body}`);
      const token = r.body.trim();
      const tokenExpiresAt = r.at + TOKEN_TTL_MS;
      const sessionExpiresAt = r.at + SESSION_TTL_MS;

      const holder = await clients.connect(server.socket, { transport, token });
      const acks = [];
      const pumping = (async () => {
        while (holder.connected && now() < tokenExpiresAt + MAX_LATE_MS + 3_000) {
          try {
            acks.push(await holder.timeout(2_000).emitWithAck("incr"));
          } catch {
            // no ack: the socket is being disconnected
          }
          await sleep(EVENT_EVERY_MS);
        }
      })();

      const holderGone = await toldAndDisconnected(holder, tokenExpiresAt, "token socket, expected at the token's expiry");
      await pumping;
      const counted = acks.filter((a) => typeof a === "number");
      assert.ok(counted.length >= 3, `the token socket's events worked until then (acks: ${JSON.stringify(acks)})`);
      assert.ok(
        holderGone <= tokenExpiresAt + MAX_LATE_MS,
        `the token socket was disconnected ${(holderGone - tokenExpiresAt).toFixed(0)} ms after its token expired (max ${MAX_LATE_MS})`,
      );
      assert.ok(
        holderGone >= r.startedAt + TOKEN_TTL_MS - MAX_EARLY_MS,
        `the token socket was disconnected ${(r.startedAt + TOKEN_TTL_MS - holderGone).toFixed(0)} ms before its token expired`,
      );
      // The token socket's events did not extend the session: it expires SESSION_TTL_MS
      // after its last HTTP request, and its cookie socket is told so.
      const bystanderGone = await toldAndDisconnected(bystander, sessionExpiresAt, "cookie socket, expected at the session's expiry");
      assert.ok(
        bystanderGone <= sessionExpiresAt + MAX_LATE_MS,
        `the session expired ${(bystanderGone - sessionExpiresAt).toFixed(0)} ms after its last HTTP request + TTL: the token socket's events kept it alive`,
      );
      const after = await s.get("/");
      assert.equal(after.status, 401, `GET / after the expiry answered ${after.status} ${after.body}`);
    });
  }
});
