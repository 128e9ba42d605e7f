//! Signed session cookies and tokens.
//!
//! A session cookie's value is `<id>.<signature>`: the session id (22 base64url characters,
//! tower-sessions' [`Id`]) and the base64url HMAC-SHA256 of it (43 characters). Several
//! secrets may be configured: the first signs, any of them verifies, so a secret can be
//! rotated without logging everybody out. Signatures are compared in constant time.
//!
//! A token (for clients that cannot send cookies, passed as `auth.token`) is
//! `<id>.<expiry in unix ms>.<signature>`, signed under a different domain-separation
//! prefix, so a cookie signature is never a valid token signature and vice versa.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Refusal, SessionId};

type HmacSha256 = Hmac<Sha256>;

/// A key for one use derived from a host's secret: HMAC-SHA256(secret, `label`). The
/// engine's tokens are signed with such keys when a host session system (express-session,
/// tower-sessions) owns the cookie's secret: never with the cookie's key itself.
pub(crate) fn derived_key(secret: &[u8], label: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

const COOKIE_DOMAIN: &[u8] = b"sessionio/cookie/v1\0";
const TOKEN_DOMAIN: &[u8] = b"sessionio/token/v1\0";
const HANDLE_DOMAIN: &[u8] = b"sessionio/handle/v1\0";
const WORKER_DOMAIN: &[u8] = b"sessionio/worker/v1\0";
/// base64url length of a 16-byte id and of a 32-byte MAC.
const ID_LEN: usize = 22;
const MAC_LEN: usize = 43;
/// The longest session id a token names: the host's ids may be longer than the engine's
/// (express-session's may be up to 256 bytes, `express::MAX_SID_LEN`).
const MAX_TOKEN_SUBJECT_LEN: usize = 256;

/// Signs and verifies cookie values and tokens with a list of secrets.
#[derive(Clone)]
pub struct Signer {
    /// One keyed MAC state per secret, first = signing key. Cloning a keyed state is
    /// cheaper than re-keying for every cookie.
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("secrets", &self.keys.len())
            .finish()
    }
}

impl Signer {
    /// A signer over `secrets`; the first one signs. The list must not be empty (the
    /// configuration builder enforces it, with the minimum length).
    pub(crate) fn new(secrets: &[Vec<u8>]) -> Self {
        let keys = secrets
            .iter()
            .map(|s| HmacSha256::new_from_slice(s).expect("HMAC accepts keys of any length"))
            .collect();
        Signer { keys }
    }

    fn mac(&self, key: &HmacSha256, domain: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = key.clone();
        mac.update(domain);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b".");
            }
            mac.update(part);
        }
        mac
    }

    fn sign(&self, domain: &[u8], parts: &[&[u8]]) -> String {
        let tag = self
            .mac(&self.keys[0], domain, parts)
            .finalize()
            .into_bytes();
        URL_SAFE_NO_PAD.encode(tag)
    }

    /// True if `signature` (base64url) is a valid MAC of `parts` under any secret.
    fn verify(&self, domain: &[u8], parts: &[&[u8]], signature: &str) -> bool {
        if signature.len() != MAC_LEN {
            return false;
        }
        let mut tag = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) {
            Ok(32) => {}
            _ => return false,
        }
        // `verify_slice` compares in constant time; every key is tried so the time taken
        // does not tell which secret matched.
        let mut ok = false;
        for key in &self.keys {
            ok |= self.mac(key, domain, parts).verify_slice(&tag).is_ok();
        }
        ok
    }

    /// The cookie value for a session id.
    pub fn sign_cookie(&self, id: &SessionId) -> String {
        let id = id.to_string();
        let sig = self.sign(COOKIE_DOMAIN, &[id.as_bytes()]);
        format!("{id}.{sig}")
    }

    /// The session id a cookie value names, if its signature is valid.
    pub fn verify_cookie(&self, value: &str) -> Option<SessionId> {
        let (id, sig) = value.split_once('.')?;
        if id.len() != ID_LEN || !self.verify(COOKIE_DOMAIN, &[id.as_bytes()], sig) {
            return None;
        }
        parse_canonical_id(id)
    }

    /// The opaque handle that names a session in its user's list of sessions: 22
    /// base64url characters of an HMAC of its id (the id cannot be read back from it, nor
    /// a handle made without the secret). Rotating the signing secret changes handles.
    pub fn session_handle(&self, id: &SessionId) -> String {
        let mut handle = self.sign(HANDLE_DOMAIN, &[id.to_string().as_bytes()]);
        handle.truncate(ID_LEN);
        handle
    }

    /// The `len` first characters of the MAC that vouches for a worker's private port
    /// (see `workers`): only a holder of the secret names a port other workers forward to.
    pub(crate) fn worker_mac(&self, port: u16, len: usize) -> String {
        let mut mac = self.sign(WORKER_DOMAIN, &[&port.to_be_bytes()]);
        mac.truncate(len);
        mac
    }

    /// Whether `mac` is [`worker_mac`](Self::worker_mac) of `port` (its length: a multiple
    /// of 4 characters, whole bytes), compared in constant time. Under the first secret
    /// only, the one every worker signs with.
    pub(crate) fn verify_worker_mac(&self, port: u16, mac: &str) -> bool {
        let mut tag = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(mac, &mut tag) {
            Ok(n) if n > 0 && mac.len() % 4 == 0 => self
                .mac(&self.keys[0], WORKER_DOMAIN, &[&port.to_be_bytes()])
                .verify_truncated_left(&tag[..n])
                .is_ok(),
            _ => false,
        }
    }

    /// A token naming the session whose id, as the host knows it, is `host_id` (the
    /// identity's [`host_id`](crate::identity::Identity::host_id): sessionio's own id, or
    /// express-session's), valid until `expires_at_ms` (unix milliseconds). Naming the
    /// host's id lets every process given the same secrets resolve the token, whether or
    /// not it has seen that session.
    pub fn sign_token(&self, host_id: &str, expires_at_ms: u64) -> String {
        let exp = expires_at_ms.to_string();
        let sig = self.sign(TOKEN_DOMAIN, &[host_id.as_bytes(), exp.as_bytes()]);
        format!("{host_id}.{exp}.{sig}")
    }

    /// The host's id of the session a token names, if its signature is valid and it has
    /// not expired. Read from the right: the expiry and the signature hold no `.`, the id
    /// may.
    pub fn verify_token<'t>(&self, token: &'t str, now_ms: u64) -> Result<&'t str, Refusal> {
        self.verify_token_with_expiry(token, now_ms)
            .map(|(host_id, _)| host_id)
    }

    /// Like [`verify_token`](Self::verify_token), with the token's expiry instant (unix
    /// milliseconds): a socket the token admits must leave at that instant.
    pub fn verify_token_with_expiry<'t>(
        &self,
        token: &'t str,
        now_ms: u64,
    ) -> Result<(&'t str, u64), Refusal> {
        let mut parts = token.rsplitn(3, '.');
        let (Some(sig), Some(exp), Some(host_id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::InvalidSession);
        };
        if host_id.is_empty()
            || host_id.len() > MAX_TOKEN_SUBJECT_LEN
            || exp.is_empty()
            || exp.len() > 20
            || !exp.bytes().all(|b| b.is_ascii_digit())
            || !self.verify(TOKEN_DOMAIN, &[host_id.as_bytes(), exp.as_bytes()], sig)
        {
            return Err(Refusal::InvalidSession);
        }
        let expires_at: u64 = exp.parse().map_err(|_| Refusal::InvalidSession)?;
        if expires_at <= now_ms {
            return Err(Refusal::SessionExpired);
        }
        Ok((host_id, expires_at))
    }
}

/// Parses an id and accepts only the canonical spelling, so one session has one cookie.
fn parse_canonical_id(s: &str) -> Option<SessionId> {
    let id: SessionId = s.parse().ok()?;
    (id.to_string() == s).then_some(id)
}

/// At most this many cookies of our name are tried from one header (a browser may send
/// several for different paths); the rest are ignored.
const MAX_CANDIDATES: usize = 8;

/// The values of every cookie called `name` in a `Cookie` header, in order, at most
/// [`MAX_CANDIDATES`]. Names and values are trimmed of spaces and tabs only (the header's
/// whitespace, and all that the `cookie` package, express-session's reader, trims: a
/// name padded with other whitespace is another name there, and must be here); quoted
/// values are unquoted.
///
/// Hand-written rather than `cookie::Cookie::split_parse`: that gives the same values
/// without allocating, but builds a full `Cookie` per pair and took 4 to 6 times as long
/// on hostile 64 KiB headers (e.g. 16,000 `a=b;` pairs: 0.8 ms here, 4.9 ms there), and it
/// refuses pairs with an empty name, which this reader (and the `cookie_header` fuzz
/// target's model) matches for an empty `name`.
pub fn cookie_values<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    every_cookie_value(header, name).take(MAX_CANDIDATES)
}

/// The value of the last cookie named `name` in a `Cookie` header, read as
/// [`cookie_values`] reads them but past its cap: the one a session system that keeps the
/// last of a repeated name (tower-cookies) uses.
pub fn last_cookie_value<'a>(header: &'a str, name: &'a str) -> Option<&'a str> {
    every_cookie_value(header, name).last()
}

fn every_cookie_value<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    header.split(';').filter_map(move |pair| {
        let (k, v) = pair.split_once('=')?;
        (trim_header_whitespace(k) == name).then(|| {
            let v = trim_header_whitespace(v);
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
    })
}

/// `s` without the spaces and tabs around it.
fn trim_header_whitespace(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations (the default).
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent on cross-site requests too; requires `Secure`.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// Attributes of the session cookie.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// Cookie name (default `sessionio.sid`).
    pub name: String,
    /// `Secure` attribute (default on; turn off only for `http://localhost` development).
    pub secure: bool,
    /// `SameSite` attribute (default `Lax`).
    pub same_site: SameSite,
    /// `Path` attribute (default `/`).
    pub path: String,
    /// `Domain` attribute (default none: host-only).
    pub domain: Option<String>,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            name: "sessionio.sid".into(),
            secure: true,
            same_site: SameSite::Lax,
            path: "/".into(),
            domain: None,
        }
    }
}

impl CookieSettings {
    /// The attributes in the order the bindings and their tests have always seen
    /// (`Path`, `Domain`, `HttpOnly`, `SameSite`, `Secure`); the `cookie` crate's `Display`
    /// writes another order and drops a leading `.` from `Domain`.
    fn attributes(&self, out: &mut String) {
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        out.push_str("; HttpOnly; SameSite=");
        out.push_str(self.same_site.as_str());
        if self.secure {
            out.push_str("; Secure");
        }
    }

    /// A `Set-Cookie` header value that stores `value`. It is a browser-session cookie:
    /// expiry is enforced by the server, which knows about activity.
    pub fn set_cookie(&self, value: &str) -> String {
        let mut out = format!("{}={value}", self.name);
        self.attributes(&mut out);
        out
    }

    /// A `Set-Cookie` header value that removes the cookie.
    pub fn clear_cookie(&self) -> String {
        let mut out = format!("{}=; Max-Age=0", self.name);
        self.attributes(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secrets: &[&str]) -> Signer {
        Signer::new(
            &secrets
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
    }
    const A: &str = "a-secret-that-is-long-enough-0123456789";
    const B: &str = "b-secret-that-is-long-enough-0123456789";

    #[test]
    fn cookie_round_trip_and_shape() {
        let s = signer(&[A]);
        let id = SessionId::default();
        let v = s.sign_cookie(&id);
        assert_eq!(v.len(), ID_LEN + 1 + MAC_LEN);
        assert_eq!(s.verify_cookie(&v), Some(id));
    }

    #[test]
    fn forged_and_garbage_cookies_are_refused() {
        let s = signer(&[A]);
        let id = SessionId::default();
        let v = s.sign_cookie(&id);
        // Flip each signature character in turn.
        let sig_start = ID_LEN + 1;
        for i in sig_start..v.len() {
            let mut bytes = v.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            assert_eq!(s.verify_cookie(&forged), None, "forged at {i}");
        }
        // Another id under the same signature.
        let other = SessionId::default().to_string();
        assert_eq!(s.verify_cookie(&format!("{other}{}", &v[ID_LEN..])), None);
        // Signed with another key.
        assert_eq!(s.verify_cookie(&signer(&[B]).sign_cookie(&id)), None);
        for garbage in [
            "",
            ".",
            "garbage",
            "a.b.c",
            &v[..v.len() - 1],
            &format!("{v}x"),
        ] {
            assert_eq!(s.verify_cookie(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn rotation_signs_with_first_and_accepts_any() {
        let old = signer(&[A]);
        let rotated = signer(&[B, A]);
        let id = SessionId::default();
        assert_eq!(rotated.verify_cookie(&old.sign_cookie(&id)), Some(id));
        assert_eq!(
            signer(&[B]).verify_cookie(&rotated.sign_cookie(&id)),
            Some(id)
        );
        // Once the old secret is removed, its cookies are refused.
        assert_eq!(signer(&[B]).verify_cookie(&old.sign_cookie(&id)), None);
    }

    #[test]
    fn tokens_expire_and_are_not_cookies() {
        let s = signer(&[A]);
        let id = SessionId::default();
        let t = s.sign_token(&id.to_string(), 10_000);
        assert_eq!(s.verify_token(&t, 9_999), Ok(id.to_string().as_str()));
        assert_eq!(
            s.verify_token_with_expiry(&t, 9_999),
            Ok((id.to_string().as_str(), 10_000))
        );
        assert_eq!(s.verify_token(&t, 10_000), Err(Refusal::SessionExpired));
        // Extending the expiry breaks the signature.
        let forged = t.replacen("10000", "99999", 1);
        assert_eq!(s.verify_token(&forged, 0), Err(Refusal::InvalidSession));
        // A cookie is not a token and a token is not a cookie.
        assert_eq!(
            s.verify_token(&s.sign_cookie(&id), 0),
            Err(Refusal::InvalidSession)
        );
        assert_eq!(s.verify_cookie(&t), None);
        for garbage in ["", "nope", "a.b.c", "..", &format!("{id}.-1.x")] {
            assert_eq!(s.verify_token(garbage, 0), Err(Refusal::InvalidSession));
        }
        // Any host id, dots included (express-session ids may hold them), up to 256 bytes.
        for host_id in ["a", "x.y.z", &"s".repeat(256)] {
            let t = s.sign_token(host_id, 10_000);
            assert_eq!(s.verify_token(&t, 0), Ok(host_id));
            let moved = format!(
                "{}.{}",
                &host_id[..host_id.len() - 1],
                &t[host_id.len() - 1..]
            );
            assert_eq!(s.verify_token(&moved, 0), Err(Refusal::InvalidSession));
        }
        let too_long = s.sign_token(&"s".repeat(257), 10_000);
        assert_eq!(s.verify_token(&too_long, 0), Err(Refusal::InvalidSession));
    }

    #[test]
    fn non_canonical_ids_are_refused() {
        // 22 base64 characters carry 132 bits for 128: the last character's two low bits
        // must be zero. Setting one gives another spelling of (almost) the same id, which
        // must not open the session even when correctly signed.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let s = signer(&[A]);
        let mut id = SessionId::default().to_string().into_bytes();
        let last = ALPHABET.iter().position(|&c| c == id[21]).unwrap();
        id[21] = ALPHABET[last ^ 1];
        let alt = String::from_utf8(id).unwrap();
        let sig = s.sign(COOKIE_DOMAIN, &[alt.as_bytes()]);
        assert_eq!(s.verify_cookie(&format!("{alt}.{sig}")), None);
    }

    #[test]
    fn cookie_header_parsing() {
        let h = "a=1; sessionio.sid=\"x.y\";  other=2;sessionio.sid=z ; broken";
        assert_eq!(
            cookie_values(h, "sessionio.sid").collect::<Vec<_>>(),
            ["x.y", "z"]
        );
        assert_eq!(cookie_values("", "sessionio.sid").count(), 0);
        let many = "sessionio.sid=v;".repeat(1000);
        assert_eq!(
            cookie_values(&many, "sessionio.sid").count(),
            MAX_CANDIDATES
        );
        // Pairs without '=' or with another name never stop the search.
        let hostile = format!(
            "{}x;=;{}sessionio.sid=found",
            "a=b;".repeat(16_000),
            ";".repeat(1000)
        );
        assert_eq!(
            cookie_values(&hostile, "sessionio.sid").collect::<Vec<_>>(),
            ["found"]
        );
        // An empty name matches the pairs with an empty name (`=v`), as the fuzz model says.
        assert_eq!(
            cookie_values("=v; a=b; =\"w\"", "").collect::<Vec<_>>(),
            ["v", "w"]
        );
        // A lone quote is not a quoted value.
        assert_eq!(
            cookie_values("sessionio.sid=\"", "sessionio.sid").collect::<Vec<_>>(),
            ["\""]
        );
    }

    #[test]
    fn set_cookie_attributes() {
        let c = CookieSettings::default();
        assert_eq!(
            c.set_cookie("v"),
            "sessionio.sid=v; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        let c = CookieSettings { secure: false, ..c };
        assert_eq!(
            c.clear_cookie(),
            "sessionio.sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
        // Every attribute, in the order bindings-python's test_engine.py asserts.
        let all = CookieSettings {
            name: "app.sid".into(),
            secure: true,
            same_site: SameSite::Strict,
            path: "/app".into(),
            domain: Some("app.example".into()),
        };
        assert_eq!(
            all.clear_cookie(),
            "app.sid=; Max-Age=0; Path=/app; Domain=app.example; HttpOnly; SameSite=Strict; Secure"
        );
        let none = CookieSettings {
            same_site: SameSite::None,
            domain: Some(".example.com".into()),
            ..all
        };
        assert_eq!(
            none.set_cookie("v"),
            "app.sid=v; Path=/app; Domain=.example.com; HttpOnly; SameSite=None; Secure"
        );
    }
}
