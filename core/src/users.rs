//! Users across sessions: a session logged in as a user (see
//! [`Session::login`](crate::Session::login)) is found through its store's user index, and
//! its sockets are in the user's room. From there the engine notifies every socket of a
//! user, lists the user's sessions ("your devices"), and destroys one of them or all.
//!
//! The list never shows session ids (each is a credential): each session is named by an
//! opaque handle, an HMAC of its id under the engine's secret, that
//! [`destroy_user_session`](SessionIo::destroy_user_session) takes back.

use std::sync::Arc;

use serde::Serialize;

use crate::adapter::SocketRef;
use crate::engine::{Core, SessionIo};
use crate::error::Result;
use crate::login::{valid_user_id, Client};
use crate::rooms;
use crate::socket_state::user_id_of;
use crate::store::{now_ms, Login, Record, UserIndexSize};
use crate::SessionId;

/// How many of a user's sessions [`SessionIo::destroy_user`] destroys at once.
const DESTROYS_AT_ONCE: usize = 16;

/// One live session of a user, as [`SessionIo::user_sessions`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSession {
    /// Names this session for [`SessionIo::destroy_user_session`]; never the session id.
    pub handle: String,
    /// When the session logged in as the user (unix ms).
    pub created_at: u64,
    /// Its last activity (unix ms), to the precision its expiry is moved with: the expiry
    /// minus the TTL.
    pub last_seen: u64,
    /// The `User-Agent` of its login request, or of its latest socket's handshake.
    pub user_agent: Option<String>,
    /// The client address (IP) of its login request, or of its latest socket's handshake.
    pub address: Option<String>,
    /// Sockets connected to it now, on every node.
    pub sockets: usize,
}

impl SessionIo {
    /// Emits `event` with `data` to every socket of every session logged in as `user_id`,
    /// on every node; returns how many sockets it reached on this node (as
    /// [`notify_session`](Self::notify_session)). A user with no session reaches 0.
    pub async fn notify_user(
        &self,
        user_id: &str,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<usize> {
        let user_id = valid_user_id(user_id)?;
        let room = rooms::user_room(user_id);
        self.0
            .notify_room(
                room,
                |s| user_id_of(s).as_deref() == Some(user_id),
                event,
                data,
            )
            .await
    }

    /// Destroys every session logged in as `user_id` but `except` (the caller's own, for
    /// "sign out my other devices"), as [`destroy_session`](Self::destroy_session) does:
    /// sockets disconnected on every node, cookies refused from then on. Returns how many
    /// live sessions were destroyed (expired ones are deleted too, and not counted).
    pub async fn destroy_user(&self, user_id: &str, except: Option<SessionId>) -> Result<usize> {
        use futures_util::StreamExt as _;
        let user_id = valid_user_id(user_id)?;
        let now = now_ms();
        let doomed: Vec<Record> = (self.0.store.user_sessions(user_id).await?)
            .into_iter()
            .filter(|r| Some(r.id) != except)
            .collect();
        // A few at a time: each destroy waits for its store delete and its kick's
        // broadcast to the other nodes.
        let ids: Vec<SessionId> = doomed.iter().map(|r| r.id).collect();
        let mut destroys = futures_util::stream::iter(ids)
            .map(|id| self.0.destroy_session(id))
            .buffer_unordered(DESTROYS_AT_ONCE);
        while let Some(done) = destroys.next().await {
            done?;
        }
        Ok(doomed.iter().filter(|r| !r.is_expired(now)).count())
    }

    /// The live sessions logged in as `user_id`, oldest login first.
    pub async fn user_sessions(&self, user_id: &str) -> Result<Vec<UserSession>> {
        let user_id = valid_user_id(user_id)?;
        let now = now_ms();
        let mut records = self.0.live_sessions_of(user_id, now).await?;
        records.sort_by_key(|r| (r.login.as_ref().map_or(0, |l| l.at), r.id.to_string()));
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let sockets = self.0.sockets_everywhere(record.id).await;
            out.push(self.0.user_session(&record, sockets, now));
        }
        Ok(out)
    }

    /// Destroys the session of `user_id` that `handle` (from
    /// [`user_sessions`](Self::user_sessions)) names: "sign out that device". `false` if
    /// the user has no such live session (a handle of another user's session names none).
    pub async fn destroy_user_session(&self, user_id: &str, handle: &str) -> Result<bool> {
        let user_id = valid_user_id(user_id)?;
        for record in self.0.live_sessions_of(user_id, now_ms()).await? {
            if self.0.signer.session_handle(&record.id) == handle {
                self.0.destroy_session(record.id).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// How many users and sessions the store's user index holds.
    pub async fn user_index_size(&self) -> Result<UserIndexSize> {
        self.0.store.user_index_size().await
    }

    /// For a host session system that rotates its own ids (express-session,
    /// tower-sessions): after the host saved its session logged in (its record holding
    /// [`login_field`] under [`LOGIN_KEY`](crate::store::LOGIN_KEY)), puts it in the user
    /// index at once, so that `user_sessions`, `destroy_user` and `notify_user` see it
    /// before anything else reads it. Answers the user it is logged in as (`None`: the
    /// record holds no login; nothing is indexed).
    pub async fn index_login(&self, host_id: &str) -> Result<Option<String>> {
        let id = self.0.config.identity.resolve(host_id)?;
        self.0.index_login(id).await
    }
}

/// Records the client of a logged-in session's new socket (its `User-Agent` and address)
/// when it differs from what the record says, for the user's list of sessions. In the
/// background and best effort: the handshake does not wait for the write, and a failed
/// write only leaves the previous client shown.
pub(crate) fn note_client(core: &Arc<Core>, id: SessionId, login: &Login, socket: &SocketRef) {
    let parts = socket.req_parts();
    let client = Client::of_request(&parts.headers, &parts.extensions);
    let unchanged = |l: &Login| {
        (client.user_agent.is_none() || client.user_agent == l.user_agent)
            && (client.address.is_none() || client.address == l.address)
    };
    if unchanged(login) {
        return;
    }
    let core = core.clone();
    tokio::spawn(async move {
        let mut note = |record: &mut Record| {
            if let Some(l) = record.login.as_mut() {
                if client.user_agent.is_some() {
                    l.user_agent.clone_from(&client.user_agent);
                }
                if client.address.is_some() {
                    l.address.clone_from(&client.address);
                }
            }
            Ok(())
        };
        if let Err(e) = core.store.update(id, &mut note).await {
            tracing::debug!(error = %e, "the client of a socket was not recorded");
        }
    });
}

impl Core {
    /// The records of the user index's entries of `user_id` that are live at `now` and
    /// still logged in as `user_id`.
    async fn live_sessions_of(&self, user_id: &str, now: u64) -> Result<Vec<Record>> {
        let mut records = self.store.user_sessions(user_id).await?;
        records.retain(|r| !r.is_expired(now) && r.user_id() == Some(user_id));
        Ok(records)
    }

    /// See [`SessionIo::index_login`]: the user index follows what a load shows (the
    /// index beside a host's store learns the login here).
    pub(crate) async fn index_login(&self, id: SessionId) -> Result<Option<String>> {
        let record = self.store.load(id).await?;
        Ok(record.and_then(|r| r.login).map(|l| l.user_id))
    }

    fn user_session(&self, record: &Record, sockets: usize, now: u64) -> UserSession {
        let login = record.login.as_ref();
        let created_at = login.map_or(0, |l| l.at);
        UserSession {
            handle: self.signer.session_handle(&record.id),
            created_at,
            last_seen: record
                .expires_at
                .saturating_sub(self.ttl_ms())
                .clamp(created_at.min(now), now),
            user_agent: login.and_then(|l| l.user_agent.clone()),
            address: login.and_then(|l| l.address.clone()),
            sockets,
        }
    }

    /// The sockets of session `id` on every node: this node's count, plus the other
    /// nodes' (see [`remote_sockets`](Self::remote_sockets)).
    async fn sockets_everywhere(&self, id: SessionId) -> usize {
        self.presence.count(id) + self.remote_sockets(id).await
    }

    /// The sockets of session `id` on the other nodes: their answers to a fetch through
    /// the adapter (a node that does not answer counts none); 0 without other nodes.
    pub(crate) async fn remote_sockets(&self, id: SessionId) -> usize {
        let room = rooms::session_room(id);
        let Some(here) = self.node_share(&room) else {
            return 0;
        };
        let mut n = 0;
        for ns in &self.config.transport.namespaces {
            let Some(op) = self.io.of(ns) else { continue };
            match op
                .to(room.clone())
                .except(here.clone())
                .fetch_sockets()
                .await
            {
                Ok(remote) => n += remote.len(),
                Err(e) => tracing::warn!(error = %e, "other nodes did not say their sockets"),
            }
        }
        n
    }
}
