//! One module per tower-sessions line the engine adopts, made by one macro: the same
//! code against each version's `SessionStore` trait, `Record` and `Expiry`.

/// Defines `$module` for the tower-sessions-core crate `$core` (imported under that name).
macro_rules! tower_sessions_version {
    ($module:ident, $core:ident, $line:literal) => {
        #[doc = concat!("Adopting a tower-sessions ", $line, " setup (`tower-sessions` ", $line, " and the stores built on `tower-sessions-core` ", $line, ").")]
        pub mod $module {
            use std::sync::Arc;

            use $core::session::{Id, Record, Session};
            use $core::session_store::{Error as StoreError, Result as StoreResult};
            use $core::{Expiry, SessionStore};

            use crate::store::{BoxFuture, LOGIN_KEY};
            use crate::tower_sessions::record::{
                unavailable, unix_ms, ExpiryRule, Shared, TowerBackend, TowerRecord,
            };
            use crate::tower_sessions::TowerSessions;
            use crate::{Result, SessionId};

            /// The app's store, wrapped so that the engine sees what the app's session
            /// layer does with it: give it to `SessionManagerLayer::new` in place of the
            /// store. Reads hold the session's lock until the response (inside
            /// [`SessionIo::layer`](crate::SessionIo::layer)); deletions disconnect the
            /// session's sockets. Everything else is the store's own.
            #[derive(Debug, Clone)]
            pub struct SessionioStore<S> {
                inner: S,
                shared: Arc<Shared>,
            }

            impl<S> SessionioStore<S> {
                /// The app's store itself (for its deletion task, say).
                pub fn inner(&self) -> &S {
                    &self.inner
                }
            }

            /// Adopts the app's tower-sessions `store`: the settings to give
            /// [`Builder::tower_sessions`](crate::Builder::tower_sessions) (add the
            /// `SessionManagerLayer`'s cookie key, name and expiry to them), and the store
            /// to give the `SessionManagerLayer`.
            pub fn adopt<S: SessionStore + Clone>(store: S) -> (TowerSessions, SessionioStore<S>) {
                let shared = Arc::new(Shared::default());
                let settings = TowerSessions::new(Arc::new(Backend(store.clone())), shared.clone());
                (settings, SessionioStore { inner: store, shared })
            }

            /// The engine's id of a tower-sessions id (`Session::id()`): what
            /// `notify_session` and `destroy_session` take. (The same 128 bits.)
            pub fn engine_id(id: &Id) -> SessionId {
                SessionId(id.0)
            }

            /// Logs the app's `session` in as `user_id`: a new id first (tower-sessions'
            /// `cycle_id`, against fixation: the old id's sockets are disconnected and its
            /// cookie refused), then the login saved in the record (under
            /// [`LOGIN_KEY`](crate::store::LOGIN_KEY), with the request's `User-Agent` and
            /// address when called inside [`SessionIo::layer`](crate::SessionIo::layer)); the
            /// store `adopt` returned puts the new id in the engine's user index as it is
            /// created. The response carries the new cookie, as after any `cycle_id`. A bad
            /// user id (empty, over 256 bytes, control characters) changes nothing and is
            /// [`Error::InvalidValue`](crate::Error::InvalidValue).
            pub async fn login(session: &Session, user_id: &str) -> Result<()> {
                let client = crate::login::request_client().unwrap_or_default();
                let login = crate::login::new_login(crate::login::valid_user_id(user_id)?, client);
                session.cycle_id().await.map_err(unavailable)?;
                session
                    .insert_value(LOGIN_KEY, crate::store::login_field(&login))
                    .await
                    .map_err(unavailable)?;
                session.save().await.map_err(unavailable)
            }

            /// Logs the app's `session` out of its user: the login removed and a new id
            /// (`cycle_id`), the data kept, as [`Session::logout`](crate::Session::logout).
            pub async fn logout(session: &Session) -> Result<()> {
                session.remove_value(LOGIN_KEY).await.map_err(unavailable)?;
                session.cycle_id().await.map_err(unavailable)
            }

            /// The user the app's `session` is logged in as (see [`login`]).
            pub async fn user_id(session: &Session) -> Result<Option<String>> {
                let field = session.get_value(LOGIN_KEY).await.map_err(unavailable)?;
                Ok(field
                    .and_then(|f| serde_json::from_value::<crate::store::Login>(f).ok())
                    .map(|l| l.user_id))
            }

            #[async_trait::async_trait]
            impl<S: SessionStore> SessionStore for SessionioStore<S> {
                async fn create(&self, record: &mut Record) -> StoreResult<()> {
                    // A new id: nobody else knows it yet.
                    self.inner.create(record).await?;
                    // A login (`login` above) creates the session's new id with it.
                    if record.data.contains_key(LOGIN_KEY) {
                        self.shared.logged_in(engine_id(&record.id)).await;
                    }
                    Ok(())
                }

                async fn save(&self, record: &Record) -> StoreResult<()> {
                    let id = engine_id(&record.id);
                    self.shared.before_app_access(id).await;
                    self.inner.save(record).await?;
                    self.shared.remember(id, unix_ms(record.expiry_date));
                    Ok(())
                }

                async fn load(&self, session_id: &Id) -> StoreResult<Option<Record>> {
                    self.shared.before_app_access(engine_id(session_id)).await;
                    self.inner.load(session_id).await
                }

                async fn delete(&self, session_id: &Id) -> StoreResult<()> {
                    let id = engine_id(session_id);
                    self.shared.before_app_access(id).await;
                    self.inner.delete(session_id).await?;
                    self.shared.deleted_by_app(id).await;
                    Ok(())
                }
            }

            /// The app's store as the engine reads it.
            struct Backend<S>(S);

            fn store_error(e: StoreError) -> crate::Error {
                unavailable(e)
            }

            impl<S: SessionStore> TowerBackend for Backend<S> {
                fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<TowerRecord>>> {
                    Box::pin(async move {
                        let found = self.0.load(&Id(id.0)).await.map_err(store_error)?;
                        Ok(found.map(|r| TowerRecord {
                            id,
                            data: r.data,
                            expiry_date: r.expiry_date,
                        }))
                    })
                }

                fn save(&self, record: TowerRecord) -> BoxFuture<'_, Result<()>> {
                    Box::pin(async move {
                        let record = Record {
                            id: Id(record.id.0),
                            data: record.data,
                            expiry_date: record.expiry_date,
                        };
                        self.0.save(&record).await.map_err(store_error)
                    })
                }

                fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<()>> {
                    Box::pin(async move { self.0.delete(&Id(id.0)).await.map_err(store_error) })
                }
            }

            impl From<Expiry> for ExpiryRule {
                fn from(expiry: Expiry) -> Self {
                    match expiry {
                        Expiry::OnSessionEnd => ExpiryRule::OnSessionEnd,
                        Expiry::OnInactivity(d) => ExpiryRule::OnInactivity(d),
                        Expiry::AtDateTime(at) => ExpiryRule::AtDateTime(at),
                    }
                }
            }
        }
    };
}

#[cfg(feature = "tower-sessions-014")]
tower_sessions_version!(v0_14, tower_sessions_core_014, "0.14");
#[cfg(feature = "tower-sessions-015")]
tower_sessions_version!(v0_15, tower_sessions_core, "0.15");
