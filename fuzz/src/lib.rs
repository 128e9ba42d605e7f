//! Fixtures shared by the fuzz targets (`fuzz_targets/*.rs`) and the seed generator
//! (`examples/seeds.rs`): one secret, one allowed origin and two sessions with fixed ids,
//! so that the cookies and tokens in `corpus/` stay valid from one run to the next.

use std::sync::{Arc, OnceLock};

use sessionio::cookie::Signer;
use sessionio::store::{MemoryStore, Record, SessionStore};
use sessionio::{Refusal, SessionId, SessionIo};

/// The engine's only secret.
pub const SECRET: [u8; 32] = [7u8; 32];
/// The only origin the handshake engine allows.
pub const ORIGIN: &str = "http://app.test";
/// The default cookie name.
pub const COOKIE_NAME: &str = "sessionio.sid";
/// The live session of the handshake engine: the only id a handshake may be admitted to.
pub const LIVE: SessionId = SessionId(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
/// A session that exists but expired long ago (1 ms after the epoch).
pub const EXPIRED: SessionId = SessionId(0x7777_0000_1111_2222_3333_4444_5555_6666);
/// A token expiry far in the future (2100-01-01, unix ms).
pub const FAR_FUTURE_MS: u64 = 4_102_444_800_000;

/// An engine with the memory store and no allowed origin (the codec targets only use its
/// signer). Built outside any runtime, so no background task runs.
pub fn codec_engine() -> &'static SessionIo {
    static IO: OnceLock<SessionIo> = OnceLock::new();
    IO.get_or_init(|| {
        SessionIo::builder()
            .secret(SECRET)
            .build()
            .expect("engine builds")
    })
}

/// The cookie and token codec of [`codec_engine`].
pub fn signer() -> &'static Signer {
    sessionio::host::signer(&codec_engine())
}

/// The handshake target's engine and the runtime its async calls run on.
pub struct HandshakeFixture {
    /// Allows [`ORIGIN`]; its store holds [`LIVE`] and [`EXPIRED`] and nothing else.
    pub io: SessionIo,
    /// A current-thread runtime, created once per process.
    pub rt: tokio::runtime::Runtime,
}

/// The handshake fixture, created (and sanity-checked) on first use.
pub fn handshake_fixture() -> &'static HandshakeFixture {
    static FIXTURE: OnceLock<HandshakeFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime builds");
        let store = Arc::new(MemoryStore::new());
        // Built outside the runtime: no sweeper, so EXPIRED stays in the store.
        let io = SessionIo::builder()
            .secret(SECRET)
            .allowed_origins([ORIGIN])
            .store(store.clone())
            .build()
            .expect("engine builds");
        rt.block_on(async {
            for (id, expires_at) in [(LIVE, FAR_FUTURE_MS), (EXPIRED, 1)] {
                let record = Record {
                    id,
                    data: Default::default(),
                    expires_at,
                    version: 0,
                    login: None,
                };
                assert!(store.create(record).await.expect("memory store"));
            }
            // The fixed-id records behave as sessions made by `create_session`.
            io.session(LIVE).await.expect("LIVE is a live session");
            let mut headers = http::HeaderMap::new();
            let cookie = |id| {
                format!(
                    "{COOKIE_NAME}={}",
                    sessionio::host::signer(&io).sign_cookie(&id)
                )
            };
            headers.insert(http::header::COOKIE, cookie(LIVE).parse().unwrap());
            assert_eq!(
                sessionio::host::check_handshake(&io, &headers, None).await,
                Ok(Some(LIVE))
            );
            headers.insert(http::header::COOKIE, cookie(EXPIRED).parse().unwrap());
            assert_eq!(
                sessionio::host::check_handshake(&io, &headers, None).await,
                Err(Refusal::SessionExpired)
            );
            let real = io.create_session().await.expect("create_session");
            headers.insert(
                http::header::COOKIE,
                format!(
                    "{COOKIE_NAME}={}",
                    sessionio::host::signer(&io).sign_cookie(&real.id())
                )
                .parse()
                .unwrap(),
            );
            assert_eq!(
                sessionio::host::check_handshake(&io, &headers, None).await,
                Ok(Some(real.id()))
            );
            // Only LIVE and EXPIRED remain.
            io.destroy_session(real.id())
                .await
                .expect("destroy_session");
            assert_eq!(
                sessionio::host::check_handshake(&io, &headers, None).await,
                Err(Refusal::InvalidSession)
            );
            assert_eq!(store.len(), 2);
        });
        HandshakeFixture { io, rt }
    })
}
