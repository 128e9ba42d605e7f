// Users across sessions, the example contract's part for them: two cookie jars logged in
// as the same user and a third as another. POST /login rotates the id; POST /notify-user
// reaches every socket of both of the user's sessions and none of the other's; GET
// /sessions lists both under handles that are not session ids; DELETE /sessions/<handle>
// signs one device out; POST /logout-everywhere signs all out; an expired session leaves
// the list.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startServer,
  HttpClient,
  newSession,
  Clients,
  TRANSPORTS,
  waitForEvent,
  waitForDisconnect,
  waitForUpgrade,
  sleep,
  COOKIE_NAME,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { loginAs, notifyUser, listSessions, assertHandlesAreNotIds, assertReached } from "./users.mjs";

/** How long "no event arrives" is watched for. */
const QUIET_MS = 300;

/** What every socket of a logged-out session must see: the server's disconnect, no reconnect. */
async function assertKicked(socket, label) {
  const { reason } = await waitForDisconnect(socket, { label });
  assert.equal(reason, "io server disconnect", `${label}: disconnect reason`);
  await sleep(QUIET_MS);
  assert.equal(socket.connected, false, `${label} reconnected`);
}

describe("Users across sessions", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startServer();
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  /** Sockets of `jar`, one per transport given (polling ones upgraded). */
  async function sockets(jar, transports = TRANSPORTS) {
    const socks = [];
    for (const transport of transports) {
      const s = await clients.connect(server.socket, { transport, cookie: jar.cookie });
      if (transport.name === "polling+upgrade") await waitForUpgrade(s);
      socks.push(s);
    }
    return socks;
  }

  test("POST /login answers 204 with a new cookie; the old cookie is refused on HTTP and at the handshake", async () => {
    const { client, before: old } = await loginAs(server.http, "ada");
    const err = await clients.connectError(server.socket, { cookie: `${COOKIE_NAME}=${old}` });
    assert.equal(err.message, "invalid session");
    await clients.connect(server.socket, { cookie: client.cookie });
    assert.equal(await client.incr(), 1, "the session after login is not a working one");
  });

  test("POST /login without the user field, or with an empty one, is 400 and logs nobody in", async () => {
    const jar = await newSession(server.http);
    for (const body of ["", "user="]) {
      const r = await jar.post("/login", {
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      assert.equal(r.status, 400, `POST /login with ${JSON.stringify(body)} answered ${r.status}: ${r.body}`);
    }
    const r = await jar.get("/sessions");
    assert.equal(r.status, 401, `GET /sessions of a session not logged in answered ${r.status}`);
  });

  test("the user routes need a login: 401 without one", async () => {
    const jar = await newSession(server.http);
    for (const [method, path] of [
      ["POST", "/notify-user"],
      ["GET", "/sessions"],
      ["POST", "/logout-everywhere"],
      ["DELETE", "/sessions/abc"],
    ]) {
      const r = await jar.send(method, path, { body: method === "GET" ? undefined : "x" });
      assert.equal(r.status, 401, `${method} ${path} answered ${r.status}: ${r.body}`);
    }
  });

  test("POST /notify-user reaches every socket of both of the user's sessions (both transports) and none of another user's", async () => {
    const user = `ada-${Date.now()}`;
    const { client: phone } = await loginAs(server.http, user);
    const { client: laptop } = await loginAs(server.http, user);
    const { client: other } = await loginAs(server.http, `bob-${Date.now()}`);
    const mine = [...(await sockets(phone)), ...(await sockets(laptop, TRANSPORTS.slice(0, 1)))];
    const [theirs] = await sockets(other, TRANSPORTS.slice(0, 1));

    assertReached(await notifyUser(laptop, "hello, ada"), 3);
    for (const [i, s] of mine.entries()) {
      const [text] = await waitForEvent(s, "user message", { label: `(socket ${i})` });
      assert.equal(text, "hello, ada");
    }
    await sleep(QUIET_MS);
    assert.deepEqual(
      theirs.received.filter((e) => e.event === "user message"),
      [],
      "another user's socket got the message",
    );
    // A session's own notify stays with the session.
    assert.equal(await phone.incr(), 1);
    const [n] = await waitForEvent(mine[0], "current count");
    assert.equal(n, 1);
    await sleep(QUIET_MS);
    assert.equal(mine[2].received.filter((e) => e.event === "current count").length, 0);
  });

  test("GET /sessions lists both of the user's sessions with handles that are not session ids, their client and sockets", async () => {
    const user = `ada-${Date.now()}`;
    const { client: phone } = await loginAs(server.http, user, { userAgent: "phone-browser/1.0" });
    const { client: laptop } = await loginAs(server.http, user, { userAgent: "laptop-browser/2.0" });
    // Before any socket: each entry shows the client of its login.
    const atLogin = await listSessions(laptop);
    assert.deepEqual(
      atLogin.map((e) => e.userAgent).sort(),
      ["laptop-browser/2.0", "phone-browser/1.0"],
      JSON.stringify(atLogin),
    );
    assert.deepEqual(atLogin.map((e) => e.sockets), [0, 0]);
    await sockets(phone);
    await sockets(laptop, TRANSPORTS.slice(0, 1));
    const list = await listSessions(laptop);
    assert.equal(list.length, 2, `GET /sessions: ${JSON.stringify(list)}`);
    assertHandlesAreNotIds(list, [phone, laptop]);
    assert.notEqual(list[0].handle, list[1].handle);
    assert.deepEqual(list.map((e) => e.handle).sort(), atLogin.map((e) => e.handle).sort(), "handles changed");
    for (const entry of list) {
      assert.equal(typeof entry.createdAt, "number");
      assert.equal(typeof entry.lastSeen, "number");
      assert.ok(entry.createdAt <= Date.now() + 1_000 && entry.createdAt > Date.now() - 60_000, JSON.stringify(entry));
      assert.ok(entry.lastSeen >= entry.createdAt - 1_000, JSON.stringify(entry));
      assert.equal(entry.address, "127.0.0.1", JSON.stringify(entry));
    }
    assert.deepEqual(list.map((e) => e.sockets).sort(), [1, 2], JSON.stringify(list));
    // The same list from the other session, and none of it from another user's.
    assert.deepEqual((await listSessions(phone)).map((e) => e.handle).sort(), list.map((e) => e.handle).sort());
    const { client: other } = await loginAs(server.http, `bob-${Date.now()}`);
    const theirs = await listSessions(other);
    assert.equal(theirs.length, 1);
    assert.ok(!list.some((e) => e.handle === theirs[0].handle));
  });

  test("DELETE /sessions/<handle> signs out that device: its sockets are kicked and its cookie refused; the other session keeps working", async () => {
    const user = `ada-${Date.now()}`;
    const { client: phone } = await loginAs(server.http, user);
    const { client: laptop } = await loginAs(server.http, user);
    const phoneSockets = await sockets(phone);
    const [laptopSocket] = await sockets(laptop, TRANSPORTS.slice(0, 1));
    const list = await listSessions(laptop);
    const phoneEntry = list.find((e) => e.sockets === 2);
    assert.ok(phoneEntry, JSON.stringify(list));

    // Another user's handle names nothing of this user's.
    const { client: other } = await loginAs(server.http, `bob-${Date.now()}`);
    const foreign = await other.send("DELETE", `/sessions/${encodeURIComponent(phoneEntry.handle)}`);
    assert.equal(foreign.status, 404, `another user's DELETE answered ${foreign.status}`);

    const r = await laptop.send("DELETE", `/sessions/${encodeURIComponent(phoneEntry.handle)}`);
    assert.equal(r.status, 204, `DELETE /sessions/<handle> answered ${r.status}: ${r.body}`);
    await Promise.all(phoneSockets.map((s, i) => assertKicked(s, `phone socket ${i}`)));
    const refused = await phone.post("/incr");
    assert.equal(refused.status, 401);
    const err = await clients.connectError(server.socket, { cookie: phone.cookie });
    assert.equal(err.message, "invalid session");

    assert.equal(laptopSocket.connected, true, "the laptop's socket was kicked too");
    assert.equal(await laptop.incr(), 1);
    assert.equal((await listSessions(laptop)).length, 1);
    assertReached(await notifyUser(laptop, "still here"), 1);
    await waitForEvent(laptopSocket, "user message", { pred: (t) => t === "still here" });
  });

  test("POST /logout-everywhere disconnects every socket of the user with io server disconnect and refuses both cookies; another user is untouched", async () => {
    const user = `ada-${Date.now()}`;
    const { client: phone } = await loginAs(server.http, user);
    const { client: laptop } = await loginAs(server.http, user);
    const { client: other } = await loginAs(server.http, `bob-${Date.now()}`);
    const mine = [...(await sockets(phone)), ...(await sockets(laptop))];
    const [theirs] = await sockets(other, TRANSPORTS.slice(0, 1));

    const r = await laptop.post("/logout-everywhere");
    assert.equal(r.status, 200, `POST /logout-everywhere answered ${r.status}: ${r.body}`);
    assert.equal(Number(r.body), 2);
    await Promise.all(mine.map((s, i) => assertKicked(s, `socket ${i}`)));
    for (const [name, jar] of [["phone", phone], ["laptop", laptop]]) {
      const refused = await new HttpClient(server.http, jar.cookieValue).post("/incr");
      assert.equal(refused.status, 401, `${name}'s cookie after logout-everywhere: ${refused.status}`);
      const err = await clients.connectError(server.socket, { cookie: `${COOKIE_NAME}=${jar.cookieValue}` });
      assert.equal(err.message, "invalid session", `${name}'s cookie at the handshake`);
    }
    assert.equal(theirs.connected, true, "another user's socket was kicked");
    assertReached(await notifyUser(other, "fine"), 1);
  });

  test("POST /logout of one of the user's sessions takes it out of the list; the other stays", async () => {
    const user = `ada-${Date.now()}`;
    const { client: phone } = await loginAs(server.http, user);
    const { client: laptop } = await loginAs(server.http, user);
    const before = (await listSessions(laptop)).map((e) => e.handle);
    assert.equal(before.length, 2);
    const r = await phone.post("/logout");
    assert.equal(r.status, 204, `POST /logout answered ${r.status}`);
    const list = await listSessions(laptop);
    assert.equal(list.length, 1, `GET /sessions after one logout: ${JSON.stringify(list)}`);
    assert.ok(before.includes(list[0].handle), "the remaining session has a new handle");
    assertReached(await notifyUser(laptop, "one left"), 0);
  });

  test("after one of the user's sessions expires the list shows one", async (t) => {
    const ttlMs = 1_500;
    const short = await startServer({ ttlMs, t });
    const user = `ada-${Date.now()}`;
    const { client: idle } = await loginAs(short.http, user);
    const { client: active } = await loginAs(short.http, user);
    assert.equal((await listSessions(active)).length, 2);
    const until = Date.now() + ttlMs + 500;
    while (Date.now() < until) {
      await active.incr();
      await sleep(250);
    }
    const list = await listSessions(active);
    assert.equal(list.length, 1, `GET /sessions after one expired: ${JSON.stringify(list)}`);
    const refused = await idle.post("/incr");
    assert.equal(refused.status, 401);
  });
});
