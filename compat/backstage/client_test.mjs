// Drives a running Herald server through Backstage's own published clients:
// NotificationsClient (@backstage/plugin-notifications), SignalClient
// (@backstage/plugin-signals) and DefaultNotificationService
// (@backstage/plugin-notifications-node), imported from their dist files.
//
// Environment (run.sh sets it):
//   HERALD_URL            e.g. http://127.0.0.1:7007 (no trailing slash)
//   BACKSTAGE_CLIENTS     the scratch dir whose node_modules holds the clients
//   HERALD_SERVICE_TOKEN  a -service-token whose subject is HERALD_ORIGIN
//   HERALD_ORIGIN         that subject (default plugin:compat)
//   HERALD_USER_TOKEN     a -user-token for HERALD_USER (default u1)
//   HERALD_USER           user:default/alice
//   HERALD_OTHER_TOKEN    a -user-token for another user (default u2)
//
// Node 20 needs --experimental-websocket (global WebSocket, which SignalClient
// uses) and --experimental-detect-module (the .esm.js dist files ship in
// packages without "type": "module").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const HERALD_URL = env('HERALD_URL');
const CLIENTS = env('BACKSTAGE_CLIENTS');
const SERVICE_TOKEN = env('HERALD_SERVICE_TOKEN');
const ORIGIN = env('HERALD_ORIGIN', 'plugin:compat');
const USER_TOKEN = env('HERALD_USER_TOKEN', 'u1');
const USER = env('HERALD_USER', 'user:default/alice');
const OTHER_TOKEN = env('HERALD_OTHER_TOKEN', 'u2');

const mod = p => path.join(CLIENTS, 'node_modules', p);
const { NotificationsClient } = await import(
  pathToFileURL(mod('@backstage/plugin-notifications/dist/api/NotificationsClient.esm.js')).href
);
const { SignalClient } = await import(
  pathToFileURL(mod('@backstage/plugin-signals/dist/api/SignalClient.esm.js')).href
);
const { DefaultNotificationService } = createRequire(import.meta.url)(
  mod('@backstage/plugin-notifications-node/dist/service/DefaultNotificationService.cjs.js'),
);

const baseUrls = {
  notifications: `${HERALD_URL}/api/notifications`,
  signals: `${HERALD_URL}/api/signals`,
};
const discoveryApi = {
  getBaseUrl: async pluginId => {
    assert.ok(baseUrls[pluginId], `unexpected plugin ${pluginId}`);
    return baseUrls[pluginId];
  },
};

// The frontend client as the brief wires it: the fetchApi adds the token.
function notificationsClient(token) {
  return new NotificationsClient({
    discoveryApi,
    fetchApi: {
      fetch: (url, init) =>
        fetch(url, { ...init, headers: { ...init?.headers, Authorization: `Bearer ${token}` } }),
    },
  });
}

// The backend-to-backend client; the auth service hands out the static
// service token.
const notificationService = DefaultNotificationService.create({
  discovery: discoveryApi,
  auth: {
    getOwnServiceCredentials: async () => ({ $$type: '@backstage/BackstageCredentials', principal: { type: 'service', subject: ORIGIN } }),
    getPluginRequestToken: async ({ targetPluginId }) => {
      assert.equal(targetPluginId, 'notifications');
      return { token: SERVICE_TOKEN };
    },
  },
});

const alice = notificationsClient(USER_TOKEN);
const bob = notificationsClient(OTHER_TOKEN);

// Signals received by Alice's SignalClient on the "notifications" channel.
const signals = [];
const signalWaiters = [];
let signalClient;
let subscription;

function onSignal(message) {
  signals.push(message);
  for (const w of [...signalWaiters]) {
    if (w.pred(message)) {
      signalWaiters.splice(signalWaiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(message);
    }
  }
}

function waitForSignal(pred, what, ms = 5000) {
  const seen = signals.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const w = { pred, resolve };
    w.timer = setTimeout(() => {
      signalWaiters.splice(signalWaiters.indexOf(w), 1);
      reject(new Error(`no ${what} signal within ${ms}ms; got ${JSON.stringify(signals)}`));
    }, ms);
    signalWaiters.push(w);
  });
}

const BROADCAST = {
  recipients: { type: 'broadcast' },
  payload: {
    title: 'Title of broadcast message',
    link: 'http://foo.com/bar',
    severity: 'high',
    topic: 'The topic',
  },
};
const ENTITY = {
  recipients: { type: 'entity', entityRef: USER },
  payload: {
    title: 'Build failed on main',
    description: 'The compat pipeline is red',
    link: '/catalog/default/component/herald',
    severity: 'normal',
    topic: 'ci',
    metadata: { run: 42 },
  },
};

let broadcastId;
let entityId;
let startedAt;

before(async () => {
  signalClient = SignalClient.create({
    identity: { getCredentials: async () => ({ token: USER_TOKEN }) },
    discoveryApi,
    connectTimeout: 3000,
  });
  subscription = signalClient.subscribe('notifications', onSignal);
  // subscribe() connects in the background: wait for the socket to open
  // and the subscribe frame to go out before anything is sent.
  for (let i = 0; i < 50 && !(signalClient.ws?.readyState === WebSocket.OPEN && signalClient.subscribedChannels.has('notifications')); i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  assert.equal(signalClient.ws?.readyState, WebSocket.OPEN, 'SignalClient did not connect to /api/signals');
  // The server handles the subscribe frame asynchronously; give it a beat.
  await new Promise(r => setTimeout(r, 200));
  startedAt = new Date(Date.now() - 1000);
});

after(() => {
  subscription?.unsubscribe();
});

test('DefaultNotificationService.send: the README broadcast', async () => {
  await notificationService.send(BROADCAST);
});

test('SignalClient receives new_notification for the broadcast', async () => {
  const sig = await waitForSignal(m => m?.action === 'new_notification', 'new_notification');
  assert.equal(typeof sig.notification_id, 'string');
  broadcastId = sig.notification_id;
});

test('DefaultNotificationService.send: an entity notification', async () => {
  await notificationService.send(ENTITY);
  const sig = await waitForSignal(
    m => m?.action === 'new_notification' && m.notification_id !== broadcastId,
    'second new_notification',
  );
  entityId = sig.notification_id;
});

test('POST / answers the sent notifications as a JSON array (Backstage router)', async () => {
  // DefaultNotificationService ignores the body; check what it would get.
  const res = await fetch(baseUrls.notifications, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${SERVICE_TOKEN}` },
    body: JSON.stringify({ recipients: { type: 'entity', entityRef: 'user:default/carol' }, payload: { title: 'For Carol' } }),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.ok(Array.isArray(body), `expected an array, got ${JSON.stringify(body)}`);
  assert.equal(body.length, 1);
  assert.equal(body[0].user, 'user:default/carol');
  assert.equal(body[0].origin, ORIGIN);
  assert.equal(body[0].payload.title, 'For Carol');
});

test('send with an invalid payload is refused with 400 (DefaultNotificationService throws)', async () => {
  await assert.rejects(
    notificationService.send({ recipients: { type: 'broadcast' }, payload: { title: '' } }),
    /Failed to send notifications: Error: Request failed with status 400/,
  );
});

test('getNotifications: both, newest first, Backstage shape', async () => {
  const res = await alice.getNotifications();
  assert.equal(res.totalCount, 2);
  assert.deepEqual(res.notifications.map(n => n.id), [entityId, broadcastId]);
  const [e, b] = res.notifications;
  assert.equal(b.user, null, 'a broadcast has user null');
  assert.equal(e.user, USER);
  for (const n of [e, b]) {
    assert.equal(n.origin, ORIGIN);
    assert.ok(!Number.isNaN(Date.parse(n.created)), `created ${n.created} is a date`);
    assert.ok(new Date(n.created) >= startedAt);
    assert.ok(!n.read && !n.saved, 'unread and unsaved');
  }
  assert.deepEqual(
    { title: b.payload.title, link: b.payload.link, severity: b.payload.severity, topic: b.payload.topic },
    BROADCAST.payload,
  );
  assert.equal(e.payload.title, ENTITY.payload.title);
  assert.equal(e.payload.description, ENTITY.payload.description);
  assert.equal(e.payload.link, ENTITY.payload.link);
  assert.equal(e.payload.severity, 'normal');
  assert.equal(e.payload.topic, 'ci');
  assert.deepEqual(e.payload.metadata, { run: 42 });
});

test('getNotifications: another user sees the broadcast only', async () => {
  const res = await bob.getNotifications();
  assert.equal(res.totalCount, 1);
  assert.deepEqual(res.notifications.map(n => n.id), [broadcastId]);
});

test('getNotifications: paging with limit and offset, totalCount unchanged', async () => {
  const p1 = await alice.getNotifications({ limit: 1, offset: 0 });
  const p2 = await alice.getNotifications({ limit: 1, offset: 1 });
  const p3 = await alice.getNotifications({ limit: 1, offset: 2 });
  assert.equal(p1.totalCount, 2);
  assert.equal(p2.totalCount, 2);
  assert.deepEqual(p1.notifications.map(n => n.id), [entityId]);
  assert.deepEqual(p2.notifications.map(n => n.id), [broadcastId]);
  assert.deepEqual(p3.notifications, []);
});

test('getNotifications: sort and sortOrder (orderField=field,order)', async () => {
  const asc = await alice.getNotifications({ sort: 'created', sortOrder: 'asc' });
  assert.deepEqual(asc.notifications.map(n => n.id), [broadcastId, entityId]);
  const desc = await alice.getNotifications({ sort: 'created' });
  assert.deepEqual(desc.notifications.map(n => n.id), [entityId, broadcastId]);
  const byTopic = await alice.getNotifications({ sort: 'topic', sortOrder: 'asc' });
  // "The topic" < "ci" in byte order; case-insensitively "ci" < "The topic".
  assert.equal(byTopic.totalCount, 2);
  const byTitle = await alice.getNotifications({ sort: 'title', sortOrder: 'asc' });
  assert.deepEqual(byTitle.notifications.map(n => n.id), [entityId, broadcastId]);
  const byOrigin = await alice.getNotifications({ sort: 'origin', sortOrder: 'desc' });
  assert.equal(byOrigin.totalCount, 2);
});

test('getNotifications: search, topic, minimumSeverity, createdAfter filters', async () => {
  const search = await alice.getNotifications({ search: 'broadcast' });
  assert.deepEqual(search.notifications.map(n => n.id), [broadcastId]);
  assert.equal(search.totalCount, 1);
  const searchDesc = await alice.getNotifications({ search: 'pipeline' });
  assert.deepEqual(searchDesc.notifications.map(n => n.id), [entityId]);
  const topic = await alice.getNotifications({ topic: 'The topic' });
  assert.deepEqual(topic.notifications.map(n => n.id), [broadcastId]);
  const high = await alice.getNotifications({ minimumSeverity: 'high' });
  assert.deepEqual(high.notifications.map(n => n.id), [broadcastId]);
  const low = await alice.getNotifications({ minimumSeverity: 'low' });
  assert.equal(low.totalCount, 2);
  const after = await alice.getNotifications({ createdAfter: startedAt });
  assert.equal(after.totalCount, 2);
  const future = await alice.getNotifications({ createdAfter: new Date(Date.now() + 3600_000) });
  assert.equal(future.totalCount, 0);
  assert.deepEqual(future.notifications, []);
});

test('getNotification: by id equals the listed item', async () => {
  const list = await alice.getNotifications();
  for (const id of [broadcastId, entityId]) {
    const n = await alice.getNotification(id);
    assert.deepEqual(n, list.notifications.find(x => x.id === id));
  }
});

test('getNotification: unknown id and another user\'s id reject with a 404 ResponseError', async () => {
  for (const [client, id] of [[alice, '00000000-0000-4000-8000-000000000000'], [bob, null]]) {
    await assert.rejects(client.getNotification(id ?? entityId), err => {
      assert.equal(err.name, 'ResponseError');
      assert.equal(err.statusCode, 404);
      assert.equal(err.body?.error?.name, 'NotFoundError');
      return true;
    });
  }
});

test('getStatus: two unread', async () => {
  // Herald's status adds unseen, which Backstage's client passes through.
  assert.deepEqual(await alice.getStatus(), { unread: 2, read: 0, unseen: 2 });
  assert.deepEqual(await bob.getStatus(), { unread: 1, read: 0, unseen: 1 });
});

test('updateNotifications: read, with a notification_read signal', async () => {
  const updated = await alice.updateNotifications({ ids: [entityId], read: true });
  assert.ok(Array.isArray(updated));
  assert.equal(updated.length, 1);
  assert.equal(updated[0].id, entityId);
  assert.ok(!Number.isNaN(Date.parse(updated[0].read)), `read ${updated[0].read} is a date`);
  const sig = await waitForSignal(m => m?.action === 'notification_read', 'notification_read');
  assert.deepEqual(sig.notification_ids, [entityId]);
  assert.deepEqual(await alice.getStatus(), { unread: 1, read: 1, unseen: 1 });
  const read = await alice.getNotifications({ read: true });
  assert.deepEqual(read.notifications.map(n => n.id), [entityId]);
  const unread = await alice.getNotifications({ read: false });
  assert.deepEqual(unread.notifications.map(n => n.id), [broadcastId]);
  // Reading a broadcast is per user.
  await alice.updateNotifications({ ids: [broadcastId], read: true });
  assert.deepEqual(await alice.getStatus(), { unread: 0, read: 2, unseen: 0 });
  assert.deepEqual(await bob.getStatus(), { unread: 1, read: 0, unseen: 1 });
});

test('updateNotifications: unread, with a notification_unread signal', async () => {
  const updated = await alice.updateNotifications({ ids: [entityId], read: false });
  assert.equal(updated.length, 1);
  assert.ok(!updated[0].read, 'read cleared');
  const sig = await waitForSignal(m => m?.action === 'notification_unread', 'notification_unread');
  assert.deepEqual(sig.notification_ids, [entityId]);
  assert.deepEqual(await alice.getStatus(), { unread: 1, read: 1, unseen: 0 });
});

test('updateNotifications: saved and unsaved, saved filter', async () => {
  const updated = await alice.updateNotifications({ ids: [broadcastId], saved: true });
  assert.equal(updated[0].id, broadcastId);
  assert.ok(!Number.isNaN(Date.parse(updated[0].saved)), `saved ${updated[0].saved} is a date`);
  const saved = await alice.getNotifications({ saved: true });
  assert.deepEqual(saved.notifications.map(n => n.id), [broadcastId]);
  const notSaved = await alice.getNotifications({ saved: false });
  assert.deepEqual(notSaved.notifications.map(n => n.id), [entityId]);
  assert.equal((await bob.getNotifications({ saved: true })).totalCount, 0, 'saving is per user');
  const unsaved = await alice.updateNotifications({ ids: [broadcastId], saved: false });
  assert.ok(!unsaved[0].saved, 'saved cleared');
  assert.equal((await alice.getNotifications({ saved: true })).totalCount, 0);
});

test('getTopics: the user\'s topics, with filters', async () => {
  const all = await alice.getTopics();
  assert.deepEqual([...all.topics].sort(), ['The topic', 'ci']);
  const high = await alice.getTopics({ minimumSeverity: 'high' });
  assert.deepEqual(high.topics, ['The topic']);
  const bobs = await bob.getTopics();
  assert.deepEqual(bobs.topics, ['The topic']);
});

test('getNotificationSettings and updateNotificationSettings', async () => {
  const settings = await alice.getNotificationSettings();
  assert.ok(Array.isArray(settings.channels) && settings.channels.length >= 1, JSON.stringify(settings));
  const web = settings.channels.find(c => c.id === 'Web');
  assert.ok(web, `a Web channel in ${JSON.stringify(settings)}`);
  const origin = web.origins.find(o => o.id === ORIGIN);
  assert.ok(origin, `origin ${ORIGIN} listed in ${JSON.stringify(web)}`);
  assert.equal(origin.enabled, true);

  // What the settings page sends: the whole tree with one switch flipped.
  const changed = structuredClone(settings);
  const o = changed.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN);
  o.enabled = false;
  const saved = await alice.updateNotificationSettings(changed);
  const savedOrigin = saved.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN);
  assert.equal(savedOrigin.enabled, false);
  const again = await alice.getNotificationSettings();
  assert.equal(again.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN).enabled, false);

  // Disabled on Web: a new entity notification from that origin is not delivered.
  const before = (await alice.getNotifications()).totalCount;
  await notificationService.send({ ...ENTITY, payload: { ...ENTITY.payload, title: 'Muted' } });
  assert.equal((await alice.getNotifications()).totalCount, before);

  // Turn it back on.
  o.enabled = true;
  const restored = await alice.updateNotificationSettings(changed);
  assert.equal(restored.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN).enabled, true);

  // Topic level: the origin lists the user's topics; muting "ci" mutes only it.
  const topics = restored.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN).topics;
  assert.ok(Array.isArray(topics), `topics listed in ${JSON.stringify(restored)}`);
  const ci = topics.find(t => t.id === 'ci');
  assert.deepEqual(ci, { id: 'ci', enabled: true });
  const byTopic = structuredClone(restored);
  byTopic.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN).topics.find(t => t.id === 'ci').enabled = false;
  const mutedTopic = await alice.updateNotificationSettings(byTopic);
  assert.deepEqual(
    mutedTopic.channels.find(c => c.id === 'Web').origins.find(x => x.id === ORIGIN).topics.find(t => t.id === 'ci'),
    { id: 'ci', enabled: false },
  );
  const n0 = (await alice.getNotifications()).totalCount;
  await notificationService.send({ ...ENTITY, payload: { ...ENTITY.payload, title: 'Muted topic' } });
  assert.equal((await alice.getNotifications()).totalCount, n0, 'topic ci is muted');
  await notificationService.send({ ...ENTITY, payload: { ...ENTITY.payload, title: 'Other topic', topic: 'other' } });
  const afterOther = await alice.getNotifications({ topic: 'other' });
  assert.equal(afterOther.totalCount, 1, 'another topic of the origin still arrives');
});

test('a request without a token is refused with 401', async () => {
  const anon = new NotificationsClient({ discoveryApi, fetchApi: { fetch } });
  await assert.rejects(anon.getStatus(), err => {
    assert.equal(err.statusCode, 401);
    assert.equal(err.body?.error?.name, 'AuthenticationError');
    return true;
  });
});
