//! The handshake token codec (`Signer::sign_token` / `verify_token`).
//!
//! Input layout: 8 bytes `now` (unix ms, little endian), then the token text.
//! - Verifying arbitrary text at an arbitrary `now` never panics; a token that verifies is
//!   exactly `sign_token(host_id, exp)` for the host id and expiry it names, and
//!   `now < exp`; a token refused as expired has a valid signature and `exp <= now`.
//! - A token for an id and expiry derived from the input verifies iff `now < exp`
//!   (checked at the input's `now` and at `exp - 1`, `exp`, `exp + 1`).
//! - That token with one character replaced, removed or inserted, or truncated, is
//!   refused as `invalid session` at any `now`; so is a cookie signature under it.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use sessionio::{Refusal, SessionId};

fuzz_target!(|data: &[u8]| {
    let signer = sessionio_fuzz::signer();

    // Arbitrary text at an arbitrary `now`.
    let (now, text) = if data.len() >= 8 {
        let (head, rest) = data.split_at(8);
        (u64::from_le_bytes(head.try_into().unwrap()), rest)
    } else {
        (0, data)
    };
    let text = String::from_utf8_lossy(text);
    match signer.verify_token(&text, now) {
        Ok(host_id) => {
            let exp: u64 = text.rsplit('.').nth(1).unwrap().parse().unwrap();
            assert!(now < exp, "accepted at {now} a token expiring at {exp}");
            assert_eq!(
                signer.sign_token(host_id, exp),
                text,
                "a verified token is canonical"
            );
        }
        Err(Refusal::SessionExpired) => {
            let exp: u64 = text.rsplit('.').nth(1).unwrap().parse().unwrap();
            assert!(
                exp <= now,
                "refused as expired at {now} a token expiring at {exp}"
            );
            // The signature was valid: the same token is accepted before its expiry.
            if exp > 0 {
                assert!(signer.verify_token(&text, exp - 1).is_ok());
            }
        }
        Err(Refusal::InvalidSession) => {}
        Err(other) => panic!("verify_token refused with {other:?}"),
    }

    // Round trip of an id and expiry derived from the input.
    let mut u = Unstructured::new(data);
    let id = SessionId(u.arbitrary::<i128>().unwrap_or_default());
    let id_text = id.to_string();
    let exp = u.arbitrary::<u64>().unwrap_or(u64::MAX);
    let token = signer.sign_token(&id_text, exp);
    let expect = |at: u64| {
        if at < exp {
            Ok(id_text.as_str())
        } else {
            Err(Refusal::SessionExpired)
        }
    };
    for at in [now, exp.saturating_sub(1), exp, exp.saturating_add(1)] {
        assert_eq!(
            signer.verify_token(&token, at),
            expect(at),
            "{token} at {at}"
        );
    }

    let chars: Vec<char> = token.chars().collect();
    let pos = u.choose_index(chars.len()).unwrap_or(0);
    let mut replacement = u.arbitrary::<char>().unwrap_or('0');
    if replacement == chars[pos] {
        replacement = if chars[pos] == '0' { '1' } else { '0' };
    }
    let at = u.arbitrary::<u64>().unwrap_or(0);
    let refused = |bad: String, what: &str| {
        assert_eq!(
            signer.verify_token(&bad, at),
            Err(Refusal::InvalidSession),
            "{what}: {bad:?} at {at}"
        );
    };

    let mut flipped = chars.clone();
    flipped[pos] = replacement;
    refused(flipped.into_iter().collect(), "one char flipped");

    let mut removed = chars.clone();
    removed.remove(pos);
    refused(removed.into_iter().collect(), "one char removed");

    let mut inserted = chars.clone();
    inserted.insert(pos, replacement);
    refused(inserted.into_iter().collect(), "one char inserted");

    refused(chars[..pos].iter().collect(), "truncated");

    // A cookie signature is never a token signature.
    let cookie = signer.sign_cookie(&id);
    let cookie_sig = cookie.split_once('.').unwrap().1;
    refused(format!("{id}.{exp}.{cookie_sig}"), "cookie signature");
    // Nor is a token a cookie.
    assert_eq!(signer.verify_cookie(&token), None);
});
