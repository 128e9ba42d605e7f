//! A session's login as the engine writes it: the user-id rule, who made the request or
//! handshake (its `User-Agent` and address), and the [`Login`] a login stores. A leaf: the
//! session handle, the users' calls, the HTTP layer and the tower-sessions helpers all
//! build on it.

use crate::error::{Error, Result};
use crate::store::{now_ms, Login, MAX_USER_ID_LEN};

/// `user_id`, if it can name a user: 1 to [`MAX_USER_ID_LEN`] bytes, no control
/// characters.
pub(crate) fn valid_user_id(user_id: &str) -> Result<&str> {
    if user_id.is_empty() || user_id.len() > MAX_USER_ID_LEN {
        return Err(Error::InvalidValue(format!(
            "a user id has 1 to {MAX_USER_ID_LEN} bytes, not {}",
            user_id.len()
        )));
    }
    if user_id.chars().any(char::is_control) {
        return Err(Error::InvalidValue(
            "a user id has no control characters".into(),
        ));
    }
    Ok(user_id)
}

/// Who made a request or a handshake, as a user's list of sessions shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Client {
    pub(crate) user_agent: Option<String>,
    pub(crate) address: Option<String>,
}

tokio::task_local! {
    /// The client of the HTTP request a host-managed session system's handler runs in
    /// (set by the engine's layer): what a login there records.
    static REQUEST_CLIENT: Client;
}

/// Runs `request` with `client` as its [`request_client`].
pub(crate) async fn with_request_client<F: std::future::Future>(
    client: Client,
    request: F,
) -> F::Output {
    REQUEST_CLIENT.scope(client, request).await
}

/// The client of the request running on this task, inside the engine's layer.
#[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
pub(crate) fn request_client() -> Option<Client> {
    REQUEST_CLIENT.try_with(Client::clone).ok()
}

/// The longest `User-Agent` kept for a user's list of sessions, in bytes (longer ones are
/// cut at a character boundary).
const MAX_USER_AGENT_LEN: usize = 512;

impl Client {
    /// The client of an HTTP request or a handshake the engine serves: its `User-Agent`
    /// header, and the peer address the listener put in the extensions.
    pub(crate) fn of_request(headers: &http::HeaderMap, extensions: &http::Extensions) -> Client {
        Client::new(
            (headers.get(http::header::USER_AGENT)).and_then(|v| v.to_str().ok()),
            (extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>())
                .map(|c| c.0.ip()),
        )
    }

    /// The client as a host's server reports it: the address as text (`"::ffff:1.2.3.4"`
    /// is `1.2.3.4`; text that is no IP address is ignored).
    pub(crate) fn from_host(user_agent: Option<&str>, address: Option<&str>) -> Client {
        let address = address.and_then(|a| a.trim().parse::<std::net::IpAddr>().ok());
        Client::new(user_agent, address)
    }

    /// A client from a `User-Agent` header value and an IP address.
    pub(crate) fn new(user_agent: Option<&str>, address: Option<std::net::IpAddr>) -> Client {
        let user_agent = user_agent.map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT_LEN);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
        Client {
            user_agent,
            address: address.map(|a| a.to_canonical().to_string()),
        }
    }
}

/// For a host session system that keeps the session itself (express-session,
/// tower-sessions): the value of the field, under [`LOGIN_KEY`](crate::store::LOGIN_KEY),
/// that logs its session in as `user_id`, with the client of the request. The host
/// rotates its session's id first (express-session's `regenerate`, tower-sessions'
/// `cycle_id`: against fixation), sets the field, saves, then calls
/// [`SessionIo::index_login`](crate::SessionIo::index_login). The user id's rule is the engine's: 1 to 256 bytes, no
/// control characters.
///
/// ```
/// let field = sessionio::login_field("ada", Some("phone-browser/1.0"), Some("::ffff:10.0.0.7")).unwrap();
/// assert_eq!(field["user_id"], "ada");
/// assert_eq!(field["address"], "10.0.0.7");
/// assert!(sessionio::login_field("", None, None).is_err());
/// ```
pub fn login_field(
    user_id: &str,
    user_agent: Option<&str>,
    address: Option<&str>,
) -> Result<serde_json::Value> {
    let user_id = valid_user_id(user_id)?;
    Ok(crate::store::login_field(&new_login(
        user_id,
        Client::from_host(user_agent, address),
    )))
}

/// A login of `user_id` now, from `client`.
pub(crate) fn new_login(user_id: &str, client: Client) -> Login {
    Login {
        user_id: user_id.to_owned(),
        at: now_ms(),
        user_agent: client.user_agent,
        address: client.address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_checked() {
        assert_eq!(valid_user_id("ada").unwrap(), "ada");
        assert_eq!(valid_user_id(&"u".repeat(256)).unwrap().len(), 256);
        for bad in ["", &"u".repeat(257), "a\nb", "a\u{0}"] {
            let e = valid_user_id(bad).unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_VALUE", "{bad:?}");
        }
    }
}
