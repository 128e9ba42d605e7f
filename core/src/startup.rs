//! Building an engine from its configuration, and starting its background work: the
//! namespaces with their connect middleware, and the sweeper.

use std::sync::{Arc, Once};
use std::time::Duration;

use socketioxide::SocketIo;

use crate::adapter::{self, Adapter, Bus};
use crate::config::{Builder, Config};
use crate::cookie::Signer;
use crate::engine::{Core, SessionIo};
use crate::error::Result;
use crate::identity::EngineLink;
use crate::metrics::{Metrics, TimedStore};
use crate::pending_handshakes::PendingHandshakes;
use crate::presence::Presence;
use crate::store::BoxFuture;
use crate::store::{HostIds, SizeLimited, UserIndexBeside};
use crate::SessionId;
use crate::{connect, expiry, rooms};

impl Builder {
    /// Checks every value and builds the engine. Needs no runtime; background tasks start
    /// on first use inside one.
    pub fn build(self) -> Result<SessionIo> {
        from_config(self.into_config()?)
    }
}

fn from_config(config: Config) -> Result<SessionIo> {
    let t = &config.transport;
    let (bus, adapter) =
        adapter::constructor(config.adapter_url.as_deref(), adapter::CHANNEL_PREFIX)?;
    let (sio_layer, io) = SocketIo::builder()
        .req_path(t.path.clone())
        .ping_interval(t.ping_interval)
        .ping_timeout(t.ping_timeout)
        .max_payload(t.max_payload)
        // max_payload bounds polling bodies only; websocket messages have their own
        // limit (64 MiB by default): hold them to the same one.
        .ws_max_message_size(usize::try_from(t.max_payload).unwrap_or(usize::MAX))
        .connect_timeout(t.connect_timeout)
        .max_buffer_size(t.max_buffer_size)
        .ws_read_buffer_size(t.ws_read_buffer_size)
        .with_adapter::<Adapter>(adapter)
        .build_layer();
    let pending = Arc::new(PendingHandshakes::new(
        t.max_pending_handshakes,
        t.max_pending_handshakes_per_address,
    ));
    let metrics = Arc::new(Metrics::default());
    // A store that keeps no user index (a host session system's) gets one beside it.
    let mut store = config.identity.store();
    if !store.keeps_user_index() {
        let (named, resolving) = (config.identity.clone(), config.identity.clone());
        let ids = HostIds {
            host_id: Box::new(move |id| named.host_id(id)),
            resolve: Box::new(move |host_id| resolving.resolve(host_id)),
        };
        store = Arc::new(UserIndexBeside::new(
            store,
            ids,
            config.adapter_url.as_deref(),
        )?);
    }
    let signer = Signer::new(&config.secrets);
    let workers = match config.workers {
        true => Some(crate::workers::Workers::bind(&signer)?),
        false => None,
    };
    let core = Arc::new(Core {
        signer,
        workers,
        store: Arc::new(TimedStore {
            inner: Arc::new(SizeLimited::new(store, config.max_session_bytes)),
            metrics: metrics.clone(),
        }),
        metrics,
        config,
        io,
        engine: tower_layer::Layer::layer(&sio_layer, crate::engine_io::NotFound),
        node_tag: matches!(bus, Bus::Redis(_)).then(rooms::node_tag),
        bus,
        presence: Arc::new(Presence::default()),
        pending,
        callbacks: Default::default(),
        started: Once::new(),
        on_start,
    });
    core.config
        .identity
        .attach(Arc::new(WeakEngine(Arc::downgrade(&core))));
    if tokio::runtime::Handle::try_current().is_ok() {
        core.start_background();
    }
    Ok(SessionIo(core))
}

/// The engine as its identity reaches it: without keeping it alive.
struct WeakEngine(std::sync::Weak<Core>);

impl EngineLink for WeakEngine {
    fn disconnect_if_gone(&self, id: SessionId) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            match self.0.upgrade() {
                Some(core) => core.disconnect_if_gone(id).await,
                None => Ok(0),
            }
        })
    }

    fn index_login(&self, id: SessionId) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.0.upgrade() {
                Some(core) => core.index_login(id).await.map(|_| ()),
                None => Ok(()),
            }
        })
    }
}

/// The engine's background work; [`Core::start_background`] runs it once.
fn on_start(core: &Arc<Core>) {
    connect::install_namespaces(core);
    expiry::spawn_sweeper(core);
    if let Some(workers) = &core.workers {
        let engine = axum::Router::new()
            .fallback(|| async { http::StatusCode::NOT_FOUND })
            .layer(SessionIo(core.clone()).layer());
        workers.serve_private(engine);
    }
}

impl SessionIo {
    /// Waits until the engine can serve: its namespaces registered and, with the Redis
    /// adapter, its channels subscribed on Redis (at most 5 s, then
    /// [`Error::StoreUnavailable`](crate::Error::StoreUnavailable)). Call it inside the
    /// runtime before accepting traffic so that notifications from other processes are
    /// not missed at start; [`serve`](Self::serve) calls it. Later Redis outages are
    /// survived without it.
    pub async fn ready(&self) -> Result<()> {
        self.0.start_background();
        if let Bus::Redis(bus) = &self.0.bus {
            bus.ready(Duration::from_secs(5)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Hosts build the engine before (or without) a runtime: the store's connection waits
    /// for first use.
    #[cfg(feature = "sqlite")]
    #[test]
    fn a_sqlite_engine_builds_outside_a_runtime() {
        let path = std::env::temp_dir().join(format!(
            "sessionio-startup-{}-{}.db",
            std::process::id(),
            crate::SessionId::default()
        ));
        let built = crate::SessionIo::builder()
            .secret([7u8; 32])
            .store_url(format!("sqlite://{}", path.display()))
            .build();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        assert!(built.is_ok(), "{built:?}");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_redis_engine_builds_outside_a_runtime() {
        let built = crate::SessionIo::builder()
            .secret([7u8; 32])
            .store_url("redis://127.0.0.1:1")
            .build();
        assert!(built.is_ok(), "{built:?}");
    }
}
