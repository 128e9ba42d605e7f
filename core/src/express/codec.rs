//! express-session's cookie format, as the `cookie-signature` package writes it.
//!
//! The `connect.sid` cookie's value is `s:<id>.<signature>`, URL-encoded (`s%3A…`), where
//! the signature is the standard base64 of HMAC-SHA256(secret, id) without `=` padding.
//! express-session signs with the first of its secrets and accepts any of them; so does
//! this codec. Signatures are compared in constant time, and every secret is tried so that
//! the time taken does not tell which one matched.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use std::borrow::Cow;

type HmacSha256 = Hmac<Sha256>;

/// The length of a base64 (unpadded) HMAC-SHA256.
const SIGNATURE_LEN: usize = 43;

/// The longest session id accepted (express-session's are 32 characters; custom `genid`
/// functions may make longer ones).
pub const MAX_SID_LEN: usize = 256;

/// Signs and verifies express-session cookie values with a list of secrets.
#[derive(Clone)]
pub struct ExpressSigner {
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for ExpressSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpressSigner")
            .field("secrets", &self.keys.len())
            .finish()
    }
}

impl ExpressSigner {
    /// A signer over `secrets` (the first signs). The list must not be empty.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        let keys = secrets
            .iter()
            .map(|s| {
                HmacSha256::new_from_slice(s.as_ref()).expect("HMAC accepts keys of any length")
            })
            .collect();
        ExpressSigner { keys }
    }

    /// The cookie value express-session would set for `sid`, URL-encoded
    /// (`s%3A<sid>.<signature>`).
    pub fn sign_cookie(&self, sid: &str) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(sid.as_bytes());
        let signature = STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
        encode(&format!("s:{sid}.{signature}"))
    }

    /// The session id a cookie value (URL-encoded or not) names, if it is signed by one of
    /// the secrets.
    ///
    /// ```
    /// use sessionio::express::ExpressSigner;
    /// let signer = ExpressSigner::new(&["new secret", "old secret"]);
    /// let old = ExpressSigner::new(&["old secret"]).sign_cookie("abc");
    /// assert_eq!(signer.verify_cookie(&old).as_deref(), Some("abc"));
    /// assert_eq!(signer.verify_cookie("s%3Aabc.forged"), None);
    /// ```
    pub fn verify_cookie(&self, value: &str) -> Option<String> {
        let decoded = decode(value)?;
        let signed = decoded.strip_prefix("s:")?;
        let (sid, signature) = signed.rsplit_once('.')?;
        if sid.is_empty() || sid.len() > MAX_SID_LEN || signature.len() != SIGNATURE_LEN {
            return None;
        }
        let mut tag = [0u8; 32];
        match STANDARD_NO_PAD.decode_slice(signature, &mut tag) {
            Ok(32) => {}
            _ => return None,
        }
        // Only the canonical spelling: base64 allows other last characters for the same
        // bytes, and cookie-signature would not accept them either.
        if STANDARD_NO_PAD.encode(tag) != signature {
            return None;
        }
        let mut ok = false;
        for key in &self.keys {
            let mut mac = key.clone();
            mac.update(sid.as_bytes());
            ok |= mac.verify_slice(&tag).is_ok();
        }
        ok.then(|| sid.to_owned())
    }
}

/// What `encodeURIComponent` leaves as it is: ASCII letters and digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `encodeURIComponent`, which the `cookie` package applies to values.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// `decodeURIComponent`; `None` where it throws: a `%` not followed by two hex digits, or
/// bytes that are not UTF-8. (`percent_decode_str` alone would keep a bad escape as it is.)
fn decode(s: &str) -> Option<String> {
    let well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "GB2eGB4S6sVhDiPoz5CrBYhzV9EB2KaZ";

    #[test]
    fn round_trips_and_accepts_every_secret() {
        let new = ExpressSigner::new(&["new", "old"]);
        let old = ExpressSigner::new(&["old"]);
        let value = old.sign_cookie(SID);
        assert!(value.starts_with("s%3A"), "{value}");
        assert_eq!(new.verify_cookie(&value).as_deref(), Some(SID));
        // Also when the host's cookie parser already decoded it.
        assert_eq!(
            new.verify_cookie(&decode(&value).unwrap()).as_deref(),
            Some(SID)
        );
        assert_eq!(ExpressSigner::new(&["other"]).verify_cookie(&value), None);
    }

    #[test]
    fn refuses_tampering_and_malformed_values() {
        let s = ExpressSigner::new(&["keyboard cat"]);
        let good = decode(&s.sign_cookie(SID)).unwrap();
        let (body, sig) = good.rsplit_once('.').unwrap();
        let flipped_sig = format!(
            "{body}.{}{}",
            if sig.starts_with('A') { 'B' } else { 'A' },
            &sig[1..]
        );
        let other_id = good.replacen(&SID[..4], "XXXX", 1);
        for bad in [
            flipped_sig.as_str(),
            other_id.as_str(),
            &good[2..],             // no "s:"
            "s:",                   // nothing
            "s:.",                  // empty id and signature
            "s:abc",                // no signature
            "s%3Aabc.%ZZ",          // bad escape
            "s%3Aabc.%FF%FE",       // not UTF-8
            &format!("{good}="),    // padded
            &format!("{good}AAAA"), // too long
        ] {
            assert_eq!(s.verify_cookie(bad), None, "{bad}");
        }
    }

    #[test]
    fn escapes_as_encode_and_decode_uri_component() {
        // [s, encodeURIComponent(s)] from Node 20.
        let cases = [
            ("s:abc.def", "s%3Aabc.def"),
            ("AZaz09-_.!~*'()", "AZaz09-_.!~*'()"),
            ("a b+c/d?e=f&g;h,i", "a%20b%2Bc%2Fd%3Fe%3Df%26g%3Bh%2Ci"),
            (
                "%\"#$@[]{}|^`<>",
                "%25%22%23%24%40%5B%5D%7B%7D%7C%5E%60%3C%3E",
            ),
            ("Zoë 😀", "Zo%C3%AB%20%F0%9F%98%80"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode(plain), encoded);
            assert_eq!(decode(encoded).as_deref(), Some(plain));
        }
        // decodeURIComponent accepts lower-case hex and unescaped text.
        assert_eq!(decode("s%3aabc").as_deref(), Some("s:abc"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        // ... and throws (URIError) on a malformed escape or on bytes that are not UTF-8.
        for bad in ["%", "%4", "a%zz", "%%41", "abc%", "%FF", "%C3", "%E2%82"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn matches_cookie_signature() {
        // The value cookie-signature 1.0.7 gives, URL-encoded as express-session sets it.
        const EXPECTED: &str =
            "s%3AGB2eGB4S6sVhDiPoz5CrBYhzV9EB2KaZ.Rnjl2xCu1C93LPES2GsK3OVmptlsWZmu3yLxrfdIkfg";
        let s = ExpressSigner::new(&["keyboard cat"]);
        assert_eq!(s.sign_cookie(SID), EXPECTED);
        assert_eq!(s.verify_cookie(EXPECTED).as_deref(), Some(SID));
    }
}
