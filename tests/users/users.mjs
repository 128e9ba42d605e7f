// Helpers for the users-across-sessions part of the example contract (POST /login,
// POST /notify-user, GET /sessions, DELETE /sessions/<handle>, POST /logout-everywhere),
// shared by tests/users/ and tests/cluster/.
import assert from "node:assert/strict";
import { HttpClient, newSession, newSessionCookies, splitCookieValue } from "../e2e/harness.mjs";

const FORM = { "content-type": "application/x-www-form-urlencoded" };

/**
 * A new session (GET / on `base`) logged in as `user` with POST /login, checked: 204, a
 * new cookie, the old one refused on HTTP. `userAgent` is sent with the login.
 *
 * @returns {Promise<{client: HttpClient, before: string}>} the client (holding the new
 *   cookie) and the cookie value it had before the login
 */
export async function loginAs(base, user, { userAgent } = {}) {
  const client = await newSession(base);
  const before = client.cookieValue;
  const headers = { ...FORM, ...(userAgent ? { "user-agent": userAgent } : {}) };
  const r = await client.post("/login", { headers, body: `user=${encodeURIComponent(user)}` });
  assert.equal(r.status, 204, `POST /login answered ${r.status}: ${r.body}`);
  const fresh = newSessionCookies(r, before);
  assert.equal(fresh.length, 1, `POST /login set no new cookie: ${r.res.headers.getSetCookie()}`);
  assert.notEqual(client.cookieValue, before, "POST /login kept the session id");
  const old = await new HttpClient(base, before).post("/incr");
  assert.equal(old.status, 401, `the cookie before login still works (${old.status}: ${old.body})`);
  assert.equal(old.body, "invalid session");
  return { client, before };
}

/**
 * How many processes serve the example (SESSIONIO_PROCESSES, set by the test command for
 * its multi-worker launchers; 1 by default).
 */
export const PROCESSES = Number(process.env.SESSIONIO_PROCESSES ?? 1);

/**
 * Checks the answer of POST /notify-user against the `expected` sockets of the user. The
 * examples answer how many sockets the answering process reached (the engine's count is
 * per process, as README says): with several processes that is its share, so never more;
 * that every socket got the message is checked by the caller on the sockets themselves.
 */
export function assertReached(reached, expected) {
  if (PROCESSES > 1) {
    assert.ok(reached >= 0 && reached <= expected, `POST /notify-user reached ${reached} on one of ${PROCESSES} processes, of ${expected} sockets`);
  } else {
    assert.equal(reached, expected, "POST /notify-user: sockets reached");
  }
}

/** POST /notify-user with `text` as the body; answers the sockets reached (a number). */
export async function notifyUser(client, text) {
  const r = await client.post("/notify-user", { headers: { "content-type": "text/plain" }, body: text });
  assert.equal(r.status, 200, `POST /notify-user answered ${r.status}: ${r.body}`);
  return Number(r.body);
}

/** GET /sessions, parsed. */
export async function listSessions(client) {
  const r = await client.get("/sessions");
  assert.equal(r.status, 200, `GET /sessions answered ${r.status}: ${r.body}`);
  assert.match(r.res.headers.get("content-type") ?? "", /^application\/json\b/i);
  const list = JSON.parse(r.body);
  assert.ok(Array.isArray(list), `GET /sessions is not an array: ${r.body}`);
  return list;
}

/** Asserts that no entry of `list` shows a session id of `clients`, nor has a handle inside one. */
export function assertHandlesAreNotIds(list, clients) {
  const ids = clients.map((c) => splitCookieValue(c.cookieValue).id);
  for (const entry of list) {
    assert.equal(typeof entry.handle, "string");
    assert.ok(entry.handle.length >= 16, `a handle of ${entry.handle.length} characters`);
    const shown = JSON.stringify(entry);
    for (const id of ids) {
      assert.ok(
        !shown.includes(id) && !id.includes(entry.handle),
        `the session id ${id} shows in the list entry ${shown}`,
      );
    }
  }
}
