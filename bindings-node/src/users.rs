//! Users across sessions: the engine's calls on every session of a user (see
//! `sessionio::users`). Core checks the user ids, makes the handles and counts; this file
//! maps the arguments and the answers.

use napi::Env;
use napi_derive::napi;

use crate::errors::IntoNapi;
use crate::ready::{now_or_spawn, Ready};
use crate::values::JsValueIn;
use crate::NativeSessionIo;

/// One live session of a user (core's `UserSession`); the JS layer makes Dates of the times.
#[napi(object, use_nullable = true)]
pub struct UserSession {
    /// Names the session for `destroyUserSession`; never the session id.
    pub handle: String,
    /// When the session logged in as the user, unix ms.
    pub created_at: f64,
    /// Its last activity, unix ms.
    pub last_seen: f64,
    /// The `User-Agent` of its login request or latest socket, `null` when unknown.
    pub user_agent: Option<String>,
    /// The client IP address of its login request or latest socket, `null` when unknown.
    pub address: Option<String>,
    /// Sockets connected to it now, on every node.
    pub sockets: u32,
}

impl From<sessionio::UserSession> for UserSession {
    fn from(s: sessionio::UserSession) -> Self {
        UserSession {
            handle: s.handle,
            created_at: s.created_at as f64,
            last_seen: s.last_seen as f64,
            user_agent: s.user_agent,
            address: s.address,
            sockets: u32::try_from(s.sockets).unwrap_or(u32::MAX),
        }
    }
}

/// What the store's user index holds (core's `UserIndexSize`).
#[napi(object)]
pub struct UserIndexSize {
    /// Users with at least one indexed session.
    pub users: f64,
    /// Indexed sessions.
    pub sessions: f64,
}

/// For express-session mode: the value to set on `req.session` under `loginKey` that logs
/// it in as the user (core's `login_field`: the user-id rule and the time are core's).
#[napi]
pub fn login_field(
    user_id: String,
    user_agent: Option<String>,
    address: Option<String>,
) -> napi::Result<serde_json::Value> {
    sessionio::login_field(&user_id, user_agent.as_deref(), address.as_deref()).napi()
}

/// The field of an express session that holds its login (core's `LOGIN_KEY`).
#[napi]
pub const LOGIN_KEY: &str = sessionio::store::LOGIN_KEY;

#[napi]
impl NativeSessionIo {
    /// For express-session mode: after express-session saved a session logged in (its
    /// `loginKey` field set), puts it in the engine's user index; answers its user.
    #[napi]
    pub fn index_login<'env>(
        &self,
        env: &'env Env,
        session_id_text: String,
    ) -> napi::Result<Ready<'env, Option<String>>> {
        let io = self.io.clone();
        now_or_spawn(
            env,
            async move { io.index_login(&session_id_text).await.napi() },
        )
    }

    /// Emits to every socket of every session of the user, on every node; answers how
    /// many sockets it reached on this node.
    #[napi]
    pub fn notify_user<'env>(
        &self,
        env: &'env Env,
        user_id: String,
        event: String,
        data: JsValueIn,
    ) -> napi::Result<Ready<'env, u32>> {
        let io = self.io.clone();
        now_or_spawn(env, async move {
            Ok(io.notify_user(&user_id, &event, &data.0).await.napi()? as u32)
        })
    }

    /// Destroys every session of the user but `except` (a session id); answers how many
    /// live sessions it destroyed.
    #[napi]
    pub fn destroy_user<'env>(
        &self,
        env: &'env Env,
        user_id: String,
        except: Option<String>,
    ) -> napi::Result<Ready<'env, u32>> {
        let except = except
            .map(|id| sessionio::host::resolve_id(&self.io, &id))
            .transpose()
            .napi()?;
        let io = self.io.clone();
        now_or_spawn(env, async move {
            Ok(io.destroy_user(&user_id, except).await.napi()? as u32)
        })
    }

    /// The user's live sessions, oldest login first.
    #[napi]
    pub fn user_sessions<'env>(
        &self,
        env: &'env Env,
        user_id: String,
    ) -> napi::Result<Ready<'env, Vec<UserSession>>> {
        let io = self.io.clone();
        now_or_spawn(env, async move {
            let list = io.user_sessions(&user_id).await.napi()?;
            Ok(list.into_iter().map(UserSession::from).collect())
        })
    }

    /// Destroys the user's session of that handle; `false` when the user has none.
    #[napi]
    pub fn destroy_user_session<'env>(
        &self,
        env: &'env Env,
        user_id: String,
        handle: String,
    ) -> napi::Result<Ready<'env, bool>> {
        let io = self.io.clone();
        now_or_spawn(env, async move {
            io.destroy_user_session(&user_id, &handle).await.napi()
        })
    }

    /// How many users and sessions the store's user index holds.
    #[napi]
    pub fn user_index_size<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<Ready<'env, UserIndexSize>> {
        let io = self.io.clone();
        now_or_spawn(env, async move {
            let size = io.user_index_size().await.napi()?;
            Ok(UserIndexSize {
                users: size.users as f64,
                sessions: size.sessions as f64,
            })
        })
    }
}
